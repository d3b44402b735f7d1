"""``ensure``: make one engine hold exactly one network of a name, matching a spec.

Used by :meth:`NetworksAPI.ensure` and :meth:`NetworksAPI.ensure_many`; nothing here is
public. Writers in other processes share no lock with this one, and API 1.41 checks a
name (``CheckDuplicate``) apart from the create itself, so several writers of one name
race each other. What each of them sees, and what ensure makes of it:

- the name is taken (``already exists``; the swarm's ``name conflicts with an
  existing object``): another writer won; read the name again;
- the subnet ``overlaps``: when a network of the same name holds it, or nothing
  visible does (a create still in flight), another writer won; read again. When a
  network of another name holds it, that is a real conflict, raised naming it;
- two networks of the name (checks that passed together): the oldest (creation
  time, then id) is kept by every writer, the newer ones are removed when nothing
  is attached. A writer whose own network was not kept reports ``unchanged`` with
  the kept one, or ``DriftDetected`` when the kept one differs from its spec.

A create stamps its network's creation time when it starts but shows the network only
when it ends, so a writer that met another one, or created one itself, decides only
once the oldest network it sees has existed for twice the time a create takes (at
least 0.3 s) on the engine's clock: an older one still being created has shown up
by then. A swarm network needs no such wait: the swarm refuses a second network of a
name by itself.

On a manager, a swarm network that the swarm has removed stays listed until its last
local endpoint is gone (tasks stop within their grace period); such a copy is not an
existing network: ensure waits for it to go, then creates.
"""

from __future__ import annotations

import builtins
import ipaddress
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, overload

import anyio

from swarmnet._core.concurrency import run_all
from swarmnet._core.errors import (
    AmbiguousNetwork,
    Conflict,
    DriftDetected,
    EngineAPIError,
    NetworkInUse,
    NetworkNotFound,
    NotASwarmManager,
    NotInSwarm,
    SwarmnetError,
)
from swarmnet._networks.attach import EndpointConfig
from swarmnet._networks.drift import Drift, EnsureOutcome, EnsureResult, NetworkDiff, diff
from swarmnet._networks.models import (
    Endpoint,
    Network,
    NetworkScope,
    short_id,
    subnets_overlap,
)
from swarmnet._networks.specs import AnyNetworkSpec

if TYPE_CHECKING:
    from swarmnet._networks.api import NetworksAPI

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)
# How long to wait for the swarm to allocate a new network: about 5 s in all.
SETTLE_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 2.0)
# How long to keep meeting other writers before giving up (a bridge create costs about
# 250 ms of the engine's time, and the engine runs them one after another).
_CONTENTION_TIMEOUT = 20.0
_BACKOFF = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
# How long a local network must have existed before a writer that met another one (or
# created one itself) takes the oldest it sees as final: longer than a create takes,
# queue included, on a busy engine.
_SETTLED_AFTER = 0.3
_SETTLED_MAX = 10.0
# How long a check that this engine is a swarm manager holds.
_MANAGER_TTL = 10.0
# How long a removed swarm network may keep its local copy: tasks stop within their
# grace period (10 s by default) and the engine then drops the copy.
_RETIRE_TIMEOUT = 30.0


