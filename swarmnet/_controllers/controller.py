"""A level-triggered controller over containers, networks and services on several engines.

Events only say *which* object to look at: each becomes a key ``(engine, kind, id)``
in a :class:`~swarmnet._controllers.queue.WorkQueue`. A worker takes the key, reads
the object's current state from its engine (or learns it is gone) and calls every
reconciler whose selector it matches, or matched when last seen. A missed, merged or
doubled event therefore cannot leave the world wrong: the next event for that object,
or the periodic resync that lists everything, runs the same code on the same state.

Containers are keyed by id; networks and services by name, since a desired state
names them and one recreated behind the controller's back gets a new id. Services are
swarm objects that every manager reports: a service reconciler names the manager it
runs on (``engines=[…]``), so one object is not reconciled from several managers at once.

With a :class:`swarmnet.Lease` the controller acts only while the lease is held: it
runs inside ``lease.leading()``, which cancels everything in flight when the lease is
lost, and re-reads the whole world when it is taken (again).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import anyio
from anyio.abc import TaskGroup, TaskStatus
from pydantic import Field

from swarmnet._containers.models import Container
from swarmnet._controllers.queue import TokenBucket, WorkQueue
from swarmnet._core.errors import EngineError, EventsLost, InvalidSpec, NotFound, SwarmError
from swarmnet._core.log import get_logger
from swarmnet._core.models import Spec
from swarmnet._events.stream import ReconnectSettings
from swarmnet._events.watcher.settings import Retry, RetrySettings
from swarmnet._networks.models import Network
from swarmnet._services.models import Service

if TYPE_CHECKING:
    from swarmnet._controllers.lease import Lease
    from swarmnet._core.engine import Engine

__all__ = [
    "Controller",
    "ControllerSettings",
    "ControllerStats",
    "Kind",
    "Reconciler",
    "Ref",
    "Selector",
]

_log = get_logger("swarmnet.controller")

#: Container actions that may change what a reconciler sees (exec_* and the like do not).
_CONTAINER_ACTIONS = (
    "create",
    "start",
    "restart",
    "die",
    "stop",
    "kill",
    "pause",
    "unpause",
    "destroy",
    "rename",
    "update",
)
_NETWORK_ACTIONS = ("create", "connect", "disconnect", "destroy", "remove", "update")
_SERVICE_ACTIONS = ("create", "update", "remove")


class Kind(str, enum.Enum):
    """The kinds of object a controller reconciles."""

    CONTAINER = "container"
    NETWORK = "network"
    SERVICE = "service"


@dataclass(frozen=True, order=True)
class Ref:
    """Which object a reconcile run is about.

    Attributes:
        engine: the engine's name (:attr:`swarmnet.Engine.name`).
        kind: ``Kind.CONTAINER``, ``Kind.NETWORK`` or ``Kind.SERVICE``.
        id: a container's id, or a network's or service's *name*.
    """

    engine: str
    kind: Kind
    id: str

    def __str__(self) -> str:
        short = self.id[:12] if self.kind is Kind.CONTAINER else self.id
        return f"{self.engine}/{self.kind.value}/{short}"


class Reconciler(Protocol):
    """``async def fn(ref, obj, *, engine, controller, **kwargs)``; obj is None when gone.

    Accept ``**kwargs``: later versions may pass more keyword arguments.
    """

    def __call__(
        self,
        ref: Ref,
        obj: Any,
        *,
        engine: Engine,
        controller: Controller,
        **kwargs: Any,
    ) -> Awaitable[None]: ...


F = TypeVar("F", bound=Callable[..., Awaitable[None]])


@dataclass(frozen=True)
class Selector:
    """Which objects a reconciler is for; every given part must match.

    Attributes:
        kind: containers, networks or services.
        labels: containers or services with these labels (value None: the label is set
            at all).
        names: objects with one of these names.
        networks: containers attached to one of these networks (by name).
        engines: only on these engines (by name); empty: every engine.
    """

    kind: Kind
    labels: Mapping[str, str | None] = field(default_factory=dict)
    names: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()
    engines: frozenset[str] = frozenset()

    def on(self, engine: str) -> bool:
        """Whether objects on ``engine`` may match."""
        return not self.engines or engine in self.engines

    def matches(self, obj: Container | Network | Service) -> bool:
        """Whether a container, network or service as read from the engine matches."""
        if self.names and obj.name not in self.names:
            return False
        if isinstance(obj, (Container, Service)):
            for key, value in self.labels.items():
                if key not in obj.labels or (value is not None and obj.labels[key] != value):
                    return False
            if (
                isinstance(obj, Container)
                and self.networks
                and not self.networks & set(obj.networks)
            ):
                return False
        return True


@dataclass(frozen=True)
class _Registration:
    name: str
    selector: Selector
    fn: Callable[..., Awaitable[None]]


class ControllerSettings(Spec):
    """Every knob of a :class:`Controller` (the defaults suit most uses).

    Attributes:
        concurrency: objects reconciled at once (one object never runs twice at once).
            Runs mostly wait on engines, so many may be in flight: in a burst of 300
            containers joining an overlay, 8 at once left each waiting a median 25 s
            for its turn, 64 about 2.5 s (``benchmarks/bench_join_label.py``).
        resync_interval: seconds between full re-reads of every engine, which queue
            every matching object whatever the events said (``None``: only at start
            and after lost events).
        rate: reconcile runs started per second at most, on average (``None``: no
            limit); ``burst`` may start at once.
        burst: runs that may start back to back before ``rate`` applies.
        retry: delays before the 1st, 2nd, … retry of an object whose reconciler
            raised (the last repeats; reset after a success), and the attempts before
            giving up until the object's next event or resync. A reconciler may raise
            :class:`swarmnet.Retry` to ask for a run later without it counting as a
            failure.
        reconnect: how each engine's lost event stream is re-opened.
        stop_grace: seconds a stopping controller lets runs in flight finish before
            cancelling them.
    """

    concurrency: int = Field(64, ge=1, le=10_000)
    resync_interval: float | None = Field(60.0, gt=0)
    rate: float | None = Field(None, gt=0)
    burst: int = Field(10, ge=1)
    retry: RetrySettings = RetrySettings(backoff=(0.2, 0.5, 1.0, 2.0, 5.0), max_attempts=10)
    reconnect: ReconnectSettings = ReconnectSettings(max_delay=2.0)
    stop_grace: float = Field(5.0, ge=0)


@dataclass(frozen=True)
class ControllerStats:
    """A frozen snapshot of a controller's counters.

    Attributes:
        active: acting now (always True without a lease while running).
        runs: reconcile runs of an object (all its matching reconcilers) that ended.
        succeeded, failed: runs that ended well, or with an error (then retried).
        retries: runs queued again after a failure or :class:`swarmnet.Retry`.
        gave_up: objects left until their next event or resync after ``max_attempts``.
        events: engine events that queued an object.
        resyncs: full re-reads of one engine.
        gaps: times an engine's events were found lost (each followed by a resync).
        queued, running, delayed: objects waiting now, being reconciled now, waiting
            for a retry.
        activations: times the controller started acting (taking the lease).
        run_seconds: time spent in the runs that ended (reading the object and calling
            its reconcilers), in seconds: with ``runs``, the mean duration of a run.
    """

    active: bool
    runs: int
    succeeded: int
    failed: int
    retries: int
    gave_up: int
    events: int
    resyncs: int
    gaps: int
    queued: int
    running: int
    delayed: int
    activations: int
    run_seconds: float = 0.0


class _Counters:
    def __init__(self) -> None:
        self.runs = self.succeeded = self.failed = self.retries = self.gave_up = 0
        self.events = self.resyncs = self.gaps = self.activations = 0
        self.run_seconds = 0.0


class Controller:
    """Reconcile containers, networks and services on several engines toward what you
    declare.

    Register reconcilers with :meth:`reconcile`, then run it::

        controller = swarmnet.Controller(*engines)

        @controller.reconcile("container", labels={"swarmnet.join": "app"})
        async def join(ref, container, *, engine, **kwargs):
            if container is not None and container.running and "app" not in container.networks:
                await engine.networks.connect("app", container.id, aliases=[container.name])

        async with controller:  # runs until the block ends
            await anyio.sleep_forever()

    A reconciler gets the object's *current* state, read when its run starts (``None``
    when it is gone, for a reconciler it matched before), never the event: it is
    called on every relevant change, after lost events and on every resync, and must
    be idempotent. Runs of one object never overlap; an object that changes while its
    run is in flight runs once more afterwards. A reconciler that raises is retried
    with backoff (``settings.retry``).

    Args:
        engines: open engines; objects are looked at on each (a container on the
            engine it lives on).
        lease: act only while this :class:`swarmnet.Lease` is held (several replicas,
            one acts). The controller does not enter the lease: do that around it.
        settings: :class:`ControllerSettings`.

    Raises:
        InvalidSpec: no engines, or two engines with one name.
    """

    def __init__(
        self,
        *engines: Engine,
        lease: Lease | None = None,
        settings: ControllerSettings | None = None,
    ) -> None:
        if not engines:
            raise InvalidSpec("a Controller needs at least one engine")
        names = [engine.name for engine in engines]
        if len(set(names)) != len(names):
            raise InvalidSpec(f"engines need distinct names (Engine(name=…)), got {names}")
        self.engines: dict[str, Engine] = dict(zip(names, engines, strict=True))
        self.lease = lease
        self.settings = settings or ControllerSettings()
        self._registrations: list[_Registration] = []
        # Last state seen of each object some reconciler matched (for absence, fan-out).
        self._cache: dict[Ref, Container | Network | Service] = {}
        self._queue: WorkQueue[Ref] = WorkQueue()
        self._attempts: dict[Ref, int] = {}
        self._counters = _Counters()
        self._active = False
        self._run_scopes: set[anyio.CancelScope] = set()
        self._group: TaskGroup | None = None

    def __repr__(self) -> str:
        return (
            f"<Controller engines={sorted(self.engines)} reconcilers="
            f"{[r.name for r in self._registrations]} active={self._active}>"
        )

    # -- registering -------------------------------------------------------------------

    def reconcile(
        self,
        kind: Kind | Literal["container", "network", "service"],
        *,
        labels: Mapping[str, str | None] | None = None,
        names: Iterable[str] = (),
        networks: Iterable[str] = (),
        engines: Iterable[Engine | str] = (),
    ) -> Callable[[F], F]:
        """Register the decorated ``async def fn(ref, obj, *, engine, controller, **kwargs)``.

        Args:
            kind: ``"container"``, ``"network"`` or ``"service"``.
            labels: containers or services with these labels (``None`` as value: the
                label is set).
            names: objects with one of these names. For networks and services, each
                name is also reconciled when no such object exists (``obj`` is then None).
            networks: containers attached to one of these networks.
            engines: only objects on these engines (engines or their names). Service
                reconcilers need exactly one, a manager: every manager sees every
                service, and one service must not be updated from two at once.

        Returns:
            A decorator that registers the function and returns it unchanged.

        Raises:
            InvalidSpec: an unknown kind, a label selector on networks (they carry no
                labels here), a service reconciler without exactly one engine, or an
                engine the controller does not have.
        """
        selector = self._selector(kind, labels, names, networks, engines)

        def register(fn: F) -> F:
            name = getattr(fn, "__qualname__", repr(fn))
            self._registrations.append(_Registration(name, selector, fn))
            return fn

        return register

    def add(self, ref: Ref) -> None:
        """Queue an object to be reconciled now (a reconciler may queue related ones)."""
        self._queue.add(ref)

    def cached(self, kind: Kind | str, *, engine: str | None = None) -> list[tuple[Ref, Any]]:
        """Objects of ``kind`` last seen (on ``engine``), as (ref, state) pairs."""
        kind = Kind(kind)
        return [
            (ref, obj)
            for ref, obj in self._cache.items()
            if ref.kind is kind and (engine is None or ref.engine == engine)
        ]

    def _selector(
        self,
        kind: Kind | str,
        labels: Mapping[str, str | None] | None,
        names: Iterable[str],
        networks: Iterable[str],
        engines: Iterable[Engine | str],
    ) -> Selector:
        try:
            kind = Kind(kind)
        except ValueError:
            raise InvalidSpec(
                f"kind must be 'container', 'network' or 'service', not {kind!r}"
            ) from None
        if kind is Kind.NETWORK and (labels or networks):
            raise InvalidSpec("network reconcilers select by names (and engines) only")
        if kind is Kind.SERVICE and networks:
            raise InvalidSpec("service reconcilers select by names, labels (and engine) only")
        if isinstance(names, str) or isinstance(networks, str):
            raise InvalidSpec("names and networks take a list of names, not one string")
        engine_names = frozenset(e if isinstance(e, str) else e.name for e in engines)
        unknown = engine_names - set(self.engines)
        if unknown:
            raise InvalidSpec(f"engines {sorted(unknown)} are not this controller's")
        if kind is Kind.SERVICE and len(engine_names) != 1:
            raise InvalidSpec(
                "a service reconciler runs on one manager: pass engines=[that manager] "
                "(every manager reports every service)"
            )
        for key in labels or {}:
            if not key:
                raise InvalidSpec("label keys must not be empty")
        return Selector(
            kind=kind,
            labels=dict(labels or {}),
            names=frozenset(names),
            networks=frozenset(networks),
            engines=engine_names,
        )

    # -- stats ---------------------------------------------------------------------------

    def stats(self) -> ControllerStats:
        """The counters now, as a frozen :class:`ControllerStats`."""
        c = self._counters
        return ControllerStats(
            active=self._active,
            runs=c.runs,
            succeeded=c.succeeded,
            failed=c.failed,
            retries=c.retries,
            gave_up=c.gave_up,
            events=c.events,
            resyncs=c.resyncs,
            gaps=c.gaps,
            queued=len(self._queue),
            running=self._queue.running,
            delayed=self._queue.delayed,
            activations=c.activations,
            run_seconds=c.run_seconds,
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Controller:
        group = anyio.create_task_group()
        await group.__aenter__()
        try:
            await group.start(self.run)
        except BaseException as exc:
            await group.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        group, self._group = self._group, None
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(exc_type, exc, tb)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Reconcile until cancelled; with a lease, only while it is held.

        Signals ``task_status.started()`` after the first full read of every engine
        (with a lease: at once, as it may never be held). When cancelled, runs in
        flight get ``settings.stop_grace`` seconds to finish.
        """
        if not self._registrations:
            raise InvalidSpec("register a reconciler (controller.reconcile) before running")
        if self.lease is None:
            await self._act(task_status)
            return
        task_status.started()
        while True:
            async with self.lease.leading():
                await self._act(None)

    async def _act(self, task_status: TaskStatus[None] | None) -> None:
        self._queue = WorkQueue()  # nothing from an earlier term carries over
        self._attempts.clear()
        self._cache.clear()
        self._active = True
        self._counters.activations += 1
        _log.info("controller.active", engines=sorted(self.engines))
        limiter = TokenBucket(self.settings.rate, self.settings.burst)
        try:
            async with anyio.create_task_group() as workers:
                for _ in range(self.settings.concurrency):
                    workers.start_soon(self._worker, limiter)
                try:
                    async with anyio.create_task_group() as feeders:
                        # Not waited for: an engine that is down now must not hold up
                        # the others; each re-reads its engine once subscribed.
                        for engine in self.engines.values():
                            feeders.start_soon(self._follow, engine)
                        await self._resync_all()
                        if task_status is not None:
                            task_status.started()
                        if self.settings.resync_interval is not None:
                            feeders.start_soon(self._resync_every, self.settings.resync_interval)
                finally:
                    # Stopping: no new work; what runs now may finish within the grace.
                    self._queue.close()
                    # A lost lease allows no grace: another replica may be acting already.
                    grace = 0.0 if self._lost_lease() else self.settings.stop_grace
                    with anyio.CancelScope(shield=True):
                        with anyio.move_on_after(grace):
                            await self._queue.idle()
                    for scope in list(self._run_scopes):
                        scope.cancel()
                    workers.cancel_scope.cancel()
        finally:
            self._active = False
            _log.info("controller.inactive")

    # -- triggers ------------------------------------------------------------------------

    async def _follow(self, engine: Engine) -> None:
        """Queue the objects one engine's events name; resync it once subscribed and
        after every gap (a restarted daemon's events are all gone)."""
        types = ["container", "network"]
        if self._wants(Kind.SERVICE, engine.name):
            types.append("service")
        stream = engine.events(
            type=types,
            action=sorted(set(_CONTAINER_ACTIONS) | set(_NETWORK_ACTIONS) | set(_SERVICE_ACTIONS)),
            reconnect=self.settings.reconnect,
            on_gap="raise",
        )
        async with stream:
            await self._resync_safely(engine)
            while True:
                try:
                    async for event in stream:
                        self._counters.events += 1
                        for ref in self._refs_of(engine.name, event.type, event.action, event):
                            self._queue.add(ref)
                    return
                except EventsLost as exc:
                    self._counters.gaps += 1
                    _log.info("controller.events_lost", engine=engine.name, error=str(exc))
                    await self._resync_safely(engine)

    def _refs_of(self, engine: str, type_: str, action: str, event: Any) -> list[Ref]:
        refs = []
        attributes: Mapping[str, str] = event.attributes
        if type_ == Kind.CONTAINER.value and action in _CONTAINER_ACTIONS:
            refs.append(Ref(engine, Kind.CONTAINER, event.actor_id))
        elif type_ == Kind.NETWORK.value:
            if attributes.get("container"):
                refs.append(Ref(engine, Kind.CONTAINER, attributes["container"]))
            if attributes.get("name"):
                refs.append(Ref(engine, Kind.NETWORK, attributes["name"]))
        elif (
            type_ == Kind.SERVICE.value
            and attributes.get("name")
            and self._wants(Kind.SERVICE, engine)
        ):
            refs.append(Ref(engine, Kind.SERVICE, attributes["name"]))
        return refs

    def _wants(self, kind: Kind, engine: str) -> bool:
        """Whether some reconciler wants objects of ``kind`` on ``engine``."""
        return any(r.selector.kind is kind and r.selector.on(engine) for r in self._registrations)

    async def _resync_every(self, interval: float) -> None:
        while True:
            await anyio.sleep(interval)
            await self._resync_all()

    async def _resync_all(self) -> None:
        async with anyio.create_task_group() as group:
            for engine in self.engines.values():
                group.start_soon(self._resync_safely, engine)

    async def _resync_safely(self, engine: Engine) -> None:
        try:
            await self.resync(engine)
        except EngineError as exc:
            # An engine that is down now is re-read after its stream's gap, or next time.
            _log.warning("controller.resync_failed", engine=engine.name, error=str(exc))

    async def resync(self, engine: Engine) -> None:
        """Queue every object on ``engine`` some reconciler selects, and the ones gone."""
        wanted = [r.selector for r in self._registrations if r.selector.on(engine.name)]
        seen: set[Ref] = set()
        if any(s.kind is Kind.CONTAINER for s in wanted):
            for container in await engine.containers.list(all=True):
                if any(s.kind is Kind.CONTAINER and s.matches(container) for s in wanted):
                    seen.add(Ref(engine.name, Kind.CONTAINER, container.id))
        network_selectors = [s for s in wanted if s.kind is Kind.NETWORK]
        if network_selectors:
            for network in await engine.networks.list():
                if any(s.matches(network) for s in network_selectors):
                    seen.add(Ref(engine.name, Kind.NETWORK, network.name))
            for selector in network_selectors:
                seen.update(Ref(engine.name, Kind.NETWORK, name) for name in selector.names)
        service_selectors = [s for s in wanted if s.kind is Kind.SERVICE]
        if service_selectors:
            try:
                services = await engine.services.list()
            except SwarmError as exc:
                # Not a manager (now): its named services are looked at, and found gone.
                _log.warning("controller.services_unreadable", engine=engine.name, error=str(exc))
                services = ()
            for service in services:
                if any(s.matches(service) for s in service_selectors):
                    seen.add(Ref(engine.name, Kind.SERVICE, service.name))
            for selector in service_selectors:
                seen.update(Ref(engine.name, Kind.SERVICE, name) for name in selector.names)
        gone = {ref for ref in self._cache if ref.engine == engine.name} - seen
        self._counters.resyncs += 1
        # Behind what events name: nearly every object a resync queues has nothing to do.
        for ref in sorted(seen | gone):
            self._queue.add(ref, background=True)

    # -- running reconcilers -------------------------------------------------------------

    async def _worker(self, limiter: TokenBucket) -> None:
        while True:
            try:
                ref = await self._queue.get()
            except anyio.EndOfStream:
                return
            try:
                wait = limiter.reserve()
                if wait:
                    await anyio.sleep(wait)
                # Shielded so that a stop lets it finish within the grace; the stop
                # (or a lost lease, at once) cancels this scope itself.
                with anyio.CancelScope(shield=True) as scope:
                    self._run_scopes.add(scope)
                    try:
                        await self._run_one(ref)
                    finally:
                        self._run_scopes.discard(scope)
            finally:
                self._queue.done(ref)

    async def _read(self, engine: Engine, ref: Ref) -> Container | Network | Service | None:
        try:
            if ref.kind is Kind.CONTAINER:
                return await engine.containers.get(ref.id)
            if ref.kind is Kind.SERVICE:
                return await engine.services.get(ref.id)
            return await engine.networks.get(ref.id)
        except NotFound:
            return None

    async def _run_one(self, ref: Ref) -> None:
        started = time.monotonic()
        try:
            await self._run_timed(ref, started)
        finally:
            self._counters.run_seconds += time.monotonic() - started

    async def _run_timed(self, ref: Ref, started: float) -> None:
        engine = self.engines[ref.engine]
        try:
            obj = await self._read(engine, ref)
            before = self._cache.get(ref)
            chosen = [
                r
                for r in self._registrations
                if r.selector.kind is ref.kind
                and r.selector.on(ref.engine)
                and (
                    (obj is not None and r.selector.matches(obj))
                    or (before is not None and r.selector.matches(before))
                    or (
                        obj is None
                        and ref.kind is not Kind.CONTAINER
                        and ref.id in r.selector.names
                    )
                )
            ]
            if obj is not None and chosen:
                self._cache[ref] = obj
            else:
                self._cache.pop(ref, None)
            for registration in chosen:
                if self._lost_lease():
                    return  # the term ended; the next holder re-reads everything
                current = obj
                if current is not None and not registration.selector.matches(current):
                    current = None  # no longer selected: to this reconciler it is gone
                await registration.fn(ref, current, engine=engine, controller=self)
        except Retry as exc:
            self._counters.runs += 1
            self._counters.retries += 1
            delay = exc.delay if exc.delay is not None else self._backoff(ref)
            _log.info("controller.retry", ref=str(ref), reason=str(exc), delay=delay)
            self._queue.add_after(ref, delay)
        except Exception as exc:  # noqa: BLE001 - a reconciler's failure is retried, not fatal
            self._counters.runs += 1
            self._counters.failed += 1
            attempts = self._attempts.get(ref, 0) + 1
            if attempts >= self.settings.retry.max_attempts:
                self._attempts.pop(ref, None)
                self._counters.gave_up += 1
                _log.warning("controller.gave_up", ref=str(ref), attempts=attempts, error=repr(exc))
                return
            self._attempts[ref] = attempts
            self._counters.retries += 1
            delay = self.settings.retry.delay(attempts)
            _log.info("controller.failed", ref=str(ref), error=repr(exc), retry_in=delay)
            self._queue.add_after(ref, delay)
        else:
            self._counters.runs += 1
            self._counters.succeeded += 1
            self._attempts.pop(ref, None)
            _log.debug(
                "controller.reconciled",
                ref=str(ref),
                seconds=round(time.monotonic() - started, 4),
            )

    def _lost_lease(self) -> bool:
        return self.lease is not None and not self.lease.held

    def _backoff(self, ref: Ref) -> float:
        attempts = self._attempts.get(ref, 0) + 1
        self._attempts[ref] = attempts
        return self.settings.retry.delay(attempts)
