"""``doctor()``: typed findings about why swarm traffic might not flow.

Each check reads what the engines report (networks, containers, swarm membership) and,
where an engine runs on this host, what its network namespace holds (forwarding
sysctls, iptables FORWARD rules, routes, interface MTUs) through a
:class:`~swarmnet.HostProbe`. Swarm ports are tried from each node's own namespace to
every other node. Every finding says what was seen and what to do; checks that could not
run say so (``not-checked``), so silence always means "checked and fine".

What UDP can tell: a datagram gets no answer from 7946/udp (memberlist ignores what it
cannot decrypt) nor from 4789/udp (VXLAN). Only a refusal (ICMP port unreachable) or an
unreachable network comes back, so a UDP port is ``refused``, ``unreachable`` or
``unconfirmed``, never "reachable". TCP ports are confirmed either way.
"""

from __future__ import annotations

import enum
import ipaddress
import itertools
import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field

from swarmnet._builtin.networks import DEFAULT_OVERLAY_MTU, GWBRIDGE
from swarmnet._core.engine_models import EngineInfo, LocalNodeState
from swarmnet._core.errors import EngineError, InvalidSpec, NotFound
from swarmnet._core.log import get_logger
from swarmnet._core.models import EngineModel
from swarmnet._host.daemon_config import read_daemon_json
from swarmnet._host.iptables import forward_verdict, parse_rules
from swarmnet._host.probe import CommandResult, HostProbe, locate_daemon
from swarmnet._networks.models import Network, NetworkScope, subnets_overlap
from swarmnet._networks.specs import OPT_BRIDGE_NAME, OPT_ENCRYPTED, OPT_MTU
from swarmnet._swarm.models import Node, NodeRole, NodeState

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

_log = get_logger("swarmnet.doctor")

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Bytes VXLAN adds to every overlay packet on the wire (outer IPv4, UDP, VXLAN, Ethernet).
VXLAN_OVERHEAD = 50
#: The port managers listen on for cluster traffic.
MANAGER_PORT = 2377
#: The port nodes gossip on (memberlist), TCP and UDP.
GOSSIP_PORT = 7946
#: The default VXLAN data-path port (a swarm may set another: ``DataPathPort``).
DATA_PATH_PORT = 4789

# dockerd's local default-address-pools when daemon.json sets none (libnetwork ipamutils).
_DOCKER_LOCAL_POOLS: tuple[IPNet, ...] = (
    *(ipaddress.ip_network(f"172.{n}.0.0/16") for n in range(17, 32)),
    ipaddress.ip_network("192.168.0.0/16"),
)
# A swarm whose DefaultAddrPool is empty allocates overlays from 10.0.0.0/8.
_SWARM_DEFAULT_POOL: tuple[IPNet, ...] = (ipaddress.ip_network("10.0.0.0/8"),)


# -- what doctor returns -------------------------------------------------------------------


class Severity(str, enum.Enum):
    """How much a finding matters."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for error (for sorting and thresholds)."""
        return ("info", "warning", "error").index(self.value)


class FindingKind(str, enum.Enum):
    """What a finding is about; stable names, safe to match on."""

    SUBNET_OVERLAP = "subnet-overlap"
    MTU_MISMATCH = "mtu-mismatch"
    IP_FORWARDING_OFF = "ip-forwarding-off"
    FORWARD_DROP = "forward-drop"
    DEFAULT_BRIDGE_CONTAINERS = "default-bridge-containers"
    SWARM_PORT_UNREACHABLE = "swarm-port-unreachable"
    OVERLAY_PEERS_MISSING = "overlay-peers-missing"
    STALE_SWARM_NETWORK = "stale-swarm-network"
    ENGINE_UNREACHABLE = "engine-unreachable"
    NOT_CHECKED = "not-checked"


class Finding(BaseModel):
    """One thing doctor noticed.

    Attributes:
        kind: what it is about.
        severity: how much it matters.
        engine: the engine (by name) it was seen on.
        seen: what was seen, with the values involved.
        action: what to do about it.
        subjects: the networks, containers, interfaces or ports involved.
    """

    model_config = ConfigDict(frozen=True)

    kind: FindingKind
    severity: Severity
    engine: str
    seen: str
    action: str
    subjects: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"[{self.severity.value}] {self.engine}: {self.kind.value}"
        return f"{head}: {self.seen} -> {self.action}"


class PortStatus(str, enum.Enum):
    """The outcome of trying one swarm port from one node to another."""

    REACHABLE = "reachable"  # a TCP connection was made
    REFUSED = "refused"  # nothing listens there (TCP reset, or ICMP port unreachable)
    UNREACHABLE = "unreachable"  # no route to the node, or the node did not answer ARP
    NO_ANSWER = "no-answer"  # TCP: nothing came back in time (dropped on the way?)
    UNCONFIRMED = "unconfirmed"  # UDP: no error came back, which is all UDP can tell
    NOT_CHECKED = "not-checked"  # the probe could not run


