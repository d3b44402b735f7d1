"""What swarmnet returns and reports: immutable views, enums and statistics.

You rarely build these; they come back from calls (``engine.networks.get`` gives a
:class:`Network` at the top level, its endpoints are :class:`Endpoint` s here;
``engine.events()`` gives an :class:`EventStream` of :class:`NetworkEvent` s and the
other events here). Import them for type annotations and ``isinstance`` checks::

    from swarmnet.models import Endpoint, NetworkEvent, NetworkScope, Node
"""

from __future__ import annotations

from swarmnet._builtin.networks import (
    AttachedEndpoint,
    GatewayBridge,
    GatewayBridgeNotCreated,
    IngressNetwork,
    IngressRecreated,
)
from swarmnet._configs.api import ConfigsAPI, SwarmConfig
from swarmnet._containers.api import Container, ContainersAPI, ExecResult
from swarmnet._controllers.controller import ControllerStats, Kind, Ref
from swarmnet._controllers.lease import LeaseStats
from swarmnet._core.engine_models import EngineInfo, EngineVersion, LocalNodeState, SwarmMembership
from swarmnet._doctor.doctor import Finding, FindingKind, PortCheck, PortStatus, Severity
from swarmnet._events.models import (
    ContainerAction,
    ContainerEvent,
    Event,
    EventScope,
    EventType,
    NetworkAction,
    NetworkEvent,
    NodeAction,
    NodeEvent,
    ServiceAction,
    ServiceEvent,
)
from swarmnet._events.stream import EventStream, StreamStats
from swarmnet._events.watcher import (
    CachedContainer,
    CachedEndpoint,
    CachedNetwork,
    CachedNode,
    CachedService,
    Handler,
    HandlerStats,
    NetworkCache,
    NodeStats,
    ObjectCache,
    Overflow,
    WatcherStats,
)
from swarmnet._images.api import Image, ImagesAPI
from swarmnet._networks.api import NetworksAPI
from swarmnet._networks.attach import ContainerNetworking
from swarmnet._networks.drift import EnsureOutcome, FieldDrift, NetworkDiff
from swarmnet._networks.models import (
    Endpoint,
    EndpointIPAMConfig,
    EndpointSettings,
    IPAMInfo,
    IPAMPoolInfo,
    NetworkEndpointInfo,
    NetworkPruneReport,
    NetworkScope,
    PeerInfo,
    ServiceInfo,
    ServiceTaskInfo,
)
from swarmnet._networks.specs import IpvlanFlag, IpvlanMode, MacvlanMode
from swarmnet._services.api import ServicesAPI
from swarmnet._services.drift import ServiceDiff, ServiceEnsureResult, ServiceOutcome
from swarmnet._services.models import (
    PortInfo,
    Progress,
    Service,
    ServiceNetworkInfo,
    Task,
    TaskNetwork,
    TaskState,
    UpdateState,
    UpdateStatus,
    VirtualIP,
)
from swarmnet._stacks.apply import StackApplyResult, StackStep, StackSummary
from swarmnet._stacks.graph import (
    TopoContainer,
    Topology,
    TopoNetwork,
    TopoNode,
    TopoService,
    TopoTask,
)
from swarmnet._stacks.model import StackNetwork, StackService
from swarmnet._stacks.plan import ObjectKind, PlannedChange, StackAction, StackPlan
from swarmnet._swarm.api import NodesAPI, SwarmAPI
from swarmnet._swarm.cluster import ClusterMember, ClusterProgress, MemberAction
from swarmnet._swarm.models import (
    ExternalCASpec,
    JoinTokens,
    ManagerStatus,
    Node,
    NodeAvailability,
    NodeDescription,
    NodeRole,
    NodeSpec,
    NodeState,
    NodeStatus,
    Reachability,
    RemoteManager,
    Swarm,
    SwarmSpec,
    SwarmStatus,
)

__all__ = [
    "AttachedEndpoint",
    "CachedContainer",
    "CachedEndpoint",
    "CachedNetwork",
    "CachedNode",
    "CachedService",
    "ClusterMember",
    "ClusterProgress",
    "ConfigsAPI",
    "Container",
    "ContainerAction",
    "ContainerEvent",
    "ContainerNetworking",
    "ContainersAPI",
    "ControllerStats",
    "Endpoint",
    "EndpointIPAMConfig",
    "EndpointSettings",
    "EngineInfo",
    "EngineVersion",
    "EnsureOutcome",
    "Event",
    "EventScope",
    "EventStream",
    "EventType",
    "ExecResult",
    "ExternalCASpec",
    "FieldDrift",
    "Finding",
    "FindingKind",
    "GatewayBridge",
    "GatewayBridgeNotCreated",
    "Handler",
    "HandlerStats",
    "IPAMInfo",
    "IPAMPoolInfo",
    "Image",
    "ImagesAPI",
    "IngressNetwork",
    "IngressRecreated",
    "IpvlanFlag",
    "IpvlanMode",
    "JoinTokens",
    "Kind",
    "LeaseStats",
    "LocalNodeState",
    "MacvlanMode",
    "ManagerStatus",
    "MemberAction",
    "NetworkAction",
    "NetworkCache",
    "NetworkDiff",
    "NetworkEndpointInfo",
    "NetworkEvent",
    "NetworkPruneReport",
    "NetworkScope",
    "NetworksAPI",
    "Node",
    "NodeAction",
    "NodeAvailability",
    "NodeDescription",
    "NodeEvent",
    "NodeRole",
    "NodeSpec",
    "NodeState",
    "NodeStats",
    "NodeStatus",
    "NodesAPI",
    "ObjectCache",
    "ObjectKind",
    "Overflow",
    "PeerInfo",
    "PlannedChange",
    "PortCheck",
    "PortInfo",
    "PortStatus",
    "Progress",
    "Reachability",
    "Ref",
    "RemoteManager",
    "Service",
    "ServiceAction",
    "ServiceDiff",
    "ServiceEnsureResult",
    "ServiceEvent",
    "ServiceInfo",
    "ServiceNetworkInfo",
    "ServiceOutcome",
    "ServiceTaskInfo",
    "ServicesAPI",
    "Severity",
    "StackAction",
    "StackApplyResult",
    "StackNetwork",
    "StackPlan",
    "StackService",
    "StackStep",
    "StackSummary",
    "StreamStats",
    "Swarm",
    "SwarmAPI",
    "SwarmConfig",
    "SwarmMembership",
    "SwarmSpec",
    "SwarmStatus",
    "Task",
    "TaskNetwork",
    "TaskState",
    "TopoContainer",
    "TopoNetwork",
    "TopoNode",
    "TopoService",
    "TopoTask",
    "Topology",
    "UpdateState",
    "UpdateStatus",
    "VirtualIP",
    "WatcherStats",
]
