"""doctor's checks: small functions over the facts read once, listed in one table.

Each node check takes the :class:`~swarmnet._doctor.facts.Survey` (what the engines tell
together) and one engine's :class:`~swarmnet._doctor.facts.NodeFacts`, and returns its
findings, every one built by :func:`found`. :data:`NODE_CHECKS` lists them in the order
they run. The checks across nodes (swarm ports in :mod:`swarmnet._doctor.ports`, overlay
peers here in :func:`check_peers`) need more than one engine, and time.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Iterable, Sequence

import anyio

from swarmnet._builtin.constants import DEFAULT_OVERLAY_MTU, GWBRIDGE, VXLAN_OVERHEAD
from swarmnet._doctor.facts import IPNet, NodeFacts, Survey, inspect_verbose
from swarmnet._doctor.report import Finding, FindingKind, Severity, plural
from swarmnet._host.iptables import forward_verdict, parse_rules
from swarmnet._host.kernel import ESP, IPVS, KernelFeature, Support
from swarmnet._networks.models import Network, NetworkScope, subnets_overlap
from swarmnet._networks.specs import OPT_BRIDGE_NAME, OPT_ENCRYPTED, OPT_MTU

NodeCheck = Callable[[Survey, NodeFacts], list[Finding]]


def found(
    node: NodeFacts | str,
    kind: FindingKind,
    severity: Severity,
    seen: str,
    action: str,
    subjects: Iterable[str] = (),
) -> Finding:
    """The one way a finding is made: on an engine (its facts, or its name)."""
    engine = node if isinstance(node, str) else node.name
    return Finding(
        kind=kind,
        severity=severity,
        engine=engine,
        seen=seen,
        action=action,
        subjects=tuple(subjects),
    )


def _label(network: Network) -> str:
    if network.name == "bridge" and network.options.get(OPT_BRIDGE_NAME) == "docker0":
        return "the default bridge (docker0)"
    if network.ingress:
        return f"ingress network {network.name!r}"
    if network.name == GWBRIDGE:
        return GWBRIDGE
    return f"{network.driver or 'swarm'} network {network.name!r}"


def _subnets(network: Network) -> list[IPNet]:
    return [p.subnet for p in network.ipam.config if p.subnet is not None]


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# -- subnets -------------------------------------------------------------------------------


def check_subnets(survey: Survey, node: NodeFacts) -> list[Finding]:
    """Subnets that overlap each other, the host's routes, or the address pools."""
    # host, none and overlays not yet given a subnet hold no addresses to clash.
    networks = [n for n in node.networks if _subnets(n)]
    # A worker lists an overlay only once an endpoint of it lands there, and the engine
    # checks a new bridge only against overlays it holds: compare with every overlay
    # the swarm has (as its managers list them), so a collision is seen before it bites.
    own = {n.id for n in networks}
    elsewhere = [n for n in survey.swarm_networks if n.id not in own and _subnets(n)]
    return [
        *_network_overlaps(node, networks, elsewhere),
        *_route_overlaps(node, networks),
        *_pool_overlaps(node, networks, survey.swarm_pools),
    ]


def _overlap(
    node: NodeFacts, severity: Severity, seen: str, action: str, *subjects: str
) -> Finding:
    return found(node, FindingKind.SUBNET_OVERLAP, severity, seen, action, subjects)


def _network_overlaps(
    node: NodeFacts, networks: list[Network], elsewhere: list[Network]
) -> list[Finding]:
    pairs = [(a, b) for i, a in enumerate(networks) for b in networks[i + 1 :]]
    pairs += [(a, b) for a in networks if a.scope is not NetworkScope.SWARM for b in elsewhere]
    return [
        _overlap(
            node,
            Severity.ERROR,
            f"{_label(first)} ({a}) overlaps {_label(second)} ({b})",
            "traffic for the shared addresses goes to one of them only: "
            "re-create one of the networks on a subnet of its own",
            first.name,
            second.name,
        )
        for first, second in pairs
        for a, b in itertools.product(_subnets(first), _subnets(second))
        if subnets_overlap(a, b)
    ]


