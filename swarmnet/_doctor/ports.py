"""Swarm ports, tried from each node's own network namespace to its peers.

Which pairs are tried is a bounded plan (:func:`select_peers`): every node is tried by
``peers`` others picked round a ring of the nodes' addresses, and every node tries every
manager. Trying every pair grows with the square of the nodes (32 nodes: 992 pairs);
the plan grows linearly, yet a node nobody can reach is still named, by each of the
``peers`` nodes that tried it. With no more than ``peers + 1`` nodes every pair is tried.

What UDP can tell: a datagram gets no answer from 7946/udp (memberlist ignores what it
cannot decrypt) nor from 4789/udp (VXLAN). Only a refusal (ICMP port unreachable) or an
unreachable network comes back, so a UDP port is ``refused``, ``unreachable`` or
``unconfirmed``, never "reachable". TCP ports are confirmed either way.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import anyio

from swarmnet._core.errors import InvalidSpec
from swarmnet._core.log import get_logger
from swarmnet._doctor.checks import found
from swarmnet._doctor.facts import DATA_PATH_PORT, NodeFacts
from swarmnet._doctor.report import Finding, FindingKind, PortCheck, PortStatus, Severity
from swarmnet._swarm.models import NodeRole, NodeState

_log = get_logger("swarmnet.doctor")

#: The port managers listen on for cluster traffic.
MANAGER_PORT = 2377
#: The port nodes gossip on (memberlist), TCP and UDP.
GOSSIP_PORT = 7946
#: How many nodes try each node's ports unless told otherwise (``doctor(port_peers=…)``).
DEFAULT_PORT_PEERS = 4

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

Plan = list[tuple["_Target", int, Literal["tcp", "udp"], str]]


@dataclass(frozen=True)
class _Target:
    name: str
    address: str
    manager: bool
    overlay_endpoints: bool | None  # None: not known (no engine for it among the set)


def _manager_addresses(nodes: list[NodeFacts]) -> set[str]:
    """The managers' addresses, from the node lists of the managers among the engines.

    Without a manager among them no target can be one: workers are all there is to try.
    """
    return {
        n.manager_status.addr.rsplit(":", 1)[0]
        for f in nodes
        for n in f.nodes
        if n.manager_status is not None and n.manager_status.addr
    }


def _targets(nodes: list[NodeFacts], managers: set[str]) -> list[_Target]:
    """Every node of the swarm worth trying: the engines given, and Ready nodes a manager lists."""
    by_address: dict[str, _Target] = {}
    for f in nodes:
        if f.in_swarm and f.address:
            # The ingress sandbox counts: it opens the node's VXLAN socket too.
            has_endpoints = any(n.containers for n in f.overlays.values())
            by_address[f.address] = _Target(
                f.hostname, f.address, f.address in managers, has_endpoints
            )
    for f in nodes:
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


def select_peers(
    sources: Sequence[str],
    targets: Sequence[str],
    managers: Collection[str] = (),
    peers: int | None = DEFAULT_PORT_PEERS,
) -> dict[str, list[str]]:
    """Which targets each source tries: a bounded plan that still covers every node.

    Each target is tried by ``peers`` sources (fewer when there are not that many
    others): the sources that follow it on a ring of all addresses, sorted. That spreads
    the work evenly (each source tries about ``peers * len(targets) / len(sources)``
    nodes) and is the same from run to run, so a finding names the same pairs each time.
    Every source also tries every manager, because every node must reach the managers
    (2377/tcp) and managers are few. With ``peers`` None, or no more sources than
    ``peers + 1``, every source tries every other target: the full mesh.

    Args:
        sources: addresses of the nodes the tries run from.
        targets: addresses of the nodes to try (a source may be one).
        managers: addresses among ``targets`` that are managers.
        peers: how many sources try each target; None for every pair.

    Returns:
        by source address, the target addresses it tries, in ``targets``' order.

    Raises:
        InvalidSpec: ``peers`` is below 1.

    Example::

        >>> select_peers(["a", "b", "c"], ["a", "b", "c"], peers=1)
        {'a': ['b'], 'b': ['c'], 'c': ['a']}
    """
    if peers is not None and peers < 1:
        raise InvalidSpec(f"port_peers must be at least 1 (or None for every pair), not {peers}")
    if peers is None or len(sources) <= peers + 1:
        return {s: [t for t in targets if t != s] for s in sources}
    ring = sorted(set(sources) | set(targets), key=_address_key)
    position = {address: index for index, address in enumerate(ring)}
    source_set = set(sources)
    chosen = {s: {t for t in targets if t in managers and t != s} for s in sources}
    for target in targets:
        picked = 0
        for step in range(1, len(ring)):
            # The ring walks backwards from the target: each source tries the next
            # ``peers`` nodes after it, so a source's tries are its own neighbours.
            candidate = ring[(position[target] - step) % len(ring)]
            if candidate in source_set:
                chosen[candidate].add(target)
                picked += 1
                if picked == peers:
                    break
    return {s: [t for t in targets if t in chosen[s]] for s in sources}


def _address_key(address: str) -> tuple[int, object]:
    try:
        return (0, ipaddress.ip_address(address))
    except ValueError:
        return (1, address)


def _plan(
    source: NodeFacts, targets: list[_Target], data_port: int, allowed: Collection[str]
) -> Plan:
    plan: Plan = []
    for target in targets:
        if target.address == source.address or target.address not in allowed:
            continue
        if target.manager:
            plan.append((target, MANAGER_PORT, "tcp", "cluster management (managers)"))
        plan.append((target, GOSSIP_PORT, "tcp", "node gossip"))
        plan.append((target, GOSSIP_PORT, "udp", "node gossip"))
        plan.append((target, data_port, "udp", "overlay data (VXLAN)"))
    return plan


async def _try_from(source: NodeFacts, plan: Plan, port_timeout: float) -> list[PortCheck]:
    assert source.probe is not None
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
    checks = []
    for index, (target, port, proto, purpose) in enumerate(plan):
        status, detail = (
            (PortStatus(outcomes[index][0]), str(outcomes[index][1]))
            if outcomes
            else (PortStatus.NOT_CHECKED, result.stderr.strip()[:200])
        )
        checks.append(
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
    return checks


async def try_ports(
    nodes: list[NodeFacts], port_timeout: float, peers: int | None = DEFAULT_PORT_PEERS
) -> tuple[list[PortCheck], list[Finding]]:
    """Try the swarm ports from each node with a probe to its peers (:func:`select_peers`)."""
    targets = _targets(nodes, _manager_addresses(nodes))
    sources = [f for f in nodes if f.in_swarm and f.probe is not None and f.address]
    selected = select_peers(
        [f.address for f in sources],
        [t.address for t in targets],
        {t.address for t in targets if t.manager},
        peers,
    )
    data_port = next(
        (f.swarm.data_path_port for f in nodes if f.swarm and f.swarm.data_path_port),
        DATA_PATH_PORT,
    )
    checks: list[PortCheck] = []
    findings: list[Finding] = []

    async def from_node(source: NodeFacts) -> None:
        plan = _plan(source, targets, data_port, set(selected.get(source.address, ())))
        if not plan:
            return
        mine = await _try_from(source, plan, port_timeout)
        checks.extend(mine)
        findings.extend(_port_findings(source, mine, targets, data_port))

    _log.debug(
        "doctor.port_plan",
        sources=len(sources),
        targets=len(targets),
        pairs=sum(len(v) for v in selected.values()),
        peers=peers,
    )
    async with anyio.create_task_group() as tg:
        for source in sources:
            tg.start_soon(from_node, source)
    return checks, findings


def _port_findings(
    source: NodeFacts, checks: list[PortCheck], targets: list[_Target], data_port: int
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
    return [
        found(
            source,
            FindingKind.SWARM_PORT_UNREACHABLE,
            Severity.ERROR,
            f"from {source.name}, node {target} ({address}) cannot be reached on swarm "
            f"{'port' if len(failed) == 1 else 'ports'}: "
            + ", ".join(f"{c.port}/{c.protocol} {c.status.value}" for c in failed),
            "open 2377/tcp to managers, 7946/tcp+udp and the data-path port "
            f"({data_port}/udp) between all swarm nodes (firewalls, security groups), and "
            f"check that {target} is up and on the network",
            (f"{c.port}/{c.protocol}" for c in failed),
        )
        for (target, address), failed in sorted(by_target.items())
    ]
