"""Engine events to user callbacks: typed, ordered, resumable, cluster-wide.

A :class:`Watcher` follows the network events (and the container, service and node
events its handlers ask for) of one engine or many (every node of a swarm) and calls
the callbacks registered on it. Its pieces, from the socket up:

- one :class:`~swarmnet._events.Feed` per engine reads, frames and parses events into
  a bounded buffer, reconnects with jittered backoff, resumes with ``since=``, skips
  what the engine resends, and reports events lost while away as a gap;
- one pump per engine takes the feed's batches, keeps the :class:`NetworkCache` of
  that node current, answers a gap by re-reading the node's networks and delivering
  the difference as synthesized events (re-attached containers included), and hands
  each event to every matching handler (swarm-scope events that several managers
  report go out once);
- beside each pump, a sweep lists the node's networks now and then (the engine makes
  a few without events), and an endpoint reader reads the networks connect events
  touched, so the cache knows each endpoint's id and addresses;
- one runner per handler (:mod:`~swarmnet._events.watcher.handlers`) holds a bounded
  buffer of events per network and a fixed pool of worker tasks: events of one network
  reach the callback in engine order, different networks run concurrently up to
  ``settings.dispatch.concurrency``.

Everything runs in task groups the watcher owns; nothing is spawned per event. The
watcher is a program over the capability APIs: it reads the engine through
``engine.networks`` and ``engine.info()``, and names no HTTP path.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup, TaskStatus

from swarmnet._core.concurrency import close_background, open_background
from swarmnet._core.engine import Engine
from swarmnet._core.errors import EngineError, InvalidSpec, NotFound, SwarmnetError
from swarmnet._core.log import get_logger
from swarmnet._events.models import (
    ContainerAction,
    Event,
    EventScope,
    EventType,
    NetworkAction,
    NetworkEvent,
    NodeAction,
    NodeEvent,
    ServiceAction,
    ServiceEvent,
)
from swarmnet._events.stream import (
    EventFilters,
    Feed,
    Gap,
    StreamStats,
    Subscribed,
    _Failed,
)
from swarmnet._events.watcher import objects as _objects
from swarmnet._events.watcher.cache import (
    EndpointState,
    NetState,
    NetworkCache,
    already_there,
    apply_event,
    default_bridge_remade,
    differences,
    new_net,
)
from swarmnet._events.watcher.handlers import C, Callback, Handler, HandlerRunner, make_handler
from swarmnet._events.watcher.objects import ObjectCache
from swarmnet._events.watcher.settings import WatcherSettings
from swarmnet._events.watcher.stats import NodeStats, WatcherStats

__all__ = ["Watcher"]

_log = get_logger("swarmnet.watcher")
_NS = 1_000_000_000

# Read once here: an Enum member read off its class (and its ``value``) goes through
# the enum machinery, about 0.1 us each, and these are read for every batch of events.
_CONNECT = NetworkAction.CONNECT
_DISCONNECT = NetworkAction.DISCONNECT
_CREATE = NetworkAction.CREATE
_DESTROY = NetworkAction.DESTROY
_CONTAINER = EventType.CONTAINER.value

_Action = NetworkAction | ContainerAction | ServiceAction | NodeAction | str
ActionFilter = _Action | Iterable[_Action] | None


# -- one engine ------------------------------------------------------------------------------


class _Node:
    """What the watcher keeps for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.name = engine.name
        self.feed: Feed | None = None
        self.attempted = anyio.Event()  # the first connection attempt is over
        self.synced = anyio.Event()  # networks read at least once
        self.needs_resync = False
        self.busy = False  # the pump is applying or dispatching something
        self.fence_nano = 0  # events up to here may already be in the re-read state
        # Networks a connect event touched since they were last read: their new
        # endpoints are read (ids, addresses) so a later re-read can tell a re-attachment.
        self.unread: set[str] = set()
        self.unread_added = anyio.Event()
        # The feed's connection the last re-read was made on (0: none yet).
        self.resynced_connection = 0
        # Services and nodes an event changed in ways it does not tell (labels,
        # networks): read back from this manager shortly after.
        self.dirty: set[tuple[str, str]] = set()
        self.dirty_added = anyio.Event()
        self.resyncs = 0
        self.synthesized = 0
        self.suppressed = 0
        self.swarm_duplicates = 0
        self.dispatched = 0
        self.failed: BaseException | None = None
        self.log = _log.bind(engine=self.name)

    def stats(self) -> NodeStats:
        """The node's feed counters and re-read counters now."""
        base = self.feed.snapshot() if self.feed is not None else StreamStats(node=self.name)
        return NodeStats(
            **base.model_dump(),
            synced=self.synced.is_set(),
            resyncs=self.resyncs,
            synthesized=self.synthesized,
            suppressed=self.suppressed,
            swarm_duplicates=self.swarm_duplicates,
            dispatched=self.dispatched,
        )


