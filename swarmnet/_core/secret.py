"""A value that never shows itself by accident: join tokens, unlock keys."""

from __future__ import annotations

import hmac
import re
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

_MASK = "**********"


class Secret:
    """Holds a secret string; ``repr``, ``str``, f-strings, logs and JSON show a mask.

    Read the value only where it is needed, with :meth:`reveal`::

        token = await engine.swarm.join_token("worker")
        print(token)            # **********
        token.reveal()          # 'SWMTKN-1-…'

    Secrets compare in constant time and can be used as pydantic fields (they
    serialise masked; validate from a plain string).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        """Return the secret value itself. Do not log it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        # Pickling would write the value out; refuse instead of leaking it.
        raise TypeError("Secret values cannot be pickled")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            lambda v: v if isinstance(v, Secret) else Secret(v),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: _MASK, when_used="always"
            ),
        )


def redact(text: str, *secrets: Secret | str | None) -> str:
    """Replace every occurrence of the given secrets in ``text`` with a mask.

    Used before an engine's message is put into an exception: the engine echoes
    join tokens back in some errors.
    """
    for secret in secrets:
        if secret is None:
            continue
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, _MASK)
    return _redact_token_shapes(text)


def _redact_token_shapes(text: str) -> str:
    # Join tokens and unlock keys have recognisable shapes; mask them even when the
    # caller did not know a secret was in play.
    text = re.sub(r"SWMTKN-1-[A-Za-z0-9-]+", "SWMTKN-1-" + _MASK, text)
    return re.sub(r"SWMKEY-1-[A-Za-z0-9+/=_-]+", "SWMKEY-1-" + _MASK, text)
