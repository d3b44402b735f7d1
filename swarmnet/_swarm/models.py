"""Typed views of the engine's swarm and node payloads, and the specs swarm calls take.

Views (``Swarm``, ``Node``, ``JoinTokens``, ``SwarmStatus``) are immutable and built from
the engine's JSON. Specs (``SwarmInitSpec``, ``SwarmJoinSpec``, ``SwarmSettings``) are
validated when built: addresses, ports, address pools and tokens are checked here, with
:mod:`ipaddress`, so that a bad value never reaches an engine.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AliasPath,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from swarmnet._core.engine_models import LocalNodeState, SwarmMembership
from swarmnet._core.errors import InvalidSpec
from swarmnet._core.models import EngineModel, Spec
from swarmnet._core.secret import Secret

SpecT = TypeVar("SpecT", bound=Spec)

#: The port managers listen on for cluster traffic when none is given.
DEFAULT_SWARM_PORT = 2377

# -- enums -------------------------------------------------------------------------------


class NodeRole(str, enum.Enum):
    """A node's role in the swarm."""

    WORKER = "worker"
    MANAGER = "manager"


class NodeAvailability(str, enum.Enum):
    """Whether the scheduler may place tasks on a node.

    ``ACTIVE``: new tasks may land; ``PAUSE``: no new tasks, running ones stay;
    ``DRAIN``: no new tasks and running ones are moved elsewhere.
    """

    ACTIVE = "active"
    PAUSE = "pause"
    DRAIN = "drain"


class NodeState(str, enum.Enum):
    """A node's health as the managers see it."""

    UNKNOWN = "unknown"
    DOWN = "down"
    READY = "ready"
    DISCONNECTED = "disconnected"


class Reachability(str, enum.Enum):
    """Whether the other managers can reach a manager (raft membership health)."""

    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"
    REACHABLE = "reachable"


# -- small shared types ------------------------------------------------------------------


def _ns_to_timedelta(value: Any) -> Any:
    # The engine speaks durations as integer nanoseconds.
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(microseconds=value / 1000)
    return value


Nanoseconds = Annotated[timedelta, BeforeValidator(_ns_to_timedelta)]


def _timedelta_to_ns(value: timedelta) -> int:
    return (
        value.days * 86_400_000_000_000 + value.seconds * 1_000_000_000 + value.microseconds * 1000
    )


def _version_index(value: Any) -> Any:
    # Docker wraps object versions as {"Index": n}; callers only ever need n.
    if isinstance(value, Mapping):
        return value.get("Index", 0)
    return value


ObjectVersion = Annotated[int, BeforeValidator(_version_index)]


# -- swarm views -------------------------------------------------------------------------


class RaftSettings(EngineModel):
    """Raft settings of the swarm's managers (ticks are about one second each)."""

    snapshot_interval: int = 0
    keep_old_snapshots: int = 0
    log_entries_for_slow_followers: int = 0
    election_tick: int = 0
    heartbeat_tick: int = 0


class OrchestrationSettings(EngineModel):
    """Orchestration settings: how many finished tasks to keep per slot."""

    task_history_retention_limit: int | None = None


class DispatcherSettings(EngineModel):
    """Dispatcher settings: how often agents send heartbeats."""

    heartbeat_period: Nanoseconds | None = None


class ExternalCA(EngineModel):
    """An external certificate authority managers forward signing requests to."""

    protocol: str = "cfssl"
    url: str = Field("", alias="URL")
    options: dict[str, str] = Field(default_factory=dict)
    ca_cert: str = Field("", alias="CACert")