class PortCheck(BaseModel):
    """One port tried from one node's namespace to another node.

    Attributes:
        source: the engine (by name) the check ran from.
        target: the node checked (hostname, or its address when unknown).
        address: the target's address.
        port, protocol: what was tried.
        purpose: what the port is for.
        status: the outcome; ``detail`` adds the error text.
    """

    model_config = ConfigDict(frozen=True)

    source: str
    target: str
    address: str
    port: int
    protocol: Literal["tcp", "udp"]
    purpose: str
    status: PortStatus
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True unless the check shows the port cannot be reached."""
        return self.status in (PortStatus.REACHABLE, PortStatus.UNCONFIRMED)


class DoctorReport(BaseModel):
    """Everything doctor found on a set of engines.

    Attributes:
        engines: the names of the engines examined.
        findings: what was found, most severe first.
        port_checks: every swarm port tried, node to node.
    """

    model_config = ConfigDict(frozen=True)

    engines: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    port_checks: tuple[PortCheck, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no finding is a warning or an error."""
        return not self.problems

    @property
    def problems(self) -> tuple[Finding, ...]:
        """The warnings and errors."""
        return tuple(f for f in self.findings if f.severity.rank >= Severity.WARNING.rank)

    def of_kind(self, kind: FindingKind | str) -> tuple[Finding, ...]:
        """The findings of one kind (``report.of_kind("subnet-overlap")``)."""
        wanted = FindingKind(kind)
        return tuple(f for f in self.findings if f.kind is wanted)

    def render(self) -> str:
        """A human-readable summary, one finding per paragraph."""
        if not self.findings:
            return f"doctor: no findings on {', '.join(self.engines)}"
        lines = []
        for finding in self.findings:
            lines.append(
                f"{finding.severity.value.upper():7} {finding.engine}  {finding.kind.value}\n"
                f"        seen: {finding.seen}\n        do:   {finding.action}"
            )
        counts = {s: sum(f.severity is s for f in self.findings) for s in Severity}
        summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        return "\n".join(lines) + f"\ndoctor: {summary} on {', '.join(self.engines)}"


# -- what doctor reads -----------------------------------------------------------------------


class _Manager(EngineModel):
    node_id: str = Field("", alias="NodeID")
    addr: str = ""


class _Cluster(EngineModel):
    default_addr_pool: tuple[str, ...] | None = None
    data_path_port: int = 0


class _SwarmExtras(EngineModel):
    remote_managers: tuple[_Manager, ...] | None = None
    cluster: _Cluster | None = None


class _InfoExtras(EngineModel):
    swarm: _SwarmExtras = _SwarmExtras()


class _ContainerSettings(EngineModel):
    networks: dict[str, Any] | None = None


class _Container(EngineModel):
    id: str = Field("", alias="Id")
    names: tuple[str, ...] | None = None
    state: str = ""
    network_settings: _ContainerSettings | None = None

    @property
    def name(self) -> str:
        return (self.names or (self.id[:12],))[0].lstrip("/")

    @property
    def network_names(self) -> tuple[str, ...]:
        settings = self.network_settings
        return tuple((settings.networks or {}) if settings else ())


@dataclass
class _HostFacts:
    where: str
    forwarding: dict[str, str] = field(default_factory=dict)
    iptables: str | None = None
    routes: list[dict[str, Any]] | None = None
    links: list[dict[str, Any]] | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class _Facts:
    engine: Engine
    info: EngineInfo | None = None
    extras: _InfoExtras = field(default_factory=_InfoExtras)
    networks: list[Network] = field(default_factory=list)
    overlays: dict[str, Network] = field(default_factory=dict)
    containers: list[_Container] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    probe: HostProbe | None = None
    probe_note: str = ""
    host: _HostFacts | None = None
    local_pools: tuple[IPNet, ...] = _DOCKER_LOCAL_POOLS
    local_pools_from: str = "docker's defaults"
    error: str = ""

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def in_swarm(self) -> bool:
        return self.info is not None and self.info.swarm.local_node_state is LocalNodeState.ACTIVE

    @property
    def address(self) -> str:
        return self.info.swarm.node_addr if self.info is not None else ""

    def swarm_pools(self) -> tuple[IPNet, ...] | None:
        cluster = self.extras.swarm.cluster
        if cluster is None:
            return None
        pools = tuple(
            ipaddress.ip_network(p, strict=False) for p in cluster.default_addr_pool or ()
        )
        return pools or _SWARM_DEFAULT_POOL

    def bridges(self) -> dict[str, str]:
        """Linux bridge device -> network name, for the engine's local bridge networks."""
        found: dict[str, str] = {}
        for network in self.networks:
            if network.driver != "bridge":
                continue
            device = network.options.get(OPT_BRIDGE_NAME) or f"br-{network.id[:12]}"
            found[device] = network.name
        return found


