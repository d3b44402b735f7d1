"""swarmnet.testing: an Engine that runs against a handler or a recording, with no engine.

Most tests here emulate a few endpoints in :class:`FakeDocker` (networks, swarm, events)
and drive the real capability APIs over :class:`swarmnet.testing.MockTransport`. The
last ones record a session on a real lab engine and replay it without one.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
import os
import re
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import swarmnet
import swarmnet.testing
from swarmnet._core.transport import error_for_status
from swarmnet.lab import Lab
from swarmnet.testing import (
    MockRequest,
    MockResponse,
    MockStream,
    MockTransport,
    NoRecordedAnswer,
    RecordingTransport,
    ReplayTransport,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
RECORDED_EVENTS = (DATA / "network_events.jsonl").read_bytes().splitlines(keepends=True)
FAKE_TOKEN = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"
NOT_A_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify "
    "cluster state. Please run this command on a manager node or promote the current "
    "node to a manager."
)
NOT_IN_SWARM = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
SWARM = {
    "ID": "t6m8f25s2ej92hhjwku208636",
    "Version": {"Index": 10},
    "CreatedAt": "2026-11-29T16:20:18.672056835Z",
    "Spec": {"Name": "default", "EncryptionConfig": {"AutoLockManagers": False}},
    "DefaultAddrPool": ["10.61.0.0/16"],
    "SubnetSize": 26,
    "DataPathPort": 7790,
    "JoinTokens": {"Worker": FAKE_TOKEN, "Manager": FAKE_TOKEN},
}


class FakeDocker:
    """A few endpoints of a Docker 20.10 manager, in memory, as a MockTransport handler."""

    def __init__(self, *, role: str = "manager") -> None:
        self.role = role  # "manager", "worker" or "none"
        self.networks: dict[str, dict[str, Any]] = {}
        self.events: list[bytes] = list(RECORDED_EVENTS)
        self._ids = (f"{n:064x}" for n in itertools.count(0xA0))

    def add_network(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store a network as the engine would report it, from a create body."""
        network_id = next(self._ids)
        overlay = body.get("Driver") == "overlay"
        self.networks[network_id] = {
            "Name": body["Name"],
            "Id": network_id,
            "Created": "2026-11-30T10:00:00.000000000Z",
            "Scope": "swarm" if overlay else "local",
            "Driver": body.get("Driver") or "bridge",
            "EnableIPv6": body.get("EnableIPv6", False),
            "IPAM": {
                "Driver": "default",
                "Options": None,
                "Config": (body.get("IPAM") or {}).get("Config")
                or [{"Subnet": "10.0.1.0/24", "Gateway": "10.0.1.1"}],
            },
            "Internal": body.get("Internal", False),
            "Attachable": body.get("Attachable", False),
            "Ingress": False,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": False,
            # A manager lists the swarm's own record of an overlay with null containers
            # ({} is a local copy, e.g. one left after the swarm removed it).
            "Containers": None if overlay else {},
            "Options": body.get("Options") or {},
            "Labels": body.get("Labels") or {},
        }
        return self.networks[network_id]

    def find(self, name_or_id: str) -> dict[str, Any] | None:
        for network in self.networks.values():
            if name_or_id in (network["Name"], network["Id"]):
                return network
        return None

    async def __call__(self, request: MockRequest) -> Any:
        await anyio.lowlevel.checkpoint()  # an async handler, awaited by the transport
        match request.method, request.path.split("/")[1:]:
            case "GET", ["networks"]:
                names = request.filters.get("name", [])
                # The engine matches name parts; swarmnet keeps the exact matches.
                return [
                    n
                    for n in self.networks.values()
                    if not names or any(part in n["Name"] for part in names)
                ]
            case "GET", ["networks", name_or_id]:
                found = self.find(name_or_id)
                if found is None:
                    return MockResponse.error(404, f"network {name_or_id} not found")
                return found
            case "POST", ["networks", "create"]:
                if request.json["Driver"] == "overlay" and self.role != "manager":
                    return MockResponse.error(503, NOT_A_MANAGER)
                if self.find(request.json["Name"]) is not None:
                    return MockResponse.error(
                        409, f"network with name {request.json['Name']} already exists"
                    )
                return MockResponse(
                    status=201, json={"Id": self.add_network(request.json)["Id"], "Warning": ""}
                )
            case "DELETE", ["networks", name_or_id]:
                found = self.find(name_or_id)
                if found is None:
                    return MockResponse.error(404, f"network {name_or_id} not found")
                del self.networks[found["Id"]]
                return None
            case "GET", ["swarm"]:
                if self.role == "manager":
                    return SWARM
                return MockResponse.error(503, NOT_A_MANAGER if self.role else NOT_IN_SWARM)
            case "POST", ["swarm", "join"]:
                # The engine echoes the token it was given in some errors.
                token = request.json["JoinToken"]
                return MockResponse.error(400, f"invalid join token {token}")
            case "GET", ["info"]:
                swarm = {
                    "manager": {"LocalNodeState": "active", "ControlAvailable": True},
                    "worker": {"LocalNodeState": "active", "ControlAvailable": False},
                }.get(self.role, {"LocalNodeState": "inactive"})
                return {
                    "ID": "X3BZ:ENGINE",
                    "Name": "node1",
                    "ServerVersion": "20.10.24",
                    "SystemTime": "2026-11-30T10:00:01.000000000Z",
                    "Swarm": {"NodeID": "n1" if self.role != "none" else "", **swarm},
                }
            case "GET", ["services"]:
                return []
            case "GET", ["nodes"]:
                return [{"ID": "n1", "Description": {"Hostname": "node1"}}]
            case "GET", ["events"]:
                return MockStream(self.events)
        return MockResponse.error(404, "page not found")


