"""The networks and endpoints of each node, as the watcher's events left them.

:class:`NetworkCache` is what users read; the mutable state behind it
(:class:`NodeState`, :class:`NetState`) is the watcher's alone. The functions below
apply an event the engine sent (:func:`apply_event`), tell whether a fresh read
already shows an event (:func:`already_there`), and describe the difference between
two views as synthesized events (:func:`differences`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from pydantic import Field

from swarmnet._core.errors import InvalidSpec
from swarmnet._core.models import EngineModel
from swarmnet._events.models import EventScope, NetworkAction, NetworkEvent

__all__ = ["CachedEndpoint", "CachedNetwork", "NetworkCache"]


class CachedEndpoint(EngineModel):
    """A container's endpoint on a network, as the engine last reported it.

    Attributes:
        container_id: the container's id.
        endpoint_id: the engine's id of the endpoint (a new one each time the
            container is attached, a daemon restart included).
        ipv4_address: its IPv4 address with prefix (``10.0.1.5/24``), ``""`` if none.
        ipv6_address: its IPv6 address with prefix, ``""`` if none.
    """

    container_id: str
    endpoint_id: str
    ipv4_address: str = ""
    ipv6_address: str = ""


class EndpointState(NamedTuple):
    """An endpoint as a read found it: compared as a whole to tell a re-attachment."""

    endpoint_id: str
    ipv4: str
    ipv6: str


class CachedNetwork(EngineModel):
    """A network as the watcher knows it on one node, kept current by events.

    Attributes:
        id: the network's id.
        name: its name.
        driver: ``bridge``, ``overlay``, … (``""`` when no event or read said).
        scope: ``local`` or ``swarm`` (overlays are swarm-scoped).
        node: the engine this view is from.
        containers: ids of the containers with an endpoint on it on that node (the
            engine's own sandbox endpoints on overlays, ``ingress-sbox``, ``lb-…`` and
            ``ep-…``, which come and go without events, are not listed).
        endpoints: those containers' endpoints by container id, for those read from
            the engine since they connected (events do not carry endpoints: the
            watcher reads a network shortly after a connect, see
            :attr:`ResyncSettings.endpoint_read_delay`).
    """

    id: str
    name: str
    driver: str = ""
    scope: str = ""
    node: str
    containers: frozenset[str] = frozenset()
    endpoints: Mapping[str, CachedEndpoint] = Field(default_factory=dict)


@dataclass(slots=True)
class NetState:
    """One network on one node: the watcher's mutable record behind a CachedNetwork.

    ``containers`` maps each attached container's id to its endpoint as last read,
    or ``None`` while only a connect event told of it.
    """

    name: str
    driver: str
    scope: str
    containers: dict[str, EndpointState | None] = field(default_factory=dict)


@dataclass(slots=True)
class NodeState:
    """Every network the watcher knows on one node."""

    nets: dict[str, NetState] = field(default_factory=dict)
    manager: bool = False
    synced: bool = False


class NetworkCache:
    """Networks and their endpoints per node, as the watcher's events left them.

    Kept current by the watcher (and re-read after events were lost), so controllers
    can ask without calling the engine. Every answer is an immutable snapshot.

    Example::

        for network in watcher.cache.networks(node="node1"):
            print(network.name, len(network.containers))
    """

    def __init__(self) -> None:
        self._nodes: dict[str, NodeState] = {}

    def _node(self, node: str) -> NodeState:
        state = self._nodes.get(node)
        if state is None:
            state = self._nodes[node] = NodeState()
        return state

    def nodes(self) -> tuple[str, ...]:
        """The nodes the cache holds a view of."""
        return tuple(self._nodes)

    def synced(self, node: str) -> bool:
        """Whether the node's networks were read at least once."""
        state = self._nodes.get(node)
        return state is not None and state.synced

    def networks(self, node: str | None = None) -> list[CachedNetwork]:
        """Every network on ``node`` (on every node when ``None``), sorted by node, name."""
        names = [node] if node is not None else sorted(self._nodes)
        out: list[CachedNetwork] = []
        for name in names:
            state = self._nodes.get(name)
            if state is None:
                continue
            out.extend(snapshot(name, nid, net) for nid, net in state.nets.items())
        out.sort(key=lambda n: (n.node, n.name, n.id))
        return out

    def get(self, network: str, *, node: str) -> CachedNetwork | None:
        """The network with that id, id prefix (12+ characters) or name on ``node``.

        Raises:
            InvalidSpec: the name is shared by several networks on that node (ask by id).
        """
        state = self._nodes.get(node)
        if state is None:
            return None
        net = state.nets.get(network)
        if net is not None:
            return snapshot(node, network, net)
        found = [
            (nid, n)
            for nid, n in state.nets.items()
            if n.name == network or (len(network) >= 12 and nid.startswith(network))
        ]
        if len(found) > 1:
            raise InvalidSpec(
                f"{len(found)} networks on {node} match {network!r}; ask by id "
                f"({', '.join(nid[:12] for nid, _ in found)})"
            )
        return snapshot(node, *found[0]) if found else None

    def containers(self, network: str, *, node: str) -> frozenset[str]:
        """Ids of the containers attached to ``network`` on ``node`` (empty if unknown)."""
        found = self.get(network, node=node)
        return found.containers if found is not None else frozenset()

    def addresses(self, node: str) -> dict[str, dict[str, str]]:
        """Each container's IPv4 addresses on ``node``: container id to network name to
        address with prefix, for the endpoints read since they connected."""
        out: dict[str, dict[str, str]] = {}
        state = self._nodes.get(node)
        for net in state.nets.values() if state is not None else ():
            for container, endpoint in net.containers.items():
                if endpoint is not None and endpoint.ipv4:
                    out.setdefault(container, {})[net.name] = endpoint.ipv4
        return out


