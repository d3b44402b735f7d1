"""The controller's work queue: keys, not events; one run per key at a time.

What a level-triggered controller needs from its queue (as in client-go's workqueue):

- **de-duplication**: a key waiting to run is queued once however many events name it;
- **per-key serialization**: a key handed out is not handed out again until
  :meth:`WorkQueue.done`; a key added meanwhile is marked *dirty* and queued again,
  once, when that run ends, so the change it stands for is never missed;
- **rate limit**: a token bucket on how many runs may start per second;
- **delayed adds** for retries, kept as data (a deadline per key), the earliest wins;
- **two lanes**: keys an event named go before keys a periodic resync queued (which
  queues every object, nearly all of them with nothing to do), so that a resync in the
  middle of a burst does not put hundreds of no-op runs ahead of the changes; one in
  every ``BACKGROUND_EVERY`` runs is taken from the resync's lane while both wait, so
  a steady stream of events never holds a resync back for good.

It has no engine and no task of its own: the clock is injectable, so the unit tests
drive it without sleeping.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import anyio

__all__ = ["BACKGROUND_EVERY", "TokenBucket", "WorkQueue"]

K = TypeVar("K", bound=Hashable)

#: While both lanes wait, every this many runs one comes from the background lane.
BACKGROUND_EVERY = 8


class TokenBucket:
    """``rate`` starts per second on average, ``burst`` at once; ``rate=None``: no limit."""

    def __init__(
        self,
        rate: float | None,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._stamp = clock()

    def reserve(self) -> float:
        """Take one token; return how many seconds to wait before using it (0: now)."""
        if self.rate is None:
            return 0.0
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class WorkQueue(Generic[K]):
    """Keys waiting to be reconciled, handed out one run per key at a time."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._ready: deque[K] = deque()  # keys events named
        self._background: deque[K] = deque()  # keys a resync queued (stale entries skipped)
        # Every waiting key, and whether it waits in the foreground lane (a key queued in
        # the background and then named by an event moves to the foreground; its old
        # background entry is skipped when reached).
        self._queued: dict[K, bool] = {}
        self._running: set[K] = set()
        # Added while running: queued again once done (in the foreground if any add was).
        self._dirty: dict[K, bool] = {}
        self._taken_in_a_row = 0  # foreground runs handed out while the background waited
        self._later: list[tuple[float, int, K]] = []  # heap of (deadline, seq, key)
        self._deadline: dict[K, float] = {}
        self._seq = 0
        self._closed = False
        self._wakeup = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()

    def __len__(self) -> int:
        """Keys waiting to run now (not those running or delayed)."""
        return len(self._queued)

    @property
    def running(self) -> int:
        """Keys handed out and not yet done."""
        return len(self._running)

    @property
    def delayed(self) -> int:
        """Keys waiting for a retry deadline."""
        return len(self._deadline)

    def add(self, key: K, *, background: bool = False) -> bool:
        """Queue ``key`` to run; True if that queued it (False: already waiting or closed).

        ``background``: a key a resync found, not one an event named; it runs after
        the foreground keys (see the module's docstring).
        """
        if self._closed:
            return False
        if key in self._running:
            self._dirty[key] = self._dirty.get(key, False) or not background
            return False
        if key in self._queued:
            if not background and not self._queued[key]:
                self._queued[key] = True  # named by an event now: it moves up
                self._ready.append(key)
            return False
        self._deadline.pop(key, None)  # due now: a pending retry is folded into this run
        self._queued[key] = not background
        (self._background if background else self._ready).append(key)
        self._wake()
        return True

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` ``delay`` seconds from now (an earlier pending deadline wins)."""
        if self._closed:
            return
        if delay <= 0:
            self.add(key)
            return
        deadline = self._clock() + delay
        if key in self._queued or self._deadline.get(key, math.inf) <= deadline:
            return
        self._deadline[key] = deadline
        self._seq += 1
        heapq.heappush(self._later, (deadline, self._seq, key))
        self._wake()

    def promote(self) -> float | None:
        """Move keys whose deadline passed to the ready queue; seconds to the next one."""
        now = self._clock()
        while self._later:
            deadline, _, key = self._later[0]
            if self._deadline.get(key) != deadline:
                heapq.heappop(self._later)  # superseded or already run
                continue
            if deadline > now:
                return deadline - now
            heapq.heappop(self._later)
            del self._deadline[key]
            self.add(key)
        return None

    def take(self) -> K | None:
        """Hand out the next ready key (it counts as running), or None."""
        self.promote()
        key = self._next()
        if key is None:
            return None
        del self._queued[key]
        self._running.add(key)
        if self._idle.is_set():
            self._idle = anyio.Event()
        return key

    def _next(self) -> K | None:
        """The next key to run, from the foreground lane unless the background's turn."""
        while self._background and self._queued.get(self._background[0]) is not False:
            self._background.popleft()  # moved to the foreground, or already run
        if self._ready and (not self._background or self._taken_in_a_row < BACKGROUND_EVERY - 1):
            self._taken_in_a_row = self._taken_in_a_row + 1 if self._background else 0
            return self._ready.popleft()
        self._taken_in_a_row = 0
        return self._background.popleft() if self._background else None

    async def get(self) -> K:
        """Wait for the next ready key and hand it out.

        Raises:
            anyio.EndOfStream: the queue was closed and nothing is ready.
        """
        while True:
            key = self.take()
            if key is not None:
                return key
            if self._closed:
                raise anyio.EndOfStream
            wait = self.promote()
            if self._wakeup.is_set():
                # Everyone waiting on the old event was woken; wait on a fresh one.
                self._wakeup = anyio.Event()
            with anyio.move_on_after(math.inf if wait is None else wait):
                await self._wakeup.wait()

    def done(self, key: K) -> None:
        """The run of ``key`` ended; a key added meanwhile is queued again now."""
        self._running.discard(key)
        if key in self._dirty:
            foreground = self._dirty.pop(key)
            self.add(key, background=not foreground)
        if not self._running:
            self._idle.set()

    async def idle(self) -> None:
        """Return once no key is running."""
        while self._running:
            await self._idle.wait()

    def close(self) -> None:
        """Take no more keys and drop the waiting ones; :meth:`get` then ends."""
        self._closed = True
        self._ready.clear()
        self._background.clear()
        self._queued.clear()
        self._later.clear()
        self._deadline.clear()
        self._dirty.clear()
        self._wake()

    def _wake(self) -> None:
        self._wakeup.set()