async def _collect(engine: Engine, probe: HostProbe | None, auto_probe: bool) -> _Facts:
    facts = _Facts(engine=engine)
    try:
        raw = await engine._transport.request("GET", "info")
        facts.info = EngineInfo.model_validate(raw)
        facts.extras = _InfoExtras.model_validate(raw)
        facts.networks = [
            Network.model_validate(n) for n in await engine._transport.request("GET", "networks")
        ]
        facts.containers = [
            _Container.model_validate(c)
            for c in await engine._transport.request("GET", "containers/json") or ()
        ]
        for network in facts.networks:
            if network.driver == "overlay" and network.scope is NetworkScope.SWARM:
                facts.overlays[network.id] = await _inspect_verbose(engine, network.id)
        if facts.info.swarm.is_manager:
            facts.nodes = [
                Node.model_validate(n) for n in await engine._transport.request("GET", "nodes")
            ]
    except EngineError as exc:
        facts.error = str(exc)
        return facts
    if auto_probe:
        location = await locate_daemon(engine.url)
        if location is None:
            facts.probe_note = (
                f"{engine.url} is not a unix socket on this host whose daemon could be found"
            )
        else:
            facts.probe = location.probe()
            _read_local_pools(facts, location.config_file)
    else:
        facts.probe = probe
        if probe is None:
            facts.probe_note = "no host probe was given for it"
    if facts.probe is not None:
        facts.host = await _host_facts(facts.probe)
    return facts


async def _inspect_verbose(engine: Engine, network_id: str) -> Network:
    try:
        payload = await engine._transport.request(
            "GET", f"networks/{network_id}", params={"verbose": "true"}
        )
    except NotFound:
        return Network(Id=network_id, name="")
    return Network.model_validate(payload)


def _read_local_pools(facts: _Facts, config_file: Any) -> None:
    try:
        config = read_daemon_json(config_file)
    except (InvalidSpec, OSError):
        return
    pools = config.bridge.default_address_pools
    if pools:
        facts.local_pools = tuple(p.base for p in pools)
        facts.local_pools_from = str(config_file)


# The sysctls that must be 1 for containers to reach beyond their node, and their files.
_FORWARDING_FILES = {
    "net.ipv4.ip_forward": "/proc/sys/net/ipv4/ip_forward",
    "net.ipv4.conf.all.forwarding": "/proc/sys/net/ipv4/conf/all/forwarding",
}


async def _host_facts(probe: HostProbe) -> _HostFacts:
    host = _HostFacts(where=probe.where)
    commands = {
        "forwarding": ["cat", *_FORWARDING_FILES.values()],
        "iptables": ["iptables", "-w", "5", "-S"],
        "routes": ["ip", "-j", "route", "show", "table", "main"],
        "links": ["ip", "-j", "addr", "show"],
    }
    results: dict[str, CommandResult] = {}

    async def one(key: str, argv: list[str]) -> None:
        results[key] = await probe.run(argv, timeout=10.0)

    async with anyio.create_task_group() as tg:
        for key, argv in commands.items():
            tg.start_soon(one, key, argv)
    for key, result in results.items():
        if not result.ok:
            host.problems.append(
                f"`{shlex.join(result.argv)}` failed ({result.returncode}): {result.stderr.strip()}"
            )
            continue
        if key == "forwarding":
            values = result.stdout.split()
            if len(values) == len(_FORWARDING_FILES):
                host.forwarding = dict(zip(_FORWARDING_FILES, values, strict=True))
        elif key == "iptables":
            host.iptables = result.stdout
        else:
            try:
                parsed = json.loads(result.stdout or "[]")
            except json.JSONDecodeError:
                host.problems.append(f"`{shlex.join(result.argv)}` printed no JSON")
                continue
            if key == "routes":
                host.routes = list(parsed)
            else:
                host.links = list(parsed)
    return host


# -- the checks ------------------------------------------------------------------------------


def _label(network: Network) -> str:
    if network.name == "bridge" and network.options.get(OPT_BRIDGE_NAME) == "docker0":
        return "the default bridge (docker0)"
    if network.ingress:
        return f"ingress network {network.name!r}"
    if network.name == GWBRIDGE:
        return "docker_gwbridge"
    return f"{network.driver or 'swarm'} network {network.name!r}"


def _subnets(network: Network) -> list[IPNet]:
    return [p.subnet for p in network.ipam.config if p.subnet is not None]


