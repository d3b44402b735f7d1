"""One engine's event stream: typed, framed safely, resumed after a lost connection.

``engine.events(...)`` returns an :class:`EventStream`. Inside it a :class:`Feed`
follows the engine in two decoupled halves: a reader task moves the raw chunks of
``GET /events`` into a buffer bounded in bytes, so it keeps draining the socket
whatever the consumer does (the engine drops events, silently, for a subscriber that
has not read for about 100 ms); the consumer side frames them
(:mod:`swarmnet._events.framing`) and parses each event once (:mod:`swarmnet._events.models`)
as it takes them. When the connection breaks the reader reconnects with jittered
backoff and resumes with ``since=`` the last event seen, and the events the engine
resends (``since`` is inclusive) are recognised and skipped.

Whether anything was lost while away is checked, not assumed: the engine keeps only
its last 256 events, and a restarted daemon keeps none. Before resuming, the feed
asks for the events at exactly the last time it saw (``since=T&until=T``); if the
event it saw then is no longer there, events were lost, and a :class:`Gap` goes
down the buffer ahead of the new events. :class:`swarmnet.Watcher` answers a gap
by re-reading the networks; :class:`EventStream` raises :class:`swarmnet.EventsLost`.
"""

from __future__ import annotations

import enum
import json
import math
import random
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
from anyio import CancelScope
from anyio.abc import TaskGroup, TaskStatus
from pydantic import Field

from swarmnet._core.concurrency import close_background, open_background
from swarmnet._core.errors import (
    EngineAPIError,
    EngineError,
    EngineTimeout,
    EngineUnreachable,
    EventsLost,
    InvalidSpec,
)
from swarmnet._core.filters import label_filter
from swarmnet._core.log import get_logger
from swarmnet._core.models import EngineModel, Spec
from swarmnet._events.framing import FramingError, JSONFramer
from swarmnet._events.models import Event, EventScope, EventType, event_parser

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

__all__ = [
    "EventStream",
    "Feed",
    "FeedItem",
    "Gap",
    "ReconnectSettings",
    "StreamStats",
    "Subscribed",
    "TimeSpec",
    "format_time",
]