class _SettledNetworks:
    """Networks this process has already seen past their settling window (bounded)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._seen: dict[tuple[str, str], None] = {}

    def has(self, engine: str, network_id: str) -> bool:
        return (engine, network_id) in self._seen

    def add(self, engine: str, network_id: str) -> None:
        self._seen[(engine, network_id)] = None
        while len(self._seen) > self._size:
            del self._seen[next(iter(self._seen))]


_SETTLED = _SettledNetworks()


class NameLocks:
    """One lock per (engine, network name) in this process, dropped when unused.

    Locks live only while someone holds or waits for them, so none outlives the event
    loop it was made in.
    """

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[anyio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, engine: str, name: str) -> AsyncIterator[None]:
        """Hold the lock of ``name`` on ``engine`` for the duration of the block."""
        key = (engine, name)
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = anyio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


NAME_LOCKS = NameLocks()


def pending(network: Network) -> bool:
    """True while the swarm has not allocated a swarm network (no driver, no pools yet)."""
    return network.scope is NetworkScope.SWARM and not network.driver


def swarm_spec(spec: AnyNetworkSpec) -> bool:
    """True for a spec of a swarm-scoped network (created through a manager)."""
    return spec.expected_scope() == "swarm"


def overlaps(spec: AnyNetworkSpec, networks: Iterable[Network]) -> builtins.list[str]:
    """``"<mine> overlaps <name> (<theirs>)"`` for each pool of another network in the way."""
    clashes: builtins.list[str] = []
    for other in networks:
        for pool in other.ipam.config:
            for mine in spec.pools:
                if pool.subnet is not None and subnets_overlap(pool.subnet, mine.subnet):
                    clashes.append(f"{mine.subnet} overlaps {other.name} ({pool.subnet})")
    return clashes


def same_address_space(spec: AnyNetworkSpec, networks: Iterable[Network]) -> builtins.list[Network]:
    """The networks whose pools can clash with ``spec``'s, other than its own name's.

    The engine keeps two address spaces apart: local networks (bridges, macvlan…)
    and swarm networks, whose pools the managers hand out. A removed swarm network's
    local copy holds no pool any more.
    """
    if swarm_spec(spec):
        return [n for n in networks if n.swarm_record and n.name != spec.name]
    return [n for n in networks if n.scope is not NetworkScope.SWARM and n.name != spec.name]


def _age_key(network: Network) -> tuple[datetime, str]:
    return (network.created or _EPOCH, network.id)


def _name_taken(exc: EngineAPIError) -> bool:
    text = exc.explanation
    return "already exists" in text or "name conflicts with an existing object" in text


def _group_by_name(networks: Iterable[Network]) -> dict[str, builtins.list[Network]]:
    grouped: dict[str, builtins.list[Network]] = {}
    for network in networks:
        grouped.setdefault(network.name, []).append(network)
    return grouped


@dataclass
class _Attachment:
    """A container taken off a network by a recreate, and how to put it back."""

    container_id: str
    name: str
    original: EndpointConfig
    renewed: EndpointConfig


@dataclass
class _Progress:
    """What a recreate has changed so far, so that a failure can undo it."""

    disconnected: builtins.list[_Attachment] = field(default_factory=list)
    deleted: bool = False
    new_id: str | None = None
    reconnected: builtins.list[_Attachment] = field(default_factory=list)


class Ensurer:
    """The ensure workflow over one :class:`NetworksAPI` (one engine)."""

    def __init__(self, api: NetworksAPI) -> None:
        self._api = api
        self._url = api._engine.url
        self._log = api._log

    # -- entry points ------------------------------------------------------------------

    async def ensure(self, spec: AnyNetworkSpec, on_drift: Drift) -> EnsureResult:
        """See :meth:`NetworksAPI.ensure`."""
        async with NAME_LOCKS.hold(self._url, spec.name):
            return await self._converge(spec, on_drift, None)

    async def ensure_many(
        self, specs: Sequence[AnyNetworkSpec], on_drift: Drift, concurrency: int
    ) -> tuple[EnsureResult, ...]:
        """See :meth:`NetworksAPI.ensure_many`."""
        by_name = _group_by_name(await self._api.list())
        results: dict[str, EnsureResult] = {}
        created: dict[str, tuple[AnyNetworkSpec, str]] = {}

        async def one(spec: AnyNetworkSpec) -> None:
            async with NAME_LOCKS.hold(self._url, spec.name):
                result = await self._converge(
                    spec, on_drift, by_name.get(spec.name, []), verify=False
                )
            if isinstance(result, str):
                created[spec.name] = (spec, result)
            else:
                results[spec.name] = result

        # Every spec is tried; the first failure is raised once the batch is done.
        failure: SwarmnetError | None = None
        try:
            await run_all([partial(one, s) for s in specs], limit=concurrency)
        except SwarmnetError as exc:
            failure = exc
        if created:
            # The swarm networks created: read them back together, once allocated.
            listed = await self._list_settled({network_id for _, network_id in created.values()})
            for name, (spec, network_id) in created.items():
                network = listed.get(network_id)
                try:
                    if network is None or pending(network):
                        network = await self._verify_allocated(spec, network_id)
                    if network is None:
                        results[name] = await self.ensure(spec, on_drift)
                        continue
                except SwarmnetError as exc:
                    failure = failure or exc
                    continue
                results[name] = EnsureResult(
                    network=network,
                    outcome=EnsureOutcome.CREATED,
                    diff=NetworkDiff(network=name),
                )
        if failure is not None:
            raise failure
        return tuple(results[s.name] for s in specs)

    async def _list_settled(self, ids: set[str]) -> dict[str, Network]:
        """List once, and again only while some of ``ids`` are not allocated yet."""
        listed = {n.id: n for n in await self._api.list()}
        for delay in SETTLE_DELAYS:
            if not any(pending(listed[i]) for i in ids if i in listed):
                break
            await anyio.sleep(delay)
            listed = {n.id: n for n in await self._api.list()}
        return listed

    # -- the loop ----------------------------------------------------------------------

    @overload
    async def _converge(
        self,
        spec: AnyNetworkSpec,
        on_drift: Drift,
        known: builtins.list[Network] | None,
        *,
        verify: Literal[True] = True,
    ) -> EnsureResult: ...

    @overload
    async def _converge(
        self,
        spec: AnyNetworkSpec,
        on_drift: Drift,
        known: builtins.list[Network] | None,
        *,
        verify: bool,
    ) -> EnsureResult | str: ...

    async def _converge(
        self,
        spec: AnyNetworkSpec,
        on_drift: Drift,
        known: builtins.list[Network] | None,
        *,
        verify: bool = True,
    ) -> EnsureResult | str:
        """Find or create the one network of ``spec.name``, against other writers.

        With ``verify`` False, a swarm network this call created is returned as its
        id, unread, for the caller to read back with others (:meth:`ensure_many`).
        """
        deadline = anyio.current_time() + _CONTENTION_TIMEOUT
        contended = False
        own_id: str | None = None
        # How long a create takes on this engine now (queue included), as far as seen.
        create_time = 0.0
        attempt = 0
        while True:
            found = known if known is not None else await self._named(spec.name)
            known = None
            live = await self._live(spec, found)
            if live:
                oldest = min(live, key=_age_key)
                if not swarm_spec(spec) and not self._known_settled(oldest):
                    # Another writer may still be creating an older one: wait until
                    # the oldest we see has been there long enough, then read again.
                    wait, create_time = await self._until_settled(
                        oldest, create_time, contended=contended or own_id is not None
                    )
                    if wait > 0:
                        await anyio.sleep(wait)
                        continue
                    _SETTLED.add(self._url, oldest.id)
                keeper = oldest if len(live) == 1 else await self._resolve_duplicates(live)
                if own_id is not None and keeper.id == own_id:
                    return EnsureResult(
                        network=await self.settle(await self._api.get(own_id)),
                        outcome=EnsureOutcome.CREATED,
                        diff=NetworkDiff(network=spec.name),
                    )
                if own_id is not None:
                    self._log.info("network.create_superseded", network=spec.name, kept=keeper.id)
                return await self._existing(spec, keeper, on_drift)
            # Nothing of the name (any network of ours was removed by another writer
            # that kept an older one, which has since gone too): create.
            own_id = None
            await self._check_before_create(spec)
            started = anyio.current_time()
            try:
                own_id = await self._api._send_create(spec)
            except EngineAPIError as exc:
                await self._another_writer(spec, exc)
                contended = True
                if anyio.current_time() > deadline:
                    raise Conflict.refine(
                        exc,
                        f"network {spec.name}: other writers kept the name or subnet busy "
                        f"for {_CONTENTION_TIMEOUT:.0f} s ({exc.explanation}); try again",
                    ) from exc
                await anyio.sleep(_BACKOFF[min(attempt, len(_BACKOFF) - 1)])
                attempt += 1
                continue
            create_time = max(create_time, anyio.current_time() - started)
            if swarm_spec(spec):
                # The swarm keeps names unique by itself: ours is the network of the name.
                if not verify:
                    return own_id
                network = await self._verify_allocated(spec, own_id)
                if network is not None:
                    return EnsureResult(
                        network=network,
                        outcome=EnsureOutcome.CREATED,
                        diff=NetworkDiff(network=spec.name),
                    )

    def _known_settled(self, oldest: Network) -> bool:
        """True when ``oldest`` is surely past the settling window, without asking."""
        if _SETTLED.has(self._url, oldest.id):
            return True
        if oldest.created is None:
            return True
        # The engine's clock may differ from ours; a minute is ample room for that.
        age = (datetime.now(timezone.utc) - oldest.created).total_seconds()
        return age > _SETTLED_MAX + 60.0

    async def _until_settled(
        self, oldest: Network, create_time: float, *, contended: bool
    ) -> tuple[float, float]:
        """Seconds to wait until ``oldest`` can be taken as the oldest there is.

        A create stamps its network's creation time when it starts and shows the
        network only when it ends (a bridge: after its iptables work, queued behind
        other creates, on this engine and others on the host). A network older than
        ``oldest`` that is still being created shows up within about one create time
        of ``oldest``'s; the wait lasts twice the longest create time seen (our own,
        or ``oldest``'s age when first seen), and at least ``_SETTLED_AFTER``.

        Returns the wait and the create time estimate to carry on with.
        """
        if oldest.created is None:
            return 0.0, create_time
        age = (await self._api._engine_time() - oldest.created).total_seconds()
        if create_time == 0.0 and contended:
            # Met at once after it appeared: its age is about its create time.
            create_time = min(max(age, 0.0), _SETTLED_MAX / 2)
        window = min(max(_SETTLED_AFTER, 2 * create_time), _SETTLED_MAX)
        return max(window - age, 0.0), create_time

    async def _named(self, name: str) -> builtins.list[Network]:
        return builtins.list(await self._api.list(name=name))

    async def _live(
        self, spec: AnyNetworkSpec, found: builtins.list[Network]
    ) -> builtins.list[Network]:
        """The networks of the name that exist; for a swarm spec, only on a manager.

        A swarm network that the swarm no longer has (a local copy on its way out) is
        waited out, so that the name is free when ensure goes on to create.
        """
        if not swarm_spec(spec):
            return found
        if not any(n.swarm_record for n in found):
            # Only a manager answers from the swarm's records; make sure this is one.
            await self._require_manager(spec)
        for delay in self._retire_delays():
            retiring = [n for n in found if n.scope is NetworkScope.SWARM and not n.swarm_record]
            live = [n for n in found if n not in retiring]
            if not retiring or any(n.swarm_record for n in live):
                return live
            if delay is None:
                ids = ", ".join(n.id for n in retiring)
                raise Conflict(
                    f"network {spec.name} ({ids}) was removed from the swarm but this "
                    f"engine still holds its local copy after {_RETIRE_TIMEOUT:.0f} s "
                    "(containers or tasks on it have not stopped); stop them, then ensure "
                    "again",
                    engine=self._url,
                    status=409,
                )
            self._log.debug("network.retiring", network=spec.name, ids=[n.id for n in retiring])
            await anyio.sleep(delay)
            found = await self._named(spec.name)
        return found  # pragma: no cover (the loop returns or raises)

    @staticmethod
    def _retire_delays() -> Iterable[float | None]:
        waited = 0.0
        while waited < _RETIRE_TIMEOUT:
            yield 0.25
            waited += 0.25
        yield None

    async def _require_manager(self, spec: AnyNetworkSpec) -> None:
        """Refuse a swarm network on an engine that is not a swarm manager (nothing sent)."""
        if anyio.current_time() < self._api._manager_until:
            return
        swarm = (await self._api._engine.info()).swarm
        if swarm.is_manager:
            # Roles change rarely; a demotion within this time meets the engine's own
            # refusal, mapped to the same error.
            self._api._manager_until = anyio.current_time() + _MANAGER_TTL
            return
        if swarm.local_node_state.value == "active":
            raise NotASwarmManager(
                f"network {spec.name} is swarm-scoped ({spec.driver}): create and ensure it "
                "on a swarm manager; this engine is a worker (a worker sees an attachable "
                "overlay once a container here attaches to it)",
                engine=self._url,
                status=503,
            )
        raise NotInSwarm(
            f"network {spec.name} is swarm-scoped ({spec.driver}) and this engine is in no "
            "active swarm; init or join one, then ensure it on a manager",
            engine=self._url,
            status=503,
        )

    async def _check_before_create(self, spec: AnyNetworkSpec) -> None:
        """A swarm network's pools must not overlap another swarm network's.

        A manager accepts such a create and then never allocates the network; a
        bridge's overlap the engine refuses by itself.
        """
        if not swarm_spec(spec) or not spec.pools:
            return
        clashes = overlaps(spec, same_address_space(spec, await self._api.list()))
        if clashes:
            raise Conflict(
                f"network {spec.name}: its subnet overlaps another swarm network's: "
                f"{'; '.join(clashes)}; pick a free subnet (nothing was created)",
                engine=self._url,
                status=409,
            )

    async def _another_writer(self, spec: AnyNetworkSpec, exc: EngineAPIError) -> None:
        """Return when ``exc`` means another writer of the name got there first; else raise."""
        if _name_taken(exc):
            return
        if "overlaps" in exc.explanation:
            everyone = await self._api.list()
            same_name = [n for n in everyone if n.name == spec.name]
            if overlaps(spec, same_name):
                return
            clashes = overlaps(spec, same_address_space(spec, everyone))
            if clashes:
                raise Conflict.refine(
                    exc,
                    f"network {spec.name}: its subnet overlaps another network's: "
                    f"{'; '.join(clashes)}; pick a free subnet",
                ) from exc
            return  # held by a create still in flight: most likely one of the name
        raise await self._api._create_error(spec, exc) from exc

    async def _verify_allocated(self, spec: AnyNetworkSpec, network_id: str) -> Network | None:
        """The swarm network created, once allocated; one that cannot be is removed, refused.

        None when it is gone already (removed by someone else): read the name again.
        """
        try:
            network = await self.settle(await self._api.get(network_id))
        except NetworkNotFound:
            return None
        if not pending(network):
            return network
        clashes = overlaps(
            spec,
            [n for n in await self._api.list() if n.swarm_record and n.id != network_id],
        )
        await self._api._delete(network)
        detail = (
            f"its subnet overlaps another swarm network's: {'; '.join(clashes)}; pick a free subnet"
            if clashes
            else "the swarm did not allocate it (no driver state, no pools) within 5 s"
        )
        raise Conflict(
            f"network {spec.name}: {detail}; the network was removed again",
            engine=self._url,
            status=409,
        )

    # -- duplicates and settling -------------------------------------------------------

    async def _resolve_duplicates(self, networks: Sequence[Network]) -> Network:
        """Keep the oldest of same-named networks; remove the others if unused."""
        ordered = sorted(networks, key=_age_key)
        keeper, extras = ordered[0], ordered[1:]
        busy: builtins.list[str] = []
        for extra in extras:
            try:
                current = await self._api.get(extra.id)
                if current.container_ids:
                    busy.append(extra.id)
                    continue
                await self._api._delete(current)
            except NetworkNotFound:
                continue  # another resolver removed it first
            self._log.warning(
                "network.duplicate_removed", network=keeper.name, kept=keeper.id, removed=extra.id
            )
        if busy:
            ids = (keeper.id, *busy)
            raise AmbiguousNetwork(
                f"{len(ids)} networks are named {keeper.name!r} and the newer ones have "
                f"containers attached: {', '.join(ids)}; move them to {keeper.id} and "
                "remove the others",
                ids=ids,
                engine=self._url,
                status=409,
            )
        return keeper

    async def settle(self, network: Network) -> Network:
        """Wait (briefly) until the swarm has allocated a just-created network.

        Until its allocator has run, a swarm network reads back with no driver and no
        pools; comparing it then would report drift that is not there.
        """
        for delay in SETTLE_DELAYS:
            if not pending(network):
                break
            await anyio.sleep(delay)
            network = await self._api.get(network.id)
        return network

    # -- an existing network -----------------------------------------------------------

    async def _existing(
        self, spec: AnyNetworkSpec, existing: Network, on_drift: Drift
    ) -> EnsureResult:
        existing = await self.settle(existing)
        changes = diff(spec, existing)
        if not changes:
            return EnsureResult(network=existing, outcome=EnsureOutcome.UNCHANGED, diff=changes)
        log = self._log.bind(network=spec.name)
        if on_drift is Drift.LEAVE:
            log.warning("network.drifted", fields=list(changes.fields))
            return EnsureResult(network=existing, outcome=EnsureOutcome.DRIFTED, diff=changes)
        if on_drift is Drift.RAISE:
            raise DriftDetected(
                f"{changes}; pass on_drift=Drift.RECREATE to replace it, or Drift.LEAVE to keep it",
                diff=changes,
                engine=self._url,
            )
        network = await self._recreate(spec, existing)
        log.info("network.recreated", fields=list(changes.fields), id=network.id)
        return EnsureResult(network=network, outcome=EnsureOutcome.RECREATED, diff=changes)

    # -- recreate ----------------------------------------------------------------------

    async def _recreate(self, spec: AnyNetworkSpec, existing: Network) -> Network:
        """Replace ``existing`` with a network of ``spec``, reconnecting its containers.

        Everything that would stop it half-way is checked before the first write; a
        failure after it puts back what was changed.
        """
        current = await self._api.get(existing.id)
        if current.scope is NetworkScope.SWARM:
            await self._refuse_if_used_elsewhere(current)
        clashes = overlaps(spec, same_address_space(spec, await self._api.list()))
        if clashes:
            raise Conflict(
                f"network {spec.name} cannot be recreated: its new subnet overlaps another "
                f"network's: {'; '.join(clashes)}; nothing was changed",
                engine=self._url,
                status=409,
            )
        attachments: builtins.list[_Attachment] = []
        for container_id in current.container_ids:
            endpoint = await self._api._endpoint_of(container_id, current)
            if endpoint is not None:
                attachments.append(
                    _Attachment(
                        container_id=container_id,
                        name=endpoint.container_name or short_id(container_id),
                        original=_original_config(current.name, endpoint),
                        renewed=_reattach_config(spec, endpoint),
                    )
                )
        progress = _Progress()
        try:
            for attachment in attachments:
                await self._api.disconnect(current.id, attachment.container_id, force=True)
                progress.disconnected.append(attachment)
            await self._api._delete(current)
            progress.deleted = True
            progress.new_id = await self._create_in_place(
                spec.name, spec.create_body(), swarm=swarm_spec(spec)
            )
            # A swarm network takes connects only once the swarm has allocated it.
            network = await self.settle(await self._api.get(progress.new_id))
            for attachment in attachments:
                await self._api._connect(
                    attachment.container_id,
                    attachment.renewed.model_copy(update={"network": progress.new_id}),
                )
                progress.reconnected.append(attachment)
        except SwarmnetError as exc:
            restored = await self._roll_back(current, progress)
            message = f"recreating network {spec.name} failed ({exc}); {restored}"
            if isinstance(exc, EngineAPIError):
                # The same class, with what it carries (containers, ids, diff…).
                extra = {
                    key: getattr(exc, key)
                    for key in ("containers", "ids", "diff", "services", "cluster_id")
                    if hasattr(exc, key)
                }
                raise type(exc).refine(exc, message, **extra) from exc
            raise EngineAPIError(message, engine=self._url) from exc
        return await self._api.get(network.id) if attachments else network

    async def _create_in_place(self, name: str, body: Mapping[str, Any], *, swarm: bool) -> str:
        """Create ``name`` right after removing the network of that name.

        A manager keeps its local copy of a removed swarm network until the engine has
        let its last local endpoint go, and refuses the name meanwhile: wait that out.
        """
        for delay in self._retire_delays():
            try:
                return await self._api._send_body(name, body)
            except EngineAPIError as exc:
                if not swarm or not _name_taken(exc) or delay is None:
                    raise
                if any(n.swarm_record for n in await self._named(name)):
                    raise  # someone else made a new one meanwhile
                await anyio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refuse_if_used_elsewhere(self, network: Network) -> None:
        """Refuse (nothing changed) a recreate of a swarm network used beyond this engine.

        This engine can take its own containers off and put them back; services and
        containers on other nodes it cannot. Sources: the services that name the
        network, and the verbose inspect's view of every endpoint in the cluster (the
        engine gossips it only while it has the network itself, that is while one of
        its own containers is attached; otherwise the swarm's own refusal to remove a
        network in use stops the recreate before anything was changed).
        """
        users = await self._api._cluster_users(network)
        if users:
            raise NetworkInUse(
                f"network {network.name} cannot be recreated from this engine: it is in "
                f"use beyond it by {'; '.join(users)}; nothing was changed. Remove those "
                "(or move them to another network) first",
                containers=tuple(users),
                engine=self._url,
                status=409,
            )

    async def _roll_back(self, old: Network, progress: _Progress) -> str:
        """Undo a recreate's changes, newest first; say what was restored."""
        if not (progress.disconnected or progress.deleted or progress.new_id):
            return "nothing was changed"
        problems: builtins.list[str] = []
        target = old.id
        if progress.new_id is not None:
            for attachment in progress.reconnected:
                try:
                    await self._api.disconnect(progress.new_id, attachment.container_id, force=True)
                except SwarmnetError as exc:
                    problems.append(f"disconnecting {attachment.name} from the new network: {exc}")
            try:
                await self._api._delete(await self._api.get(progress.new_id))
            except NetworkNotFound:
                pass
            except SwarmnetError as exc:
                problems.append(f"removing the new network: {exc}")
        if progress.deleted:
            try:
                target = await self._create_in_place(
                    old.name, _create_body_of(old), swarm=old.scope is NetworkScope.SWARM
                )
                await self.settle(await self._api.get(target))
            except SwarmnetError as exc:
                problems.append(f"re-creating the old network: {exc}")
                return "could not restore it: " + "; ".join(problems)
        for attachment in progress.disconnected:
            try:
                await self._api._connect(
                    attachment.container_id,
                    attachment.original.model_copy(update={"network": target}),
                )
            except SwarmnetError as exc:
                problems.append(f"reconnecting {attachment.name}: {exc}")
        if problems:
            return "restored it only in part: " + "; ".join(problems)
        again = f" (now {target})" if target != old.id else ""
        return (
            f"restored network {old.name} as it was{again} with "
            f"{len(progress.disconnected)} container(s) reconnected"
        )


