"""Swarm lifecycle and nodes (issue: swarm lifecycle). Placeholder until built."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._engine import Engine


class SwarmAPI:
    """Swarm lifecycle on one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine


class NodesAPI:
    """Nodes of the swarm one engine manages."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
