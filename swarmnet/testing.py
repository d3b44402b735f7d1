"""Run an :class:`swarmnet.Engine` with no Docker daemon: for unit tests.

In the spirit of httpx's ``MockTransport``: hand an engine a transport that answers
from a function (or from answers recorded on a real engine), and every capability
API (``engine.networks``, ``engine.swarm``, ``engine.events()``…) runs over it, with
no root, no socket and no lab. Error answers go through the same mapping as a real
engine's, so a ``404`` comes out as :class:`swarmnet.NotFound` (or
:class:`swarmnet.NetworkNotFound` from ``networks.get``), a ``409`` as
:class:`swarmnet.Conflict`, ``"This node is not a swarm manager…"`` as
:class:`swarmnet.NotASwarmManager`, exactly as from dockerd.

A handler gets a :class:`MockRequest` (method, path without the ``/v1.41`` prefix,
query parameters, JSON body) and returns what the engine would::

    import swarmnet
    from swarmnet.testing import MockRequest, MockResponse, MockTransport

    def handler(request: MockRequest) -> object:
        if request.path == "/networks":
            return [{"Id": "n1", "Name": "app", "Driver": "overlay", "Scope": "swarm"}]
        return MockResponse.error(404, "page not found")

    transport = MockTransport(handler)
    async with swarmnet.Engine(transport=transport) as engine:
        (network,) = await engine.networks.list()
    assert network.name == "app"
    assert [r.path for r in transport.requests] == ["/version", "/networks"]

``/version`` and ``/_ping`` are answered as a Docker 20.10 engine (API 1.41) would,
unless the handler answers them itself (an answer of None or 404 leaves them to the
default). Event streams (``/events``) are answered with
a :class:`MockStream` or any async iterator of bytes.

:class:`RecordingTransport` wraps a real engine's transport and writes every
request and answer to a JSON-lines file; :class:`ReplayTransport` answers from such a
file, so a test can replay a session recorded once on a real engine.
"""

from __future__ import annotations

import base64
import inspect
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias, TypeGuard

import anyio

from swarmnet._core.errors import EngineAPIError, EngineError, EngineTimeout, EngineUnreachable
from swarmnet._core.secret import Secret, redact
from swarmnet._core.transport import Transport, Unset, error_for_status

__all__ = [
    "MockRequest",
    "MockResponse",
    "MockStream",
    "MockTransport",
    "NoRecordedAnswer",
    "RecordingTransport",
    "ReplayTransport",
]

#: The API version a :class:`MockTransport` announces unless told otherwise (Docker 20.10).
DEFAULT_API_VERSION = "1.41"


@dataclass(frozen=True, repr=False)
class MockRequest:
    """One request an :class:`swarmnet.Engine` sent to a test transport.

    Attributes:
        method: ``"GET"``, ``"POST"``, ``"DELETE"``…
        path: the path with a leading ``/`` and without the version prefix
            (``"/networks/create"``, not ``"/v1.41/networks/create"``).
        params: the query parameters as sent (``filters`` is a JSON string; see
            :attr:`filters`).
        json: the decoded JSON body, or None.
        data: a raw (non-JSON) body, or None.
        headers: the request's own headers.
        api_version: the version in the path (``"1.41"``), or None for unversioned
            paths (``/version``, ``/_ping``).
        stream: True for a long-lived response (``/events``).

    Its ``repr`` leaves the body out: a join request's body holds a join token.
    """

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    data: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    api_version: str | None = None
    stream: bool = False

    def __repr__(self) -> str:
        params = f" {dict(self.params)!r}" if self.params else ""
        return redact(f"<MockRequest {self.method} {self.path}{params}>")

    @property
    def filters(self) -> dict[str, list[str]]:
        """The ``filters`` parameter decoded (``{}`` when there is none).

        Example: ``engine.networks.list(name="app")`` sends
        ``{"name": ["app"]}``.
        """
        raw = self.params.get("filters")
        if not raw:
            return {}
        decoded = json.loads(raw) if isinstance(raw, str) else raw
        # The engine also accepts the older {"name": {"app": true}} form.
        return {
            key: sorted(value) if isinstance(value, dict) else list(value)
            for key, value in decoded.items()
        }


