"""The engine client users hold: ``async with swarmnet.Engine() as engine: …``."""

from __future__ import annotations

import enum
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from swarmnet._core.address import TLSConfig, resolve_address, resolve_tls
from swarmnet._core.engine_models import EngineInfo, EngineVersion
from swarmnet._core.errors import EngineError, SwarmnetError
from swarmnet._core.log import get_logger
from swarmnet._core.transport import RequestHook, Transport, Unset

if TYPE_CHECKING:
    from swarmnet._configs.api import ConfigsAPI
    from swarmnet._containers.api import ContainersAPI
    from swarmnet._events.stream import EventStream
    from swarmnet._images.api import ImagesAPI
    from swarmnet._networks.api import NetworksAPI
    from swarmnet._services.api import ServicesAPI
    from swarmnet._swarm.api import NodesAPI, SwarmAPI

_log = get_logger("swarmnet.engine")


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


class Engine:
    """An async client for one Docker Engine.

    Use it as an async context manager; entering connects and negotiates the API
    version, leaving closes the connection::

        async with swarmnet.Engine() as engine:          # DOCKER_HOST or the default socket
            print(engine.api_version, (await engine.info()).name)

    Args:
        url: ``unix:///path``, ``tcp://host:port``, ``https://host[:port]`` (TLS, 2376 by
            default) or ``ssh://user@host[:port]`` (the ``ssh`` extra); a bare ``/path`` or
            ``host:port`` as the docker CLI reads them. Default: ``DOCKER_HOST``, then
            ``unix:///var/run/docker.sock``. A malformed address raises ``InvalidSpec``.
        tls: a :class:`TLSConfig`, an ``ssl.SSLContext``, ``True`` to read
            ``DOCKER_CERT_PATH``, or ``False`` for none. Default: from
            ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH`` for ``tcp://`` addresses.
        api_version: pin an API version (``"1.41"``); by default the lower of the
            engine's newest and swarmnet's newest is used.
        timeout: seconds allowed for each request (``None``: no limit). Streams and
            long swarm operations set their own.
        name: a label for this engine in logs and events (a node name, say).
        on_request: called with ``(method, path)`` before each request is sent; handy
            for counting engine calls in tests.
        transport: carry requests with this instead of a connection to ``url``: a
            :class:`swarmnet.testing.MockTransport` runs the engine with no daemon.

    Raises on enter:
        EngineUnreachable: no connection (the message says where and what to check).
        UnsupportedEngine: the engine is older than API 1.41.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        tls: TLSConfig | ssl.SSLContext | bool | None = None,
        api_version: str | None = None,
        timeout: float | None = 60.0,
        name: str | None = None,
        on_request: RequestHook | None = None,
        transport: Transport | None = None,
    ) -> None:
        if transport is None:
            from swarmnet._core.docker_transport import DockerTransport

            address = resolve_address(url)
            transport = DockerTransport(
                address,
                ssl_context=resolve_tls(address, tls),
                timeout=timeout,
                on_request=on_request,
            )
        self.url = transport.address
        self.name = name or self.url
        self._pinned_version = api_version
        self._transport = transport
        self._state = _State.UNOPENED
        self._version: EngineVersion | None = None
        self.log = _log.bind(engine=self.name)

    def __repr__(self) -> str:
        version = f" api={self._transport.api_version}" if self._transport.api_version else ""
        return f"<Engine {self.name!r} {self._state.value}{version}>"

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and negotiate; ``async with`` calls this for you."""
        if self._state is _State.OPENED:
            return
        if self._state is _State.CLOSED:
            raise EngineError("this Engine was closed; make a new one", engine=self.url)
        self._transport.open()
        try:
            version, payload = await self._transport.negotiate(self._pinned_version)
        except BaseException:
            await self._transport.close()
            raise
        self._version = EngineVersion.model_validate(payload)
        self._state = _State.OPENED
        self.log.debug("engine.opened", api_version=version, server=self._version.version)

    async def close(self) -> None:
        """Close the connection. Safe to call twice."""
        if self._state is not _State.CLOSED:
            self._state = _State.CLOSED
            await self._transport.close()

    async def __aenter__(self) -> Engine:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- basics ----------------------------------------------------------------------

    @property
    def api_version(self) -> str:
        """The API version agreed with the engine, e.g. ``"1.41"`` (kept after close)."""
        if self._transport.api_version is None:
            self._require_open()
        assert self._transport.api_version is not None
        return self._transport.api_version

    async def ping(self) -> bool:
        """Ask the engine whether it is up. Returns True, or raises EngineUnreachable."""
        answer = await self._request("GET", "_ping", versioned=False)
        return str(answer).strip() == "OK"

    async def version(self) -> EngineVersion:
        """The engine's version details (``/version``)."""
        payload = await self._request("GET", "version")
        self._version = EngineVersion.model_validate(payload)
        return self._version

    async def info(self) -> EngineInfo:
        """The engine's system information (``/info``), including its swarm membership."""
        return EngineInfo.model_validate(await self._request("GET", "info"))

    # -- capabilities ----------------------------------------------------------------

    @cached_property
    def swarm(self) -> SwarmAPI:
        """Swarm lifecycle on this engine: init, join, leave, tokens, unlock."""
        from swarmnet._swarm.api import SwarmAPI

        return SwarmAPI(self)

    @cached_property
    def nodes(self) -> NodesAPI:
        """The nodes of the swarm this engine manages."""
        from swarmnet._swarm.api import NodesAPI

        return NodesAPI(self)

    @cached_property
    def configs(self) -> ConfigsAPI:
        """Swarm configs (managers only): small records with version-checked labels."""
        from swarmnet._configs.api import ConfigsAPI

        return ConfigsAPI(self)

    @cached_property
    def containers(self) -> ContainersAPI:
        """Standalone containers, as far as networking needs them: run, list, exec, remove."""
        from swarmnet._containers.api import ContainersAPI

        return ContainersAPI(self)

    @cached_property
    def images(self) -> ImagesAPI:
        """Images this engine holds: inspect, import a root filesystem tar, remove."""
        from swarmnet._images.api import ImagesAPI

        return ImagesAPI(self)

    @cached_property
    def networks(self) -> NetworksAPI:
        """Networks on this engine: create, ensure, inspect, connect, remove."""
        from swarmnet._networks.api import NetworksAPI

        return NetworksAPI(self)

    @cached_property
    def services(self) -> ServicesAPI:
        """Swarm services (through a manager): create, ensure, update, tasks, convergence."""
        from swarmnet._services.api import ServicesAPI

        return ServicesAPI(self)

    def events(self, **filters: Any) -> EventStream:
        """This engine's events, typed and resumable (see ``swarmnet.models.EventStream``)."""
        from swarmnet._events.stream import EventStream

        return EventStream(self, **filters)

    # -- the seam the capability APIs use --------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | Unset | None = Unset.DEFAULT,  # noqa: ASYNC109 (one request's own limit)
        versioned: bool = True,
        secrets: tuple[Any, ...] = (),
        raw: bool = False,
    ) -> Any:
        """Send one request through the transport, once the engine is open.

        Only the capability APIs (``swarmnet._networks``, ``_swarm``, ``_containers``,
        ``_events``, ``_images``) call this: they are the only modules that name HTTP
        paths. Programs above them call the capability APIs.
        """
        self._require_open()
        return await self._transport.request(
            method,
            path,
            params=params,
            json_body=json_body,
            data=data,
            headers=headers,
            timeout=timeout,
            versioned=versioned,
            secrets=secrets,
            raw=raw,
        )

    def _stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        unchunked: bool = False,
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Open a long-lived response through the transport, once the engine is open."""
        self._require_open()
        return self._transport.stream(method, path, params=params, unchunked=unchunked)

    # -- internals -------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state is not _State.OPENED:
            hint = "it was closed"
            if self._state is _State.UNOPENED:
                hint = "use `async with Engine(...)`"
            raise EngineError(f"the engine client is not open: {hint}", engine=self.url)


@asynccontextmanager
async def open_engines(
    urls: Iterable[str | Engine], **engine_options: Any
) -> AsyncIterator[list[Engine]]:
    """Open several engines at once (concurrently) and close them all on exit.

    Takes addresses or unopened :class:`Engine` objects; the order is kept::

        async with swarmnet.open_engines(["unix:///run/a.sock", "tcp://b:2375"]) as engines:
            await swarmnet.form_cluster(engines, managers=1)

    If any engine cannot be opened, those already open are closed and the first
    error is raised.
    """
    engines = [u if isinstance(u, Engine) else Engine(u, **engine_options) for u in urls]
    failures: list[SwarmnetError] = []

    async def open_one(engine: Engine) -> None:
        # Collect instead of raising so one bad engine surfaces as its own error,
        # not as an exception group.
        try:
            await engine.open()
        except SwarmnetError as exc:
            failures.append(exc)

    try:
        async with anyio.create_task_group() as tg:
            for engine in engines:
                tg.start_soon(open_one, engine)
        if failures:
            raise failures[0]
    except BaseException:
        await _close_all(engines)
        raise
    try:
        yield engines
    finally:
        await _close_all(engines)


async def _close_all(engines: list[Engine]) -> None:
    with anyio.CancelScope(shield=True):
        for engine in engines:
            await engine.close()