def _route_overlaps(node: NodeFacts, networks: list[Network]) -> list[Finding]:
    host = node.host
    if host is None or host.routes is None:
        return []
    own_devices = set(node.bridges())
    findings = []
    for route in host.routes:
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
                    findings.append(
                        _overlap(
                            node,
                            Severity.ERROR,
                            f"{_label(network)} ({subnet}) overlaps the host's route to "
                            f"{routed} via {device or route.get('gateway', '?')} ({host.where})",
                            "the host cannot reach that part of its network while the Docker "
                            "network holds it: re-create the network on a free subnet (and set "
                            "default-address-pools / --default-addr-pool to ranges the host "
                            "does not use)",
                            network.name,
                            str(routed),
                        )
                    )
    return findings


def _pool_overlaps(
    node: NodeFacts, networks: list[Network], swarm_pools: tuple[IPNet, ...] | None
) -> list[Finding]:
    findings = []
    local_networks = [n for n in networks if n.scope is not NetworkScope.SWARM]
    swarm_networks = [n for n in networks if n.scope is NetworkScope.SWARM]
    for network, subnet, pool in (
        (n, s, p) for n in local_networks for s in _subnets(n) for p in swarm_pools or ()
    ):
        if subnets_overlap(subnet, pool):
            findings.append(
                _overlap(
                    node,
                    Severity.WARNING,
                    f"{_label(network)} ({subnet}) lies in the swarm's default address pool "
                    f"{pool}; the swarm does not know local networks and may give an overlay "
                    "the same addresses",
                    "move the local network out of the pool, or init the swarm with a "
                    "--default-addr-pool that avoids it",
                    network.name,
                    str(pool),
                )
            )
    for local, pool in itertools.product(node.local_pools, swarm_pools or ()):
        if subnets_overlap(local, pool):
            findings.append(
                _overlap(
                    node,
                    Severity.WARNING,
                    f"the engine's local address pool {local} ({node.local_pools_from}) "
                    f"overlaps the swarm's default address pool {pool}",
                    "give daemon.json's default-address-pools and the swarm's "
                    "--default-addr-pool ranges of their own",
                    str(local),
                    str(pool),
                )
            )
    for network, subnet, local in (
        (n, s, p) for n in swarm_networks for s in _subnets(n) for p in node.local_pools
    ):
        if subnets_overlap(subnet, local):
            findings.append(
                _overlap(
                    node,
                    Severity.WARNING,
                    f"{_label(network)} ({subnet}) lies in the engine's local address pool "
                    f"{local} ({node.local_pools_from}); a bridge made from that pool may "
                    "take the same addresses",
                    "set daemon.json's default-address-pools to ranges the swarm does not use",
                    network.name,
                    str(local),
                )
            )
    return findings


# -- the host's namespace --------------------------------------------------------------------


def uplink(node: NodeFacts) -> tuple[str, int] | None:
    """The interface (and its MTU) holding the node's swarm address, or the default route's."""
    host = node.host
    if host is None or host.links is None:
        return None
    wanted = node.address
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


def check_mtu(survey: Survey, node: NodeFacts) -> list[Finding]:
    """Overlays whose packets, with VXLAN's bytes, exceed the node's interface MTU."""
    link = uplink(node)
    if link is None or not node.in_swarm:
        return []
    device, link_mtu = link
    findings = []
    for network in node.networks:
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
                found(
                    node,
                    FindingKind.MTU_MISMATCH,
                    Severity.WARNING,
                    f"overlay {network.name!r} has MTU {inner}; with VXLAN's "
                    f"{VXLAN_OVERHEAD} bytes{extra} its packets are {wire} bytes on the wire, "
                    f"more than {device}'s MTU {link_mtu}",
                    f"re-create the overlay with com.docker.network.driver.mtu="
                    f"{link_mtu - VXLAN_OVERHEAD} or less (or raise {device}'s MTU); large "
                    "packets are fragmented or lost",
                    (network.name, device),
                )
            )
    return findings


def check_forwarding(survey: Survey, node: NodeFacts) -> list[Finding]:
    """IP forwarding switched off in the daemon's namespace."""
    if node.host is None:
        return []
    off = [key for key, value in node.host.forwarding.items() if value.strip() == "0"]
    if not off:
        return []
    return [
        found(
            node,
            FindingKind.IP_FORWARDING_OFF,
            Severity.ERROR,
            f"IP forwarding is off ({', '.join(f'{k}=0' for k in off)}) in "
            f"{node.host.where}: containers cannot reach beyond their node",
            "sysctl -w net.ipv4.ip_forward=1 and keep it in /etc/sysctl.d/; dockerd "
            "turns it on at start unless it runs with --ip-forward=false",
            off,
        )
    ]