@pytest.fixture
def docker() -> FakeDocker:
    return FakeDocker()


@pytest.fixture
async def engine(docker: FakeDocker) -> AsyncIterator[swarmnet.Engine]:
    """An Engine over a MockTransport answering from ``docker`` (shadows conftest's lab one)."""
    async with swarmnet.Engine(transport=MockTransport(docker)) as opened:
        yield opened


def sent(engine: swarmnet.Engine) -> list[MockRequest]:
    transport = engine._transport
    assert isinstance(transport, MockTransport)
    return transport.requests


def writes(engine: swarmnet.Engine) -> list[MockRequest]:
    return [r for r in sent(engine) if r.method != "GET"]


def test_the_modules_all_is_sorted_and_every_name_documented() -> None:
    assert list(swarmnet.testing.__all__) == sorted(set(swarmnet.testing.__all__))
    for name in swarmnet.testing.__all__:
        member = getattr(swarmnet.testing, name)
        assert member.__doc__, f"swarmnet.testing.{name} has no docstring"
        public = [m for m in vars(member) if not m.startswith("_")]
        undocumented = [
            m for m in public if callable(getattr(member, m)) and not getattr(member, m).__doc__
        ]
        assert undocumented == [], f"swarmnet.testing.{name}: {undocumented}"


@pytest.mark.parametrize("documented", [swarmnet.testing, MockTransport], ids=lambda d: d.__name__)
async def test_the_docstring_examples_run(documented: object) -> None:
    doc = inspect.getdoc(documented) or ""
    (block,) = re.findall(r"::\n\n((?:(?: {4}.*)?\n)+)", doc + "\n")
    source = "async def example():\n" + textwrap.indent(textwrap.dedent(block), "    ")
    scope: dict[str, Any] = {"swarmnet": swarmnet, "pytest": pytest, **vars(swarmnet.testing)}
    exec(compile(source, f"<{documented!r} docstring>", "exec"), scope)

    await scope["example"]()


# -- the engine over a mock transport --------------------------------------------------------


async def test_opening_negotiates_with_a_default_api_1_41_engine_and_ping_answers() -> None:
    transport = MockTransport(lambda request: None, name="node1")
    async with swarmnet.Engine(transport=transport) as engine:
        assert engine.api_version == "1.41"
        assert engine.url == "mock://node1"
        assert await engine.ping() is True
        version = await engine.version()
    assert version.api_version == "1.41"
    assert [(r.method, r.path, r.api_version) for r in transport.requests] == [
        ("GET", "/version", None),
        ("GET", "/_ping", None),
        ("GET", "/version", "1.41"),
    ]


