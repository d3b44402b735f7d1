"""The two networks swarm mode gives every node: ``ingress`` and ``docker_gwbridge``.

``ingress`` is the routing mesh's overlay; every node of a swarm holds it. The engine
makes ``docker_gwbridge`` on a node when the first overlay endpoint lands there (the
ingress sandbox after a join, a task, or a container on an attachable overlay): it links
those endpoints to the node's own network. Neither is made through the usual network
calls, and Docker documents one way to shape each:

* ``docker_gwbridge``: create a bridge of that name with your settings *before* the node
  inits or joins a swarm (:func:`create_gwbridge`); the engine then uses it as it is.
* ``ingress``: remove it and create an overlay with the ingress flag, while no service
  publishes a port through it (:func:`recreate_ingress`).

:func:`ingress` and :func:`gwbridge` give typed views of both on any node.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import anyio
from pydantic import Field, field_validator, model_validator

from swarmnet._builtin.constants import DEFAULT_OVERLAY_MTU, GWBRIDGE, INGRESS_SANDBOX
from swarmnet._core.engine_models import EngineInfo, LocalNodeState
from swarmnet._core.errors import (
    Conflict,
    DriftDetected,
    EngineAPIError,
    EngineTimeout,
    IngressInUse,
    InvalidSpec,
    NetworkInUse,
    NetworkNotFound,
    NotASwarmManager,
    NotInSwarm,
    SwarmLocked,
)
from swarmnet._core.log import get_logger
from swarmnet._core.models import EngineModel, Spec
from swarmnet._networks.models import (
    IPAMPoolInfo,
    Network,
    NetworkEndpointInfo,
    PeerInfo,
    subnets_overlap,
)
from swarmnet._networks.specs import (
    CIDR,
    OPT_BRIDGE_NAME,
    OPT_ENCRYPTED,
    OPT_ICC,
    OPT_MASQUERADE,
    OPT_MTU,
    OPT_VXLAN_IDS,
    BridgeSpec,
    IPAMPool,
    IPv4,
    OverlaySpec,
    check_name,
    parse_bool,
)
from swarmnet._services.models import PortInfo
from swarmnet._swarm.models import NodeRole

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

_log = get_logger("swarmnet.builtin")

__all__ = [
    "DEFAULT_OVERLAY_MTU",
    "GWBRIDGE",
    "INGRESS_SANDBOX",
    "AttachedEndpoint",
    "GatewayBridge",
    "GatewayBridgeNotCreated",
    "GatewayBridgeSpec",
    "IngressNetwork",
    "IngressRecreated",
    "IngressSpec",
    "create_gwbridge",
    "gwbridge",
    "ingress",
    "recreate_ingress",
    "remove_gwbridge",
]

_POLL = 0.1


# -- views ------------------------------------------------------------------------------


class AttachedEndpoint(EngineModel):
    """One endpoint of a built-in network on one node.

    Attributes:
        key: the container id, or ``ingress-sbox`` for the node's ingress sandbox.
        name: the container's (or sandbox endpoint's) name.
        endpoint_id, mac_address, ipv4_address, ipv6_address: as the engine reports them.
    """

    key: str
    name: str = ""
    endpoint_id: str = ""
    mac_address: str = ""
    ipv4_address: ipaddress.IPv4Interface | None = None
    ipv6_address: ipaddress.IPv6Interface | None = None

    @property
    def is_sandbox(self) -> bool:
        """True for the ingress sandbox (the routing mesh's own endpoint), not a container."""
        return self.key == INGRESS_SANDBOX

    @classmethod
    def from_info(cls, key: str, info: NetworkEndpointInfo) -> AttachedEndpoint:
        return cls(
            key=key,
            name=info.name,
            endpoint_id=info.endpoint_id,
            mac_address=info.mac_address,
            ipv4_address=info.ipv4_address,
            ipv6_address=info.ipv6_address,
        )


def _endpoints(network: Network) -> tuple[AttachedEndpoint, ...]:
    return tuple(
        AttachedEndpoint.from_info(key, info) for key, info in sorted(network.containers.items())
    )


def _mtu(options: Mapping[str, str]) -> int | None:
    try:
        return int(options[OPT_MTU])
    except (KeyError, ValueError):
        return None


class IngressNetwork(EngineModel):
    """The routing mesh's overlay as one node sees it (a verbose inspect).

    Attributes:
        engine: the name of the engine that was asked.
        id, name, created: the network (``name`` is ``ingress`` unless it was re-created
            under another name).
        pools: the address pools (subnet, gateway, ip range).
        mtu: the MTU option, or None when unset (the engine then uses 1450).
        vxlan_ids: the VXLAN network identifiers.
        encrypted: IPsec between nodes.
        is_ingress: the engine's ``Ingress`` flag.
        options, labels: as the engine reports them.
        peers: the nodes holding the network, as this node's network database knows them.
        endpoints: the endpoints on this node: the ``ingress-sbox`` and any task.
    """

    engine: str
    id: str
    name: str
    created: datetime | None = None
    pools: tuple[IPAMPoolInfo, ...] = ()
    mtu: int | None = None
    vxlan_ids: tuple[int, ...] = ()
    encrypted: bool = False
    is_ingress: bool = True
    options: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    peers: tuple[PeerInfo, ...] = ()
    endpoints: tuple[AttachedEndpoint, ...] = ()

    @property
    def subnets(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The subnet of each pool."""
        return tuple(p.subnet for p in self.pools if p.subnet is not None)

    @property
    def subnet(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        """The first pool's subnet (ingress has one unless made with more)."""
        return self.subnets[0] if self.subnets else None

    @property
    def gateway(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The first pool's gateway."""
        return self.pools[0].gateway if self.pools else None

    @property
    def effective_mtu(self) -> int:
        """The MTU the overlay's interfaces really get."""
        return self.mtu if self.mtu is not None else DEFAULT_OVERLAY_MTU

    @property
    def peer_addresses(self) -> frozenset[str]:
        """The addresses of the peers, as strings (handy to compare with node addresses)."""
        return frozenset(str(p.ip) for p in self.peers if p.ip is not None)

    @property
    def sandbox(self) -> AttachedEndpoint | None:
        """This node's ingress sandbox endpoint, if it has one."""
        return next((e for e in self.endpoints if e.is_sandbox), None)

    @classmethod
    def from_network(cls, network: Network, *, engine: str) -> IngressNetwork:
        """Build the view from a (verbose) network inspect."""
        vxlan = network.options.get(OPT_VXLAN_IDS, "")
        return cls(
            engine=engine,
            id=network.id,
            name=network.name,
            created=network.created,
            pools=network.ipam.config,
            mtu=_mtu(network.options),
            vxlan_ids=tuple(int(v) for v in vxlan.split(",") if v.strip().isdigit()),
            encrypted=OPT_ENCRYPTED in network.options,
            is_ingress=network.ingress,
            options=network.options,
            labels=network.labels,
            peers=network.peers,
            endpoints=_endpoints(network),
        )


class GatewayBridge(EngineModel):
    """``docker_gwbridge`` on one node, as the engine reports it.

    Attributes:
        created: always True here (see :class:`GatewayBridgeNotCreated`).
        engine: the name of the engine that was asked.
        id: the network's id.
        subnet, gateway, ip_range: its (first) IPv4 pool; ``gateway`` is None when the
            bridge was made without one (the engine then takes the subnet's first address).
        bridge_name: the Linux bridge's name (``docker_gwbridge``).
        icc: whether containers on it may talk to each other (Docker's default: False).
        ip_masquerade: NAT for traffic leaving the node (Docker's default: True).
        mtu: the MTU option, or None when unset.
        options, labels: as the engine reports them.
        endpoints: what is attached: ``gateway_<container>`` endpoints of overlay
            containers and tasks, and ``gateway_ingress-sbox``.
    """

    created: Literal[True] = True
    engine: str
    id: str
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    ip_range: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    bridge_name: str = GWBRIDGE
    icc: bool = True
    ip_masquerade: bool = True
    mtu: int | None = None
    options: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    endpoints: tuple[AttachedEndpoint, ...] = ()

    @classmethod
    def from_network(cls, network: Network, *, engine: str) -> GatewayBridge:
        """Build the view from a network inspect of ``docker_gwbridge``."""
        pool = next(iter(network.ipam.config), IPAMPoolInfo())
        options = network.options
        icc = parse_bool(options.get(OPT_ICC, "true"))
        masquerade = parse_bool(options.get(OPT_MASQUERADE, "true"))
        return cls(
            engine=engine,
            id=network.id,
            subnet=pool.subnet,
            gateway=pool.gateway,
            ip_range=pool.ip_range,
            bridge_name=options.get(OPT_BRIDGE_NAME, network.name),
            icc=True if icc is None else icc,
            ip_masquerade=True if masquerade is None else masquerade,
            mtu=_mtu(options),
            options=options,
            labels=network.labels,
            endpoints=_endpoints(network),
        )


class GatewayBridgeNotCreated(EngineModel):
    """``docker_gwbridge`` does not exist on this node yet, and why.

    Not an error: the engine creates it when the first overlay endpoint lands on the
    node. Until then it can be made by hand with :func:`create_gwbridge`.

    Attributes:
        created: always False here.
        engine: the name of the engine that was asked.
        swarm_state: the node's swarm state.
        reason: a sentence saying why it is absent and when the engine makes it.
    """

    created: Literal[False] = False
    engine: str
    swarm_state: LocalNodeState = LocalNodeState.INACTIVE
    reason: str = ""


# -- specs ------------------------------------------------------------------------------


class _BuiltinSpec(Spec):
    """Fields both built-in networks take: one pool, an MTU, extra options, labels."""

    #: Option keys set by typed fields; refused in ``extra_options``.
    _reserved_options: ClassVar[frozenset[str]] = frozenset()

    subnet: CIDR | None = None
    gateway: IPv4 | None = None
    ip_range: CIDR | None = None
    mtu: int | None = Field(None, ge=68, le=65535)
    extra_options: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _pool_rules(self) -> _BuiltinSpec:
        if self.subnet is None:
            if self.gateway is not None or self.ip_range is not None:
                raise ValueError("gateway and ip_range need a subnet to live in; give subnet")
            return self
        if self.subnet.version != 4:
            raise ValueError(f"subnet {self.subnet} is IPv6; built-in networks take IPv4 here")
        # IPAMPool carries the checks (gateway inside, not the network address, …).
        IPAMPool(subnet=self.subnet, gateway=self.gateway, ip_range=self.ip_range)
        return self

    @field_validator("extra_options")
    @classmethod
    def _no_typed_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key in cls._reserved_options:
                raise ValueError(f"option {key!r} is set by a typed field; use that field")
        return value

    def _pools(self) -> tuple[IPAMPool, ...]:
        if self.subnet is None:
            return ()
        return (IPAMPool(subnet=self.subnet, gateway=self.gateway, ip_range=self.ip_range),)

    @model_validator(mode="after")
    def _fits_the_driver(self) -> _BuiltinSpec:
        # The network spec carries the driver's own rules (option owners…): a spec it
        # refuses is refused here, before anything is read or written.
        self.network_spec()
        return self

    def network_spec(self) -> BridgeSpec | OverlaySpec:
        """The network spec this becomes (what ``engine.networks.create`` takes)."""
        raise NotImplementedError

    def create_body(self) -> dict[str, Any]:
        """The engine's create body for this network (as :meth:`network_spec` sends it)."""
        return self.network_spec().create_body()


class GatewayBridgeSpec(_BuiltinSpec):
    """How ``docker_gwbridge`` should be made on a node before it inits or joins a swarm.

    The defaults are the settings Docker documents for it (and the engine uses):
    inter-container traffic off, masquerading on, bridge name ``docker_gwbridge``.

    Args:
        subnet: its IPv4 subnet (``"10.11.0.0/16"``); None lets the engine pick one.
        gateway: the bridge's address, inside ``subnet``.
        ip_range: the part of ``subnet`` endpoints get addresses from.
        mtu: the MTU of the bridge and the endpoints on it.
        enable_icc: inter-container traffic on the bridge (Docker: False).
        enable_ip_masquerade: NAT for traffic leaving the node (Docker: True).
        extra_options: further bridge driver options by key.
        labels: user metadata.

    Example::

        GatewayBridgeSpec(subnet="10.11.0.0/16", mtu=1400)
    """

    _reserved_options: ClassVar[frozenset[str]] = frozenset(
        {OPT_BRIDGE_NAME, OPT_ICC, OPT_MASQUERADE, OPT_MTU}
    )

    enable_icc: bool = False
    enable_ip_masquerade: bool = True

    def network_spec(self) -> BridgeSpec:
        """The bridge spec: named, and with a Linux bridge named, ``docker_gwbridge``."""
        return BridgeSpec(
            name=GWBRIDGE,
            bridge_name=GWBRIDGE,
            icc=self.enable_icc,
            ip_masquerade=self.enable_ip_masquerade,
            mtu=self.mtu,
            pools=self._pools(),
            extra_options=self.extra_options,
            labels=self.labels,
        )

    def differences(self, bridge: GatewayBridge) -> dict[str, tuple[Any, Any]]:
        """What differs between this spec and an existing bridge: ``{field: (want, have)}``.

        Fields the spec leaves unset (subnet, gateway, mtu …) are not compared.
        """
        diff: dict[str, tuple[Any, Any]] = {}
        wanted: dict[str, Any] = {
            "subnet": self.subnet,
            "gateway": self.gateway,
            "ip_range": self.ip_range,
            "mtu": self.mtu,
            "icc": self.enable_icc,
            "ip_masquerade": self.enable_ip_masquerade,
        }
        for name, want in wanted.items():
            have = getattr(bridge, name)
            if want is not None and want != have:
                diff[name] = (want, have)
        for key, want in self.extra_options.items():
            if bridge.options.get(key) != want:
                diff[f"options[{key}]"] = (want, bridge.options.get(key))
        return diff


class IngressSpec(_BuiltinSpec):
    """How ``ingress`` should be re-created (see :func:`recreate_ingress`).

    Args:
        name: the new network's name (Docker allows another name; only one ingress
            network can exist).
        subnet, gateway, ip_range: its IPv4 pool; None lets the swarm allocate one
            from its default address pool.
        mtu: the MTU of the overlay's interfaces (mind the 50 bytes VXLAN adds on the
            wire: the nodes' interfaces need ``mtu + 50``).
        encrypted: IPsec between nodes (needs the kernel's ESP support on every node).
        vxlan_id: a VXLAN network identifier (1..16777215); None lets the swarm pick.
        extra_options: further overlay driver options by key.
        labels: user metadata.

    Example::

        IngressSpec(subnet="10.11.0.0/24", gateway="10.11.0.2", mtu=1400)
    """

    _reserved_options: ClassVar[frozenset[str]] = frozenset({OPT_MTU, OPT_ENCRYPTED, OPT_VXLAN_IDS})

    name: str = "ingress"
    encrypted: bool = False
    vxlan_id: int | None = Field(None, ge=1, le=(1 << 24) - 1)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_name(value)

    def network_spec(self) -> OverlaySpec:
        """The overlay spec, with the ingress flag."""
        return OverlaySpec(
            name=self.name,
            ingress=True,
            encrypted=self.encrypted,
            mtu=self.mtu,
            vxlan_ids=() if self.vxlan_id is None else (self.vxlan_id,),
            pools=self._pools(),
            extra_options=self.extra_options,
            labels=self.labels,
        )


class IngressRecreated(EngineModel):
    """What :func:`recreate_ingress` did.

    Attributes:
        network: the new ingress network, as the manager that made it reports it.
        previous_id: the id of the ingress network it replaced ("" if there was none).
        confirmed_on: names of the manager engines that were seen reporting the new
            network with its settings (every manager among the engines given).
        managers_not_checked: hostnames of managers of the swarm that were not among
            the engines given, so could not be asked.
    """

    network: IngressNetwork
    previous_id: str = ""
    confirmed_on: tuple[str, ...] = ()
    managers_not_checked: tuple[str, ...] = ()


# -- engine payloads read here -----------------------------------------------------------


# -- reading -----------------------------------------------------------------------------


def _not_in_swarm(engine: Engine, info: EngineInfo, what: str) -> NotInSwarm | SwarmLocked:
    state = info.swarm.local_node_state
    if state is LocalNodeState.LOCKED:
        return SwarmLocked(
            f"{what}: the swarm on {engine.name} is locked; unlock it first", engine=engine.url
        )
    return NotInSwarm(
        f"{what}: {engine.name} is not part of a swarm (state {state.value}); ingress exists "
        "only in swarm mode: init or join a swarm first",
        engine=engine.url,
    )


async def ingress(engine: Engine) -> IngressNetwork:
    """The routing mesh's overlay on this engine's node: pools, MTU, VXLAN ids, peers.

    Works on managers and workers alike. ``peers`` comes from a verbose inspect: the
    nodes this node's network database knows hold ingress.

    Raises:
        NotInSwarm: the engine is not part of a swarm (ingress exists only in swarm mode).
        SwarmLocked: the node's swarm is locked.
        NetworkNotFound: the node is in a swarm but holds no ingress network (it was
            removed, or re-created and this node has no ingress endpoint yet).

    Example::

        mesh = await swarmnet.ingress(engine)
        print(mesh.subnet, mesh.effective_mtu, sorted(mesh.peer_addresses))
    """
    found = [n for n in await engine.networks.list() if n.ingress]
    if not found:
        info = await engine.info()
        if info.swarm.local_node_state is not LocalNodeState.ACTIVE:
            raise _not_in_swarm(engine, info, "no ingress network")
        raise NetworkNotFound(
            f"{engine.name} is in a swarm but holds no ingress network: it was removed, or "
            "re-created and this node has no ingress endpoint yet; on a manager, "
            "recreate_ingress() makes one",
            engine=engine.url,
        )
    # A node can keep a stale copy of a removed ingress (removed while tasks were still
    # attached); the newest is the swarm's.
    newest = max(found, key=lambda n: n.created.timestamp() if n.created else 0.0)
    if len(found) > 1:
        _log.warning(
            "ingress.stale_copies", engine=engine.name, ids=[n.id for n in found if n is not newest]
        )
    network = await engine.networks.get(newest.id, verbose=True)
    return IngressNetwork.from_network(network, engine=engine.name)


async def gwbridge(engine: Engine) -> GatewayBridge | GatewayBridgeNotCreated:
    """``docker_gwbridge`` on this engine's node, or a typed "not created yet" answer.

    Returns:
        :class:`GatewayBridge` when it exists; :class:`GatewayBridgeNotCreated` (with
        ``created=False`` and a ``reason``) when the engine has not made it yet. Both
        carry ``created``, so ``if not bridge.created: print(bridge.reason)`` reads well.

    Example::

        bridge = await swarmnet.gwbridge(engine)
        if bridge.created:
            print(bridge.subnet, bridge.icc, bridge.ip_masquerade)
    """
    try:
        network = await engine.networks.get(GWBRIDGE)
    except NetworkNotFound:
        info = await engine.info()
        state = info.swarm.local_node_state
        if state is LocalNodeState.ACTIVE:
            reason = (
                "nothing on this node uses an overlay yet (an ingress sandbox, a task, a "
                "container); the engine creates docker_gwbridge with the first such endpoint"
            )
        else:
            reason = (
                f"the node is not in a swarm (state {state.value}); the engine creates "
                "docker_gwbridge when the first overlay endpoint lands after an init or join. "
                "To shape it, create it now with create_gwbridge()"
            )
        return GatewayBridgeNotCreated(engine=engine.name, swarm_state=state, reason=reason)
    return GatewayBridge.from_network(network, engine=engine.name)


# -- shaping docker_gwbridge -------------------------------------------------------------


#: How long create_gwbridge/remove_gwbridge wait, by default, for a node that has just
#: left its swarm to take its old ingress sandbox off docker_gwbridge.
GWBRIDGE_SETTLE_TIMEOUT = 30.0
_SETTLE_POLL = 0.25


def _gwbridge_in_use(
    engine: Engine, bridge: GatewayBridge, state: LocalNodeState, *, waited: float | None = None
) -> NetworkInUse:
    names = tuple(e.name or e.key for e in bridge.endpoints)
    if waited is not None:
        advice = (
            f"the node is in no swarm, but {waited:g} s after it left the engine still keeps "
            'the old ingress sandbox on the bridge (an engine that logged "timeout while '
            'waiting for ingress network removal" keeps it until dockerd restarts): restart '
            "the engine, then try again"
        )
    elif state is LocalNodeState.INACTIVE and all(e.is_sandbox for e in bridge.endpoints):
        advice = (
            "the node has just left its swarm and the engine takes the old ingress sandbox "
            "off the bridge a moment later: try again (remove_gwbridge and "
            "create_gwbridge(replace=True) wait for it)"
        )
    elif state is not LocalNodeState.INACTIVE:
        advice = (
            "the node is in a swarm with overlay endpoints on it; docker_gwbridge can only be "
            "shaped outside a swarm: leave the swarm first (engine.swarm.leave(force=True) or "
            "`docker swarm leave`), then create it, then join again"
        )
    else:
        advice = "stop or disconnect those containers first"
    return NetworkInUse(
        f"docker_gwbridge on {engine.name} has endpoints ({', '.join(names)}); {advice}",
        engine=engine.url,
        containers=names,
    )


def _check_settle(settle: float) -> None:
    if not settle >= 0:  # also refuses NaN
        raise InvalidSpec(f"settle must be 0 or more seconds, not {settle!r}")


async def _released_gwbridge(
    engine: Engine, bridge: GatewayBridge, settle: float
) -> GatewayBridge | GatewayBridgeNotCreated:
    """``bridge`` once nothing is attached to it, or NetworkInUse.

    A node that has just left its swarm keeps its ingress sandbox on the bridge for a
    moment (the engine tears it down after the leave returns). Only that case is waited
    for, up to ``settle`` seconds; containers, or a node still in a swarm, fail at once.
    """
    deadline, waiting = anyio.current_time() + settle, False
    while bridge.endpoints:
        # probe(): a node in no swarm says so from GET /swarm, without /info's helpers.
        state = (await engine.swarm.probe()).local_node_state
        leaving = state is LocalNodeState.INACTIVE and all(e.is_sandbox for e in bridge.endpoints)
        if not leaving:
            raise _gwbridge_in_use(engine, bridge, state)
        if anyio.current_time() >= deadline:
            raise _gwbridge_in_use(engine, bridge, state, waited=settle)
        if not waiting:
            waiting = True
            _log.debug("gwbridge.settling", engine=engine.name, timeout=settle)
        await anyio.sleep(_SETTLE_POLL)
        found = await gwbridge(engine)
        if not isinstance(found, GatewayBridge):
            return found
        bridge = found
    return bridge


async def create_gwbridge(
    engine: Engine,
    spec: GatewayBridgeSpec | None = None,
    *,
    replace: bool = False,
    settle: float = GWBRIDGE_SETTLE_TIMEOUT,
) -> GatewayBridge:
    """Make ``docker_gwbridge`` with chosen settings, the way Docker documents it.

    Do it before the node inits or joins a swarm; the engine then uses this bridge as it
    is. If the bridge already exists with the settings asked for, it is returned as is.

    Args:
        engine: the node's engine.
        spec: the settings (default: Docker's own, on a subnet the engine picks).
        replace: remove an existing ``docker_gwbridge`` with other settings first (only
            possible while nothing is attached to it).
        settle: seconds to wait, on a node that has just left its swarm, for the engine to
            take its old ingress sandbox off the bridge before replacing it.

    Raises:
        NetworkInUse: endpoints are attached (the node is in a swarm with overlay
            endpoints: leave the swarm first; the message says so), or the ingress
            sandbox of a swarm the node left is still there after ``settle`` seconds.
        DriftDetected: it exists with other settings and ``replace`` is False; ``diff``
            maps each field to ``(wanted, found)``.

    Example::

        await swarmnet.create_gwbridge(engine, GatewayBridgeSpec(subnet="10.11.0.0/16"))
        await engine.swarm.join(...)
    """
    _check_settle(settle)
    spec = spec or GatewayBridgeSpec()
    wanted = spec.network_spec()
    log = _log.bind(engine=engine.name, network=GWBRIDGE)
    current = await gwbridge(engine)
    if isinstance(current, GatewayBridge):
        diff = spec.differences(current)
        if not diff:
            return current
        if not replace:
            if current.endpoints:
                state = (await engine.info()).swarm.local_node_state
                raise _gwbridge_in_use(engine, current, state)
            shown = ", ".join(f"{k}: want {w}, found {h}" for k, (w, h) in diff.items())
            raise DriftDetected(
                f"docker_gwbridge on {engine.name} exists with other settings ({shown}); "
                "pass replace=True to remove and re-create it",
                engine=engine.url,
                diff=diff,
            )
        released = await _released_gwbridge(engine, current, settle)
        if isinstance(released, GatewayBridge):
            await _remove_network(engine, released.id)
            log.info("network.removed", reason="replace")
    try:
        made = await engine.networks.create(wanted)
    except Conflict as exc:
        raise Conflict.refine(
            exc,
            f"docker_gwbridge could not be created on {engine.name}: {exc.explanation}; "
            "another one may have appeared meanwhile (an overlay endpoint landed?)",
        ) from exc
    log.info("network.created", subnet=str(spec.subnet) if spec.subnet else None)
    return GatewayBridge.from_network(made, engine=engine.name)


async def remove_gwbridge(engine: Engine, *, settle: float = GWBRIDGE_SETTLE_TIMEOUT) -> bool:
    """Remove ``docker_gwbridge`` from a node while nothing is attached to it.

    Returns True if it was removed, False if there was none. The engine makes a new
    one (with its defaults) when the next overlay endpoint lands on the node.

    A node that has just left its swarm keeps the old ingress sandbox on the bridge for
    a moment after the leave returns; this waits for it to go, up to ``settle`` seconds.

    Raises:
        NetworkInUse: endpoints are attached (leave the swarm first, or stop those
            containers; the message says which), or the ingress sandbox of a swarm the
            node left is still there after ``settle`` seconds (restart the engine).
    """
    _check_settle(settle)
    current = await gwbridge(engine)
    if isinstance(current, GatewayBridge):
        current = await _released_gwbridge(engine, current, settle)
    if not isinstance(current, GatewayBridge):
        return False
    await _remove_network(engine, current.id)
    _log.info("network.removed", engine=engine.name, network=GWBRIDGE)
    return True


async def _remove_network(engine: Engine, ref: str) -> None:
    with contextlib.suppress(NetworkNotFound):
        await engine.networks.remove(ref)


# -- re-creating ingress -----------------------------------------------------------------


async def _infos(engines: Sequence[Engine]) -> list[EngineInfo]:
    results: list[EngineInfo | None] = [None] * len(engines)

    async def one(index: int, engine: Engine) -> None:
        results[index] = await engine.info()

    async with anyio.create_task_group() as tg:
        for index, engine in enumerate(engines):
            tg.start_soon(one, index, engine)
    return [r for r in results if r is not None]


async def _publishing_services(engine: Engine) -> dict[str, tuple[str, ...]]:
    """Services that publish ports through ingress, by name: ``{name: ("8080->80/tcp", …)}``.

    Host-mode published ports are left out: they bypass the routing mesh. Needs a manager.
    """
    found: dict[str, tuple[str, ...]] = {}
    for service in await engine.services.list():
        # The spec's ports count even before the engine allocated them (Endpoint.Ports).
        declared = (service.spec_payload.get("EndpointSpec") or {}).get("Ports") or ()
        ports = {*service.ports, *(PortInfo.model_validate(p) for p in declared)}
        ingress = sorted(
            {(p.protocol, p.published, p.target) for p in ports if p.mode != "host" and p.published}
        )
        if ingress:
            found[service.name or service.id] = tuple(
                f"{published}->{target}/{protocol}" for protocol, published, target in ingress
            )
    return found


def _previous_spec(old: Network) -> OverlaySpec:
    """The old ingress's settings as a spec (its VXLAN ids left for the swarm to pick)."""
    typed = (OPT_MTU, OPT_ENCRYPTED, OPT_VXLAN_IDS)
    return OverlaySpec(
        name=old.name,
        ingress=True,
        encrypted=OPT_ENCRYPTED in old.options,
        mtu=_mtu(old.options),
        pools=tuple(
            IPAMPool(subnet=p.subnet, gateway=p.gateway)
            for p in old.ipam.config
            if p.subnet is not None
        ),
        extra_options={k: v for k, v in old.options.items() if k not in typed},
        labels=old.labels,
    )


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll the engine until ``check`` holds; the caller's deadline bounds it."""
    while True:
        if await check():
            return
        await anyio.sleep(_POLL)


async def _lacks(engine: Engine, network_id: str) -> bool:
    return not any(n.id == network_id for n in await engine.networks.list())


async def _reports(engine: Engine, new_id: str, spec: IngressSpec) -> bool:
    return any(_matches(n, new_id, spec) for n in await engine.networks.list())


def _matches(network: Network, new_id: str, spec: IngressSpec) -> bool:
    if network.id != new_id or not network.ingress:
        return False
    if spec.subnet is not None and spec.subnet not in {p.subnet for p in network.ipam.config}:
        return False
    return spec.mtu is None or _mtu(network.options) == spec.mtu


async def recreate_ingress(
    engines: Engine | Sequence[Engine],
    spec: IngressSpec | None = None,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - one limit for a multi-step, multi-engine change
) -> IngressRecreated:
    """Remove ``ingress`` and create it again with a chosen subnet, MTU or options.

    The steps Docker documents, with the checks that keep a swarm out of trouble:

    1. refuse while any service publishes a port through ingress (they are listed);
    2. wait for task containers of removed services to leave ingress (removing it while
       they are attached leaves a stale copy behind on their nodes);
    3. remove the old network on a manager and wait until the manager no longer has it;
    4. create an overlay with the ingress flag and the spec's settings (if that fails,
       the old settings are put back before the error is raised);
    5. wait until every manager among ``engines`` reports the new network.

    Existing nodes attach to the new ingress when a service publishing a port is
    scheduled on them (or their engine restarts); until then its ``peers`` may be empty.

    Args:
        engines: one engine or several; the first manager among them does the work,
            and every manager among them must confirm the result.
        spec: the new network's settings (default: let the swarm pick).
        timeout: seconds allowed for the whole change.

    Raises:
        IngressInUse: services publish ports through ingress (``services`` names them),
            or task containers stay attached; nothing was changed.
        NotASwarmManager: no manager among ``engines``. NotInSwarm: not in a swarm.
        InvalidSpec: the subnet overlaps another network of the swarm; nothing changed.
        EngineTimeout: a step did not finish in time (the message says which).

    Example::

        result = await swarmnet.recreate_ingress(managers, IngressSpec(subnet="10.11.0.0/24"))
        print(result.network.subnet, result.confirmed_on)
    """
    spec = spec or IngressSpec()
    group = [engines] if not isinstance(engines, Sequence) else list(engines)
    if not group:
        raise InvalidSpec("recreate_ingress needs at least one engine")
    job = _Recreation(group, spec)
    try:
        with anyio.fail_after(timeout):
            return await job.run()
    except TimeoutError as exc:
        raise EngineTimeout(
            f"re-creating ingress did not finish within {timeout:g} s while {job.step}",
            engine=job.where,
        ) from exc


class _Recreation:
    """One run of :func:`recreate_ingress`; ``step`` says where it is, for timeouts."""

    def __init__(self, group: list[Engine], spec: IngressSpec) -> None:
        self.group = group
        self.spec = spec
        self.step = "reading the engines' swarm state"
        self.where = group[0].url

    async def run(self) -> IngressRecreated:
        spec = self.spec
        infos = await _infos(self.group)
        managers = [(e, i) for e, i in zip(self.group, infos, strict=True) if i.swarm.is_manager]
        if not managers:
            if infos[0].swarm.local_node_state is not LocalNodeState.ACTIVE:
                raise _not_in_swarm(self.group[0], infos[0], "cannot re-create ingress")
            raise NotASwarmManager(
                "re-creating ingress needs a manager; none of "
                f"{', '.join(e.name for e in self.group)} is one",
                engine=self.group[0].url,
            )
        manager = managers[0][0]
        self.where = manager.url
        log = _log.bind(engine=manager.name, network=spec.name)

        self.step = "listing services that publish ports"
        publishing = await _publishing_services(manager)
        if publishing:
            shown = "; ".join(f"{name} ({', '.join(ports)})" for name, ports in publishing.items())
            raise IngressInUse(
                "ingress cannot be re-created while services publish ports through it: "
                f"{shown}. Remove them (or switch them to mode=host publishing), re-create "
                "ingress, then create them again",
                engine=manager.url,
                services=tuple(publishing),
            )

        self.step = "checking the new subnet against the swarm's networks"
        networks = await manager.networks.list()
        old = next((n for n in networks if n.ingress), None)
        if spec.subnet is not None:
            _check_subnet_free(manager, spec.subnet, networks, old)

        previous_id = ""
        if old is not None:
            previous_id = old.id
            old = await manager.networks.get(old.id)
            self.step = "waiting for task containers to leave the old ingress"
            await _wait_tasks_gone(self.group, old.id)
            self.step = "removing the old ingress"
            await _delete_ingress(manager, old.id)
            log.info("network.removed", id=old.id)
            self.step = f"waiting for {manager.name} to drop the old ingress"
            await _until(functools.partial(_lacks, manager, old.id))

        self.step = "creating the new ingress"
        new_id = await _create_ingress(manager, spec, old)
        log.info("network.created", id=new_id, subnet=str(spec.subnet) if spec.subnet else None)

        confirmed: list[str] = []
        for engine, _ in managers:
            self.step = f"waiting for manager {engine.name} to report the new ingress"
            self.where = engine.url
            await _until(functools.partial(_reports, engine, new_id, spec))
            confirmed.append(engine.name)

        self.step = "reading the result"
        known = {i.swarm.node_id for _, i in managers}
        others = sorted(
            node.hostname or node.id
            for node in await manager.nodes.list(role=NodeRole.MANAGER)
            if node.id not in known
        )
        view = IngressNetwork.from_network(
            await manager.networks.get(new_id, verbose=True), engine=manager.name
        )
        return IngressRecreated(
            network=view,
            previous_id=previous_id,
            confirmed_on=tuple(confirmed),
            managers_not_checked=tuple(others),
        )


def _check_subnet_free(
    manager: Engine,
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network,
    networks: Sequence[Network],
    old: Network | None,
) -> None:
    for other in networks:
        if old is not None and other.id == old.id:
            continue
        for pool in other.ipam.config:
            if pool.subnet is not None and subnets_overlap(pool.subnet, subnet):
                raise InvalidSpec(
                    f"subnet {subnet} overlaps network {other.name!r} ({pool.subnet}) "
                    f"on {manager.name}; pick another subnet"
                )


async def _wait_tasks_gone(group: list[Engine], network_id: str) -> None:
    """Wait until no engine of ``group`` has a task container left on the old ingress."""
    while True:
        attached: list[str] = []
        for engine in group:
            try:
                network = await engine.networks.get(network_id)
            except NetworkNotFound:
                continue
            attached += [
                f"{info.name or key} on {engine.name}"
                for key, info in network.containers.items()
                if key != INGRESS_SANDBOX
            ]
        if not attached:
            return
        _log.debug("ingress.waiting_for_tasks", attached=attached)
        await anyio.sleep(_POLL * 5)


async def _delete_ingress(manager: Engine, network_id: str) -> None:
    try:
        await manager.networks.remove(network_id)
    except NetworkNotFound:
        return
    except EngineAPIError as exc:
        if "depends on it" in exc.explanation:
            raise IngressInUse.refine(
                exc,
                f"the engine refused to remove ingress: {exc.explanation}; remove the "
                "services that publish ports first",
            ) from exc
        raise


async def _create_ingress(manager: Engine, spec: IngressSpec, old: Network | None) -> str:
    wanted = spec.network_spec()
    while True:
        try:
            return (await manager.networks.create(wanted)).id
        except EngineAPIError as exc:
            if isinstance(exc, Conflict) and "already exists" in exc.explanation:
                # The swarm is still carrying out the removal; the name frees up shortly.
                await anyio.sleep(_POLL)
                continue
            restored = "there was no previous ingress to restore"
            if old is not None:
                try:
                    await manager.networks.create(_previous_spec(old))
                    restored = "the previous ingress settings were restored"
                except EngineAPIError as again:
                    restored = f"restoring the previous ingress failed too ({again.explanation})"
            raise EngineAPIError.refine(
                exc,
                f"creating the new ingress on {manager.name} failed: {exc.explanation}; {restored}",
            ) from exc