_log = get_logger("swarmnet.events")
_NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: A point in time for ``since``/``until``: a datetime (naive means local time, as
#: Python reads it), seconds since the epoch, or an event (its exact nanosecond).
TimeSpec = datetime | float | int | Event

#: How many of the latest events are remembered to recognise them when resent.
_RECENT = 64
#: Bytes of a chunk parsed at once (about a hundred events).
_SLICE = 32 * 1024


def format_time(value: TimeSpec) -> str:
    """``seconds.nanoseconds``, the form the engine's ``since``/``until`` take.

    Raises:
        InvalidSpec: a negative time, or something that is no time.
    """
    if isinstance(value, Event):
        nanos = value.time_nano
    elif isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.astimezone()
        delta = moment - _EPOCH
        nanos = (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidSpec(f"not a time: {value!r}")
        nanos = value * _NS if isinstance(value, int) else round(value * _NS)
    else:
        raise InvalidSpec(
            f"not a time: {value!r}; give a datetime, seconds since the epoch, or an Event"
        )
    if nanos < 0:
        raise InvalidSpec(f"a time before 1970 cannot be asked of the engine: {value!r}")
    return f"{nanos // _NS}.{nanos % _NS:09d}"


def _nanos(text: str) -> int:
    seconds, _, fraction = text.partition(".")
    return int(seconds) * _NS + int(fraction or 0)


class ReconnectSettings(Spec):
    """How a lost event stream is re-opened.

    Attributes:
        enabled: reconnect at all; when False a lost connection ends the stream with
            :class:`swarmnet.EngineUnreachable`.
        initial_delay: seconds before the first attempt after a loss.
        max_delay: the longest wait between attempts (delays double up to it).
        jitter: fraction of each delay drawn at random (0.5: between half and all of
            it), so many watchers of one restarted engine do not come back in step.
        liveness_interval: while no event arrives for this many seconds, ping the
            engine on a separate connection; a failed ping drops the (possibly
            half-open) stream and reconnects. ``None`` turns it off.
    """

    enabled: bool = True
    initial_delay: float = Field(0.1, gt=0)
    max_delay: float = Field(5.0, gt=0)
    jitter: float = Field(0.5, ge=0, le=1)
    liveness_interval: float | None = Field(15.0, gt=0)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0-based)."""
        base = min(self.max_delay, self.initial_delay * float(2 ** min(attempt, 30)))
        return base * (1 - self.jitter * random.random())  # noqa: S311 - jitter, not crypto


class StreamStats(EngineModel):
    """Counters of one engine's event feed.

    Attributes:
        node: the engine's name.
        connected: the stream is open right now.
        received: events parsed and passed on.
        duplicates: events the engine resent after a reconnect, skipped.
        skipped: JSON values in the stream that were no event, skipped.
        dropped: events dropped because the consumer fell more than the buffer behind
            (each such drop is also reported as a gap).
        reconnects: connections re-opened after a loss.
        gaps: times events were found lost (engine restart, replay buffer overrun,
            overflow).
        last_event_time_nano: time of the newest event received (0: none yet).
    """

    node: str
    connected: bool = False
    received: int = 0
    duplicates: int = 0
    skipped: int = 0
    dropped: int = 0
    reconnects: int = 0
    gaps: int = 0
    last_event_time_nano: int = 0

    @property
    def last_event_time(self) -> datetime | None:
        """:attr:`last_event_time_nano` as an aware UTC datetime, or None."""
        if not self.last_event_time_nano:
            return None
        return datetime.fromtimestamp(self.last_event_time_nano / _NS, tz=timezone.utc)


class GapReason(str, enum.Enum):
    """Why events were lost."""

    RESUME = "resume"  # the engine no longer holds the last event seen
    OVERFLOW = "overflow"  # the consumer fell a whole buffer behind
    UNREADABLE = "unreadable"  # the stream held lines that are not events


@dataclass(frozen=True)
class Subscribed:
    """The feed (re)opened its stream; events after this come from the new connection."""

    node: str
    reconnect: bool


@dataclass(frozen=True)
class Gap:
    """Events were lost between the last event delivered and the ones that follow."""

    node: str
    reason: GapReason
    since_nano: int


@dataclass(frozen=True)
class _Ended:
    """The stream reached ``until``."""


@dataclass(frozen=True)
class _Failed:
    """The stream broke and will not be re-opened; the consumer raises ``error``."""

    error: BaseException


#: What a feed puts in its buffer: a batch of events, in engine order, or a marker.
FeedItem = list[Event] | Subscribed | Gap | _Ended | _Failed


def _values(value: Any, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    items: Iterable[Any] = [value] if isinstance(value, (str, enum.Enum)) else value
    out = set()
    for item in items:
        text = item.value if isinstance(item, enum.Enum) else item
        if not isinstance(text, str) or not text:
            raise InvalidSpec(f"{what} filter: expected non-empty strings, got {item!r}")
        out.add(text)
    return frozenset(out)


#: What a container filter that must match network events takes: their ``container``
#: attribute is always the full id, so ids and id prefixes as ``docker ps`` shows them.
CONTAINER_ID_PREFIX = re.compile(r"[0-9a-f]{12,64}")


def container_name_refused(what: str, value: str) -> InvalidSpec:
    """The error for a container name where network events need an id."""
    return InvalidSpec(
        f"{what}: {value!r} is not a container id; network events name a container by "
        "its id only (give the id or its first 12+ characters, as `docker ps` shows "
        "them; look a name up with `(await engine.containers.get(name)).id`)"
    )


class EventFilters(Spec):
    """Which events a feed asks for. Empty sets mean "any"."""

    types: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    drivers: frozenset[str] = frozenset()
    containers: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        type: Any = None,
        action: Any = None,
        network: Any = None,
        scope: Any = None,
        driver: Any = None,
        container: Any = None,
        label: Mapping[str, str | None] | Iterable[str] | None = None,
    ) -> EventFilters:
        """Normalise user input (a string, an enum, or several); raises InvalidSpec."""
        scopes = _values(scope, "scope")
        known = {s.value for s in EventScope}
        if not scopes <= known:
            raise InvalidSpec(
                f"scope filter: {sorted(scopes - known)} is not one of {sorted(known)}"
            )
        types = _values(type, "type")
        labels = _values(label_filter(label), "label") if label is not None else frozenset()
        if labels and EventType.NETWORK.value in types:
            raise InvalidSpec(
                "label filter: network events carry no labels, so the engine would drop "
                "every one of them; filter containers, services or nodes by label"
            )
        containers = _values(container, "container")
        if not types or EventType.NETWORK.value in types:
            # Matched here against the network events' container attribute: ids only.
            for value in containers:
                if not CONTAINER_ID_PREFIX.fullmatch(value):
                    raise container_name_refused("container filter", value)
        return cls(
            types=types,
            actions=_values(action, "action"),
            networks=_values(network, "network"),
            scopes=scopes,
            drivers=_values(driver, "driver"),
            containers=containers,
            labels=labels,
        )

    @property
    def _engine_containers(self) -> bool:
        # Without network events the engine's own filter serves (names work there);
        # with them it would drop the network events of those containers.
        return bool(self.types) and EventType.NETWORK.value not in self.types

    def engine_filters(self) -> dict[str, list[str]]:
        """What the engine filters itself (``driver`` is done here, the engine has no
        such filter; so is ``container`` when network events may come, as the
        engine's own filter drops the network events of that container)."""
        out = {}
        for key, values in (
            ("type", self.types),
            ("event", self.actions),
            ("network", self.networks),
            ("scope", self.scopes),
            ("label", self.labels),
            ("container", self.containers if self._engine_containers else frozenset()),
        ):
            if values:
                out[key] = sorted(values)
        return out

    @property
    def client_side(self) -> bool:
        """Whether some filter is applied here rather than by the engine."""
        return bool(self.drivers or (self.containers and not self._engine_containers))

    def keep(self, event: Event) -> bool:
        """Whether an event passes the filters the engine cannot apply."""
        if self.drivers and event.attributes.get("type") not in self.drivers:
            return False
        if self.containers and not self._engine_containers:
            container = event.attributes.get("container") or event.actor_id
            return any(container.startswith(wanted) for wanted in self.containers)
        return True


class _ConnectionEnd:
    """Marker: the connection the chunks before it came from is over."""


class _Overflowed:
    """Marker: chunks were dropped here (the consumer fell a whole buffer behind)."""

    def __init__(self, events: int) -> None:
        self.events = events


_CONNECTION_END = _ConnectionEnd()

#: What the reader puts in its buffer: raw chunks, and markers between them.
_RawItem = bytes | _ConnectionEnd | _Overflowed | Subscribed | Gap | _Ended | _Failed


class _ChunkBuffer:
    """Raw chunks between the reader and the parser, bounded in bytes.

    The reader may wait for room, but never longer than ``stall`` seconds: the engine
    drops events, silently, for a subscriber that stops reading for about 100 ms.
    Past that the chunk is dropped and the loss is marked, so it is reported as a gap.
    """

    def __init__(self, max_bytes: int, stall: float) -> None:
        self._items: deque[_RawItem] = deque()
        self._bytes = 0
        self._max_bytes = max_bytes
        self._stall = stall
        self._readable: anyio.Event | None = None
        self._writable: anyio.Event | None = None
        self._drained: anyio.Event | None = None
        self._dropped_events = 0
        self._closed = False

    async def put(self, chunk: bytes) -> int:
        """Add a chunk; return the number of events dropped with it (0: it was kept)."""
        if self._bytes + len(chunk) > self._max_bytes and self._bytes:
            with anyio.move_on_after(self._stall):
                while self._bytes + len(chunk) > self._max_bytes and self._bytes:
                    self._writable = anyio.Event()
                    await self._writable.wait()
            if self._bytes + len(chunk) > self._max_bytes and self._bytes:
                lost = chunk.count(b"\n") or 1
                self._dropped_events += lost
                return lost
        if self._dropped_events:
            self._append(_Overflowed(self._dropped_events))
            self._dropped_events = 0
        self._bytes += len(chunk)
        self._append(chunk)
        return 0

    def mark(self, item: _RawItem) -> None:
        """Add a marker (never refused: the reader adds a handful per connection)."""
        if self._dropped_events:
            # Chunks dropped just before this marker: say so before it, not after.
            self._append(_Overflowed(self._dropped_events))
            self._dropped_events = 0
        self._append(item)

    def _append(self, item: _RawItem) -> None:
        self._items.append(item)
        if self._readable is not None:
            self._readable.set()
            self._readable = None

    async def get(self) -> _RawItem:
        """The next item; raises ``anyio.EndOfStream`` once closed and empty."""
        while not self._items:
            if self._closed:
                raise anyio.EndOfStream
            if self._drained is not None:
                self._drained.set()
                self._drained = None
            self._readable = anyio.Event()
            await self._readable.wait()
        item = self._items.popleft()
        if isinstance(item, bytes):
            self._bytes -= len(item)
            if self._writable is not None:
                self._writable.set()
                self._writable = None
        return item

    def empty(self) -> bool:
        """Whether nothing is waiting for the consumer."""
        return not self._items

    async def drained(self) -> None:
        """Wait until the consumer has taken (and finished with) everything."""
        while self._items or self._readable is None:
            if self._closed:
                return
            self._drained = anyio.Event()
            await self._drained.wait()

    def close(self) -> None:
        self._closed = True
        for event in (self._readable, self._drained):
            if event is not None:
                event.set()
        self._readable = self._drained = None


class Feed:
    """Follows one engine's events: reconnects, resumes, skips resent events, finds gaps.

    Not public: :class:`EventStream` and :class:`swarmnet.Watcher` own feeds. Two
    sides, in two tasks:

    - :meth:`run`, the reader: opens the stream and moves raw chunks into a buffer
      bounded in bytes, so it keeps draining the socket whatever happens downstream;
      ``await tg.start(feed.run)`` returns once the first stream is open;
    - :meth:`receive`, the consumer: frames and parses the chunks (so parsing runs
      at the pace the events are used) and returns batches of events, in engine
      order, or markers (:class:`Subscribed`, :class:`Gap`, …).
    """

    def __init__(
        self,
        engine: Engine,
        filters: EventFilters,
        *,
        since: str | None = None,
        until: str | None = None,
        reconnect: ReconnectSettings | None = None,
        buffer_bytes: int = 4 * 1024 * 1024,
        stall: float = 0.05,
        resume_after: Event | None = None,
    ) -> None:
        self.engine = engine
        self.node = engine.name
        self.filters = filters
        self._since = since
        self._until = until
        self._reconnect = reconnect or ReconnectSettings()
        self._buffer = _ChunkBuffer(buffer_bytes, stall)
        self._decode = event_parser(self.node)
        self._framer: JSONFramer[Event | None] = JSONFramer(self._decode)
        self._rest = b""  # a big read being parsed a slice at a time
        self._rest_at = 0  # where in it the next slice starts
        self._recent: deque[Event] = deque(maxlen=_RECENT)
        self._last_nano = 0  # the newest event time parsed
        self._replayed: set[tuple[Any, ...]] = set()
        self._replay_until = 0  # events at or before this may be resent ones
        self._last_activity = time.monotonic()
        self._received = 0
        self._duplicates = 0
        self._skipped = 0
        self._dropped = 0
        self._reconnects = 0
        self._gaps = 0
        self._connected = False
        self._silent = False
        self._read_any = False
        self._connections = 0
        self._lost_at_connect = False
        if resume_after is not None:
            # ``since`` is inclusive: the event resumed after comes again; skip it.
            self._replayed = {(self.node, *resume_after.identity[1:])}
            self._replay_until = resume_after.time_nano
        #: Set once the first connection attempt is over, whether it worked or not.
        self.attempted = anyio.Event()
        # Unreadable lines were dropped from a batch just handed out: a gap follows it.
        self._gap_after_batch = False
        self.log = _log.bind(engine=self.node)

    def snapshot(self) -> StreamStats:
        """The feed's counters now."""
        return StreamStats(
            node=self.node,
            connected=self._connected,
            received=self._received,
            duplicates=self._duplicates,
            skipped=self._skipped,
            dropped=self._dropped,
            reconnects=self._reconnects,
            gaps=self._gaps,
            last_event_time_nano=self._last_nano,
        )

    @property
    def current_connection(self) -> tuple[int, bool] | None:
        """The stream open now, as (its number, 1 for the first; whether events were
        lost before it); None while there is none.

        A lost stretch may hide a daemon restart: until it has been re-read, what the
        engine answers can describe another daemon than the events before did.
        """
        return (self._connections, self._lost_at_connect) if self._connected else None

    def caught_up(self) -> bool:
        """Connected, with nothing read and not yet handed to the consumer."""
        return self._connected and not self._rest and self._buffer.empty()

    @property
    def position(self) -> int:
        """The time (ns) of the newest event parsed; resume from here."""
        return self._last_nano

    # -- the consumer side ---------------------------------------------------------------

    async def receive(self) -> FeedItem:
        """The next batch of events or marker.

        Raises:
            anyio.EndOfStream: the reader has stopped and everything was taken.
        """
        while True:
            if self._gap_after_batch:
                self._gap_after_batch = False
                return self._gap(GapReason.UNREADABLE)
            item: _RawItem
            if self._rest:
                item = self._next_slice()
            else:
                item = await self._buffer.get()
                if isinstance(item, bytes) and len(item) > _SLICE:
                    # A big read (a busy engine, or a consumer that fell behind) is
                    # parsed a slice at a time: small batches reach the callbacks sooner
                    # and die young, which keeps the garbage collector's work down.
                    self._rest, self._rest_at = item, 0
                    item = self._next_slice()
            if isinstance(item, bytes):
                skipped = self._framer.skipped
                try:
                    events = self._framer.feed(item)
                except FramingError as exc:
                    # A value that never ends: drop it, skip to the next line, and say
                    # events may be gone with it.
                    self._framer.discard()
                    self.log.warning("events.unreadable", error=str(exc))
                    return self._gap(GapReason.OVERFLOW)
                if self._framer.skipped != skipped:
                    # Lines that are not JSON were dropped; the events around them are
                    # delivered first, then the gap (a re-read after them, not before).
                    self.log.warning("events.unreadable", lines=self._framer.skipped - skipped)
                    self._gap_after_batch = True
                batch = self._accept(events) if events else None
                if batch:
                    return batch
                if self._gap_after_batch:
                    self._gap_after_batch = False
                    return self._gap(GapReason.UNREADABLE)
                continue
            if isinstance(item, _ConnectionEnd):
                # What is left is half an event cut off by the loss; resuming replays it.
                self._framer = JSONFramer(self._decode)
                continue
            if isinstance(item, _Overflowed):
                self._framer.discard()
                self._dropped += item.events
                return self._gap(GapReason.OVERFLOW)
            return item

    def _next_slice(self) -> bytes:
        """The next slice of a big read, cut after a newline where there is one (so
        the framer takes whole lines), without copying the rest again each time."""
        data, start = self._rest, self._rest_at
        end = start + _SLICE
        if end >= len(data):
            self._rest = b""
            return data[start:] if start else data
        cut = data.rfind(b"\n", start, end) + 1
        if cut > start:
            end = cut
        self._rest_at = end
        return data[start:end]

    def _accept(self, events: list[Event | None]) -> list[Event]:
        kept: list[Event] = []
        keep = kept.append
        last = self._last_nano
        skipped = 0
        if not self._replay_until and not self.filters.client_side:
            # The steady state: nothing to recognise, nothing to filter.
            for event in events:
                if event is None:
                    skipped += 1
                    continue
                nano = event.time_nano
                if nano > last:
                    last = nano
                keep(event)
        else:
            replay_until = self._replay_until
            filters = self.filters if self.filters.client_side else None
            for event in events:
                if event is None:
                    skipped += 1
                    continue
                nano = event.time_nano
                if replay_until:
                    if nano > replay_until:
                        self._replay_until = replay_until = 0
                        self._replayed = set()
                    elif event.identity in self._replayed:
                        self._duplicates += 1
                        continue
                if filters is not None and not filters.keep(event):
                    continue
                if nano > last:
                    last = nano
                keep(event)
        self._skipped += skipped
        if kept:
            self._last_nano = last
            self._recent.extend(kept[-_RECENT:])
            self._received += len(kept)
        return kept

    def _gap(self, reason: GapReason) -> Gap:
        self._gaps += 1
        since = format_time_nanos(self._last_nano)
        self.log.warning("events.gap", reason=reason.value, since=since)
        return Gap(node=self.node, reason=reason, since_nano=self._last_nano)

    # -- the reader side -------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Follow the engine until cancelled (or ``until``, or a loss without reconnect)."""
        started = False
        attempt = 0
        try:
            while True:
                try:
                    ended = await self._follow_once(None if started else task_status)
                except (EngineUnreachable, EngineAPIError) as exc:
                    error: EngineError = exc
                except TimeoutError:
                    error = EngineTimeout(
                        "the engine did not answer a replay query in time", engine=self.engine.url
                    )
                else:
                    if ended:
                        self._buffer.mark(_Ended())
                        return
                    error = EngineUnreachable(
                        "the engine ended its event stream (is it shutting down?)",
                        engine=self.engine.url,
                    )
                self.attempted.set()
                if self._connected:
                    self._connected = False
                    started = True
                    attempt = 0
                    self._buffer.mark(_CONNECTION_END)
                    self.log.warning("events.disconnected", error=str(error))
                fatal = not self._reconnect.enabled or (
                    # A refused request would be refused again: give up loudly.
                    isinstance(error, EngineAPIError) and error.status in (400, 401, 403)
                )
                if fatal:
                    if not started:
                        raise error
                    self._buffer.mark(_Failed(error))
                    return
                delay = self._reconnect.delay(attempt)
                attempt += 1
                self.log.debug(
                    "events.reconnecting", attempt=attempt, delay=round(delay, 3), error=str(error)
                )
                await anyio.sleep(delay)
        finally:
            self._connected = False
            self.attempted.set()
            self._buffer.close()

    async def _follow_once(self, task_status: TaskStatus[None] | None) -> bool:
        """One connection: probe for a gap, open the stream, read it. True at ``until``."""
        if self._read_any:
            # The position is known only once everything read before has been parsed.
            await self._buffer.drained()
        reconnect = self._connections > 0
        resuming = self._last_nano > 0
        since = format_time_nanos(self._last_nano) if resuming else self._since
        # Without an event seen there is nothing to prove continuity with: what happened
        # while away cannot be known (a restarted engine remembers nothing).
        lost = reconnect and not resuming
        if resuming:
            lost = not await self._still_held(format_time_nanos(self._last_nano))
            # What the engine resends from ``since`` on is recognised and skipped.
            self._replayed = {e.identity for e in self._recent if e.time_nano >= self._last_nano}
            self._replay_until = self._last_nano
        params: dict[str, str] = {}
        engine_filters = self.filters.engine_filters()
        if engine_filters:
            params["filters"] = json.dumps(engine_filters)
        if since is not None:
            params["since"] = since
        if self._until is not None:
            params["until"] = self._until
        # Over HTTP/1.0 the body ends when the connection closes, so reaching ``until``
        # and a crashed engine would look alike: a bounded stream keeps the chunked
        # encoding, whose last chunk tells them apart.
        async with self.engine._stream(
            "GET", "events", params=params, unchunked=self._until is None
        ) as chunks:
            self._connected = True
            self._connections += 1
            self._lost_at_connect = lost
            if reconnect:
                self._reconnects += 1
                self.log.info("events.reconnected", since=since, lost=lost)
            else:
                self.log.debug("events.subscribed", since=since)
            self._buffer.mark(Subscribed(node=self.node, reconnect=reconnect))
            if lost:
                self._buffer.mark(self._gap(GapReason.RESUME))
            self.attempted.set()
            if task_status is not None:
                task_status.started()
            failure: BaseException | None = None
            self._silent = False
            self._last_activity = time.monotonic()
            async with anyio.create_task_group() as tg:
                interval = self._reconnect.liveness_interval
                if self._reconnect.enabled and interval:
                    tg.start_soon(self._watch_liveness, tg.cancel_scope, interval)
                try:
                    await self._read(chunks)
                except EngineUnreachable as exc:
                    failure = exc  # raised below, outside the task group (no ExceptionGroup)
                tg.cancel_scope.cancel()
        if self._silent:
            raise EngineUnreachable(
                "the engine did not answer a ping while its event stream was quiet",
                engine=self.engine.url,
            )
        if failure is not None:
            raise failure
        return self._until is not None

    async def _read(self, chunks: AsyncIterator[bytes]) -> None:
        buffer = self._buffer
        async for chunk in chunks:
            self._read_any = True
            self._last_activity = time.monotonic()
            dropped = await buffer.put(chunk)
            if dropped:
                self._dropped += dropped
                self.log.warning("events.overflow", dropped=dropped)
            # When data is already buffered the read returns without suspending: let
            # the consumers run between chunks, or a fast engine starves them.
            await anyio.lowlevel.checkpoint()

    async def _watch_liveness(self, stream_scope: CancelScope, interval: float) -> None:
        # A stream whose peer vanished without closing (a cut network) never ends by
        # itself; a ping on another connection tells a quiet engine from a gone one.
        while True:
            await anyio.sleep(interval)
            if time.monotonic() - self._last_activity < interval:
                continue
            try:
                with anyio.fail_after(interval):
                    await self.engine._request("GET", "_ping", versioned=False)
            except (EngineError, TimeoutError):
                self.log.warning("events.engine_silent", seconds=interval)
                self._silent = True
                stream_scope.cancel()
                return
            self._last_activity = time.monotonic()

    async def _still_held(self, since: str) -> bool:
        """Whether the engine still holds the last event seen (so nothing was lost since)."""
        params: dict[str, str] = {"since": since, "until": since}
        engine_filters = self.filters.engine_filters()
        if engine_filters:
            params["filters"] = json.dumps(engine_filters)
        wanted = {e.identity for e in self._recent if e.time_nano == self._last_nano}
        framer = JSONFramer(self._decode)
        held: list[Event | None] = []
        with anyio.fail_after(30):
            async with self.engine._stream("GET", "events", params=params) as chunks:
                async for chunk in chunks:
                    held.extend(framer.feed(chunk))
            try:
                held.extend(framer.close())
            except FramingError:
                return False
        return any(e is not None and e.identity in wanted for e in held)


def format_time_nanos(nanos: int) -> str:
    """``seconds.nanoseconds`` from nanoseconds since the epoch."""
    return f"{nanos // _NS}.{nanos % _NS:09d}"


class EventStream:
    """A typed stream of one engine's events; resumes after a lost connection.

    Get one from :meth:`swarmnet.Engine.events` and use it as an async context manager
    (which owns the background reader) and an async iterator::

        async with engine.events(type="network", action=["connect", "disconnect"]) as events:
            async for event in events:
                print(event.node, event.action, event.name, event.container_id)

    Network, container, service and node events come as :class:`swarmnet.models.NetworkEvent`
    and ``swarmnet.models.ContainerEvent``, ``ServiceEvent``, ``NodeEvent``; others as
    :class:`swarmnet.models.Event`. The reader runs in its own task and keeps draining the
    socket into a buffer of ``buffer_bytes`` whatever the loop body does (events are
    parsed as the loop takes them); a body that falls a whole buffer behind loses
    events, which is reported as a gap.

    Args:
        engine: an open :class:`swarmnet.Engine`.
        type: event types (``"network"``, ``EventType.CONTAINER``, …; one or several).
        action: actions (``"connect"``, ``NetworkAction.DESTROY``, …).
        network: network names or ids (the engine matches the actor id or ``name``
            attribute of every event type, so combine it with ``type="network"``).
        scope: ``"local"`` or ``"swarm"``.
        driver: network drivers (``"overlay"``, ``"bridge"``); matched here, the engine
            has no such filter.
        container: containers. When network events may come (``type`` left out or
            including ``"network"``), ids or id prefixes of 12+ characters only,
            matched here against the events' ``container`` attribute, which is always
            an id (the engine's own filter would drop those events); a name is refused.
            With only other types (``type="container"``), names work too: the engine
            matches them.
        label: ``{"key": "value"}``, ``{"key": None}`` (has the label) or
            ``["key", "key=value"]``, all of which must match. The engine matches the
            labels of containers, services, nodes, …; network events carry none, so
            it is refused with ``type="network"`` (and, with ``type`` left out,
            leaves the network events out).
        since: replay from this time (the engine keeps only its last 256 events); a
            datetime, seconds since the epoch, or an :class:`Event` to resume after.
        until: stop at this time; with ``since``, a bounded replay.
        reconnect: a :class:`ReconnectSettings`, or ``False`` to end with
            :class:`swarmnet.EngineUnreachable` on the first loss.
        on_gap: ``"raise"`` (default) raises :class:`swarmnet.EventsLost` when events
            were lost while away; ``"ignore"`` logs it and goes on.
        buffer_bytes: raw event data the reader may hold for a slow loop body (an event
            is about 300 bytes).

    Raises:
        InvalidSpec: a bad filter or time (on construction).
        EngineError: iterating without ``async with``.
        EngineUnreachable: the stream broke and reconnecting is off.
        EventsLost: events were lost and ``on_gap="raise"``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        type: Any = None,
        action: Any = None,
        network: Any = None,
        scope: Any = None,
        driver: Any = None,
        container: Any = None,
        label: Mapping[str, str | None] | Iterable[str] | None = None,
        since: TimeSpec | None = None,
        until: TimeSpec | None = None,
        reconnect: ReconnectSettings | bool = True,
        on_gap: Literal["raise", "ignore"] = "raise",
        buffer_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        if on_gap not in ("raise", "ignore"):
            raise InvalidSpec(f"on_gap must be 'raise' or 'ignore', not {on_gap!r}")
        if buffer_bytes < 4096:
            raise InvalidSpec(f"buffer_bytes must be at least 4096, not {buffer_bytes}")
        self._engine = engine
        self._filters = EventFilters.build(
            type=type,
            action=action,
            network=network,
            scope=scope,
            driver=driver,
            container=container,
            label=label,
        )
        self._since = format_time(since) if since is not None else None
        self._resume_after = since if isinstance(since, Event) else None
        self._until = format_time(until) if until is not None else None
        if (
            self._since is not None
            and self._until is not None
            and (_nanos(self._until) < _nanos(self._since))
        ):
            raise InvalidSpec(f"until ({self._until}) is before since ({self._since})")
        if isinstance(reconnect, bool):
            reconnect = ReconnectSettings(enabled=reconnect)
        self._reconnect = reconnect
        self._on_gap = on_gap
        self._buffer_bytes = buffer_bytes
        self._feed: Feed | None = None
        self._task_group: TaskGroup | None = None
        self._batch: list[Event] = []
        self._index = 0
        self._done = False

    def __repr__(self) -> str:
        state = "open" if self._task_group is not None else "closed"
        return f"<EventStream {self._engine.name!r} {state} {self._filters.engine_filters()}>"

    @property
    def stats(self) -> StreamStats:
        """Counters of this stream (received, duplicates skipped, reconnects, gaps, …)."""
        if self._feed is None:
            return StreamStats(node=self._engine.name)
        return self._feed.snapshot()

    @property
    def position(self) -> int:
        """Time (ns) of the newest event received; ``since=`` it to resume elsewhere."""
        return self._feed.position if self._feed is not None else 0

    async def __aenter__(self) -> EventStream:
        self._engine._require_open()
        if self._task_group is not None or self._done:
            raise EngineError(
                "this event stream was already opened; make a new one", engine=self._engine.url
            )
        self._feed = Feed(
            self._engine,
            self._filters,
            since=self._since,
            until=self._until,
            reconnect=self._reconnect,
            buffer_bytes=self._buffer_bytes,
            resume_after=self._resume_after,
        )
        self._task_group = await open_background(self._feed.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        task_group, self._task_group = self._task_group, None
        self._done = True
        if task_group is not None:
            await close_background(task_group, cancel=True)
        return None

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._index < len(self._batch):
            event = self._batch[self._index]
            self._index += 1
            return event
        if self._feed is None or self._task_group is None:
            raise EngineError(
                "the event stream is not open: use "
                "`async with engine.events(...) as events: async for event in events`",
                engine=self._engine.url,
            )
        while True:
            try:
                item = await self._feed.receive()
            except anyio.EndOfStream:
                raise StopAsyncIteration from None
            if isinstance(item, list):
                self._batch, self._index = item, 1
                return item[0]
            if isinstance(item, Gap):
                if self._on_gap == "raise":
                    raise EventsLost(
                        _gap_message(item), engine=self._engine.url, since_nano=item.since_nano
                    )
                continue
            if isinstance(item, _Failed):
                raise item.error
            if isinstance(item, _Ended):
                raise StopAsyncIteration


def _gap_message(gap: Gap) -> str:
    if gap.reason is GapReason.UNREADABLE:
        return (
            "the event stream held lines that are not events, and they were dropped; "
            "events may be gone with them: re-read the state you track"
        )
    if gap.reason is GapReason.OVERFLOW:
        return (
            "events were dropped: the loop body fell a whole buffer behind the engine; "
            "re-read the state you track, or give the stream a larger buffer_bytes"
        )
    return (
        f"events after {format_time_nanos(gap.since_nano)} were lost while the stream was "
        "away (the engine keeps only its last 256 events, none across a restart); "
        "re-read the state you track (swarmnet.Watcher does this for networks)"
    )