async def test_a_handler_that_answers_version_itself_sets_the_api_version() -> None:
    def handler(request: MockRequest) -> Any:
        if request.path == "/version":
            return {"ApiVersion": "1.44", "MinAPIVersion": "1.24", "Version": "25.0.3"}
        return {"ID": "E", "Name": "newer"}

    transport = MockTransport(handler)
    async with swarmnet.Engine(transport=transport) as engine:
        info = await engine.info()
    assert (engine.api_version, info.name) == ("1.44", "newer")
    assert transport.requests[-1].api_version == "1.44"


async def test_an_engine_older_than_api_1_41_is_refused_on_open() -> None:
    transport = MockTransport(lambda request: None, api_version="1.40")
    with pytest.raises(swarmnet.errors.UnsupportedEngine, match=r"1\.40"):
        async with swarmnet.Engine(transport=transport):
            pass


async def test_networks_list_sends_engine_filters_and_keeps_exact_name_matches(
    engine: swarmnet.Engine, docker: FakeDocker
) -> None:
    docker.add_network({"Name": "app", "Driver": "overlay"})
    docker.add_network({"Name": "app-old", "Driver": "overlay"})

    everything = await engine.networks.list()
    (app,) = await engine.networks.list(name="app")

    assert sorted(n.name for n in everything) == ["app", "app-old"]
    assert (app.name, app.driver, app.scope) == (
        "app",
        "overlay",
        swarmnet.models.NetworkScope.SWARM,
    )
    assert sent(engine)[-1].filters == {"name": ["app"]}
    assert sent(engine)[-2].params == {}


async def test_networks_get_is_typed_and_a_404_is_network_not_found(
    engine: swarmnet.Engine, docker: FakeDocker
) -> None:
    made = docker.add_network({"Name": "app", "Driver": "overlay", "Labels": {"team": "a"}})

    network = await engine.networks.get("app")
    with pytest.raises(swarmnet.NetworkNotFound) as missing:
        await engine.networks.get("nope")

    assert (network.id, network.labels) == (made["Id"], {"team": "a"})
    assert isinstance(network, swarmnet.Network)
    assert missing.value.status == 404
    assert missing.value.engine == "mock://mock"
    assert "nope" in str(missing.value)


async def test_create_sends_the_specs_body_and_reads_the_network_back(
    engine: swarmnet.Engine, docker: FakeDocker
) -> None:
    spec = swarmnet.OverlaySpec(name="app", attachable=True, labels={"team": "a"})

    network = await engine.networks.create(spec)

    (create,) = writes(engine)
    assert (create.method, create.path) == ("POST", "/networks/create")
    assert create.json == spec.create_body()
    assert create.json["CheckDuplicate"] is True
    assert network.attachable
    assert network.name == "app"
    assert set(docker.networks) == {network.id}


async def test_a_second_create_is_a_conflict_and_ensure_accepts_what_exists(
    engine: swarmnet.Engine,
) -> None:
    spec = swarmnet.OverlaySpec(name="app", attachable=True)
    first = await engine.networks.ensure(spec)
    writes_after_first = len(writes(engine))

    with pytest.raises(swarmnet.Conflict, match="use ensure"):
        await engine.networks.create(spec)
    again = await engine.networks.ensure(spec)

    assert first.outcome is swarmnet.models.EnsureOutcome.CREATED
    assert again.outcome is swarmnet.models.EnsureOutcome.UNCHANGED
    assert again.network.id == first.network.id
    # The refused create was sent; the second ensure sent no write at all.
    assert len(writes(engine)) == writes_after_first + 1


async def test_ensure_reports_drift_and_recreates_on_request(
    engine: swarmnet.Engine, docker: FakeDocker
) -> None:
    old = docker.add_network({"Name": "app", "Driver": "overlay", "Labels": {"team": "b"}})
    spec = swarmnet.OverlaySpec(name="app", labels={"team": "a"})

    with pytest.raises(swarmnet.DriftDetected) as drifted:
        await engine.networks.ensure(spec)
    assert writes(engine) == []
    recreated = await engine.networks.ensure(spec, on_drift=swarmnet.Drift.RECREATE)

    assert [str(change) for change in drifted.value.diff.changes] == [
        "labels.team: wanted 'a', found 'b'"
    ]
    assert recreated.outcome is swarmnet.models.EnsureOutcome.RECREATED
    assert [(r.method, r.path) for r in writes(engine)] == [
        ("DELETE", f"/networks/{old['Id']}"),
        ("POST", "/networks/create"),
    ]
    assert [n["Labels"] for n in docker.networks.values()] == [{"team": "a"}]