def _checksubnets_overlap(
    facts: _Facts, swarm_pools: tuple[IPNet, ...] | None, swarm_networks: list[Network]
) -> list[Finding]:
    findings: list[Finding] = []
    # host, none and overlays not yet given a subnet hold no addresses to clash.
    networks = [n for n in facts.networks if _subnets(n)]
    # A worker lists an overlay only once an endpoint of it lands there, and the engine
    # checks a new bridge only against overlays it holds: compare with every overlay
    # the swarm has (as its managers list them), so a collision is seen before it bites.
    own = {n.id for n in networks}
    elsewhere = [n for n in swarm_networks if n.id not in own and _subnets(n)]

    def finding(severity: Severity, seen: str, action: str, *subjects: str) -> None:
        findings.append(
            Finding(
                kind=FindingKind.SUBNET_OVERLAP,
                severity=severity,
                engine=facts.name,
                seen=seen,
                action=action,
                subjects=subjects,
            )
        )

    pairs = [(a, b) for i, a in enumerate(networks) for b in networks[i + 1 :]]
    pairs += [(a, b) for a in networks if a.scope is not NetworkScope.SWARM for b in elsewhere]
    for first, second in pairs:
        for a, b in itertools.product(_subnets(first), _subnets(second)):
            if subnets_overlap(a, b):
                finding(
                    Severity.ERROR,
                    f"{_label(first)} ({a}) overlaps {_label(second)} ({b})",
                    "traffic for the shared addresses goes to one of them only: "
                    "re-create one of the networks on a subnet of its own",
                    first.name,
                    second.name,
                )
    if facts.host is not None and facts.host.routes is not None:
        own_devices = set(facts.bridges())
        for route in facts.host.routes:
            dst, device = str(route.get("dst", "")), str(route.get("dev", ""))
            if dst in ("default", "") or device in own_devices:
                continue
            try:
                routed = ipaddress.ip_network(dst, strict=False)
            except ValueError:
                continue
            for network in networks:
                for subnet in _subnets(network):
                    if subnets_overlap(subnet, routed):
                        finding(
                            Severity.ERROR,
                            f"{_label(network)} ({subnet}) overlaps the host's route to {routed} "
                            f"via {device or route.get('gateway', '?')} ({facts.host.where})",
                            "the host cannot reach that part of its network while the Docker "
                            "network holds it: re-create the network on a free subnet (and set "
                            "default-address-pools / --default-addr-pool to ranges the host "
                            "does not use)",
                            network.name,
                            str(routed),
                        )
    if swarm_pools:
        for network in networks:
            if network.scope is NetworkScope.SWARM:
                continue
            for subnet in _subnets(network):
                for pool in swarm_pools:
                    if subnets_overlap(subnet, pool):
                        finding(
                            Severity.WARNING,
                            f"{_label(network)} ({subnet}) lies in the swarm's default address "
                            f"pool {pool}; the swarm does not know local networks and may give "
                            "an overlay the same addresses",
                            "move the local network out of the pool, or init the swarm with a "
                            "--default-addr-pool that avoids it",
                            network.name,
                            str(pool),
                        )
        for local in facts.local_pools:
            for pool in swarm_pools:
                if subnets_overlap(local, pool):
                    finding(
                        Severity.WARNING,
                        f"the engine's local address pool {local} ({facts.local_pools_from}) "
                        f"overlaps the swarm's default address pool {pool}",
                        "give daemon.json's default-address-pools and the swarm's "
                        "--default-addr-pool ranges of their own",
                        str(local),
                        str(pool),
                    )
    for network in networks:
        if network.scope is not NetworkScope.SWARM:
            continue
        for subnet in _subnets(network):
            for local in facts.local_pools:
                if subnets_overlap(subnet, local):
                    finding(
                        Severity.WARNING,
                        f"{_label(network)} ({subnet}) lies in the engine's local address pool "
                        f"{local} ({facts.local_pools_from}); a bridge made from that pool may "
                        "take the same addresses",
                        "set daemon.json's default-address-pools to ranges the swarm does not use",
                        network.name,
                        str(local),
                    )
    return findings


def _uplink(facts: _Facts) -> tuple[str, int] | None:
    """The interface (and its MTU) holding the node's swarm address, or the default route's."""
    host = facts.host
    if host is None or host.links is None:
        return None
    wanted = facts.address
    device = ""
    for link in host.links:
        for info in link.get("addr_info", ()):
            if wanted and info.get("local") == wanted:
                device = str(link.get("ifname", ""))
    if not device and host.routes:
        device = next((str(r.get("dev", "")) for r in host.routes if r.get("dst") == "default"), "")
    for link in host.links:
        if link.get("ifname") == device and isinstance(link.get("mtu"), int):
            return device, int(link["mtu"])
    return None