@dataclass(frozen=True)
class MockResponse:
    """What a handler answers: a status and a body.

    Give one of ``json``, ``text`` or ``content``. An error status (400 and up) is
    raised as the swarmnet error a real engine's answer would be, with the engine's
    ``{"message": …}`` body as its explanation; :meth:`error` builds such an answer.

    Attributes:
        status: the HTTP status (200 by default).
        json: a JSON-serialisable body.
        text: a text body.
        content: raw bytes.
        headers: response headers; ``Content-Type`` is set from the body's kind.
    """

    status: int = 200
    json: Any = None
    text: str | None = None
    content: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, status: int, message: str) -> MockResponse:
        """An error answer as the engine sends it: ``{"message": message}``.

        Example: ``MockResponse.error(404, "network app not found")`` makes
        ``engine.networks.get("app")`` raise :class:`swarmnet.NetworkNotFound`.
        """
        return cls(status=status, json={"message": message})

    def body(self) -> tuple[bytes, str]:
        """The body as bytes, and its content type."""
        if self.json is not None:
            return json.dumps(self.json).encode(), "application/json"
        if self.text is not None:
            return self.text.encode(), "text/plain; charset=utf-8"
        return self.content, self.headers.get("Content-Type", "application/octet-stream")

    def explanation(self) -> str:
        """The engine's message for an error answer (``message`` of a JSON body)."""
        if isinstance(self.json, dict) and "message" in self.json:
            return str(self.json["message"])
        body, _ = self.body()
        return body.decode("utf-8", errors="replace").strip()


@dataclass(frozen=True)
class MockStream:
    """A long-lived answer (``/events``): these chunks, in order, as they would arrive.

    Chunks are passed on as they are, so a test can cut an event in two, send several
    in one chunk, or send bytes that are not JSON, and see what the framing does.

    Attributes:
        chunks: the body, piece by piece.
        end: after the last chunk, end the body (True) or keep the connection open
            until the client closes it (False). By default it does what an engine
            does: end when the request has an ``until`` parameter, stay open otherwise.
        status: an error status fails the request when it is opened, as
            :class:`MockResponse` does; ``message`` is then the engine's message.
        message: the error message for an error ``status``.
    """

    chunks: tuple[bytes, ...] = ()
    end: bool | None = None
    status: int = 200
    message: str = ""

    def __init__(
        self,
        chunks: Iterable[bytes] = (),
        *,
        end: bool | None = None,
        status: int = 200,
        message: str = "",
    ) -> None:
        object.__setattr__(self, "chunks", tuple(chunks))
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "message", message)

    @classmethod
    def of_events(
        cls, events: Iterable[Mapping[str, Any]], *, end: bool | None = None
    ) -> MockStream:
        """One chunk per event, each a compact JSON object and a newline, as dockerd sends."""
        return cls(
            (json.dumps(event, separators=(",", ":")).encode() + b"\n" for event in events),
            end=end,
        )


#: What a handler may return. ``dict``/``list`` are a 200 JSON answer, ``str`` a text
#: answer, ``bytes`` a raw one, ``None`` an empty 204 (for ``/version`` and ``/_ping``,
#: None or a 404 means "answer it for me"); streams take a :class:`MockStream` or an
#: async iterator of bytes.
Answer: TypeAlias = (
    MockResponse
    | MockStream
    | Mapping[str, Any]
    | list[Any]
    | str
    | bytes
    | AsyncIterator[bytes]
    | None
)
Handler: TypeAlias = Callable[[MockRequest], "Answer | Awaitable[Answer]"]


def _default_version(api_version: str) -> dict[str, Any]:
    # What dockerd 20.10.24 on Debian 12 answers, with the API version asked for.
    return {
        "Version": "20.10.24+dfsg1",
        "ApiVersion": api_version,
        "MinAPIVersion": "1.12",
        "GitCommit": "5d6db84",
        "GoVersion": "go1.19.8",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "6.1.0",
    }