@pytest.mark.parametrize(
    "bad",
    [
        {"driver": "overlay", "name": "app", "subnet": "10.1.0.1/24"},
        {"driver": "overlay", "name": ""},
        {"driver": "bridge", "name": "b", "mtu": 10},
        {"driver": "overlay", "name": "app", "surprise": True},
    ],
)
async def test_invalid_specs_send_nothing(engine: swarmnet.Engine, bad: dict[str, Any]) -> None:
    before = list(sent(engine))

    with pytest.raises(swarmnet.InvalidSpec):
        await engine.networks.create(bad)
    with pytest.raises(swarmnet.InvalidSpec):
        await engine.networks.ensure(bad)

    assert sent(engine) == before


async def test_an_overlay_on_a_worker_is_not_a_swarm_manager(docker: FakeDocker) -> None:
    docker.role = "worker"
    async with swarmnet.Engine(transport=MockTransport(docker)) as engine:
        with pytest.raises(swarmnet.NotASwarmManager):
            await engine.networks.create(swarmnet.OverlaySpec(name="app"))


async def test_swarm_inspect_on_a_manager_a_worker_and_an_engine_in_no_swarm(
    docker: FakeDocker,
) -> None:
    async with swarmnet.Engine(transport=MockTransport(docker)) as engine:
        swarm = await engine.swarm.inspect()
        docker.role = "worker"
        with pytest.raises(swarmnet.NotASwarmManager):
            await engine.swarm.inspect()
        docker.role = ""
        with pytest.raises(swarmnet.NotInSwarm, match="init one or join one"):
            await engine.swarm.inspect()

    assert (swarm.id, swarm.version, swarm.data_path_port) == (
        "t6m8f25s2ej92hhjwku208636",
        10,
        7790,
    )
    assert FAKE_TOKEN not in repr(swarm)


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (404, "network app not found", swarmnet.NotFound),
        (409, "network with name app already exists", swarmnet.Conflict),
        (503, NOT_A_MANAGER, swarmnet.NotASwarmManager),
        (503, NOT_IN_SWARM, swarmnet.NotInSwarm),
        (503, "This node is already part of a swarm.", swarmnet.AlreadyInSwarm),
        (
            503,
            "Swarm is encrypted and needs to be unlocked before it can be used.",
            swarmnet.errors.SwarmLocked,
        ),
        (
            500,
            "rpc error: code = Unknown desc = update out of sequence",
            swarmnet.errors.OutOfSequence,
        ),
    ],
)
async def test_error_answers_become_the_errors_a_real_engine_gives(
    status: int, message: str, expected: type[swarmnet.EngineAPIError]
) -> None:
    def handler(request: MockRequest) -> MockResponse | None:
        return MockResponse.error(status, message) if request.path == "/info" else None

    transport = MockTransport(handler)
    async with swarmnet.Engine(transport=transport) as engine:
        with pytest.raises(swarmnet.EngineAPIError) as raised:
            await engine.info()

    # The same class and text the real transport builds from the same answer.
    real = error_for_status(status, message, engine="mock://mock", action="GET /info")
    assert type(raised.value) is expected is type(real)
    assert (str(raised.value), raised.value.explanation) == (str(real), message)


async def test_a_token_the_engine_echoes_is_masked_in_the_error() -> None:
    async with swarmnet.Engine(transport=MockTransport(FakeDocker(role="none"))) as engine:
        with pytest.raises(swarmnet.errors.SwarmError) as raised:
            await engine.swarm.join("198.18.0.2:2377", FAKE_TOKEN)

    (join,) = writes(engine)
    assert join.json["JoinToken"] == FAKE_TOKEN  # what was sent is there to assert on
    assert FAKE_TOKEN not in str(raised.value) + repr(raised.value)
    assert FAKE_TOKEN not in repr(join)


