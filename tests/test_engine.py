"""The engine client against real engines: connection, negotiation, typed answers, errors.

The lab tests run twice: through each node's unix socket, and over the network to its
TLS listener (``tcp://<address>:2376``, ``--tlsverify``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

import swarmnet
from swarmnet.lab import Lab, LabNode

pytestmark = pytest.mark.anyio

#: Opens a lab node's engine one way or the other (see the ``via`` fixture).
Connect = Callable[..., swarmnet.Engine]


@pytest.fixture(params=["unix", "tls"])
def via(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the lab tests reach an engine: its unix socket, or TLS over the lab bridge."""
    for name in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    return str(request.param)


@pytest.fixture
def connect(via: str) -> Connect:
    """``connect(node, **options)``: an unopened Engine for ``node``, the ``via`` way."""

    def make(
        node: LabNode, *, name: str | None = None, api_version: str | None = None
    ) -> swarmnet.Engine:
        if via == "unix":
            return swarmnet.Engine(node.docker_host, name=name, api_version=api_version)
        assert node.tls_host is not None, "the test lab is brought up with tls=True"
        assert node.cert_path is not None
        tls = swarmnet.TLSConfig.from_cert_path(node.cert_path)
        return swarmnet.Engine(node.tls_host, tls=tls, name=name, api_version=api_version)

    return make


def address_of(node: LabNode, via: str) -> str:
    return node.docker_host if via == "unix" else str(node.tls_host)


@pytest.mark.lab
async def test_negotiates_the_engines_version_and_reads_typed_info(
    lab: Lab, connect: Connect
) -> None:
    node = lab.nodes[0]
    async with connect(node, name=node.name) as engine:
        version = await engine.version()
        info = await engine.info()
        assert await engine.ping() is True
    # The lower of the engine's newest and swarmnet's newest (1.47): never newer than
    # what the engine speaks.
    engine_newest = tuple(int(part) for part in version.api_version.split("."))
    expected = min(engine_newest, (1, 47))
    assert engine.api_version == f"{expected[0]}.{expected[1]}"
    assert isinstance(info, swarmnet.models.EngineInfo)
    assert info.name == node.name
    assert info.swarm.local_node_state in set(swarmnet.models.LocalNodeState)
    with pytest.raises(Exception, match="frozen"):
        info.name = "other"  # type: ignore[misc]


@pytest.mark.lab
async def test_docker_host_is_read_from_the_environment(
    lab: Lab, via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = lab.nodes[1]
    monkeypatch.setenv("DOCKER_HOST", address_of(node, via))
    if via == "tls":
        monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
        monkeypatch.setenv("DOCKER_CERT_PATH", str(node.cert_path))
    async with swarmnet.Engine() as engine:
        assert engine.url == address_of(node, via)
        assert (await engine.info()).name == node.name


@pytest.mark.lab
async def test_a_pinned_version_outside_what_the_engine_speaks_is_refused(
    lab: Lab, connect: Connect
) -> None:
    with pytest.raises(swarmnet.errors.UnsupportedEngine, match=r"9\.99"):
        async with connect(lab.nodes[0], api_version="9.99"):
            pass


@pytest.mark.lab
async def test_missing_objects_and_conflicts_map_to_typed_errors(
    lab: Lab, via: str, connect: Connect
) -> None:
    async with connect(lab.nodes[0]) as engine:
        with pytest.raises(swarmnet.NotFound) as not_found:
            await engine._transport.request("GET", f"networks/nope-{uuid.uuid4().hex}")
        assert not_found.value.status == 404
        assert address_of(lab.nodes[0], via) in str(not_found.value)

        name = f"conflict-{uuid.uuid4().hex[:8]}"
        body = {"Image": "swarmnet-lab/busybox", "Cmd": ["true"]}
        created = await engine._transport.request(
            "POST", "containers/create", params={"name": name}, json_body=body
        )
        try:
            with pytest.raises(swarmnet.Conflict) as conflict:
                await engine._transport.request(
                    "POST", "containers/create", params={"name": name}, json_body=body
                )
            assert conflict.value.status == 409
            assert name in conflict.value.explanation
        finally:
            await engine._transport.request(
                "DELETE", f"containers/{created['Id']}", params={"force": True}
            )


async def test_an_unreachable_socket_says_where_and_what_to_check(tmp_path: Path) -> None:
    address = f"unix://{tmp_path}/no-engine.sock"
    with pytest.raises(swarmnet.EngineUnreachable) as excinfo:
        async with swarmnet.Engine(address):
            pass
    message = str(excinfo.value)
    assert address in message
    assert "dockerd is running" in message
    assert excinfo.value.engine == address


async def test_calls_on_a_client_that_is_not_open_are_refused() -> None:
    engine = swarmnet.Engine("unix:///nowhere.sock")
    with pytest.raises(swarmnet.EngineError, match="async with"):
        await engine.info()


# A real engine cannot be made to announce a newer API than it has, so this one test
# uses a stand-in server on a unix socket that claims API 1.99 and records the paths.
@pytest.fixture
async def newer_engine(tmp_path: Path) -> AsyncIterator[tuple[str, list[str]]]:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path == "/version":
            return web.json_response({"ApiVersion": "1.99", "MinAPIVersion": "1.24"})
        return web.json_response({"ID": "x", "Name": "future"})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = tmp_path / "future.sock"
    site = web.UnixSite(runner, str(sock))
    await site.start()
    try:
        yield f"unix://{sock}", seen
    finally:
        await runner.cleanup()


async def test_never_sends_a_newer_version_than_swarmnet_knows(
    newer_engine: tuple[str, list[str]],
) -> None:
    address, seen = newer_engine
    async with swarmnet.Engine(address) as engine:
        info = await engine.info()
    assert engine.api_version == "1.47"
    assert info.name == "future"
    assert seen == ["/version", "/v1.47/info"]


@pytest.mark.lab
async def test_open_engines_opens_a_set_concurrently_in_order(lab: Lab, connect: Connect) -> None:
    async with swarmnet.open_engines([connect(node) for node in lab.nodes]) as engines:
        names = [(await engine.info()).name for engine in engines]
    assert names == [node.name for node in lab.nodes]
    assert all("closed" in repr(engine) for engine in engines)


@pytest.mark.lab
async def test_open_engines_closes_the_others_when_one_is_unreachable(
    lab: Lab, connect: Connect, tmp_path: Path
) -> None:
    good = connect(lab.nodes[0])
    with pytest.raises(swarmnet.EngineUnreachable):
        async with swarmnet.open_engines([good, f"unix://{tmp_path}/none.sock"]):
            pass
    assert "closed" in repr(good)
