"""``engine.events(...)``: a typed stream of one real engine's events, resumable.

Every test makes its own network activity on a lab node with raw engine calls, with
names under a unique prefix that the fixture removes afterwards.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from _containers import unique_prefix
from _netevents import (
    Proxy,
    clean_engine,
    connect,
    create_bridge,
    disconnect,
    remove_network,
    run_container,
)

import swarmnet
from swarmnet.lab import Lab, LabNode
from swarmnet.models import EventScope, EventType, NetworkAction, NetworkEvent

pytestmark = [pytest.mark.anyio, pytest.mark.lab]


@pytest.fixture
def node(lab: Lab) -> LabNode:
    return lab.nodes[0]


@pytest.fixture
async def engine(node: LabNode) -> AsyncIterator[swarmnet.Engine]:
    async with node.engine() as engine:
        yield engine


@pytest.fixture
async def prefix(node: LabNode) -> AsyncIterator[str]:
    prefix = unique_prefix("ev")
    try:
        yield prefix
    finally:
        await clean_engine(node.docker_host, prefix)


async def take(
    stream: swarmnet.models.EventStream, count: int, within: float = 20
) -> list[swarmnet.models.Event]:
    out: list[swarmnet.models.Event] = []
    with anyio.fail_after(within):
        async for event in stream:
            out.append(event)
            if len(out) == count:
                break
    return out


def action_of(event: swarmnet.models.Event) -> str:
    return str(event.action)


async def test_a_bridge_life_comes_as_typed_network_events(
    engine: swarmnet.Engine, prefix: str
) -> None:
    name = f"{prefix}br"
    async with engine.events(type="network", network=name) as events:
        network_id = await create_bridge(engine, name)
        container = await run_container(engine, f"{prefix}c1")
        await connect(engine, network_id, container)
        await disconnect(engine, network_id, container)
        await remove_network(engine, network_id)
        seen = await take(events, 4)
    assert [e.action for e in seen[:2]] == [NetworkAction.CREATE, NetworkAction.CONNECT]
    assert NetworkAction.DISCONNECT in [e.action for e in seen[2:]]
    for event in seen:
        assert isinstance(event, NetworkEvent)
        assert event.type is EventType.NETWORK
        assert event.network_id == network_id
        assert event.name == name
        assert event.driver == "bridge"
        assert event.scope is EventScope.LOCAL
        assert event.node == "node1"
        assert event.synthesized is False
    assert isinstance(seen[1], NetworkEvent)
    assert seen[1].container_id == container
    assert isinstance(seen[0], NetworkEvent)
    assert seen[0].container_id is None
    # Events come in the engine's order, stamped with the engine's clock.
    assert [e.time_nano for e in seen] == sorted(e.time_nano for e in seen)
    assert abs(seen[0].time.timestamp() - time.time()) < 60


async def test_filters_the_engine_lacks_are_applied_here(
    engine: swarmnet.Engine, prefix: str
) -> None:
    # The engine's own container filter would drop network events: it is done here.
    first = await run_container(engine, f"{prefix}c1")
    second = await run_container(engine, f"{prefix}c2")
    network_id = await create_bridge(engine, f"{prefix}br")
    async with engine.events(
        type="network", action="connect", driver="bridge", container=first[:12]
    ) as events:
        await connect(engine, network_id, second)
        await connect(engine, network_id, first)
        (event,) = await take(events, 1)
    assert isinstance(event, NetworkEvent)
    assert event.container_id == first
    assert event.action is NetworkAction.CONNECT
    assert events.stats.received == 1


async def test_since_and_until_replay_a_window_and_end(
    engine: swarmnet.Engine, prefix: str
) -> None:
    before = time.time()
    a = await create_bridge(engine, f"{prefix}a")
    b = await create_bridge(engine, f"{prefix}b")
    await remove_network(engine, a)
    await anyio.sleep(0.1)
    after = time.time()
    await remove_network(engine, b)  # after the window: not replayed
    replayed = []
    async with engine.events(type="network", since=before, until=after) as events:
        with anyio.fail_after(20):
            replayed = [e async for e in events if e.name.startswith(prefix)]  # type: ignore[attr-defined]
    assert [(e.name, action_of(e)) for e in replayed] == [  # type: ignore[attr-defined]
        (f"{prefix}a", "create"),
        (f"{prefix}b", "create"),
        (f"{prefix}a", "destroy"),
    ]
    # Resuming after an event replays what followed it, not the event itself.
    async with engine.events(type="network", since=replayed[0], until=after) as events:
        with anyio.fail_after(20):
            rest = [e async for e in events if e.name.startswith(prefix)]  # type: ignore[attr-defined]
    assert rest == replayed[1:]


async def test_a_lost_connection_is_resumed_without_repeats_or_losses(
    node: LabNode, prefix: str, tmp_path: Path
) -> None:
    """Through a proxy the test can cut: the engine stays up and keeps its events."""
    engine_socket = node.docker_host.removeprefix("unix://")
    path = str(tmp_path / "proxy.sock")
    proxy = Proxy(engine_socket, path)
    names = [f"{prefix}n{i}" for i in range(6)]
    async with anyio.create_task_group() as tg:
        await tg.start(proxy.serve)
        async with (
            swarmnet.Engine(proxy.url, name="node1") as engine,
            engine.events(
                type="network",
                action="create",
                reconnect=swarmnet.ReconnectSettings(initial_delay=0.2, max_delay=0.5),
            ) as events,
        ):
            got: list[str] = []
            for name in names[:3]:
                await create_bridge(engine, name)
            got += [e.name for e in await take(events, 3)]  # type: ignore[attr-defined]
            assert await proxy.cut() >= 1
            # Made while the stream is down: the engine keeps them for the replay.
            async with node.engine() as direct:
                for name in names[3:]:
                    await create_bridge(direct, name)
            got += [e.name for e in await take(events, 3)]  # type: ignore[attr-defined]
            stats = events.stats
        tg.cancel_scope.cancel()
    assert got == names
    assert stats.reconnects == 1
    assert stats.gaps == 0
    assert stats.duplicates >= 1  # the boundary event the engine sent again


async def test_events_lost_across_a_daemon_restart_are_reported(node: LabNode, prefix: str) -> None:
    async with (
        node.engine() as engine,
        engine.events(
            type="network",
            reconnect=swarmnet.ReconnectSettings(initial_delay=0.2, max_delay=1.0),
        ) as events,
    ):
        await create_bridge(engine, f"{prefix}before")
        await take(events, 1)
        await node.kill()
        await node.start()
        await create_bridge(engine, f"{prefix}after")
        with pytest.raises(swarmnet.EventsLost, match="were lost") as lost:
            await take(events, 1, within=60)
        assert lost.value.since_nano > 0
        # Told, the caller may go on: the stream is already following again.
        (event,) = await take(events, 1)
        assert event.name == f"{prefix}after"  # type: ignore[attr-defined]
        assert events.stats.gaps == 1


async def test_a_loop_body_that_falls_a_whole_buffer_behind_is_told_what_was_dropped(
    engine: swarmnet.Engine, prefix: str
) -> None:
    network = await create_bridge(engine, f"{prefix}br")
    container = await run_container(engine, f"{prefix}c")
    async with engine.events(type="network", network=network, buffer_bytes=4096) as events:
        await connect(engine, network, container)
        await take(events, 1)
        # The body is busy elsewhere while the engine sends ~20 KiB of events: the reader
        # keeps reading (the engine would drop them silently otherwise), holds 4 KiB, and
        # drops the rest, which the body learns when it comes back.
        for _ in range(15):
            await disconnect(engine, network, container)
            await connect(engine, network, container)
        with pytest.raises(swarmnet.EventsLost, match="dropped"):
            await take(events, 100)
        assert events.stats.dropped > 0
        assert events.stats.gaps == 1


async def test_without_reconnecting_a_dead_engine_is_an_error(node: LabNode) -> None:
    async with node.engine() as engine:
        await node.kill()
        try:
            with pytest.raises(swarmnet.EngineUnreachable):
                async with engine.events(reconnect=False):
                    pass
        finally:
            await node.start()


async def test_iterating_without_async_with_is_a_clear_error(engine: swarmnet.Engine) -> None:
    with pytest.raises(swarmnet.EngineError, match=r"async with engine\.events"):
        await engine.events().__anext__()


def test_bad_filters_and_times_are_refused_before_anything_is_sent() -> None:
    engine = swarmnet.Engine("unix:///nonexistent.sock")
    with pytest.raises(swarmnet.InvalidSpec, match="scope"):
        engine.events(scope="galactic")
    with pytest.raises(swarmnet.InvalidSpec, match="before"):
        engine.events(since=200, until=100)
    with pytest.raises(swarmnet.InvalidSpec, match="not a time"):
        engine.events(since="yesterday")
    with pytest.raises(swarmnet.InvalidSpec, match="non-empty"):
        engine.events(action=[""])


def test_filters_that_could_never_match_network_events_are_refused() -> None:
    engine = swarmnet.Engine("unix:///nonexistent.sock")
    # Network events carry no labels: the engine would drop every one.
    with pytest.raises(swarmnet.InvalidSpec, match="network events carry no labels"):
        engine.events(type="network", label={"app": "web"})
    # Their container attribute is an id: a name would match nothing, silently.
    with pytest.raises(swarmnet.InvalidSpec, match="'c2' is not a container id"):
        engine.events(container="c2")
    with pytest.raises(swarmnet.InvalidSpec, match="not a container id"):
        engine.events(type=["network", "container"], container="web")
    engine.events(type="network", container="0123456789ab")  # an id prefix is fine
    engine.events(type="container", container="web")  # the engine matches names here


async def test_label_filters_pass_to_the_engine(engine: swarmnet.Engine, prefix: str) -> None:
    async with engine.events(type="container", action="start", label={"app": prefix}) as events:
        await run_container(engine, f"{prefix}other", labels={"app": "else"})
        wanted = await run_container(engine, f"{prefix}mine", labels={"app": prefix, "x": "1"})
        (event,) = await take(events, 1)
    assert (event.type, event.action, event.actor_id) == (EventType.CONTAINER, "start", wanted)
    assert event.attributes["app"] == prefix
    async with engine.events(type="container", action="start", label=["x=1", "app"]) as events:
        await run_container(engine, f"{prefix}again", labels={"app": "else"})
        again = await run_container(engine, f"{prefix}again2", labels={"app": "y", "x": "1"})
        (event,) = await take(events, 1)
    assert event.actor_id == again


async def test_container_events_can_be_asked_for_by_container_name(
    engine: swarmnet.Engine, prefix: str
) -> None:
    async with engine.events(type="container", action="start", container=f"{prefix}c2") as events:
        await run_container(engine, f"{prefix}c1")
        second = await run_container(engine, f"{prefix}c2")
        (event,) = await take(events, 1)
    assert event.actor_id == second