async def test_a_handler_may_raise_to_play_a_lost_engine() -> None:
    def handler(request: MockRequest) -> Any:
        if request.path == "/info":
            raise swarmnet.EngineUnreachable("connection reset", engine="mock://mock")
        return None

    async with swarmnet.Engine(transport=MockTransport(handler)) as engine:
        with pytest.raises(swarmnet.EngineUnreachable, match="connection reset"):
            await engine.info()


async def test_a_handler_slower_than_the_timeout_is_an_engine_timeout() -> None:
    async def handler(request: MockRequest) -> Any:
        if request.path == "/info":
            await anyio.sleep_forever()
        return None

    async with swarmnet.Engine(transport=MockTransport(handler, timeout=0.05)) as engine:
        with pytest.raises(
            swarmnet.errors.EngineTimeout, match=r"GET /info: no answer within 0\.05 s"
        ):
            await engine.info()
        with pytest.raises(swarmnet.errors.EngineTimeout, match=r"within 0\.01 s"):
            await engine._request("GET", "info", timeout=0.01)


async def test_an_answer_of_the_wrong_kind_says_what_a_handler_may_return() -> None:
    transport = MockTransport(lambda request: 42 if request.path == "/info" else None)  # type: ignore[arg-type,return-value]
    async with swarmnet.Engine(transport=transport) as engine:
        with pytest.raises(TypeError, match="return a MockResponse"):
            await engine.info()


async def test_raw_text_and_empty_answers_decode_as_the_real_transport_decodes_them() -> None:
    answers: dict[str, Any] = {
        "/a": MockResponse(content=b"\x01\x02"),
        "/b": "plain text",
        "/c": None,
        "/d": MockResponse(status=201, json={"Id": "x"}),
    }
    transport = MockTransport(lambda request: answers.get(request.path))
    async with swarmnet.Engine(transport=transport) as engine:
        raw = await engine._request("GET", "a", raw=True)
        text = await engine._request("GET", "b")
        empty = await engine._request("POST", "c")
        created = await engine._request("POST", "d")
    assert (raw, text, empty, created) == (b"\x01\x02", "plain text", None, {"Id": "x"})


# -- event streams -------------------------------------------------------------------------


def recorded_events() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RECORDED_EVENTS]


async def read_all(engine: swarmnet.Engine, **options: Any) -> list[swarmnet.models.Event]:
    seen: list[swarmnet.models.Event] = []
    options.setdefault("until", 2_000_000_000)
    with anyio.fail_after(10):
        async with engine.events(**options) as events:
            async for event in events:
                seen.append(event)
    return seen


async def test_a_replayed_event_stream_comes_out_typed_and_in_order(
    engine: swarmnet.Engine,
) -> None:
    seen = await read_all(engine, type="network")

    expected = recorded_events()
    assert [(e.action, e.actor_id, e.time_nano) for e in seen] == [
        (x["Action"], x["Actor"]["ID"], x["timeNano"]) for x in expected
    ]
    assert all(isinstance(e, swarmnet.models.NetworkEvent) for e in seen)
    (request,) = [r for r in sent(engine) if r.path == "/events"]
    assert request.stream
    assert request.filters == {"type": ["network"]}
    assert request.params["until"] == "2000000000.000000000"


@pytest.mark.parametrize("cut", ["one byte at a time", "all in one chunk", "cut mid-event"])
async def test_events_come_out_the_same_however_the_stream_is_cut(
    engine: swarmnet.Engine, docker: FakeDocker, cut: str
) -> None:
    whole = b"".join(RECORDED_EVENTS[:12])
    if cut == "one byte at a time":
        docker.events = [whole[i : i + 1] for i in range(len(whole))]
    elif cut == "all in one chunk":
        docker.events = [whole]
    else:
        docker.events = [whole[i : i + 97] for i in range(0, len(whole), 97)]

    seen = await read_all(engine)

    assert [e.time_nano for e in seen] == [x["timeNano"] for x in recorded_events()[:12]]


