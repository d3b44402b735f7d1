"""Networks (issue: networks). Placeholder until built."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._engine import Engine


class NetworksAPI:
    """Networks on one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
