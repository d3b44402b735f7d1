"""Networks on one engine: create, get, list, ensure, connect, disconnect, remove, prune.

Every input is a typed spec validated before a request is sent; every answer is a
model from :mod:`swarmnet._networks.models`; every engine error comes back as one of
swarmnet's, with the network and the engine named.

Names: API 1.41 engines let two local networks share a name unless ``CheckDuplicate``
is sent, and even then two creates racing each other can both pass the engine's check.
swarmnet sends ``CheckDuplicate``, serialises its own creates of one name in this
process, and resolves duplicates made by anyone else: the oldest network of a name
(by creation time, then id) is kept, so every resolver picks the same one, and the
newer ones are removed when nothing is attached to them.
"""

from __future__ import annotations

import builtins
import ipaddress
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import anyio

from swarmnet._core.errors import (
    AmbiguousNetwork,
    AttachmentConflict,
    Conflict,
    DriftDetected,
    EngineAPIError,
    InvalidSpec,
    NetworkInUse,
    NetworkNotFound,
    NotFound,
    SwarmnetError,
)
from swarmnet._core.filters import label_filter
from swarmnet._core.log import get_logger
from swarmnet._networks.attach import ContainerNetworking, EndpointConfig
from swarmnet._networks.drift import Drift, EnsureOutcome, EnsureResult, NetworkDiff, diff
from swarmnet._networks.models import (
    Endpoint,
    EndpointSettings,
    Network,
    NetworkPruneReport,
    NetworkScope,
    subnets_overlap,
)
from swarmnet._networks.specs import AnyNetworkSpec, network_spec_from

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

_log = get_logger("swarmnet.networks")

SpecInput = AnyNetworkSpec | Mapping[str, Any]
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


class _NameLocks:
    """One lock per (engine, network name) in this process, dropped when unused.

    Locks live only while someone holds or waits for them, so none outlives the event
    loop it was made in.
    """

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[anyio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, engine: str, name: str) -> AsyncIterator[None]:
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


_NAME_LOCKS = _NameLocks()
# How long to wait for the swarm to allocate a new network: about 5 s in all.
_SETTLE_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 2.0)


def _pending(network: Network) -> bool:
    return network.scope is NetworkScope.SWARM and not network.driver


async def _run_bounded(jobs: Sequence[Callable[[], Awaitable[None]]], *, limit: int) -> None:
    """Run jobs at most ``limit`` at a time; all run, then the first swarmnet error is raised.

    Errors are collected rather than left to cancel the task group, so one failure
    neither stops the others nor surfaces as an ExceptionGroup.
    """
    errors: builtins.list[SwarmnetError] = []
    limiter = anyio.CapacityLimiter(max(1, limit))

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with limiter:
            try:
                await job()
            except SwarmnetError as exc:
                errors.append(exc)

    async with anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(run, job)
    if errors:
        raise errors[0]


def _short_id(container_id: str) -> str:
    return container_id[:12]