async def test_a_garbage_line_is_a_gap_and_loses_no_event_around_it(
    engine: swarmnet.Engine, docker: FakeDocker
) -> None:
    garbage = b"<html>502 Bad Gateway</html>\n"
    docker.events = [RECORDED_EVENTS[0], garbage, *RECORDED_EVENTS[1:4]]
    expected = [x["timeNano"] for x in recorded_events()[:4]]

    with pytest.raises(swarmnet.EventsLost):
        await read_all(engine)
    kept = [e.time_nano for e in await read_all(engine, on_gap="ignore")]

    # The line that is not an event is dropped alone: every event before and after it
    # comes, once, in order (the gap says something may be missing all the same).
    assert kept == expected


async def test_an_async_iterator_answers_a_stream(docker: FakeDocker) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for line in RECORDED_EVENTS[:3]:
            await anyio.lowlevel.checkpoint()
            yield line

    async def handler(request: MockRequest) -> Any:
        if request.path == "/events":
            return trickle()
        return await docker(request)

    async with swarmnet.Engine(transport=MockTransport(handler)) as engine:
        seen = await read_all(engine)

    assert [e.time_nano for e in seen] == [x["timeNano"] for x in recorded_events()[:3]]


async def test_without_until_a_stream_stays_open_after_its_chunks_as_an_engines_does(
    engine: swarmnet.Engine, docker: FakeDocker
) -> None:
    docker.events = RECORDED_EVENTS[:2]
    seen: list[swarmnet.models.Event] = []

    with anyio.fail_after(10):
        async with engine.events() as events:
            seen.append(await events.__anext__())
            seen.append(await events.__anext__())
            with anyio.move_on_after(0.3) as waiting:
                await events.__anext__()

    assert waiting.cancelled_caught  # no third event, and no end of stream either
    assert [e.time_nano for e in seen] == [x["timeNano"] for x in recorded_events()[:2]]
    assert [r.path for r in sent(engine)].count("/events") == 1


async def test_a_watcher_dispatches_a_replayed_stream_in_engine_order_per_network(
    docker: FakeDocker,
) -> None:
    # Engine 20.10 reports every disconnect twice: the repeat is not news, and goes out once.
    wanted: list[dict[str, Any]] = []
    attached: set[tuple[str, str]] = set()
    for x in recorded_events():
        endpoint = (x["Actor"]["ID"], x["Actor"]["Attributes"].get("container", ""))
        if (x["Action"] == "connect" and endpoint not in attached) or (
            x["Action"] == "disconnect" and endpoint in attached
        ):
            attached ^= {endpoint}
            wanted.append(x)
    got: list[swarmnet.models.NetworkEvent] = []
    all_in = anyio.Event()
    transport = MockTransport(docker, name="node1")

    async with swarmnet.Engine(transport=transport, name="node1") as engine:
        watcher = swarmnet.Watcher(engine)

        @watcher.on(["connect", "disconnect"])
        def collect(event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
            got.append(event)
            if len(got) == len(wanted):
                all_in.set()

        with anyio.fail_after(10):
            async with watcher:
                await all_in.wait()

    def per_network(pairs: list[tuple[str, int]]) -> dict[str, list[int]]:
        grouped: dict[str, list[int]] = {}
        for network_id, nano in pairs:
            grouped.setdefault(network_id, []).append(nano)
        return grouped

    assert per_network([(e.network_id, e.time_nano) for e in got]) == per_network(
        [(x["Actor"]["ID"], x["timeNano"]) for x in wanted]
    )
    assert {e.node for e in got} == {"node1"}
    assert len(wanted) < len([x for x in recorded_events() if "connect" in x["Action"]])


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"scope": "galactic"}, "scope"),
        ({"since": 200, "until": 100}, "before"),
        ({"since": "yesterday"}, "not a time"),
        ({"action": [""]}, "non-empty"),
        ({"buffer_bytes": 10}, "buffer_bytes"),
    ],
)
async def test_bad_event_filters_are_refused_before_anything_is_sent(
    engine: swarmnet.Engine, options: dict[str, Any], complaint: str
) -> None:
    before = list(sent(engine))

    with pytest.raises(swarmnet.InvalidSpec, match=complaint):
        async with engine.events(**options):
            pass

    assert sent(engine) == before


