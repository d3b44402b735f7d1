"""Test helpers for the event tests: network activity by raw engine calls, and collectors.

Activity is made with plain Engine API calls (``POST /networks/create``, …) so the
event tests depend on nothing but the transport. Everything made is named with a
unique prefix and removed by the fixtures' cleanup, whatever the outcome.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

import swarmnet
from swarmnet.lab import LAB_IMAGE


async def create_bridge(engine: swarmnet.Engine, name: str) -> str:
    """A user-defined bridge; returns its id."""
    created = await engine._transport.request(
        "POST",
        "networks/create",
        json_body={"Name": name, "Driver": "bridge", "CheckDuplicate": True},
    )
    return str(created["Id"])


async def create_overlay(engine: swarmnet.Engine, name: str) -> str:
    """An attachable overlay (on a manager); returns its id."""
    created = await engine._transport.request(
        "POST",
        "networks/create",
        json_body={"Name": name, "Driver": "overlay", "Attachable": True, "CheckDuplicate": True},
    )
    return str(created["Id"])


async def remove_network(engine: swarmnet.Engine, network: str) -> None:
    await engine._transport.request("DELETE", f"networks/{network}")


async def run_container(
    engine: swarmnet.Engine,
    name: str,
    network: str | None = None,
    *,
    restart: str | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """A started busybox container sleeping (on ``network`` if given, with the restart
    policy ``restart`` and the ``labels`` if given); returns its id."""
    body: dict[str, Any] = {"Image": LAB_IMAGE, "Cmd": ["sleep", "600"], "HostConfig": {}}
    if network is not None:
        body["HostConfig"]["NetworkMode"] = network
    if restart is not None:
        body["HostConfig"]["RestartPolicy"] = {"Name": restart}
    if labels is not None:
        body["Labels"] = labels
    created = await engine._transport.request(
        "POST", "containers/create", params={"name": name}, json_body=body
    )
    await engine._transport.request("POST", f"containers/{created['Id']}/start")
    return str(created["Id"])


async def connect(engine: swarmnet.Engine, network: str, container: str) -> None:
    await engine._transport.request(
        "POST", f"networks/{network}/connect", json_body={"Container": container}
    )


async def disconnect(engine: swarmnet.Engine, network: str, container: str) -> None:
    await engine._transport.request(
        "POST", f"networks/{network}/disconnect", json_body={"Container": container, "Force": True}
    )


# The swarm agent makes and drops these on a node (a worker's ingress, the gwbridge of
# its first overlay endpoint) without sending an event, as it does the sandbox
# endpoints: a cache fed by events learns of them only on its next re-read.
EVENTLESS = frozenset({"ingress", "docker_gwbridge"})


async def engine_networks(engine: swarmnet.Engine) -> dict[str, frozenset[str]]:
    """What the engine reports now: network id -> ids of containers attached on it.

    Only containers: the engine's own sandbox endpoints on overlays (``ingress-sbox``,
    ``lb-…``, ``ep-…``) come without events, and the watcher's cache leaves them out.
    """
    out: dict[str, frozenset[str]] = {}
    for entry in await engine._transport.request("GET", "networks"):
        if entry["Name"] in EVENTLESS:
            continue
        with contextlib.suppress(swarmnet.NotFound):
            detail = await engine._transport.request("GET", f"networks/{entry['Id']}")
            keys = (detail.get("Containers") or {}).keys()
            out[str(entry["Id"])] = frozenset(k for k in keys if re.fullmatch("[0-9a-f]{64}", k))
    return out


def cached_networks(watcher: swarmnet.Watcher, node: str) -> dict[str, frozenset[str]]:
    """The watcher's cache of one node in the same shape as :func:`engine_networks`."""
    return {
        net.id: net.containers
        for net in watcher.cache.networks(node=node)
        if net.name not in EVENTLESS
    }


async def wait_converged(
    watcher: swarmnet.Watcher, engine: swarmnet.Engine, within: float = 20
) -> None:
    """Wait until the watcher's cache of ``engine``'s node equals what the engine reports.

    Eventually, not at once: the engine lists a change a moment before its event comes.
    """
    with anyio.move_on_after(within):
        while cached_networks(watcher, engine.name) != await engine_networks(engine):  # noqa: ASYNC110
            await anyio.sleep(0.1)
        return
    cached, actual = cached_networks(watcher, engine.name), await engine_networks(engine)
    assert cached == actual, (
        f"{engine.name}: only in the cache {sorted(set(cached) - set(actual))}, "
        f"only on the engine {sorted(set(actual) - set(cached))}, differing "
        f"{sorted(k for k in set(cached) & set(actual) if cached[k] != actual[k])}"
    )


