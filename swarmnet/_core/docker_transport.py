"""The one module that talks to aiodocker (and, through it, aiohttp).

Everything above this layer sees swarmnet's own types: requests go out through
:class:`DockerTransport`, and every failure comes back as a :mod:`swarmnet._core.errors` class,
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
import json
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiodocker
import aiohttp

from swarmnet._core.address import unreachable_hint
from swarmnet._core.errors import EngineError, EngineTimeout, EngineUnreachable
from swarmnet._core.log import get_logger
from swarmnet._core.secret import Secret, redact
from swarmnet._core.transport import (
    MIN_API_VERSION,
    RequestHook,
    Transport,
    Unset,
    error_for_status,
    format_api_version,
)

_log = get_logger("swarmnet.transport")


class DockerTransport(Transport):
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

    def use_api_version(self, version: str) -> None:
        super().use_api_version(version)
        self.docker.api_version = "v" + version

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
        timeout: float | Unset | None = Unset.DEFAULT,
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

    def _client_timeout(self, timeout: float | Unset | None) -> aiohttp.ClientTimeout:
        total = self._timeout if isinstance(timeout, Unset) else timeout
        return aiohttp.ClientTimeout(total=total, connect=self._connect_timeout)

    def _describe_timeout(self, timeout: float | Unset | None) -> str:
        total = self._timeout if isinstance(timeout, Unset) else timeout
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