def snapshot(node: str, network_id: str, net: NetState) -> CachedNetwork:
    """The immutable view of a network users get."""
    return CachedNetwork(
        id=network_id,
        name=net.name,
        driver=net.driver,
        scope=net.scope,
        node=node,
        containers=frozenset(net.containers),
        endpoints={
            container: CachedEndpoint(
                container_id=container,
                endpoint_id=endpoint.endpoint_id,
                ipv4_address=endpoint.ipv4,
                ipv6_address=endpoint.ipv6,
            )
            for container, endpoint in net.containers.items()
            if endpoint is not None
        },
    )


# The actions as module constants: reading a member off an Enum class goes through the
# enum machinery (about 70 ns each on 3.11), and these are compared for every event.
_CREATE = NetworkAction.CREATE
_DESTROY = NetworkAction.DESTROY
_CONNECT = NetworkAction.CONNECT
_DISCONNECT = NetworkAction.DISCONNECT
_REMOVE = NetworkAction.REMOVE
_UPDATE = NetworkAction.UPDATE


def apply_event(state: NodeState, event: NetworkEvent) -> None:
    """Apply an event the engine sent to the node's cached networks."""
    fields = event.__dict__  # read once, not per property (see Watcher._apply)
    action = fields["action"]
    network_id: str = fields["actor_id"]
    attributes: Mapping[str, str] = fields["attributes"]
    nets = state.nets
    net = nets.get(network_id)
    if action is _CREATE:
        if net is None:
            nets[network_id] = new_net(event)
        else:
            driver = attributes.get("type")
            if driver and not net.driver:
                net.driver = driver
    elif action is _DESTROY:
        if net is not None:
            # A manager keeps listing a swarm network its last local endpoint left.
            if net.scope == "swarm" and state.manager:
                net.containers.clear()
            else:
                del nets[network_id]
    elif action is _CONNECT:
        if net is None:
            net = nets[network_id] = new_net(event)
        container = attributes.get("container")
        if container:
            net.containers[container] = None  # the endpoint is unknown until read
    elif action is _DISCONNECT:
        container = attributes.get("container")
        if net is not None and container:
            net.containers.pop(container, None)
    elif action is _REMOVE:
        nets.pop(network_id, None)
    elif action is _UPDATE:
        name = attributes.get("name", "")
        if name and net is not None:
            net.name = name


