"""Applying a stack plan in dependency order, through the capability APIs only.

Order: networks to create; services to create or update (written a few at a time,
each waited on until converged as soon as it is written); services to remove; networks
to remove (retried while the removed services' tasks still hold them). A failure stops
the run before the next phase (service writes already under way finish): what was done
and what was not are both reported (:class:`StackApplyFailed`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict

from swarmnet._core.engine import Engine
from swarmnet._core.errors import EngineAPIError, InvalidSpec, NetworkInUse, NotFound, SwarmnetError
from swarmnet._core.log import get_logger
from swarmnet._services.models import Progress
from swarmnet._stacks.model import NAMESPACE_LABEL, Stack
from swarmnet._stacks.plan import (
    ObjectKind,
    PlannedChange,
    StackAction,
    StackPlan,
    current_networks,
    plan_stack,
    read_state,
)

_log = get_logger("swarmnet.stacks")

#: How many service writes are in flight at once.
WRITE_CONCURRENCY = 4
#: How long a removed network may stay in use by the exiting tasks of removed services.
NETWORK_RELEASE_TIMEOUT = 60.0


class StackStep(BaseModel):
    """One step of an apply, as reported to ``on_progress``.

    Attributes:
        kind: network or service.
        name: the object's name.
        action: what is done to it.
        detail: ``"started"``, ``"done"`` or a service's progress (``"2/3 running"``).
    """

    model_config = ConfigDict(frozen=True)

    kind: ObjectKind
    name: str
    action: StackAction
    detail: str

    def __str__(self) -> str:
        return f"{self.action.value} {self.kind.value} {self.name}: {self.detail}"


class StackApplyResult(BaseModel):
    """What :meth:`Stack.apply` did.

    Attributes:
        stack: the stack's name.
        plan: the plan that was applied.
        done: the changes made (in the order made).
        not_done: the changes not made (empty when all went well).
        error: why it stopped, or ``""``.
    """

    model_config = ConfigDict(frozen=True)

    stack: str
    plan: StackPlan
    done: tuple[PlannedChange, ...] = ()
    not_done: tuple[PlannedChange, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when every change was made."""
        return not self.error


class StackApplyFailed(SwarmnetError):
    """A stack apply stopped at a failure; ``result`` says what was and was not done."""

    def __init__(self, message: str, *, result: StackApplyResult) -> None:
        super().__init__(message)
        self.result = result


ProgressCallback = Callable[[StackStep], Awaitable[None] | None]


async def _report(callback: ProgressCallback | None, step: StackStep) -> None:
    if callback is None:
        return
    outcome = callback(step)
    if inspect.isawaitable(outcome):
        await outcome


async def apply_stack(
    engine: Engine,
    stack: Stack,
    *,
    prune: bool = False,
    wait: bool = True,
    timeout: float = 300.0,  # noqa: ASYNC109 (each service's rollout limit)
    on_progress: ProgressCallback | None = None,
    plan: StackPlan | None = None,
) -> StackApplyResult:
    """Plan ``stack`` against the engine (or take ``plan``) and carry it out.

    Raises:
        InvalidSpec: the plan holds a network change (networks cannot be changed in
            place) or a service mode change; nothing was written.
        StackApplyFailed: a step failed; ``.result`` lists what was done and not done.
    """
    plan = plan if plan is not None else await plan_stack(engine, stack, prune=prune)
    for item in plan.pending:
        if item.kind is ObjectKind.NETWORK and item.action is StackAction.UPDATE:
            raise InvalidSpec(
                f"network {item.name} differs from the file ("
                + "; ".join(str(c) for c in item.changes)
                + "); networks cannot be changed in place: remove the stack "
                "(or the network) first, or change the file back. Nothing was written."
            )
        if item.kind is ObjectKind.SERVICE and any(c.field == "deploy.mode" for c in item.changes):
            raise InvalidSpec(
                f"service {item.name}: deploy.mode cannot change between replicated and "
                "global (the engine refuses); remove the service first. Nothing was written."
            )
    networks = {n.name: n for n in stack.networks}
    services = {s.name: s for s in stack.services}
    done: list[PlannedChange] = []
    pending = list(plan.pending)
    log = _log.bind(stack=stack.name, engine=engine.name)

    async def step(item: PlannedChange, work: Callable[[], Awaitable[Any]]) -> None:
        await _report(on_progress, StackStep(**_step(item), detail="started"))
        await work()
        done.append(item)
        pending.remove(item)
        log.info(f"stack.{item.kind.value}.{item.action.value}d", name=item.name)
        await _report(on_progress, StackStep(**_step(item), detail="done"))

    def of(kind: ObjectKind, *actions: StackAction) -> list[PlannedChange]:
        return [i for i in plan.pending if i.kind is kind and i.action in actions]

    try:
        for item in of(ObjectKind.NETWORK, StackAction.CREATE):
            network_spec = networks[item.name].spec
            assert network_spec is not None  # external networks are never planned
            await step(item, functools.partial(engine.networks.create, network_spec))
        failures: list[SwarmnetError] = []
        limiter = anyio.CapacityLimiter(WRITE_CONCURRENCY)

        async def write(item: PlannedChange) -> None:
            # Each service is waited on as soon as it is written; a failure lets the
            # others finish (a write cut off midway would leave its outcome unknown).
            spec = services[item.name].spec
            try:
                async with limiter:
                    if item.action is StackAction.CREATE:
                        await step(item, functools.partial(engine.services.create, spec))
                    else:
                        await step(item, functools.partial(engine.services.update, spec.name, spec))
                if wait:
                    await _converge(engine, item, timeout, on_progress)
            except SwarmnetError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as group:
            for item in of(ObjectKind.SERVICE, StackAction.CREATE, StackAction.UPDATE):
                group.start_soon(write, item)
        if failures:
            raise failures[0]
        for item in of(ObjectKind.SERVICE, StackAction.REMOVE):
            await step(item, functools.partial(engine.services.remove, item.id, missing_ok=True))
        for item in of(ObjectKind.NETWORK, StackAction.REMOVE):
            await step(item, functools.partial(_remove_network, engine, item))
    except SwarmnetError as exc:
        result = StackApplyResult(
            stack=stack.name,
            plan=plan,
            done=tuple(done),
            not_done=tuple(pending),
            error=str(exc),
        )
        log.warning("stack.apply_failed", done=len(done), not_done=len(pending))
        raise StackApplyFailed(
            f"stack {stack.name}: {exc}; done: "
            + (", ".join(f"{i.action.value} {i.name}" for i in done) or "nothing")
            + "; not done: "
            + ", ".join(f"{i.action.value} {i.name}" for i in pending),
            result=result,
        ) from exc
    return StackApplyResult(stack=stack.name, plan=plan, done=tuple(done))


