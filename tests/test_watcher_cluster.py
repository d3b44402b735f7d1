"""One ``swarmnet.Watcher`` over every node of a real 3-node swarm.

The swarm comes from the ``swarm_cluster`` fixture (node1 manager, node2 and node3
workers). Each test makes its activity with raw engine calls, under a unique name
prefix removed afterwards on every node; a test that changes roles restores them.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from _containers import unique_prefix
from _netevents import (
    Collector,
    clean_engine,
    create_bridge,
    create_overlay,
    disconnect,
    remove_network,
    run_container,
    wait_converged,
    wait_for,
)

import swarmnet
from swarmnet.lab import Lab, LabNode
from swarmnet.models import EventScope, NetworkAction

pytestmark = [pytest.mark.anyio, pytest.mark.lab]

HERE = Path(__file__).resolve().parent
FAST = swarmnet.WatcherSettings(
    reconnect=swarmnet.ReconnectSettings(initial_delay=0.2, max_delay=1.0, liveness_interval=1.0),
    stop_grace=1.0,
)


@pytest.fixture
def nodes(lab: Lab, swarm_cluster: swarmnet.Cluster) -> list[LabNode]:
    return list(lab.nodes[:3])


@pytest.fixture
async def engines(nodes: list[LabNode]) -> AsyncIterator[list[swarmnet.Engine]]:
    async with AsyncExitStack() as stack:
        engines = [await stack.enter_async_context(node.engine()) for node in nodes]
        await settled(engines)
        yield engines


async def settled(engines: list[swarmnet.Engine], within: float = 20) -> None:
    """Wait until every node of the fresh swarm has its ``docker_gwbridge``.

    A node makes it when its ingress sandbox comes up, a moment after joining, and the
    engine reports no event for it (checked on dockerd 20.10: only ``create ingress``
    comes). A watcher started before that cannot know the bridge until a re-read, so
    the tests, which compare the watcher's cache with the engines, start after it. A
    node that has not made it by then (seen once in a full run, after earlier modules
    took swarms apart on it) gets it made the way Docker documents, with the defaults.
    """

    async def has_gwbridge(engine: swarmnet.Engine) -> bool:
        return bool(await engine.networks.list(name="docker_gwbridge"))

    with anyio.move_on_after(within):
        for engine in engines:
            while not await has_gwbridge(engine):  # noqa: ASYNC110 - polling the engine
                await anyio.sleep(0.1)
    for engine in engines:
        if not await has_gwbridge(engine):
            await swarmnet.create_gwbridge(engine)


@pytest.fixture
async def prefix(nodes: list[LabNode]) -> AsyncIterator[str]:
    prefix = unique_prefix("ec")
    try:
        yield prefix
    finally:
        # Containers first on every node, then the networks (overlays live on node1).
        for node in reversed(nodes):
            await clean_engine(node.docker_host, prefix)


async def test_each_nodes_events_arrive_tagged_with_that_node(
    engines: list[swarmnet.Engine], prefix: str
) -> None:
    watcher = swarmnet.Watcher(*engines, settings=FAST)
    seen = Collector()
    watcher.on("create", driver="bridge")(seen)
    async with watcher:
        made = {
            engine.name: await create_bridge(engine, f"{prefix}{engine.name}") for engine in engines
        }
        await wait_for(lambda: len(seen.events) == 3, what="a create from every node")
        for engine in engines:
            await wait_converged(watcher, engine)
    assert {(e.node, e.network_id, e.name) for e in seen.events} == {
        (node, network_id, f"{prefix}{node}") for node, network_id in made.items()
    }
    assert {s.node for s in watcher.stats().nodes} == {"node1", "node2", "node3"}


@pytest.fixture
async def two_managers(engines: list[swarmnet.Engine]) -> AsyncIterator[None]:
    manager, second = engines[0], engines[1]
    await manager.nodes.promote("node2")
    try:
        with anyio.fail_after(30):
            while not (await second.info()).swarm.is_manager:  # noqa: ASYNC110
                await anyio.sleep(0.2)
        yield
    finally:
        await manager.nodes.demote("node2")
        with anyio.fail_after(30):
            while (await second.info()).swarm.is_manager:  # noqa: ASYNC110
                await anyio.sleep(0.2)


@pytest.mark.usefixtures("two_managers")
async def test_an_overlay_across_nodes_and_swarm_events_reported_by_two_managers_once(
    engines: list[swarmnet.Engine], prefix: str
) -> None:
    watcher = swarmnet.Watcher(*engines, settings=FAST)
    seen = Collector()
    watcher.add(seen)
    name = f"{prefix}ov"
    async with watcher:
        network_id = await create_overlay(engines[0], name)
        containers = {
            engine.name: await run_container(engine, f"{prefix}{engine.name}", network=name)
            for engine in engines[1:]
        }
        await wait_for(
            lambda: (
                {e.node for e in seen.about(name) if e.action == "connect"} >= {"node2", "node3"}
            ),
            what="connects on node2 and node3",
        )
        for engine in engines[1:]:
            await disconnect(engine, network_id, containers[engine.name])
        await wait_for(
            lambda: (
                {e.node for e in seen.about(name) if e.action == "destroy"} >= {"node2", "node3"}
            ),
            what="the overlay leaving node2 and node3",
        )
        await remove_network(engines[0], network_id)
        await wait_for(
            lambda: any(e.action == "remove" for e in seen.about(name)), what="the swarm remove"
        )
        # Both managers report the create and the remove; one report of each is news.
        await wait_for(
            lambda: sum(n.swarm_duplicates for n in watcher.stats().nodes) >= 2,
            what="the other manager's reports",
        )

    swarm = [e for e in seen.about(name) if e.scope is EventScope.SWARM]
    assert [str(e.action) for e in swarm if e.action != NetworkAction.UPDATE] == [
        "create",
        "remove",
    ]
    for worker in ("node2", "node3"):
        local = [str(e.action) for e in seen.about(name) if e.node == worker and e.scope == "local"]
        assert local == ["create", "connect", "disconnect", "destroy"], worker
        connect = next(e for e in seen.about(name) if e.node == worker and e.action == "connect")
        assert connect.container_id == containers[worker]
        assert connect.driver == "overlay"


async def test_a_node_that_goes_away_stops_nothing_and_is_followed_when_back(
    nodes: list[LabNode], engines: list[swarmnet.Engine], prefix: str
) -> None:
    watcher = swarmnet.Watcher(*engines, settings=FAST)
    seen = Collector()
    watcher.on("create")(seen)
    node3 = nodes[2]
    async with watcher:
        await node3.stop()
        try:
            await wait_for(lambda: not watcher.stats().node("node3").connected, what="node3 gone")
            await create_bridge(engines[0], f"{prefix}while")
            await wait_for(lambda: bool(seen.about(f"{prefix}while")), what="node1 still followed")
        finally:
            await node3.start()
        await wait_for(lambda: watcher.stats().node("node3").resyncs >= 1, 60, "node3 re-read")
        await create_bridge(engines[2], f"{prefix}back")
        await wait_for(lambda: bool(seen.about(f"{prefix}back")), what="node3 followed again")
        await wait_converged(watcher, engines[2])
    assert seen.about(f"{prefix}back")[0].node == "node3"
    stats = watcher.stats().node("node3")
    assert stats.reconnects >= 1
    assert stats.gaps >= 1  # a restarted daemon remembers no events


@pytest.fixture
async def node3_over_tcp(nodes: list[LabNode]) -> AsyncIterator[str]:
    """node3's engine served over TCP inside its own network namespace.

    Lab engines listen on unix sockets, which a network cut does not touch; this relay
    (tests/_netevents.py) puts node3's engine on its lab address, so cutting node3 off
    the lab network cuts the watcher off node3 as a remote engine would be.
    """
    node = nodes[2]
    socket = node.docker_host.removeprefix("unix://")
    argv = ["nsenter", f"--net=/var/run/netns/{node.netns}", "--", sys.executable]
    argv += [str(HERE / "_netevents.py"), node.address, "2375", socket]
    async with await anyio.open_process(argv) as relay:
        try:
            assert relay.stdout is not None
            with anyio.fail_after(20):
                assert b"listening" in await relay.stdout.receive()
            yield f"tcp://{node.address}:2375"
        finally:
            relay.terminate()
            await relay.wait()


async def test_a_node_cut_off_and_healed_is_followed_again_with_nothing_lost(
    nodes: list[LabNode], engines: list[swarmnet.Engine], node3_over_tcp: str, prefix: str
) -> None:
    node3 = nodes[2]
    async with swarmnet.Engine(node3_over_tcp, name="node3", timeout=5) as remote:
        watcher = swarmnet.Watcher(engines[0], engines[1], remote, settings=FAST)
        seen = Collector()
        watcher.on("create")(seen)
        async with watcher:
            await create_bridge(engines[2], f"{prefix}before")
            await wait_for(lambda: bool(seen.about(f"{prefix}before")), what="the first create")
            await node3.cut()
            try:
                await wait_for(lambda: not watcher.stats().node("node3").connected, 20, "the cut")
                # Made while the watcher cannot reach node3 (through its unix socket).
                await create_bridge(engines[2], f"{prefix}during")
                await create_bridge(engines[0], f"{prefix}elsewhere")
                await wait_for(lambda: bool(seen.about(f"{prefix}elsewhere")), what="node1")
                assert not seen.about(f"{prefix}during")
            finally:
                await node3.heal()
            await wait_for(lambda: bool(seen.about(f"{prefix}during")), 45, "the replay")
            stats = watcher.stats().node("node3")
    assert [e.node for e in seen.about(f"{prefix}during")] == ["node3"]
    assert stats.reconnects >= 1
    assert stats.gaps == 0  # the engine still held every event: replayed, none synthesized
    # The engine's own networks may come and go on a healed node (ingress is re-made
    # when the node rejoins the overlay mesh); the test's own networks came once each.
    names = [e.name for e in seen.events if e.node == "node3" and e.name.startswith(prefix)]
    assert names == [f"{prefix}before", f"{prefix}during"]


async def test_a_tls_engine_cut_for_30_s_and_healed_is_followed_again_and_its_cache_is_true(
    nodes: list[LabNode], engines: list[swarmnet.Engine], prefix: str
) -> None:
    """Over TLS the watcher reaches node3 at its lab address (tcp://…:2376, --tlsverify),
    so taking node3 off the lab network cuts the watcher's own connection, as it would
    for a remote engine, and for as long as a real outage might last."""
    node3 = nodes[2]
    async with node3.engine(tls=True, timeout=5) as remote:
        assert remote.url.endswith(":2376"), remote.url
        watcher = swarmnet.Watcher(engines[0], engines[1], remote, settings=FAST)
        seen = Collector()
        watcher.on("create")(seen)
        async with watcher:
            await create_bridge(engines[2], f"{prefix}before")
            await wait_for(lambda: bool(seen.about(f"{prefix}before")), what="the first create")
            await node3.cut()
            cut_at = anyio.current_time()
            try:
                await wait_for(lambda: not watcher.stats().node("node3").connected, 20, "the cut")
                # Made while the watcher cannot reach node3 (the unix socket still can).
                await create_bridge(engines[2], f"{prefix}during")
                await anyio.sleep(max(0.0, 30 - (anyio.current_time() - cut_at)))
                assert not seen.about(f"{prefix}during")
            finally:
                await node3.heal()
            await wait_for(lambda: bool(seen.about(f"{prefix}during")), 45, "the replay")
            # The cache of node3 equals what node3's engine reports once it is back.
            await wait_converged(watcher, engines[2])
            stats = watcher.stats().node("node3")
    assert [e.node for e in seen.about(f"{prefix}during")] == ["node3"]
    assert stats.reconnects >= 1
