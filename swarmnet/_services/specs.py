"""Typed, immutable service specs, validated before anything reaches an engine.

:class:`ServiceSpec` says what a swarm service should be; its parts are
:class:`ServiceNetwork`, :class:`PublishedPort`, :class:`RestartPolicy`,
:class:`UpdateSettings` and :class:`Resources`. Building one checks every rule that
needs no engine: the name is a DNS label, ports are in range and not published twice,
``dnsrr`` is not combined with ingress-mode ports, placement constraints have one
``==``/``!=`` and a key the scheduler knows. The one rule that needs the engine (every
network exists, with swarm scope) is checked by :class:`swarmnet.ServicesAPI` with a
read, before its write. Every refusal is :class:`swarmnet.InvalidSpec` naming the field.

A field left ``None`` is "not mentioned": a create leaves it to the engine's default,
``ensure`` does not compare it, and an update keeps what the service has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from swarmnet._core.errors import InvalidSpec
from swarmnet._core.models import Spec

# swarmkit's rule for service names (manager/controlapi/service.go): a DNS label.
_SERVICE_NAME = re.compile(r"[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*")
_SERVICE_NAME_MAX = 63
_NS = 1_000_000_000
# The smallest memory limit dockerd starts a container with (swarm itself takes 4 MiB).
_MIN_MEMORY_LIMIT = 6 * 1024 * 1024

# What the scheduler's constraint parser accepts (swarmkit manager/constraint).
_CONSTRAINT = re.compile(r"\s*([\w.\-]+)\s*(==|!=)\s*(\S(?:.*\S)?)\s*")
_CONSTRAINT_KEYS = frozenset(
    {"node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch"}
)
_CONSTRAINT_PREFIXES = ("node.labels.", "engine.labels.")


class _Part(Spec):
    """A spec whose construction errors are :class:`InvalidSpec` naming the field."""


def _seconds_ns(value: float | None) -> int | None:
    return None if value is None else round(value * _NS)


class ServiceNetwork(_Part):
    """One network a service's tasks attach to.

    Args:
        target: the network's name (or id); it must be a swarm-scoped network.
        aliases: extra DNS names the tasks answer to on this network.
        driver_options: options for the network driver on this attachment.
    """

    target: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    driver_options: dict[str, str] = Field(default_factory=dict)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for alias in value:
            if not alias or alias != alias.strip():
                raise ValueError(f"alias {alias!r} is empty or has surrounding whitespace")
        return value


class PublishedPort(_Part):
    """A port of the service's tasks made reachable from outside the swarm.

    Args:
        target: the port inside the task.
        published: the port on the nodes; ``None`` lets the engine pick one (ingress
            mode) or publishes on a random port (host mode).
        protocol: ``tcp``, ``udp`` or ``sctp``.
        mode: ``ingress`` (the routing mesh, every node; needs IPVS in the kernel) or
            ``host`` (only nodes that run a task, on that node's address).
    """

    target: int = Field(ge=1, le=65535)
    published: int | None = Field(default=None, ge=1, le=65535)
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    mode: Literal["ingress", "host"] = "ingress"

    def body(self) -> dict[str, Any]:
        """The engine's ``PortConfig`` for this port."""
        body: dict[str, Any] = {
            "Protocol": self.protocol,
            "TargetPort": self.target,
            "PublishMode": self.mode,
        }
        if self.published is not None:
            body["PublishedPort"] = self.published
        return body


class RestartPolicy(_Part):
    """When swarm restarts a task that ended.

    Args:
        condition: ``none``, ``on-failure`` or ``any``.
        delay: seconds between restarts.
        max_attempts: restarts before giving up (0: no limit).
        window: seconds over which restarts are counted.
    """

    condition: Literal["none", "on-failure", "any"] = "any"
    delay: float = Field(default=5.0, ge=0)
    max_attempts: int = Field(default=0, ge=0)
    window: float = Field(default=0.0, ge=0)

    def body(self) -> dict[str, Any]:
        """The engine's ``RestartPolicy``; every field is sent, so it reads back as sent."""
        return {
            "Condition": self.condition,
            "Delay": _seconds_ns(self.delay),
            "MaxAttempts": self.max_attempts,
            "Window": _seconds_ns(self.window),
        }


class UpdateSettings(_Part):
    """How swarm rolls out an update (``update_config``) or a rollback (``rollback_config``).

    Args:
        parallelism: tasks replaced at once (0: all at once).
        delay: seconds between batches.
        failure_action: ``pause``, ``continue`` or ``rollback`` when a task fails.
        monitor: seconds each new task is watched for failure.
        max_failure_ratio: the share of failed tasks tolerated (0 to 1).
        order: ``stop-first`` or ``start-first``.
    """

    parallelism: int = Field(default=1, ge=0)
    delay: float = Field(default=0.0, ge=0)
    failure_action: Literal["pause", "continue", "rollback"] = "pause"
    monitor: float = Field(default=5.0, ge=0)
    max_failure_ratio: float = Field(default=0.0, ge=0, le=1)
    order: Literal["stop-first", "start-first"] = "stop-first"

    def body(self) -> dict[str, Any]:
        """The engine's ``UpdateConfig``; every field is sent, so it reads back as sent."""
        return {
            "Parallelism": self.parallelism,
            "Delay": _seconds_ns(self.delay),
            "FailureAction": self.failure_action,
            "Monitor": _seconds_ns(self.monitor),
            "MaxFailureRatio": self.max_failure_ratio,
            "Order": self.order,
        }


class Resources(_Part):
    """CPU and memory for each task: a limit or a reservation.

    Args:
        cpus: CPUs, fractions allowed (``0.5``).
        memory: bytes.
    """

    cpus: float | None = Field(default=None, gt=0)
    memory: int | None = Field(default=None, ge=4 * 1024 * 1024)

    def body(self) -> dict[str, Any]:
        """The engine's ``Limits``/``Reservations`` block."""
        body: dict[str, Any] = {}
        if self.cpus is not None:
            body["NanoCPUs"] = round(self.cpus * _NS)
        if self.memory is not None:
            body["MemoryBytes"] = self.memory
        return body


def check_constraint(text: str) -> str:
    """Refuse a placement constraint the scheduler would refuse or never satisfy."""
    match = _CONSTRAINT.fullmatch(text)
    if match is None or text.count("==") + text.count("!=") != 1:
        raise ValueError(
            f"constraint {text!r} is malformed: write KEY==VALUE or KEY!=VALUE "
            "(one operator), e.g. 'node.role==manager'"
        )
    key = match.group(1)
    if key not in _CONSTRAINT_KEYS and not any(
        key.startswith(p) and len(key) > len(p) for p in _CONSTRAINT_PREFIXES
    ):
        raise ValueError(
            f"constraint {text!r}: unknown key {key!r}; use one of "
            f"{', '.join(sorted(_CONSTRAINT_KEYS))}, node.labels.<k>, engine.labels.<k>"
        )
    if key == "node.role" and match.group(3) not in ("manager", "worker"):
        raise ValueError(f"constraint {text!r}: node.role is 'manager' or 'worker'")
    return text


class ServiceSpec(_Part):
    """What a swarm service should be. Fields left ``None`` are not mentioned.

    Example::

        spec = swarmnet.ServiceSpec(
            name="web",
            image="nginx:1.27",
            replicas=3,
            networks=("front", swarmnet.ServiceNetwork(target="back", aliases=("api",))),
            endpoint_mode="dnsrr",
            ports=(swarmnet.PublishedPort(target=80, published=8080, mode="host"),),
            constraints=("node.role==worker",),
        )

    Args:
        name: the service's name, a DNS label (letters, digits, ``-``, ``_``; 63 at most).
        image: the image its tasks run (used as given: no registry lookup).
        command: replaces the image's entrypoint.
        args: arguments (the image's ``CMD`` when ``command`` is not given).
        env: environment variables.
        labels: labels on the service.
        container_labels: labels on each task's container.
        mode: ``replicated`` (``replicas`` tasks) or ``global`` (one task per node).
        replicas: how many tasks, for a replicated service (default on create: 1).
        networks: network names or :class:`ServiceNetwork` s.
        endpoint_mode: ``vip`` (one virtual IP per network) or ``dnsrr`` (the name
            resolves to every task's address).
        ports: :class:`PublishedPort` s.
        constraints: placement constraints, ``KEY==VALUE`` or ``KEY!=VALUE``.
        preferences: spread preferences, as label keys (``node.labels.zone``).
        max_replicas_per_node: at most this many tasks on one node (0: no limit).
        restart_policy, update_config, rollback_config: as their classes say.
        limits, reservations: :class:`Resources` for each task.
        stop_signal: the signal that asks a task's container to stop (``SIGTERM``
            when not given; ``SIGINT``, ``SIGQUIT``, a number…).
        stop_grace_period: seconds a stopping task gets before it is killed (the
            engine's default is 10). A process that is PID 1 and has no handler for
            the stop signal ignores it, so every update, scale-down and removal of
            such a service waits this long per task.

    Raises:
        InvalidSpec: on construction, naming the field at fault.
    """

    name: str
    image: str = Field(min_length=1)
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    env: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    container_labels: dict[str, str] | None = None
    mode: Literal["replicated", "global"] | None = None
    replicas: int | None = Field(default=None, ge=0)
    networks: tuple[ServiceNetwork, ...] | None = None
    endpoint_mode: Literal["vip", "dnsrr"] | None = None
    ports: tuple[PublishedPort, ...] | None = None
    constraints: tuple[str, ...] | None = None
    preferences: tuple[str, ...] | None = None
    max_replicas_per_node: int | None = Field(default=None, ge=0)
    restart_policy: RestartPolicy | None = None
    update_config: UpdateSettings | None = None
    rollback_config: UpdateSettings | None = None
    limits: Resources | None = None
    reservations: Resources | None = None
    stop_signal: str | None = Field(default=None, min_length=1)
    stop_grace_period: float | None = Field(default=None, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > _SERVICE_NAME_MAX or not _SERVICE_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a DNS label: use 1 to 63 letters, digits, '-' or '_', "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("networks", mode="before")
    @classmethod
    def _network_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = (value,)
        if isinstance(value, list | tuple):
            return tuple({"target": v} if isinstance(v, str) else v for v in value)
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key in value or {}:
            if not key or "=" in key:
                raise ValueError(f"variable name {key!r} is empty or holds '='")
        return value

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for text in value or ():
            check_constraint(text)
        return value

    @field_validator("preferences")
    @classmethod
    def _preferences(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for key in value or ():
            if not key.startswith(_CONSTRAINT_PREFIXES) or key.endswith("."):
                raise ValueError(f"spread preference {key!r}: use node.labels.<k>")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSpec:
        memory = self.limits.memory if self.limits is not None else None
        if memory is not None and memory < _MIN_MEMORY_LIMIT:
            raise ValueError(
                f"limits.memory: {memory} bytes is below the 6 MiB the engine needs to "
                "run a container (swarm accepts it; the tasks fail)"
            )
        if self.mode == "global" and self.replicas is not None:
            raise ValueError("replicas: a global service runs one task per node; drop replicas")
        ports = self.ports or ()
        if self.endpoint_mode == "dnsrr" and any(p.mode == "ingress" for p in ports):
            raise ValueError(
                "ports: a port published in ingress mode cannot be used with "
                "endpoint_mode='dnsrr'; publish it with mode='host'"
            )
        seen: set[tuple[int, str]] = set()
        for port in ports:
            if port.published is None:
                continue
            key = (port.published, port.protocol)
            if key in seen:
                raise ValueError(f"ports: {port.published}/{port.protocol} is published twice")
            seen.add(key)
        targets = [n.target for n in self.networks or ()]
        for target in targets:
            if targets.count(target) > 1:
                raise ValueError(f"networks: {target!r} is listed twice")
        return self

    # -- the engine's body -------------------------------------------------------------

    def network_names(self) -> tuple[str, ...]:
        """The networks the spec names, in order."""
        return tuple(n.target for n in self.networks or ())

    def patch(self, network_ids: Mapping[str, str]) -> list[tuple[tuple[str, ...], Any]]:
        """The engine spec fields this spec mentions, as ``(path, value)`` pairs.

        ``network_ids`` maps each network named to its id (the engine stores ids).
        """
        task = ("TaskTemplate",)
        container = (*task, "ContainerSpec")
        out: list[tuple[tuple[str, ...], Any]] = [
            (("Name",), self.name),
            ((*container, "Image"), self.image),
        ]

        def put(path: tuple[str, ...], value: Any) -> None:
            if value is not None:
                out.append((path, value))

        put((*container, "Command"), _list(self.command))
        put((*container, "Args"), _list(self.args))
        if self.env is not None:
            put((*container, "Env"), sorted(f"{k}={v}" for k, v in self.env.items()))
        put(("Labels",), _dict(self.labels))
        put((*container, "Labels"), _dict(self.container_labels))
        if self.mode == "global":
            put(("Mode",), {"Global": {}})
        elif self.mode == "replicated" or self.replicas is not None:
            put(
                ("Mode",),
                {"Replicated": {"Replicas": 1 if self.replicas is None else self.replicas}},
            )
        if self.networks is not None:
            put((*task, "Networks"), [_network_body(n, network_ids) for n in self.networks])
        put(("EndpointSpec", "Mode"), self.endpoint_mode)
        if self.ports is not None:
            put(("EndpointSpec", "Ports"), [p.body() for p in self.ports])
        put((*task, "Placement", "Constraints"), _list(self.constraints))
        if self.preferences is not None:
            put(
                (*task, "Placement", "Preferences"),
                [{"Spread": {"SpreadDescriptor": key}} for key in self.preferences],
            )
        put((*task, "Placement", "MaxReplicas"), self.max_replicas_per_node)
        put((*container, "StopSignal"), self.stop_signal)
        if self.stop_grace_period is not None:
            # The engine stores a Go duration: nanoseconds.
            put((*container, "StopGracePeriod"), round(self.stop_grace_period * 1e9))
        for path, part in (
            ((*task, "RestartPolicy"), self.restart_policy),
            (("UpdateConfig",), self.update_config),
            (("RollbackConfig",), self.rollback_config),
            ((*task, "Resources", "Limits"), self.limits),
            ((*task, "Resources", "Reservations"), self.reservations),
        ):
            if part is not None:
                put(path, part.body())
        return out


def _list(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)


def _dict(value: dict[str, str] | None) -> dict[str, str] | None:
    return None if value is None else dict(value)


def _network_body(network: ServiceNetwork, ids: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"Target": ids.get(network.target, network.target)}
    if network.aliases:
        body["Aliases"] = list(network.aliases)
    if network.driver_options:
        body["DriverOpts"] = dict(network.driver_options)
    return body


def service_spec_from(spec: ServiceSpec | Mapping[str, Any]) -> ServiceSpec:
    """A :class:`ServiceSpec` from itself or a mapping of its fields.

    Raises:
        InvalidSpec: the mapping is no valid spec (the message names the field).
    """
    if isinstance(spec, ServiceSpec):
        return spec
    if not isinstance(spec, Mapping):
        raise InvalidSpec(f"expected a ServiceSpec or a mapping, got {type(spec).__name__}")
    return ServiceSpec(**dict(spec))
