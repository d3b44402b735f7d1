"""The seam between :class:`swarmnet.Engine` and whatever carries its requests.

:class:`Transport` is what the engine needs from a connection: open, close, one request,
one long-lived stream. :class:`swarmnet._core.docker_transport.DockerTransport` is the real
one (the only module that imports aiodocker); :mod:`swarmnet.testing` has one that answers
from a function, with no engine at all. Both map error answers through
:func:`error_for_status`, so a test transport raises exactly what a real engine would.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from swarmnet._core.errors import (
    AlreadyInSwarm,
    Conflict,
    EngineAPIError,
    NotASwarmManager,
    NotFound,
    NotInSwarm,
    OutOfSequence,
    SwarmLocked,
    UnsupportedEngine,
)
from swarmnet._core.secret import Secret

#: The oldest Engine API swarmnet speaks (Docker 20.10), and the newest it knows.
MIN_API_VERSION = (1, 41)
MAX_API_VERSION = (1, 47)

RequestHook = Callable[[str, str], None]


class Unset(enum.Enum):
    """The marker for "the client's default timeout"."""

    DEFAULT = "default"


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
        if "update out of sequence" in lowered:
            cls = OutOfSequence
        elif status == 404:
            cls = NotFound
        elif status == 409:
            cls = Conflict
    return cls(
        f"{action} failed with {status}: {explanation}",
        engine=engine,
        status=status,
        explanation=explanation,
    )


class Transport(abc.ABC):
    """Requests to one engine, with error answers mapped to swarmnet's tree.

    Not public as such: an :class:`swarmnet.Engine` owns one. Subclasses implement
    :meth:`open`, :meth:`close`, :meth:`request` and :meth:`stream`; version
    negotiation is shared.
    """

    address: str
    api_version: str | None = None

    def open(self) -> None:  # noqa: B027 (an optional hook)
        """Prepare to send (no I/O); called once before :meth:`negotiate`."""

    async def close(self) -> None:  # noqa: B027 (an optional hook)
        """Let go of every connection. Safe to call twice."""

    @abc.abstractmethod
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
        """Send one request and return the decoded answer (JSON, text, bytes or None)."""

    @abc.abstractmethod
    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        unchunked: bool = False,
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Open a long-lived response; the context yields its body as raw chunks."""

    def use_api_version(self, version: str) -> None:
        """Send ``version`` in every versioned path from now on."""
        self.api_version = version

    async def negotiate(self, pinned: str | None = None) -> tuple[str, dict[str, Any]]:
        """Agree on an API version: the lower of the engine's and swarmnet's newest.

        Returns the version and the engine's ``/version`` payload.
        """
        payload = await self.request("GET", "version", versioned=False)
        if not isinstance(payload, dict):
            payload = {}
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
        self.use_api_version(format_api_version(chosen))
        assert self.api_version is not None
        return self.api_version, payload
