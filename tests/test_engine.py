"""The engine client against real engines: connection, negotiation, typed answers, errors."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

import swarmnet
from swarmnet.lab import Lab

pytestmark = pytest.mark.anyio


@pytest.mark.lab
async def test_negotiates_the_engines_version_and_reads_typed_info(lab: Lab) -> None:
    node = lab.nodes[0]
    async with swarmnet.Engine(node.docker_host, name=node.name) as engine:
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
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", lab.nodes[1].docker_host)
    async with swarmnet.Engine() as engine:
        assert engine.url == lab.nodes[1].docker_host
        assert (await engine.info()).name == lab.nodes[1].name


@pytest.mark.lab
async def test_a_pinned_version_outside_what_the_engine_speaks_is_refused(lab: Lab) -> None:
    with pytest.raises(swarmnet.UnsupportedEngine, match=r"9\.99"):
        async with swarmnet.Engine(lab.nodes[0].docker_host, api_version="9.99"):
            pass


@pytest.mark.lab
async def test_missing_objects_and_conflicts_map_to_typed_errors(lab: Lab) -> None:
    async with swarmnet.Engine(lab.nodes[0].docker_host) as engine:
        with pytest.raises(swarmnet.NotFound) as not_found:
            await engine._transport.request("GET", f"networks/nope-{uuid.uuid4().hex}")
        assert not_found.value.status == 404
        assert lab.nodes[0].docker_host in str(not_found.value)

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
async def test_open_engines_opens_a_set_concurrently_in_order(lab: Lab) -> None:
    hosts = [node.docker_host for node in lab.nodes]
    async with swarmnet.open_engines(hosts) as engines:
        names = [(await engine.info()).name for engine in engines]
    assert names == [node.name for node in lab.nodes]
    assert all("closed" in repr(engine) for engine in engines)


@pytest.mark.lab
async def test_open_engines_closes_the_others_when_one_is_unreachable(
    lab: Lab, tmp_path: Path
) -> None:
    good = swarmnet.Engine(lab.nodes[0].docker_host)
    with pytest.raises(swarmnet.EngineUnreachable):
        async with swarmnet.open_engines([good, f"unix://{tmp_path}/none.sock"]):
            pass
    assert "closed" in repr(good)
