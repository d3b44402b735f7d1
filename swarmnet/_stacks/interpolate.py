"""``${VAR}`` in compose files, exactly as ``docker stack deploy`` reads it.

The pattern and the four operators are docker/cli's (``cli/compose/template``): ``$V``,
``${V}``, ``${V:-default}`` (unset or empty), ``${V-default}`` (unset only),
``${V:?message}`` (error when unset or empty), ``${V?message}`` (error when unset) and
``$$`` for a literal ``$``. An unset variable with no operator becomes ``""`` silently,
as the CLI does; anything else after a ``$`` (``${V:+x}``, ``${}``) is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from swarmnet._core.errors import InvalidSpec

_SUBSTITUTION = r"[_a-z][_a-z0-9]*(?::?[-?][^}]*)?"
_PATTERN = re.compile(
    rf"\$(?i:(?P<escaped>\$)|(?P<named>{_SUBSTITUTION})|{{(?P<braced>{_SUBSTITUTION})}}|(?P<invalid>))"
)


class InterpolationError(InvalidSpec):
    """A ``$`` expression that cannot be read, or a required variable with no value."""


def _substitute(expression: str, env: Mapping[str, str]) -> str:
    for separator in (":?", "?"):
        if separator in expression:
            name, _, message = expression.partition(separator)
            value = env.get(name)
            if value is None or (separator == ":?" and value == ""):
                raise InterpolationError(f"required variable {name} is missing a value: {message}")
            return value
    if ":-" in expression:
        name, _, default = expression.partition(":-")
        return env.get(name) or default
    if "-" in expression:
        name, _, default = expression.partition("-")
        value = env.get(name)
        return default if value is None else value
    return env.get(expression, "")


def interpolate(template: str, env: Mapping[str, str]) -> str:
    """``template`` with every ``$`` expression replaced from ``env``.

    Raises:
        InterpolationError: a malformed expression, or a required variable unset.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        expression = match.group("named") or match.group("braced")
        if not expression:
            raise InterpolationError(
                f"invalid interpolation format: {template!r}; "
                "you may need to escape any $ with another $ ($$)"
            )
        return _substitute(expression, env)

    return _PATTERN.sub(replace, template)


def read_env_file(path: str | Path) -> dict[str, str]:
    """``KEY=value`` lines of an env file; blank lines and ``#`` comments are skipped.

    As docker/cli reads them: no quotes are removed, and a line with a bare ``KEY``
    takes the value from the process environment (left out here when unset there).
    """
    import os

    values: dict[str, str] = {}
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise InvalidSpec(f"cannot read env file {file}: {exc.strerror}") from exc
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, has_value, value = line.partition("=")
        key = key.strip()
        if not key or any(c.isspace() for c in key):
            raise InvalidSpec(f"{file}:{number}: {raw!r} is not KEY=value")
        if has_value:
            values[key] = value
        elif key in os.environ:
            values[key] = os.environ[key]
    return values