async def test_a_refused_event_stream_raises_when_opened() -> None:
    def handler(request: MockRequest) -> Any:
        if request.path == "/events":
            return MockStream(status=400, message='invalid filter "bogus"')
        return None

    async with swarmnet.Engine(transport=MockTransport(handler)) as engine:
        with pytest.raises(swarmnet.EngineAPIError, match="invalid filter") as raised:
            async with engine.events(reconnect=False):
                pass
    assert raised.value.status == 400


# -- recordings ------------------------------------------------------------------------------


async def a_session(engine: swarmnet.Engine, prefix: str) -> list[Any]:
    """What a controller might do; its results are compared between record and replay."""
    spec = swarmnet.BridgeSpec(name=f"{prefix}net", labels={"t": "1"})
    created = await engine.networks.ensure(spec)
    again = await engine.networks.ensure(spec)
    with pytest.raises(swarmnet.NetworkNotFound):
        await engine.networks.get(f"{prefix}missing")
    listed = await engine.networks.list(name=f"{prefix}net")
    await engine.networks.remove(f"{prefix}net")
    return [created.outcome, again.outcome, again.network, listed]


async def test_a_recording_replays_the_same_answers_in_order(
    tmp_path: Path, docker: FakeDocker
) -> None:
    path = tmp_path / "session.jsonl"
    recorder = RecordingTransport(MockTransport(docker), path)
    async with swarmnet.Engine(transport=recorder) as engine:
        recorded = await a_session(engine, "t-")
        with pytest.raises(swarmnet.errors.SwarmError):
            await engine.swarm.join("198.18.0.2:2377", FAKE_TOKEN)
        events = await read_all(engine)

    replay = ReplayTransport.from_file(path)
    async with swarmnet.Engine(transport=replay) as engine:
        replayed = await a_session(engine, "t-")
        with pytest.raises(swarmnet.errors.SwarmError):
            await engine.swarm.join("198.18.0.2:2377", FAKE_TOKEN)
        replayed_events = await read_all(engine)
        with pytest.raises(NoRecordedAnswer, match="every recorded answer") as used_up:
            await engine.networks.remove("t-net")
        with pytest.raises(NoRecordedAnswer, match="never sent it"):
            await engine.containers.list()

    assert replayed == recorded
    assert [e.time_nano for e in replayed_events] == [e.time_nano for e in events]
    assert replay.unused == ()
    assert (used_up.value.method, used_up.value.path) == ("GET", "/networks/t-net")
    assert FAKE_TOKEN not in path.read_text()
    assert "SWMTKN-1-**********" in path.read_text()


async def test_from_recording_is_the_same_replay(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        json.dumps(
            {
                "method": "GET",
                "path": "/info",
                "params": {},
                "status": 200,
                "answer": {"json": {"Name": "recorded"}},
            }
        )
        + "\n\n"
    )
    transport = MockTransport.from_recording(path)
    async with swarmnet.Engine(transport=transport) as engine:
        assert (await engine.info()).name == "recorded"
        with pytest.raises(NoRecordedAnswer, match="used already"):
            await engine.info()
    assert isinstance(transport, ReplayTransport)


async def test_a_session_recorded_on_a_lab_engine_replays_in_the_fast_tier() -> None:
    # Recorded from lab node1 (dockerd 20.10.24) by wrapping its transport in a
    # RecordingTransport and running a_session(engine, "rec-") once.
    transport = ReplayTransport.from_file(DATA / "recorded_bridge_session.jsonl")
    async with swarmnet.Engine(transport=transport, name="node1") as engine:
        created, again, network, listed = await a_session(engine, "rec-")

    assert (created, again) == (
        swarmnet.models.EnsureOutcome.CREATED,
        swarmnet.models.EnsureOutcome.UNCHANGED,
    )
    assert (network.name, network.driver, network.labels) == ("rec-net", "bridge", {"t": "1"})
    assert network.ipam.config[0].subnet is not None
    assert listed == (network,)
    assert engine.api_version == "1.41"
    # A bridge create waits until the oldest network of its name has settled, reading
    # the engine's clock (/info) and the list again while it is young; replayed later,
    # it is old at once. Every write was replayed.
    assert {(e["method"], e["path"]) for e in transport.unused} <= {
        ("GET", "/info"),
        ("GET", "/networks"),
    }


