"""Standalone containers on networks: run, list, start/stop/wait, exec, remove.

Everything runs on lab node1 with the lab's busybox image; each test names what it
makes with a unique prefix and the tracker removes it whatever the outcome.
"""

from __future__ import annotations

import ast
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest
from _containers import Tracker, unique_prefix

import swarmnet
from swarmnet.lab import LAB_IMAGE, Lab

pytestmark = [pytest.mark.anyio, pytest.mark.lab]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def prefix() -> str:
    return unique_prefix("ct")


def _short(containers: Iterable[swarmnet.models.Container], prefix: str) -> set[str]:
    return {c.name.removeprefix(prefix) for c in containers}


async def test_run_on_a_user_bridge_with_an_alias_then_exec_and_remove(lab: Lab) -> None:
    prefix = f"ct-{uuid.uuid4().hex[:6]}"
    async with lab.nodes[0].engine() as engine:
        await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}-br"))
        try:
            server = await engine.containers.run(
                LAB_IMAGE,
                ["sleep", "300"],
                name=f"{prefix}-server",
                networks=[swarmnet.EndpointConfig(network=f"{prefix}-br", aliases=("db",))],
            )
            client = await engine.containers.run(
                LAB_IMAGE, ["sleep", "300"], name=f"{prefix}-client", networks=[f"{prefix}-br"]
            )
            assert server.running
            assert server.name == f"{prefix}-server"
            assert "db" in server.networks[f"{prefix}-br"].aliases
            assert server.networks[f"{prefix}-br"].ip_address is not None

            by_alias = await engine.containers.exec(client.id, "ping", "-c", "1", "-W", "2", "db")
            assert by_alias.ok, by_alias.output
            missing = await engine.containers.exec(client.id, "cat", "/no/such/file")
            assert missing.exit_code != 0
            assert "No such file" in missing.output
        finally:
            for name in (f"{prefix}-client", f"{prefix}-server"):
                await engine.containers.remove(name)
            await engine.networks.remove(f"{prefix}-br")
        with pytest.raises(swarmnet.NotFound):
            await engine.containers.get(f"{prefix}-server")


async def test_a_container_on_a_missing_network_leaves_nothing_behind(lab: Lab) -> None:
    name = f"ct-{uuid.uuid4().hex[:6]}"
    async with lab.nodes[0].engine() as engine:
        with pytest.raises(swarmnet.NotFound):
            await engine.containers.run(
                LAB_IMAGE, ["sleep", "5"], name=name, networks=[f"{name}-nonet"]
            )
        with pytest.raises(swarmnet.NotFound):
            await engine.containers.get(name)
        assert await engine.containers.list(name=name, all=True) == ()


async def test_list_filters_by_labels_network_and_status(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    net = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}net"))
    mine = {"run": prefix}
    await tracker.run(engine, f"{prefix}web", network=net.name, labels={**mine, "role": "web"})
    await tracker.run(engine, f"{prefix}db", network=net.name, labels={**mine, "role": "db"})
    await tracker.run(engine, f"{prefix}loner", labels=mine)
    await tracker.run(engine, f"{prefix}idle", network=net.name, labels=mine, start=False)
    done = await tracker.run(engine, f"{prefix}done", labels=mine, cmd=["true"])
    assert await engine.containers.wait(done, timeout=30) == 0
    containers = engine.containers

    assert _short(await containers.list(labels=mine), prefix) == {"web", "db", "loner"}
    everything = {"web", "db", "loner", "idle", "done"}
    assert _short(await containers.list(labels=mine, all=True), prefix) == everything
    assert _short(await containers.list(labels={**mine, "role": "web"}), prefix) == {"web"}
    assert _short(await containers.list(labels={**mine, "role": None}), prefix) == {"web", "db"}
    assert _short(await containers.list(labels=[f"run={prefix}", "role=db"]), prefix) == {"db"}
    assert _short(await containers.list(labels={"run": f"{prefix}x"}, all=True), prefix) == set()

    assert _short(await containers.list(network=net.name), prefix) == {"web", "db"}
    assert _short(await containers.list(network=net.id), prefix) == {"web", "db"}
    # A container that never ran is on its network by name only (it has no endpoint yet).
    on_net = await containers.list(network=net.name, all=True)
    assert _short(on_net, prefix) == {"web", "db", "idle"}

    assert _short(await containers.list(labels=mine, status="exited"), prefix) == {"done"}
    assert _short(await containers.list(labels=mine, status="created"), prefix) == {"idle"}
    running = await containers.list(labels=mine, status="running")
    assert _short(running, prefix) == {"web", "db", "loner"}


async def test_listed_containers_carry_their_state_labels_and_networks_as_get_does(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    net = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}net"))
    mine = {"run": prefix}
    await tracker.run(engine, f"{prefix}web", network=net.name, labels={**mine, "role": "web"})
    await tracker.run(engine, f"{prefix}loner", labels=mine)
    await tracker.run(engine, f"{prefix}idle", network=net.name, labels=mine, start=False)
    done = await tracker.run(engine, f"{prefix}done", labels=mine, cmd=["true"])
    await engine.containers.wait(done, timeout=30)

    listed = {c.name: c for c in await engine.containers.list(labels=mine, all=True)}
    assert set(listed) == {f"{prefix}{n}" for n in ("web", "loner", "idle", "done")}
    for name, item in listed.items():
        got = await engine.containers.get(name)
        assert (item.id, item.name, item.image, item.running, item.state, item.labels) == (
            got.id,
            got.name,
            got.image,
            got.running,
            got.state,
            got.labels,
        )
        assert set(item.networks) == set(got.networks)
        for network, settings in item.networks.items():
            seen = got.networks[network]
            assert settings.network_id == seen.network_id
            assert settings.ip_address == seen.ip_address
            assert settings.mac_address == seen.mac_address

    web = listed[f"{prefix}web"]
    assert web.running
    assert web.state == "running"
    assert web.image == LAB_IMAGE
    assert web.labels == {"run": prefix, "role": "web"}
    assert set(web.networks) == {net.name}
    assert web.networks[net.name].network_id == net.id
    assert web.networks[net.name].ip_address is not None
    assert set(listed[f"{prefix}loner"].networks) == {"bridge"}
    idle = listed[f"{prefix}idle"]
    assert (idle.running, idle.state) == (False, "created")
    assert idle.networks[net.name].ip_address is None
    assert (listed[f"{prefix}done"].running, listed[f"{prefix}done"].state) == (False, "exited")


