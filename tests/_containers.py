"""Test helpers: containers and exec, through raw engine calls.

Containers are not swarmnet's API surface, so tests make them with plain
``POST /containers/create`` calls here. Reachability is observed from inside a
container: ``ping`` and ``nslookup`` run with exec, and the exit code says.

Every helper that creates something records it in a :class:`Tracker`, whose
``cleanup`` removes it whatever the test's outcome (containers first, then networks).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import swarmnet
from swarmnet.lab import LAB_IMAGE


def unique_prefix(tag: str) -> str:
    """A name prefix no other test run uses: ``<tag>-<6 hex>-``."""
    return f"{tag}-{uuid.uuid4().hex[:6]}-"


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a container gave back."""

    exit_code: int
    output: str


def _demux(raw: str | bytes | None) -> str:
    # Without a TTY the engine frames stdout/stderr: 8-byte header, then the payload.
    if raw is None:
        return ""
    data = raw.encode("latin-1", errors="replace") if isinstance(raw, str) else raw
    out = bytearray()
    while len(data) >= 8 and data[0] in (0, 1, 2):
        size = int.from_bytes(data[4:8], "big")
        out += data[8 : 8 + size]
        data = data[8 + size :]
    out += data
    return out.decode("utf-8", errors="replace")


async def exec_in(engine: swarmnet.Engine, container: str, *argv: str) -> ExecResult:
    """Run ``argv`` in a running container and wait for it; return exit code and output."""
    transport = engine._transport
    created = await transport.request(
        "POST",
        f"containers/{container}/exec",
        json_body={"Cmd": list(argv), "AttachStdout": True, "AttachStderr": True},
    )
    raw = await transport.request(
        "POST", f"exec/{created['Id']}/start", json_body={"Detach": False, "Tty": False}
    )
    inspected = await transport.request("GET", f"exec/{created['Id']}/json")
    return ExecResult(exit_code=int(inspected["ExitCode"]), output=_demux(raw))


async def can_ping(engine: swarmnet.Engine, container: str, target: str) -> bool:
    """One ping from the container to ``target`` (2 s allowed); True if it was answered."""
    result = await exec_in(engine, container, "ping", "-c", "1", "-W", "2", target)
    return result.exit_code == 0


async def resolve(engine: swarmnet.Engine, container: str, name: str) -> ExecResult:
    """``nslookup name`` in the container (through the engine's embedded DNS)."""
    return await exec_in(engine, container, "nslookup", name)


async def container_address(engine: swarmnet.Engine, container: str, network: str) -> str:
    """The container's IPv4 address on a network (by network name)."""
    payload = await engine._transport.request("GET", f"containers/{container}/json")
    return str(payload["NetworkSettings"]["Networks"][network]["IPAddress"])


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
        networking: swarmnet.ContainerNetworking | None = None,
        start: bool = True,
        cmd: Sequence[str] = ("sleep", "3600"),
    ) -> str:
        """Create (and by default start) a busybox container; return its id."""
        body: dict[str, Any] = {"Image": LAB_IMAGE, "Cmd": list(cmd), "HostConfig": {}}
        if networking is not None:
            fields = networking.create_fields(engine.api_version)
            body["HostConfig"].update(fields["HostConfig"])
            body["NetworkingConfig"] = fields["NetworkingConfig"]
        elif network is not None:
            body["HostConfig"]["NetworkMode"] = network
        created = await engine._transport.request(
            "POST", "containers/create", params={"name": name}, json_body=body
        )
        container_id = str(created["Id"])
        self.containers.append((engine.url, container_id))
        if networking is not None:
            await engine.networks.connect_deferred(container_id, networking)
        if start:
            await engine._transport.request("POST", f"containers/{container_id}/start")
        return container_id

    def watch_networks(self, engine: swarmnet.Engine, prefix: str) -> None:
        """Remove every network named ``prefix…`` on this engine at cleanup."""
        self.network_prefixes.append((engine.url, prefix))

    async def cleanup(self) -> None:
        for url, container_id in reversed(self.containers):
            async with swarmnet.Engine(url) as engine:
                with contextlib.suppress(swarmnet.NotFound):
                    await engine._transport.request(
                        "DELETE", f"containers/{container_id}", params={"force": "true"}
                    )
        self.containers.clear()
        for url, prefix in self.network_prefixes:
            async with swarmnet.Engine(url) as engine:
                await remove_networks(engine, prefix)
        self.network_prefixes.clear()


async def remove_networks(engine: swarmnet.Engine, prefix: str) -> None:
    """Remove every network whose name starts with ``prefix`` (raw calls, errors ignored)."""
    filters = json.dumps({"name": [prefix]})
    listed = await engine._transport.request("GET", "networks", params={"filters": filters})
    for item in listed or ():
        if str(item["Name"]).startswith(prefix):
            with contextlib.suppress(swarmnet.EngineAPIError):
                await engine._transport.request("DELETE", f"networks/{item['Id']}")
