"""Network events (issue: events). Placeholder until built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._engine import Engine


class EventStream:
    """A typed, resumable stream of one engine's events."""

    def __init__(self, engine: Engine, **filters: Any) -> None:
        self._engine = engine
        self._filters = filters
