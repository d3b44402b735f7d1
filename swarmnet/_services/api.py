"""Swarm services on one manager: create, get, list, update, ensure, remove, tasks.

Every input is a :class:`ServiceSpec` validated before a request is sent, networks are
checked against the engine (one read) before any write, and every answer is a model
from :mod:`swarmnet._services.models`.

Updates follow the engine's rules (see the project's swarm object notes): the engine
takes the **full** spec and drops what is left out, so an update starts from the
stored spec and replaces only the fields the caller mentions; it sends the object
version and, when someone else updated in between ("update out of sequence"), reads
again and retries. An update that would change nothing is not sent: the engine would
still bump the version and overwrite ``PreviousSpec``, losing the rollback target.
"""

from __future__ import annotations

import builtins
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import anyio

from swarmnet._core.concurrency import run_all
from swarmnet._core.errors import (
    Conflict,
    DriftDetected,
    EngineAPIError,
    InvalidSpec,
    NotFound,
    ServiceNotFound,
    ServiceUpdateFailed,
    SwarmnetError,
)
from swarmnet._core.filters import label_filter
from swarmnet._core.log import get_logger
from swarmnet._networks.models import Network, NetworkScope
from swarmnet._services.drift import (
    Path,
    ServiceDiff,
    ServiceDrift,
    ServiceEnsureResult,
    ServiceOutcome,
    apply,
    diff,
    mode_changed,
)
from swarmnet._services.models import Progress, Service, Task, TaskState, UpdateState
from swarmnet._services.specs import ServiceNetwork, ServiceSpec, service_spec_from

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

_log = get_logger("swarmnet.services")

SpecInput = ServiceSpec | Mapping[str, Any]
ProgressCallback = Callable[[Progress], Awaitable[None] | None]
_OUT_OF_SEQUENCE = "update out of sequence"
_UPDATE_ATTEMPTS = 8
_FAILED = frozenset({TaskState.FAILED, TaskState.REJECTED})
_STOPPED_UPDATES = frozenset(
    {
        UpdateState.PAUSED,
        UpdateState.ROLLBACK_STARTED,
        UpdateState.ROLLBACK_PAUSED,
        UpdateState.ROLLBACK_COMPLETED,
    }
)
_TASKS_IN_ERRORS = 10


def _short(object_id: str) -> str:
    return object_id[:12]


def _task_order(task: Task) -> tuple[int, str, float]:
    return (task.slot or 0, task.node_id, task.created_at.timestamp() if task.created_at else 0.0)


def _task_error(task: Task) -> str:
    why = task.error or task.message or "no message"
    where = f"on {_short(task.node_id)}" if task.node_id else "on no node"
    return f"task {_short(task.id)} {where}: {why} ({task.state.value})"