def _check_mtu(facts: _Facts) -> list[Finding]:
    uplink = _uplink(facts)
    if uplink is None or not facts.in_swarm:
        return []
    device, link_mtu = uplink
    findings = []
    for network in facts.networks:
        if network.driver != "overlay":
            continue
        try:
            inner = int(network.options.get(OPT_MTU, DEFAULT_OVERLAY_MTU))
        except ValueError:
            continue
        wire = inner + VXLAN_OVERHEAD
        if wire > link_mtu:
            extra = " plus IPsec's own overhead" if OPT_ENCRYPTED in network.options else ""
            findings.append(
                Finding(
                    kind=FindingKind.MTU_MISMATCH,
                    severity=Severity.WARNING,
                    engine=facts.name,
                    seen=f"overlay {network.name!r} has MTU {inner}; with VXLAN's "
                    f"{VXLAN_OVERHEAD} bytes{extra} its packets are {wire} bytes on the wire, "
                    f"more than {device}'s MTU {link_mtu}",
                    action=f"re-create the overlay with com.docker.network.driver.mtu="
                    f"{link_mtu - VXLAN_OVERHEAD} or less (or raise {device}'s MTU); large "
                    "packets are fragmented or lost",
                    subjects=(network.name, device),
                )
            )
    return findings


def _check_forwarding(facts: _Facts) -> list[Finding]:
    if facts.host is None:
        return []
    off = [key for key, value in facts.host.forwarding.items() if value.strip() == "0"]
    if not off:
        return []
    return [
        Finding(
            kind=FindingKind.IP_FORWARDING_OFF,
            severity=Severity.ERROR,
            engine=facts.name,
            seen=f"IP forwarding is off ({', '.join(f'{k}=0' for k in off)}) in "
            f"{facts.host.where}: containers cannot reach beyond their node",
            action="sysctl -w net.ipv4.ip_forward=1 and keep it in /etc/sysctl.d/; dockerd "
            "turns it on at start unless it runs with --ip-forward=false",
            subjects=tuple(off),
        )
    ]


def _check_iptables(facts: _Facts) -> list[Finding]:
    host = facts.host
    if host is None or host.iptables is None:
        return []
    policies, chains = parse_rules(host.iptables)
    uplink = _uplink(facts)
    out_if = uplink[0] if uplink else "eth0"
    policy = policies.get("FORWARD", "ACCEPT")
    dropped: dict[str, str] = {}
    for device in sorted(facts.bridges()):
        decided = forward_verdict(chains, device, out_if)
        verdict, why = decided if decided else (policy, f"the FORWARD policy {policy}")
        if verdict in ("DROP", "REJECT"):
            dropped[device] = why
    if not dropped:
        return []
    reasons = sorted(set(dropped.values()))
    return [
        Finding(
            kind=FindingKind.FORWARD_DROP,
            severity=Severity.ERROR,
            engine=facts.name,
            seen=f"iptables drops traffic from {', '.join(sorted(dropped))} to {out_if} "
            f"({host.where}; FORWARD policy {policy}; decided by: {'; '.join(reasons)})",
            action="let dockerd manage its rules (--iptables=true, the default) and remove the "
            "rule that drops it, or accept the engine's traffic explicitly, e.g. "
            f"`iptables -I DOCKER-USER -i {next(iter(sorted(dropped)))} ! -o "
            f"{next(iter(sorted(dropped)))} -j ACCEPT`",
            subjects=tuple(sorted(dropped)),
        )
    ]


def _check_default_bridge(facts: _Facts) -> list[Finding]:
    on_bridge = sorted(c.name for c in facts.containers if "bridge" in c.network_names)
    if not on_bridge:
        return []
    return [
        Finding(
            kind=FindingKind.DEFAULT_BRIDGE_CONTAINERS,
            severity=Severity.WARNING,
            engine=facts.name,
            seen=f"{len(on_bridge)} running container(s) on the default bridge: "
            f"{', '.join(on_bridge)}; there they cannot find each other by name (no embedded "
            "DNS) and share one network with every other such container",
            action="create a user-defined bridge (or an attachable overlay) and connect them to "
            "it: `docker network create app && docker network connect app <container>`, then "
            "disconnect them from bridge",
            subjects=tuple(on_bridge),
        )
    ]


