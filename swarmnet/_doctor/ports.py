"""Swarm ports, tried from each node's own network namespace to every other node.

What UDP can tell: a datagram gets no answer from 7946/udp (memberlist ignores what it
cannot decrypt) nor from 4789/udp (VXLAN). Only a refusal (ICMP port unreachable) or an
unreachable network comes back, so a UDP port is ``refused``, ``unreachable`` or
``unconfirmed``, never "reachable". TCP ports are confirmed either way.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Literal

import anyio

from swarmnet._doctor.checks import found
from swarmnet._doctor.facts import DATA_PATH_PORT, NodeFacts
from swarmnet._doctor.report import Finding, FindingKind, PortCheck, PortStatus, Severity
from swarmnet._swarm.models import NodeRole, NodeState

#: The port managers listen on for cluster traffic.
MANAGER_PORT = 2377
#: The port nodes gossip on (memberlist), TCP and UDP.
GOSSIP_PORT = 7946

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


def _plan(source: NodeFacts, targets: list[_Target], data_port: int) -> Plan:
    plan: Plan = []
    for target in targets:
        if target.address == source.address:
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
    nodes: list[NodeFacts], port_timeout: float
) -> tuple[list[PortCheck], list[Finding]]:
    """Try every swarm port from each node with a probe to every other node."""
    targets = _targets(nodes, _manager_addresses(nodes))
    data_port = next(
        (f.swarm.data_path_port for f in nodes if f.swarm and f.swarm.data_path_port),
        DATA_PATH_PORT,
    )
    checks: list[PortCheck] = []
    findings: list[Finding] = []

    async def from_node(source: NodeFacts) -> None:
        plan = _plan(source, targets, data_port)
        if not plan:
            return
        mine = await _try_from(source, plan, port_timeout)
        checks.extend(mine)
        findings.extend(_port_findings(source, mine, targets, data_port))

    async with anyio.create_task_group() as tg:
        for source in nodes:
            if source.in_swarm and source.probe is not None:
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