class MockTransport(Transport):
    """A transport that answers every request from ``handler``: no engine, no I/O.

    Args:
        handler: called with a :class:`MockRequest` for each request (sync or async);
            returns an :data:`Answer`. Whatever it raises reaches the caller as it
            is (raise :class:`swarmnet.EngineUnreachable` to play a lost engine).
        name: the engine's name; the address is ``mock://NAME``.
        api_version: the newest API version the pretend engine speaks (its default
            ``/version`` answer).
        timeout: seconds an (async) handler may take for one request before
            :class:`swarmnet.errors.EngineTimeout` is raised, as the real transport does
            (``None``: no limit); a request's own limit (``join(timeout=…)``) wins.

    Attributes:
        requests: every request sent, in order (``/version`` from opening included).

    Example::

        def handler(request: MockRequest) -> MockResponse | None:
            if request.path == "/networks/create":
                return MockResponse.error(409, "network with name b already exists")
            return None

        transport = MockTransport(handler)
        async with swarmnet.Engine(transport=transport) as engine:
            with pytest.raises(swarmnet.Conflict):
                await engine.networks.create(swarmnet.BridgeSpec(name="b"))
        assert [r.path for r in transport.requests] == ["/version", "/networks/create"]
    """

    def __init__(
        self,
        handler: Handler,
        *,
        name: str = "mock",
        api_version: str = DEFAULT_API_VERSION,
        timeout: float | None = 60.0,
    ) -> None:
        self.handler = handler
        self.timeout = timeout
        self.address = f"mock://{name}"
        self.api_version = None
        self.requests: list[MockRequest] = []
        self._version_payload = _default_version(api_version)
        self._closed: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address} requests={len(self.requests)}>"

    @classmethod
    def from_recording(cls, path: str | Path, *, name: str = "replay") -> ReplayTransport:
        """A :class:`ReplayTransport` answering from a :class:`RecordingTransport` file."""
        return ReplayTransport.from_file(path, name=name)

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> None:
        """Make ready for requests (again, after a close)."""
        self._closed = anyio.Event()

    async def close(self) -> None:
        """End every open stream, as a closed connection would. Safe to call twice."""
        if self._closed is not None:
            self._closed.set()

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
        timeout: float | Unset | None = Unset.DEFAULT,  # noqa: ASYNC109 (the Transport's)
        versioned: bool = True,
        secrets: tuple[Secret | str | None, ...] = (),
        raw: bool = False,
    ) -> Any:
        """Ask the handler and decode its answer as the real transport decodes the engine's."""
        request = self._record(method, path, params, json_body, data, headers, versioned, False)
        limit = self.timeout if isinstance(timeout, Unset) else timeout
        try:
            with anyio.fail_after(limit):
                answer = await self._ask(request)
        except TimeoutError as exc:
            if limit is None:
                raise  # the handler's own
            raise EngineTimeout(
                f"{method} /{path}: no answer within {limit:g} s", engine=self.address
            ) from exc
        if isinstance(answer, MockStream) or _is_async_iterator(answer):
            raise TypeError(
                f"the handler answered {request!r} with a stream; only /events-like "
                "requests opened as streams take one"
            )
        response = _as_response(answer)
        if response.status >= 400:
            raise self._error(request, response.status, response.explanation(), secrets)
        body, content_type = response.body()
        if raw:
            return body
        if not body:
            return None
        if "json" in content_type:
            return json.loads(body)
        return body.decode("utf-8", errors="replace")

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        unchunked: bool = False,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Ask the handler and yield its answer's chunks (see :class:`MockStream`)."""
        request = self._record(method, path, params, None, None, None, True, True)
        answer = await self._ask(request)
        if _is_async_iterator(answer):
            yield answer
            return
        if isinstance(answer, MockStream):
            if answer.status >= 400:
                raise self._error(request, answer.status, answer.message, ())
            end = answer.end if answer.end is not None else "until" in request.params
            yield self._chunks(answer.chunks, end=end, action=f"{method} /{path}")
            return
        response = _as_response(answer)
        if response.status >= 400:
            raise self._error(request, response.status, response.explanation(), ())
        body, _ = response.body()
        yield self._chunks((body,) if body else (), end=True, action=f"{method} /{path}")

    # -- helpers ---------------------------------------------------------------------

    def _record(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        versioned: bool,
        stream: bool,
    ) -> MockRequest:
        request = MockRequest(
            method=method.upper(),
            path="/" + path.lstrip("/"),
            params=MappingProxyType(dict(params or {})),
            json=json_body,
            data=data,
            headers=MappingProxyType(dict(headers or {})),
            api_version=self.api_version if versioned else None,
            stream=stream,
        )
        self.requests.append(request)
        return request

    async def _ask(self, request: MockRequest) -> Answer:
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        # A catch-all "404" branch should not turn the pretend engine into one with no
        # /version: no engine answers these two with 404, so that means "not emulated".
        unanswered = answer is None or (isinstance(answer, MockResponse) and answer.status == 404)
        if unanswered and request.method == "GET":
            if request.path == "/version":
                return dict(self._version_payload)
            if request.path == "/_ping":
                return MockResponse(text="OK")
        return answer

    def _error(
        self,
        request: MockRequest,
        status: int,
        explanation: str,
        secrets: tuple[Secret | str | None, ...],
    ) -> EngineAPIError:
        return error_for_status(
            status,
            redact(explanation, *secrets),
            engine=self.address,
            action=f"{request.method} {request.path}",
        )

    async def _chunks(
        self, chunks: tuple[bytes, ...], *, end: bool, action: str
    ) -> AsyncIterator[bytes]:
        for chunk in chunks:
            # A real stream hands over one read at a time; let other tasks run between.
            await anyio.lowlevel.checkpoint()
            yield chunk
        if end:
            return
        if self._closed is None:
            raise EngineError("the mock transport is not open", engine=self.address)
        await self._closed.wait()
        raise EngineUnreachable(f"{action}: stream broke (the client closed)", engine=self.address)