def _check_stale(facts: _Facts, swarm_ids: set[str] | None) -> list[Finding]:
    """Swarm networks a node keeps though the swarm no longer has them (or it left)."""
    swarm_scoped = [n for n in facts.networks if n.scope is NetworkScope.SWARM]
    if not facts.in_swarm:
        stale = swarm_scoped
        why = "the node is in no swarm"
    else:
        ingresses = sorted(
            (n for n in swarm_scoped if n.ingress),
            key=lambda n: n.created.timestamp() if n.created else 0.0,
        )
        if swarm_ids is not None:
            stale = [n for n in ingresses if n.id not in swarm_ids]
        else:
            stale = ingresses[:-1]
        why = "the swarm has another ingress network"
    if not stale:
        return []
    shown = ", ".join(f"{n.name} ({n.id[:12]})" for n in stale)
    return [
        Finding(
            kind=FindingKind.STALE_SWARM_NETWORK,
            severity=Severity.WARNING,
            engine=facts.name,
            seen=f"the engine still holds swarm network(s) {shown} though {why}; they are "
            "left behind when ingress is removed while endpoints are attached, or when a "
            "leave times out waiting for ingress removal, and they keep their addresses",
            action="restart this node's dockerd: it drops swarm networks it no longer "
            "belongs to when it starts",
            subjects=tuple(n.name for n in stale),
        )
    ]


def _check_not_checked(facts: _Facts) -> list[Finding]:
    if facts.probe is None:
        return [
            Finding(
                kind=FindingKind.NOT_CHECKED,
                severity=Severity.INFO,
                engine=facts.name,
                seen=f"host checks (forwarding, iptables, routes, interface MTU, swarm ports) "
                f"were not run: {facts.probe_note}",
                action="run doctor on the engine's own host (or pass a HostProbe for it)",
            )
        ]
    if facts.host is not None and facts.host.problems:
        return [
            Finding(
                kind=FindingKind.NOT_CHECKED,
                severity=Severity.INFO,
                engine=facts.name,
                seen=f"some host checks could not run in {facts.host.where}: "
                + "; ".join(facts.host.problems),
                action="install iproute2 and iptables there, and run doctor as root",
            )
        ]
    return []


# -- swarm ports, from each node's own namespace ----------------------------------------------

# Runs inside a node's network namespace (nsenter changes the network only, so this
# host's interpreter is there). Reads [[address, port, protocol], …] and a timeout from
# argv, prints [[status, detail], …] in the same order.
_PORT_SCRIPT = r"""
import errno, json, socket, sys, threading
checks, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
results = [None] * len(checks)
def one(index, address, port, protocol):
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, kind)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
        if protocol == "tcp":
            results[index] = ["reachable", ""]
            return
        sock.send(b"")
        sock.recv(1)
        results[index] = ["reachable", "answered"]
    except socket.timeout:
        results[index] = ["no-answer" if protocol == "tcp" else "unconfirmed", ""]
    except ConnectionRefusedError as exc:
        results[index] = ["refused", exc.strerror or ""]
    except OSError as exc:
        results[index] = ["unreachable", exc.strerror or str(exc)]
    finally:
        sock.close()
threads = [threading.Thread(target=one, args=(i, *c)) for i, c in enumerate(checks)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
"""


@dataclass(frozen=True)
class _Target:
    name: str
    address: str
    manager: bool
    overlay_endpoints: bool | None  # None: not known (no engine for it among the set)


def _targets(facts: list[_Facts]) -> list[_Target]:
    """Every node of the swarm worth trying: the engines given, and Ready nodes a manager lists."""
    by_address: dict[str, _Target] = {}
    managers = {
        m.addr.rsplit(":", 1)[0]
        for f in facts
        for m in (f.extras.swarm.remote_managers or ())
        if f.in_swarm
    }
    for f in facts:
        if f.in_swarm and f.address:
            # The ingress sandbox counts: it opens the node's VXLAN socket too.
            has_endpoints = any(n.containers for n in f.overlays.values())
            by_address[f.address] = _Target(
                f.info.name if f.info else f.name, f.address, f.address in managers, has_endpoints
            )
    for f in facts:
        for node in f.nodes:
            address = node.status.addr
            if node.state is NodeState.READY and address and address not in by_address:
                by_address[address] = _Target(
                    node.hostname or node.id,
                    address,
                    node.role is NodeRole.MANAGER or address in managers,
                    None,
                )
    return list(by_address.values())


