"""One active replica: a lease held in the labels of a swarm config.

Controllers run on several managers for availability, but only one may act. The swarm
already has a consistent store with compare-and-swap: a config's labels can be updated
only with the version they were read at, and of several writers holding one version
exactly one succeeds (ENGINE-NOTES: "Swarm configs as a compare-and-swap record").

The record is the config ``swarmnet.lease.<name>`` with labels ``swarmnet.lease.holder``
(the holder's identity, empty when released) and ``swarmnet.lease.renewals`` (a
counter, so every renewal is a visible change). Time is never read from another host:

- a **holder** counts its term from the moment it *sent* its last successful write,
  and stops acting ``duration * (1 - safety)`` seconds later unless a renewal succeeded;
- an **observer** counts from the moment it *saw* the record change, and may take the
  lease only after it stayed unchanged for a whole ``duration`` (or was released).

Since an observer sees a change only after the holder sent it, a holder that can no
longer renew has stopped acting before anyone else may start; and the version check
makes sure that of two observers who both think the lease expired, one wins.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup, TaskStatus

from swarmnet._core.concurrency import close_background, open_background
from swarmnet._core.errors import (
    Conflict,
    EngineAPIError,
    EngineError,
    InvalidSpec,
    NotASwarmManager,
    NotFound,
    NotInSwarm,
    OutOfSequence,
)
from swarmnet._core.log import get_logger

if TYPE_CHECKING:
    from swarmnet._configs.api import SwarmConfig
    from swarmnet._core.engine import Engine

_log = get_logger("swarmnet.lease")

HOLDER_LABEL = "swarmnet.lease.holder"
RENEWALS_LABEL = "swarmnet.lease.renewals"
# A config must hold some data; the lease lives in its labels.
_RECORD_DATA = b"a swarmnet.Lease record: see its labels\n"
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}")


@dataclass(frozen=True)
class LeaseStats:
    """What one replica knows of a lease.

    Attributes:
        name: the lease's name.
        identity: this replica's identity.
        holder: the holder this replica last saw ("" when released or unknown).
        held: whether this replica holds it now (and may act).
        acquisitions, losses, renewals: counts since this replica started.
        version: the record's version last seen.
    """

    name: str
    identity: str
    holder: str
    held: bool
    acquisitions: int
    losses: int
    renewals: int
    version: int


def default_identity() -> str:
    """``host-pid-random``: unique per process, readable in ``docker config inspect``."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Lease:
    """Leadership among replicas of one controller, over one swarm manager each.

    Every replica makes a ``Lease`` with the same name on its own manager; at most one
    holds it at any moment::

        async with swarmnet.Lease(engine, "join-controller", duration=15) as lease:
            while True:
                async with lease.leading():  # waits until held; cancelled when lost
                    await run_controller()

    Args:
        engine: an open engine that is a swarm manager.
        name: the lease's name, shared by the replicas (letters, digits, ``_.-``).
        identity: this replica's name in the record; default ``host-pid-random``.
        duration: seconds an unrenewed lease lasts; another replica takes over within
            about ``duration + poll_interval`` of the holder's last renewal.
        renew_interval: seconds between renewals (default ``duration / 3``).
        poll_interval: seconds between reads while not holding (default
            ``min(1, duration / 10)``).
        safety: the share of ``duration`` a holder gives up at the end of its term,
            for clocks that tick at slightly different rates (default 0.1).

    Raises:
        InvalidSpec: a bad name, or intervals that cannot keep a lease alive.

    ``run`` (and so ``async with``) raises :class:`swarmnet.NotASwarmManager` or
    :class:`swarmnet.NotInSwarm` when the engine cannot hold swarm records, and any
    other refusal (4xx); an unreachable manager or a lost quorum is waited out.
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        identity: str | None = None,
        duration: float = 15.0,
        renew_interval: float | None = None,
        poll_interval: float | None = None,
        safety: float = 0.1,
    ) -> None:
        if not _NAME.fullmatch(name):
            raise InvalidSpec(
                f"invalid lease name {name!r}: up to 41 letters, digits, '_', '.', '-', "
                "starting with a letter or digit"
            )
        renew_interval = duration / 3 if renew_interval is None else renew_interval
        poll_interval = min(1.0, duration / 10) if poll_interval is None else poll_interval
        if not (0 <= safety < 0.5) or duration <= 0 or poll_interval <= 0:
            raise InvalidSpec("a lease needs duration > 0, poll_interval > 0, 0 <= safety < 0.5")
        if renew_interval <= 0 or renew_interval >= duration * (1 - safety) / 2:
            raise InvalidSpec(
                f"renew_interval {renew_interval:g} s must be under half the lease's "
                f"usable term ({duration * (1 - safety) / 2:g} s), so one failed renewal "
                "does not lose it"
            )
        self.engine = engine
        self.name = name
        self.identity = identity or default_identity()
        self.duration = duration
        self.renew_interval = renew_interval
        self.poll_interval = poll_interval
        self.safety = safety
        self.config_name = f"swarmnet.lease.{name}"
        self._log = _log.bind(lease=name, identity=self.identity, engine=engine.name)
        self._deadline: float | None = None  # monotonic; held while now < deadline
        self._last_renewal = -math.inf
        self._seen_version = -1
        self._seen_at = -math.inf
        self._holder = ""
        self._held_event = anyio.Event()
        self._scopes: set[anyio.CancelScope] = set()
        self._group: TaskGroup | None = None
        self._acquisitions = self._losses = self._renewals = 0

    def __repr__(self) -> str:
        state = "held" if self.held else f"holder={self._holder!r}"
        return f"<Lease {self.name!r} {self.identity!r} {state}>"

    # -- what callers read -------------------------------------------------------------

    @property
    def held(self) -> bool:
        """True while this replica holds the lease and its term has not run out."""
        return self._deadline is not None and time.monotonic() < self._deadline

    @property
    def holder(self) -> str:
        """The holder last seen in the record ("" when released or not read yet)."""
        return self._holder

    def stats(self) -> LeaseStats:
        """This replica's view of the lease, as a frozen snapshot."""
        return LeaseStats(
            name=self.name,
            identity=self.identity,
            holder=self._holder,
            held=self.held,
            acquisitions=self._acquisitions,
            losses=self._losses,
            renewals=self._renewals,
            version=self._seen_version,
        )

    async def wait_held(self) -> None:
        """Return once this replica holds the lease."""
        while not self.held:
            await self._held_event.wait()

    @asynccontextmanager
    async def leading(self) -> AsyncIterator[None]:
        """Wait until held, then run the body; the body is cancelled when the lease is lost.

        The body is cancelled at the end of the holder's term at the latest, even
        while it waits on an engine that no longer answers.
        """
        await self.wait_held()
        with anyio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                if not self.held:  # lost between the wake-up and here
                    scope.cancel()
                yield
            finally:
                self._scopes.discard(scope)

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Lease:
        self._group = await open_background(self.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        group, self._group = self._group, None
        if group is not None:
            await close_background(group, cancel=True)
        await self.release()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Keep observing, taking and renewing the lease until cancelled.

        Signals ``task_status.started()`` after the first read of the record, so
        ``await tg.start(lease.run)`` returns knowing who holds it.
        """
        started = False
        refused: EngineError | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._expire_on_deadline)
            while refused is None:
                try:
                    await self._step()
                except EngineError as exc:
                    # An unreachable manager or a lost quorum (5xx) passes: keep trying,
                    # the deadline task ends the term if renewals stop getting through.
                    # A refusal (4xx, or an engine that is no manager) will not pass.
                    if isinstance(exc, NotASwarmManager | NotInSwarm) or (
                        isinstance(exc, EngineAPIError) and exc.status < 500
                    ):
                        refused = exc
                        group.cancel_scope.cancel()
                        break
                    self._log.warning("lease.step_failed", error=str(exc))
                if not started:
                    started = True
                    task_status.started()
                await anyio.sleep(self.renew_interval if self.held else self.poll_interval)
        if refused is not None:
            # Raised here, outside the group, as itself: not wrapped in an exception group.
            self._lose("refused")
            raise refused

    async def release(self) -> None:
        """Give the lease up now (others may take it at once); nothing if not held."""
        if self._deadline is None:
            return
        self._lose("released")
        with anyio.move_on_after(5, shield=True):
            try:
                record = await self.engine.configs.get(self.config_name)
                if record.labels.get(HOLDER_LABEL) == self.identity:
                    await self.engine.configs.update_labels(
                        record, {**record.labels, HOLDER_LABEL: ""}
                    )
            except EngineError as exc:
                self._log.info("lease.release_failed", error=str(exc))

    # -- the protocol ------------------------------------------------------------------

    async def _step(self) -> None:
        record = await self._read_or_create()
        if record is None:
            return  # created it: held from the moment the create was sent
        now = time.monotonic()
        if record.version != self._seen_version:
            self._seen_version, self._seen_at = record.version, now
        self._holder = record.labels.get(HOLDER_LABEL, "")
        if self._holder == self.identity:
            if not self.held or now - self._last_renewal >= self.renew_interval:
                await self._write(record, "renewed" if self.held else "reclaimed")
            return
        if self._deadline is not None:
            self._lose(f"taken by {self._holder or 'nobody'}")
        if not self._holder or now - self._seen_at >= self.duration:
            await self._write(record, "acquired")

    async def _read_or_create(self) -> SwarmConfig | None:
        try:
            return await self.engine.configs.get(self.config_name)
        except NotFound:
            pass
        sent = time.monotonic()
        try:
            await self.engine.configs.create(
                self.config_name,
                _RECORD_DATA,
                labels={HOLDER_LABEL: self.identity, RENEWALS_LABEL: "0"},
            )
        except Conflict:
            return await self.engine.configs.get(self.config_name)  # another replica won
        self._hold(sent, "acquired")
        self._holder = self.identity
        return None

    async def _write(self, record: SwarmConfig, how: str) -> None:
        renewals = int(record.labels.get(RENEWALS_LABEL, "0") or 0) + 1
        labels = {**record.labels, HOLDER_LABEL: self.identity, RENEWALS_LABEL: str(renewals)}
        sent = time.monotonic()
        try:
            await self.engine.configs.update_labels(record, labels)
        except (OutOfSequence, NotFound):
            return  # someone wrote first (or removed it): read again on the next step
        self._holder = self.identity
        self._hold(sent, how)

    def _hold(self, sent: float, how: str) -> None:
        was_held = self.held
        self._last_renewal = sent
        self._deadline = sent + self.duration * (1 - self.safety)
        if how == "renewed":
            self._renewals += 1
        elif not was_held:
            self._acquisitions += 1
            self._log.info("lease.acquired", how=how)
        self._held_event.set()

    def _lose(self, why: str) -> None:
        if self._deadline is None:
            return
        self._deadline = None
        self._losses += 1
        self._held_event = anyio.Event()
        for scope in list(self._scopes):
            scope.cancel()
        self._log.info("lease.lost", why=why)

    async def _expire_on_deadline(self) -> None:
        # Separate from the protocol loop, which may be stuck on an engine that no
        # longer answers: the term ends on time whatever the requests do.
        while True:
            deadline = self._deadline
            if deadline is None:
                await anyio.sleep(self.poll_interval)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._lose("not renewed in time")
                continue
            await anyio.sleep(min(remaining, self.poll_interval))
