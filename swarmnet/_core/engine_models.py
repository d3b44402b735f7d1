"""What an engine says about itself: ``/version`` and ``/info``."""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import AliasPath, Field

from swarmnet._core.models import EngineModel


class LocalNodeState(str, enum.Enum):
    """This engine's own place in a swarm, as ``/info`` reports it."""

    INACTIVE = "inactive"
    PENDING = "pending"
    ACTIVE = "active"
    ERROR = "error"
    LOCKED = "locked"


class EngineVersion(EngineModel):
    """What ``/version`` says about the engine."""

    version: str = ""
    api_version: str = Field("", alias="ApiVersion")
    min_api_version: str = Field("", alias="MinAPIVersion")
    git_commit: str = ""
    go_version: str = ""
    os: str = Field("", alias="Os")
    arch: str = ""
    kernel_version: str = ""


class SwarmMembership(EngineModel):
    """The swarm part of ``/info``: this node's view of its membership."""

    node_id: str = Field("", alias="NodeID")
    node_addr: str = ""
    local_node_state: LocalNodeState = LocalNodeState.INACTIVE
    control_available: bool = False
    error: str = ""
    nodes: int | None = None
    managers: int | None = None
    # /info nests the cluster's id (managers only): {"Cluster": {"ID": …}}.
    cluster_id: str = Field("", validation_alias=AliasPath("Cluster", "ID"))

    @property
    def is_manager(self) -> bool:
        """True when this engine is a manager of an active swarm."""
        return self.control_available and self.local_node_state is LocalNodeState.ACTIVE


class EngineInfo(EngineModel):
    """What ``/info`` says about the engine (the fields swarmnet users need)."""

    id: str = Field("", alias="ID")
    name: str = ""
    server_version: str = ""
    containers: int = 0
    containers_running: int = 0
    images: int = 0
    driver: str = ""
    docker_root_dir: str = ""
    kernel_version: str = ""
    operating_system: str = ""
    os_type: str = Field("", alias="OSType")
    architecture: str = ""
    ncpu: int = Field(0, alias="NCPU")
    mem_total: int = 0
    #: The engine's clock when it answered (microseconds; the engine sends nanoseconds).
    system_time: datetime | None = None
    swarm: SwarmMembership = SwarmMembership()
