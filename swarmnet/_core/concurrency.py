"""Running a batch of jobs at once, the way every fan-out in swarmnet needs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from swarmnet._core.errors import SwarmnetError


async def run_all(
    jobs: Iterable[Callable[[], Awaitable[None]]],
    *,
    limit: int | None = None,
    catch: type[BaseException] | tuple[type[BaseException], ...] = SwarmnetError,
) -> None:
    """Run every job concurrently (at most ``limit`` at a time); then raise the first error.

    Errors of the ``catch`` types are collected rather than left to the task group, so
    one failure neither stops the other jobs nor reaches the caller as an exception
    group: the caller catches a plain swarmnet error. Anything else (a bug, a
    cancellation) propagates as usual.
    """
    errors: list[BaseException] = []
    limiter = anyio.CapacityLimiter(max(1, limit)) if limit is not None else None

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        try:
            if limiter is None:
                await job()
            else:
                async with limiter:
                    await job()
        except catch as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for job in jobs:
            tg.start_soon(run, job)
    if errors:
        raise errors[0]


async def open_background(run: Callable[..., Coroutine[Any, Any, Any]]) -> TaskGroup:
    """Enter a task group and ``start`` ``run`` in it, for an ``async with`` object to
    hold between its ``__aenter__`` and ``__aexit__``.

    If ``run`` fails before it reports started, the group is closed and ``run``'s own
    exception raised, not an exception group.
    """
    task_group = anyio.create_task_group()
    await task_group.__aenter__()
    try:
        await task_group.start(run)
    except BaseException:
        task_group.cancel_scope.cancel()
        await task_group.__aexit__(None, None, None)
        raise
    return task_group


async def close_background(task_group: TaskGroup, *, cancel: bool) -> None:
    """Leave a group from :func:`open_background`, cancelling what runs in it if asked.

    The ``async with`` body's own exception is not the group's business: it is not
    passed in, so it leaves the caller as it is, never wrapped in an exception group.
    """
    if cancel:
        task_group.cancel_scope.cancel()
    await task_group.__aexit__(None, None, None)
