"""Typed, immutable views of services and tasks, built from the engine's JSON."""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

from swarmnet._core.models import EngineModel

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _interface(text: str) -> IPInterface | None:
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


class TaskState(str, enum.Enum):
    """A task's state, as swarm reports it (``Status.State`` and ``DesiredState``)."""

    NEW = "new"
    ALLOCATED = "allocated"
    PENDING = "pending"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    PREPARING = "preparing"
    READY = "ready"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETE = "complete"
    SHUTDOWN = "shutdown"
    FAILED = "failed"
    REJECTED = "rejected"
    REMOVE = "remove"
    ORPHANED = "orphaned"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> TaskState:
        return cls.UNKNOWN


class UpdateState(str, enum.Enum):
    """Where a service's rolling update is (``UpdateStatus.State``)."""

    UPDATING = "updating"
    PAUSED = "paused"
    COMPLETED = "completed"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_PAUSED = "rollback_paused"
    ROLLBACK_COMPLETED = "rollback_completed"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> UpdateState:
        return cls.UNKNOWN


class UpdateStatus(EngineModel):
    """The state of a service's last update; absent until its first update."""

    state: UpdateState = UpdateState.UNKNOWN
    message: str = ""
    started_at: datetime | None = None
    completed_at: datetime | None = None


class PortInfo(EngineModel):
    """A published port as the engine reports it (with the port it picked, if it did)."""

    target: int = Field(0, alias="TargetPort")
    published: int | None = Field(None, alias="PublishedPort")
    protocol: str = "tcp"
    mode: str = Field("ingress", alias="PublishMode")


class VirtualIP(EngineModel):
    """A service's virtual IP on one network (vip endpoint mode)."""

    network_id: str = Field("", alias="NetworkID")
    address: IPInterface | None = Field(None, alias="Addr")


class ServiceNetworkInfo(EngineModel):
    """One network of a service as stored: its id (the engine stores ids) and aliases."""

    target: str = ""
    aliases: tuple[str, ...] = ()
    driver_options: dict[str, str] = Field(default_factory=dict, alias="DriverOpts")


class Service(EngineModel):
    """A swarm service, as the engine reports it (``GET /services/{id}``).

    Attributes:
        id, name, version: identity and the object version an update must send.
        image, labels, mode, replicas: from its spec (``replicas`` is None when global).
        networks: the networks its tasks attach to (ids, as the engine stores them).
        endpoint_mode: ``vip`` or ``dnsrr``.
        ports: published ports, as allocated.
        virtual_ips: one per network in vip mode (none in dnsrr mode).
        update_status: the last rolling update's state, or None.
        running_tasks, desired_tasks: task counts, only from ``list(status=True)``.
        spec_payload: the stored spec, as the engine sent it (what updates start from).
        previous_spec_payload: the spec before the last update (what a rollback
            restores), or None for a service never updated.
    """

    id: str = Field(alias="ID")
    name: str = ""
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    image: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    mode: str = "replicated"
    replicas: int | None = None
    networks: tuple[ServiceNetworkInfo, ...] = ()
    endpoint_mode: str = "vip"
    ports: tuple[PortInfo, ...] = ()
    virtual_ips: tuple[VirtualIP, ...] = Field(default=(), alias="VirtualIPs")
    update_status: UpdateStatus | None = None
    running_tasks: int | None = None
    desired_tasks: int | None = None
    spec_payload: dict[str, Any] = Field(default_factory=dict, repr=False)
    previous_spec_payload: dict[str, Any] | None = Field(default=None, repr=False)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Service:
        """Build from one service of ``GET /services`` or ``GET /services/{id}``."""
        spec = payload.get("Spec") or {}
        task = spec.get("TaskTemplate") or {}
        mode = spec.get("Mode") or {}
        endpoint = payload.get("Endpoint") or {}
        networks = task.get("Networks") or spec.get("Networks") or []
        return cls.model_validate(
            {
                "ID": payload["ID"],
                "Name": spec.get("Name", ""),
                "Version": (payload.get("Version") or {}).get("Index", 0),
                "CreatedAt": payload.get("CreatedAt"),
                "UpdatedAt": payload.get("UpdatedAt"),
                "Image": (task.get("ContainerSpec") or {}).get("Image", ""),
                "Labels": spec.get("Labels") or {},
                "Mode": "global" if "Global" in mode else "replicated",
                "Replicas": (mode.get("Replicated") or {}).get("Replicas", 1)
                if "Global" not in mode
                else None,
                "Networks": [
                    {
                        "Target": n.get("Target", ""),
                        "Aliases": n.get("Aliases") or (),
                        "DriverOpts": n.get("DriverOpts") or {},
                    }
                    for n in networks
                ],
                "EndpointMode": (spec.get("EndpointSpec") or {}).get("Mode", "vip"),
                "Ports": endpoint.get("Ports") or (),
                "VirtualIPs": endpoint.get("VirtualIPs") or (),
                "UpdateStatus": payload.get("UpdateStatus"),
                "RunningTasks": (payload.get("ServiceStatus") or {}).get("RunningTasks"),
                "DesiredTasks": (payload.get("ServiceStatus") or {}).get("DesiredTasks"),
                "SpecPayload": spec,
                "PreviousSpecPayload": payload.get("PreviousSpec"),
            }
        )

    def network_ids(self) -> tuple[str, ...]:
        """The ids of the networks the service's tasks attach to."""
        return tuple(n.target for n in self.networks)

    def virtual_ip(self, network_id: str) -> IPInterface | None:
        """The service's virtual IP on a network (by id), or None."""
        for vip in self.virtual_ips:
            if vip.network_id == network_id:
                return vip.address
        return None