class ServicesAPI:
    """Swarm services, through one manager (``engine.services``).

    Example::

        async with swarmnet.Engine() as engine:
            result = await engine.services.ensure(
                swarmnet.ServiceSpec(name="web", image="nginx:1.27", replicas=2,
                                     networks=("app",), endpoint_mode="dnsrr")
            )
            await engine.services.wait_converged(
                result.service.id, on_progress=lambda p: print(p)   # "1/2 running"
            )
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._log = _log.bind(engine=engine.name)
        # Network name -> id, as last listed. Trusted only to confirm that a service
        # already points at that id: a network a service uses cannot be removed, and
        # networks are never renamed, so the pair is still true (see ensure_many).
        self._known_network_ids: dict[str, str] = {}

    # -- reading -----------------------------------------------------------------------

    async def get(self, name_or_id: str) -> Service:
        """Inspect one service by name, id or unique id prefix.

        Raises:
            ServiceNotFound: no such service.
            NotASwarmManager, NotInSwarm: this engine cannot answer for services.
        """
        try:
            payload = await self._engine._request("GET", f"services/{name_or_id}")
        except NotFound as exc:
            raise ServiceNotFound.refine(exc, f"no service {name_or_id!r} in this swarm") from exc
        return Service.from_payload(payload)

    async def list(
        self,
        *,
        name: str | None = None,
        labels: Mapping[str, str | None] | Iterable[str] | None = None,
        mode: Literal["replicated", "global"] | None = None,
        id_prefix: str | None = None,
        status: bool = False,
    ) -> tuple[Service, ...]:
        """List the swarm's services, filtered by the engine, in one request.

        Args:
            name: only the service with exactly this name.
            labels: ``{"key": "value"}``/``{"key": None}`` or ``["key=value", "key"]``;
                all must match.
            mode: only replicated or only global services.
            id_prefix: only services whose id starts with this.
            status: also read how many tasks run and are desired
                (``Service.running_tasks``/``desired_tasks``). Not a convergence test:
                it counts tasks of the old spec during an update; see
                :meth:`wait_converged`.
        """
        filters: dict[str, builtins.list[str]] = {}
        if name is not None:
            filters["name"] = [name]
        if labels:
            filters["label"] = label_filter(labels)
        if mode is not None:
            if mode not in ("replicated", "global"):
                raise InvalidSpec(f"mode: 'replicated' or 'global', not {mode!r}")
            filters["mode"] = [mode]
        if id_prefix is not None:
            filters["id"] = [id_prefix]
        params: dict[str, str] = {}
        if filters:
            params["filters"] = json.dumps(filters)
        if status:
            params["status"] = "true"
        payload = await self._engine._request("GET", "services", params=params or None)
        services = tuple(Service.from_payload(item) for item in payload or ())
        if name is not None:
            services = tuple(s for s in services if s.name == name)
        return services

    async def tasks(
        self,
        service: str,
        *,
        up_to_date: bool = False,
        desired_state: TaskState | Literal["running", "shutdown", "accepted"] | None = None,
    ) -> tuple[Task, ...]:
        """The tasks of a service (by name or id), ordered by slot, then node.

        Args:
            up_to_date: only tasks made from the service's current spec (the engine's
                ``_up-to-date`` filter).
            desired_state: only tasks swarm wants in this state.

        Raises:
            ServiceNotFound: no such service.
        """
        return await self._tasks((await self.get(service)).id, up_to_date, desired_state)

    async def _tasks(
        self,
        service_id: str,
        up_to_date: bool = False,
        desired_state: TaskState | str | None = None,
    ) -> tuple[Task, ...]:
        filters: dict[str, builtins.list[str]] = {"service": [service_id]}
        if up_to_date:
            filters["_up-to-date"] = ["true"]
        if desired_state is not None:
            filters["desired-state"] = [TaskState(desired_state).value]
        payload = await self._engine._request(
            "GET", "tasks", params={"filters": json.dumps(filters)}
        )
        tasks = [Task.from_payload(item) for item in payload or ()]
        tasks = [t for t in tasks if t.service_id == service_id]
        return tuple(sorted(tasks, key=_task_order))

    # -- writing -----------------------------------------------------------------------

    async def create(self, spec: SpecInput) -> Service:
        """Create a service from a spec (fields left ``None`` get the engine's defaults).

        Does not wait for its tasks; see :meth:`wait_converged`.

        Raises:
            InvalidSpec: the spec is invalid or names a network that does not exist
                here (or is not swarm-scoped); nothing was written.
            Conflict: a service of that name exists (see :meth:`ensure`).
        """
        checked = service_spec_from(spec)
        patch = checked.patch(await self._network_ids(checked))
        return await self._create(checked, patch)

    async def update(self, service: str, spec: SpecInput, *, force: bool = False) -> Service:
        """Update a service in place to ``spec``; fields ``spec`` leaves ``None`` are kept.

        Sends the object version, and retries after reading again when another client
        updated in between. Sends nothing when nothing would change (unless ``force``,
        which also restarts every task). Does not wait for the rolling update; see
        :meth:`wait_converged`.

        Raises:
            InvalidSpec: invalid spec, unknown network, a new name or a change between
                replicated and global (the engine refuses both); nothing was written.
            ServiceNotFound: no such service.
        """
        checked = service_spec_from(spec)
        patch = checked.patch(await self._network_ids(checked))
        current = await self.get(service)
        if current.name != checked.name:
            raise InvalidSpec(
                f"name: service {current.name!r} cannot be renamed to {checked.name!r} "
                "(the engine does not support renaming)"
            )
        self._refuse_mode_change(patch, current)

        def change(stored: dict[str, Any]) -> dict[str, Any] | None:
            # A no-op update would still overwrite PreviousSpec (the rollback target).
            return apply(patch, stored) if diff(checked.name, patch, stored) else None

        updated, _ = await self._update(current, change, force=force)
        return updated

    async def remove(self, name_or_id: str, *, missing_ok: bool = False) -> bool:
        """Remove a service. Returns False when it did not exist and ``missing_ok``.

        Raises:
            ServiceNotFound: no such service and ``missing_ok`` is False.
        """
        try:
            await self._engine._request("DELETE", f"services/{name_or_id}")
        except NotFound as exc:
            if missing_ok:
                return False
            raise ServiceNotFound.refine(exc, f"no service {name_or_id!r} in this swarm") from exc
        self._log.info("service.removed", service=name_or_id)
        return True

    # -- ensure ------------------------------------------------------------------------

    async def ensure(
        self, spec: SpecInput, *, on_drift: ServiceDrift = ServiceDrift.RAISE
    ) -> ServiceEnsureResult:
        """Make sure a service matching ``spec`` exists; idempotent.

        Creates it when missing. When one of that name exists, compares the fields
        the spec mentions with the stored spec (normalised, networks by id; see
        :class:`ServiceDiff`) and, if they differ, does what ``on_drift`` says: raise,
        leave it, or update it in place (never remove and re-create). An unchanged
        service gets no write at all. Concurrent ensures of one spec, from any
        number of clients, end with one service.

        Returns:
            :class:`ServiceEnsureResult`: the service, the outcome and the diff.

        Raises:
            InvalidSpec: invalid spec or unknown network; nothing was written. Also
                when the drift is a change between replicated and global.
            DriftDetected: the service differs and ``on_drift`` is RAISE (``.diff``).
        """
        checked = service_spec_from(spec)
        on_drift = ServiceDrift(on_drift)
        patch = checked.patch(await self._network_ids(checked))
        existing = await self.list(name=checked.name)
        return await self._ensure_one(checked, patch, existing[0] if existing else None, on_drift)

    async def ensure_many(
        self,
        specs: Iterable[SpecInput],
        *,
        on_drift: ServiceDrift = ServiceDrift.RAISE,
        concurrency: int = 8,
    ) -> tuple[ServiceEnsureResult, ...]:
        """:meth:`ensure` a batch of services with one or two reads, then only the writes needed.

        Every spec is validated and every network checked (one network list) before
        anything is written; the services are read with one list request, at the same
        time. Nothing is written for services that already match. Results are in the
        specs' order.

        A repeated pass through the same engine object makes one request when every
        service already matches: the services list, compared using the network ids the
        last pass listed (a network a service still uses cannot have been removed or
        renamed). Anything else, and the networks are listed and checked as above.

        Raises:
            InvalidSpec: some spec is invalid or names an unknown network; nothing was
                written for any of them.
            DriftDetected: as :meth:`ensure` (after the other services were handled).
        """
        checked = [service_spec_from(s) for s in specs]
        names = [s.name for s in checked]
        for name in names:
            if names.count(name) > 1:
                raise InvalidSpec(f"name: service {name!r} appears twice in the batch")
        ids: dict[str, str] = {}
        listed: builtins.list[Service] = []
        failed: dict[str, SwarmnetError] = {}
        known = self._known_network_ids
        services_read = all(n in known for s in checked for n in s.network_names())
        if services_read:
            listed.extend(await self.list())
            settled = self._all_unchanged(checked, listed, known)
            if settled is not None:
                return settled

        async def read(what: str, job: Callable[[], Awaitable[None]]) -> None:
            try:
                await job()
            except SwarmnetError as exc:
                failed[what] = exc

        async def read_networks() -> None:
            ids.update(await self._network_ids(*checked))

        async def read_services() -> None:
            if not services_read:
                listed.extend(await self.list())

        # Both reads at once, each error caught so one plain error comes out (no group);
        # an invalid network is the caller's to fix first.
        async with anyio.create_task_group() as tg:
            tg.start_soon(read, "networks", read_networks)
            tg.start_soon(read, "services", read_services)
        for what in ("networks", "services"):
            if what in failed:
                raise failed[what]
        existing = {s.name: s for s in listed}
        results: dict[str, ServiceEnsureResult] = {}
        drift_errors: dict[str, DriftDetected] = {}

        async def one(spec: ServiceSpec) -> None:
            try:
                results[spec.name] = await self._ensure_one(
                    spec, spec.patch(ids), existing.get(spec.name), ServiceDrift(on_drift)
                )
            except DriftDetected as exc:
                drift_errors[spec.name] = exc

        await run_all([partial(one, s) for s in checked], limit=concurrency)
        for name in names:
            if name in drift_errors:
                raise drift_errors[name]
        return tuple(results[name] for name in names)

    # -- networks of a running service -------------------------------------------------

    async def add_network(
        self,
        service: str,
        network: str | ServiceNetwork,
        *,
        wait: bool = True,
        timeout: float = 120.0,  # noqa: ASYNC109 (the whole rolling update's limit)
        on_progress: ProgressCallback | None = None,
    ) -> Service:
        """Attach a running service's tasks to one more network (``--network-add``).

        A rolling update replaces the tasks; with ``wait`` (the default) it returns
        once every task of the new spec runs. Adding a network the service already
        has (same aliases and options) writes nothing.

        Raises:
            InvalidSpec: no such swarm-scoped network; nothing was written.
            ServiceNotFound: no such service.
            ServiceUpdateFailed: the rolling update failed, paused or rolled back.
        """
        wanted = ServiceNetwork(target=network) if isinstance(network, str) else network
        network_id = (await self._resolve_networks([wanted.target]))[wanted.target]
        body: dict[str, Any] = {"Target": network_id}
        if wanted.aliases:
            body["Aliases"] = builtins.list(wanted.aliases)
        if wanted.driver_options:
            body["DriverOpts"] = dict(wanted.driver_options)

        def change(stored: dict[str, Any]) -> dict[str, Any] | None:
            task = stored.setdefault("TaskTemplate", {})
            networks = builtins.list(task.get("Networks") or stored.pop("Networks", None) or ())
            if body in networks:
                return None
            task["Networks"] = [n for n in networks if n.get("Target") != network_id] + [body]
            return stored

        return await self._change_networks(service, change, wait, timeout, on_progress, "added")

    async def remove_network(
        self,
        service: str,
        network: str,
        *,
        wait: bool = True,
        timeout: float = 120.0,  # noqa: ASYNC109 (the whole rolling update's limit)
        on_progress: ProgressCallback | None = None,
    ) -> Service:
        """Detach a running service's tasks from a network (``--network-rm``).

        As :meth:`add_network`; removing a network the service does not have writes
        nothing.
        """
        network_id = (await self._resolve_networks([network]))[network]

        def change(stored: dict[str, Any]) -> dict[str, Any] | None:
            task = stored.setdefault("TaskTemplate", {})
            networks = builtins.list(task.get("Networks") or stored.pop("Networks", None) or ())
            kept = [n for n in networks if n.get("Target") != network_id]
            if len(kept) == len(networks):
                return None
            task["Networks"] = kept
            return stored

        return await self._change_networks(service, change, wait, timeout, on_progress, "removed")

    # -- convergence -------------------------------------------------------------------

    async def wait_converged(
        self,
        service: str,
        *,
        timeout: float = 120.0,  # noqa: ASYNC109 (the whole rollout's limit)
        on_progress: ProgressCallback | None = None,
        allowed_failures: int = 0,
        poll_interval: float = 0.2,
    ) -> Service:
        """Wait until every task of the service's current spec runs.

        Judged by the tasks of the current spec (the engine's ``_up-to-date`` filter)
        and the update status, not by the task counts the list reports (those count
        old tasks mid-rollout). Converged when as many current tasks run as are desired,
        no task of an older spec is still meant to run, and no update is paused or
        rolled back.

        Args:
            service: name or id.
            timeout: seconds allowed in all.
            on_progress: called (sync or async) with a :class:`Progress` whenever it
                changes; ``str(progress)`` reads ``"2/3 running"``.
            allowed_failures: failed or rejected tasks of the current spec tolerated
                before giving up (a restart policy may replace them).
            poll_interval: seconds between looks.

        Returns:
            The service, as it is once converged.

        Raises:
            ServiceUpdateFailed: tasks failed (more than ``allowed_failures``), the
                update paused or rolled back, or time ran out; ``task_errors`` holds
                the tasks' own messages.
            ServiceNotFound: no such service.
        """
        current = await self.get(service)
        last: Progress | None = None
        failure: ServiceUpdateFailed | None = None
        with anyio.move_on_after(timeout):
            while True:
                current, progress, failure, done = await self._look(current, allowed_failures)
                if progress != last and on_progress is not None:
                    outcome = on_progress(progress)
                    if inspect.isawaitable(outcome):
                        await outcome
                last = progress
                if failure is not None:
                    raise failure
                if done:
                    self._log.debug(
                        "service.converged", service=current.name, progress=str(progress)
                    )
                    return current
                await anyio.sleep(poll_interval)
        tasks = await self._tasks(current.id, up_to_date=True)
        waiting = [_task_error(t) for t in tasks if t.state is not TaskState.RUNNING]
        raise ServiceUpdateFailed(
            f"service {current.name} did not converge within {timeout:g}s: {last}"
            + (f"; {'; '.join(waiting[:_TASKS_IN_ERRORS])}" if waiting else ""),
            service=current.name,
            update_state=last.update_state.value if last and last.update_state else "",
            task_errors=tuple(waiting),
            progress=str(last),
            engine=self._engine.url,
        )

    async def _look(
        self, service: Service, allowed_failures: int
    ) -> tuple[Service, Progress, ServiceUpdateFailed | None, bool]:
        listed = await self.list(id_prefix=service.id, status=True)
        listed = tuple(s for s in listed if s.id == service.id)
        if not listed:
            raise ServiceNotFound(
                f"service {service.name} was removed while waiting for it",
                engine=self._engine.url,
                status=404,
            )
        current = listed[0]
        fresh = await self._tasks(current.id, up_to_date=True)
        every = await self._tasks(current.id, desired_state="running")
        fresh_ids = {t.id for t in fresh}
        running = sum(
            t.state is TaskState.RUNNING and t.desired_state is TaskState.RUNNING for t in fresh
        )
        # A global service's count depends on the nodes; the manager computes it.
        global_mode = current.mode == "global"
        desired = (current.desired_tasks if global_mode else current.replicas) or 0
        state = current.update_status.state if current.update_status else None
        progress = Progress(
            service=current.name, running=running, desired=desired, update_state=state
        )
        failed = [t for t in fresh if t.state in _FAILED]
        if state in _STOPPED_UPDATES or len(failed) > allowed_failures:
            if state in _STOPPED_UPDATES:
                # After a rollback the failed tasks belong to a spec that is no longer
                # current: take the service's latest failures, whatever their spec.
                every_state = await self._tasks(current.id)
                failed = sorted(
                    (t for t in every_state if t.state in _FAILED),
                    key=lambda t: t.updated_at.timestamp() if t.updated_at else 0.0,
                    reverse=True,
                )
            errors = tuple(_task_error(t) for t in failed)
            why = (
                f"its update is {state.value}: {current.update_status.message}"
                if state in _STOPPED_UPDATES and current.update_status is not None
                else f"{len(failed)} task(s) failed"
            )
            message = f"service {current.name} did not converge, {why} ({progress})"
            if errors:
                message += "; " + "; ".join(errors[:_TASKS_IN_ERRORS])
            return (
                current,
                progress,
                ServiceUpdateFailed(
                    message,
                    service=current.name,
                    update_state=state.value if state else "",
                    task_errors=errors,
                    progress=str(progress),
                    engine=self._engine.url,
                ),
                False,
            )
        old_running = any(t.id not in fresh_ids for t in every)
        done = running == desired and not old_running and (current.mode != "global" or desired > 0)
        return current, progress, None, done

    # -- internals ---------------------------------------------------------------------

    @staticmethod
    def _all_unchanged(
        specs: Sequence[ServiceSpec], listed: Sequence[Service], network_ids: Mapping[str, str]
    ) -> tuple[ServiceEnsureResult, ...] | None:
        """The results when every service exists and matches its spec, else None."""
        existing = {s.name: s for s in listed}
        results: builtins.list[ServiceEnsureResult] = []
        for spec in specs:
            service = existing.get(spec.name)
            if service is None:
                return None
            changes = diff(spec.name, spec.patch(network_ids), service.spec_payload)
            if changes:
                return None
            results.append(
                ServiceEnsureResult(service=service, outcome=ServiceOutcome.UNCHANGED, diff=changes)
            )
        return tuple(results)

    async def _network_ids(self, *specs: ServiceSpec) -> dict[str, str]:
        names = {name for spec in specs for name in spec.network_names()}
        return await self._resolve_networks(names) if names else {}

    async def _resolve_networks(self, names: Iterable[str]) -> dict[str, str]:
        """Map network names (or ids) to ids with one list; unknown ones are InvalidSpec."""
        networks = await self._engine.networks.list()
        found: dict[str, str] = {}
        missing: builtins.list[str] = []
        local: builtins.list[str] = []
        for ref in sorted(set(names)):
            match = self._match_network(ref, networks)
            if match is None:
                missing.append(ref)
            elif match.ingress:
                local.append(f"{ref} (the routing mesh's own; publish ports instead)")
            elif match.scope is not NetworkScope.SWARM:
                local.append(f"{ref} ({match.driver}, {match.scope.value} scope)")
            else:
                found[ref] = match.id
        if missing:
            raise InvalidSpec(
                f"networks: no network {', '.join(map(repr, missing))} in this swarm; "
                "create it first (an overlay, on a manager)"
            )
        if local:
            raise InvalidSpec(
                "networks: a service needs swarm-scoped networks (overlays), not "
                + ", ".join(local)
            )
        self._known_network_ids.update(found)
        return found

    @staticmethod
    def _match_network(ref: str, networks: Sequence[Network]) -> Network | None:
        named = sorted((n for n in networks if n.name == ref), key=lambda n: n.id)
        swarm = [n for n in named if n.scope is NetworkScope.SWARM]
        if swarm or named:
            return (swarm or named)[0]
        by_id = [n for n in networks if n.id == ref or (len(ref) >= 12 and n.id.startswith(ref))]
        return by_id[0] if len(by_id) == 1 else None

    def _refuse_mode_change(self, patch: Sequence[tuple[Path, Any]], current: Service) -> None:
        wanted = mode_changed(patch, current)
        if wanted is not None:
            raise InvalidSpec(
                f"mode: service {current.name} is {current.mode} and cannot become {wanted} "
                "in place (the engine refuses); remove it and create it again"
            )

    async def _create(self, spec: ServiceSpec, patch: Sequence[tuple[Path, Any]]) -> Service:
        body = apply(patch, {})
        body.setdefault("TaskTemplate", {}).setdefault("ContainerSpec", {})
        payload = await self._engine._request("POST", "services/create", json_body=body)
        for warning in (payload or {}).get("Warnings") or ():
            self._log.warning("service.warning", service=spec.name, warning=warning)
        service_id = str(payload["ID"])
        self._log.info("service.created", service=spec.name, id=service_id)
        return await self.get(service_id)

    async def _ensure_one(
        self,
        spec: ServiceSpec,
        patch: Sequence[tuple[Path, Any]],
        existing: Service | None,
        on_drift: ServiceDrift,
    ) -> ServiceEnsureResult:
        if existing is None:
            try:
                created = await self._create(spec, patch)
            except Conflict:
                # Another client created it between our look and our create.
                existing = await self.get(spec.name)
            else:
                return ServiceEnsureResult(
                    service=created,
                    outcome=ServiceOutcome.CREATED,
                    diff=ServiceDiff(service=spec.name),
                )
        changes = diff(spec.name, patch, existing.spec_payload)
        if "networks" in changes.fields:
            # Name the networks in the text; the engine stores ids (a read on drift only).
            names = {n.id: n.name for n in await self._engine.networks.list()}
            changes = diff(spec.name, patch, existing.spec_payload, names=names)
        if not changes:
            return ServiceEnsureResult(
                service=existing, outcome=ServiceOutcome.UNCHANGED, diff=changes
            )
        log = self._log.bind(service=spec.name)
        if on_drift is ServiceDrift.LEAVE:
            log.warning("service.drifted", fields=builtins.list(changes.fields))
            return ServiceEnsureResult(
                service=existing, outcome=ServiceOutcome.DRIFTED, diff=changes
            )
        if on_drift is ServiceDrift.RAISE:
            raise DriftDetected(
                f"{changes}; pass on_drift=ServiceDrift.UPDATE to update it in place, or "
                "ServiceDrift.LEAVE to keep it",  # the CLI rewrites this (cli_words)
                diff=changes,
                engine=self._engine.url,
            )
        self._refuse_mode_change(patch, existing)

        def change(stored: dict[str, Any]) -> dict[str, Any] | None:
            # Re-compared on every attempt: a racing ensure may have done our work.
            return apply(patch, stored) if diff(spec.name, patch, stored) else None

        updated, wrote = await self._update(existing, change)
        outcome = ServiceOutcome.UPDATED if wrote else ServiceOutcome.UNCHANGED
        log.info("service.ensured", outcome=outcome.value, fields=builtins.list(changes.fields))
        return ServiceEnsureResult(service=updated, outcome=outcome, diff=changes)

    async def _update(
        self,
        service: Service,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        *,
        force: bool = False,
    ) -> tuple[Service, bool]:
        """Send ``change(stored spec)`` with the object version; retry when out of sequence.

        ``change`` returns None when there is nothing to do; then nothing is sent.
        Returns the service as read after the update, and whether anything was sent.
        """
        for attempt in range(_UPDATE_ATTEMPTS):
            body = change(json.loads(json.dumps(service.spec_payload)))
            if body is None and not force:
                return service, False
            if body is None:
                body = json.loads(json.dumps(service.spec_payload))
            if force:
                task = body.setdefault("TaskTemplate", {})
                task["ForceUpdate"] = int(task.get("ForceUpdate") or 0) + 1
            try:
                payload = await self._engine._request(
                    "POST",
                    f"services/{service.id}/update",
                    params={"version": str(service.version)},
                    json_body=body,
                )
            except NotFound as exc:
                raise ServiceNotFound.refine(
                    exc, f"service {service.name} was removed before it could be updated"
                ) from exc
            except EngineAPIError as exc:
                if _OUT_OF_SEQUENCE not in exc.explanation or attempt == _UPDATE_ATTEMPTS - 1:
                    raise
                self._log.debug("service.update_retry", service=service.name, attempt=attempt)
                await anyio.sleep(0.01 * (attempt + 1))
                service = await self.get(service.id)
                continue
            for warning in (payload or {}).get("Warnings") or ():
                self._log.warning("service.warning", service=service.name, warning=warning)
            self._log.info("service.updated", service=service.name, id=service.id)
            return await self.get(service.id), True
        raise AssertionError("unreachable")  # pragma: no cover

    async def _change_networks(
        self,
        service: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        wait: bool,
        timeout: float,  # noqa: ASYNC109
        on_progress: ProgressCallback | None,
        verb: str,
    ) -> Service:
        current = await self.get(service)
        updated, wrote = await self._update(current, change)
        if wrote:
            self._log.info(f"service.network_{verb}", service=updated.name)
        if wrote and wait:
            return await self.wait_converged(updated.id, timeout=timeout, on_progress=on_progress)
        return updated