def _step(item: PlannedChange) -> dict[str, Any]:
    return {"kind": item.kind, "name": item.name, "action": item.action}


async def _converge(
    engine: Engine,
    item: PlannedChange,
    timeout: float,  # noqa: ASYNC109 (passed on to wait_converged)
    on_progress: ProgressCallback | None,
) -> None:
    async def progress(p: Progress) -> None:
        await _report(on_progress, StackStep(**_step(item), detail=str(p)))

    await engine.services.wait_converged(item.name, timeout=timeout, on_progress=progress)


async def _remove_network(engine: Engine, item: PlannedChange) -> None:
    # Tasks of a service just removed or moved off keep their endpoints until they
    # have exited (about the stop grace period); wait for them, not a fixed time.
    last: NetworkInUse | None = None
    with anyio.move_on_after(NETWORK_RELEASE_TIMEOUT):
        delay = 0.2
        while True:
            try:
                await engine.networks.remove(item.id or item.name)
                return
            except NotFound:
                return
            except NetworkInUse as exc:
                last = exc
                await anyio.sleep(delay)
                delay = min(delay * 1.5, 2.0)
            except EngineAPIError as exc:
                # A removed swarm network answers 500 "not found" by id.
                if "not found" in exc.explanation:
                    return
                raise
    raise SwarmnetError(
        f"network {item.name} was still in use after {NETWORK_RELEASE_TIMEOUT:g}s: {last}"
    )


class StackSummary(BaseModel):
    """One stack on a swarm, found by its label (as ``docker stack ls`` finds it).

    Attributes:
        name: the stack's name.
        services: its services' names.
        networks: its networks' names.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    services: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()


async def list_stacks(engine: Engine) -> tuple[StackSummary, ...]:
    """Every stack with a service or network on the swarm, by name."""
    services = await engine.services.list(labels=[NAMESPACE_LABEL])
    networks = current_networks(await engine.networks.list(labels=[NAMESPACE_LABEL]))
    found: dict[str, tuple[set[str], set[str]]] = {}
    for service in services:
        found.setdefault(service.labels[NAMESPACE_LABEL], (set(), set()))[0].add(service.name)
    for network in networks:
        name = network.labels.get(NAMESPACE_LABEL)
        if name is not None:
            found.setdefault(name, (set(), set()))[1].add(network.name)
    return tuple(
        StackSummary(name=name, services=tuple(sorted(s)), networks=tuple(sorted(n)))
        for name, (s, n) in sorted(found.items())
    )


async def remove_stack(
    engine: Engine, name: str, *, on_progress: ProgressCallback | None = None
) -> StackApplyResult:
    """Remove every service, then every network, labelled as stack ``name``.

    What ``docker stack rm`` does, except that it waits until the networks are gone
    (their removal is retried while the services' tasks exit). Removing a stack that
    does not exist does nothing.

    Raises:
        StackApplyFailed: a removal failed; ``.result`` says what was removed.
    """
    from swarmnet._stacks.plan import StackState, make_plan

    state = await read_state(engine)
    empty = Stack(name=name, networks=(), services=())
    plan = make_plan(
        empty, StackState(networks=state.networks, services=state.services), prune=True
    )
    return await apply_stack(engine, empty, plan=plan, on_progress=on_progress)