class TaskNetwork(EngineModel):
    """The addresses one task holds on one network."""

    network_id: str = Field("", alias="NetworkID")
    network_name: str = ""
    addresses: tuple[IPInterface, ...] = ()


class Task(EngineModel):
    """One task of a service: where it runs, its state, its addresses.

    Attributes:
        slot: its slot (replicated services; None for global ones, keyed by node).
        state, desired_state: what it is and what swarm wants it to be.
        message, error: swarm's status message and the task's own error, if any.
        exit_code: the container's exit code, once it has one.
        networks: the addresses it holds, per network.
    """

    id: str = Field(alias="ID")
    service_id: str = Field("", alias="ServiceID")
    node_id: str = Field("", alias="NodeID")
    slot: int | None = None
    version: int = 0
    state: TaskState = TaskState.UNKNOWN
    desired_state: TaskState = TaskState.UNKNOWN
    message: str = ""
    error: str = ""
    exit_code: int | None = None
    container_id: str = Field("", alias="ContainerID")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    networks: tuple[TaskNetwork, ...] = ()

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Task:
        """Build from one item of ``GET /tasks``."""
        status = payload.get("Status") or {}
        container = status.get("ContainerStatus") or {}
        networks = []
        for attachment in payload.get("NetworksAttachments") or ():
            network = attachment.get("Network") or {}
            addresses = [_interface(str(a)) for a in attachment.get("Addresses") or ()]
            networks.append(
                {
                    "NetworkID": network.get("ID", ""),
                    "NetworkName": (network.get("Spec") or {}).get("Name", ""),
                    "Addresses": [a for a in addresses if a is not None],
                }
            )
        return cls.model_validate(
            {
                "ID": payload["ID"],
                "ServiceID": payload.get("ServiceID", ""),
                "NodeID": payload.get("NodeID", ""),
                "Slot": payload.get("Slot"),
                "Version": (payload.get("Version") or {}).get("Index", 0),
                "State": status.get("State", "unknown"),
                "DesiredState": payload.get("DesiredState", "unknown"),
                "Message": status.get("Message", ""),
                "Error": status.get("Err", ""),
                "ExitCode": container.get("ExitCode"),
                "ContainerID": container.get("ContainerID", ""),
                "CreatedAt": payload.get("CreatedAt"),
                "UpdatedAt": payload.get("UpdatedAt"),
                "Networks": networks,
            }
        )

    def addresses_on(self, network: str) -> tuple[IPInterface, ...]:
        """The task's addresses on a network, by name or id (empty when not attached)."""
        for attachment in self.networks:
            if network in (attachment.network_id, attachment.network_name):
                return attachment.addresses
        return ()


class Progress(EngineModel):
    """How far a service is from converged; ``str()`` gives ``"2/3 running"``.

    Attributes:
        running: tasks of the current spec that run.
        desired: tasks the service should have.
        update_state: the rolling update's state, if one is under way or done.
    """

    service: str
    running: int
    desired: int
    update_state: UpdateState | None = None

    def __str__(self) -> str:
        text = f"{self.running}/{self.desired} running"
        if self.update_state is not None:
            text += f" ({self.update_state.value})"
        return text
