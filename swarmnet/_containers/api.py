"""Just enough of containers to put standalone containers on networks and look inside.

swarmnet is about networking, not a container toolkit: this module runs a container
with its networks set at create time, lists and inspects containers (a controller
adopts those already running), starts, stops and waits for them, runs a command in
one, and removes it. For anything more, use aiodocker or docker-py side by side.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from swarmnet._containers.models import (
    CONTAINER_STATUSES,
    Container,
    ContainerStatus,
    ExecResult,
)
from swarmnet._core.errors import EngineError, InvalidSpec, NotFound
from swarmnet._core.filters import label_filter
from swarmnet._core.log import get_logger
from swarmnet._networks.attach import ContainerNetworking, EndpointConfig, attach

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

__all__ = ["Container", "ContainerStatus", "ContainersAPI", "ExecResult"]

_log = get_logger("swarmnet.containers")

# The engine's own rule for container names (daemon/names.go); checked here so a bad
# name is refused before the create is sent.
_NAME = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidSpec(
            f"invalid container name {name!r}: use at least two of [a-zA-Z0-9_.-], "
            "starting with a letter or digit"
        )
    return name.lstrip("/")


class ContainersAPI:
    """Standalone containers on one engine, as far as networking needs them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def run(
        self,
        image: str,
        command: Sequence[str] = (),
        *,
        name: str | None = None,
        networks: ContainerNetworking | Sequence[EndpointConfig | str] = (),
        hostname: str | None = None,
        labels: Mapping[str, str] | None = None,
        start: bool = True,
    ) -> Container:
        """Create a container on its networks (and start it, unless ``start=False``).

        Args:
            image: an image the engine already has (no pull is done).
            command: the command to run.
            name: the container's name (also its DNS name on user-defined networks).
            networks: :func:`swarmnet.attach` result, or network names /
                :class:`EndpointConfig` s (aliases, static addresses); the first is the
                container's network mode. Empty: the engine's default bridge.
            hostname: as ``docker run --hostname`` takes it.
            labels: as ``docker run --label`` takes them.

        Example::

            web = await engine.containers.run(
                "busybox", ["httpd", "-f"], name="web",
                networks=[swarmnet.EndpointConfig(network="front", aliases=("www",))],
            )

        Raises:
            InvalidSpec: an empty image or an invalid name (before anything is sent).
            InvalidSpec: invalid endpoints (before anything is sent).
            NotFound: no such image or network on this engine.
            Conflict: a container with that name exists.
        """
        if not image:
            raise InvalidSpec("image must name an image the engine has")
        if name is not None:
            name = _check_name(name)
        networking = (
            networks
            if isinstance(networks, ContainerNetworking) or not networks
            else attach(*networks)
        )
        body: dict[str, Any] = {"Image": image, "Cmd": list(command) or None, "HostConfig": {}}
        if hostname:
            body["Hostname"] = hostname
        if labels:
            body["Labels"] = dict(labels)
        if isinstance(networking, ContainerNetworking):
            fields = networking.create_fields(self._engine.api_version)
            body["HostConfig"].update(fields["HostConfig"])
            body["NetworkingConfig"] = fields["NetworkingConfig"]
        engine = self._engine
        created = await engine._request(
            "POST", "containers/create", params={"name": name} if name else None, json_body=body
        )
        container_id = str(created["Id"])
        try:
            if isinstance(networking, ContainerNetworking):
                await self._engine.networks.connect_deferred(container_id, networking)
            if start:
                await engine._request("POST", f"containers/{container_id}/start")
        except BaseException:
            # Leave nothing half-made: a created container whose start failed goes, even
            # when the caller was cancelled, and the first error is the one raised.
            with anyio.CancelScope(shield=True), contextlib.suppress(EngineError):
                await engine._request(
                    "DELETE", f"containers/{container_id}", params={"force": True}
                )
            raise
        _log.debug("container.started", engine=self._engine.name, container=name or container_id)
        return await self.get(container_id)

    async def list(
        self,
        *,
        labels: Mapping[str, str | None] | Iterable[str] | None = None,
        name: str | None = None,
        network: str | None = None,
        status: ContainerStatus | None = None,
        all: bool = False,
    ) -> tuple[Container, ...]:
        """List containers, filtered by the engine, in one request.

        Args:
            labels: ``{"key": "value"}`` or ``{"key": None}`` (has the label), or
                ``["key", "key=value"]``; all must match.
            name: only the container with exactly this name (the engine matches
                parts of names as a pattern; swarmnet asks for the whole name).
            network: only containers attached to this network, by name, or by id or
                id prefix as ``docker ps`` takes it. A container that never ran is
                only found by the network's name.
            status: only containers in this state (``"running"``, ``"exited"``…);
                implies ``all``.
            all: include containers that are not running, as ``docker ps -a`` does.

        Returns:
            The containers, each with its networks: ids, addresses, MAC, as
            :meth:`get` shows them, but no aliases (the engine's list leaves them
            out; :meth:`get` has them).

        Raises:
            InvalidSpec: an unknown ``status``, an empty ``network`` or an invalid
                ``name`` (before anything is sent).

        Example::

            for container in await engine.containers.list(labels={"join": "app"}):
                print(container.name, sorted(container.networks))
        """
        filters: dict[str, builtins.list[str]] = {}
        if labels:
            filters["label"] = label_filter(labels)
        if name is not None:
            # The engine matches a regular expression against "/name": anchor it.
            filters["name"] = [f"^/{re.escape(_check_name(name))}$"]
        if network is not None:
            if not network:
                raise InvalidSpec("network must name a network (or give no network filter)")
            filters["network"] = [network]
        if status is not None:
            if status not in CONTAINER_STATUSES:
                raise InvalidSpec(
                    f"unknown container status {status!r}; one of "
                    f"{', '.join(sorted(CONTAINER_STATUSES))}"
                )
            filters["status"] = [status]
        params: dict[str, str] = {}
        if all or status is not None:
            params["all"] = "true"
        if filters:
            params["filters"] = json.dumps(filters)
        payload = await self._engine._request("GET", "containers/json", params=params or None)
        containers = tuple(Container.from_list_item(item) for item in payload or ())
        if name is not None:
            # Belt and braces: a linked container also carries "/other/name".
            containers = tuple(c for c in containers if c.name == name.lstrip("/"))
        return containers

    async def get(self, container: str) -> Container:
        """Inspect a container by name or id.

        Raises:
            NotFound: no such container.
        """
        payload = await self._engine._request("GET", f"containers/{container}/json")
        return Container.from_inspect(payload)

    async def start(self, container: str) -> Container:
        """Start a created or stopped container; a running one is left as it is.

        Returns the container as it is once started.

        Raises:
            NotFound: no such container.
            EngineAPIError: the engine could not start it (its network is gone, say).
        """
        await self._engine._request("POST", f"containers/{container}/start")
        _log.debug("container.started", engine=self._engine.name, container=container)
        return await self.get(container)

    async def stop(self, container: str, *, grace: float = 10.0) -> Container:
        """Stop a container: SIGTERM, then SIGKILL after ``grace`` seconds.

        A container that is not running is left as it is. Returns it as it is then.

        Raises:
            InvalidSpec: a negative ``grace``.
            NotFound: no such container.
        """
        if grace < 0:
            raise InvalidSpec(f"grace must be 0 or more seconds, not {grace}")
        seconds = int(-(-grace // 1))  # the engine takes whole seconds; round up
        await self._engine._request(
            "POST",
            f"containers/{container}/stop",
            params={"t": str(seconds)},
            # The engine answers only once the container is down: allow the grace period.
            timeout=None,
        )
        _log.debug("container.stopped", engine=self._engine.name, container=container)
        return await self.get(container)

    async def wait(self, container: str, *, timeout: float | None = None) -> int:  # noqa: ASYNC109
        """Wait until a container's process has exited; return its exit code.

        Returns at once for a container that is not running.

        Args:
            timeout: seconds to wait at most (``None``: as long as it takes).

        Raises:
            NotFound: no such container.
            EngineTimeout: still running after ``timeout`` seconds (it is left running).
        """
        answer = await self._engine._request(
            "POST",
            f"containers/{container}/wait",
            params={"condition": "not-running"},
            timeout=timeout,
        )
        return int(answer["StatusCode"])

    async def exec(self, container: str, *argv: str) -> ExecResult:
        """Run a command in a running container, wait for it, return exit code and output.

        Example::

            result = await engine.containers.exec("web", "ping", "-c", "1", "db")
            assert result.ok
        """
        engine = self._engine
        created = await engine._request(
            "POST",
            f"containers/{container}/exec",
            json_body={"Cmd": list(argv), "AttachStdout": True, "AttachStderr": True},
        )
        raw = await engine._request(
            "POST",
            f"exec/{created['Id']}/start",
            json_body={"Detach": False, "Tty": False},
            raw=True,
        )
        inspected = await engine._request("GET", f"exec/{created['Id']}/json")
        return ExecResult(exit_code=int(inspected["ExitCode"]), output=_demux(raw))

    async def remove(self, container: str, *, force: bool = True, missing_ok: bool = True) -> None:
        """Remove a container (stopping it first when ``force``).

        Raises:
            NotFound: no such container and ``missing_ok`` is False.
        """
        try:
            await self._engine._request(
                "DELETE", f"containers/{container}", params={"force": force}
            )
        except NotFound:
            if not missing_ok:
                raise


def _demux(data: bytes) -> str:
    # Without a TTY the engine frames stdout/stderr: an 8-byte header, then the payload.
    out = bytearray()
    while len(data) >= 8 and data[0] in (0, 1, 2) and data[1:4] == b"\0\0\0":
        size = int.from_bytes(data[4:8], "big")
        out += data[8 : 8 + size]
        data = data[8 + size :]
    out += data
    return out.decode("utf-8", errors="replace")