def check_iptables(survey: Survey, node: NodeFacts) -> list[Finding]:
    """iptables FORWARD rules or policy that drop the engine's bridges' traffic."""
    host = node.host
    if host is None or host.iptables is None:
        return []
    policies, chains = parse_rules(host.iptables)
    link = uplink(node)
    out_if = link[0] if link else "eth0"
    policy = policies.get("FORWARD", "ACCEPT")
    dropped: dict[str, str] = {}
    for device in sorted(node.bridges()):
        decided = forward_verdict(chains, device, out_if)
        verdict, why = decided if decided else (policy, f"the FORWARD policy {policy}")
        if verdict in ("DROP", "REJECT"):
            dropped[device] = why
    if not dropped:
        return []
    devices = sorted(dropped)
    return [
        found(
            node,
            FindingKind.FORWARD_DROP,
            Severity.ERROR,
            f"iptables drops traffic from {', '.join(devices)} to {out_if} "
            f"({host.where}; FORWARD policy {policy}; decided by: "
            f"{'; '.join(sorted(set(dropped.values())))})",
            "let dockerd manage its rules (--iptables=true, the default) and remove the "
            "rule that drops it, or accept the engine's traffic explicitly, e.g. "
            f"`iptables -I DOCKER-USER -i {devices[0]} ! -o {devices[0]} -j ACCEPT`",
            devices,
        )
    ]


# -- what the engine holds -------------------------------------------------------------------


def _free_name(taken: set[str], wanted: str = "app") -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``… : the first name no network has."""
    return next(
        n
        for n in itertools.chain([wanted], (f"{wanted}-{i}" for i in itertools.count(2)))
        if n not in taken
    )


def _joinable(survey: Survey, node: NodeFacts) -> list[str]:
    """User-defined networks the node's containers could join, described: bridges first."""
    bridges = sorted(
        n.name
        for n in node.networks
        if n.driver == "bridge" and not n.is_builtin and n.name != GWBRIDGE and not n.internal
    )
    seen = {n.id: n for n in [*node.networks, *survey.swarm_networks]}
    overlays = sorted(
        n.name
        for n in seen.values()
        if n.driver == "overlay" and n.attachable and not n.ingress and not n.internal
    )
    return [f"bridge {n!r}" for n in bridges] + [f"attachable overlay {n!r}" for n in overlays]


def _each(command: str, containers: list[str]) -> str:
    """``command`` for each container, chained, or once with a placeholder for many."""
    if len(containers) <= 3:
        return " && ".join(f"{command} {c}" for c in containers)
    return f"{command} <container> (for each of them)"


def check_default_bridge(survey: Survey, node: NodeFacts) -> list[Finding]:
    """Running containers left on the default bridge, with advice that fits this cluster.

    The network to create gets a name no network of the engine (or of the swarm, as
    its managers list it) has, and user-defined networks that exist are named too.
    """
    on_bridge = sorted(c.name for c in node.containers if "bridge" in c.networks)
    if not on_bridge:
        return []
    one = len(on_bridge) == 1
    it = "it" if one else "them"
    free = _free_name(survey.network_names(node))
    existing = _joinable(survey, node)
    also = (
        f", or connect {it} to a user-defined network that exists already ({_names(existing, 3)})"
        if existing
        else ""
    )
    return [
        found(
            node,
            FindingKind.DEFAULT_BRIDGE_CONTAINERS,
            Severity.WARNING,
            f"{plural(len(on_bridge), 'running container')} on the default bridge: "
            f"{_names(on_bridge)}; there "
            + (
                "it cannot find other containers by name (no embedded DNS) and shares"
                if one
                else "they cannot find each other by name (no embedded DNS) and share"
            )
            + " one network with every other such container",
            f"put {it} on a user-defined network: `docker network create {free} && "
            f"{_each(f'docker network connect {free}', on_bridge)}`{also}; then "
            f"`{_each('docker network disconnect bridge', on_bridge)}`",
            on_bridge,
        )
    ]