async def _check_ports(
    facts: list[_Facts], port_timeout: float
) -> tuple[list[PortCheck], list[Finding]]:
    targets = _targets(facts)
    data_port = next(
        (
            f.extras.swarm.cluster.data_path_port
            for f in facts
            if f.extras.swarm.cluster and f.extras.swarm.cluster.data_path_port
        ),
        DATA_PATH_PORT,
    )
    checks: list[PortCheck] = []
    findings: list[Finding] = []

    async def from_node(source: _Facts) -> None:
        assert source.probe is not None
        plan: list[tuple[_Target, int, Literal["tcp", "udp"], str]] = []
        for target in targets:
            if target.address == source.address:
                continue
            if target.manager:
                plan.append((target, MANAGER_PORT, "tcp", "cluster management (managers)"))
            plan.append((target, GOSSIP_PORT, "tcp", "node gossip"))
            plan.append((target, GOSSIP_PORT, "udp", "node gossip"))
            plan.append((target, data_port, "udp", "overlay data (VXLAN)"))
        if not plan:
            return
        argv = [
            sys.executable or "python3",
            "-c",
            _PORT_SCRIPT,
            json.dumps([[t.address, port, proto] for t, port, proto, _ in plan]),
            str(port_timeout),
        ]
        result = await source.probe.run(argv, timeout=port_timeout + 10.0)
        try:
            outcomes = json.loads(result.stdout) if result.ok else None
        except json.JSONDecodeError:
            outcomes = None
        mine: list[PortCheck] = []
        for index, (target, port, proto, purpose) in enumerate(plan):
            status, detail = (
                (PortStatus(outcomes[index][0]), str(outcomes[index][1]))
                if outcomes
                else (PortStatus.NOT_CHECKED, result.stderr.strip()[:200])
            )
            mine.append(
                PortCheck(
                    source=source.name,
                    target=target.name,
                    address=target.address,
                    port=port,
                    protocol=proto,
                    purpose=purpose,
                    status=status,
                    detail=detail,
                )
            )
        checks.extend(mine)
        findings.extend(_port_findings(source, mine, targets, data_port))

    async with anyio.create_task_group() as tg:
        for source in facts:
            if source.in_swarm and source.probe is not None:
                tg.start_soon(from_node, source)
    return checks, findings


def _port_findings(
    source: _Facts, checks: list[PortCheck], targets: list[_Target], data_port: int
) -> list[Finding]:
    overlay_nodes = {t.address for t in targets if t.overlay_endpoints}
    by_target: dict[tuple[str, str], list[PortCheck]] = {}
    for check in checks:
        if check.ok or check.status is PortStatus.NOT_CHECKED:
            continue
        if (
            check.port == data_port
            and check.protocol == "udp"
            and check.status is PortStatus.REFUSED
            and check.address not in overlay_nodes
        ):
            # No VXLAN socket is open on a node without overlay endpoints: not a fault.
            continue
        by_target.setdefault((check.target, check.address), []).append(check)
    findings = []
    for (target, address), failed in sorted(by_target.items()):
        shown = ", ".join(f"{c.port}/{c.protocol} {c.status.value}" for c in failed)
        findings.append(
            Finding(
                kind=FindingKind.SWARM_PORT_UNREACHABLE,
                severity=Severity.ERROR,
                engine=source.name,
                seen=f"from {source.name}, node {target} ({address}) cannot be reached on "
                f"swarm ports: {shown}",
                action="open 2377/tcp to managers, 7946/tcp+udp and the data-path port "
                f"({data_port}/udp) between all swarm nodes (firewalls, security groups), and "
                f"check that {target} is up and on the network",
                subjects=tuple(f"{c.port}/{c.protocol}" for c in failed),
            )
        )
    return findings


# -- overlay peers --------------------------------------------------------------------------


def _missing_peers(facts: list[_Facts]) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """(engine name, network id) -> (network name, peer addresses others list but it lacks)."""
    views: dict[str, dict[str, set[str]]] = {}
    names: dict[str, str] = {}
    for f in facts:
        if not f.in_swarm:
            continue
        for network_id, network in f.overlays.items():
            peers = {str(p.ip) for p in network.peers if p.ip is not None}
            if f.address in peers:
                views.setdefault(network_id, {})[f.name] = peers
                names[network_id] = network.name
    missing: dict[tuple[str, str], tuple[str, set[str]]] = {}
    for network_id, by_engine in views.items():
        expected = set().union(*by_engine.values())
        for engine, peers in by_engine.items():
            lacking = expected - peers
            if lacking:
                missing[(engine, network_id)] = (names[network_id], lacking)
    return missing


async def _check_peers(facts: list[_Facts], settle: float) -> list[Finding]:
    missing = _missing_peers(facts)
    if missing and settle > 0:
        # Gossip converges within moments of a change; only what lasts is a finding.
        await anyio.sleep(settle)
        involved = {engine for engine, _ in missing}
        for f in facts:
            if f.name in involved:
                for network_id in list(f.overlays):
                    f.overlays[network_id] = await _inspect_verbose(f.engine, network_id)
        missing = _missing_peers(facts)
    names = {f.address: f.info.name if f.info else f.name for f in facts}
    findings = []
    for (engine, _), (network, lacking) in sorted(missing.items()):
        shown = ", ".join(f"{names.get(a, a)} ({a})" for a in sorted(lacking))
        findings.append(
            Finding(
                kind=FindingKind.OVERLAY_PEERS_MISSING,
                severity=Severity.ERROR,
                engine=engine,
                seen=f"on overlay {network!r}, {engine} does not see peers {shown} that the "
                "other nodes list: traffic between them on this overlay is lost",
                action="check 7946/tcp+udp and the data-path port between these nodes (see "
                "swarm-port findings); a node cut off from the others drops out of its peers",
                subjects=(network, *sorted(lacking)),
            )
        )
    return findings