def _reattach_config(spec: AnyNetworkSpec, endpoint: Endpoint) -> EndpointConfig:
    # A static address survives only if the new pools still hold it; with pools left
    # to the engine the subnet may change, so the engine picks a new address.
    def fits(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return address is not None and any(
            address.version == pool.version and address in pool.subnet for pool in spec.pools
        )

    return EndpointConfig(
        network=spec.name,
        aliases=endpoint.aliases,
        links=endpoint.links,
        ipv4=endpoint.requested_ipv4 if fits(endpoint.requested_ipv4) else None,
        ipv6=endpoint.requested_ipv6 if fits(endpoint.requested_ipv6) else None,
    )


def _original_config(network: str, endpoint: Endpoint) -> EndpointConfig:
    return EndpointConfig(
        network=network,
        aliases=endpoint.aliases,
        links=endpoint.links,
        ipv4=endpoint.requested_ipv4,
        ipv6=endpoint.requested_ipv6,
    )


def _create_body_of(network: Network) -> dict[str, Any]:
    """A create body that makes ``network`` again, as the engine reports it now."""
    pools: builtins.list[dict[str, Any]] = []
    for pool in network.ipam.config:
        if pool.subnet is None:
            continue
        body: dict[str, Any] = {"Subnet": str(pool.subnet)}
        if pool.gateway is not None:
            body["Gateway"] = str(pool.gateway)
        if pool.ip_range is not None:
            body["IPRange"] = str(pool.ip_range)
        if pool.aux_addresses:
            body["AuxiliaryAddresses"] = dict(pool.aux_addresses)
        pools.append(body)
    created: dict[str, Any] = {
        "Name": network.name,
        "CheckDuplicate": True,
        "Driver": network.driver,
        "EnableIPv6": network.enable_ipv6,
        "IPAM": {
            "Driver": network.ipam.driver or "default",
            "Config": pools,
            "Options": dict(network.ipam.options),
        },
        "Internal": network.internal,
        "Attachable": network.attachable,
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }
    if network.scope is NetworkScope.SWARM and network.driver != "overlay":
        created["Scope"] = "swarm"
    if network.config_only:
        created["ConfigOnly"] = True
    if network.config_from:
        created["ConfigFrom"] = {"Network": network.config_from}
        del created["IPAM"], created["Options"]
    return created


def describe_cluster_users(
    network: Network,
    services: Iterable[Mapping[str, Any]],
    local_node_ip: str,
    node_names: Mapping[str, str],
) -> builtins.list[str]:
    """What uses ``network`` beyond this engine: services naming it, endpoints elsewhere.

    ``services`` are ``GET /services`` entries; ``network`` should be a verbose
    inspect (its ``services`` map has every endpoint the cluster gossips, with the
    node's address as ``Host IP``); ``node_names`` maps node addresses to hostnames.
    """
    users: dict[str, None] = {}
    for service in services:
        spec = service.get("Spec") or {}
        targets = [
            str(n.get("Target", ""))
            for n in [
                *((spec.get("TaskTemplate") or {}).get("Networks") or ()),
                *(spec.get("Networks") or ()),
            ]
        ]
        if network.id in targets or network.name in targets:
            users.setdefault(f"service {(spec.get('Name') or service.get('ID', '?'))}", None)
    for service_name, info in network.services.items():
        for task in info.tasks:
            host = task.info.get("Host IP", "")
            if not host or host == local_node_ip:
                continue
            where = node_names.get(host, host)
            if service_name:
                users.setdefault(f"service {service_name}", None)
                users.setdefault(f"task {task.name} on {where}", None)
            else:
                users.setdefault(f"container {task.name} on {where}", None)
    return builtins.list(users)
