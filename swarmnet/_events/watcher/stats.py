"""Snapshots of how a watcher is doing: per node (its feed, re-reads, repeats) and
per callback (delivered, failed, queued, lag)."""

from __future__ import annotations

from swarmnet._core.models import EngineModel
from swarmnet._events.stream import StreamStats

__all__ = ["HandlerStats", "NodeStats", "WatcherStats"]


class HandlerStats(EngineModel):
    """How one callback is doing.

    Attributes:
        name: the handler's name.
        delivered: events the callback returned from.
        failed: events it raised on (or gave up on after retries).
        retried: retries it asked for with :class:`Retry`.
        dropped: events dropped by :attr:`Overflow.DROP_OLDEST`.
        queued: events waiting for it now.
        lag_seconds: how far behind the callback is, in time: the age of the oldest
            event handed to it and not finished yet (queued, or being handled), on this
            host's clock against the event's time; 0 when it has nothing to do. An
            event replayed after a reconnect counts from when it happened.
        lag_events: how far behind it is, in events: those handed to it and not
            finished yet (``queued`` plus those being handled).
        last_event_time_nano: time of the newest event it finished.
    """

    name: str
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    queued: int = 0
    lag_seconds: float = 0.0
    lag_events: int = 0
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
        dispatched: events from this node handed on to the callbacks that want them
            (after repeats and duplicates were dropped; synthesized ones not included).
    """

    synced: bool = False
    resyncs: int = 0
    synthesized: int = 0
    suppressed: int = 0
    swarm_duplicates: int = 0
    dispatched: int = 0


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
        """The largest lag of any callback, in seconds."""
        return max((h.lag_seconds for h in self.handlers), default=0.0)

    @property
    def lag_events(self) -> int:
        """The largest lag of any callback, in events not finished yet."""
        return max((h.lag_events for h in self.handlers), default=0)

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
