"""Base for every model swarmnet returns: immutable, PascalCase only at the boundary."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_pascal


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
    """A typed, immutable input: validated when built, before anything is sent."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
