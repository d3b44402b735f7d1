"""Network events to user callbacks: typed, ordered, resumable, cluster-wide.

A :class:`Watcher` follows the network events of one engine or many (every node of a
swarm) and calls the callbacks registered on it. Its pieces, from the socket up:

- one :class:`~swarmnet._events.Feed` per engine reads, frames and parses events into
  a bounded buffer, reconnects with jittered backoff, resumes with ``since=``, skips
  what the engine resends, and reports events lost while away as a gap;
- one pump per engine takes the feed's batches, keeps the :class:`NetworkCache` of
  that node current, answers a gap by re-reading the node's networks and delivering
  the difference as synthesized events, and hands each event to every matching
  handler (swarm-scope events that several managers report go out once);
- one runner per handler holds a bounded buffer of events per network and a fixed
  pool of worker tasks: events of one network reach the callback in engine order,
  different networks run concurrently up to ``settings.dispatch.concurrency``.

Everything runs in task groups the watcher owns; nothing is spawned per event.
"""

from __future__ import annotations

import enum
import inspect
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup, TaskStatus
from pydantic import BaseModel, ConfigDict, Field

from swarmnet._core.engine import Engine
from swarmnet._core.errors import EngineError, InvalidSpec, NotFound, SwarmnetError
from swarmnet._core.log import get_logger
from swarmnet._core.models import EngineModel, Spec
from swarmnet._events.models import EventScope, NetworkAction, NetworkEvent
from swarmnet._events.stream import (
    EventFilters,
    Feed,
    Gap,
    ReconnectSettings,
    StreamStats,
    Subscribed,
    _Failed,
    close_background,
    open_background,
)

__all__ = [
    "CachedNetwork",
    "DispatchSettings",
    "Handler",
    "HandlerStats",
    "NetworkCache",
    "NodeStats",
    "Overflow",
    "ResyncSettings",
    "Retry",
    "RetrySettings",
    "Watcher",
    "WatcherSettings",
    "WatcherStats",
]

_log = get_logger("swarmnet.watcher")
_NS = 1_000_000_000

Callback = Callable[..., Any]
C = TypeVar("C", bound=Callback)


# -- settings ---------------------------------------------------------------------------


class Overflow(str, enum.Enum):
    """What a handler's full buffer does with one more event."""

    #: Hold the events back until the callback catches up. Nothing is dropped at the
    #: handler; if the wait outlasts the watcher's own buffer, the events lost there
    #: are detected as a gap and re-read.
    WAIT = "wait"
    #: Drop the oldest waiting event (counted in ``HandlerStats.dropped``).
    DROP_OLDEST = "drop_oldest"


class DispatchSettings(Spec):
    """How events reach callbacks.

    Attributes:
        concurrency: networks one callback may be busy with at once (events of one
            network always go one after another, in order).
        buffer: events that may wait for one callback.
        overflow: what a full buffer does (:class:`Overflow`).
    """

    concurrency: int = Field(16, ge=1, le=10_000)
    buffer: int = Field(10_000, ge=1)
    overflow: Overflow = Overflow.WAIT