@pytest.mark.lab
async def test_a_session_recorded_on_a_real_engine_replays_without_it(
    lab: Lab, tmp_path: Path
) -> None:
    path = tmp_path / "real.jsonl"
    prefix = f"rec{tmp_path.name[-6:]}-"
    since = time.time() - 1
    recorder = RecordingTransport.for_url(lab.nodes[0].docker_host, path)
    async with swarmnet.Engine(transport=recorder, name="node1") as engine:
        recorded = await a_session(engine, prefix)
        until = time.time() + 1
        events = await read_all(engine, type="network", since=since, until=until)

    async with swarmnet.Engine(transport=ReplayTransport.from_file(path), name="node1") as engine:
        replayed = await a_session(engine, prefix)
        replayed_events = await read_all(engine, type="network", since=since, until=until)

    assert replayed == recorded
    assert recorded[:2] == [
        swarmnet.models.EnsureOutcome.CREATED,
        swarmnet.models.EnsureOutcome.UNCHANGED,
    ]
    mine = [
        (e.action, e.name)
        for e in events
        if isinstance(e, swarmnet.models.NetworkEvent) and e.name == f"{prefix}net"
    ]
    assert mine == [
        (swarmnet.models.NetworkAction.CREATE, f"{prefix}net"),
        (swarmnet.models.NetworkAction.DESTROY, f"{prefix}net"),
    ]
    assert replayed_events == events
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert entries[0]["path"] == "/version"
    assert entries[0]["answer"]["json"]["ApiVersion"] == "1.41"
    assert [e["ended"] for e in entries if e.get("stream")] == [True]


# -- the example of a user's unit test -------------------------------------------------------


async def test_the_unit_test_example_runs_and_passes(capsys: pytest.CaptureFixture[str]) -> None:
    # In this process: what `python examples/08_unit_test_a_controller.py` runs.
    path = ROOT / "examples" / "08_unit_test_a_controller.py"
    spec = importlib.util.spec_from_file_location("example_08", path)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    await example.main()

    assert capsys.readouterr().out.splitlines()[-1] == "4 tests passed"


# -- the two tiers: tests that need the lab are marked so ----------------------------------------


def test_every_collected_test_that_uses_the_lab_is_marked_lab(
    request: pytest.FixtureRequest,
) -> None:
    # Holds in either tier: without conftest's hook, -m "not lab" would keep them here.
    unmarked = [
        item.nodeid
        for item in request.session.items
        if "lab" in getattr(item, "fixturenames", ()) and item.get_closest_marker("lab") is None
    ]
    assert unmarked == []


INNER_TESTS = """
import pytest


@pytest.fixture(scope="module", autouse=False)
def cleanup_after(lab_nodes):
    yield


def test_pure():
    assert True


def test_asks_for_the_lab(lab):
    pass


def test_through_a_conftest_fixture(swarm):
    pass


def test_through_a_fixture_of_its_own(cleanup_after):
    pass


def test_asks_at_run_time(request):
    request.getfixturevalue("lab")
"""


def test_the_fast_tier_runs_only_tests_that_need_no_lab(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests_dir = Path(__file__).parent
    pytester.makeconftest((tests_dir / "conftest.py").read_text())
    pytester.makepyfile(test_tiers=INNER_TESTS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(tests_dir)]))
    # An invalid lab name: a lab brought up anyway would fail with its own message.
    args = ("-p", "swarmnet.lab.pytest_plugin", "--lab-name", "Not-Valid", "-p", "no:cacheprovider")

    fast = pytester.runpytest_inprocess(*args, "-m", "not lab")
    lab_tier = pytester.runpytest_inprocess(*args, "-m", "lab", "--collect-only", "-q")

    fast.assert_outcomes(passed=1, failed=1, deselected=3)
    fast.stdout.fnmatch_lines(["*test_asks_at_run_time asked for the lab at run time but is not*"])
    fast.stdout.no_fnmatch_line("*could not be brought up*")
    lab_tier.stdout.fnmatch_lines(
        [
            "test_tiers.py::test_asks_for_the_lab",
            "test_tiers.py::test_through_a_conftest_fixture",
            "test_tiers.py::test_through_a_fixture_of_its_own",
        ]
    )