def _is_async_iterator(value: object) -> TypeGuard[AsyncIterator[bytes]]:
    return hasattr(value, "__anext__") and hasattr(value, "__aiter__")


def _as_response(answer: Answer) -> MockResponse:
    if isinstance(answer, MockResponse):
        return answer
    if answer is None:
        return MockResponse(status=204)
    if isinstance(answer, str):
        return MockResponse(text=answer)
    if isinstance(answer, bytes):
        return MockResponse(content=answer)
    if isinstance(answer, (Mapping, list)):
        return MockResponse(json=dict(answer) if isinstance(answer, Mapping) else answer)
    raise TypeError(
        f"a MockTransport handler returned {type(answer).__name__}; return a MockResponse, "
        "a dict or list (JSON), a str, bytes, None, or for a stream a MockStream"
    )


# -- recorded sessions ---------------------------------------------------------------------


class NoRecordedAnswer(EngineError, LookupError):
    """A :class:`ReplayTransport` was asked something its recording does not hold.

    Attributes:
        method, path, params: the request that found no answer.
    """

    def __init__(
        self, message: str, *, engine: str, method: str, path: str, params: Mapping[str, Any]
    ) -> None:
        super().__init__(message, engine=engine)
        self.method = method
        self.path = path
        self.params = dict(params)


def _key(method: str, path: str, params: Mapping[str, Any]) -> tuple[str, str, str]:
    # Values as text, the way they go on the wire (and are written down).
    texts = {key: str(value) for key, value in params.items()}
    return method.upper(), "/" + path.lstrip("/"), json.dumps(texts, sort_keys=True)


def _encode_answer(answer: Any) -> dict[str, Any]:
    if answer is None:
        return {"status": 204, "answer": {}}
    if isinstance(answer, bytes):
        return {"status": 200, "answer": {"content": base64.b64encode(answer).decode()}}
    if isinstance(answer, str):
        return {"status": 200, "answer": {"text": answer}}
    return {"status": 200, "answer": {"json": answer}}


