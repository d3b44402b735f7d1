"""Typed, immutable view of the Engine API's image inspect payload."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

from swarmnet._core.models import EngineModel


class Image(EngineModel):
    """An image an engine holds, as ``GET /images/{name}/json`` reports it.

    Attributes:
        id: the image id (``sha256:…``).
        tags: its ``repository:tag`` names (none for an untagged image).
        created: when it was made (for an import: when it was imported).
        size: bytes its layers take.
        cmd: the default command (``CMD``), if it has one.
        labels: its labels (containers made from it inherit them).
        comment: the message it was imported (or committed) with.
    """

    id: str = Field(alias="Id")
    tags: tuple[str, ...] = ()
    created: datetime | None = None
    size: int = 0
    cmd: tuple[str, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    comment: str = ""

    @classmethod
    def from_inspect(cls, payload: Mapping[str, Any]) -> Image:
        """Build from ``GET /images/{name}/json`` (``null`` lists and maps become empty)."""
        config = payload.get("Config") or {}
        return cls.model_validate(
            {
                "Id": payload["Id"],
                "Tags": payload.get("RepoTags") or (),
                "Created": payload.get("Created") or None,
                "Size": payload.get("Size") or 0,
                "Cmd": config.get("Cmd") or (),
                "Labels": config.get("Labels") or {},
                "Comment": payload.get("Comment") or "",
            }
        )
