"""Containers, services and swarm nodes as the watcher's events left them.

:class:`ObjectCache` is what users read (``watcher.objects``): containers per engine,
services and nodes once for the swarm (every manager reports the same ones). Its
entries are immutable snapshots, replaced as events come: container events carry the
container's name, image and labels; network connect/disconnect events its networks;
node update events their new state, availability and role. What events do not carry
(a service's networks and labels, a node's labels) is read back from the manager
shortly after its event.

The functions below apply an event (:func:`apply`), tell whether a fresh read already
shows one (:func:`already_there`), and describe the difference between two views as
synthesized events (:func:`differences`), as :mod:`.cache` does for networks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import Field

from swarmnet._containers.models import Container
from swarmnet._core.models import EngineModel
from swarmnet._events.models import (
    ContainerAction,
    ContainerEvent,
    Event,
    EventScope,
    NetworkAction,
    NetworkEvent,
    NodeAction,
    NodeEvent,
    ServiceAction,
    ServiceEvent,
)
from swarmnet._services.models import Service
from swarmnet._swarm.models import Node

__all__ = ["CachedContainer", "CachedNode", "CachedService", "ObjectCache"]

#: Container actions after which its process no longer runs.
_STOPPED = frozenset({ContainerAction.DIE, ContainerAction.STOP, ContainerAction.OOM})
_NAME_KEYS = frozenset({"image", "name", "exitCode", "signal", "oldName", "execID"})


class CachedContainer(EngineModel):
    """A container on one engine, as the watcher knows it.

    Attributes:
        id: the container's id.
        name: its name.
        node: the engine it lives on.
        image: the image it runs.
        labels: its labels.
        running: whether its process runs (also while paused).
        state: ``created``, ``running``, ``paused``, ``exited``, …
        networks: names of the networks it is attached to (kept current by network
            events, which the watcher always follows).
        service: the swarm service whose task it runs, else ``None``.
        addresses: its IPv4 address with prefix on each network, by network name, as
            the watcher last read them (a network is read shortly after a connect
            event, see :attr:`ResyncSettings.endpoint_read_delay`; until then, and
            on networks with no address, it is not listed).
    """

    id: str
    name: str = ""
    node: str
    image: str = ""
    labels: Mapping[str, str] = Field(default_factory=dict)
    running: bool = False
    state: str = ""
    networks: frozenset[str] = frozenset()
    service: str | None = None
    addresses: Mapping[str, str] = Field(default_factory=dict)


class CachedService(EngineModel):
    """A swarm service, as the watcher knows it.

    Attributes:
        id, name: identity.
        labels: the service's labels.
        image: the image its tasks run.
        mode: ``replicated`` or ``global``.
        replicas: the replica count (``None`` for a global service).
        networks: ids of the networks its tasks attach to.
        virtual_ips: its virtual IP with prefix on each network, by network id (``vip``
            endpoint mode; none in ``dnsrr``). Its tasks: :meth:`ObjectCache.tasks`.
        version: the object version last read (it moves with every update).
    """

    id: str
    name: str = ""
    labels: Mapping[str, str] = Field(default_factory=dict)
    image: str = ""
    mode: str = "replicated"
    replicas: int | None = None
    networks: frozenset[str] = frozenset()
    virtual_ips: Mapping[str, str] = Field(default_factory=dict)
    version: int = 0


class CachedNode(EngineModel):
    """A swarm node, as the watcher knows it.

    Attributes:
        id: the node's id.
        name: its hostname (what node events name it by).
        role: ``worker`` or ``manager``.
        state: ``ready``, ``down``, ``unknown``, ``disconnected``.
        availability: ``active``, ``pause``, ``drain``.
        labels: the node's labels.
        leader: whether it is the raft leader.
    """

    id: str
    name: str = ""
    role: str = ""
    state: str = ""
    availability: str = ""
    labels: Mapping[str, str] = Field(default_factory=dict)
    leader: bool = False


def container_of(container: Container, node: str) -> CachedContainer:
    """The cached view of a container as listed by its engine."""
    return CachedContainer(
        id=container.id,
        name=container.name,
        node=node,
        image=container.image,
        labels=dict(container.labels),
        running=container.running,
        state=container.state,
        networks=frozenset(container.networks),
        service=container.labels.get("com.docker.swarm.service.name"),
    )


def service_of(service: Service) -> CachedService:
    """The cached view of a service as a manager reports it."""
    return CachedService(
        id=service.id,
        name=service.name,
        labels=dict(service.labels),
        image=service.image,
        mode=service.mode,
        replicas=service.replicas,
        networks=frozenset(service.network_ids()),
        virtual_ips={
            vip.network_id: str(vip.address) for vip in service.virtual_ips if vip.address
        },
        version=service.version,
    )


def node_of(node: Node) -> CachedNode:
    """The cached view of a swarm node as a manager reports it."""
    return CachedNode(
        id=node.id,
        name=node.spec.name or node.hostname,
        role=str(node.role.value),
        state=str(node.state.value),
        availability=str(node.availability.value),
        labels=dict(node.labels),
        leader=node.is_leader,
    )


def _labels_match(labels: Mapping[str, str], wanted: Mapping[str, str | None] | None) -> bool:
    if not wanted:
        return True
    return all(
        key in labels and (value is None or labels[key] == value) for key, value in wanted.items()
    )


class ObjectCache:
    """Containers (per engine), services and nodes (per swarm), kept current by events.

    Filled and kept by a :class:`swarmnet.Watcher` for the types its handlers want
    (``type="container"``, ``"service"``, ``"node"``), re-read after events were lost;
    every answer is an immutable snapshot, made without asking any engine.

    Example::

        web = watcher.objects.containers(label={"app": "web"}, network="frontend")
        drained = watcher.objects.nodes(availability="drain")
        for task in watcher.objects.tasks("api"):
            print(task.node, task.name, task.addresses)  # {'backend': '10.0.2.5/24'}
    """

    def __init__(
        self,
        network_ids: Callable[[str], frozenset[str]] | None = None,
        addresses: Callable[[str], Mapping[str, Mapping[str, str]]] | None = None,
    ) -> None:
        self._containers: dict[str, dict[str, CachedContainer]] = {}
        self._services: dict[str, CachedService] = {}
        self._nodes: dict[str, CachedNode] = {}
        # A network name to the ids it has (from the network cache), for services.
        self._network_ids = network_ids or (lambda name: frozenset())
        # A node's container ids to their addresses by network name (the network cache
        # keeps endpoints; they are joined to the containers when asked for).
        self._addresses = addresses or (lambda node: {})

    def _with_addresses(self, containers: list[CachedContainer]) -> list[CachedContainer]:
        by_node: dict[str, Mapping[str, Mapping[str, str]]] = {}
        out = []
        for c in containers:
            if c.node not in by_node:
                by_node[c.node] = self._addresses(c.node)
            found = by_node[c.node].get(c.id)
            out.append(c.model_copy(update={"addresses": dict(found)}) if found else c)
        return out

    def containers(
        self,
        *,
        node: str | None = None,
        label: Mapping[str, str | None] | None = None,
        network: str | None = None,
        service: str | None = None,
        running: bool | None = None,
    ) -> list[CachedContainer]:
        """Containers (on ``node``, or every engine) with these labels (``None`` as a
        value: the label is set), on this network (by name), of this service, running
        or not; sorted by node and name."""
        nodes = [node] if node is not None else sorted(self._containers)
        out = [
            c
            for name in nodes
            for c in self._containers.get(name, {}).values()
            if _labels_match(c.labels, label)
            and (network is None or network in c.networks)
            and (service is None or c.service == service)
            and (running is None or c.running is running)
        ]
        out.sort(key=lambda c: (c.node, c.name, c.id))
        return self._with_addresses(out)

    def container(self, container: str, *, node: str) -> CachedContainer | None:
        """The container with that id, id prefix (12+ characters) or name on ``node``."""
        found = self._containers.get(node, {})
        if container in found:
            return self._with_addresses([found[container]])[0]
        for each in found.values():
            if each.name == container or (len(container) >= 12 and each.id.startswith(container)):
                return self._with_addresses([each])[0]
        return None

    def tasks(self, service: str, *, running: bool | None = None) -> list[CachedContainer]:
        """The containers of a swarm service's tasks (by the service's name or id), on
        every engine the watcher follows, with their addresses; by node and name.

        A task's container is seen only on the engine it runs on: follow every node
        (``Watcher(*engines)``) to see all of them.
        """
        known = self.service(service)
        return self.containers(service=known.name if known else service, running=running)

    def services(
        self,
        *,
        label: Mapping[str, str | None] | None = None,
        network: str | None = None,
    ) -> list[CachedService]:
        """Services with these labels, attached to this network (name or id); by name."""
        ids = None if network is None else self._network_ids(network) | {network}
        out = [
            s
            for s in self._services.values()
            if _labels_match(s.labels, label) and (ids is None or s.networks & ids)
        ]
        out.sort(key=lambda s: (s.name, s.id))
        return out

    def service(self, service: str) -> CachedService | None:
        """The service with that id or name."""
        if service in self._services:
            return self._services[service]
        return next((s for s in self._services.values() if s.name == service), None)

    def nodes(
        self,
        *,
        role: str | None = None,
        state: str | None = None,
        availability: str | None = None,
        label: Mapping[str, str | None] | None = None,
    ) -> list[CachedNode]:
        """Swarm nodes of this role, state, availability and labels; by name."""
        out = [
            n
            for n in self._nodes.values()
            if (role is None or n.role == role)
            and (state is None or n.state == state)
            and (availability is None or n.availability == availability)
            and _labels_match(n.labels, label)
        ]
        out.sort(key=lambda n: (n.name, n.id))
        return out

    def node(self, node: str) -> CachedNode | None:
        """The swarm node with that id or name."""
        if node in self._nodes:
            return self._nodes[node]
        return next((n for n in self._nodes.values() if n.name == node), None)


# -- applying events ------------------------------------------------------------------------


def apply(cache: ObjectCache, event: Event) -> None:
    """Apply an event the engine sent (a container, service, node or network event)."""
    if isinstance(event, ContainerEvent):
        _apply_container(cache._containers.setdefault(event.node, {}), event)
    elif isinstance(event, ServiceEvent):
        _apply_service(cache._services, event)
    elif isinstance(event, NodeEvent):
        _apply_node(cache._nodes, event)
    elif isinstance(event, NetworkEvent):
        _apply_network(cache._containers.get(event.node), event)


def _apply_container(found: dict[str, CachedContainer], event: ContainerEvent) -> None:
    action = event.action
    cid = event.actor_id
    current = found.get(cid)
    if action is ContainerAction.DESTROY:
        found.pop(cid, None)
        return
    attributes = event.attributes
    labels = {k: v for k, v in attributes.items() if k not in _NAME_KEYS}
    if current is None:
        if action is ContainerAction.PRUNE:
            return
        current = CachedContainer(
            id=cid,
            name=attributes.get("name", ""),
            node=event.node,
            image=attributes.get("image", ""),
            labels=labels,
            state="created",
            service=labels.get("com.docker.swarm.service.name"),
        )
    update: dict[str, Any] = {}
    if action in (ContainerAction.START, ContainerAction.RESTART, ContainerAction.UNPAUSE):
        update.update(running=True, state="running")
    elif action is ContainerAction.PAUSE:
        update.update(state="paused")
    elif action in _STOPPED:
        update.update(running=False, state="exited")
    name = attributes.get("name")
    if name and name != current.name:
        update["name"] = name
    found[cid] = current.model_copy(update=update) if update else current


def _apply_service(found: dict[str, CachedService], event: ServiceEvent) -> None:
    sid = event.actor_id
    if event.action is ServiceAction.REMOVE:
        found.pop(sid, None)
        return
    current = found.get(sid)
    name = event.attributes.get("name", "")
    if current is None:
        found[sid] = CachedService(id=sid, name=name)
        return
    update: dict[str, Any] = {}
    if name and name != current.name:
        update["name"] = name
    if event.replicas is not None:
        update["replicas"] = event.replicas
    if event.image is not None:
        update["image"] = event.image
    if update:
        found[sid] = current.model_copy(update=update)


def _apply_node(found: dict[str, CachedNode], event: NodeEvent) -> None:
    nid = event.actor_id
    if event.action is NodeAction.REMOVE:
        found.pop(nid, None)
        return
    current = found.get(nid) or CachedNode(id=nid)
    update: dict[str, Any] = {}
    for field, value in (
        ("name", event.name or None),
        ("state", event.state),
        ("availability", event.availability),
        ("role", event.role),
        ("leader", event.leader),
    ):
        if value is not None and getattr(current, field) != value:
            update[field] = value
    found[nid] = current.model_copy(update=update) if update else current


def _apply_network(found: dict[str, CachedContainer] | None, event: NetworkEvent) -> None:
    if not found:
        return
    container = event.container_id
    name = event.name
    if container is None or not name or container not in found:
        return
    current = found[container]
    if event.action is NetworkAction.CONNECT and name not in current.networks:
        found[container] = current.model_copy(update={"networks": current.networks | {name}})
    elif event.action is NetworkAction.DISCONNECT and name in current.networks:
        found[container] = current.model_copy(update={"networks": current.networks - {name}})


def already_there(cache: ObjectCache, event: Event) -> bool:
    """Whether a freshly read state already shows what this event did."""
    action = event.action
    if isinstance(event, ContainerEvent):
        current = cache._containers.get(event.node, {}).get(event.actor_id)
        if action is ContainerAction.CREATE:
            return current is not None
        if action is ContainerAction.DESTROY:
            return current is None
        # Only what a re-read may have synthesized (create, start, die, destroy): a
        # stop, kill or restart is never made up, so it is never a repeat either.
        if action is ContainerAction.START:
            return current is not None and current.running
        if action is ContainerAction.DIE:
            return current is None or not current.running
        return False
    if isinstance(event, ServiceEvent):
        if action is ServiceAction.CREATE:
            return event.actor_id in cache._services
        return action is ServiceAction.REMOVE and event.actor_id not in cache._services
    if isinstance(event, NodeEvent):
        node = cache._nodes.get(event.actor_id)
        if action is NodeAction.CREATE:
            return node is not None
        if action is NodeAction.REMOVE:
            return node is None
        changes = event.changes
        return (
            node is not None
            and bool(changes)
            and all(str(getattr(node, key, "")).lower() == new for key, (_, new) in changes.items())
        )
    return False


# -- re-reads -----------------------------------------------------------------------------------


def _synthesized(
    model: type[Event],
    action: Any,
    actor: str,
    attributes: dict[str, str],
    scope: EventScope,
    node: str,
    time_nano: int,
) -> Event:
    return model(
        action=action,
        actor_id=actor,
        attributes=attributes,
        scope=scope,
        node=node,
        time_nano=time_nano,
        synthesized=True,
    )


def container_differences(
    node: str,
    old: Mapping[str, CachedContainer],
    new: Mapping[str, CachedContainer],
    time_nano: int,
) -> list[Event]:
    """Synthesized container events taking ``old`` to ``new``: created, renamed,
    started, died, destroyed (in that order)."""

    def make(action: ContainerAction, c: CachedContainer, **extra: str) -> Event:
        attributes = {**c.labels, "name": c.name, "image": c.image, **extra}
        return _synthesized(
            ContainerEvent, action, c.id, attributes, EventScope.LOCAL, node, time_nano
        )

    out: list[Event] = []
    for cid in sorted(new.keys() - old.keys(), key=lambda i: new[i].name):
        out.append(make(ContainerAction.CREATE, new[cid]))
        if new[cid].running:
            out.append(make(ContainerAction.START, new[cid]))
    for cid in sorted(new.keys() & old.keys(), key=lambda i: new[i].name):
        then, now = old[cid], new[cid]
        if then.name != now.name:
            out.append(make(ContainerAction.RENAME, now, oldName=f"/{then.name}"))
        if now.running and not then.running:
            out.append(make(ContainerAction.START, now))
        elif then.running and not now.running:
            out.append(make(ContainerAction.DIE, now))
    for cid in sorted(old.keys() - new.keys(), key=lambda i: old[i].name):
        out.append(make(ContainerAction.DESTROY, old[cid]))
    return out


def service_differences(
    node: str,
    old: Mapping[str, CachedService],
    new: Mapping[str, CachedService],
    time_nano: int,
) -> list[Event]:
    """Synthesized service events taking ``old`` to ``new``: create, update (another
    version), remove."""
    out: list[Event] = []

    def make(action: ServiceAction, s: CachedService, **extra: str) -> None:
        attributes = {"name": s.name, **extra}
        out.append(
            _synthesized(ServiceEvent, action, s.id, attributes, EventScope.SWARM, node, time_nano)
        )

    for sid in sorted(new.keys() - old.keys(), key=lambda i: new[i].name):
        make(ServiceAction.CREATE, new[sid])
    for sid in sorted(new.keys() & old.keys(), key=lambda i: new[i].name):
        then, now = old[sid], new[sid]
        if then.version != now.version and then.version:
            extra = {}
            if then.replicas != now.replicas and now.replicas is not None:
                extra = {"replicas.old": str(then.replicas or 0), "replicas.new": str(now.replicas)}
            if then.image != now.image and then.image:
                extra.update({"image.old": then.image, "image.new": now.image})
            make(ServiceAction.UPDATE, now, **extra)
    for sid in sorted(old.keys() - new.keys(), key=lambda i: old[i].name):
        make(ServiceAction.REMOVE, old[sid])
    return out


def node_differences(
    node: str,
    old: Mapping[str, CachedNode],
    new: Mapping[str, CachedNode],
    time_nano: int,
) -> list[Event]:
    """Synthesized node events taking ``old`` to ``new``: create, update (with the
    ``.old``/``.new`` attributes of what changed, as the engine writes them), remove."""
    out: list[Event] = []

    def make(action: NodeAction, n: CachedNode, **extra: str) -> None:
        attributes = {"name": n.name, **extra}
        out.append(
            _synthesized(NodeEvent, action, n.id, attributes, EventScope.SWARM, node, time_nano)
        )

    for nid in sorted(new.keys() - old.keys(), key=lambda i: new[i].name):
        make(NodeAction.CREATE, new[nid])
    for nid in sorted(new.keys() & old.keys(), key=lambda i: new[i].name):
        then, now = old[nid], new[nid]
        extra: dict[str, str] = {}
        for field in ("state", "availability", "role"):
            if getattr(then, field) != getattr(now, field) and getattr(then, field):
                extra[f"{field}.old"] = getattr(then, field)
                extra[f"{field}.new"] = getattr(now, field)
        if then.leader != now.leader:
            extra["leader.old"] = str(then.leader).lower()
            extra["leader.new"] = str(now.leader).lower()
        if extra:
            make(NodeAction.UPDATE, now, **extra)
    for nid in sorted(old.keys() - new.keys(), key=lambda i: old[i].name):
        make(NodeAction.REMOVE, old[nid])
    return out


def containers_by_id(containers: Iterable[Container], node: str) -> dict[str, CachedContainer]:
    """A node's listed containers, cached, by id."""
    return {c.id: container_of(c, node) for c in containers}