async def test_list_by_name_matches_the_whole_name_only(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    for suffix in ("web", "web-2", "xweb", "w.b", "wxb"):
        await tracker.run(engine, f"{prefix}{suffix}", start=False)
    containers = engine.containers

    assert _short(await containers.list(name=f"{prefix}web", all=True), prefix) == {"web"}
    assert _short(await containers.list(name=f"/{prefix}web", all=True), prefix) == {"web"}
    # The engine reads the name as a pattern: "." must not stand for any character.
    assert _short(await containers.list(name=f"{prefix}w.b", all=True), prefix) == {"w.b"}
    assert await containers.list(name=f"{prefix}we", all=True) == ()
    # Created, never started: only listed with all (or a status).
    assert await containers.list(name=f"{prefix}web") == ()
    assert _short(await containers.list(name=f"{prefix}web", status="created"), prefix) == {"web"}


async def test_stop_start_and_wait(engine: swarmnet.Engine, prefix: str, tracker: Tracker) -> None:
    container = await tracker.run(engine, f"{prefix}life", cmd=["sleep", "300"])
    with pytest.raises(swarmnet.errors.EngineTimeout):
        await engine.containers.wait(container, timeout=0.5)
    assert (await engine.containers.get(container)).running, "a timed-out wait stops nothing"

    # sleep as PID 1 ignores SIGTERM: with no grace the engine kills it (128 + 9).
    stopped = await engine.containers.stop(container, grace=0)
    assert (stopped.running, stopped.state) == (False, "exited")
    assert await engine.containers.wait(container) == 137
    assert (await engine.containers.stop(container)).state == "exited", "stopping twice is fine"

    started = await engine.containers.start(container)
    assert (started.running, started.state) == (True, "running")
    assert (await engine.containers.start(container)).running, "starting twice is fine"
    assert (await engine.containers.exec(container, "true")).ok

    with pytest.raises(swarmnet.NotFound):
        await engine.containers.start(f"{prefix}nobody")
    with pytest.raises(swarmnet.NotFound):
        await engine.containers.stop(f"{prefix}nobody")
    with pytest.raises(swarmnet.NotFound):
        await engine.containers.wait(f"{prefix}nobody")


async def test_exec_in_a_stopped_container_is_a_conflict(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    container = await tracker.run(engine, f"{prefix}off", start=False)
    with pytest.raises(swarmnet.Conflict):
        await engine.containers.exec(container, "true")


async def test_bad_input_is_refused_before_anything_is_sent(lab: Lab) -> None:
    sent: list[tuple[str, str]] = []
    async with swarmnet.Engine(
        lab.nodes[0].docker_host, on_request=lambda method, path: sent.append((method, path))
    ) as engine:
        sent.clear()
        containers = engine.containers
        with pytest.raises(swarmnet.InvalidSpec, match="unknown container status"):
            await containers.list(status="sleeping")  # type: ignore[arg-type]
        with pytest.raises(swarmnet.InvalidSpec, match="network"):
            await containers.list(network="")
        for bad in ("", "x", "-web", "has space", "a/b"):
            with pytest.raises(swarmnet.InvalidSpec, match="invalid container name"):
                await containers.list(name=bad)
            with pytest.raises(swarmnet.InvalidSpec, match="invalid container name"):
                await containers.run(LAB_IMAGE, ["true"], name=bad)
        with pytest.raises(swarmnet.InvalidSpec, match="image"):
            await containers.run("", ["true"])
        with pytest.raises(swarmnet.InvalidSpec, match="grace"):
            await containers.stop("anything", grace=-1)
        assert sent == []


def test_container_models_parse_recorded_engine_json() -> None:
    listed = swarmnet.models.Container.from_list_item(
        {
            "Id": "ab" * 32,
            "Names": ["/other/alias", "/web"],
            "Image": "swarmnet-lab/busybox:latest",
            "State": "paused",
            "Labels": None,
            "NetworkSettings": {
                "Networks": {
                    "front": {
                        "IPAMConfig": None,
                        "Links": None,
                        "Aliases": None,
                        "NetworkID": "",
                        "EndpointID": "",
                        "Gateway": "",
                        "IPAddress": "",
                        "IPPrefixLen": 0,
                        "MacAddress": "",
                        "DriverOpts": None,
                    }
                }
            },
        }
    )
    assert listed.name == "web", "a link's name is not the container's own"
    assert listed.running, "a paused container runs, as inspect's State.Running says"
    assert listed.labels == {}
    assert listed.networks["front"].ip_address is None
    assert listed.networks["front"].aliases == ()
    from swarmnet._containers import api

    assert api.Container is swarmnet.models.Container
    assert api.ExecResult is swarmnet.models.ExecResult


def test_the_attachable_overlay_example_uses_only_public_names() -> None:
    # A controller written from the example must not need private calls.
    tree = ast.parse((EXAMPLES / "03_attachable_overlay.py").read_text())
    private = sorted(
        {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        }
    )
    assert private == []