class RetrySettings(Spec):
    """How a callback that raised :class:`Retry` is called again.

    Attributes:
        backoff: seconds to wait before the 1st, 2nd, … retry when :class:`Retry`
            names no delay; the last value repeats. Starts over for every event.
        max_attempts: calls of one callback for one event, the first included, before
            the event is given up on (logged as ``events.callback_gave_up``).
    """

    backoff: tuple[float, ...] = Field((0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0), min_length=1)
    max_attempts: int = Field(8, ge=1)

    def delay(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1-based)."""
        return self.backoff[min(retry, len(self.backoff)) - 1]


class ResyncSettings(Spec):
    """How a node's networks are re-read (on start, and after events were lost).

    Attributes:
        initial_events: on start, deliver what already exists (networks and their
            endpoints) as synthesized ``create``/``connect`` events; by default the
            cache is filled silently and only changes are delivered.
        inspect_concurrency: network inspections in flight at once per node.
        timeout: seconds a whole re-read may take before it is tried again later.
        sweep_interval: seconds between light re-reads of each node's network list
            (``None``: never). The engine makes and drops a few networks without any
            event (a node's ``docker_gwbridge`` as it joins a swarm, its ``ingress``
            as it leaves); a network that a sweep finds new or gone, and the next
            sweep still does, is delivered as a synthesized ``create`` or ``destroy``
            (two sweeps, so that an event on its way is not mistaken for a miss).
    """

    initial_events: bool = False
    inspect_concurrency: int = Field(8, ge=1)
    timeout: float = Field(60.0, gt=0)
    sweep_interval: float | None = Field(30.0, gt=0)


class WatcherSettings(Spec):
    """Every knob of a :class:`Watcher`, grouped (the defaults suit most uses).

    Attributes:
        reconnect: how lost streams are re-opened (:class:`swarmnet.ReconnectSettings`).
        dispatch: concurrency, buffers and overflow (:class:`DispatchSettings`).
        retry: retries of callbacks that raised :class:`Retry` (:class:`RetrySettings`).
        resync: re-reading networks (:class:`ResyncSettings`).
        feed_buffer_bytes: raw event data one engine's reader may hold while the
            callbacks are busy (an event is about 300 bytes); the reader never waits
            long for room (the engine would drop events silently), so falling this far
            behind is a gap, detected and re-read.
        feed_stall: seconds the reader may wait for room in that buffer before it
            drops a chunk. Keep it under the ~100 ms after which the engine drops events
            for a subscriber that stopped reading (silently, unlike a drop here).
        stop_grace: seconds a stopping watcher lets callbacks finish what is queued
            before cancelling them.

    Example::

        settings = WatcherSettings(
            dispatch=DispatchSettings(concurrency=4, overflow=Overflow.DROP_OLDEST),
            retry=RetrySettings(backoff=(1, 5, 30)),
        )
    """

    reconnect: ReconnectSettings = ReconnectSettings()
    dispatch: DispatchSettings = DispatchSettings()
    retry: RetrySettings = RetrySettings()
    resync: ResyncSettings = ResyncSettings()
    feed_buffer_bytes: int = Field(4 * 1024 * 1024, ge=4096)
    feed_stall: float = Field(0.05, ge=0)
    stop_grace: float = Field(5.0, ge=0)


# -- handlers ---------------------------------------------------------------------------


class Retry(Exception):
    """Raise from a callback to have the same event delivered to it again later.

    Args:
        message: why (logged).
        delay: seconds to wait; by default the next value of
            ``settings.retry.backoff``.

    Example::

        @watcher.on("connect")
        async def register(event, **kwargs):
            if not await registry.ready():
                raise swarmnet.Retry("registry not up yet", delay=2)
    """

    def __init__(self, message: str = "", *, delay: float | None = None) -> None:
        if delay is not None and delay < 0:
            raise InvalidSpec(f"a retry delay cannot be negative: {delay}")
        self.delay = delay
        super().__init__(message)


class Handler(BaseModel):
    """A registered callback and the events it wants (empty filters match everything).

    Made by :meth:`Watcher.on` / :meth:`Watcher.add`; immutable.

    Attributes:
        fn: the callback, called as ``fn(event, attempt=…, watcher=…)``.
        name: how logs and statistics name it (the function's qualified name).
        actions: :class:`NetworkAction` values (or newer action strings).
        networks: network names, ids or id prefixes (12 characters or more).
        drivers: network drivers (``bridge``, ``overlay``, …).
        scopes: ``local`` and/or ``swarm``.
        containers: container ids or id prefixes (connect/disconnect).
        nodes: engine names.
        synthesized: ``None`` for every event, ``True`` for synthesized ones only,
            ``False`` for those the engine sent only.
        thread: a sync callback runs in a worker thread instead of the event loop
            (sync callbacks run inline by default: keep them quick).
        is_async: the callback is a coroutine function (found when registered).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    fn: Callback
    name: str
    actions: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()
    drivers: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    containers: frozenset[str] = frozenset()
    nodes: frozenset[str] = frozenset()
    synthesized: bool | None = None
    thread: bool = False
    is_async: bool = False

    @property
    def filtered(self) -> bool:
        """Whether the handler wants only some events."""
        return bool(
            self.actions
            or self.networks
            or self.drivers
            or self.scopes
            or self.containers
            or self.nodes
            or self.synthesized is not None
        )

    def matches(self, event: NetworkEvent) -> bool:
        """Whether ``event`` is one this handler wants."""
        if self.actions and event.action not in self.actions:
            return False
        if self.scopes and event.scope not in self.scopes:
            return False
        if self.nodes and event.node not in self.nodes:
            return False
        if self.synthesized is not None and event.synthesized is not self.synthesized:
            return False
        if self.drivers and event.driver not in self.drivers:
            return False
        if self.networks and not any(_names_network(w, event) for w in self.networks):
            return False
        if self.containers:
            container = event.container_id
            if container is None or not any(container.startswith(c) for c in self.containers):
                return False
        return True


def _names_network(wanted: str, event: NetworkEvent) -> bool:
    return wanted in (event.name, event.network_id) or (
        len(wanted) >= 12 and event.network_id.startswith(wanted)
    )


def _strings(value: Any, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    items: Iterable[Any] = [value] if isinstance(value, (str, enum.Enum)) else value
    out: set[str] = set()
    for item in items:
        text = item.value if isinstance(item, enum.Enum) else item
        if not isinstance(text, str) or not text:
            raise InvalidSpec(f"{what}: expected non-empty strings, got {item!r}")
        out.add(text)
    return frozenset(out)


def _is_async(fn: Callback) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async __call__ of a callable object
    )


# -- the network cache ------------------------------------------------------------------


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
    """

    id: str
    name: str
    driver: str = ""
    scope: str = ""
    node: str
    containers: frozenset[str] = frozenset()


@dataclass
class _Net:
    name: str
    driver: str
    scope: str
    containers: set[str] = field(default_factory=set)


@dataclass
class _NodeCache:
    nets: dict[str, _Net] = field(default_factory=dict)
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
        self._nodes: dict[str, _NodeCache] = {}

    def _node(self, node: str) -> _NodeCache:
        state = self._nodes.get(node)
        if state is None:
            state = self._nodes[node] = _NodeCache()
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
            out.extend(_snapshot(name, nid, net) for nid, net in state.nets.items())
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
            return _snapshot(node, network, net)
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
        return _snapshot(node, *found[0]) if found else None

    def containers(self, network: str, *, node: str) -> frozenset[str]:
        """Ids of the containers attached to ``network`` on ``node`` (empty if unknown)."""
        found = self.get(network, node=node)
        return found.containers if found is not None else frozenset()


def _snapshot(node: str, network_id: str, net: _Net) -> CachedNetwork:
    return CachedNetwork(
        id=network_id,
        name=net.name,
        driver=net.driver,
        scope=net.scope,
        node=node,
        containers=frozenset(net.containers),
    )


# -- statistics -------------------------------------------------------------------------


class HandlerStats(EngineModel):
    """How one callback is doing.

    Attributes:
        name: the handler's name.
        delivered: events the callback returned from.
        failed: events it raised on (or gave up on after retries).
        retried: retries it asked for with :class:`Retry`.
        dropped: events dropped by :attr:`Overflow.DROP_OLDEST`.
        queued: events waiting for it now.
        lag_seconds: how far its newest finished event trails the newest event
            handed to it, on the engine's clock (0 when it has caught up).
        last_event_time_nano: time of the newest event it finished.
    """

    name: str
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    queued: int = 0
    lag_seconds: float = 0.0
    last_event_time_nano: int = 0


class NodeStats(StreamStats):
    """How one engine's stream is doing (see :class:`swarmnet.StreamStats`), plus:

    Attributes:
        synced: its networks were read at least once.
        resyncs: times its networks were re-read after a gap.
        synthesized: events made up by re-reads to describe changes not seen.
        suppressed: events the cache already reflected, not delivered: the engine's
            repeats (it reports every disconnect twice) and changes a re-read showed.
        swarm_duplicates: swarm-scope events another manager had reported already.
    """

    synced: bool = False
    resyncs: int = 0
    synthesized: int = 0
    suppressed: int = 0
    swarm_duplicates: int = 0


class WatcherStats(EngineModel):
    """A snapshot of a watcher's statistics (:meth:`Watcher.stats`)."""

    nodes: tuple[NodeStats, ...] = ()
    handlers: tuple[HandlerStats, ...] = ()

    @property
    def received(self) -> int:
        """Events received from every engine."""
        return sum(n.received for n in self.nodes)

    @property
    def delivered(self) -> int:
        """Callback calls that returned."""
        return sum(h.delivered for h in self.handlers)

    @property
    def dropped(self) -> int:
        """Events dropped anywhere (feed overflow and handler overflow)."""
        return sum(n.dropped for n in self.nodes) + sum(h.dropped for h in self.handlers)

    @property
    def reconnects(self) -> int:
        """Streams re-opened after a loss, over every engine."""
        return sum(n.reconnects for n in self.nodes)

    @property
    def lag_seconds(self) -> float:
        """The largest lag of any callback."""
        return max((h.lag_seconds for h in self.handlers), default=0.0)

    def node(self, name: str) -> NodeStats:
        """The statistics of one node (``KeyError`` if there is none of that name)."""
        for stats in self.nodes:
            if stats.node == name:
                return stats
        raise KeyError(name)

    def handler(self, name: str) -> HandlerStats:
        """The statistics of one handler, by name (``KeyError`` if none)."""
        for stats in self.handlers:
            if stats.name == name:
                return stats
        raise KeyError(name)


# -- one handler's queue and workers --------------------------------------------------------


class _Runner:
    """Events for one handler: a queue per network, drained in order by a worker pool."""

    #: Events a worker hands to a callback in a row before letting other tasks run:
    #: a callback that never awaits must not starve the readers (the engine drops
    #: a subscriber that stops reading for about 100 ms).
    _YIELD_EVERY = 64

    def __init__(self, handler: Handler, watcher: Watcher) -> None:
        self.handler = handler
        self.filtered = handler.filtered
        self._watcher = watcher
        settings = watcher.settings
        self._capacity = settings.dispatch.buffer
        self._drop = settings.dispatch.overflow is Overflow.DROP_OLDEST
        self._concurrency = settings.dispatch.concurrency
        self._retry = settings.retry
        self._pending: dict[str, deque[NetworkEvent]] = {}
        self._size = 0
        # Networks with events and a worker on them or on the way. A network waiting
        # for a worker is in ``_ready`` once; idle workers sleep on an event each in
        # ``_sleepers``, and each network made ready wakes exactly one of them.
        self._busy: set[str] = set()
        self._ready: deque[str] = deque()
        self._sleepers: deque[anyio.Event] = deque()
        self._room: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._active = 0
        self.delivered = 0
        self.failed = 0
        self.retried = 0
        self.dropped = 0
        self.newest_nano = 0
        self.done_nano = 0
        self.log = _log.bind(handler=handler.name)

    def start(self, task_group: TaskGroup) -> None:
        for _ in range(self._concurrency):
            task_group.start_soon(self._worker)

    def stats(self) -> HandlerStats:
        behind = self.newest_nano - self.done_nano if self._size or self._active else 0
        return HandlerStats(
            name=self.handler.name,
            delivered=self.delivered,
            failed=self.failed,
            retried=self.retried,
            dropped=self.dropped,
            queued=self._size,
            lag_seconds=max(behind, 0) / _NS,
            last_event_time_nano=self.done_nano,
        )

    def offer(self, events: list[NetworkEvent], start: int = 0) -> int:
        """Queue ``events[start:]`` this handler wants; return how many were looked at.

        Stops early only when the buffer is full and the policy is to wait: the caller
        then awaits :meth:`room` and offers the rest.
        """
        pending = self._pending
        busy = self._busy
        ready = self._ready
        sleepers = self._sleepers
        handler = self.handler if self.filtered else None
        capacity = self._capacity
        newest = self.newest_nano
        size = self._size
        count = len(events)
        for index in range(start, count):
            event = events[index]
            if handler is not None and not handler.matches(event):
                continue
            if size >= capacity:
                if not self._drop:
                    self._size, self.newest_nano = size, newest
                    return index - start
                self._size = size
                self._drop_oldest()
                size = self._size
            # One lookup of the model's fields instead of one hooked attribute read per
            # field (pydantic models define __getattr__, which slows every read).
            fields = event.__dict__
            key = fields["actor_id"]  # the network's id
            queue = pending.get(key)
            if queue is None:
                queue = pending[key] = deque()
            queue.append(event)
            size += 1
            nano = fields["time_nano"]
            if nano > newest:
                newest = nano
            if key not in busy:
                busy.add(key)
                ready.append(key)
                if sleepers:
                    sleepers.popleft().set()
        self._size, self.newest_nano = size, newest
        return count - start

    async def room(self) -> None:
        """Wait until the buffer has room again."""
        while self._size >= self._capacity:
            if self._room is None:
                self._room = anyio.Event()
            await self._room.wait()

    async def drained(self) -> None:
        """Wait until nothing is queued or running."""
        while self._size or self._active:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    def _drop_oldest(self) -> None:
        oldest: deque[NetworkEvent] | None = None
        for queue in self._pending.values():
            if queue and (oldest is None or queue[0].time_nano < oldest[0].time_nano):
                oldest = queue
        if oldest is not None:
            dropped = oldest.popleft()
            self._size -= 1
            self.dropped += 1
            key = dropped.network_id
            if not oldest and key in self._ready:
                # Nothing left for that network and no worker on it yet: forget it, so
                # the ready list never outgrows the buffer.
                self._ready.remove(key)
                self._busy.discard(key)
                del self._pending[key]
            self.log.debug("events.dropped", network=key, node=dropped.node)

    async def _worker(self) -> None:
        pending = self._pending
        ready = self._ready
        handler = self.handler
        fn = handler.fn
        plain = not handler.is_async and not handler.thread
        watcher = self._watcher
        checkpoint = anyio.lowlevel.checkpoint
        isawaitable = inspect.isawaitable
        yield_every = self._YIELD_EVERY
        in_a_row = 0
        while True:
            while not ready:
                wake = anyio.Event()
                self._sleepers.append(wake)
                await wake.wait()
            key = ready.popleft()
            queue = pending.get(key)
            self._active += 1
            try:
                while queue:
                    event = queue.popleft()
                    self._size -= 1
                    if self._room is not None:
                        self._room.set()
                        self._room = None
                    if plain:
                        # The common case inline: a sync callback, first attempt.
                        try:
                            result = fn(event, attempt=0, watcher=watcher)
                            if result is not None and isawaitable(result):
                                await result
                        except Exception as exc:  # noqa: BLE001 - isolated, logged in _failed
                            await self._failed(event, exc)
                        else:
                            self.delivered += 1
                    else:
                        await self._call(event)
                    nano = event.__dict__["time_nano"]  # see offer(): not a hooked read
                    if nano > self.done_nano:
                        self.done_nano = nano
                    in_a_row += 1
                    if in_a_row >= yield_every:
                        in_a_row = 0
                        await checkpoint()
            finally:
                self._active -= 1
            # No await since the queue was found empty: no event can slip in between.
            pending.pop(key, None)
            busy = self._busy
            busy.discard(key)
            if self._idle is not None and not self._size and not self._active:
                self._idle.set()
                self._idle = None

    async def _call(self, event: NetworkEvent, attempt: int = 0) -> None:
        handler = self.handler
        fn = handler.fn
        try:
            if handler.is_async:
                await fn(event, attempt=attempt, watcher=self._watcher)
            elif handler.thread:
                await anyio.to_thread.run_sync(
                    partial(fn, event, attempt=attempt, watcher=self._watcher)
                )
            else:
                result = fn(event, attempt=attempt, watcher=self._watcher)
                if result is not None and inspect.isawaitable(result):
                    await result
        except Exception as exc:  # noqa: BLE001 - isolated, logged in _failed
            await self._failed(event, exc, attempt)
        else:
            self.delivered += 1

    async def _failed(self, event: NetworkEvent, exc: Exception, attempt: int = 0) -> None:
        """Log and count a failure, or call again after a delay when asked to retry."""
        if not isinstance(exc, Retry):
            # Isolation: one callback's failure is logged and counted, never lets the
            # watcher or another callback stop. Cancellation is no Exception: it passes.
            self.failed += 1
            self.log.error("events.callback_failed", exc_info=exc, **_context(event))
            return
        retry = attempt + 1
        if retry >= self._retry.max_attempts:
            self.failed += 1
            self.log.error(
                "events.callback_gave_up", attempts=retry, reason=str(exc), **_context(event)
            )
            return
        delay = exc.delay if exc.delay is not None else self._retry.delay(retry)
        self.retried += 1
        self.log.info(
            "events.callback_retry", attempt=retry, delay=delay, reason=str(exc), **_context(event)
        )
        await anyio.sleep(delay)
        await self._call(event, retry)


def _context(event: NetworkEvent) -> dict[str, Any]:
    return {
        "node": event.node,
        "network": event.name or event.network_id[:12],
        "network_id": event.network_id,
        "action": str(event.action),
        "container": event.container_id,
        "synthesized": event.synthesized,
    }


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
        self.resyncs = 0
        self.synthesized = 0
        self.suppressed = 0
        self.swarm_duplicates = 0
        self.failed: BaseException | None = None
        self.log = _log.bind(engine=self.name)

    def stats(self) -> NodeStats:
        base = self.feed.snapshot() if self.feed is not None else StreamStats(node=self.name)
        return NodeStats(
            **base.model_dump(),
            synced=self.synced.is_set(),
            resyncs=self.resyncs,
            synthesized=self.synthesized,
            suppressed=self.suppressed,
            swarm_duplicates=self.swarm_duplicates,
        )


# Containers are keyed by their id; the engine's own sandboxes on overlays
# (``ingress-sbox``, ``lb-…``, ``ep-…``) come and go without events and are left out.
_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")

_SYSTEM_TIME = re.compile(r"^(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def _engine_time_nanos(text: str) -> int:
    """Nanoseconds from the engine's RFC 3339 ``SystemTime`` (0 if it cannot be read)."""
    match = _SYSTEM_TIME.match(text.strip())
    if match is None:
        return 0
    whole, fraction, zone = match.groups()
    moment = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    seconds = int(moment.astimezone(timezone.utc).timestamp())
    return seconds * _NS + int(((fraction or "") + "000000000")[:9])


# -- the watcher ---------------------------------------------------------------------------


class Watcher:
    """Follows the network events of one engine or many and calls your callbacks.

    Register callbacks with :meth:`on` (a decorator) or :meth:`add`, then run the
    watcher with ``async with`` or in your own task group (``await tg.start(watcher.run)``).
    Callbacks may be sync or async; each is called as ``fn(event, attempt=…,
    watcher=…)`` and should take ``**kwargs`` so arguments added later never break it::

        async with swarmnet.Engine(name="node1") as engine:
            watcher = swarmnet.Watcher(engine)

            @watcher.on("connect", driver="overlay")
            async def joined(event: swarmnet.NetworkEvent, **kwargs: Any) -> None:
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
    - :attr:`cache` holds every node's networks and endpoints, kept current.

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
        self._runners: list[_Runner] = []
        self._cache = NetworkCache()
        # (action, network id) -> [times delivered, {node: times reported}]
        self._swarm_reports: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()
        self._task_group: TaskGroup | None = None
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
        action: NetworkAction | str | Iterable[NetworkAction | str] | None = None,
        *,
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
        See :class:`Handler` for what each matches.

        Example::

            @watcher.on(["create", "destroy"], driver="bridge", node="node1")
            def log_bridges(event, **kwargs):
                print(event.action, event.name)
        """

        def register(fn: C) -> C:
            self.add(
                fn,
                action,
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
        action: NetworkAction | str | Iterable[NetworkAction | str] | None = None,
        *,
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
                or ``thread=True`` for an async function.
        """
        if not callable(fn):
            raise InvalidSpec(f"a callback must be callable, not {fn!r}")
        is_async = _is_async(fn)
        if thread and is_async:
            raise InvalidSpec("thread=True is for sync callbacks; async ones run in the loop")
        scopes = _strings(scope, "scope")
        known = {s.value for s in EventScope}
        if not scopes <= known:
            raise InvalidSpec(f"scope: {sorted(scopes - known)} is not one of {sorted(known)}")
        nodes = _strings(node, "node")
        if not nodes <= set(self._nodes):
            raise InvalidSpec(
                f"node: {sorted(nodes - set(self._nodes))} is not one of this watcher's "
                f"engines {sorted(self._nodes)}"
            )
        handler = Handler(
            fn=fn,
            name=name or getattr(fn, "__qualname__", None) or type(fn).__qualname__,
            actions=_strings(action, "action"),
            networks=_strings(network, "network"),
            drivers=_strings(driver, "driver"),
            scopes=scopes,
            containers=_strings(container, "container"),
            nodes=nodes,
            synthesized=synthesized,
            thread=thread,
            is_async=is_async,
        )
        runner = _Runner(handler, self)
        self._runners.append(runner)
        if self._task_group is not None:
            runner.start(self._task_group)
        return handler

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
            self._running = False
            self._stopping.set()
            self.log.info("events.stopped")

    # -- per engine --------------------------------------------------------------------------

    def _feed_for(self, node: _Node) -> Feed:
        settings = self.settings
        feed = Feed(
            node.engine,
            EventFilters(types=frozenset({"network"})),
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
        connect, disconnect = NetworkAction.CONNECT, NetworkAction.DISCONNECT
        suppressed = 0
        for event in batch:
            if not isinstance(event, NetworkEvent):
                continue
            # The fields read straight from the model's dict: this runs for every event,
            # and pydantic models define __getattr__, which slows every attribute read.
            fields = event.__dict__
            action = fields["action"]
            if action is connect or action is disconnect:
                # The hot path, inline. The engine reports some changes twice (every
                # disconnect, on 20.10): an endpoint change the cache already shows is
                # a repeat, not news. (actor_id and attributes are the fields
                # network_id and container_id read from.)
                network_id = fields["actor_id"]
                net = nets.get(network_id)
                container = fields["attributes"].get("container")
                if action is connect:
                    if net is None:
                        net = nets[network_id] = _new_net(event)
                    elif container in net.containers:
                        suppressed += 1
                        continue
                    if container:
                        net.containers.add(container)
                else:
                    if net is None or container not in net.containers:
                        suppressed += 1
                        continue
                    net.containers.discard(container)
            else:
                if fence:
                    if fields["time_nano"] > fence:
                        node.fence_nano = fence = 0
                    elif _already_there(state, event):
                        suppressed += 1
                        continue
                _update(state, event)
                if fields["scope"] == "swarm" and not self._first_report(node.name, event):
                    node.swarm_duplicates += 1
                    continue
            keep(event)
        node.suppressed += suppressed
        await self._dispatch(wanted)

    async def _dispatch(self, events: list[NetworkEvent]) -> None:
        """Hand events to every handler that wants them, waiting where a buffer is full."""
        if not events:
            return
        for runner in self._runners:
            done = runner.offer(events)
            while done < len(events):
                await runner.room()
                done += runner.offer(events, done)

    def _first_report(self, node: str, event: NetworkEvent) -> bool:
        """Whether this swarm-scope event is news (each manager reports the cluster's)."""
        key = (str(event.action), event.network_id)
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
        try:
            with anyio.fail_after(self.settings.resync.timeout):
                fresh, manager, fence = await self._read_networks(node)
        except (EngineError, TimeoutError) as exc:
            node.needs_resync = True
            node.log.warning("events.resync_failed", error=str(exc))
            return
        state = self._cache._node(node.name)
        announce = not initial or self.settings.resync.initial_events
        events = _differences(node.name, state.nets, fresh, fence) if announce else []
        state.nets = fresh
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
        node.synthesized += len(events)
        node.log.info(
            "events.resynced" if not initial else "events.synced",
            networks=len(fresh),
            synthesized=len(events),
        )
        node.synced.set()
        await self._dispatch(events)

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
                listed = await node.engine._transport.request("GET", "networks")
            except EngineError:
                continue  # the feed's own reconnecting deals with an absent engine
            if not self._caught_up(node):
                suspects = set()
                continue
            nets = self._cache._node(node.name).nets
            present = {str(entry["Id"]) for entry in listed or []}
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
        events = _differences(node.name, old, new, time.time_ns())
        for network_id in old:
            del nets[network_id]
        nets.update(new)
        node.synthesized += len(events)
        node.log.info("events.swept", came=sorted(new), went=sorted(old))
        await self._dispatch(events)

    async def _inspect(self, node: _Node, network_ids: Iterable[str]) -> dict[str, _Net]:
        """The networks, as the cache keeps them (those removed meanwhile left out)."""
        transport = node.engine._transport
        found: dict[str, _Net] = {}
        limiter = anyio.CapacityLimiter(self.settings.resync.inspect_concurrency)

        failures: list[EngineError] = []

        async def inspect_one(network_id: str) -> None:
            async with limiter:
                try:
                    detail = await transport.request("GET", f"networks/{network_id}")
                except NotFound:
                    return  # removed since it was listed
                except EngineError as exc:
                    # Kept, not raised in the group: the caller gets this error itself,
                    # not an exception group that would end the whole watcher.
                    failures.append(exc)
                    return
            found[network_id] = _Net(
                name=str(detail.get("Name", "")),
                driver=str(detail.get("Driver", "")),
                scope=str(detail.get("Scope", "")),
                containers={
                    key for key in detail.get("Containers") or {} if _CONTAINER_ID.fullmatch(key)
                },
            )

        async with anyio.create_task_group() as task_group:
            for network_id in network_ids:
                task_group.start_soon(inspect_one, network_id)
        if failures:
            raise failures[0]
        return found

    async def _read_networks(self, node: _Node) -> tuple[dict[str, _Net], bool, int]:
        transport = node.engine._transport
        listed = await transport.request("GET", "networks")
        fresh = await self._inspect(node, [str(entry["Id"]) for entry in listed or []])
        info = await transport.request("GET", "info")
        swarm = info.get("Swarm") or {}
        manager = bool(swarm.get("ControlAvailable")) and swarm.get("LocalNodeState") == "active"
        fence = _engine_time_nanos(str(info.get("SystemTime", ""))) or time.time_ns()
        return fresh, manager, fence


def _update(state: _NodeCache, event: NetworkEvent) -> None:
    """Apply an event the engine sent to the node's cached networks."""
    fields = event.__dict__  # read once, not per property (see Watcher._apply)
    action = fields["action"]
    network_id: str = fields["actor_id"]
    attributes: Mapping[str, str] = fields["attributes"]
    nets = state.nets
    net = nets.get(network_id)
    if action is NetworkAction.CREATE:
        if net is None:
            nets[network_id] = _new_net(event)
        else:
            driver = attributes.get("type")
            if driver and not net.driver:
                net.driver = driver
    elif action is NetworkAction.DESTROY:
        if net is not None:
            # A manager keeps listing a swarm network its last local endpoint left.
            if net.scope == "swarm" and state.manager:
                net.containers.clear()
            else:
                del nets[network_id]
    elif action is NetworkAction.CONNECT:
        if net is None:
            net = nets[network_id] = _new_net(event)
        container = attributes.get("container")
        if container:
            net.containers.add(container)
    elif action is NetworkAction.DISCONNECT:
        container = attributes.get("container")
        if net is not None and container:
            net.containers.discard(container)
    elif action is NetworkAction.REMOVE:
        nets.pop(network_id, None)
    elif action is NetworkAction.UPDATE:
        name = attributes.get("name", "")
        if name and net is not None:
            net.name = name


def _new_net(event: NetworkEvent) -> _Net:
    fields = event.__dict__
    attributes: Mapping[str, str] = fields["attributes"]
    driver = attributes.get("type") or ""
    scope = "swarm" if fields["scope"] == "swarm" or driver == "overlay" else "local"
    return _Net(attributes.get("name", ""), driver, scope)


def _already_there(state: _NodeCache, event: NetworkEvent) -> bool:
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


def _differences(
    node: str, old: Mapping[str, _Net], new: Mapping[str, _Net], time_nano: int
) -> list[NetworkEvent]:
    """Synthesized events that take a view from ``old`` to ``new``: creates, connects,
    disconnects, destroys, in that order. They describe the node's local view, so
    their scope is ``local``."""

    def make(
        action: NetworkAction, network_id: str, net: _Net, container: str | None = None
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
        connects.extend(
            make(NetworkAction.CONNECT, network_id, net, c)
            for c in sorted(net.containers - before.containers)
        )
        disconnects.extend(
            make(NetworkAction.DISCONNECT, network_id, net, c)
            for c in sorted(before.containers - net.containers)
        )
    for network_id, before in old.items():
        if network_id not in new:
            disconnects.extend(
                make(NetworkAction.DISCONNECT, network_id, before, c)
                for c in sorted(before.containers)
            )
            destroys.append(make(NetworkAction.DESTROY, network_id, before))
    return creates + connects + disconnects + destroys
