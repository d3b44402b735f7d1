"""The engine's ``filters`` query parameter, spelled once for every list call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from swarmnet._core.errors import InvalidSpec


def label_filter(labels: Mapping[str, str | None] | Iterable[str]) -> list[str]:
    """``{"k": "v", "h": None}`` or ``["k=v", "h"]`` as the engine's ``label`` filter.

    Raises:
        InvalidSpec: a label without a key (``""``, ``"=v"``): it could match nothing.
    """
    if isinstance(labels, str):
        wanted = [labels]
    elif isinstance(labels, Mapping):
        wanted = [key if value is None else f"{key}={value}" for key, value in labels.items()]
    else:
        wanted = list(labels)
    for label in wanted:
        if not isinstance(label, str) or not label.split("=", 1)[0].strip():
            raise InvalidSpec(f"labels: {label!r} has no label key (write key or key=value)")
    return wanted