class NetworksAPI:
    """Networks on one engine (``engine.networks``).

    Example::

        async with swarmnet.Engine() as engine:
            result = await engine.networks.ensure(
                swarmnet.OverlaySpec(name="app", attachable=True)
            )
            print(result.outcome, result.network.id)
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._log = _log.bind(engine=engine.name)

    # -- reading -----------------------------------------------------------------------

    async def get(
        self,
        name_or_id: str,
        *,
        verbose: bool = False,
        scope: NetworkScope | Literal["local", "swarm", "global"] | None = None,
    ) -> Network:
        """Inspect one network by name, id or id prefix.

        Args:
            name_or_id: the network's name, full id or a unique id prefix.
            verbose: for overlays, also read the peers (nodes) and the services and
                standalone containers on it (``Network.peers``/``Network.services``).
            scope: only look at networks of this scope.

        Raises:
            NetworkNotFound: no such network. On a swarm worker the message explains
                that attachable overlays appear there only once something attaches.
            AmbiguousNetwork: several networks share that name; ``ids`` lists them.
        """
        params: dict[str, Any] = {}
        if verbose:
            params["verbose"] = "true"
        if scope is not None:
            params["scope"] = NetworkScope(scope).value
        try:
            payload = await self._engine._request(
                "GET", f"networks/{name_or_id}", params=params or None
            )
        except NotFound as exc:
            raise await self._not_found(name_or_id, exc) from exc
        except EngineAPIError as exc:
            if "ambiguous" in exc.explanation:
                ids = tuple(n.id for n in await self.list(name=name_or_id))
                raise AmbiguousNetwork.refine(
                    exc,
                    f"{len(ids)} networks are named {name_or_id!r}: {', '.join(ids)}; "
                    "use an id, or remove the extra ones (ensure() resolves duplicates)",
                    ids=ids,
                ) from exc
            raise
        return Network.model_validate(payload)

    async def list(
        self,
        *,
        name: str | None = None,
        driver: str | None = None,
        scope: NetworkScope | Literal["local", "swarm", "global"] | None = None,
        labels: Mapping[str, str | None] | Iterable[str] | None = None,
        kind: Literal["custom", "builtin"] | None = None,
        dangling: bool | None = None,
        id_prefix: str | None = None,
    ) -> tuple[Network, ...]:
        """List this engine's networks, filtered by the engine, in one request.

        Args:
            name: only the networks with exactly this name (the engine matches name
                parts; swarmnet keeps exact matches).
            driver: only networks of this driver (``"overlay"``, ``"bridge"``…).
            scope: only networks of this scope.
            labels: ``{"key": "value"}`` or ``{"key": None}`` (has the label), or
                ``["key", "key=value"]``; all must match.
            kind: ``"custom"`` for user-defined networks, ``"builtin"`` for the
                engine's own.
            dangling: True for networks no container uses, False for used ones.
            id_prefix: only networks whose id starts with this.

        The engine's list leaves out each network's ``containers``; use :meth:`get`
        or :meth:`endpoints` for those.
        """
        filters: dict[str, builtins.list[str]] = {}
        if name is not None:
            filters["name"] = [name]
        if driver is not None:
            filters["driver"] = [driver]
        if scope is not None:
            filters["scope"] = [NetworkScope(scope).value]
        if labels:
            filters["label"] = label_filter(labels)
        if kind is not None:
            filters["type"] = [kind]
        if dangling is not None:
            filters["dangling"] = ["true" if dangling else "false"]
        if id_prefix is not None:
            filters["id"] = [id_prefix]
        params = {"filters": json.dumps(filters)} if filters else None
        payload = await self._engine._request("GET", "networks", params=params)
        networks = tuple(Network.model_validate(item) for item in payload or ())
        if name is not None:
            networks = tuple(n for n in networks if n.name == name)
        return networks

    async def endpoints(self, network: str) -> tuple[Endpoint, ...]:
        """The containers attached to ``network`` on this engine, typed.

        Reads the network and each attached container (for aliases and requested
        addresses). For an overlay, only this engine's containers are listed.

        Raises:
            NetworkNotFound, AmbiguousNetwork: as :meth:`get`.
        """
        current = await self.get(network)
        found: dict[str, Endpoint] = {}

        async def read(container_id: str) -> None:
            endpoint = await self._endpoint_of(container_id, current)
            if endpoint is not None:
                found[container_id] = endpoint

        await _run_bounded([partial(read, cid) for cid in current.container_ids], limit=8)
        return tuple(found[cid] for cid in current.container_ids if cid in found)

    # -- writing -----------------------------------------------------------------------

    async def create(self, spec: SpecInput) -> Network:
        """Create a network from a spec (or a mapping with a ``driver`` key).

        Sends ``CheckDuplicate``; an existing network of that name is an error (use
        :meth:`ensure` to accept it).

        Raises:
            pydantic.ValidationError, InvalidSpec: the spec is invalid; nothing was sent.
            Conflict: a network of that name exists, or a requested subnet overlaps a
                network this engine already has (the message names it).
            NotASwarmManager: an overlay or swarm-scoped network on a worker.
            EngineAPIError: anything else the engine refused.
        """
        checked = network_spec_from(spec)
        async with _NAME_LOCKS.hold(self._engine.url, checked.name):
            network_id = await self._create(checked)
        return await self._settle(await self.get(network_id))

    async def remove(self, name_or_id: str, *, force: bool = False) -> None:
        """Remove a network.

        Args:
            name_or_id: the network.
            force: first disconnect (forcibly) every container attached on this engine.

        Raises:
            NetworkInUse: containers are attached (and ``force`` is False, or the engine
                still sees endpoints elsewhere, like tasks on other nodes);
                ``containers`` lists them.
            NetworkNotFound, AmbiguousNetwork: as :meth:`get`.
            EngineAPIError: the engine refused (its own networks cannot be removed).
        """
        network = await self.get(name_or_id)
        attached = network.container_ids
        if attached and not force:
            names = tuple(network.containers[c].name or c for c in attached)
            raise NetworkInUse(
                f"network {network.name} still has {len(names)} container(s) attached: "
                f"{', '.join(names)}; disconnect them or remove with force=True",
                containers=names,
                engine=self._engine.url,
                status=409,
            )
        for container_id in attached:
            await self.disconnect(network.id, container_id, force=True)
        await self._delete(network)

    async def prune(
        self,
        *,
        until: str | None = None,
        labels: Mapping[str, str | None] | Iterable[str] | None = None,
    ) -> NetworkPruneReport:
        """Remove every unused user-defined network (``POST /networks/prune``).

        Args:
            until: only networks created before this (a timestamp or a Go duration
                such as ``"10m"``).
            labels: only networks with these labels (``{"key": "value"}``, ``["k=v"]``).
        """
        filters: dict[str, builtins.list[str]] = {}
        if until is not None:
            filters["until"] = [until]
        if labels:
            filters["label"] = label_filter(labels)
        params = {"filters": json.dumps(filters)} if filters else None
        payload = await self._engine._request("POST", "networks/prune", params=params)
        report = NetworkPruneReport.model_validate(payload or {})
        self._log.info("network.pruned", removed=list(report.networks_deleted))
        return report

    # -- ensure ------------------------------------------------------------------------

    async def ensure(self, spec: SpecInput, *, on_drift: Drift = Drift.RAISE) -> EnsureResult:
        """Make sure a network matching ``spec`` exists; idempotent.

        Creates it when missing. When a network of that name exists, compares it with
        the spec after normalising what the engine fills in (see ``NetworkDiff``) and,
        if it differs, does what ``on_drift`` says: raise, leave it, or recreate it
        (reconnecting every container that was attached, with its aliases and the
        static addresses that still fit the new pools). Duplicates of the name, made
        by another process, are resolved (the oldest is kept). For an overlay, only
        the containers attached on this engine are seen, and so reconnected.

        Returns:
            :class:`EnsureResult` with the network, the outcome (created, unchanged,
            drifted, recreated) and the diff.

        Raises:
            pydantic.ValidationError, InvalidSpec: invalid spec; nothing was sent.
            DriftDetected: the network differs and ``on_drift`` is ``Drift.RAISE``;
                ``.diff`` is the :class:`NetworkDiff`.
            AmbiguousNetwork: duplicates exist and the extra ones still have containers.
        """
        checked = network_spec_from(spec)
        on_drift = Drift(on_drift)
        async with _NAME_LOCKS.hold(self._engine.url, checked.name):
            existing = await self._one_named(checked.name)
            if existing is None:
                return await self._ensure_missing(checked)
            return await self._ensure_existing(checked, existing, on_drift)

    async def ensure_many(
        self,
        specs: Iterable[SpecInput],
        *,
        on_drift: Drift = Drift.RAISE,
        concurrency: int = 16,
    ) -> tuple[EnsureResult, ...]:
        """:meth:`ensure` a batch of networks, reading the engine's networks only once.

        Lists the engine's networks in one request, compares each spec with what is
        there, creates the missing ones (``concurrency`` at a time) and lists once more
        to return them. When every network already matches, the whole batch costs one
        request and writes nothing.

        Returns:
            One :class:`EnsureResult` per spec, in order.

        Raises:
            pydantic.ValidationError, InvalidSpec: a spec is invalid, or two specs share
                a name; nothing was sent.
            DriftDetected: as :meth:`ensure`, after the rest of the batch is done.
        """
        checked = [network_spec_from(s) for s in specs]
        names = [s.name for s in checked]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidSpec(f"network names appear twice in one batch: {', '.join(repeated)}")
        on_drift = Drift(on_drift)
        if not checked:
            return ()
        by_name = self._group_by_name(await self.list())
        results: dict[str, EnsureResult] = {}
        created: builtins.list[AnyNetworkSpec] = []

        async def one(spec: AnyNetworkSpec) -> None:
            async with _NAME_LOCKS.hold(self._engine.url, spec.name):
                found = by_name.get(spec.name, [])
                if not found:
                    if await self._create_or_existing(spec) is None:
                        created.append(spec)
                        return
                    found = [await self._require_one(spec.name)]
                existing = found[0] if len(found) == 1 else await self._resolve_duplicates(found)
                results[spec.name] = await self._ensure_existing(spec, existing, on_drift)

        # Every spec is tried; the first failure is raised once the batch is done.
        failure: SwarmnetError | None = None
        try:
            await _run_bounded([partial(one, s) for s in checked], limit=concurrency)
        except SwarmnetError as exc:
            failure = exc
        if created:
            after = await self._list_settled({s.name for s in created})
            for spec in created:
                group = after.get(spec.name, [])
                network = await self._resolve_duplicates(group) if len(group) > 1 else None
                if network is None:
                    network = group[0] if group else await self._require_one(spec.name)
                results[spec.name] = EnsureResult(
                    network=network,
                    outcome=EnsureOutcome.CREATED,
                    diff=NetworkDiff(network=spec.name),
                )
        if failure is not None:
            raise failure
        return tuple(results[s.name] for s in checked)

    # -- attachments -------------------------------------------------------------------

    async def connect(
        self,
        network: str,
        container: str,
        *,
        aliases: Sequence[str] = (),
        ipv4: str | ipaddress.IPv4Address | None = None,
        ipv6: str | ipaddress.IPv6Address | None = None,
        links: Sequence[str] = (),
        driver_opts: Mapping[str, str] | None = None,
    ) -> Endpoint:
        """Attach a created or running container to a network (no restart needed).

        Connecting a container that is already attached with the same settings does
        nothing and returns its endpoint. On a swarm worker, an attachable overlay
        created on a manager is found by name even though the worker does not list it
        yet.

        Args:
            network: the network's name or id.
            container: the container's name or id.
            aliases: extra DNS names on this network.
            ipv4, ipv6: static addresses (inside the network's pools).
            links: legacy links, ``"container"`` or ``"container:alias"``.
            driver_opts: endpoint options for the driver.

        Raises:
            pydantic.ValidationError: invalid alias, address or name; nothing was sent.
            AttachmentConflict: already attached with other settings (says which).
            NetworkNotFound: no such network; NotFound: no such container.
            EngineAPIError: the engine refused (an address outside the pools, taken…).
        """
        config = EndpointConfig(
            network=network,
            aliases=tuple(aliases),
            ipv4=ipv4,
            ipv6=ipv6,
            links=tuple(links),
            driver_opts=dict(driver_opts or {}),
        )
        return await self._connect(container, config)

    async def connect_deferred(
        self, container: str, networking: ContainerNetworking
    ) -> tuple[Endpoint, ...]:
        """Connect the networks a container create could not carry on this engine.

        Call it after ``POST /containers/create`` with a body built from
        ``networking.create_fields(engine.api_version)`` and before starting the
        container. From API 1.44 every network goes in the create and this does nothing.
        """
        return tuple(
            [
                await self._connect(container, endpoint)
                for endpoint in networking.deferred(self._engine.api_version)
            ]
        )

    async def disconnect(self, network: str, container: str, *, force: bool = False) -> bool:
        """Detach a container from a network (running or not; no restart).

        Args:
            network: the network's name or id.
            container: the container's name or id.
            force: also when the engine cannot reach the container's sandbox.

        Returns:
            True if it was attached, False if it was not (nothing to do).

        Raises:
            NetworkNotFound: no such network; NotFound: no such container.
        """
        try:
            await self._engine._request(
                "POST",
                f"networks/{network}/disconnect",
                json_body={"Container": container, "Force": force},
            )
        except EngineAPIError as exc:
            if "is not connected" in exc.explanation:
                return False
            raise self._attachment_error(exc, network, container) from exc
        self._log.info("network.disconnected", network=network, container=container)
        return True

    # -- internals: create, delete, duplicates -------------------------------------------

    async def _create(self, spec: AnyNetworkSpec) -> str:
        log = self._log.bind(network=spec.name)
        try:
            answer = await self._engine._request(
                "POST", "networks/create", json_body=spec.create_body()
            )
        except EngineAPIError as exc:
            raise await self._create_error(spec, exc) from exc
        if answer.get("Warning"):
            log.warning("network.create_warning", warning=answer["Warning"])
        log.info("network.created", id=answer["Id"], driver=spec.driver)
        return str(answer["Id"])

    async def _create_or_existing(self, spec: AnyNetworkSpec) -> str | None:
        """Create; None when created, else the name when someone else made it first."""
        try:
            await self._create(spec)
        except Conflict as exc:
            if "already exists" not in exc.explanation:
                raise
            return spec.name
        return None

    async def _create_error(self, spec: AnyNetworkSpec, exc: EngineAPIError) -> EngineAPIError:
        text = exc.explanation
        if "already exists" in text:
            return Conflict.refine(
                exc, f"a network named {spec.name} already exists; use ensure() to accept it"
            )
        if "overlaps" in text:
            return Conflict.refine(exc, await self._overlap_message(spec))
        if exc.status == 404 and "plugin" in text:
            return NotFound.refine(
                exc, f"network {spec.name}: the engine has no {spec.driver!r} driver ({text})"
            )
        exc.args = (f"creating network {spec.name} failed: {exc}",)
        return exc

    async def _overlap_message(self, spec: AnyNetworkSpec) -> str:
        clashes: builtins.list[str] = []
        for other in await self.list():
            for pool in other.ipam.config:
                for mine in spec.pools:
                    if pool.subnet is not None and subnets_overlap(pool.subnet, mine.subnet):
                        clashes.append(f"{mine.subnet} overlaps {other.name} ({pool.subnet})")
        detail = "; ".join(clashes) if clashes else "a pool already in use on this engine"
        return (
            f"network {spec.name}: its subnet overlaps another network's: {detail}; "
            "pick a free subnet"
        )

    async def _delete(self, network: Network) -> None:
        try:
            await self._engine._request("DELETE", f"networks/{network.id}")
        except NotFound as exc:
            raise NetworkNotFound.refine(
                exc, f"network {network.name} ({network.id}) is gone already"
            ) from exc
        except EngineAPIError as exc:
            text = exc.explanation
            if "active endpoints" in text or "in use" in text:
                raise NetworkInUse.refine(
                    exc,
                    f"network {network.name} is still in use ({text}); disconnect its "
                    "containers or remove the services that use it",
                    containers=tuple(network.containers[c].name for c in network.container_ids),
                ) from exc
            raise
        self._log.info("network.removed", network=network.name, id=network.id)

    async def _one_named(self, name: str) -> Network | None:
        found = await self.list(name=name)
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        return await self._resolve_duplicates(found)

    async def _require_one(self, name: str) -> Network:
        network = await self._one_named(name)
        if network is None:
            raise NetworkNotFound(
                f"network {name} vanished while being ensured (removed concurrently?)",
                engine=self._engine.url,
                status=404,
            )
        return network

    async def _resolve_duplicates(self, networks: Sequence[Network]) -> Network:
        """Keep the oldest of same-named networks; remove the others if unused."""
        ordered = sorted(networks, key=lambda n: (n.created or _EPOCH, n.id))
        keeper, extras = ordered[0], ordered[1:]
        busy: builtins.list[str] = []
        for extra in extras:
            try:
                current = await self.get(extra.id)
                if current.container_ids:
                    busy.append(extra.id)
                    continue
                await self._delete(current)
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
                engine=self._engine.url,
                status=409,
            )
        return keeper

    @staticmethod
    def _group_by_name(networks: Iterable[Network]) -> dict[str, builtins.list[Network]]:
        grouped: dict[str, builtins.list[Network]] = {}
        for network in networks:
            grouped.setdefault(network.name, []).append(network)
        return grouped

    # -- internals: ensure -------------------------------------------------------------

    async def _settle(self, network: Network) -> Network:
        """Wait (briefly) until the swarm has allocated a just-created network.

        Until its allocator has run, a swarm network reads back with no driver and no
        pools; comparing it then would report drift that is not there.
        """
        for delay in _SETTLE_DELAYS:
            if not _pending(network):
                break
            await anyio.sleep(delay)
            network = await self.get(network.id)
        return network

    async def _list_settled(self, names: set[str]) -> dict[str, builtins.list[Network]]:
        """List once, and again only while some of ``names`` are not allocated yet."""
        grouped = self._group_by_name(await self.list())
        for delay in _SETTLE_DELAYS:
            if not any(_pending(n) for name in names for n in grouped.get(name, ())):
                break
            await anyio.sleep(delay)
            grouped = self._group_by_name(await self.list())
        return grouped

    async def _ensure_missing(self, spec: AnyNetworkSpec) -> EnsureResult:
        if await self._create_or_existing(spec) is not None:
            # Another process created it between our look and our create.
            existing = await self._require_one(spec.name)
            return await self._ensure_existing(spec, existing, Drift.RAISE)
        # Re-read by name, not id: another process may have raced us to a duplicate.
        network = await self._settle(await self._require_one(spec.name))
        return EnsureResult(
            network=network, outcome=EnsureOutcome.CREATED, diff=NetworkDiff(network=spec.name)
        )

    async def _ensure_existing(
        self, spec: AnyNetworkSpec, existing: Network, on_drift: Drift
    ) -> EnsureResult:
        existing = await self._settle(existing)
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
                engine=self._engine.url,
            )
        network = await self._recreate(spec, existing)
        log.info("network.recreated", fields=list(changes.fields), id=network.id)
        return EnsureResult(network=network, outcome=EnsureOutcome.RECREATED, diff=changes)

    async def _recreate(self, spec: AnyNetworkSpec, existing: Network) -> Network:
        current = await self.get(existing.id)
        attachments: builtins.list[tuple[str, EndpointConfig]] = []
        for container_id in current.container_ids:
            endpoint = await self._endpoint_of(container_id, current)
            if endpoint is not None:
                attachments.append((container_id, self._reattach_config(spec, endpoint)))
        for container_id, _ in attachments:
            await self.disconnect(current.id, container_id, force=True)
        await self._delete(current)
        network_id = await self._create(spec)
        # A swarm network takes connects only once the swarm has allocated it.
        network = await self._settle(await self.get(network_id))
        failures: builtins.list[str] = []
        for container_id, config in attachments:
            try:
                await self._connect(container_id, config.model_copy(update={"network": network_id}))
            except EngineAPIError as exc:
                failures.append(f"{_short_id(container_id)}: {exc}")
        if failures:
            raise EngineAPIError(
                f"network {spec.name} was recreated but {len(failures)} container(s) could "
                f"not be reconnected: {'; '.join(failures)}",
                engine=self._engine.url,
            )
        return await self.get(network.id) if attachments else network

    @staticmethod
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

    # -- internals: attachments --------------------------------------------------------

    async def _container(self, container: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = await self._engine._request(
                "GET", f"containers/{container}/json"
            )
        except NotFound as exc:
            raise NotFound.refine(exc, f"no container {container!r} on this engine") from exc
        return payload

    @staticmethod
    def _attachment_in(
        payload: Mapping[str, Any], network: str
    ) -> tuple[str, EndpointSettings] | None:
        networks = (payload.get("NetworkSettings") or {}).get("Networks") or {}
        for name, raw in networks.items():
            settings = EndpointSettings.model_validate(raw)
            if network in (name, settings.network_id) or (
                len(network) >= 12 and settings.network_id.startswith(network)
            ):
                return name, settings
        return None

    @staticmethod
    def _user_aliases(payload: Mapping[str, Any], settings: EndpointSettings) -> tuple[str, ...]:
        container_id = str(payload.get("Id", ""))
        own = {_short_id(container_id), container_id, str(payload.get("Name", "")).lstrip("/")}
        return tuple(alias for alias in settings.aliases if alias not in own)

    def _endpoint_from(
        self, payload: Mapping[str, Any], network_name: str, settings: EndpointSettings
    ) -> Endpoint:
        ipv4 = ipv6 = None
        if settings.ip_address is not None:
            ipv4 = ipaddress.IPv4Interface(f"{settings.ip_address}/{settings.ip_prefix_len}")
        if settings.global_ipv6_address is not None:
            ipv6 = ipaddress.IPv6Interface(
                f"{settings.global_ipv6_address}/{settings.global_ipv6_prefix_len}"
            )
        requested = settings.ipam_config
        return Endpoint(
            network_id=settings.network_id,
            network_name=network_name,
            container_id=str(payload.get("Id", "")),
            container_name=str(payload.get("Name", "")).lstrip("/"),
            endpoint_id=settings.endpoint_id,
            mac_address=settings.mac_address,
            ipv4_address=ipv4,
            ipv6_address=ipv6,
            aliases=self._user_aliases(payload, settings),
            links=settings.links,
            requested_ipv4=(
                requested.ipv4_address
                if isinstance(requested.ipv4_address, ipaddress.IPv4Address)
                else None
            ),
            requested_ipv6=(
                requested.ipv6_address
                if isinstance(requested.ipv6_address, ipaddress.IPv6Address)
                else None
            ),
        )

    async def _endpoint_of(self, container_id: str, network: Network) -> Endpoint | None:
        try:
            payload = await self._container(container_id)
        except NotFound:
            return None  # removed since the network was read
        found = self._attachment_in(payload, network.id)
        if found is None:
            return None
        return self._endpoint_from(payload, found[0], found[1])

    async def _connect(self, container: str, config: EndpointConfig) -> Endpoint:
        log = self._log.bind(network=config.network, container=container)
        payload = await self._container(container)
        existing = self._attachment_in(payload, config.network)
        if existing is None:
            try:
                await self._engine._request(
                    "POST",
                    f"networks/{config.network}/connect",
                    json_body={
                        "Container": container,
                        "EndpointConfig": config.endpoint_settings(),
                    },
                )
            except EngineAPIError as exc:
                if "already" not in exc.explanation:
                    raise self._attachment_error(exc, config.network, container) from exc
                # A concurrent connect won the race; compare with what it made.
            else:
                log.info("network.connected", aliases=list(config.aliases))
            payload = await self._container(container)
            existing = self._attachment_in(payload, config.network)
            if existing is None:
                raise NetworkNotFound(
                    f"container {container} was connected to {config.network} but the "
                    "engine does not show the attachment",
                    engine=self._engine.url,
                )
            return self._check_same(payload, existing, config)
        return self._check_same(payload, existing, config)

    def _check_same(
        self,
        payload: Mapping[str, Any],
        existing: tuple[str, EndpointSettings],
        config: EndpointConfig,
    ) -> Endpoint:
        name, settings = existing
        endpoint = self._endpoint_from(payload, name, settings)
        problems: builtins.list[str] = []
        if set(endpoint.aliases) != set(config.aliases):
            problems.append(
                f"aliases {sorted(endpoint.aliases)} (asked for {sorted(config.aliases)})"
            )
        for version, wanted in ((4, config.ipv4), (6, config.ipv6)):
            if wanted is None:
                continue
            have = endpoint.ipv4_address if version == 4 else endpoint.ipv6_address
            if have is None or have.ip != wanted:
                problems.append(f"IPv{version} {have.ip if have else None} (asked for {wanted})")
        wanted_links = {self._link_key(link) for link in config.links}
        have_links = {self._link_key(link) for link in endpoint.links}
        if wanted_links != have_links:
            problems.append(f"links {sorted(have_links)} (asked for {sorted(wanted_links)})")
        if problems:
            raise AttachmentConflict(
                f"container {endpoint.container_name or endpoint.container_id} is already on "
                f"network {name} with other settings: {'; '.join(problems)}; disconnect it "
                "first to change them",
                engine=self._engine.url,
                status=409,
            )
        return endpoint

    @staticmethod
    def _link_key(link: str) -> str:
        # The engine may store "/target:/container/alias"; compare "target:alias".
        target, _, alias = link.partition(":")
        target = target.strip("/")
        alias = alias.rsplit("/", 1)[-1] if alias else target
        return f"{target}:{alias}"

    def _attachment_error(
        self, exc: EngineAPIError, network: str, container: str
    ) -> EngineAPIError:
        lowered = exc.explanation.lower()
        if "ipvlan" in lowered and "not supported" in lowered:
            return EngineAPIError.refine(
                exc,
                f"attaching {container} to {network}: this engine's kernel has no ipvlan "
                "support (CONFIG_IPVLAN), so no container can join an ipvlan network here; "
                "use macvlan or a bridge",
            )
        if "no such container" in lowered:
            return NotFound.refine(exc, f"no container {container!r} on this engine")
        if "not found" in lowered and "network" in lowered:
            return NetworkNotFound.refine(
                exc,
                f"no network {network!r} here (for an overlay: create it on a manager, "
                "attachable=True)",
            )
        exc.args = (f"attaching {container} to {network}: {exc}",)
        return exc

    async def _not_found(self, name_or_id: str, exc: NotFound) -> NetworkNotFound:
        message = f"no network {name_or_id!r} on this engine"
        try:
            info = await self._engine.info()
        except EngineAPIError:
            info = None
        if (
            info is not None
            and info.swarm.local_node_state.value == "active"
            and not info.swarm.control_available
        ):
            message += (
                "; this engine is a swarm worker, and an attachable overlay created on "
                "a manager appears on a worker only once a container here attaches to "
                "it: connect() or create a container on it by name, or look it up on "
                "a manager"
            )
        return NetworkNotFound.refine(exc, message)
