"""swarmnet: an async SDK for Docker Swarm networking.

Form swarms, inspect and shape the networks swarm mode creates, manage attachable
overlays and bridges, and stream network events to callbacks, on one engine or many.
Runs on asyncio (aiodocker is built on aiohttp).
"""

from swarmnet import daemon as daemon
from swarmnet import errors as errors
from swarmnet import models as models
from swarmnet._builtin.networks import (
    GatewayBridgeSpec,
    IngressSpec,
    create_gwbridge,
    gwbridge,
    ingress,
    recreate_ingress,
    remove_gwbridge,
)
from swarmnet._controllers.controller import Controller, ControllerSettings
from swarmnet._controllers.desired import keep_connected, keep_network, keep_service_attached
from swarmnet._controllers.lease import Lease
from swarmnet._core.address import TLSConfig
from swarmnet._core.engine import Engine, open_engines
from swarmnet._core.errors import (
    AlreadyInSwarm,
    Conflict,
    DriftDetected,
    EngineAPIError,
    EngineError,
    EngineUnreachable,
    EventsLost,
    InvalidSpec,
    JoinFailed,
    MissingExtra,
    NetworkInUse,
    NetworkNotFound,
    NotASwarmManager,
    NotFound,
    NotInSwarm,
    ServiceNotFound,
    ServiceUpdateFailed,
    SwarmnetError,
)
from swarmnet._core.secret import Secret
from swarmnet._doctor.doctor import DoctorReport, doctor
from swarmnet._events.stream import ReconnectSettings
from swarmnet._events.watcher import (
    DispatchSettings,
    ResyncSettings,
    Retry,
    RetrySettings,
    Watcher,
    WatcherSettings,
)
from swarmnet._networks.attach import EndpointConfig, attach
from swarmnet._networks.drift import Drift, EnsureResult
from swarmnet._networks.models import Network
from swarmnet._networks.specs import (
    BridgeSpec,
    ConfigOnlySpec,
    IPAMPool,
    IpvlanSpec,
    MacvlanSpec,
    OverlaySpec,
    network_spec_from,
)
from swarmnet._services.drift import ServiceDrift
from swarmnet._services.specs import (
    PublishedPort,
    Resources,
    RestartPolicy,
    ServiceNetwork,
    ServiceSpec,
    UpdateSettings,
)
from swarmnet._stacks.apply import StackApplyFailed, list_stacks, remove_stack
from swarmnet._stacks.model import Stack
from swarmnet._swarm.cluster import Cluster, dissolve, form_cluster
from swarmnet._swarm.models import SwarmInitSpec, SwarmJoinSpec, SwarmSettings

__version__ = "0.1.0"

__all__ = [
    "AlreadyInSwarm",
    "BridgeSpec",
    "Cluster",
    "ConfigOnlySpec",
    "Conflict",
    "Controller",
    "ControllerSettings",
    "DispatchSettings",
    "DoctorReport",
    "Drift",
    "DriftDetected",
    "EndpointConfig",
    "Engine",
    "EngineAPIError",
    "EngineError",
    "EngineUnreachable",
    "EnsureResult",
    "EventsLost",
    "GatewayBridgeSpec",
    "IPAMPool",
    "IngressSpec",
    "InvalidSpec",
    "IpvlanSpec",
    "JoinFailed",
    "Lease",
    "MacvlanSpec",
    "MissingExtra",
    "Network",
    "NetworkInUse",
    "NetworkNotFound",
    "NotASwarmManager",
    "NotFound",
    "NotInSwarm",
    "OverlaySpec",
    "PublishedPort",
    "ReconnectSettings",
    "Resources",
    "RestartPolicy",
    "ResyncSettings",
    "Retry",
    "RetrySettings",
    "Secret",
    "ServiceDrift",
    "ServiceNetwork",
    "ServiceNotFound",
    "ServiceSpec",
    "ServiceUpdateFailed",
    "Stack",
    "StackApplyFailed",
    "SwarmInitSpec",
    "SwarmJoinSpec",
    "SwarmSettings",
    "SwarmnetError",
    "TLSConfig",
    "UpdateSettings",
    "Watcher",
    "WatcherSettings",
    "attach",
    "create_gwbridge",
    "dissolve",
    "doctor",
    "form_cluster",
    "gwbridge",
    "ingress",
    "keep_connected",
    "keep_network",
    "keep_service_attached",
    "list_stacks",
    "network_spec_from",
    "open_engines",
    "recreate_ingress",
    "remove_gwbridge",
    "remove_stack",
]