class CASettings(EngineModel):
    """Certificate authority settings (the signing key is never read back)."""

    node_cert_expiry: Nanoseconds | None = None
    external_cas: tuple[ExternalCA, ...] = Field((), alias="ExternalCAs")
    signing_ca_cert: str = Field("", alias="SigningCACert")
    force_rotate: int = 0

    @field_validator("external_cas", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return () if value is None else value


class EncryptionSettings(EngineModel):
    """Encryption at rest: with ``auto_lock_managers`` a restarted manager stays locked."""

    auto_lock_managers: bool = False


class LogDriver(EngineModel):
    """A log driver and its options."""

    name: str = ""
    options: dict[str, str] = Field(default_factory=dict)


class TaskDefaults(EngineModel):
    """Defaults for tasks the orchestrator creates."""

    log_driver: LogDriver | None = None


class SwarmSpec(EngineModel):
    """The swarm's settings as the engine holds them (``Spec`` of ``GET /swarm``)."""

    name: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    orchestration: OrchestrationSettings = OrchestrationSettings()
    raft: RaftSettings = RaftSettings()
    dispatcher: DispatcherSettings = DispatcherSettings()
    ca_config: CASettings = Field(CASettings(), alias="CAConfig")
    encryption_config: EncryptionSettings = EncryptionSettings()
    task_defaults: TaskDefaults = TaskDefaults()

    @field_validator(
        "labels", "orchestration", "dispatcher", "ca_config", "task_defaults", mode="before"
    )
    @classmethod
    def _null_is_default(cls, value: Any) -> Any:
        # The engine sends null for sections it never had a value for.
        return {} if value is None else value

    @property
    def autolock(self) -> bool:
        """True when managers lock their raft data at rest (``--autolock``)."""
        return self.encryption_config.auto_lock_managers


class TLSInfo(EngineModel):
    """The swarm's root of trust, as nodes see it."""

    trust_root: str = ""
    cert_issuer_subject: str = ""
    cert_issuer_public_key: str = ""


class Swarm(EngineModel):
    """A swarm as its manager reports it (``GET /swarm``), without the join tokens.

    Read the tokens with ``engine.swarm.join_tokens()``; they never live in this view.
    """

    id: str = Field("", alias="ID")
    version: ObjectVersion = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    spec: SwarmSpec = SwarmSpec()
    tls_info: TLSInfo = Field(TLSInfo(), alias="TLSInfo")
    root_rotation_in_progress: bool = False
    data_path_port: int = 4789
    default_addr_pool: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    subnet_size: int = 24

    @field_validator("default_addr_pool", mode="before")
    @classmethod
    def _pool_none_is_empty(cls, value: Any) -> Any:
        return () if value is None else value


class JoinTokens(EngineModel):
    """The tokens other engines join with. Both are :class:`swarmnet.Secret` values.

    ``print(tokens)`` shows masks; use ``tokens.worker.reveal()`` where the value is needed.
    """

    worker: Secret
    manager: Secret

    def for_role(self, role: NodeRole | str) -> Secret:
        """The token that makes a joining engine a ``worker`` or a ``manager``."""
        return self.manager if NodeRole(role) is NodeRole.MANAGER else self.worker


class RemoteManager(EngineModel):
    """A manager this engine knows of: its node id and cluster address."""

    node_id: str = Field("", alias="NodeID")
    addr: str = ""


class SwarmStatus(SwarmMembership):
    """This engine's own view of its swarm membership (the ``Swarm`` part of ``/info``).

    Adds to :class:`swarmnet.SwarmMembership` the managers the engine talks to and,
    on a manager, the cluster's id.
    """

    cluster_id: str = Field("", validation_alias=AliasPath("Cluster", "ID"))
    remote_managers: tuple[RemoteManager, ...] = ()

    @field_validator("remote_managers", mode="before")
    @classmethod
    def _managers_none_is_empty(cls, value: Any) -> Any:
        return () if value is None else value

    @property
    def state(self) -> LocalNodeState:
        """Shorthand for ``local_node_state``."""
        return self.local_node_state

    @property
    def manager_addrs(self) -> tuple[str, ...]:
        """The cluster addresses (``ip:port``) of the managers this engine knows."""
        return tuple(peer.addr for peer in self.remote_managers if peer.addr)


# -- node views --------------------------------------------------------------------------


class NodeSpec(EngineModel):
    """What can be set on a node: name, labels, role and availability."""

    name: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    role: NodeRole = NodeRole.WORKER
    availability: NodeAvailability = NodeAvailability.ACTIVE

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class Platform(EngineModel):
    """A node's operating system and architecture."""

    architecture: str = ""
    os: str = Field("", alias="OS")


class NodeResources(EngineModel):
    """CPU and memory a node offers to tasks."""

    nano_cpus: int = Field(0, alias="NanoCPUs")
    memory_bytes: int = 0


class NodeEngine(EngineModel):
    """The engine a node runs: version and engine labels."""

    engine_version: str = ""
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class NodeDescription(EngineModel):
    """What a node's agent reports about itself."""

    hostname: str = ""
    platform: Platform = Platform()
    resources: NodeResources = NodeResources()
    engine: NodeEngine = NodeEngine()


class NodeStatus(EngineModel):
    """A node's state as the managers see it, and the address it was seen at."""

    state: NodeState = NodeState.UNKNOWN
    message: str = ""
    addr: str = ""


class ManagerStatus(EngineModel):
    """A manager's place in raft: leader or not, reachable or not, cluster address."""

    leader: bool = False
    reachability: Reachability = Reachability.UNKNOWN
    addr: str = ""


class Node(EngineModel):
    """One node of a swarm (``GET /nodes/{id}``).

    The shorthand properties (``hostname``, ``role``, ``state``…) read the nested parts.
    """

    id: str = Field("", alias="ID")
    version: ObjectVersion = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    spec: NodeSpec = NodeSpec()
    description: NodeDescription = NodeDescription()
    status: NodeStatus = NodeStatus()
    manager_status: ManagerStatus | None = None

    @property
    def hostname(self) -> str:
        """The node's hostname (what ``docker node ls`` shows)."""
        return self.description.hostname

    @property
    def role(self) -> NodeRole:
        """The role the node is asked to have (``spec.role``)."""
        return self.spec.role

    @property
    def availability(self) -> NodeAvailability:
        """Whether the scheduler may place tasks on this node."""
        return self.spec.availability

    @property
    def labels(self) -> dict[str, str]:
        """The node's labels (``spec.labels``)."""
        return self.spec.labels

    @property
    def state(self) -> NodeState:
        """``ready``, ``down``… as the managers see the node."""
        return self.status.state

    @property
    def is_manager(self) -> bool:
        """True when the node takes part in raft (it has a manager status)."""
        return self.manager_status is not None

    @property
    def is_leader(self) -> bool:
        """True for the raft leader."""
        return self.manager_status is not None and self.manager_status.leader

    @property
    def reachability(self) -> Reachability | None:
        """A manager's reachability; ``None`` for a worker."""
        return None if self.manager_status is None else self.manager_status.reachability

    @property
    def addr(self) -> str:
        """The address the managers see the node at."""
        return self.status.addr


# -- address validation ------------------------------------------------------------------

_IFACE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$")
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_DOTTED_RE = re.compile(r"^[0-9.]+$")
_TOKEN_RE = re.compile(r"^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")
_KEY_RE = re.compile(r"^SWMKEY-1-[A-Za-z0-9+/=_-]+$")


def _split_port(value: str, what: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` / ``[v6]:port``; a bare IPv6 address has no port."""
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{what} {value!r}: write IPv6 with a port as [addr]:port")
        return host, _parse_port(rest[1:], value, what) if rest else None
    if value.count(":") > 1:  # a bare IPv6 address
        return value, None
    host, sep, port = value.partition(":")
    return host, _parse_port(port, value, what) if sep else None


def _parse_port(text: str, value: str, what: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{what} {value!r}: the port must be a number from 1 to 65535")
    return int(text)


def _check_host(host: str, value: str, what: str, *, allow: str) -> None:
    """Check ``host`` is an IP address, or (as ``allow`` says) an interface or hostname."""
    if not host:
        raise ValueError(f"{what} {value!r}: the address part is empty")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if _DOTTED_RE.match(host) or ":" in host:
            raise ValueError(f"{what} {value!r}: {host!r} is not a valid IP address") from None
        pattern = _IFACE_RE if allow == "interface" else _HOSTNAME_RE
        if not pattern.match(host):
            kind = "an interface name" if allow == "interface" else "a hostname"
            raise ValueError(
                f"{what} {value!r}: {host!r} is neither an IP address nor {kind}"
            ) from None


def check_node_addr(value: str, what: str) -> str:
    """An advertise or listen address: ``ip``, ``ip:port``, ``iface`` or ``iface:port``."""
    value = value.strip()
    host, _ = _split_port(value, what)
    _check_host(host, value, what, allow="interface")
    return value


def check_remote_addr(value: str) -> str:
    """A manager to join through: ``ip``/``host`` with an optional port (default 2377)."""
    value = value.strip()
    host, _ = _split_port(value, "remote address")
    _check_host(host, value, "remote address", allow="hostname")
    return value


def check_data_path_addr(value: str) -> str:
    """A data path address: an IP address or an interface name, without a port."""
    value = value.strip()
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if _DOTTED_RE.match(value) or ":" in value or not _IFACE_RE.match(value):
            raise ValueError(
                f"data path address {value!r}: give an IP address or an interface name, "
                "without a port (the data path port is set with data_path_port)"
            ) from None
    return value


# The address fields init and join share, checked the same way in both specs.
AdvertiseAddr = Annotated[str, AfterValidator(lambda v: check_node_addr(v, "advertise address"))]
ListenAddr = Annotated[str, AfterValidator(lambda v: check_node_addr(v, "listen address"))]
DataPathAddr = Annotated[str, AfterValidator(check_data_path_addr)]


def normalise_remote_addr(value: str) -> str:
    """``host[:port]`` as ``host:port``, the way engines list their managers."""
    host, port = _split_port(value, "remote address")
    port = port or DEFAULT_SWARM_PORT
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_join_token(value: Secret) -> Secret:
    """A join token has the shape ``SWMTKN-1-<50 chars>-<25 chars>``."""
    if not _TOKEN_RE.match(value.reveal().strip()):
        # The value itself stays out of the message, on purpose.
        raise ValueError(
            "join token: not a swarm join token (they look like SWMTKN-1-<50 chars>-<25 chars>; "
            "read one with `engine.swarm.join_tokens()` or `docker swarm join-token`)"
        )
    return Secret(value.reveal().strip())


def check_unlock_key(value: Secret) -> Secret:
    """An unlock key has the shape ``SWMKEY-1-…``."""
    if not _KEY_RE.match(value.reveal().strip()):
        raise ValueError(
            "unlock key: not a swarm unlock key (they look like SWMKEY-1-…; "
            "read it with `engine.swarm.unlock_key()` before the manager restarts)"
        )
    return Secret(value.reveal().strip())


# -- input specs -------------------------------------------------------------------------


class ExternalCASpec(Spec):
    """An external CA for :class:`SwarmSettings` (``protocol`` is always cfssl today)."""

    url: str
    protocol: str = "cfssl"
    options: dict[str, str] = Field(default_factory=dict)
    ca_cert: str = ""

    def to_engine(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Protocol": self.protocol, "URL": self.url}
        if self.options:
            body["Options"] = dict(self.options)
        if self.ca_cert:
            body["CACert"] = self.ca_cert
        return body


class SwarmSettings(Spec):
    """Swarm settings to set at ``init`` or change with ``update``.

    Every field is optional: ``None`` means "not mentioned", and an update leaves what
    is not mentioned as the engine has it. ``labels`` replaces the whole label map.

    Example::

        SwarmSettings(task_history_retention_limit=2, autolock=True,
                      dispatcher_heartbeat_period=timedelta(seconds=2))
    """

    # The signing key may be in the input; keep inputs out of validation messages.
    model_config = ConfigDict(**Spec.model_config, hide_input_in_errors=True)

    labels: dict[str, str] | None = None
    task_history_retention_limit: int | None = Field(
        None, description="Finished tasks kept per slot; negative keeps them all."
    )
    snapshot_interval: int | None = Field(None, ge=1)
    keep_old_snapshots: int | None = Field(None, ge=0)
    log_entries_for_slow_followers: int | None = Field(None, ge=0)
    election_tick: int | None = Field(None, ge=1)
    heartbeat_tick: int | None = Field(None, ge=1)
    dispatcher_heartbeat_period: timedelta | None = None
    node_cert_expiry: timedelta | None = None
    external_cas: tuple[ExternalCASpec, ...] | None = None
    signing_ca_cert: str | None = None
    signing_ca_key: Secret | None = None
    force_rotate: int | None = Field(None, ge=0)
    autolock: bool | None = None
    log_driver: str | None = None
    log_driver_options: dict[str, str] | None = None

    @field_validator("dispatcher_heartbeat_period")
    @classmethod
    def _positive_period(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("dispatcher_heartbeat_period must be positive")
        return value

    @field_validator("node_cert_expiry")
    @classmethod
    def _cert_expiry_floor(cls, value: timedelta | None) -> timedelta | None:
        # swarmkit refuses certificates that expire sooner than an hour.
        if value is not None and value < timedelta(hours=1):
            raise ValueError("node_cert_expiry must be at least one hour")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SwarmSettings:
        if (
            self.election_tick is not None
            and self.heartbeat_tick is not None
            and self.election_tick <= self.heartbeat_tick
        ):
            raise ValueError("election_tick must be greater than heartbeat_tick")
        if self.log_driver_options is not None and self.log_driver is None:
            raise ValueError("log_driver_options needs log_driver")
        return self

    def to_patch(self) -> dict[str, Any]:
        """The mentioned fields as a partial engine ``SwarmSpec`` (PascalCase, nested)."""
        patch: dict[str, Any] = {}

        def put(section: str, key: str, value: Any) -> None:
            if value is not None:
                patch.setdefault(section, {})[key] = value

        if self.labels is not None:
            patch["Labels"] = dict(self.labels)
        put("Orchestration", "TaskHistoryRetentionLimit", self.task_history_retention_limit)
        put("Raft", "SnapshotInterval", self.snapshot_interval)
        put("Raft", "KeepOldSnapshots", self.keep_old_snapshots)
        put("Raft", "LogEntriesForSlowFollowers", self.log_entries_for_slow_followers)
        put("Raft", "ElectionTick", self.election_tick)
        put("Raft", "HeartbeatTick", self.heartbeat_tick)
        if self.dispatcher_heartbeat_period is not None:
            put("Dispatcher", "HeartbeatPeriod", _timedelta_to_ns(self.dispatcher_heartbeat_period))
        if self.node_cert_expiry is not None:
            put("CAConfig", "NodeCertExpiry", _timedelta_to_ns(self.node_cert_expiry))
        if self.external_cas is not None:
            put("CAConfig", "ExternalCAs", [ca.to_engine() for ca in self.external_cas])
        put("CAConfig", "SigningCACert", self.signing_ca_cert)
        if self.signing_ca_key is not None:
            put("CAConfig", "SigningCAKey", self.signing_ca_key.reveal())
        put("CAConfig", "ForceRotate", self.force_rotate)
        put("EncryptionConfig", "AutoLockManagers", self.autolock)
        if self.log_driver is not None:
            driver: dict[str, Any] = {"Name": self.log_driver}
            if self.log_driver_options:
                driver["Options"] = dict(self.log_driver_options)
            put("TaskDefaults", "LogDriver", driver)
        return patch

    def secrets(self) -> tuple[Secret, ...]:
        """Secrets this spec sends, to be masked out of any engine error."""
        return (self.signing_ca_key,) if self.signing_ca_key is not None else ()


class SwarmInitSpec(Spec):
    """Everything ``POST /swarm/init`` takes, checked before it is sent.

    Args:
        advertise_addr: the address other nodes reach this manager at
            (``ip``, ``ip:port``, ``iface`` or ``iface:port``). Needed when the engine
            has several addresses.
        listen_addr: where the manager listens for cluster traffic (default ``0.0.0.0:2377``).
        data_path_addr: address or interface for overlay (VXLAN) traffic, no port.
        data_path_port: UDP port for overlay traffic, 1024 to 49151 (engine default 4789).
        default_addr_pool: IPv4 pools overlay subnets are carved from, e.g. ``["10.60.0.0/16"]``.
        subnet_size: prefix length of each subnet carved from the pools (≤ 29).
        force_new_cluster: make a new single-manager cluster from this manager's state.
        availability: this node's own availability once it is in the swarm.
        spec: swarm settings (raft, dispatcher, CA, task history, labels, autolock…).

    Raises:
        InvalidSpec: a value that the engine would refuse or misread (named).
    """

    advertise_addr: AdvertiseAddr | None = None
    listen_addr: ListenAddr = f"0.0.0.0:{DEFAULT_SWARM_PORT}"
    data_path_addr: DataPathAddr | None = None
    data_path_port: int | None = Field(None, ge=1024, le=49151)
    default_addr_pool: tuple[ipaddress.IPv4Network, ...] | None = None
    subnet_size: int | None = Field(None, ge=1, le=29)
    force_new_cluster: bool = False
    availability: NodeAvailability | None = None
    spec: SwarmSettings = SwarmSettings()

    @field_validator("default_addr_pool", mode="before")
    @classmethod
    def _pools(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if value is None:
            return None
        pools = []
        for item in value:
            try:
                network = ipaddress.ip_network(str(item), strict=True)
            except ValueError as exc:
                raise ValueError(f"default address pool {item!s}: {exc}") from None
            if network.version != 4:
                raise ValueError(f"default address pool {item!s}: swarm pools are IPv4 only")
            pools.append(network)
        if not pools:
            raise ValueError("default_addr_pool, when given, needs at least one pool")
        return tuple(pools)

    @model_validator(mode="after")
    def _pools_fit(self) -> SwarmInitSpec:
        pools = self.default_addr_pool or ()
        for i, first in enumerate(pools):
            for second in pools[i + 1 :]:
                if first.overlaps(second):
                    raise ValueError(f"default address pools {first} and {second} overlap")
        if self.subnet_size is not None:
            # Without pools the engine carves from 10.0.0.0/8.
            widest = max((p.prefixlen for p in pools), default=8)
            if self.subnet_size < widest:
                raise ValueError(
                    f"subnet_size /{self.subnet_size} is larger than the pool /{widest}; "
                    f"give a prefix length from {widest} to 29"
                )
        return self

    def to_engine(self) -> dict[str, Any]:
        """The ``SwarmInitRequest`` body."""
        spec_patch = self.spec.to_patch()
        body: dict[str, Any] = {
            "ListenAddr": self.listen_addr,
            "ForceNewCluster": self.force_new_cluster,
            "Spec": spec_patch,
        }
        if self.advertise_addr is not None:
            body["AdvertiseAddr"] = self.advertise_addr
        if self.data_path_addr is not None:
            body["DataPathAddr"] = self.data_path_addr
        if self.data_path_port is not None:
            body["DataPathPort"] = self.data_path_port
        if self.default_addr_pool is not None:
            body["DefaultAddrPool"] = [str(pool) for pool in self.default_addr_pool]
        if self.subnet_size is not None:
            body["SubnetSize"] = self.subnet_size
        if self.availability is not None:
            body["Availability"] = self.availability.value
        if self.spec.autolock is not None:
            # The engine starts the first manager from this top-level flag; the spec
            # field alone would only take effect after the node is up.
            body["AutoLockManagers"] = self.spec.autolock
        return body


class SwarmJoinSpec(Spec):
    """Everything ``POST /swarm/join`` takes, checked before it is sent.

    The token decides the role: a worker token makes a worker, a manager token a manager.

    Args:
        remote_addrs: one or more managers of the swarm (``ip``/``host``, optional port;
            2377 by default).
        join_token: the swarm's worker or manager token (a ``Secret`` or a plain string).
        advertise_addr: the address other nodes reach this one at.
        listen_addr: where this node listens if it is (or becomes) a manager.
        data_path_addr: address or interface for overlay traffic.
        availability: this node's own availability once it has joined.
    """

    # A token that fails a check must not be echoed back in the error.
    model_config = ConfigDict(**Spec.model_config, hide_input_in_errors=True)

    remote_addrs: tuple[str, ...] = Field(min_length=1)
    join_token: Secret
    advertise_addr: AdvertiseAddr | None = None
    listen_addr: ListenAddr = f"0.0.0.0:{DEFAULT_SWARM_PORT}"
    data_path_addr: DataPathAddr | None = None
    availability: NodeAvailability | None = None

    @field_validator("remote_addrs", mode="before")
    @classmethod
    def _one_is_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("remote_addrs")
    @classmethod
    def _remotes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_remote_addr(addr) for addr in value)

    @field_validator("join_token")
    @classmethod
    def _token(cls, value: Secret) -> Secret:
        return check_join_token(value)

    def to_engine(self) -> dict[str, Any]:
        """The ``SwarmJoinRequest`` body (it carries the token: send with ``secrets=``)."""
        body: dict[str, Any] = {
            "ListenAddr": self.listen_addr,
            "RemoteAddrs": list(self.remote_addrs),
            "JoinToken": self.join_token.reveal(),
        }
        if self.advertise_addr is not None:
            body["AdvertiseAddr"] = self.advertise_addr
        if self.data_path_addr is not None:
            body["DataPathAddr"] = self.data_path_addr
        if self.availability is not None:
            body["Availability"] = self.availability.value
        return body


# -- turning inputs into specs -----------------------------------------------------------


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, ``field: message``, without pydantic's links."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def build_spec(
    cls: type[SpecT], spec: SpecT | None, options: Mapping[str, Any], what: str
) -> SpecT:
    """``spec`` as given, or ``cls(**options)``; bad input becomes :class:`InvalidSpec`."""
    if spec is not None:
        if options:
            raise InvalidSpec(
                f"{what}: give a {cls.__name__} or keyword options, not both "
                f"(got {sorted(options)})"
            )
        if not isinstance(spec, cls):
            raise InvalidSpec(f"{what}: expected a {cls.__name__}, got {type(spec).__name__}")
        return spec
    try:
        return cls(**options)
    except ValidationError as exc:
        raise InvalidSpec(f"{what}: {describe_validation_error(exc)}") from None
