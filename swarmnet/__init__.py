"""swarmnet: an async SDK for Docker Swarm networking.

Form swarms, inspect and shape the networks swarm mode creates, manage attachable
overlays and bridges, and stream network events to callbacks, on one engine or many.
Runs on asyncio (aiodocker is built on aiohttp).
"""

from ._engine import (
    Engine,
    EngineInfo,
    EngineVersion,
    LocalNodeState,
    SwarmMembership,
    open_engines,
)
from ._errors import (
    AlreadyInSwarm,
    AmbiguousNetwork,
    AttachmentConflict,
    Conflict,
    DriftDetected,
    EngineAPIError,
    EngineError,
    EngineTimeout,
    EngineUnreachable,
    InvalidJoinToken,
    InvalidSpec,
    JoinFailed,
    LabError,
    NetworkInUse,
    NetworkNotFound,
    NotASwarmManager,
    NotFound,
    NotInSwarm,
    SwarmError,
    SwarmLocked,
    SwarmnetError,
    UnsupportedEngine,
)
from ._secret import Secret
from ._transport import TLSConfig

__version__ = "0.1.0"

__all__ = [
    "AlreadyInSwarm",
    "AmbiguousNetwork",
    "AttachmentConflict",
    "Conflict",
    "DriftDetected",
    "Engine",
    "EngineAPIError",
    "EngineError",
    "EngineInfo",
    "EngineTimeout",
    "EngineUnreachable",
    "EngineVersion",
    "InvalidJoinToken",
    "InvalidSpec",
    "JoinFailed",
    "LabError",
    "LocalNodeState",
    "NetworkInUse",
    "NetworkNotFound",
    "NotASwarmManager",
    "NotFound",
    "NotInSwarm",
    "Secret",
    "SwarmError",
    "SwarmLocked",
    "SwarmMembership",
    "SwarmnetError",
    "TLSConfig",
    "UnsupportedEngine",
    "open_engines",
]
