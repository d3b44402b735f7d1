"""A picture of a swarm's topology (or of a stack plan) as Mermaid or Graphviz DOT text.

:func:`gather_topology` reads, from each engine given (one per node), its networks
(``ingress``, ``docker_gwbridge``, overlays, bridges, with subnets) and containers, and
from a manager the services and their tasks. :func:`to_mermaid` and :func:`to_dot`
draw it: one box per node holding its networks and containers, containers linked to
the networks they are on, services linked to their tasks' containers (or to the node,
for a task with no container yet). :func:`plan_to_mermaid` / :func:`plan_to_dot` draw a
:class:`StackPlan`: the stack's networks and services, linked, marked by action.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from swarmnet._core.engine import Engine
from swarmnet._core.errors import NotASwarmManager, NotInSwarm, SwarmError
from swarmnet._stacks.model import Stack
from swarmnet._stacks.plan import ObjectKind, StackAction, StackPlan


class TopoNetwork(BaseModel):
    """A network as one node sees it."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    driver: str
    scope: str
    subnets: tuple[str, ...] = ()


class TopoContainer(BaseModel):
    """A container on one node and the networks (by name) it is attached to."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    networks: tuple[str, ...] = ()


class TopoTask(BaseModel):
    """A running or pending task of a service."""

    model_config = ConfigDict(frozen=True)

    id: str
    node: str
    state: str
    container_id: str = ""


class TopoService(BaseModel):
    """A service, its networks (by name) and its current tasks."""

    model_config = ConfigDict(frozen=True)

    name: str
    networks: tuple[str, ...] = ()
    tasks: tuple[TopoTask, ...] = ()


class TopoNode(BaseModel):
    """One engine (a node) with its networks and containers."""

    model_config = ConfigDict(frozen=True)

    name: str
    networks: tuple[TopoNetwork, ...] = ()
    containers: tuple[TopoContainer, ...] = ()


class Topology(BaseModel):
    """Nodes, their networks and containers, and the swarm's services and tasks."""

    model_config = ConfigDict(frozen=True)

    nodes: tuple[TopoNode, ...] = ()
    services: tuple[TopoService, ...] = ()


async def gather_topology(engines: Sequence[Engine]) -> Topology:
    """Read the topology from ``engines`` (one per node; services from a manager).

    Reads each engine's networks and containers, and the services and their tasks
    from the first engine that is a swarm manager (none when no engine is).
    """
    nodes: list[TopoNode] = []
    for engine in engines:
        info = await engine.info()
        networks = tuple(
            TopoNetwork(
                id=n.id,
                name=n.name,
                driver=n.driver,
                scope=n.scope.value,
                subnets=tuple(str(p.subnet) for p in n.ipam.config if p.subnet is not None),
            )
            for n in sorted(await engine.networks.list(), key=lambda n: n.name)
            if n.name not in ("host", "none")
        )
        containers = tuple(
            TopoContainer(id=c.id, name=c.name, networks=tuple(sorted(c.networks)))
            for c in sorted(await engine.containers.list(), key=lambda c: c.name)
        )
        nodes.append(
            TopoNode(name=info.name or engine.name, networks=networks, containers=containers)
        )
    services: list[TopoService] = []
    for engine in engines:
        try:
            listed = await engine.services.list()
            hostnames = {n.id: n.hostname for n in await engine.nodes.list()}
        except (NotASwarmManager, NotInSwarm, SwarmError):
            continue
        names = {n.id: n.name for node in nodes for n in node.networks}
        for service in sorted(listed, key=lambda s: s.name):
            tasks = await engine.services.tasks(service.id, desired_state="running")
            services.append(
                TopoService(
                    name=service.name,
                    networks=tuple(names.get(i, i[:12]) for i in service.network_ids()),
                    tasks=tuple(
                        TopoTask(
                            id=t.id,
                            node=hostnames.get(t.node_id, t.node_id[:12]),
                            state=t.state.value,
                            container_id=t.container_id,
                        )
                        for t in tasks
                    ),
                )
            )
        break
    return Topology(nodes=tuple(nodes), services=tuple(services))


def _id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


#: A task's container name: ``<service>.<slot, or node id if global>.<task id>``.
_TASK_CONTAINER = re.compile(r"^(?P<service>.+)\.(?P<slot>[^.]+)\.[a-z0-9]{25}$")


def _container_label(name: str) -> str:
    """A task's container as ``web.2`` (``edge`` for a global one); others by name."""
    match = _TASK_CONTAINER.match(name)
    if match is None:
        return name
    slot = match["slot"]
    return f"{match['service']}.{slot}" if slot.isdigit() else match["service"]


def _network_label(network: TopoNetwork) -> str:
    subnets = ", ".join(network.subnets)
    return f"{network.name}\\n{network.driver} {subnets}".rstrip()


