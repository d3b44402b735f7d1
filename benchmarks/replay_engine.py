"""A stand-in Docker engine that replays recorded network events over a unix socket.

It answers just enough of the Engine API for the clients under test (``/_ping``,
``/version``, ``/info``, ``/networks``) and streams ``/events`` the way dockerd does:
HTTP/1.1 chunked, one compact JSON object plus a newline per event, each event its
own chunk. The stream is the recorded sample of real engine JSON
(``tests/data/network_events.jsonl``) repeated until ``--events`` events were sent,
each copy with a fresh, increasing ``timeNano`` so no two events are alike; then the
stream stays open and quiet, as an engine's does. A bounded query (``until=``) gets an
empty answer: this engine keeps no replay buffer.

A real engine cannot produce 200,000 events on demand at the rate a client reads them
(it spends ~3 ms on each overlay create), which is why benchmarks use this one.

Run: ``python benchmarks/replay_engine.py --socket /tmp/replay.sock --events 200000``
(prints ``ready`` once it listens).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "network_events.jsonl"
_WRITE_SLICE = 256 * 1024
_BASE_NANO = 1_800_000_000_000_000_000


def load_sample(path: Path = DATA) -> list[dict[str, Any]]:
    """The recorded events, one JSON object per line, as the engine sent them."""
    with path.open("rb") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def replay_lines(sample: list[dict[str, Any]], count: int) -> list[bytes]:
    """``count`` events from the sample, in order, repeated, with increasing times."""
    lines = []
    for index in range(count):
        event = dict(sample[index % len(sample)])
        nano = _BASE_NANO + index * 1000
        event["time"] = nano // 1_000_000_000
        event["timeNano"] = nano
        lines.append(json.dumps(event, separators=(",", ":")).encode() + b"\n")
    return lines


def chunked_body(lines: list[bytes]) -> bytes:
    """The HTTP/1.1 chunked body dockerd writes: one chunk per event (and no end: an
    engine's event stream stays open)."""
    return b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines)


class ReplayEngine:
    """Serves the Engine API subset, with ``/events`` replaying ``body``."""

    def __init__(self, socket_path: str, lines: list[bytes]) -> None:
        self.socket_path = socket_path
        self.chunked = chunked_body(lines)
        self.plain = b"".join(lines)

    async def serve(self) -> None:
        if os.path.exists(self.socket_path):  # noqa: ASYNC240 - before serving anything
            os.unlink(self.socket_path)
        server = await asyncio.start_unix_server(self._connection, path=self.socket_path)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await self._serve_requests(reader, writer)
        writer.close()

    async def _serve_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request_line = head.split(b"\r\n", 1)[0].decode()
            method, target, version = request_line.split(" ", 2)
            url = urlsplit(target)
            query = parse_qs(url.query)
            path = url.path
            if path.endswith("/events"):
                await self._events(
                    reader, writer, bounded="until" in query, http10=version == "HTTP/1.0"
                )
                return
            if path.endswith("/_ping"):
                await self._answer(writer, b"OK", "text/plain")
            elif path.endswith("/version"):
                await self._json(writer, _VERSION)
            elif path.endswith("/info"):
                await self._json(writer, _INFO)
            elif path.endswith("/networks") and method == "GET":
                await self._json(writer, [])
            else:
                await self._json(writer, {"message": f"not here: {path}"}, status=404)

    async def _events(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        bounded: bool,
        http10: bool,
    ) -> None:
        if http10:
            # dockerd (Go's net/http) answers an HTTP/1.0 request without chunked
            # encoding: the events follow the head as they are, until the connection
            # closes (checked against dockerd 20.10).
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
            if bounded:
                await writer.drain()
                return
            body = self.plain
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
            if bounded:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
                return
            body = self.chunked
        view = memoryview(body)
        for start in range(0, len(body), _WRITE_SLICE):
            writer.write(view[start : start + _WRITE_SLICE])
            await writer.drain()
        # Then stay open and quiet, as an engine with nothing more to report does,
        # until the client goes.
        await reader.read()

    async def _json(self, writer: asyncio.StreamWriter, payload: Any, status: int = 200) -> None:
        await self._answer(writer, json.dumps(payload).encode(), "application/json", status)

    async def _answer(
        self, writer: asyncio.StreamWriter, data: bytes, content_type: str, status: int = 200
    ) -> None:
        reason = b"OK" if status == 200 else b"Not Found"
        writer.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            b"Api-Version: 1.41\r\n\r\n%s"
            % (status, reason, content_type.encode(), len(data), data)
        )
        await writer.drain()


_VERSION = {
    "Version": "20.10.24+replay",
    "ApiVersion": "1.41",
    "MinAPIVersion": "1.12",
    "Os": "linux",
    "Arch": "amd64",
}
_INFO = {
    "ID": "REPLAY",
    "Name": "replay",
    "ServerVersion": "20.10.24+replay",
    "SystemTime": "2027-01-15T08:00:00.000000000Z",
    "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, help="unix socket path to listen on")
    parser.add_argument("--events", type=int, default=200_000, help="events per stream")
    parser.add_argument("--data", type=Path, default=DATA, help="recorded events (JSON lines)")
    args = parser.parse_args()
    lines = replay_lines(load_sample(args.data), args.events)
    asyncio.run(ReplayEngine(args.socket, lines).serve())


if __name__ == "__main__":
    main()
