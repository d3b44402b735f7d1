"""``doctor()``: typed findings about why swarm traffic might not flow.

Each engine is read once (networks, containers, swarm membership) and, where its daemon
runs on this host, so is its network namespace (forwarding sysctls, iptables FORWARD
rules, routes, interface MTUs, kernel features) through a :class:`~swarmnet.HostProbe`.
Then the checks of :data:`swarmnet._doctor.checks.NODE_CHECKS` run on those facts, and
the swarm ports and overlay peers are checked across nodes. Every finding says what was
seen and what to do; checks that could not run say so (``not-checked``), so silence
always means "checked and fine".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import anyio

from swarmnet._core.errors import InvalidSpec
from swarmnet._core.log import get_logger
from swarmnet._doctor.checks import NODE_CHECKS, check_peers, found
from swarmnet._doctor.facts import NodeFacts, Survey, collect
from swarmnet._doctor.ports import DEFAULT_PORT_PEERS, try_ports
from swarmnet._doctor.report import (
    DoctorReport,
    Finding,
    FindingKind,
    PortCheck,
    PortStatus,
    Severity,
)
from swarmnet._host.probe import HostProbe

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

__all__ = [
    "DoctorReport",
    "Finding",
    "FindingKind",
    "PortCheck",
    "PortStatus",
    "Severity",
    "doctor",
]

_log = get_logger("swarmnet.doctor")


async def doctor(
    engines: Engine | Sequence[Engine],
    *,
    probes: Mapping[str, HostProbe | None] | None = None,
    check_ports: bool = True,
    port_timeout: float = 1.0,
    settle: float = 2.0,
    port_peers: int | None = DEFAULT_PORT_PEERS,
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
    * swarm ingress networks a node keeps after the swarm dropped them;
    * a kernel without IPVS on a swarm node (service VIPs and the routing mesh carry
      nothing), or without ESP (encrypted overlays drop their traffic);
    * swarm ports (2377/tcp to managers, 7946/tcp+udp, the data-path port/udp) between
      nodes, tried from each node's own network namespace: every node is tried by
      ``port_peers`` others and every node tries every manager, so the work grows
      linearly with the nodes, not with their square, and a node nobody can reach is
      still named;
    * overlays on which a node lacks peers the other nodes list.

    Host checks (forwarding, iptables, routes, MTU, kernel, ports) run where the engine's
    daemon lives: for an engine on a local unix socket doctor finds its daemon and network
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
        port_peers: how many nodes try each node's swarm ports (default 4; the
            neighbours on a ring of the nodes' addresses, see
            :func:`swarmnet._doctor.ports.select_peers`); None tries every pair, which
            grows with the square of the nodes. Swarms of up to ``port_peers + 1``
            nodes get every pair either way.

    Returns:
        a :class:`DoctorReport`; ``report.ok`` is True when nothing is a warning or error.

    Raises:
        InvalidSpec: no engine was given, or ``port_peers`` is below 1.

    Example::

        report = await swarmnet.doctor([node1, node2, node3])
        for finding in report.problems:
            print(finding)
    """
    group = list(engines) if isinstance(engines, Sequence) else [engines]
    if not group:
        raise InvalidSpec("doctor needs at least one engine")
    if port_peers is not None and port_peers < 1:
        raise InvalidSpec(
            f"port_peers must be at least 1 (or None for every pair), not {port_peers}"
        )
    nodes = await _collect_all(group, dict(probes or {}))

    findings = [
        found(
            f,
            FindingKind.ENGINE_UNREACHABLE,
            Severity.ERROR,
            f"the engine could not be read: {f.error}",
            "check that its daemon runs and that the address is right",
        )
        for f in nodes
        if f.error
    ]
    survey = Survey.of([f for f in nodes if not f.error])
    for node in survey.nodes:
        for check in NODE_CHECKS:
            findings += check(survey, node)
    port_checks: list[PortCheck] = []
    if check_ports:
        port_checks, port_findings = await try_ports(survey.nodes, port_timeout, port_peers)
        findings += port_findings
    findings += await check_peers(survey.nodes, settle)

    findings.sort(key=lambda f: (-f.severity.rank, f.engine, f.kind.value, f.seen))
    port_checks.sort(key=lambda c: (c.source, c.address, c.port, c.protocol))
    report = DoctorReport(
        engines=tuple(e.name for e in group),
        findings=tuple(findings),
        port_checks=tuple(port_checks),
    )
    _log.info(
        "doctor.done", engines=len(group), findings=len(findings), problems=len(report.problems)
    )
    return report


async def _collect_all(
    group: list[Engine], overrides: dict[str, HostProbe | None]
) -> list[NodeFacts]:
    """Read every engine at once; the result is in the order of ``group``."""
    nodes: dict[int, NodeFacts] = {}

    async def one(index: int, engine: Engine) -> None:
        named = engine.name in overrides
        nodes[index] = await collect(engine, overrides.get(engine.name), auto_probe=not named)

    async with anyio.create_task_group() as tg:
        for index, engine in enumerate(group):
            tg.start_soon(one, index, engine)
    return [nodes[i] for i in range(len(group))]