def new_net(event: NetworkEvent) -> NetState:
    """The record of a network first heard of by ``event``."""
    fields = event.__dict__
    attributes: Mapping[str, str] = fields["attributes"]
    driver = attributes.get("type") or ""
    scope = "swarm" if fields["scope"] == "swarm" or driver == "overlay" else "local"
    return NetState(attributes.get("name", ""), driver, scope, {})


def already_there(state: NodeState, event: NetworkEvent) -> bool:
    """Whether a freshly read state already shows what this event did."""
    net = state.nets.get(event.network_id)
    action = event.action
    if action is NetworkAction.CREATE:
        return net is not None
    if action is NetworkAction.CONNECT:
        return net is not None and event.container_id in net.containers
    if action is NetworkAction.DISCONNECT:
        return net is None or event.container_id not in net.containers
    if action is NetworkAction.DESTROY:
        return net is None or (net.scope == "swarm" and state.manager and not net.containers)
    if action is NetworkAction.REMOVE:
        return net is None
    return False


def default_bridge_remade(old: Mapping[str, NetState], new: Mapping[str, NetState]) -> bool:
    """Whether the engine's default ``bridge`` network has another id in ``new``.

    A daemon without live-restore deletes and re-makes it at every start, and re-makes
    the endpoint of every container it restarts: so between the two views the daemon
    restarted (checked on the lab: kill -9 or restart, a new id each time).
    """

    def default_bridges(view: Mapping[str, NetState]) -> set[str]:
        return {i for i, n in view.items() if n.name == "bridge" and n.driver == "bridge"}

    before, after = default_bridges(old), default_bridges(new)
    return bool(before) and bool(after) and before.isdisjoint(after)


def differences(
    node: str,
    old: Mapping[str, NetState],
    new: Mapping[str, NetState],
    time_nano: int,
    *,
    restarted: bool = False,
) -> list[NetworkEvent]:
    """Synthesized events that take a view from ``old`` to ``new``: creates,
    re-attachments, connects, disconnects, destroys, in that order. They describe the
    node's local view, so their scope is ``local``.

    A container attached in both views whose endpoint changed (another endpoint id or
    address: the engine re-attached it, a daemon restart does so for every container
    it restarts) gets a disconnect and then a connect, so a callback that set
    something up for the old endpoint hears of the new one. An endpoint ``old`` never
    read (known from a connect event only) cannot be compared: it is taken as changed
    when the daemon ``restarted`` in between (every endpoint it kept is a new one; see
    :func:`default_bridge_remade`), else as the same.
    """

    def make(
        action: NetworkAction, network_id: str, net: NetState, container: str | None = None
    ) -> NetworkEvent:
        return NetworkEvent.synthesize(
            action,
            network_id=network_id,
            name=net.name,
            driver=net.driver or None,
            scope=EventScope.LOCAL,
            node=node,
            time_nano=time_nano,
            container_id=container,
        )

    creates: list[NetworkEvent] = []
    reattached: list[NetworkEvent] = []
    connects: list[NetworkEvent] = []
    disconnects: list[NetworkEvent] = []
    destroys: list[NetworkEvent] = []
    for network_id, net in new.items():
        before = old.get(network_id)
        if before is None:
            creates.append(make(NetworkAction.CREATE, network_id, net))
            connects.extend(
                make(NetworkAction.CONNECT, network_id, net, c) for c in sorted(net.containers)
            )
            continue
        now, then = net.containers, before.containers
        for container in sorted(now.keys() & then.keys()):
            was, endpoint = then[container], now[container]
            if endpoint is not None and (was != endpoint if was is not None else restarted):
                reattached.append(make(NetworkAction.DISCONNECT, network_id, before, container))
                reattached.append(make(NetworkAction.CONNECT, network_id, net, container))
        connects.extend(
            make(NetworkAction.CONNECT, network_id, net, c) for c in sorted(now.keys() - then)
        )
        disconnects.extend(
            make(NetworkAction.DISCONNECT, network_id, net, c) for c in sorted(then.keys() - now)
        )
    for network_id, before in old.items():
        if network_id not in new:
            disconnects.extend(
                make(NetworkAction.DISCONNECT, network_id, before, c)
                for c in sorted(before.containers)
            )
            destroys.append(make(NetworkAction.DESTROY, network_id, before))
    return creates + reattached + connects + disconnects + destroys