def to_mermaid(topology: Topology) -> str:
    """The topology as a Mermaid ``flowchart``."""
    lines = ["flowchart LR"]
    containers: dict[str, str] = {}
    for node in topology.nodes:
        lines.append(f'  subgraph {_id("node", node.name)}["node {node.name}"]')
        for network in node.networks:
            label = _network_label(network).replace("\\n", "<br/>")
            lines.append(f'    {_id(node.name, "net", network.name)}[("{label}")]')
        for container in node.containers:
            key = _id(node.name, "ctr", container.id[:12])
            containers[container.id] = key
            lines.append(f'    {key}(["{_container_label(container.name)}"])')
        lines.append("  end")
        for container in node.containers:
            for attached in container.networks:
                lines.append(f"  {containers[container.id]} --- {_id(node.name, 'net', attached)}")
    for service in topology.services:
        key = _id("svc", service.name)
        lines.append(f'  {key}{{{{"service {service.name}"}}}}')
        for task in service.tasks:
            target = containers.get(task.container_id) or _id("node", task.node)
            lines.append(f"  {key} -->|{task.state}| {target}")
    return "\n".join(lines) + "\n"


def to_dot(topology: Topology) -> str:
    """The topology as a Graphviz ``digraph`` (``dot -Tsvg`` draws it)."""
    lines = ["digraph swarm {", "  rankdir=LR; compound=true; node [fontsize=10];"]
    containers: dict[str, str] = {}
    for node in topology.nodes:
        lines.append(f'  subgraph cluster_{_id(node.name)} {{ label="node {node.name}";')
        lines.append(f'    {_id("node", node.name)} [label="{node.name}", shape=box3d];')
        for network in node.networks:
            lines.append(
                f"    {_id(node.name, 'net', network.name)} "
                f'[label="{_network_label(network)}", shape=cylinder];'
            )
        for container in node.containers:
            key = _id(node.name, "ctr", container.id[:12])
            containers[container.id] = key
            label = _container_label(container.name)
            lines.append(f'    {key} [label="{label}", shape=box, style=rounded];')
        lines.append("  }")
        for container in node.containers:
            for attached in container.networks:
                lines.append(
                    f"  {containers[container.id]} -> {_id(node.name, 'net', attached)} [dir=none];"
                )
    for service in topology.services:
        key = _id("svc", service.name)
        lines.append(f'  {key} [label="service {service.name}", shape=hexagon];')
        for task in service.tasks:
            target = containers.get(task.container_id) or _id("node", task.node)
            lines.append(f'  {key} -> {target} [label="{task.state}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


_STYLE = {
    StackAction.CREATE: "fill:#d4f7d4",
    StackAction.UPDATE: "fill:#fff3c4",
    StackAction.REMOVE: "fill:#f7d4d4",
    StackAction.UNCHANGED: "fill:#eeeeee",
}
_DOT_COLOUR = {
    StackAction.CREATE: "#d4f7d4",
    StackAction.UPDATE: "#fff3c4",
    StackAction.REMOVE: "#f7d4d4",
    StackAction.UNCHANGED: "#eeeeee",
}


def _plan_edges(stack: Stack, plan: StackPlan) -> list[tuple[str, str]]:
    # External networks are in no plan item; draw only edges between drawn objects.
    drawn = {i.name for i in plan.items}
    return [
        (service.name, network)
        for service in stack.services
        for network in service.spec.network_names()
        if service.name in drawn and network in drawn
    ]


def plan_to_mermaid(stack: Stack, plan: StackPlan) -> str:
    """A stack plan as a Mermaid flowchart: objects coloured by action, services linked
    to their networks."""
    lines = ["flowchart LR"]
    for item in plan.items:
        key = _id(item.kind.value, item.name)
        text = f"{item.action.value} {item.kind.value} {item.name}"
        shape = f'[("{text}")]' if item.kind is ObjectKind.NETWORK else f'{{{{"{text}"}}}}'
        lines.append(f"  {key}{shape}")
        lines.append(f"  style {key} {_STYLE[item.action]}")
    for service, network in _plan_edges(stack, plan):
        lines.append(f"  {_id('service', service)} --- {_id('network', network)}")
    return "\n".join(lines) + "\n"


def plan_to_dot(stack: Stack, plan: StackPlan) -> str:
    """A stack plan as a Graphviz digraph, objects coloured by action."""
    lines = [f'digraph "{plan.stack}" {{', "  rankdir=LR; node [style=filled, fontsize=10];"]
    for item in plan.items:
        shape = "cylinder" if item.kind is ObjectKind.NETWORK else "hexagon"
        lines.append(
            f'  {_id(item.kind.value, item.name)} [label="{item.action.value} {item.name}", '
            f'shape={shape}, fillcolor="{_DOT_COLOUR[item.action]}"];'
        )
    for service, network in _plan_edges(stack, plan):
        lines.append(f"  {_id('service', service)} -> {_id('network', network)} [dir=none];")
    lines.append("}")
    return "\n".join(lines) + "\n"