# Containers are keyed by their id; the engine's own sandboxes on overlays
# (``ingress-sbox``, ``lb-…``, ``ep-…``) come and go without events and are left out.
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_ObjectsRead = tuple[
    "dict[str, _objects.CachedContainer] | None",
    "dict[str, _objects.CachedService] | None",
    "dict[str, _objects.CachedNode] | None",
]


# -- the watcher ---------------------------------------------------------------------------


class Watcher:
    """Follows the network events of one engine or many and calls your callbacks;
    container, service and node events too, for handlers registered with ``type=``.

    Register callbacks with :meth:`on` (a decorator) or :meth:`add`, then run the
    watcher with ``async with`` or in your own task group (``await tg.start(watcher.run)``).
    Callbacks may be sync or async; each is called as ``fn(event, attempt=…,
    watcher=…)`` and should take ``**kwargs`` so arguments added later never break it::

        async with swarmnet.Engine(name="node1") as engine:
            watcher = swarmnet.Watcher(engine)

            @watcher.on("connect", driver="overlay")
            async def joined(event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
                print(f"{event.container_id[:12]} joined {event.name} on {event.node}")

            async with watcher:            # returns once subscribed and synced
                await anyio.sleep_forever()

    What it promises:

    - events of one network reach a callback in the order the engine sent them;
      different networks run concurrently (``settings.dispatch.concurrency``);
    - a callback that raises is logged (``events.callback_failed``) and counted; the
      others go on. Raising :class:`Retry` calls it again with the same event after a
      delay (``settings.retry``); cancellation always propagates;
    - memory is bounded: a buffer per engine and per callback, with a policy for a
      full one (:class:`Overflow`);
    - a lost connection or a restarted daemon is followed again (jittered backoff),
      resumed from the last event seen, and no event is delivered twice; events the
      engine could not replay are detected, the node's networks re-read, and the
      difference delivered as events with ``synthesized=True``;
    - over several engines (all nodes of a swarm) each is followed on its own and its
      events carry its :attr:`~swarmnet.Engine.name` in ``event.node``; a node that
      goes away does not stop the others and is followed again when it returns;
      swarm-scope events that several managers report are delivered once;
    - :attr:`cache` holds every node's networks and endpoints, kept current;
      :attr:`objects` the containers, services and nodes of the types followed (re-read
      after lost events too, the difference delivered as synthesized typed events).

    Args:
        engines: open :class:`swarmnet.Engine` objects with distinct names. The
            watcher never closes them.
        settings: a :class:`WatcherSettings`.

    Raises:
        InvalidSpec: no engine, or two engines with the same name.
    """

    def __init__(self, *engines: Engine, settings: WatcherSettings | None = None) -> None:
        if not engines:
            raise InvalidSpec("a Watcher needs at least one engine")
        names = [engine.name for engine in engines]
        if len(set(names)) != len(names):
            raise InvalidSpec(
                f"engines must have distinct names (events are tagged with them): {names}; "
                "pass name=… to swarmnet.Engine"
            )
        self.settings = settings or WatcherSettings()
        self._nodes = {engine.name: _Node(engine) for engine in engines}
        self._runners: list[HandlerRunner] = []
        self._cache = NetworkCache()
        self._objects = ObjectCache(network_ids=self._network_ids, addresses=self._cache.addresses)
        # (type, action, object id) -> [times delivered, {node: times reported}]
        self._swarm_reports: OrderedDict[tuple[str, str, str], list[Any]] = OrderedDict()
        self._other_types: frozenset[str] = frozenset()  # followed, besides networks
        self._task_group: TaskGroup | None = None
        self._followed: frozenset[str] | None = None  # set while running
        self._stopping = anyio.Event()
        self._running = False
        self._context_group: TaskGroup | None = None
        self.log = _log.bind(engines=names)

    def __repr__(self) -> str:
        state = "running" if self._running else "idle"
        return f"<Watcher {list(self._nodes)} {state} handlers={len(self._runners)}>"

    # -- registration -------------------------------------------------------------------

    def on(
        self,
        action: ActionFilter = None,
        *,
        type: EventType | str | Iterable[EventType | str] | None = None,
        network: str | Iterable[str] | None = None,
        driver: str | Iterable[str] | None = None,
        scope: EventScope | str | Iterable[EventScope | str] | None = None,
        container: str | Iterable[str] | None = None,
        node: str | Iterable[str] | None = None,
        synthesized: bool | None = None,
        thread: bool = False,
        name: str | None = None,
    ) -> Callable[[C], C]:
        """Register the decorated function as a callback; it is returned unchanged.

        Every filter takes one value or several; leave it out to match everything.
        See :class:`Handler` for what each matches. ``type`` picks the event types
        (``network``, the default, ``container``, ``service``, ``node``): the
        callback then gets :class:`swarmnet.models.NetworkEvent`, or
        ``swarmnet.models.ContainerEvent``, ``ServiceEvent``, ``NodeEvent``.

        Example::

            @watcher.on(["create", "destroy"], driver="bridge", node="node1")
            def log_bridges(event, **kwargs):
                print(event.action, event.name)

            @watcher.on("update", type="node")
            def node_changed(event: NodeEvent, **kwargs):
                if event.state == "down":
                    print(f"{event.name} went down")

        Raises:
            InvalidSpec: a filter that could never match, at once (not when the
                decorated function is given); a type the running watcher does not
                follow (register every type before it runs).
        """
        # Check the filters now, where the mistake is written, not at decoration.
        self._check_followed(
            make_handler(
                _no_op,
                engines=self._nodes,
                type=type,
                action=action,
                network=network,
                driver=driver,
                scope=scope,
                container=container,
                node=node,
                synthesized=synthesized,
            )
        )

        def register(fn: C) -> C:
            self.add(
                fn,
                action,
                type=type,
                network=network,
                driver=driver,
                scope=scope,
                container=container,
                node=node,
                synthesized=synthesized,
                thread=thread,
                name=name,
            )
            return fn

        return register

    def add(
        self,
        fn: Callback,
        action: ActionFilter = None,
        *,
        type: EventType | str | Iterable[EventType | str] | None = None,
        network: str | Iterable[str] | None = None,
        driver: str | Iterable[str] | None = None,
        scope: EventScope | str | Iterable[EventScope | str] | None = None,
        container: str | Iterable[str] | None = None,
        node: str | Iterable[str] | None = None,
        synthesized: bool | None = None,
        thread: bool = False,
        name: str | None = None,
    ) -> Handler:
        """Register ``fn`` as a callback (the call form of :meth:`on`); returns its record.

        Raises:
            InvalidSpec: ``fn`` is not callable, a filter value is empty or unknown,
                ``thread=True`` for an async function, or a type the running watcher
                does not follow.
        """
        handler = make_handler(
            fn,
            engines=self._nodes,
            type=type,
            action=action,
            network=network,
            driver=driver,
            scope=scope,
            container=container,
            node=node,
            synthesized=synthesized,
            thread=thread,
            name=name,
        )
        self._check_followed(handler)
        runner = HandlerRunner(handler, self)
        self._runners.append(runner)
        if self._task_group is not None:
            runner.start(self._task_group)
        return handler

    def _check_followed(self, handler: Handler) -> None:
        followed = self._followed
        if followed is not None and not handler.types <= followed:
            # The engines' streams were opened for the types wanted then.
            raise InvalidSpec(
                f"this watcher runs and follows {sorted(followed)} events; register "
                f"handlers for {sorted(handler.types - followed)} before it runs"
            )

    @property
    def types(self) -> frozenset[str]:
        """The event types followed: those the handlers want, and ``network`` always
        (network events keep :attr:`cache` and the containers' networks current)."""
        if self._followed is not None:
            return self._followed
        return frozenset({EventType.NETWORK.value}).union(*(r.types for r in self._runners))

    def remove(self, handler: Handler | Callback) -> None:
        """Unregister a handler (or every handler of a function); events queued for
        it are still delivered. Unknown handlers are ignored."""
        self._runners = [
            r for r in self._runners if r.handler is not handler and r.handler.fn is not handler
        ]

    @property
    def handlers(self) -> tuple[Handler, ...]:
        """The registered handlers, in registration order."""
        return tuple(r.handler for r in self._runners)

    # -- state -----------------------------------------------------------------------------

    @property
    def cache(self) -> NetworkCache:
        """Networks and endpoints per node, kept current by the events."""
        return self._cache

    @property
    def objects(self) -> ObjectCache:
        """Containers, services and swarm nodes, kept current by their events (for the
        types the handlers want: ``type="container"`` fills the containers, …)."""
        return self._objects

    def _network_ids(self, name: str) -> frozenset[str]:
        return frozenset(
            network_id
            for state in self._cache._nodes.values()
            for network_id, net in state.nets.items()
            if net.name == name
        )

    @property
    def engines(self) -> tuple[Engine, ...]:
        """The engines followed."""
        return tuple(node.engine for node in self._nodes.values())

    def stats(self) -> WatcherStats:
        """Statistics now: per node (received, reconnects, gaps, …), per callback
        (delivered, failed, dropped, queued, lag)."""
        return WatcherStats(
            nodes=tuple(node.stats() for node in self._nodes.values()),
            handlers=tuple(runner.stats() for runner in self._runners),
        )

    @property
    def subscribed(self) -> bool:
        """Whether every engine's stream was opened and its networks read (at least once)."""
        return all(node.synced.is_set() for node in self._nodes.values())

    async def wait_subscribed(self, node: str | None = None) -> None:
        """Wait until every engine (or the one named) is subscribed and its networks read.

        Raises:
            InvalidSpec: no engine of that name.
        """
        if node is not None:
            if node not in self._nodes:
                raise InvalidSpec(f"no engine named {node!r} in this watcher")
            await self._nodes[node].synced.wait()
            return
        for each in self._nodes.values():
            await each.synced.wait()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Watcher:
        self._context_group = await open_background(self.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        task_group, self._context_group = self._context_group, None
        if task_group is not None:
            self.stop()  # lets queued events finish (stop_grace), unless the body failed
            await close_background(task_group, cancel=exc is not None)
        return None

    def stop(self) -> None:
        """Ask a running watcher to stop: streams close, queued events get
        ``settings.stop_grace`` seconds to reach their callbacks, then :meth:`run` returns.
        Nothing outside the watcher is cancelled."""
        self._stopping.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until :meth:`stop` (or cancellation). With ``await tg.start(watcher.run)``
        it returns from ``start`` once every engine was tried, and every reachable one is
        subscribed and its networks read.

        Raises:
            SwarmnetError: the watcher is already running, or was stopped (make a new one).
        """
        if self._running or self._stopping.is_set():
            raise SwarmnetError("a Watcher runs once; make a new one")
        for node in self._nodes.values():
            node.engine._require_open()
        self._running = True
        self._followed = self.types
        self._other_types = self._followed - {EventType.NETWORK.value}
        try:
            async with anyio.create_task_group() as task_group:
                self._task_group = task_group
                for runner in self._runners:
                    runner.start(task_group)
                async with anyio.create_task_group() as feeds:
                    for node in self._nodes.values():
                        feed = self._feed_for(node)
                        feeds.start_soon(self._follow, node, feed)
                    for node in self._nodes.values():
                        # Up once every engine was tried: a dead one does not hold the
                        # others back (it is followed as soon as it answers).
                        await node.attempted.wait()
                        if node.feed is not None and node.feed.snapshot().connected:
                            with anyio.move_on_after(self.settings.resync.timeout):
                                await node.synced.wait()
                    self.log.info("events.watching", subscribed=self.subscribed)
                    task_status.started()
                    await self._stopping.wait()
                    feeds.cancel_scope.cancel()
                with anyio.move_on_after(self.settings.stop_grace):
                    for runner in self._runners:
                        await runner.drained()
                task_group.cancel_scope.cancel()
        finally:
            self._task_group = None
            self._followed = None
            self._running = False
            self._stopping.set()
            self.log.info("events.stopped")

    # -- per engine --------------------------------------------------------------------------

    def _feed_for(self, node: _Node) -> Feed:
        settings = self.settings
        feed = Feed(
            node.engine,
            EventFilters(types=self.types),
            reconnect=settings.reconnect,
            buffer_bytes=settings.feed_buffer_bytes,
            stall=settings.feed_stall,
        )
        node.feed = feed
        node.attempted = feed.attempted
        return feed

    async def _follow(self, node: _Node, feed: Feed) -> None:
        interval = self.settings.resync.sweep_interval
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(self._run_feed, node, feed)
            async with anyio.create_task_group() as sweeping:
                if interval is not None:
                    sweeping.start_soon(self._sweep, node, interval)
                delay = self.settings.resync.endpoint_read_delay
                if delay is not None:
                    sweeping.start_soon(self._read_endpoints, node, delay)
                    if self._other_types & {EventType.SERVICE.value, EventType.NODE.value}:
                        sweeping.start_soon(self._read_dirty, node, delay)
                await self._pump(node, feed)
                sweeping.cancel_scope.cancel()  # the feed ended for good: so does sweeping

    async def _run_feed(self, node: _Node, feed: Feed) -> None:
        try:
            await feed.run()
        except EngineError as exc:
            # Only refusals that retrying cannot fix end up here (or reconnect=False).
            node.failed = exc
            node.log.error("events.node_failed", error=str(exc))

    async def _pump(self, node: _Node, feed: Feed) -> None:
        while True:
            try:
                item = await feed.receive()
            except anyio.EndOfStream:
                return
            node.busy = True  # see _sweep(): the cache is not up to date while busy
            if isinstance(item, list):
                await self._apply(node, item)
                # Let the workers take this batch while it is fresh, instead of parsing
                # on and on: short queues keep the working set (and the lag) small.
                await anyio.lowlevel.checkpoint()
            elif isinstance(item, Subscribed):
                # The first subscription reads the networks; later ones only when a
                # re-read failed before (a gap, if any, follows as its own item).
                if node.needs_resync or not node.synced.is_set():
                    await self._resync(node, initial=not node.synced.is_set())
            elif isinstance(item, Gap):
                await self._resync(node, initial=False)
            elif isinstance(item, _Failed):
                node.failed = item.error
                node.log.error("events.node_failed", error=str(item.error))
            node.busy = False

    async def _apply(self, node: _Node, batch: list[Any]) -> None:
        state = self._cache._node(node.name)
        nets = state.nets
        fence = node.fence_nano
        wanted: list[NetworkEvent] = []
        keep = wanted.append
        connect, disconnect, create, destroy = _CONNECT, _DISCONNECT, _CREATE, _DESTROY
        unread = node.unread
        connected = len(unread)
        suppressed = 0
        others: dict[str, list[Event]] = {}
        objects = self._objects
        for event in batch:
            # The fields read straight from the model's dict: this runs for every event,
            # and pydantic models define __getattr__, which slows every attribute read.
            fields = event.__dict__
            action = fields["action"]
            if action is connect or action is disconnect:
                # (Only a NetworkEvent's action is a NetworkAction member: the other
                # models' actions are their own enums or plain strings.)
                # The hot path, inline. The engine reports some changes twice (every
                # disconnect, on 20.10): an endpoint change the cache already shows is
                # a repeat, not news. (actor_id and attributes are the fields
                # network_id and container_id read from.)
                network_id = fields["actor_id"]
                net = nets.get(network_id)
                container = fields["attributes"].get("container")
                if action is connect:
                    if net is None:
                        net = nets[network_id] = new_net(event)
                    elif container in net.containers:
                        suppressed += 1
                        continue
                    if container:
                        net.containers[container] = None  # its endpoint: read later
                        unread.add(network_id)
                else:
                    if net is None or container not in net.containers:
                        suppressed += 1
                        continue
                    del net.containers[container]
            elif not isinstance(event, NetworkEvent):
                # Containers, services, nodes: swarm-scope repeats dropped (every
                # manager reports each service and node event), then as networks.
                kind = event.type
                if kind not in self._other_types:
                    continue
                if event.scope == "swarm" and not self._first_report(node.name, event):
                    node.swarm_duplicates += 1
                    continue
                if fence:
                    if event.time_nano > fence:
                        node.fence_nano = fence = 0
                    elif _objects.already_there(objects, event):
                        suppressed += 1
                        continue
                _objects.apply(objects, event)
                if isinstance(event, (ServiceEvent, NodeEvent)) and event.action != "remove":
                    node.dirty.add((kind, event.actor_id))
                others.setdefault(kind, []).append(event)
                continue
            else:
                if fence:
                    if fields["time_nano"] > fence:
                        node.fence_nano = fence = 0
                    elif already_there(state, event):
                        suppressed += 1
                        continue
                # A network's arrival and departure, the next most common, inline too.
                network_id = fields["actor_id"]
                net = nets.get(network_id)
                if action is create and net is None:
                    nets[network_id] = new_net(event)
                elif action is destroy and net is not None and net.scope != "swarm":
                    del nets[network_id]
                else:
                    apply_event(state, event)
                if fields["scope"] == "swarm" and not self._first_report(node.name, event):
                    node.swarm_duplicates += 1
                    continue
            keep(event)
        node.suppressed += suppressed
        if len(unread) != connected:
            node.unread_added.set()
        if node.dirty:
            node.dirty_added.set()
        if _CONTAINER in self._other_types:
            # The containers' networks, from the connects and disconnects.
            for event in wanted:
                _objects.apply(objects, event)
        node.dispatched += len(wanted)
        await self._dispatch(wanted)
        for kind, events in others.items():
            node.dispatched += len(events)
            await self._dispatch(events, kind)

    async def _dispatch(self, events: list[Any], kind: str = EventType.NETWORK.value) -> None:
        """Hand events (all of type ``kind``) to every handler that wants them, waiting
        where a buffer is full."""
        if not events:
            return
        for runner in self._runners:
            if kind not in runner.types:
                continue
            done = runner.offer(events)
            while done < len(events):
                await runner.room()
                done += runner.offer(events, done)

    def _first_report(self, node: str, event: Event) -> bool:
        """Whether this swarm-scope event is news (each manager reports the cluster's)."""
        key = (str(event.type), str(event.action), event.actor_id)
        reports = self._swarm_reports
        record = reports.get(key)
        if record is None:
            record = reports[key] = [0, {}]
            if len(reports) > 4096:
                reports.popitem(last=False)
        else:
            reports.move_to_end(key)
        seen: dict[str, int] = record[1]
        count = seen.get(node, 0) + 1
        seen[node] = count
        if count > record[0]:
            record[0] = count
            return True
        return False

    async def _resync(self, node: _Node, *, initial: bool) -> None:
        """Re-read the node's networks; deliver what changed as synthesized events."""
        connection = node.feed.current_connection if node.feed is not None else None
        try:
            with anyio.fail_after(self.settings.resync.timeout):
                fresh, manager, fence = await self._read_networks(node)
                read = await self._read_objects(node, manager)
        except (EngineError, TimeoutError) as exc:
            node.needs_resync = True
            node.log.warning("events.resync_failed", error=str(exc))
            return
        state = self._cache._node(node.name)
        announce = not initial or self.settings.resync.initial_events
        restarted = not initial and default_bridge_remade(state.nets, fresh)
        events = (
            differences(node.name, state.nets, fresh, fence, restarted=restarted)
            if announce
            else []
        )
        typed = self._refresh_objects(node.name, read, fence, announce)
        state.nets = fresh
        node.unread.clear()  # every endpoint was just read
        if connection is not None:
            node.resynced_connection = connection[0]
        state.manager = manager
        state.synced = True
        node.fence_nano = fence
        node.needs_resync = False
        if not initial:
            node.resyncs += 1
            # The node missed swarm-scope reports while away: count it level with the
            # others so the next report it sends is compared with the right number.
            for delivered, seen in self._swarm_reports.values():
                if seen.get(node.name, 0) < delivered:
                    seen[node.name] = delivered
        node.synthesized += len(events) + sum(len(group) for group in typed.values())
        node.log.info(
            "events.resynced" if not initial else "events.synced",
            networks=len(fresh),
            synthesized=len(events),
            **{kind: len(group) for kind, group in typed.items()},
        )
        node.synced.set()
        await self._dispatch(events)
        for kind, group in typed.items():
            await self._dispatch(group, kind)

    async def _read_objects(self, node: _Node, manager: bool) -> _ObjectsRead:
        """The node's containers, and (on a manager) the swarm's services and nodes, for
        the types followed; None for those not read."""
        engine = node.engine
        types = self._other_types
        containers = services = nodes = None
        if EventType.CONTAINER.value in types:
            listed = await engine.containers.list(all=True)
            containers = _objects.containers_by_id(listed, node.name)
        if manager and EventType.SERVICE.value in types:
            services = {s.id: _objects.service_of(s) for s in await engine.services.list()}
        if manager and EventType.NODE.value in types:
            nodes = {n.id: _objects.node_of(n) for n in await engine.nodes.list()}
        return containers, services, nodes

    def _refresh_objects(
        self, node: str, read: _ObjectsRead, fence: int, announce: bool
    ) -> dict[str, list[Event]]:
        """Put a re-read in the object cache; the differences as synthesized events."""
        objects = self._objects
        containers, services, nodes = read
        out: dict[str, list[Event]] = {}
        if containers is not None:
            old_containers = objects._containers.get(node, {})
            if announce:
                out["container"] = _objects.container_differences(
                    node, old_containers, containers, fence
                )
            objects._containers[node] = containers
        if services is not None:
            if announce:
                out["service"] = _objects.service_differences(
                    node, objects._services, services, fence
                )
            objects._services = services
        if nodes is not None:
            if announce:
                out["node"] = _objects.node_differences(node, objects._nodes, nodes, fence)
            objects._nodes = nodes
        return {kind: group for kind, group in out.items() if group}

    async def _read_dirty(self, node: _Node, delay: float) -> None:
        """Read back the services and nodes this manager's events changed, ``delay``
        after: their events do not carry labels or networks."""
        engine = node.engine
        while True:
            await node.dirty_added.wait()
            node.dirty_added = anyio.Event()
            await anyio.sleep(delay)
            batch, node.dirty = node.dirty, set()
            objects = self._objects
            for kind, object_id in sorted(batch):
                try:
                    with anyio.fail_after(self.settings.resync.timeout):
                        if kind == EventType.SERVICE.value:
                            service = await engine.services.get(object_id)
                            if object_id in objects._services:
                                objects._services[object_id] = _objects.service_of(service)
                        else:
                            found = await engine.nodes.get(object_id)
                            if object_id in objects._nodes:
                                objects._nodes[object_id] = _objects.node_of(found)
                except NotFound:
                    continue  # removed since: its remove event says so
                except (EngineError, TimeoutError) as exc:
                    node.log.debug("events.object_read_failed", error=str(exc))

    async def _sweep(self, node: _Node, interval: float) -> None:
        """Every ``interval``, list the node's networks; deliver lasting differences.

        Only which networks exist is compared (one list request): endpoints changes
        all come with events. A difference must be there on two sweeps in a row, and
        still be there once checked, before it counts.
        """
        suspects: set[tuple[str, str]] = set()
        while True:
            await anyio.sleep(interval)
            if not self._caught_up(node):
                # Events may be waiting to be applied: the cache is behind on purpose.
                suspects = set()
                continue
            try:
                listed = await node.engine.networks.list()
            except EngineError:
                continue  # the feed's own reconnecting deals with an absent engine
            if not self._caught_up(node):
                suspects = set()
                continue
            nets = self._cache._node(node.name).nets
            present = {network.id for network in listed}
            seen = {("new", i) for i in present - nets.keys()}
            seen |= {("gone", i) for i in nets.keys() - present}
            confirmed, suspects = seen & suspects, seen - suspects
            if not confirmed:
                continue
            try:
                with anyio.fail_after(self.settings.resync.timeout):
                    await self._settle(node, confirmed)
            except (EngineError, TimeoutError) as exc:
                node.log.warning("events.sweep_failed", error=str(exc))

    def _caught_up(self, node: _Node) -> bool:
        """Whether every event the node sent so far is in the cache (as far as we know:
        one on its way from the engine is why a difference must last two sweeps)."""
        feed = node.feed
        return (
            feed is not None
            and feed.caught_up()
            and not node.busy
            and node.synced.is_set()
            and not node.needs_resync
        )

    async def _settle(self, node: _Node, confirmed: set[tuple[str, str]]) -> None:
        """Bring the cache in line with networks that came or went without an event."""
        arrived = await self._inspect(node, [i for kind, i in confirmed if kind == "new"])
        nets = self._cache._node(node.name).nets
        # Events may have been applied while the inspections ran: only what is still
        # missing or still there counts.
        old = {i: nets[i] for kind, i in confirmed if kind == "gone" and i in nets}
        new = {i: net for i, net in arrived.items() if i not in nets}
        events = differences(node.name, old, new, time.time_ns())
        for network_id in old:
            del nets[network_id]
        nets.update(new)
        node.synthesized += len(events)
        node.log.info("events.swept", came=sorted(new), went=sorted(old))
        await self._dispatch(events)

    async def _read_endpoints(self, node: _Node, delay: float) -> None:
        """Read the endpoints of networks that connect events touched, ``delay`` after.

        Events name the container, not its endpoint; a re-read after a gap can only
        tell that the engine re-attached a container (a new endpoint, maybe a new
        address) if the old endpoint was read. One read per touched network and round,
        however many connects. A network touched again while being read is read again
        in the next round: its answer may predate the newest events.
        """
        while True:
            await node.unread_added.wait()
            node.unread_added = anyio.Event()
            await anyio.sleep(delay)
            batch, node.unread = node.unread, set()
            # Away, or back after a loss and not re-read yet: an answer now could come
            # from a restarted daemon, with the endpoints its restart re-made, and the
            # re-read would then see no re-attachment. Such reads wait (the re-read
            # reads every endpoint anyway), and one the stream broke during is dropped.
            settled = _settled_connection(node)
            read: dict[str, NetState] | None = None
            if settled is not None:
                try:
                    with anyio.fail_after(self.settings.resync.timeout):
                        read = await self._inspect(node, batch)
                except (EngineError, TimeoutError) as exc:
                    node.log.debug("events.endpoint_read_failed", error=str(exc))
            if read is None or _settled_connection(node) != settled:
                node.unread |= batch
                node.unread_added.set()
                continue
            nets = self._cache._node(node.name).nets
            for network_id, fresh in read.items():
                net = nets.get(network_id)
                if net is None or network_id in node.unread:
                    continue
                containers = net.containers
                for container, endpoint in fresh.containers.items():
                    # Only endpoints still unknown: one read since (a re-read) is newer.
                    if container in containers and containers[container] is None:
                        containers[container] = endpoint

    async def _inspect(self, node: _Node, network_ids: Iterable[str]) -> dict[str, NetState]:
        """The networks, as the cache keeps them (those removed meanwhile left out)."""
        networks = node.engine.networks
        found: dict[str, NetState] = {}
        limiter = anyio.CapacityLimiter(self.settings.resync.inspect_concurrency)

        failures: list[EngineError] = []

        async def inspect_one(network_id: str) -> None:
            async with limiter:
                try:
                    network = await networks.get(network_id)
                except NotFound:
                    return  # removed since it was listed
                except EngineError as exc:
                    # Kept, not raised in the group: the caller gets this error itself,
                    # not an exception group that would end the whole watcher.
                    failures.append(exc)
                    return
            found[network_id] = NetState(
                name=network.name,
                driver=network.driver,
                scope=network.scope.value,
                containers={
                    key: EndpointState(
                        endpoint.endpoint_id,
                        str(endpoint.ipv4_address or ""),
                        str(endpoint.ipv6_address or ""),
                    )
                    for key, endpoint in network.containers.items()
                    if _CONTAINER_ID.fullmatch(key)
                },
            )

        async with anyio.create_task_group() as task_group:
            for network_id in network_ids:
                task_group.start_soon(inspect_one, network_id)
        if failures:
            raise failures[0]
        return found

    async def _read_networks(self, node: _Node) -> tuple[dict[str, NetState], bool, int]:
        engine = node.engine
        listed = await engine.networks.list()
        fresh = await self._inspect(node, [network.id for network in listed])
        info = await engine.info()
        if info.system_time is not None and info.system_time.tzinfo is not None:
            # The engine sends nanoseconds, the model keeps microseconds: round up, so
            # that no event the read may show falls after the fence.
            since = info.system_time - _EPOCH
            fence = (since.days * 86_400 + since.seconds) * _NS + (since.microseconds + 1) * 1000
        else:
            fence = time.time_ns()
        return fresh, info.swarm.is_manager, fence


def _settled_connection(node: _Node) -> int | None:
    """The number of the node's open event stream if the cache describes the daemon
    behind it (no events lost before it, or re-read since); else None."""
    current = node.feed.current_connection if node.feed is not None else None
    if current is None:
        return None
    number, lost = current
    return None if lost and node.resynced_connection != number else number


def _no_op(event: object, **kwargs: object) -> None:
    """Stands in for a callback while :meth:`Watcher.on` checks its filters."""
