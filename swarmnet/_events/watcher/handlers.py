"""Callbacks and how events reach them.

A :class:`Handler` is the frozen record of one registered callback and the events it
wants (:func:`make_handler` builds it from what :meth:`Watcher.on` was given). A
:class:`HandlerRunner` holds, for one handler, a bounded queue of events per object
(network, container, service or node) and a fixed pool of workers: events of one
object reach the callback in engine order, different objects run concurrently;
nothing is spawned per event.
"""

from __future__ import annotations

import builtins
import enum
import inspect
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from pydantic import BaseModel, ConfigDict

from swarmnet._core.errors import InvalidSpec
from swarmnet._core.log import get_logger
from swarmnet._events.models import (
    ContainerAction,
    Event,
    EventScope,
    EventType,
    NetworkAction,
    NodeAction,
    ServiceAction,
)
from swarmnet._events.stream import CONTAINER_ID_PREFIX, container_name_refused
from swarmnet._events.watcher.settings import Overflow, Retry
from swarmnet._events.watcher.stats import HandlerStats

if TYPE_CHECKING:
    from swarmnet._events.watcher.watcher import Watcher

__all__ = ["Handler"]

#: The event types a Watcher follows, and the actions each may have.
WATCHED_TYPES: dict[str, frozenset[str]] = {
    EventType.NETWORK.value: frozenset(a.value for a in NetworkAction),
    EventType.CONTAINER.value: frozenset(a.value for a in ContainerAction),
    EventType.SERVICE.value: frozenset(a.value for a in ServiceAction),
    EventType.NODE.value: frozenset(a.value for a in NodeAction),
}
_NETWORK = EventType.NETWORK.value
_CONTAINER = EventType.CONTAINER.value

_log = get_logger("swarmnet.watcher")
_NS = 1_000_000_000

Callback = Callable[..., Any]
C = TypeVar("C", bound=Callback)


class Handler(BaseModel):
    """A registered callback and the events it wants (empty filters match everything).

    Made by :meth:`Watcher.on` / :meth:`Watcher.add`; immutable.

    Attributes:
        fn: the callback, called as ``fn(event, attempt=…, watcher=…)``.
        name: how logs and statistics name it (the function's qualified name).
        types: the event types it wants: ``network`` (the default), ``container``,
            ``service``, ``node``.
        actions: actions of those types (:class:`NetworkAction`, ``ContainerAction``,
            ``ServiceAction``, ``NodeAction`` values; others are refused: they cannot match).
        networks: network names, ids or id prefixes (12 characters or more); network
            events only.
        drivers: network drivers (``bridge``, ``overlay``, …); network events only.
        scopes: ``local`` and/or ``swarm``.
        containers: container ids or id prefixes of 12+ characters: the container of a
            network connect/disconnect, the container a container event is about
            (network events name containers by id only, so names are refused).
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
    types: frozenset[str] = frozenset({_NETWORK})
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

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is one this handler wants (its type aside: the watcher
        hands each handler only events of its :attr:`types`)."""
        if self.actions and event.action not in self.actions:
            return False
        if self.scopes and event.scope not in self.scopes:
            return False
        if self.nodes and event.node not in self.nodes:
            return False
        if self.synthesized is not None and event.synthesized is not self.synthesized:
            return False
        kind = event.type
        if self.drivers and (kind != _NETWORK or event.attributes.get("type") not in self.drivers):
            return False
        if self.networks and (
            kind != _NETWORK or not any(_names_network(w, event) for w in self.networks)
        ):
            return False
        if self.containers:
            if kind == _NETWORK:
                container = event.attributes.get("container")
            elif kind == _CONTAINER:
                container = event.actor_id
            else:
                return False
            if container is None or not any(container.startswith(c) for c in self.containers):
                return False
        return True