def _decode_answer(entry: Mapping[str, Any]) -> MockResponse:
    status = int(entry.get("status", 200))
    if "error" in entry:
        return MockResponse.error(status, str(entry["error"]))
    answer = entry.get("answer") or {}
    if "json" in answer:
        return MockResponse(status=status, json=answer["json"])
    if "text" in answer:
        return MockResponse(status=status, text=answer["text"])
    if "content" in answer:
        return MockResponse(status=status, content=base64.b64decode(answer["content"]))
    return MockResponse(status=status)


def _encode_chunk(chunk: bytes) -> dict[str, str]:
    try:
        return {"text": chunk.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(chunk).decode()}


def _decode_chunk(chunk: Mapping[str, str]) -> bytes:
    if "base64" in chunk:
        return base64.b64decode(chunk["base64"])
    return chunk["text"].encode("utf-8")


class RecordingTransport(Transport):
    """Wraps a real engine's transport and writes each request and answer to a file.

    One JSON object per line, in the order the answers came: ``method``, ``path``
    (no version prefix), ``params``, ``body`` (the request's JSON), ``status``, and
    ``answer`` (``{"json": …}``, ``{"text": …}`` or ``{"content": base64}``) or, for an
    error, the engine's message as ``error``; a stream (``"stream": true``) has its
    ``chunks`` and whether the engine ``ended`` it (a stream the client closed first
    stays open when replayed). A success is written as 200, or 204 when empty: the
    transport hands over the body, not the status. Secrets passed with a request, and
    anything shaped like a join token or unlock key, are masked before writing.
    Replay the file with :class:`ReplayTransport`.

    Args:
        inner: the transport that reaches the engine; :meth:`for_url` makes one.
        path: the JSON-lines file to write (emptied when the engine opens).

    Example::

        recorder = RecordingTransport.for_url("unix:///var/run/docker.sock", "session.jsonl")
        async with swarmnet.Engine(transport=recorder) as engine:
            await engine.networks.ensure(swarmnet.OverlaySpec(name="app", attachable=True))
    """

    def __init__(self, inner: Transport, path: str | Path) -> None:
        self.inner = inner
        self.path = Path(path)
        self.address = inner.address
        self.api_version = inner.api_version
        self._started = False

    def __repr__(self) -> str:
        return f"<RecordingTransport {self.address} -> {str(self.path)!r}>"

    @classmethod
    def for_url(
        cls, url: str | None, path: str | Path, **engine_options: Any
    ) -> RecordingTransport:
        """Record the engine at ``url`` (read as :class:`swarmnet.Engine` reads it).

        ``engine_options`` are :class:`swarmnet.Engine`'s ``tls`` and ``timeout``.
        """
        from swarmnet._core.engine import Engine

        return cls(Engine(url, **engine_options)._transport, path)

    def open(self) -> None:
        """Open the inner transport and start a new recording."""
        self.inner.open()
        if not self._started:
            self.path.write_text("", encoding="utf-8")
            self._started = True

    async def close(self) -> None:
        """Close the inner transport."""
        await self.inner.close()

    def use_api_version(self, version: str) -> None:
        """Use ``version`` here and in the inner transport."""
        super().use_api_version(version)
        self.inner.use_api_version(version)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | Unset | None = Unset.DEFAULT,  # noqa: ASYNC109 (passed on)
        versioned: bool = True,
        secrets: tuple[Secret | str | None, ...] = (),
        raw: bool = False,
    ) -> Any:
        """Send through the inner transport, then write the pair down."""
        entry = _entry(method, path, params)
        entry["body"] = json_body
        try:
            answer = await self.inner.request(
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
        except EngineAPIError as exc:
            self._write({**entry, "status": exc.status, "error": exc.explanation}, secrets)
            raise
        self._write({**entry, **_encode_answer(answer)}, secrets)
        return answer

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        unchunked: bool = False,
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open through the inner transport; write the chunks read once it closes."""
        entry = _entry(method, path, params)
        entry["stream"] = True
        chunks: list[dict[str, str]] = []
        ended = False
        opened = False

        async def passing(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            nonlocal ended
            async for chunk in source:
                chunks.append(_encode_chunk(chunk))
                yield chunk
            ended = True

        try:
            async with self.inner.stream(
                method, path, params=params, unchunked=unchunked
            ) as source:
                opened = True
                try:
                    yield passing(source)
                finally:
                    self._write({**entry, "status": 200, "chunks": chunks, "ended": ended}, ())
        except EngineAPIError as exc:
            if not opened:
                self._write({**entry, "status": exc.status, "error": exc.explanation}, ())
            raise

    def _write(self, entry: dict[str, Any], secrets: tuple[Secret | str | None, ...]) -> None:
        # Masked as text, so a token anywhere in a body or an answer goes too.
        line = redact(json.dumps(entry, separators=(",", ":")), *secrets)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def _entry(method: str, path: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "method": method.upper(),
        "path": "/" + path.lstrip("/"),
        "params": {key: str(value) for key, value in (params or {}).items()},
    }


class ReplayTransport(MockTransport):
    """Answers from a :class:`RecordingTransport` file: a real engine's session, replayed.

    A request is matched by method, path and parameters; a request made several times
    gets the recorded answers in the order they were recorded. ``/version`` and
    ``/_ping`` fall back to :class:`MockTransport`'s answers when not recorded.

    Attributes:
        entries: the recording, one mapping per line.
        unused: the recorded answers no request has taken yet.
        requests: every request sent, as for :class:`MockTransport`.

    Raises (from a request):
        NoRecordedAnswer: the recording holds no (more) answer for that request.

    Example::

        transport = ReplayTransport.from_file("tests/data/session.jsonl")
        async with swarmnet.Engine(transport=transport) as engine:
            result = await engine.networks.ensure(swarmnet.OverlaySpec(name="app"))
    """

    def __init__(self, entries: Iterable[Mapping[str, Any]], *, name: str = "replay") -> None:
        super().__init__(self._answer, name=name)
        self.entries = tuple(MappingProxyType(dict(entry)) for entry in entries)
        self._left: dict[tuple[str, str, str], deque[Mapping[str, Any]]] = {}
        for entry in self.entries:
            key = _key(entry["method"], entry["path"], entry.get("params") or {})
            self._left.setdefault(key, deque()).append(entry)

    @classmethod
    def from_file(cls, path: str | Path, *, name: str = "replay") -> ReplayTransport:
        """Read a JSON-lines recording (blank lines are allowed)."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls((json.loads(line) for line in lines if line.strip()), name=name)

    @property
    def unused(self) -> tuple[Mapping[str, Any], ...]:
        """The recorded answers no request has taken yet, in recording order."""
        left = {id(entry) for queue in self._left.values() for entry in queue}
        return tuple(entry for entry in self.entries if id(entry) in left)

    def _answer(self, request: MockRequest) -> Answer:
        queue = self._left.get(_key(request.method, request.path, request.params))
        if not queue:
            if request.method == "GET" and request.path in ("/version", "/_ping"):
                return None
            raise self._missing(request, exhausted=queue is not None)
        entry = queue.popleft()
        if entry.get("stream"):
            if "error" in entry:
                return MockStream(status=int(entry["status"]), message=str(entry["error"]))
            return MockStream(
                (_decode_chunk(chunk) for chunk in entry.get("chunks") or ()),
                end=bool(entry.get("ended")),
            )
        return _decode_answer(entry)

    def _missing(self, request: MockRequest, *, exhausted: bool) -> NoRecordedAnswer:
        if exhausted:
            why = "every recorded answer to it was used already"
        else:
            same_path = sorted(
                {
                    json.dumps(dict(e.get("params") or {}), sort_keys=True)
                    for e in self.entries
                    if e["method"] == request.method and e["path"] == request.path
                }
            )
            why = (
                f"recorded with other parameters only: {'; '.join(same_path)}"
                if same_path
                else "the recording never sent it"
            )
        return NoRecordedAnswer(
            redact(
                f"no recorded answer for {request.method} {request.path} "
                f"{json.dumps(dict(request.params), sort_keys=True)}: {why}; record the "
                "session again with RecordingTransport"
            ),
            engine=self.address,
            method=request.method,
            path=request.path,
            params=request.params,
        )