def check_stale(survey: Survey, node: NodeFacts) -> list[Finding]:
    """Swarm networks a node keeps though the swarm no longer has them (or it left)."""
    swarm_scoped = [n for n in node.networks if n.scope is NetworkScope.SWARM]
    if not node.in_swarm:
        stale = swarm_scoped
        why = "the node is in no swarm"
    else:
        ingresses = sorted(
            (n for n in swarm_scoped if n.ingress),
            key=lambda n: n.created.timestamp() if n.created else 0.0,
        )
        if survey.swarm_ids is not None:
            stale = [n for n in ingresses if n.id not in survey.swarm_ids]
        else:
            stale = ingresses[:-1]
        why = "the swarm has another ingress network"
    if not stale:
        return []
    shown = ", ".join(f"{n.name} ({n.id[:12]})" for n in stale)
    return [
        found(
            node,
            FindingKind.STALE_SWARM_NETWORK,
            Severity.WARNING,
            f"the engine still holds swarm {'network' if len(stale) == 1 else 'networks'} "
            f"{shown} though {why}; such networks are left behind when ingress is removed "
            "while endpoints are attached, or when a leave times out waiting for ingress "
            "removal, and they keep their addresses",
            "restart this node's dockerd: it drops swarm networks it no longer "
            "belongs to when it starts",
            (n.name for n in stale),
        )
    ]


# -- the kernel ----------------------------------------------------------------------------


def _kernel_support(node: NodeFacts, feature: KernelFeature) -> tuple[Support, str] | None:
    """What the node's kernel shows about ``feature``; None off a swarm or unread."""
    kernel = node.host.kernel if node.host is not None else None
    if kernel is None or not node.in_swarm:
        return None
    return kernel.support(feature)


def check_ipvs(survey: Survey, node: NodeFacts) -> list[Finding]:
    """A swarm node whose kernel has no IPVS: VIPs and the routing mesh carry nothing."""
    weighed = _kernel_support(node, IPVS)
    if weighed is None or weighed[0] is Support.PRESENT:
        return []
    support, why = weighed
    if support is Support.UNKNOWN:
        return [
            found(
                node,
                FindingKind.NOT_CHECKED,
                Severity.INFO,
                f"whether the kernel has IPVS could not be told: {why}",
                "check the kernel's build config for CONFIG_IP_VS (Docker's check-config.sh "
                "does it)",
                ("ip_vs",),
            )
        ]
    if support is Support.LOADABLE:
        return [
            found(
                node,
                FindingKind.IPVS_MISSING,
                Severity.INFO,
                f"IPVS is not loaded yet: {why}; service virtual IPs and the routing mesh need it",
                "load it now and at boot: `modprobe ip_vs`, and a line `ip_vs` in "
                "/etc/modules-load.d/swarm.conf",
                ("ip_vs",),
            )
        ]
    return [
        found(
            node,
            FindingKind.IPVS_MISSING,
            Severity.ERROR,
            f"the kernel has no IPVS: {why}; traffic to a service's virtual IP and to ports "
            "published through the routing mesh (ingress) is lost on this node, though "
            "tasks run and names resolve",
            "run the node on a kernel with CONFIG_IP_VS (as a module: `modprobe ip_vs`); "
            "until then give services --endpoint-mode dnsrr and publish ports in mode=host",
            ("ip_vs",),
        )
    ]


def _encrypted(survey: Survey, node: NodeFacts) -> list[str]:
    seen = {n.id: n for n in [*node.networks, *survey.swarm_networks]}
    return sorted(
        n.name for n in seen.values() if n.driver == "overlay" and OPT_ENCRYPTED in n.options
    )


def check_esp(survey: Survey, node: NodeFacts) -> list[Finding]:
    """A swarm node whose kernel has no ESP: encrypted overlays drop their traffic.

    An error only while an encrypted overlay exists; otherwise a note for later.
    """
    weighed = _kernel_support(node, ESP)
    if weighed is None or weighed[0] is Support.PRESENT:
        return []
    support, why = weighed
    encrypted = _encrypted(survey, node)
    if support is not Support.ABSENT and not encrypted:
        return []
    fix = (
        "run the node on a kernel with CONFIG_INET_ESP (as a module: `modprobe esp4`)"
        if support is Support.ABSENT
        else "make sure it is loaded: `modprobe esp4`, and a line `esp4` in "
        "/etc/modules-load.d/swarm.conf"
    )
    if not encrypted:
        return [
            found(
                node,
                FindingKind.ESP_MISSING,
                Severity.INFO,
                f"the kernel has no ESP: {why}; no encrypted overlay exists now, but one "
                "(--opt encrypted) would drop all its traffic between nodes",
                f"{fix} before making encrypted overlays",
                ("esp4",),
            )
        ]
    one = len(encrypted) == 1
    they = (
        f"encrypted {'overlay' if one else 'overlays'} {_names(encrypted)} "
        f"{'needs' if one else 'need'} ESP"
    )
    if support is Support.ABSENT:
        seen = f"{they}, which the kernel lacks: {why}; {'its' if one else 'their'} traffic "
        seen += "between nodes is dropped"
    elif support is Support.LOADABLE:
        seen = f"{they}, which is not loaded yet: {why}"
    else:
        seen = f"{they}; whether the kernel has it could not be told: {why}"
    return [
        found(
            node,
            FindingKind.ESP_MISSING,
            Severity.ERROR if support is Support.ABSENT else Severity.INFO,
            seen,
            f"{fix}, or re-create {'it' if one else 'them'} without encryption",
            ("esp4", *encrypted),
        )
    ]


