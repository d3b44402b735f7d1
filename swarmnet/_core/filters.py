"""The engine's ``filters`` query parameter, spelled once for every list call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def label_filter(labels: Mapping[str, str | None] | Iterable[str]) -> list[str]:
    """``{"k": "v", "h": None}`` or ``["k=v", "h"]`` as the engine's ``label`` filter."""
    if isinstance(labels, str):
        return [labels]
    if isinstance(labels, Mapping):
        return [key if value is None else f"{key}={value}" for key, value in labels.items()]
    return list(labels)
