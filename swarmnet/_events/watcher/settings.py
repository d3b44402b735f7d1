"""The watcher's knobs, grouped (kopf-style): one settings object of sub-settings,
a docstring per field, and :class:`Retry`, the exception callbacks raise to be
called again."""

from __future__ import annotations

import enum

from pydantic import Field

from swarmnet._core.errors import InvalidSpec
from swarmnet._core.models import Spec
from swarmnet._events.stream import ReconnectSettings

__all__ = [
    "DispatchSettings",
    "Overflow",
    "ResyncSettings",
    "Retry",
    "RetrySettings",
    "WatcherSettings",
]


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
        endpoint_read_delay: seconds after a connect event before the network is read
            for the new endpoint's id and addresses (one read per network however many
            connects came meanwhile; ``None``: never). Events do not carry endpoints;
            with them known, a re-read after lost events tells a container the engine
            re-attached (a new endpoint, as after a daemon restart) and delivers a
            synthesized ``disconnect`` and ``connect`` for it. An endpoint not read
            yet is taken as re-attached when the daemon restarted (its default
            ``bridge`` network has a new id), else as unchanged.
    """

    initial_events: bool = False
    inspect_concurrency: int = Field(8, ge=1)
    timeout: float = Field(60.0, gt=0)
    sweep_interval: float | None = Field(30.0, gt=0)
    endpoint_read_delay: float | None = Field(1.0, ge=0)


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