def check_not_checked(survey: Survey, node: NodeFacts) -> list[Finding]:
    """Host checks that could not run, so silence there means nothing."""
    if node.probe is None:
        return [
            found(
                node,
                FindingKind.NOT_CHECKED,
                Severity.INFO,
                "host checks (forwarding, iptables, routes, interface MTU, kernel features, "
                f"swarm ports) were not run: {node.probe_note}",
                "run doctor on the engine's own host (or pass a HostProbe for it)",
            )
        ]
    if node.host is not None and node.host.problems:
        return [
            found(
                node,
                FindingKind.NOT_CHECKED,
                Severity.INFO,
                f"some host checks could not run in {node.host.where}: "
                + "; ".join(node.host.problems),
                "install iproute2 and iptables there, and run doctor as root",
            )
        ]
    return []


#: The checks run on every engine that could be read, in this order.
NODE_CHECKS: tuple[NodeCheck, ...] = (
    check_stale,
    check_subnets,
    check_mtu,
    check_forwarding,
    check_iptables,
    check_default_bridge,
    check_ipvs,
    check_esp,
    check_not_checked,
)


# -- across nodes: overlay peers -------------------------------------------------------------


def _missing_peers(nodes: list[NodeFacts]) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """(engine name, network id) -> (network name, peer addresses others list but it lacks)."""
    views: dict[str, dict[str, set[str]]] = {}
    names: dict[str, str] = {}
    for node in nodes:
        if not node.in_swarm:
            continue
        for network_id, network in node.overlays.items():
            peers = {str(p.ip) for p in network.peers if p.ip is not None}
            if node.address in peers:
                views.setdefault(network_id, {})[node.name] = peers
                names[network_id] = network.name
    missing: dict[tuple[str, str], tuple[str, set[str]]] = {}
    for network_id, by_engine in views.items():
        expected = set().union(*by_engine.values())
        for engine, peers in by_engine.items():
            lacking = expected - peers
            if lacking:
                missing[(engine, network_id)] = (names[network_id], lacking)
    return missing


async def check_peers(nodes: list[NodeFacts], settle: float) -> list[Finding]:
    """Overlays on which a node lacks peers the other nodes list (after ``settle`` s)."""
    missing = _missing_peers(nodes)
    if missing and settle > 0:
        # Gossip converges within moments of a change; only what lasts is a finding.
        await anyio.sleep(settle)
        involved = {engine for engine, _ in missing}
        for node in nodes:
            if node.name in involved:
                for network_id in list(node.overlays):
                    node.overlays[network_id] = await inspect_verbose(node.engine, network_id)
        missing = _missing_peers(nodes)
    names = {node.address: node.hostname for node in nodes}
    findings = []
    for (engine, _), (network, lacking) in sorted(missing.items()):
        shown = ", ".join(f"{names.get(a, a)} ({a})" for a in sorted(lacking))
        findings.append(
            found(
                engine,
                FindingKind.OVERLAY_PEERS_MISSING,
                Severity.ERROR,
                f"on overlay {network!r}, {engine} does not see "
                f"{'peer' if len(lacking) == 1 else 'peers'} {shown} that the other nodes "
                "list: traffic between them on this overlay is lost",
                "check 7946/tcp+udp and the data-path port between these nodes (see "
                "swarm-port findings); a node cut off from the others drops out of its peers",
                (network, *sorted(lacking)),
            )
        )
    return findings