async def clean_engine(url: str, prefix: str) -> None:
    """Remove every container and network named ``prefix…`` on the engine at ``url``."""
    async with swarmnet.Engine(url) as engine:
        transport = engine._transport
        listed = await transport.request("GET", "containers/json", params={"all": "true"})
        for item in listed or ():
            if any(name.lstrip("/").startswith(prefix) for name in item.get("Names", ())):
                with contextlib.suppress(swarmnet.NotFound):
                    await transport.request(
                        "DELETE", f"containers/{item['Id']}", params={"force": "true"}
                    )
        for item in await transport.request("GET", "networks") or ():
            if str(item["Name"]).startswith(prefix):
                with contextlib.suppress(swarmnet.EngineAPIError):
                    await transport.request("DELETE", f"networks/{item['Id']}")


@dataclass
class Collector:
    """A callback that records what it was given (sync, so it runs inline)."""

    events: list[swarmnet.models.NetworkEvent] = field(default_factory=list)
    kwargs: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)

    def __call__(self, event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
        self.events.append(event)
        self.kwargs.append(kwargs)
        self.arrived.append(time.monotonic())

    def about(self, network: str) -> list[swarmnet.models.NetworkEvent]:
        """Events about one network (by name or id)."""
        return [e for e in self.events if network in (e.name, e.network_id)]

    def actions(self, network: str) -> list[str]:
        return [str(e.action) for e in self.about(network)]


async def wait_for(predicate: Callable[[], bool], within: float = 20.0, what: str = "") -> None:
    """Poll until ``predicate()`` holds; fail the test with ``what`` after ``within`` s."""
    with anyio.move_on_after(within):
        while not predicate():  # noqa: ASYNC110 - polling state the test cannot await
            await anyio.sleep(0.05)
        return
    raise AssertionError(f"timed out after {within} s waiting for {what or predicate}")


class Proxy:
    """A unix-socket forwarder to a real engine, whose connections a test can cut.

    A real engine cannot be asked to drop one client's connection while it stays up
    (a restart also empties its event memory); this stands between the client and the
    engine's socket and does only that.
    """

    def __init__(self, engine_socket: str, path: str) -> None:
        self.engine_socket = engine_socket
        self.path = path
        self.url = f"unix://{path}"
        self._open: set[anyio.abc.ByteStream] = set()

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        listener = await anyio.create_unix_listener(self.path)
        async with listener:
            task_status.started()
            await listener.serve(self._forward)

    async def cut(self) -> int:
        """Close every connection open through the proxy; return how many."""
        streams, self._open = list(self._open), set()
        for stream in streams:
            with contextlib.suppress(Exception):
                await stream.aclose()
        return len(streams) // 2

    async def _forward(self, client: anyio.abc.ByteStream) -> None:
        async with client, await anyio.connect_unix(self.engine_socket) as upstream:
            self._open |= {client, upstream}
            await _pipe_both(client, upstream)
            self._open -= {client, upstream}


async def _pipe_both(one: anyio.abc.ByteStream, other: anyio.abc.ByteStream) -> None:
    """Copy bytes both ways until either side closes, then close the other."""

    async def pipe(source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream) -> None:
        with contextlib.suppress(
            anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError
        ):
            async for data in source:
                await sink.send(data)
        with contextlib.suppress(Exception):
            await sink.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(pipe, one, other)
        tg.start_soon(pipe, other, one)


async def _tcp_relay(host: str, port: int, engine_socket: str) -> None:
    """Serve ``engine_socket`` on ``host:port`` over TCP until killed."""

    async def forward(client: anyio.abc.ByteStream) -> None:
        async with client, await anyio.connect_unix(engine_socket) as upstream:
            await _pipe_both(client, upstream)

    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    print("listening", flush=True)
    async with listener:
        await listener.serve(forward)


if __name__ == "__main__":
    # python tests/_netevents.py HOST PORT ENGINE_SOCKET: a TCP relay to an engine's
    # socket, run inside a lab node's network namespace (see test_watcher_cluster).
    import sys

    anyio.run(_tcp_relay, sys.argv[1], int(sys.argv[2]), sys.argv[3])
