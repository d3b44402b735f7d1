"""Test helpers: open clients for lab nodes, count their requests, wait for engines to converge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

import anyio

import swarmnet
from swarmnet import Engine
from swarmnet.lab import LabNode

T = TypeVar("T")
RequestHook = Callable[[str, str], None]


class Recorder:
    """Counts the requests engine clients send (via ``Engine(on_request=…)``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str) -> None:
        self.calls.append((method, path))

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] != "GET"]


@asynccontextmanager
async def engines_of(
    nodes: Sequence[LabNode], *, on_request: RequestHook | None = None
) -> AsyncIterator[list[Engine]]:
    """Open clients for ``nodes`` (named like them), closed at the end."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                Engine(node.docker_host, name=node.name, on_request=on_request)
            )
            for node in nodes
        ]


@asynccontextmanager
async def out_of_swarm(
    nodes: Sequence[LabNode], *, on_request: RequestHook | None = None
) -> AsyncIterator[list[Engine]]:
    """Like :func:`engines_of`, with the nodes in no swarm before and after (even on failure)."""
    async with engines_of(nodes, on_request=on_request) as opened:
        await swarmnet.dissolve(opened)
        try:
            yield opened
        finally:
            await swarmnet.dissolve(opened)


async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float = 30.0, every: float = 0.2
) -> T:
    """Poll ``check`` until it returns something other than None (engines converge)."""
    with anyio.fail_after(within):
        while True:
            result = await check()
            if result is not None:
                return result
            await anyio.sleep(every)
