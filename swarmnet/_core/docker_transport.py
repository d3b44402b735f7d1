"""The one module that talks to aiodocker (and, through it, aiohttp).

Everything above this layer sees swarmnet's own types: requests go out through
:class:`DockerTransport`, and every failure comes back as a :mod:`swarmnet._core.errors` class,
picked by HTTP status first and by the engine's message second, chained with
``raise … from``. aiodocker's made-up status 900 ("cannot connect") becomes
:class:`EngineUnreachable`, or the most specific subclass the underlying aiohttp, ssl or
asyncssh error tells (:class:`TLSError` and its kinds, :class:`SSHError` and its kinds);
timeouts become :class:`EngineTimeout`; something that answers but is not an engine
becomes :class:`NotAnEngine`.

TCP connections use our own connector (``https://`` exactly when there is an SSL
context): aiodocker picks TLS from the URL scheme and ``DOCKER_TLS_VERIFY`` alone, so a
``tcp://`` address with an explicit context would otherwise be sent plain.

aiodocker's high-level wrappers are not used: several drop what swarmnet needs (the
``Warning`` of a network create, ``verbose``/``scope`` on inspect), and its events feed
frames by ``readline()`` with an unowned task. We keep its connection handling
(``unix://``, ``tcp://``, TLS, ssh) and issue every request through ``Docker._query``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiodocker
import aiohttp

from swarmnet._core.address import unreachable_hint
from swarmnet._core.errors import (
    CertificateError,
    CertificateExpired,
    CertificateHostnameMismatch,
    ClientCertificateRefused,
    EngineError,
    EngineTimeout,
    EngineUnreachable,
    MissingExtra,
    NotAnEngine,
    NotFound,
    RemoteDockerMissing,
    SSHAuthFailed,
    SSHError,
    SSHHostKeyUnknown,
    TLSError,
    TLSNotOffered,
    TLSRequired,
    UnknownCertificateAuthority,
)
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
# aiodocker logs an ssh failure at ERROR just before raising it, which we raise as a
# typed error anyway: with no handler of the application's, Python's last-resort
# handler would print that line to stderr. Silent unless the application turns logging
# on, as for swarmnet's own loggers; an application that does still gets the records.
logging.getLogger("aiodocker").addHandler(logging.NullHandler())

# OpenSSL's X509_V_ERR_* codes, as ssl.SSLCertVerificationError.verify_code carries them.
_EXPIRED_CODES = {9, 10}  # not yet valid, has expired
_NAME_CODES = {62, 64}  # hostname mismatch, IP address mismatch
_UNKNOWN_CA_CODES = {2, 18, 19, 20, 21}  # issuer unknown, self-signed (in chain), …
# ssl reasons for a TLS client hello answered in plain HTTP (or not in TLS at all).
_NOT_TLS_REASONS = {
    "WRONG_VERSION_NUMBER",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "HTTP_REQUEST",
    "UNKNOWN_PROTOCOL",
}
# ssl reasons for the engine refusing our client certificate (or our having none).
_CLIENT_CERT_REASONS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "TLSV1_ALERT_ACCESS_DENIED",
}
# What Go's HTTP server answers to plain HTTP on a TLS port.
_PLAIN_TO_TLS = "client sent an http request to an https server"


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
        self._connector: aiohttp.TCPConnector | None = None  # ours, for tcp:// and https://
        self._http10: aiohttp.ClientSession | None = None  # see stream(unchunked=True)
        self.api_version: str | None = None
        self.log = _log.bind(engine=address)

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._timeout, connect=self._connect_timeout)
        # A placeholder until negotiate() sets what both sides speak; aiodocker's
        # "auto" would take the engine's maximum, even one newer than ours.
        api_version = "v" + format_api_version(MIN_API_VERSION)
        scheme, _, rest = self.address.partition("://")
        if scheme in ("tcp", "https"):
            # Our own connector, so TLS is exactly what the address and settings say
            # (aiodocker would add TLS from DOCKER_TLS_VERIFY even for tls=False).
            self._connector = aiohttp.TCPConnector(
                ssl=self._ssl_context if self._ssl_context is not None else False,
                # A TLS connection to an engine that went away (a cut link) never
                # finishes its TLS shutdown, and asyncio before 3.12.7 leaks its socket;
                # aiohttp aborts such transports itself when asked (and says it need
                # not where Python is fixed).
                enable_cleanup_closed=self._ssl_context is not None
                and getattr(aiohttp.connector, "NEEDS_CLEANUP_CLOSED", True),
            )
            url = ("https://" if self._ssl_context is not None else "http://") + rest
            self._docker = aiodocker.Docker(
                url=url, connector=self._connector, timeout=timeout, api_version=api_version
            )
            return
        if scheme == "ssh" and importlib.util.find_spec("asyncssh") is None:
            raise MissingExtra(
                f"{self.address}: ssh:// engines need asyncssh; "
                "install it with: pip install 'swarmnet[ssh]'"
            )
        try:
            self._docker = aiodocker.Docker(
                url=self.address, timeout=timeout, api_version=api_version
            )
        except aiodocker.DockerError as exc:
            if "host key verification" in str(exc.message).lower():
                raise SSHHostKeyUnknown(
                    "there is no ~/.ssh/known_hosts to check the server's host key against; "
                    "add the host first (`ssh-keyscan HOST >> ~/.ssh/known_hosts`, or log in "
                    "once with `ssh`)",
                    engine=self.address,
                ) from exc
            raise SSHError(
                f"cannot set up the ssh connection: {exc.message}", engine=self.address
            ) from exc

    async def close(self) -> None:
        # Both let go of before the first await: a stream opening meanwhile finds the
        # client closed instead of making a session nobody would close.
        session, self._http10 = self._http10, None
        docker, self._docker = self._docker, None
        connector, self._connector = self._connector, None
        if session is not None:
            await session.close()  # the connector is closed below
        if docker is not None:
            await docker.close()
        if connector is not None:
            await connector.close()  # given to aiodocker, which leaves it to its owner

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
                # Every answer of a Docker engine carries Api-Version: with the body,
                # it tells an engine from a web server when /version is read on open.
                is_engine = "Api-Version" in response.headers
        except aiodocker.DockerError as exc:
            raise await self._map_docker_error(exc, action, secrets) from exc
        except asyncio.TimeoutError as exc:
            raise EngineTimeout(
                f"{action}: no answer within {self._describe_timeout(timeout)}",
                engine=self.address,
            ) from exc
        except (aiohttp.ClientError, ssl.SSLError) as exc:
            raise self._connection_error(
                exc, f"{action}: connection lost ({type(exc).__name__})"
            ) from exc
        self.log.debug(
            "engine.request",
            method=method,
            path=path,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        if path == "version" and not versioned:
            return self._version_payload(body_bytes, is_engine, action)
        if raw:
            return body_bytes
        if not body_bytes:
            return None
        if "json" in content_type:
            return json.loads(body_bytes)
        return body_bytes.decode("utf-8", errors="replace")

    def _version_payload(self, body: bytes, is_engine: bool, action: str) -> Any:
        """``/version``'s answer, or NotAnEngine when it is not an engine's."""
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and (is_engine or "ApiVersion" in payload):
            return payload
        raise self._not_an_engine(action, "its answer to /version is not an engine's")

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
            raise await self._map_docker_error(exc, action, ()) from exc
        except asyncio.TimeoutError as exc:
            raise EngineTimeout(f"{action}: no answer", engine=self.address) from exc
        except (aiohttp.ClientError, ssl.SSLError) as exc:
            raise self._connection_error(exc, f"{action}: {exc}") from exc
        try:
            yield self._chunks(response, action)
        finally:
            self._discard(response)
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
                self._discard(response)
            try:
                explanation = str(json.loads(body)["message"])
            except (ValueError, KeyError, TypeError):
                explanation = body.decode("utf-8", "replace").strip()
            raise self._answer_error(response.status, explanation, action)
        return response

    def _discard(self, response: aiohttp.ClientResponse) -> None:
        """Let go of a response whose connection is not reused.

        Over TLS, closing starts a polite TLS shutdown that waits for the engine's answer,
        which an event stream in full flow may never send: nobody would then close the
        socket. Aborting closes it at once (nothing more is read from it anyway).
        """
        connection = response.connection
        # `is not None`: the protocol is a queue, false whenever it holds no data.
        protocol = connection.protocol if connection is not None else None
        if self._ssl_context is not None and protocol is not None:
            protocol.abort()
        response.close()

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

    async def _map_docker_error(
        self, exc: aiodocker.DockerError, action: str, secrets: tuple[Secret | str | None, ...]
    ) -> EngineError:
        explanation = redact(str(exc.message), *secrets)
        if exc.status == 900:
            # aiodocker raises 900 inside its own `except`, so the cause is the context.
            cause = exc.__cause__ or exc.__context__
            if self.address.startswith("ssh://"):
                return await self._ssh_error(exc, action)
            if cause is not None:
                return self._connection_error(cause, f"{action}: cannot connect to the engine")
            return EngineUnreachable(
                f"cannot connect to the engine; {unreachable_hint(self.address)}",
                engine=self.address,
            )
        return self._answer_error(exc.status, explanation, action)

    def _answer_error(self, status: int, explanation: str, action: str) -> EngineError:
        """The error for an HTTP error answer: the TLS and not-an-engine cases, else by status."""
        if status == 400 and _PLAIN_TO_TLS in explanation.lower():
            return TLSRequired(
                f"{action}: the engine at this address speaks TLS, and the request was sent "
                "in plain HTTP; turn TLS on: tls=True or a swarmnet.TLSConfig, an https:// "
                "address, or DOCKER_TLS_VERIFY=1 with DOCKER_CERT_PATH",
                engine=self.address,
            )
        error = error_for_status(status, explanation, engine=self.address, action=action)
        if action == "GET /version" and isinstance(error, NotFound):
            return self._not_an_engine(action, f"it answered {status} to /version")
        return error

    def _not_an_engine(self, action: str, why: str) -> NotAnEngine:
        return NotAnEngine(
            f"{action}: the address answers HTTP but is not a Docker engine ({why}); "
            "check the host and port (the engine listens on 2375 plain or 2376 with TLS "
            "by convention) and that no other service holds it",
            engine=self.address,
        )

    def _connection_error(self, exc: BaseException, what: str) -> EngineUnreachable:
        """The most specific error for a failed connection, from aiohttp's and ssl's."""
        for cause in _chain(exc):
            if isinstance(cause, aiohttp.ClientConnectorCertificateError):
                return self._certificate_error(cause.certificate_error, what)
            if isinstance(cause, ssl.SSLCertVerificationError):
                return self._certificate_error(cause, what)
            if isinstance(cause, ssl.SSLError) and not isinstance(cause, aiohttp.ClientError):
                return self._ssl_error(cause, what)
        return EngineUnreachable(f"{what}; {unreachable_hint(self.address)}", engine=self.address)

    def _certificate_error(self, exc: BaseException, what: str) -> CertificateError:
        code = getattr(exc, "verify_code", None)
        detail = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
        host = self.address.partition("://")[2].rpartition(":")[0]
        if code in _EXPIRED_CODES:
            return CertificateExpired(
                f"{what}: the engine's certificate is expired or not yet valid ({detail}); "
                "renew the engine's certificate (and check both clocks)",
                engine=self.address,
            )
        if code in _NAME_CODES:
            return CertificateHostnameMismatch(
                f"{what}: the engine's certificate does not name {host} ({detail}); dial a "
                "name or IP address its subjectAltName lists, or reissue it with this one",
                engine=self.address,
            )
        if code in _UNKNOWN_CA_CODES:
            return UnknownCertificateAuthority(
                f"{what}: the engine's certificate is not signed by a CA this client "
                f"trusts ({detail}); give the CA that signed it as ca.pem in "
                "DOCKER_CERT_PATH, or TLSConfig(ca_cert=…)",
                engine=self.address,
            )
        return CertificateError(
            f"{what}: the engine's certificate failed verification ({detail})",
            engine=self.address,
        )

    def _ssl_error(self, exc: ssl.SSLError, what: str) -> TLSError:
        reason = str(getattr(exc, "reason", "") or "")
        if reason in _NOT_TLS_REASONS:
            return TLSNotOffered(
                f"{what}: TLS was used, and the engine at this address does not speak it "
                f"({reason}); use tcp:// without TLS settings (unset DOCKER_TLS_VERIFY, "
                "tls=False) or the engine's TLS port (2376 by convention)",
                engine=self.address,
            )
        if reason in _CLIENT_CERT_REASONS:
            return ClientCertificateRefused(
                f"{what}: the engine refused this client's certificate ({reason}); it "
                "needs cert.pem and key.pem signed by the CA it trusts (DOCKER_CERT_PATH, "
                "or TLSConfig(client_cert=…, client_key=…))",
                engine=self.address,
            )
        return TLSError(f"{what}: TLS failed ({reason or exc})", engine=self.address)

    async def _ssh_error(self, exc: aiodocker.DockerError, action: str) -> SSHError:
        """Tell SSH failures apart: auth, host key, no docker there, or no connection."""
        names = {type(cause).__name__ for cause in _chain(exc)}
        if "PermissionDenied" in names:
            return SSHAuthFailed(
                f"{action}: the SSH server refused the login; check the user in the address "
                "and that one of your keys (~/.ssh, ssh-agent) is in its authorized_keys",
                engine=self.address,
            )
        if "HostKeyNotVerifiable" in names:
            return SSHHostKeyUnknown(
                f"{action}: the SSH server's host key is not the one ~/.ssh/known_hosts has "
                "for it (or it has none); check the host, then update known_hosts",
                engine=self.address,
            )
        if await self._remote_docker_missing():
            return RemoteDockerMissing(
                f"{action}: SSH works, but the remote side has no `docker` command to run "
                "`docker system dial-stdio`; install the docker CLI there (or put it on "
                "the login PATH)",
                engine=self.address,
            )
        return SSHError(
            f"{action}: cannot reach the engine through SSH; {unreachable_hint(self.address)}",
            engine=self.address,
        )

    async def _remote_docker_missing(self) -> bool:
        # aiodocker keeps its SSH connection on the connector; ask the shell there.
        connection = getattr(self._docker.connector, "_ssh_conn", None) if self._docker else None
        if connection is None:
            return False
        try:
            result = await connection.run("command -v docker", check=False, timeout=10)
        except Exception:  # noqa: BLE001 (a probe: whatever fails, we know no more)
            return False
        return bool(result.exit_status not in (0, None))


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes/contexts, nearest first (cycles cut).

    An aiohttp connector error is followed by the OS/ssl error it wraps (``os_error``):
    it is an ``ssl.SSLError`` itself, but without the ``reason`` that tells the cases apart.
    """
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        wrapped = getattr(current, "os_error", None)
        if isinstance(current, aiohttp.ClientConnectorCertificateError):
            wrapped = None  # it carries certificate_error, handled as it is
        current = (
            wrapped
            if isinstance(wrapped, BaseException)
            else (current.__cause__ or current.__context__)
        )
    return seen
