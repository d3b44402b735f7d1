"""Swarm configs: small records in the swarm's own Raft store, ``engine.configs``.

swarmnet uses them the way a controller needs a shared record: their labels can be
changed with a version check (compare-and-swap), their data cannot (the engine answers
400 ``only updates to Labels are allowed``). Managers only; a worker answers 503.
"""

from __future__ import annotations

import base64
import builtins
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import AliasPath, Field

from swarmnet._core.errors import InvalidSpec, NotFound
from swarmnet._core.filters import label_filter
from swarmnet._core.models import EngineModel
from swarmnet._swarm.api import manager_request

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

#: The engine's limits on a config's data ("larger than 0 and less than 1024000 bytes").
MAX_DATA = 1024000 - 1


class SwarmConfig(EngineModel):
    """A swarm config as a manager reports it.

    Attributes:
        id: the config's id.
        version: the object version; an update must name it, and it rises by one per
            update.
        name, labels: from its spec.
        data: its content (decoded).
        created_at, updated_at: the manager's timestamps.
    """

    id: str = Field(alias="ID")
    version: int = Field(0, validation_alias=AliasPath("Version", "Index"))
    name: str = Field("", validation_alias=AliasPath("Spec", "Name"))
    labels: dict[str, str] = Field(
        default_factory=dict, validation_alias=AliasPath("Spec", "Labels")
    )
    data: bytes = b""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_engine(cls, payload: Mapping[str, Any]) -> SwarmConfig:
        """Build from ``GET /configs/{id}`` (labels may be null, data is base64)."""
        spec = dict(payload.get("Spec") or {})
        spec["Labels"] = spec.get("Labels") or {}
        encoded = spec.get("Data") or ""
        return cls.model_validate(
            {**payload, "Spec": spec, "data": base64.b64decode(encoded) if encoded else b""}
        )


class ConfigsAPI:
    """Swarm configs on one manager: ``engine.configs``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __repr__(self) -> str:
        return f"<ConfigsAPI of {self._engine.name!r}>"

    async def get(self, name_or_id: str) -> SwarmConfig:
        """Inspect a config by name or id.

        Raises:
            NotFound: no such config.
            NotInSwarm / NotASwarmManager: the engine cannot answer for the swarm.
        """
        payload = await manager_request(self._engine, "GET", f"configs/{name_or_id}")
        return SwarmConfig.from_engine(payload)

    async def list(
        self,
        *,
        name: str | None = None,
        labels: Mapping[str, str | None] | Iterable[str] | None = None,
    ) -> tuple[SwarmConfig, ...]:
        """List configs, filtered by the engine; ``name`` matches exactly."""
        filters: dict[str, builtins.list[str]] = {}
        if name is not None:
            filters["name"] = [name]
        if labels:
            filters["label"] = label_filter(labels)
        params = {"filters": json.dumps(filters)} if filters else None
        payload = await manager_request(self._engine, "GET", "configs", params=params)
        configs = tuple(SwarmConfig.from_engine(item) for item in payload or ())
        if name is not None:
            configs = tuple(c for c in configs if c.name == name)
        return configs

    async def create(
        self, name: str, data: bytes, *, labels: Mapping[str, str] | None = None
    ) -> SwarmConfig:
        """Create a config and return it as stored.

        Raises:
            InvalidSpec: an empty name, or data empty or of 1,024,000 bytes or more
                (the engine's limits; nothing is sent).
            Conflict: a config with that name exists.
        """
        if not name or not 0 < len(data) <= MAX_DATA:
            raise InvalidSpec(
                f"a config needs a name and 1 to {MAX_DATA} bytes of data "
                f"(got name {name!r}, {len(data)} bytes)"
            )
        body = {
            "Name": name,
            "Labels": dict(labels or {}),
            "Data": base64.b64encode(data).decode(),
        }
        created = await manager_request(self._engine, "POST", "configs/create", json_body=body)
        return await self.get(str(created["ID"]))

    async def update_labels(self, config: SwarmConfig, labels: Mapping[str, str]) -> None:
        """Replace the labels of ``config``, if it is still at ``config.version``.

        The engine's compare-and-swap: exactly one of several writers holding the same
        version succeeds; the others get :class:`swarmnet.errors.OutOfSequence`.

        Raises:
            OutOfSequence: the config changed since ``config`` was read.
            NotFound: it was removed.
        """
        body = {
            "Name": config.name,
            "Labels": dict(labels),
            "Data": base64.b64encode(config.data).decode(),
        }
        await manager_request(
            self._engine,
            "POST",
            f"configs/{config.id}/update",
            params={"version": str(config.version)},
            json_body=body,
        )

    async def remove(self, name_or_id: str, *, missing_ok: bool = True) -> None:
        """Remove a config (nothing happens when it is already gone, unless asked).

        Raises:
            NotFound: with ``missing_ok=False``, no such config.
        """
        try:
            await manager_request(self._engine, "DELETE", f"configs/{name_or_id}")
        except NotFound:
            if not missing_ok:
                raise
