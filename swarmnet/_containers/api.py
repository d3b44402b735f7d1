"""Just enough of containers to put standalone containers on networks and look inside.

swarmnet is about networking, not a container toolkit: this module runs a container
with its networks set at create time, runs a command in it, and removes it. For
anything more, use aiodocker or docker-py side by side.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from swarmnet._core.errors import NotFound
from swarmnet._core.filters import label_filter
from swarmnet._core.log import get_logger
from swarmnet._core.models import EngineModel
from swarmnet._networks.attach import ContainerNetworking, EndpointConfig, attach
from swarmnet._networks.models import EndpointSettings

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

_log = get_logger("swarmnet.containers")

#: The states ``docker ps --filter status=`` knows.
ContainerStatus = Literal[
    "created", "restarting", "running", "removing", "paused", "exited", "dead"
]


class Container(EngineModel):
    """A container as the engine reports it, with its network attachments.

    Attributes:
        id: the container id.
        name: its name, without the engine's leading ``/``.
        image: the image it was created from.
        running: whether it is running now.
        state: the engine's word for its state (``"running"``, ``"exited"``, ``"created"``…).
        labels: its labels.
        networks: attachment settings by network name (addresses, aliases, ids).
    """

    id: str = Field(alias="Id")
    name: str = ""
    image: str = ""
    running: bool = False
    state: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    networks: dict[str, EndpointSettings] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.lstrip("/")

    @classmethod
    def from_inspect(cls, payload: Mapping[str, Any]) -> Container:
        """Build from ``GET /containers/{id}/json``."""
        settings = payload.get("NetworkSettings") or {}
        state = payload.get("State") or {}
        config = payload.get("Config") or {}
        return cls.model_validate(
            {
                "Id": payload["Id"],
                "Name": payload.get("Name", ""),
                "Image": config.get("Image", ""),
                "Running": bool(state.get("Running")),
                "State": str(state.get("Status", "")),
                "Labels": config.get("Labels") or {},
                "Networks": settings.get("Networks") or {},
            }
        )

    @classmethod
    def from_list_item(cls, payload: Mapping[str, Any]) -> Container:
        """Build from one item of ``GET /containers/json`` (names come as ``["/x"]``)."""
        names = payload.get("Names") or [""]
        state = str(payload.get("State", ""))
        return cls.model_validate(
            {
                "Id": payload["Id"],
                "Name": names[0],
                "Image": payload.get("Image", ""),
                "Running": state == "running",
                "State": state,
                "Labels": payload.get("Labels") or {},
                "Networks": (payload.get("NetworkSettings") or {}).get("Networks") or {},
            }
        )


class ExecResult(EngineModel):
    """What a command run in a container gave back: its exit code and its output."""

    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0


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
            hostname, labels: as ``docker run`` takes them.

        Example::

            web = await engine.containers.run(
                "busybox", ["httpd", "-f"], name="web",
                networks=[swarmnet.EndpointConfig(network="front", aliases=("www",))],
            )

        Raises:
            pydantic.ValidationError: invalid endpoints (before anything is sent).
            NotFound: no such image or network on this engine.
            Conflict: a container with that name exists.
        """
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
            # Leave nothing half-made: a created container whose start failed goes.
            await engine._request("DELETE", f"containers/{container_id}", params={"force": True})
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
                parts of names; swarmnet keeps exact matches).
            network: only containers attached to this network (name or id).
            status: only containers in this state (``"running"``, ``"exited"``…);
                implies ``all``.
            all: include containers that are not running, as ``docker ps -a`` does.

        Example::

            for container in await engine.containers.list(labels={"join": "app"}):
                print(container.name, sorted(container.networks))
        """
        filters: dict[str, builtins.list[str]] = {}
        if labels:
            filters["label"] = label_filter(labels)
        if name is not None:
            filters["name"] = [name]
        if network is not None:
            filters["network"] = [network]
        if status is not None:
            filters["status"] = [status]
        params: dict[str, str] = {}
        if all or status is not None:
            params["all"] = "true"
        if filters:
            params["filters"] = json.dumps(filters)
        payload = await self._engine._request("GET", "containers/json", params=params or None)
        containers = tuple(Container.from_list_item(item) for item in payload or ())
        if name is not None:
            containers = tuple(c for c in containers if c.name == name.lstrip("/"))
        return containers

    async def get(self, container: str) -> Container:
        """Inspect a container by name or id.

        Raises:
            NotFound: no such container.
        """
        payload = await self._engine._request("GET", f"containers/{container}/json")
        return Container.from_inspect(payload)

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
