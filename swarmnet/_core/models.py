"""Base for every model swarmnet returns: immutable, PascalCase only at the boundary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_pascal
from pydantic_core import ErrorDetails

from swarmnet._core.errors import InvalidSpec


class EngineModel(BaseModel):
    """A typed, immutable view of an Engine API payload.

    Fields are snake_case in Python; the engine's PascalCase names are aliases, and
    irregular ones (``ID``, ``IPAM``, ``EnableIPv6``) are spelled out on the field.
    Unknown keys the engine adds later are ignored, never an error.
    """

    model_config = ConfigDict(
        frozen=True,
        alias_generator=to_pascal,
        populate_by_name=True,
        extra="ignore",
    )


class Spec(BaseModel):
    """A typed, immutable input: validated when built, before anything is sent.

    Building one with a bad value raises :class:`swarmnet.InvalidSpec` naming every
    field at fault (``ports[0].target: …``), never pydantic's own error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_spec(exc, type(self)) from None


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("ports", 0, "target")`` as ``ports[0].target``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class RefusedSpec(InvalidSpec):
    """InvalidSpec that keeps pydantic's errors, by field.

    ``errors`` are ``ErrorDetails`` (``loc``, ``msg``, ``type``; no input echoed, as it
    may hold a secret), so an enclosing spec can prefix them and the command line can
    name its flags instead of the fields.
    """

    def __init__(self, what: str, errors: list[ErrorDetails]) -> None:
        self.errors = errors
        text = "; ".join(
            f"{field_path(e['loc'])}: {e['msg']}" if e["loc"] else e["msg"] for e in errors
        )
        super().__init__(f"invalid {what}: {text}")

    @property
    def problems(self) -> list[tuple[tuple[int | str, ...], str]]:
        """Each problem as (field location, message)."""
        return [(tuple(e["loc"]), e["msg"]) for e in self.errors]


def invalid_spec(exc: ValidationError, model: type[BaseModel], *, skip: int = 0) -> RefusedSpec:
    """pydantic's error as one :class:`InvalidSpec` naming each field and what is wrong.

    ``skip`` drops leading location parts (a union's tag).
    """
    errors: list[ErrorDetails] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])[skip:]
        inner = (error.get("ctx") or {}).get("error")
        if isinstance(inner, RefusedSpec):
            # A part validated through its own __init__: keep its field names.
            errors.extend({**e, "loc": loc + tuple(e["loc"])} for e in inner.errors)
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            known = ", ".join(sorted(model.model_fields))
            message = f"not a field of {model.__name__} (its fields: {known})"
        errors.append({**error, "loc": loc, "msg": message})
    return RefusedSpec(model.__name__, errors)
