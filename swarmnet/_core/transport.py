"""The one module that talks to aiodocker (and, through it, aiohttp).

Everything above this layer sees swarmnet's own types: requests go out through
:class:`Transport`, and every failure comes back as a :mod:`swarmnet._core.errors` class,
picked by HTTP status first and by the engine's message second, chained with
``raise … from``. aiodocker's made-up status 900 ("cannot connect") becomes
:class:`EngineUnreachable`; timeouts become :class:`EngineTimeout`.

aiodocker's high-level wrappers are not used: several drop what swarmnet needs (the
``Warning`` of a network create, ``verbose``/``scope`` on inspect), and its events feed
frames by ``readline()`` with an unowned task. We keep its connection handling
(``unix://``, ``tcp://``, TLS, ssh) and issue every request through ``Docker._query``.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
import structlog

from swarmnet._core.errors import (
    AlreadyInSwarm,
    Conflict,
    EngineAPIError,
    EngineError,
    EngineTimeout,
    EngineUnreachable,
    NotASwarmManager,
    NotFound,
    NotInSwarm,
    SwarmLocked,
    UnsupportedEngine,
)
from swarmnet._core.secret import Secret, redact

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

#: The oldest Engine API swarmnet speaks (Docker 20.10), and the newest it knows.
MIN_API_VERSION = (1, 41)
MAX_API_VERSION = (1, 47)

_log = structlog.get_logger("swarmnet.transport")

RequestHook = Callable[[str, str], None]


class _Unset(enum.Enum):
    DEFAULT = "default"


@dataclass(frozen=True)
class TLSConfig:
    """Client TLS for a ``tcp://`` engine, as ``DOCKER_CERT_PATH`` lays it out.

    Attributes:
        ca_cert: CA bundle that signed the engine's certificate (``ca.pem``).
        client_cert: this client's certificate (``cert.pem``).
        client_key: this client's key (``key.pem``).
        verify: check the engine's certificate against ``ca_cert``.
    """

    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True

    @classmethod
    def from_cert_path(cls, cert_path: str | Path, *, verify: bool = True) -> TLSConfig:
        """Read ``ca.pem``, ``cert.pem`` and ``key.pem`` from one directory."""
        base = Path(cert_path).expanduser()
        return cls(base / "ca.pem", base / "cert.pem", base / "key.pem", verify)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(
            purpose=ssl.Purpose.SERVER_AUTH,
            cafile=str(self.ca_cert) if self.ca_cert and self.verify else None,
        )
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert and self.client_key:
            context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context


def resolve_address(url: str | None) -> str:
    """The engine address the way the docker CLI picks it: explicit, DOCKER_HOST, socket."""
    address = url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    if "://" not in address:
        # A bare path is a unix socket; a bare host:port is tcp (as the CLI reads them).
        address = f"unix://{address}" if address.startswith("/") else f"tcp://{address}"
    return address


def resolve_tls(
    address: str, tls: TLSConfig | ssl.SSLContext | bool | None
) -> ssl.SSLContext | None:
    """TLS for a tcp address: explicit, or from DOCKER_TLS_VERIFY/DOCKER_CERT_PATH."""
    if not address.startswith(("tcp://", "https://")) or tls is False:
        return None
    if isinstance(tls, ssl.SSLContext):
        return tls
    if isinstance(tls, TLSConfig):
        return tls.ssl_context()
    env_verify = os.environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
    if tls is True or env_verify or address.startswith("https://"):
        cert_path = os.environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker"
        return TLSConfig.from_cert_path(cert_path, verify=tls is True or env_verify).ssl_context()
    return None


def unreachable_hint(address: str) -> str:
    if address.startswith("unix://"):
        path = address[len("unix://") :]
        return (
            f"check that dockerd is running and listening on {path} "
            "and that this user may open it (root or the docker group); "
            "or set DOCKER_HOST, or run `swarmnet lab up` for local engines"
        )
    return (
        "check that the engine is listening at that host and port, that no firewall "
        "is in the way, and that TLS settings (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) "
        "match the daemon's"
    )


def parse_api_version(text: str) -> tuple[int, int]:
    major, _, minor = text.lstrip("v").partition(".")
    return int(major), int(minor)


def format_api_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


# Message fragments the engine uses for swarm state; status alone does not tell them apart
# (the engine answers 503 for most of them, some versions 406 or 500).
_SWARM_FRAGMENTS: tuple[tuple[str, type[EngineAPIError]], ...] = (
    # An engine in no swarm says "not a swarm manager. Use "docker swarm init"…".
    ('use "docker swarm init"', NotInSwarm),
    ("is not a swarm manager", NotASwarmManager),
    ("not a swarm manager", NotASwarmManager),
    ("is not part of a swarm", NotInSwarm),
    ("not part of a swarm", NotInSwarm),
    ("already part of a swarm", AlreadyInSwarm),
    ("swarm is encrypted and needs to be unlocked", SwarmLocked),
    ("is locked", SwarmLocked),
)


def error_for_status(
    status: int,
    explanation: str,
    *,
    engine: str,
    action: str,
) -> EngineAPIError:
    """Pick the most specific swarmnet error for an engine error answer."""
    cls: type[EngineAPIError] = EngineAPIError
    lowered = explanation.lower()
    for fragment, candidate in _SWARM_FRAGMENTS:
        if fragment in lowered:
            cls = candidate
            break
    else:
        if status == 404:
            cls = NotFound
        elif status == 409:
            cls = Conflict
    return cls(
        f"{action} failed with {status}: {explanation}",
        engine=engine,
        status=status,
        explanation=explanation,
    )


class Transport:
    """Requests to one engine, with errors mapped to swarmnet's tree.

    Not public: :class:`swarmnet.Engine` owns one and the capability modules use it.
    """

    def __init__(
        self,
        address: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float | None = 60.0,
        connect_timeout: float = 10.0,
        on_request: RequestHook | None = None,
    ) -> None:
        self.address = address
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._on_request = on_request
        self._docker: aiodocker.Docker | None = None
        self._http10: aiohttp.ClientSession | None = None  # see stream(unchunked=True)
        self.api_version: str | None = None
        self.log = _log.bind(engine=address)

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> None:
        url = self.address
        if url.startswith("https://"):
            url = "tcp://" + url[len("https://") :]
        self._docker = aiodocker.Docker(
            url=url,
            ssl_context=self._ssl_context,
            timeout=aiohttp.ClientTimeout(total=self._timeout, connect=self._connect_timeout),
            # A placeholder until negotiate() sets what both sides speak; aiodocker's
            # "auto" would take the engine's maximum, even one newer than ours.
            api_version="v" + format_api_version(MIN_API_VERSION),
        )

    async def close(self) -> None:
        # Both let go of before the first await: a stream opening meanwhile finds the
        # client closed instead of making a session nobody would close.
        session, self._http10 = self._http10, None
        docker, self._docker = self._docker, None
        if session is not None:
            await session.close()  # the connector is aiodocker's: it is closed below
        if docker is not None:
            await docker.close()

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:
            raise EngineError("the engine client is not open", engine=self.address)
        return self._docker

    async def negotiate(self, pinned: str | None = None) -> tuple[str, dict[str, Any]]:
        """Agree on an API version: the lower of the engine's and swarmnet's newest.

        Returns the version and the engine's ``/version`` payload.
        """
        payload = await self.request("GET", "version", versioned=False)
        engine_max = parse_api_version(str(payload.get("ApiVersion", "0.0")))
        engine_min = parse_api_version(str(payload.get("MinAPIVersion", "0.0")))
        if engine_max < MIN_API_VERSION:
            raise UnsupportedEngine(
                f"the engine speaks API {format_api_version(engine_max)}, swarmnet needs "
                f"{format_api_version(MIN_API_VERSION)} or newer (Docker 20.10+); "
                "upgrade the engine",
                engine=self.address,
            )
        chosen = min(engine_max, MAX_API_VERSION)
        if pinned is not None:
            wanted = parse_api_version(pinned)
            if not (engine_min <= wanted <= engine_max) or wanted < MIN_API_VERSION:
                raise UnsupportedEngine(
                    f"API version {pinned} was asked for; the engine speaks "
                    f"{format_api_version(engine_min)} to {format_api_version(engine_max)} "
                    f"and swarmnet {format_api_version(MIN_API_VERSION)} or newer",
                    engine=self.address,
                )
            chosen = wanted
        self.api_version = format_api_version(chosen)
        self.docker.api_version = "v" + self.api_version
        return self.api_version, payload

    # -- requests --------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | _Unset | None = _Unset.DEFAULT,
        versioned: bool = True,
        secrets: tuple[Secret | str | None, ...] = (),
        raw: bool = False,
    ) -> Any:
        """Send one request and return the decoded answer (JSON, text, or None).

        With ``raw=True`` the body comes back as bytes, undecoded (exec output).

        ``timeout`` is the whole request's limit in seconds (``None``: no limit; by
        default the client's). ``secrets`` are masked out of any error text the engine sends back.
        """
        action = f"{method} /{path}"
        body: bytes | str | None = data
        send_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            send_headers.setdefault("Content-Type", "application/json")
        if self._on_request is not None:
            self._on_request(method, path)
        started = time.perf_counter()
        try:
            async with self.docker._query(
                path,
                method,
                params=dict(params) if params else None,
                data=body,
                headers=send_headers,
                timeout=self._client_timeout(timeout),
                versioned_api=versioned,
            ) as response:
                body_bytes = await response.read()
                content_type = response.headers.get("Content-Type", "")
        except aiodocker.DockerError as exc:
            raise self._map_docker_error(exc, action, secrets) from exc
        except asyncio.TimeoutError as exc:
            raise EngineTimeout(
                f"{action}: no answer within {self._describe_timeout(timeout)}",
                engine=self.address,
            ) from exc
        except aiohttp.ClientError as exc:
            raise EngineUnreachable(
                f"{action}: connection lost ({type(exc).__name__}); "
                + unreachable_hint(self.address),
                engine=self.address,
            ) from exc
        self.log.debug(
            "engine.request",
            method=method,
            path=path,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        if raw:
            return body_bytes
        if not body_bytes:
            return None
        if "json" in content_type:
            return json.loads(body_bytes)
        return body_bytes.decode("utf-8", errors="replace")

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        unchunked: bool = False,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open a long-lived response and yield its body as raw chunks, as they arrive.

        No framing is done here (the caller frames), no read timeout is applied, and
        connection failures while reading surface as :class:`EngineUnreachable`.

        ``unchunked`` asks over HTTP/1.0, which the engine answers with the body as it
        is, ended by closing the connection. The engine flushes every event as its own
        HTTP chunk, and aiohttp spends several Python calls on each chunk it receives;
        without chunks a busy event stream reads several times faster.
        """
        action = f"{method} /{path}"
        if self._on_request is not None:
            self._on_request(method, path)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None, connect=self._connect_timeout)
        try:
            if unchunked:
                response = await self._request_http10(method, path, params, timeout, action)
                cm = None
            else:
                cm = self.docker._query(
                    path, method, params=dict(params) if params else None, timeout=timeout
                )
                response = await cm.__aenter__()
        except aiodocker.DockerError as exc:
            raise self._map_docker_error(exc, action, ()) from exc
        except asyncio.TimeoutError as exc:
            raise EngineTimeout(f"{action}: no answer", engine=self.address) from exc
        except aiohttp.ClientError as exc:
            raise EngineUnreachable(
                f"{action}: {exc}; " + unreachable_hint(self.address), engine=self.address
            ) from exc
        try:
            yield self._chunks(response, action)
        finally:
            response.close()
            if cm is not None:
                await cm.__aexit__(None, None, None)

    async def _request_http10(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        timeout: aiohttp.ClientTimeout,
        action: str,
    ) -> aiohttp.ClientResponse:
        """Send a request over HTTP/1.0, on aiodocker's connections (unix, tcp, TLS)."""
        docker = self.docker
        if self._http10 is None:
            self._http10 = aiohttp.ClientSession(
                connector=docker.connector,
                connector_owner=False,
                version=aiohttp.HttpVersion10,
            )
        url = docker._canonicalize_url(path)
        response = await self._http10.request(
            method, url, params=dict(params) if params else None, timeout=timeout
        )
        if response.status >= 400:
            try:
                body = await response.read()
            finally:
                response.close()
            try:
                explanation = str(json.loads(body)["message"])
            except (ValueError, KeyError, TypeError):
                explanation = body.decode("utf-8", "replace").strip()
            raise error_for_status(response.status, explanation, engine=self.address, action=action)
        return response

    async def _chunks(self, response: aiohttp.ClientResponse, action: str) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
            raise EngineUnreachable(
                f"{action}: stream broke ({type(exc).__name__})", engine=self.address
            ) from exc

    # -- helpers ---------------------------------------------------------------------

    def _client_timeout(self, timeout: float | _Unset | None) -> aiohttp.ClientTimeout:
        total = self._timeout if isinstance(timeout, _Unset) else timeout
        return aiohttp.ClientTimeout(total=total, connect=self._connect_timeout)

    def _describe_timeout(self, timeout: float | _Unset | None) -> str:
        total = self._timeout if isinstance(timeout, _Unset) else timeout
        return "the time allowed" if total is None else f"{total:g} s"

    def _map_docker_error(
        self, exc: aiodocker.DockerError, action: str, secrets: tuple[Secret | str | None, ...]
    ) -> EngineError:
        explanation = redact(str(exc.message), *secrets)
        if exc.status == 900:
            return EngineUnreachable(
                f"cannot connect to the engine; {unreachable_hint(self.address)}",
                engine=self.address,
            )
        return error_for_status(exc.status, explanation, engine=self.address, action=action)
