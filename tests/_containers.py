"""Test helpers: containers and exec, through ``engine.containers``, tracked for cleanup.

Reachability is observed from inside a container: ``ping`` and ``nslookup`` run with
exec, and the exit code says.

Every helper that creates something records it in a :class:`Tracker`, whose
``cleanup`` removes it whatever the test's outcome (containers first, then networks).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio

import swarmnet
from swarmnet.lab import LAB_IMAGE
from swarmnet.models import ExecResult

__all__ = [
    "ExecResult",
    "Tracker",
    "can_ping",
    "container_address",
    "exec_in",
    "remove_networks",
    "resolve",
    "unique_prefix",
]


def unique_prefix(tag: str) -> str:
    """A name prefix no other test run uses: ``<tag>-<6 hex>-``."""
    return f"{tag}-{uuid.uuid4().hex[:6]}-"


async def exec_in(engine: swarmnet.Engine, container: str, *argv: str) -> ExecResult:
    """Run ``argv`` in a running container and wait for it; return exit code and output."""
    return await engine.containers.exec(container, *argv)


async def can_ping(engine: swarmnet.Engine, container: str, target: str) -> bool:
    """One ping from the container to ``target`` (2 s allowed); True if it was answered."""
    result = await exec_in(engine, container, "ping", "-c", "1", "-W", "2", target)
    return result.exit_code == 0


async def resolve(engine: swarmnet.Engine, container: str, name: str) -> ExecResult:
    """``nslookup name`` in the container (through the engine's embedded DNS)."""
    return await exec_in(engine, container, "nslookup", name)


async def resolve_eventually(
    engine: swarmnet.Engine, container: str, name: str, within: float = 15
) -> ExecResult:
    """:func:`resolve` until it succeeds, for up to ``within`` seconds.

    A name on another node reaches this node's embedded DNS by gossip, a moment after
    the container starts (longer on a busy host): "eventually", not "at once".
    """
    with anyio.move_on_after(within):
        while (result := await resolve(engine, container, name)).exit_code != 0:  # noqa: ASYNC110
            await anyio.sleep(0.5)
        return result
    return await resolve(engine, container, name)


async def container_address(engine: swarmnet.Engine, container: str, network: str) -> str:
    """The container's IPv4 address on a network (by network name)."""
    return str((await engine.containers.get(container)).networks[network].ip_address)


@dataclass
class Tracker:
    """What a test made on which engines, removed by :meth:`cleanup`.

    It remembers engine addresses, not clients, and cleans up with clients of its own,
    so a test may close the clients it made things with.
    """

    containers: list[tuple[str, str]] = field(default_factory=list)
    network_prefixes: list[tuple[str, str]] = field(default_factory=list)

    async def run(
        self,
        engine: swarmnet.Engine,
        name: str,
        *,
        network: str | None = None,
        networking: swarmnet.models.ContainerNetworking | None = None,
        start: bool = True,
        cmd: Sequence[str] = ("sleep", "3600"),
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Create (and by default start) a busybox container; return its id."""
        networks = networking if networking is not None else [network] if network else ()
        container = await engine.containers.run(
            LAB_IMAGE, cmd, name=name, networks=networks, start=start, labels=labels
        )
        self.containers.append((engine.url, container.id))
        return container.id

    def watch_networks(self, engine: swarmnet.Engine, prefix: str) -> None:
        """Remove every network named ``prefix…`` on this engine at cleanup."""
        self.network_prefixes.append((engine.url, prefix))

    async def cleanup(self) -> None:
        for url, container_id in reversed(self.containers):
            async with swarmnet.Engine(url) as engine:
                await engine.containers.remove(container_id)
        self.containers.clear()
        for url, prefix in self.network_prefixes:
            async with swarmnet.Engine(url) as engine:
                await remove_networks(engine, prefix)
        self.network_prefixes.clear()


async def remove_networks(engine: swarmnet.Engine, prefix: str) -> None:
    """Remove every network whose name starts with ``prefix`` (errors ignored)."""
    for network in await engine.networks.list():
        if network.name.startswith(prefix):
            with contextlib.suppress(swarmnet.EngineAPIError):
                await engine.networks.remove(network.id)