# -- entry point ----------------------------------------------------------------------------


async def doctor(
    engines: Engine | Sequence[Engine],
    *,
    probes: Mapping[str, HostProbe | None] | None = None,
    check_ports: bool = True,
    port_timeout: float = 1.0,
    settle: float = 2.0,
) -> DoctorReport:
    """Look for what keeps swarm traffic from flowing, on one engine or a set of them.

    Checks, on each engine:

    * subnet overlaps between ingress, docker_gwbridge, the default bridge, user
      networks, the engine's local and the swarm's default address pools, and the routes
      of the host the engine runs on;
    * overlays whose MTU plus VXLAN's 50 bytes exceeds the node's interface MTU;
    * IP forwarding off, and iptables FORWARD rules/policy that drop the engine's bridges'
      traffic;
    * running containers left on the default bridge;
    * swarm ports (2377/tcp to managers, 7946/tcp+udp, the data-path port/udp) between
      nodes, tried from each node's own network namespace;
    * overlays on which a node lacks peers the other nodes list.

    Host checks (forwarding, iptables, routes, MTU, ports) run where the engine's daemon
    lives: for an engine on a local unix socket doctor finds its daemon and network
    namespace by itself. Other engines get a ``not-checked`` finding unless ``probes``
    gives a :class:`HostProbe` for them.

    Args:
        engines: one open engine, or several (several are needed for port and peer checks).
        probes: by engine name, where to run host commands for it (None: skip them);
            engines not named are located automatically.
        check_ports: try the swarm ports between nodes.
        port_timeout: seconds each port try may take.
        settle: seconds to wait before re-checking overlay peers that look missing
            (gossip needs a moment after a change).

    Returns:
        a :class:`DoctorReport`; ``report.ok`` is True when nothing is a warning or error.

    Example::

        report = await swarmnet.doctor([node1, node2, node3])
        for finding in report.problems:
            print(finding)
    """
    group = list(engines) if isinstance(engines, Sequence) else [engines]
    if not group:
        raise InvalidSpec("doctor needs at least one engine")
    overrides = dict(probes or {})
    facts: list[_Facts] = [None] * len(group)  # type: ignore[list-item]

    async def collect(index: int, engine: Engine) -> None:
        named = engine.name in overrides
        facts[index] = await _collect(engine, overrides.get(engine.name), auto_probe=not named)

    async with anyio.create_task_group() as tg:
        for index, engine in enumerate(group):
            tg.start_soon(collect, index, engine)

    findings: list[Finding] = []
    reachable = [f for f in facts if not f.error]
    for f in facts:
        if f.error:
            findings.append(
                Finding(
                    kind=FindingKind.ENGINE_UNREACHABLE,
                    severity=Severity.ERROR,
                    engine=f.name,
                    seen=f"the engine could not be read: {f.error}",
                    action="check that its daemon runs and that the address is right",
                )
            )
    swarm_pools = next((p for f in reachable if (p := f.swarm_pools()) is not None), None)
    swarm_networks = list(
        {
            n.id: n
            for f in reachable
            if f.info is not None and f.info.swarm.is_manager
            for n in f.networks
            if n.scope is NetworkScope.SWARM
        }.values()
    )
    has_manager = any(f.info is not None and f.info.swarm.is_manager for f in reachable)
    swarm_ids = {n.id for n in swarm_networks} if has_manager else None
    for f in reachable:
        findings += _check_stale(f, swarm_ids)
        findings += _checksubnets_overlap(f, swarm_pools, swarm_networks)
        findings += _check_mtu(f)
        findings += _check_forwarding(f)
        findings += _check_iptables(f)
        findings += _check_default_bridge(f)
        findings += _check_not_checked(f)
    port_checks: list[PortCheck] = []
    if check_ports:
        port_checks, port_findings = await _check_ports(reachable, port_timeout)
        findings += port_findings
    findings += await _check_peers(reachable, settle)
    findings.sort(key=lambda f: (-f.severity.rank, f.engine, f.kind.value, f.seen))
    report = DoctorReport(
        engines=tuple(e.name for e in group),
        findings=tuple(findings),
        port_checks=tuple(
            sorted(port_checks, key=lambda c: (c.source, c.address, c.port, c.protocol))
        ),
    )
    _log.info(
        "doctor.done",
        engines=len(group),
        findings=len(findings),
        problems=len(report.problems),
    )
    return report
