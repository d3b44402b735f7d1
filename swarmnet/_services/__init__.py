"""Swarm services on overlays: typed specs, idempotent ensure, tasks and convergence."""

from swarmnet._services.api import ServicesAPI
from swarmnet._services.drift import ServiceDiff, ServiceDrift, ServiceEnsureResult, ServiceOutcome
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
from swarmnet._services.specs import (
    PublishedPort,
    Resources,
    RestartPolicy,
    ServiceNetwork,
    ServiceSpec,
    UpdateSettings,
    service_spec_from,
)

__all__ = [
    "PortInfo",
    "Progress",
    "PublishedPort",
    "Resources",
    "RestartPolicy",
    "Service",
    "ServiceDiff",
    "ServiceDrift",
    "ServiceEnsureResult",
    "ServiceNetwork",
    "ServiceNetworkInfo",
    "ServiceOutcome",
    "ServiceSpec",
    "ServicesAPI",
    "Task",
    "TaskNetwork",
    "TaskState",
    "UpdateSettings",
    "UpdateState",
    "UpdateStatus",
    "VirtualIP",
    "service_spec_from",
]