def _names_network(wanted: str, event: Event) -> bool:
    network_id = event.actor_id
    return wanted in (event.attributes.get("name"), network_id) or (
        len(wanted) >= 12 and network_id.startswith(wanted)
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


def make_handler(
    fn: Callback,
    *,
    engines: Iterable[str],
    type: Any = None,
    action: Any = None,
    network: Any = None,
    driver: Any = None,
    scope: Any = None,
    container: Any = None,
    node: Any = None,
    synthesized: bool | None = None,
    thread: bool = False,
    name: str | None = None,
) -> Handler:
    """The :class:`Handler` for :meth:`Watcher.add`'s arguments, checked.

    Raises:
        InvalidSpec: ``fn`` is not callable, a filter value is empty or unknown, a
            filter that no event of the chosen types can pass, or ``thread=True`` for
            an async function.
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
    types = _strings(type, "type") or frozenset({_NETWORK})
    if not types <= WATCHED_TYPES.keys():
        raise InvalidSpec(
            f"type: {sorted(types - WATCHED_TYPES.keys())} is not one of the types a "
            f"Watcher follows: {sorted(WATCHED_TYPES)}"
        )
    actions = _strings(action, "action")
    valid = frozenset().union(*(WATCHED_TYPES[t] for t in types))
    if not actions <= valid:
        raise InvalidSpec(
            f"action: {sorted(actions - valid)} cannot match: events of type "
            f"{', '.join(sorted(types))} have the actions {sorted(valid)}"
        )
    networks = _strings(network, "network")
    drivers = _strings(driver, "driver")
    if (networks or drivers) and types != {_NETWORK}:
        raise InvalidSpec(
            "network and driver filters are for network events: register a separate "
            f"handler for the other types ({', '.join(sorted(types - {_NETWORK}))})"
        )
    containers = _strings(container, "container")
    if containers and not types & {_NETWORK, _CONTAINER}:
        raise InvalidSpec("container filters match network and container events only")
    for value in containers:
        if not CONTAINER_ID_PREFIX.fullmatch(value):
            raise container_name_refused("container", value)
    nodes = _strings(node, "node")
    engine_names = set(engines)
    if not nodes <= engine_names:
        raise InvalidSpec(
            f"node: {sorted(nodes - engine_names)} is not one of this watcher's "
            f"engines {sorted(engine_names)}"
        )
    return Handler(
        fn=fn,
        name=name or getattr(fn, "__qualname__", None) or builtins.type(fn).__qualname__,
        types=types,
        actions=actions,
        networks=networks,
        drivers=drivers,
        scopes=scopes,
        containers=containers,
        nodes=nodes,
        synthesized=synthesized,
        thread=thread,
        is_async=is_async,
    )


# -- one handler's queue and workers --------------------------------------------------------


class HandlerRunner:
    """Events for one handler: a queue per object, drained in order by a worker pool."""

    #: A callback that never awaits must not starve the readers (the engine drops a
    #: subscriber that stops reading for about 100 ms): every ``_YIELD_EVERY`` events
    #: in a row, a worker lets other tasks run if ``_YIELD_AFTER`` seconds passed since
    #: it last did. Quick callbacks then cost no task switch every few dozen events,
    #: and slow ones (a millisecond each) yield sooner than after a fixed count would.
    _YIELD_EVERY = 16
    _YIELD_AFTER = 0.005

    def __init__(
        self, handler: Handler, watcher: Watcher, *, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.handler = handler
        self._clock = clock  # nanoseconds since the epoch, to compare with event times
        self.filtered = handler.filtered
        self.types = handler.types
        self._watcher = watcher
        settings = watcher.settings
        self._capacity = settings.dispatch.buffer
        self._drop = settings.dispatch.overflow is Overflow.DROP_OLDEST
        self._concurrency = settings.dispatch.concurrency
        self._retry = settings.retry
        self._pending: dict[str, deque[Event]] = {}
        self._size = 0
        # Networks with events and a worker on them or on the way. A network waiting
        # for a worker is in ``_ready`` once; idle workers sleep on an event each in
        # ``_sleepers``. One sleeper at a time is woken (``_waking``), and a worker
        # about to wait inside a callback wakes the next one while networks are ready
        # (see _before_wait): a sync callback's worker takes every ready network in turn,
        # without a task switch per network, and slow callbacks still get the pool.
        self._busy: set[str] = set()
        self._ready: deque[str] = deque()
        self._sleepers: deque[anyio.Event] = deque()
        self._waking = False
        self._room: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._active = 0
        # The event each worker is calling the callback with (None: none), by worker.
        self._handling: list[Event | None] = [None] * self._concurrency
        self.delivered = 0
        self.failed = 0
        self.retried = 0
        self.dropped = 0
        self.done_nano = 0
        self.log = _log.bind(handler=handler.name)

    def start(self, task_group: TaskGroup) -> None:
        """Start the worker pool in ``task_group`` (the watcher's)."""
        for slot in range(self._concurrency):
            task_group.start_soon(self._worker, slot)

    def stats(self) -> HandlerStats:
        """The handler's counters and lag now."""
        # The oldest unfinished event is at the head of a network's queue or in a
        # worker's hands: events of one network are queued in engine order.
        oldest = min(
            (
                event.time_nano
                for event in itertools.chain(
                    (queue[0] for queue in self._pending.values() if queue), self._handling
                )
                if event is not None
            ),
            default=None,
        )
        lag = 0 if oldest is None else max(self._clock() - oldest, 0)
        return HandlerStats(
            name=self.handler.name,
            delivered=self.delivered,
            failed=self.failed,
            retried=self.retried,
            dropped=self.dropped,
            queued=self._size,
            lag_seconds=lag / _NS,
            lag_events=self._size + sum(1 for event in self._handling if event is not None),
            last_event_time_nano=self.done_nano,
        )

    def offer(self, events: Sequence[Event], start: int = 0) -> int:
        """Queue ``events[start:]`` this handler wants; return how many were looked at.

        Stops early only when the buffer is full and the policy is to wait: the caller
        then awaits :meth:`room` and offers the rest.
        """
        pending = self._pending
        busy = self._busy
        ready = self._ready
        count = len(events)
        size = self._size
        looked = count - start
        if not self.filtered and size + looked <= self._capacity:
            # The common case, in a loop of its own: every event wanted, room for all.
            for event in events[start:] if start else events:
                # One lookup of the model's fields instead of a hooked attribute read
                # (pydantic models define __getattr__, which slows every read).
                key = event.__dict__["actor_id"]  # the object's id: its events go in order
                queue = pending.get(key)
                if queue is None:
                    # A network with no queue has no worker on it (the worker drops
                    # the queue and the busy mark together).
                    pending[key] = deque((event,))
                    if key not in busy:
                        busy.add(key)
                        ready.append(key)
                else:
                    queue.append(event)
            self._size = size + looked
        else:
            looked = self._offer_each(events, start)
        if ready and self._sleepers and not self._waking:
            self._wake()
        return looked

    def _offer_each(self, events: Sequence[Event], start: int) -> int:
        """:meth:`offer` one event at a time: filters, and a buffer that may fill up."""
        pending = self._pending
        busy = self._busy
        ready = self._ready
        handler = self.handler if self.filtered else None
        capacity = self._capacity
        size = self._size
        count = len(events)
        for index in range(start, count):
            event = events[index]
            if handler is not None and not handler.matches(event):
                continue
            if size >= capacity:
                if not self._drop:
                    self._size = size
                    return index - start
                self._size = size
                self._drop_oldest()
                size = self._size
            key = event.__dict__["actor_id"]
            queue = pending.get(key)
            if queue is None:
                queue = pending[key] = deque()
            queue.append(event)
            size += 1
            if key not in busy:
                busy.add(key)
                ready.append(key)
        self._size = size
        return count - start

    def _wake(self) -> None:
        """Wake one idle worker."""
        self._waking = True
        self._sleepers.popleft().set()

    def _before_wait(self) -> None:
        """Called by a worker about to wait (the other tasks run meanwhile): the
        pump, if it waits for room, may go on; networks still ready get a worker of
        their own (up to ``concurrency``)."""
        if self._room is not None:
            self._room.set()
            self._room = None
        if self._ready and self._sleepers and not self._waking:
            self._wake()

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
        oldest: deque[Event] | None = None
        for queue in self._pending.values():
            if queue and (oldest is None or queue[0].time_nano < oldest[0].time_nano):
                oldest = queue
        if oldest is not None:
            dropped = oldest.popleft()
            self._size -= 1
            self.dropped += 1
            key = dropped.actor_id
            if not oldest and key in self._ready:
                # Nothing left for that network and no worker on it yet: forget it, so
                # the ready list never outgrows the buffer.
                self._ready.remove(key)
                self._busy.discard(key)
                del self._pending[key]
            self.log.debug("events.dropped", network=key, node=dropped.node)

    async def _worker(self, slot: int) -> None:
        # What other tasks see of a worker's state (queued, in hand, room) matters only
        # where it waits: between two events of a run nothing else runs, so a sync
        # callback's run costs only the bookkeeping the callback itself could read.
        pending = self._pending
        handling = self._handling
        ready = self._ready
        handler = self.handler
        fn = handler.fn
        plain = not handler.is_async and not handler.thread
        watcher = self._watcher
        checkpoint = anyio.lowlevel.checkpoint
        isawaitable = inspect.isawaitable
        before_wait = self._before_wait
        yield_every = self._YIELD_EVERY
        yield_after = self._YIELD_AFTER
        clock = time.perf_counter
        in_a_row = 0
        since = clock()  # when this worker last let other tasks run
        while True:
            if not ready:
                while not ready:
                    before_wait()
                    wake = anyio.Event()
                    self._sleepers.append(wake)
                    await wake.wait()
                    self._waking = False
                in_a_row = 0
                since = clock()
            key = ready.popleft()
            queue = pending.get(key)
            self._active += 1
            try:
                while queue:
                    event = queue.popleft()
                    handling[slot] = event
                    self._size -= 1
                    if plain:
                        # The common case inline: a sync callback, first attempt.
                        try:
                            result = fn(event, attempt=0, watcher=watcher)
                            if result is not None and isawaitable(result):
                                before_wait()
                                await result
                        except Exception as exc:  # noqa: BLE001 - isolated, logged in _failed
                            before_wait()
                            await self._failed(event, exc)
                        else:
                            self.delivered += 1
                    else:
                        before_wait()
                        await self._call(event)
                    nano = event.__dict__["time_nano"]  # see offer(): not a hooked read
                    if nano > self.done_nano:
                        self.done_nano = nano
                    in_a_row += 1
                    if in_a_row >= yield_every:
                        in_a_row = 0
                        if clock() - since >= yield_after:
                            handling[slot] = None
                            before_wait()
                            await checkpoint()
                            since = clock()
            finally:
                handling[slot] = None  # also when cancelled mid-call
                self._active -= 1
            # No await since the queue was found empty: no event can slip in between.
            pending.pop(key, None)
            self._busy.discard(key)
            if self._idle is not None and not self._size and not self._active:
                self._idle.set()
                self._idle = None

    async def _call(self, event: Event, attempt: int = 0) -> None:
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

    async def _failed(self, event: Event, exc: Exception, attempt: int = 0) -> None:
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


def _context(event: Event) -> dict[str, Any]:
    kind = str(event.type)
    context: dict[str, Any] = {
        "node": event.node,
        "type": kind,
        kind: event.attributes.get("name") or event.actor_id[:12],
        f"{kind}_id": event.actor_id,
        "action": str(event.action),
        "synthesized": event.synthesized,
    }
    if kind == _NETWORK:
        context["container"] = event.attributes.get("container")
    return context
