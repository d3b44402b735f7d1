"""``swarmnet.Watcher`` on one real engine: callbacks, isolation, order, backpressure,
retries, lifecycle, the network cache, and surviving a ``kill -9`` of the daemon.

Each test makes its network activity on a lab node with raw engine calls, under a
unique name prefix that the fixture removes afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog
from _containers import unique_prefix
from _netevents import (
    Collector,
    clean_engine,
    connect,
    create_bridge,
    disconnect,
    remove_network,
    run_container,
    wait_converged,
    wait_for,
)

import swarmnet
from swarmnet._events.watcher.cache import (
    EndpointState,
    NetState,
    default_bridge_remade,
    differences,
)
from swarmnet._events.watcher.handlers import HandlerRunner, make_handler
from swarmnet.lab import Lab, LabNode
from swarmnet.models import NetworkAction, NetworkEvent

pytestmark = [pytest.mark.anyio, pytest.mark.lab]

ROOT = Path(__file__).resolve().parent.parent
NANOS = 1_000_000_000
FAST = swarmnet.WatcherSettings(
    reconnect=swarmnet.ReconnectSettings(initial_delay=0.1, max_delay=0.5),
    stop_grace=1.0,
)


@pytest.fixture
def node(lab: Lab) -> LabNode:
    return lab.nodes[1]


@pytest.fixture
async def engine(node: LabNode) -> AsyncIterator[swarmnet.Engine]:
    async with node.engine() as engine:
        yield engine


@pytest.fixture
async def prefix(node: LabNode) -> AsyncIterator[str]:
    prefix = unique_prefix("ew")
    try:
        yield prefix
    finally:
        await clean_engine(node.docker_host, prefix)


async def test_a_networks_life_reaches_the_callbacks_with_its_fields(
    engine: swarmnet.Engine, prefix: str
) -> None:
    watcher = swarmnet.Watcher(engine, settings=FAST)
    everything = Collector()
    watcher.add(everything, name="everything")
    connects = Collector()
    watcher.on(NetworkAction.CONNECT, driver="bridge", name="connects")(connects)
    name = f"{prefix}br"
    async with watcher:
        assert watcher.subscribed
        network_id = await create_bridge(engine, name)
        container = await run_container(engine, f"{prefix}c1")
        await connect(engine, network_id, container)
        await disconnect(engine, network_id, container)
        await remove_network(engine, network_id)
        await wait_for(lambda: "destroy" in everything.actions(name), what="the destroy event")
    # The engine reports the disconnect twice; the second one repeats the first.
    assert everything.actions(name) == ["create", "connect", "disconnect", "destroy"]
    for event in everything.about(name):
        assert isinstance(event, NetworkEvent)
        assert (event.network_id, event.name, event.driver) == (network_id, name, "bridge")
        assert event.node == "node2"
        assert event.scope == "local"
        assert not event.synthesized
    assert everything.about(name)[1].container_id == container
    assert [e.container_id for e in connects.about(name)] == [container]
    assert everything.kwargs[0]["watcher"] is watcher
    assert everything.kwargs[0]["attempt"] == 0
    stats = watcher.stats()
    assert stats.node("node2").suppressed >= 1
    assert stats.handler("connects").delivered == len(connects.events)
    assert stats.handler("everything").delivered == len(everything.events)


async def test_a_callback_that_raises_stops_neither_the_watcher_nor_the_others(
    engine: swarmnet.Engine, prefix: str
) -> None:
    watcher = swarmnet.Watcher(engine, settings=FAST)

    @watcher.on("create")
    async def broken(event: NetworkEvent, **kwargs: Any) -> None:
        raise RuntimeError(f"cannot handle {event.name}")

    survivor = Collector()
    watcher.on("create")(survivor)
    names = [f"{prefix}a", f"{prefix}b"]
    with structlog.testing.capture_logs() as logs:
        async with watcher:
            for name in names:
                await create_bridge(engine, name)
            await wait_for(lambda: len(survivor.events) == 2, what="both creates")
    assert [e.name for e in survivor.events] == names
    assert watcher.stats().handler(broken.__qualname__).failed == 2
    failures = [entry for entry in logs if entry["event"] == "events.callback_failed"]
    assert [entry["network"] for entry in failures] == names
    assert failures[0]["node"] == "node2"
    assert failures[0]["action"] == "create"
    assert isinstance(failures[0]["exc_info"], RuntimeError)


async def test_a_slow_callback_does_not_delay_other_networks(
    engine: swarmnet.Engine, prefix: str
) -> None:
    watcher = swarmnet.Watcher(engine, settings=FAST)
    slow, fast = f"{prefix}slow", f"{prefix}fast"
    release = anyio.Event()
    finished: list[str] = []

    @watcher.on("create")
    async def handle(event: NetworkEvent, **kwargs: Any) -> None:
        if event.name == slow:
            await release.wait()
        finished.append(event.name)

    async with watcher:
        await create_bridge(engine, slow)
        await create_bridge(engine, fast)
        await wait_for(lambda: fast in finished, what="the other network's event")
        assert finished == [fast]  # the slow network's callback is still waiting
        assert watcher.stats().handlers[0].queued == 0
        release.set()
        await wait_for(lambda: slow in finished, what="the slow callback to finish")


async def test_events_of_one_network_arrive_in_order_while_networks_run_concurrently(
    engine: swarmnet.Engine, prefix: str
) -> None:
    watcher = swarmnet.Watcher(engine, settings=FAST)
    seen: dict[str, list[str]] = {}
    running = 0
    most_at_once = 0

    @watcher.on()
    async def handle(event: NetworkEvent, **kwargs: Any) -> None:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        # Longer for earlier events: out-of-order delivery would show.
        await anyio.sleep(1.0 if event.action == "create" else 0.05)
        running -= 1
        seen.setdefault(event.name, []).append(str(event.action))

    names = [f"{prefix}n{i}" for i in range(3)]
    async with watcher:
        container = await run_container(engine, f"{prefix}c")
        for name in names:
            network = await create_bridge(engine, name)
            await connect(engine, network, container)
            await disconnect(engine, network, container)
        await wait_for(lambda: all(len(seen.get(n, ())) == 3 for n in names), what="all events")
    assert all(seen[name] == ["create", "connect", "disconnect"] for name in names)
    assert most_at_once >= 2


async def test_a_callback_can_ask_for_a_retry_and_retries_back_off_as_configured(
    engine: swarmnet.Engine, prefix: str
) -> None:
    settings = FAST.model_copy(
        update={"retry": swarmnet.RetrySettings(backoff=(0.1, 0.4), max_attempts=4)}
    )
    watcher = swarmnet.Watcher(engine, settings=settings)
    calls: list[tuple[str, int, float]] = []

    @watcher.on("create")
    def flaky(event: NetworkEvent, attempt: int, **kwargs: Any) -> None:
        calls.append((event.name, attempt, time.monotonic()))
        if event.name.endswith("once") and attempt == 0:
            raise swarmnet.Retry("not ready yet", delay=0.2)
        if event.name.endswith("never"):
            raise swarmnet.Retry("never ready")

    async with watcher:
        await create_bridge(engine, f"{prefix}once")
        await create_bridge(engine, f"{prefix}never")
        await wait_for(lambda: len(calls) == 6, what="2 + 4 calls")
        await wait_for(lambda: watcher.stats().handlers[0].failed == 1, what="giving up")
    once = [c for c in calls if c[0].endswith("once")]
    never = [c for c in calls if c[0].endswith("never")]
    assert [attempt for _, attempt, _ in once] == [0, 1]
    assert once[1][2] - once[0][2] >= 0.2
    assert [attempt for _, attempt, _ in never] == [0, 1, 2, 3]
    gaps = [b[2] - a[2] for a, b in itertools.pairwise(never)]
    assert gaps[0] >= 0.1
    assert gaps[1] >= 0.4
    assert gaps[2] >= 0.4  # the last value repeats
    stats = watcher.stats().handlers[0]
    assert (stats.delivered, stats.retried, stats.failed) == (1, 4, 1)


async def test_a_full_buffer_drops_the_oldest_events_and_counts_them(
    engine: swarmnet.Engine, prefix: str
) -> None:
    settings = FAST.model_copy(
        update={
            "dispatch": swarmnet.DispatchSettings(
                concurrency=1, buffer=2, overflow=swarmnet.models.Overflow.DROP_OLDEST
            )
        }
    )
    watcher = swarmnet.Watcher(engine, settings=settings)
    release = anyio.Event()
    handled: list[str] = []

    @watcher.on("create")
    async def stuck(event: NetworkEvent, **kwargs: Any) -> None:
        await release.wait()
        handled.append(event.name)

    names = [f"{prefix}{i}" for i in range(6)]
    async with watcher:
        for name in names:
            await create_bridge(engine, name)
        await wait_for(lambda: watcher.stats().handlers[0].dropped == 3, what="3 drops")
        assert watcher.stats().handlers[0].queued == 2
        release.set()
        await wait_for(lambda: len(handled) == 3, what="the kept events")
    # The first was being handled; of the 5 after it, the newest 2 were kept.
    assert handled == [names[0], names[4], names[5]]


async def test_the_watcher_runs_in_the_callers_task_group_and_stops_cleanly(
    engine: swarmnet.Engine, prefix: str
) -> None:
    settings = FAST.model_copy(update={"stop_grace": 0.2})
    watcher = swarmnet.Watcher(engine, settings=settings)
    cancelled: list[str] = []

    @watcher.on("create")
    async def never_returns(event: NetworkEvent, **kwargs: Any) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(event.name)
            raise

    tasks_before = len(asyncio.all_tasks())
    mine_finished = anyio.Event()

    async def my_own_task() -> None:
        await anyio.sleep(1.0)
        mine_finished.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(my_own_task)
        await tg.start(watcher.run)
        assert watcher.subscribed
        await create_bridge(engine, f"{prefix}x")
        await wait_for(lambda: watcher.stats().received > 0)
        await anyio.sleep(0.2)  # the callback is now inside sleep_forever
        watcher.stop()
    # The watcher's callback was cancelled after the grace; the caller's task was not.
    assert cancelled == [f"{prefix}x"]
    assert mine_finished.is_set()
    assert len(asyncio.all_tasks()) == tasks_before
    with pytest.raises(swarmnet.SwarmnetError, match="runs once"):
        await watcher.run()


async def test_existing_networks_can_be_announced_on_start(
    engine: swarmnet.Engine, prefix: str
) -> None:
    name = f"{prefix}old"
    network_id = await create_bridge(engine, name)
    container = await run_container(engine, f"{prefix}c", network=name)
    settings = FAST.model_copy(update={"resync": swarmnet.ResyncSettings(initial_events=True)})
    watcher = swarmnet.Watcher(engine, settings=settings)
    seen = Collector()
    watcher.on(network=name)(seen)
    async with watcher:
        await wait_for(lambda: len(seen.events) == 2, what="create and connect")
        cached = watcher.cache.get(name, node="node2")
    assert seen.actions(name) == ["create", "connect"]
    assert all(e.synthesized for e in seen.events)
    assert seen.events[1].container_id == container
    assert cached is not None
    assert (cached.id, cached.driver, cached.scope) == (network_id, "bridge", "local")
    assert cached.containers == {container}


async def test_after_a_kill_9_mid_activity_the_cache_matches_and_nothing_came_twice(
    node: LabNode, engine: swarmnet.Engine, prefix: str
) -> None:
    watcher = swarmnet.Watcher(engine, settings=FAST)
    seen = Collector()
    watcher.add(seen)
    stop = anyio.Event()

    async def activity() -> None:
        round_ = 0
        async with node.engine(timeout=10) as busy:
            while not stop.is_set():
                try:
                    network = await create_bridge(busy, f"{prefix}n{round_}")
                    container = await run_container(busy, f"{prefix}c{round_}", network=network)
                    if round_ % 3:
                        await disconnect(busy, network, container)
                        await remove_network(busy, network)
                except swarmnet.SwarmnetError:
                    await anyio.sleep(0.3)  # the daemon is down or coming back
                round_ += 1

    async with watcher, anyio.create_task_group() as tg:
        tg.start_soon(activity)
        await anyio.sleep(2.5)
        await node.kill()
        await anyio.sleep(0.5)
        await node.start()
        await wait_for(lambda: watcher.stats().node("node2").resyncs >= 1, 60, "the re-read")
        await anyio.sleep(2.5)
        stop.set()
        await wait_converged(watcher, engine, within=30)

    stats = watcher.stats().node("node2")
    assert stats.reconnects >= 1
    assert stats.gaps >= 1
    real = [e for e in seen.events if not e.synthesized]
    assert len({e.identity for e in real}) == len(real), "an event was delivered twice"
    # Per container and network, connects and disconnects alternate: no repeats.
    last: dict[tuple[str, str], str] = {}
    for event in seen.events:
        if event.container_id and event.action in ("connect", "disconnect"):
            key = (event.network_id, event.container_id)
            assert last.get(key) != event.action, f"{event.action} twice for {key}"
            last[key] = str(event.action)
    assert sum(1 for e in real if e.name.startswith(prefix)) > 10


async def test_the_example_watches_and_prints_events(node: LabNode) -> None:
    env = {**os.environ, "SWARMNET_EXAMPLE_HOSTS": node.docker_host}
    result = await anyio.run_process(
        [sys.executable, str(ROOT / "examples" / "04_watch_networks.py")],
        env=env,
        check=False,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert "subscribed to 1 engine" in out
    assert "create" in out
    assert "destroy" in out
    assert "node2" in out


async def test_the_cli_prints_one_json_object_per_event(
    node: LabNode, engine: swarmnet.Engine, prefix: str
) -> None:
    name = f"{prefix}cli"
    argv = [sys.executable, "-m", "swarmnet", "watch", "--engine", f"node2={node.docker_host}"]
    argv += ["--json", "--count", "2", "--network", name]
    async with await anyio.open_process(argv) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        with anyio.fail_after(30):
            status = await process.stderr.receive()
            assert b"swarmnet: watching node2" in status
            network_id = await create_bridge(engine, name)
            await remove_network(engine, network_id)
            out = b"".join([chunk async for chunk in process.stdout])
            assert await process.wait() == 0
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert [(e["action"], e["name"], e["node"]) for e in events] == [
        ("create", name, "node2"),
        ("destroy", name, "node2"),
    ]
    assert events[0]["network_id"] == network_id
    assert events[0]["synthesized"] is False


async def test_networks_the_engine_makes_without_events_are_found_by_sweeps(
    node: LabNode, engine: swarmnet.Engine
) -> None:
    """A node that enters a swarm gets a ``docker_gwbridge`` with no event for it (checked
    on dockerd 20.10), and the events alone would never tell the cache. The watcher's
    sweep finds it, delivers it as a synthesized ``create``, and the cache ends equal to
    the engine's own list, the built-in networks included."""
    await swarmnet.remove_gwbridge(engine)  # so that the swarm makes it anew
    settings = FAST.model_copy(update={"resync": swarmnet.ResyncSettings(sweep_interval=0.2)})
    watcher = swarmnet.Watcher(engine, settings=settings)
    collector = Collector()
    watcher.add(collector)

    def cached_names() -> set[str]:
        return {net.name for net in watcher.cache.networks(node=engine.name)}

    async def engine_names() -> set[str]:
        return {entry["Name"] for entry in await engine._transport.request("GET", "networks")}

    try:
        async with watcher:
            await engine.swarm.init(advertise_addr=node.address)
            await wait_for(lambda: "docker_gwbridge" in cached_names(), what="docker_gwbridge")

            (created,) = collector.about("docker_gwbridge")
            assert created.action is NetworkAction.CREATE
            assert created.synthesized
            assert created.driver == "bridge"
            assert watcher.stats().node(engine.name).synthesized >= 1
            with anyio.fail_after(20):
                while cached_names() != await engine_names():  # noqa: ASYNC110 - polling
                    await anyio.sleep(0.1)
    finally:
        await engine.swarm.leave(force=True)
        await swarmnet.remove_gwbridge(engine)


async def test_containers_re_attached_while_events_were_lost_come_as_disconnect_then_connect(
    node: LabNode, engine: swarmnet.Engine, prefix: str
) -> None:
    """After a ``kill -9`` the restarted daemon restarts its containers with new
    endpoints, and reports none of it to a watcher that was away. Membership is the same
    before and after; the endpoints are not, and a re-read tells: each re-attached
    container comes as a disconnect and then a connect. Both kinds of cached endpoint
    count: one from the first read (``early``), one read after its connect event
    (``late``)."""
    await _reattachments_are_delivered(node, engine, prefix)


async def test_over_tls_re_attachments_after_a_kill_9_are_delivered_too(
    node: LabNode, prefix: str
) -> None:
    """The same through the node's TLS listener (tcp://…:2376, --tlsverify): the
    watcher's connection dies with the daemon and comes back over TLS."""
    async with node.engine(tls=True) as engine:
        assert engine.url.endswith(":2376"), engine.url
        await _reattachments_are_delivered(node, engine, prefix)


async def test_an_endpoint_not_yet_read_at_a_kill_9_is_delivered_as_re_attached(
    node: LabNode, prefix: str
) -> None:
    """A container connected just before the daemon dies: the watcher knows it only
    from the connect event (its endpoint is read endpoint_read_delay later, here never).
    The restarted daemon re-made the default bridge, and with it every endpoint: the
    re-read delivers the pair for that container too."""
    async with node.engine() as engine:
        network_id = await create_bridge(engine, f"{prefix}br")
        container = await run_container(engine, f"{prefix}c", restart="always")
        settings = FAST.model_copy(
            update={"resync": swarmnet.ResyncSettings(endpoint_read_delay=600, sweep_interval=None)}
        )
        watcher = swarmnet.Watcher(engine, settings=settings)
        seen = Collector()
        watcher.on(["connect", "disconnect"], network=network_id)(seen)
        async with watcher:
            await connect(engine, network_id, container)
            await wait_for(lambda: len(seen.events) == 1, what="the connect event")
            cached = watcher.cache.get(network_id, node=engine.name)
            assert cached is not None
            assert container in cached.containers
            assert container not in cached.endpoints
            await node.kill()
            await node.start()
            await wait_for(lambda: watcher.stats().node(node.name).resyncs >= 1, 60, "re-read")
            await wait_for(lambda: len(seen.events) >= 3, 60, "the re-attachment")
        after = (await engine.networks.get(network_id)).containers
    assert container in after
    assert [(str(e.action), e.container_id, e.synthesized) for e in seen.events[1:3]] == [
        ("disconnect", container, True),
        ("connect", container, True),
    ]


async def _reattachments_are_delivered(node: LabNode, engine: swarmnet.Engine, prefix: str) -> None:
    name = f"{prefix}br"
    network_id = await create_bridge(engine, name)
    early = await run_container(engine, f"{prefix}early", network=name, restart="always")
    settings = FAST.model_copy(
        update={"resync": swarmnet.ResyncSettings(endpoint_read_delay=0.2, sweep_interval=None)}
    )
    watcher = swarmnet.Watcher(engine, settings=settings)
    seen = Collector()
    watcher.on(["connect", "disconnect"], network=network_id)(seen)

    def cached_endpoints() -> dict[str, str]:
        cached = watcher.cache.get(network_id, node=engine.name)
        assert cached is not None
        return {c: e.endpoint_id for c, e in cached.endpoints.items()}

    async def engine_endpoints() -> dict[str, str]:
        network = await engine.networks.get(network_id)
        return {c: e.endpoint_id for c, e in network.containers.items()}

    async with watcher:
        late = await run_container(engine, f"{prefix}late", restart="always")
        await connect(engine, network_id, late)
        await wait_for(lambda: late in cached_endpoints(), what="the late endpoint read")
        before = cached_endpoints()
        assert before == await engine_endpoints()
        seen.events.clear()
        await node.kill()
        await node.start()
        await wait_for(lambda: watcher.stats().node("node2").resyncs >= 1, 60, "the re-read")

        def reattached() -> set[str]:
            return {
                container
                for container in (early, late)
                if [str(e.action) for e in seen.events if e.container_id == container][-2:]
                == ["disconnect", "connect"]
            }

        await wait_for(lambda: reattached() == {early, late}, 60, "both re-attachments")
        with anyio.fail_after(30):
            while cached_endpoints() != await engine_endpoints():  # noqa: ASYNC110 - polling
                await anyio.sleep(0.1)
    after = await engine_endpoints()
    assert set(after) == {early, late}
    assert all(after[c] != before[c] for c in (early, late)), "the engine kept the endpoints"
    for container in (early, late):
        mine = [e for e in seen.events if e.container_id == container]
        assert [str(e.action) for e in mine][:2] == ["disconnect", "connect"], container
        assert mine[0].synthesized  # no engine event says the old endpoint went


def _events_for(networks: int, count: int, first_nano: int) -> list[NetworkEvent]:
    return [
        NetworkEvent.synthesize(
            NetworkAction.CREATE,
            network_id=f"net{i % networks}",
            name=f"net{i % networks}",
            driver="bridge",
            scope=swarmnet.models.EventScope.LOCAL,
            node="n1",
            time_nano=first_nano + i * 1_000_000,
        )
        for i in range(count)
    ]


async def test_handler_lag_is_the_age_of_the_oldest_unfinished_event_and_their_number() -> None:
    """Engine-free: a runner fed by hand, a callback held until released."""
    watcher = swarmnet.Watcher(
        swarmnet.Engine("unix:///nonexistent.sock", name="n1"),
        settings=swarmnet.WatcherSettings(dispatch=swarmnet.DispatchSettings(concurrency=2)),
    )
    release = anyio.Event()
    handled: list[NetworkEvent] = []

    async def slow(event: NetworkEvent, **kwargs: Any) -> None:
        await release.wait()
        handled.append(event)

    runner = HandlerRunner(make_handler(slow, engines=["n1"]), watcher)
    assert (runner.stats().lag_seconds, runner.stats().lag_events) == (0, 0)
    # Six events that happened 10 s ago, over three networks: two workers take the
    # first event of two networks, four wait.
    events = _events_for(3, 6, time.time_ns() - 10 * NANOS)
    async with anyio.create_task_group() as tg:
        runner.start(tg)
        assert runner.offer(events) == 6
        await wait_for(lambda: runner.stats().queued == 4, what="two events in hand")
        stats = runner.stats()
        assert stats.lag_events == 6
        assert 9.9 < stats.lag_seconds < 15, stats  # not seconds since 1970
        await anyio.sleep(1.0)
        assert runner.stats().lag_seconds >= stats.lag_seconds + 0.9  # it grows while stuck
        release.set()
        await runner.drained()
        tg.cancel_scope.cancel()
    assert len(handled) == 6
    stats = runner.stats()
    assert (stats.lag_seconds, stats.lag_events, stats.queued) == (0, 0, 0)
    assert stats.last_event_time_nano == events[-1].time_nano


async def test_a_sync_callback_takes_every_ready_network_in_one_worker_turn() -> None:
    """Engine-free: events of many networks at once, a sync callback. One worker is
    woken and takes them all in turn (not a task switch per network: the dispatch
    overhead); each network's events still come in order."""
    watcher = swarmnet.Watcher(swarmnet.Engine("unix:///nonexistent.sock", name="n1"))
    seen: dict[str, list[int]] = {}

    def quick(event: NetworkEvent, **kwargs: Any) -> None:
        seen.setdefault(event.network_id, []).append(event.time_nano)

    runner = HandlerRunner(make_handler(quick, engines=["n1"]), watcher)
    events = _events_for(30, 60, time.time_ns())
    async with anyio.create_task_group() as tg:
        runner.start(tg)
        await anyio.sleep(0.01)  # every worker asleep
        assert runner.offer(events) == 60
        # One worker woken for 30 networks, not one each.
        assert len(runner._sleepers) == watcher.settings.dispatch.concurrency - 1
        await runner.drained()
        tg.cancel_scope.cancel()
    assert runner.stats().delivered == 60
    assert len(seen) == 30
    assert all(times == sorted(times) and len(times) == 2 for times in seen.values())


async def test_a_slow_sync_callback_lets_other_tasks_run_every_few_events() -> None:
    """Engine-free: a sync callback never awaits; its worker still lets the other tasks
    (the readers: the engine drops a subscriber silent for ~100 ms) run, after a
    handful of events when each takes milliseconds."""
    watcher = swarmnet.Watcher(swarmnet.Engine("unix:///nonexistent.sock", name="n1"))
    ticks = 0
    at_tick: list[int] = []

    def slow(event: NetworkEvent, **kwargs: Any) -> None:
        time.sleep(0.002)  # a callback that blocks, on purpose
        at_tick.append(ticks)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.lowlevel.checkpoint()

    runner = HandlerRunner(make_handler(slow, engines=["n1"]), watcher)
    async with anyio.create_task_group() as tg:
        runner.start(tg)
        tg.start_soon(ticker)
        await anyio.sleep(0.01)
        runner.offer(_events_for(1, 80, time.time_ns()))
        await runner.drained()
        tg.cancel_scope.cancel()
    # The longest run of events handled with no tick between them.
    longest = max(len(list(run)) for _, run in itertools.groupby(at_tick))
    assert longest <= 16, longest


async def test_callbacks_that_wait_get_a_worker_per_network_up_to_the_concurrency() -> None:
    """Engine-free: a worker about to wait in a callback hands the other ready networks
    to idle workers, until ``concurrency`` callbacks wait at once."""
    watcher = swarmnet.Watcher(
        swarmnet.Engine("unix:///nonexistent.sock", name="n1"),
        settings=swarmnet.WatcherSettings(dispatch=swarmnet.DispatchSettings(concurrency=4)),
    )
    release = anyio.Event()
    waiting = 0
    most = 0

    async def slow(event: NetworkEvent, **kwargs: Any) -> None:
        nonlocal waiting, most
        waiting += 1
        most = max(most, waiting)
        await release.wait()
        waiting -= 1

    runner = HandlerRunner(make_handler(slow, engines=["n1"]), watcher)
    async with anyio.create_task_group() as tg:
        runner.start(tg)
        await anyio.sleep(0.01)
        runner.offer(_events_for(6, 6, time.time_ns()))
        await wait_for(lambda: runner.stats().queued == 2, what="four events in hand")
        await anyio.sleep(0.05)
        assert (waiting, runner.stats().lag_events) == (4, 6)
        release.set()
        await runner.drained()
        tg.cancel_scope.cancel()
    assert (most, runner.stats().delivered) == (4, 6)


async def test_a_full_buffer_makes_the_watcher_wait_and_loses_nothing() -> None:
    """Engine-free: ``Overflow.WAIT`` with a buffer far smaller than a batch. The
    dispatch waits for room (which a sync callback's worker frees without awaiting
    anything), and every event arrives, each network's in order."""
    watcher = swarmnet.Watcher(
        swarmnet.Engine("unix:///nonexistent.sock", name="n1"),
        settings=swarmnet.WatcherSettings(dispatch=swarmnet.DispatchSettings(buffer=3)),
    )
    seen: dict[str, list[int]] = {}

    @watcher.on()
    def quick(event: NetworkEvent, **kwargs: Any) -> None:
        seen.setdefault(event.network_id, []).append(event.time_nano)

    events = _events_for(7, 100, time.time_ns())
    async with anyio.create_task_group() as tg:
        for runner in watcher._runners:
            runner.start(tg)
        with anyio.fail_after(10):
            await watcher._dispatch(events)
            await watcher._runners[0].drained()
        tg.cancel_scope.cancel()
    stats = watcher.stats().handlers[0]
    assert (stats.delivered, stats.dropped, stats.queued) == (100, 0, 0)
    assert sum(len(times) for times in seen.values()) == 100
    assert all(times == sorted(times) for times in seen.values())


async def test_handler_lag_follows_a_fake_clock() -> None:
    now = 1_800_000_000 * NANOS
    watcher = swarmnet.Watcher(swarmnet.Engine("unix:///nonexistent.sock", name="n1"))

    def stuck(event: NetworkEvent, **kwargs: Any) -> None:
        raise AssertionError("never called: the runner is not started")

    runner = HandlerRunner(make_handler(stuck, engines=["n1"]), watcher, clock=lambda: now)
    runner.offer(_events_for(2, 1862, now - 116 * NANOS))
    stats = runner.stats()
    assert (stats.queued, stats.lag_events) == (1862, 1862)
    assert stats.lag_seconds == pytest.approx(116)
    now += 60 * NANOS
    assert runner.stats().lag_seconds == pytest.approx(176)


def test_filters_a_watcher_could_never_match_are_refused() -> None:
    watcher = swarmnet.Watcher(swarmnet.Engine("unix:///nonexistent.sock", name="n1"))

    def callback(event: NetworkEvent, **kwargs: Any) -> None:
        raise AssertionError("never called")

    # Container actions never come: a Watcher follows network events.
    with pytest.raises(swarmnet.InvalidSpec, match=r"\['start'\] cannot match.*'connect'"):
        watcher.on("start")(callback)
    with pytest.raises(swarmnet.InvalidSpec, match=r"\['die'\] cannot match"):
        watcher.add(callback, ["connect", "die"])
    # Network events name containers by id: a name would silently match nothing.
    with pytest.raises(swarmnet.InvalidSpec, match="'c2' is not a container id"):
        watcher.on("connect", container="c2")(callback)
    assert watcher.handlers == ()
    handler = watcher.add(callback, NetworkAction.CONNECT, container="0123456789abcdef")
    assert handler.actions == {"connect"}


def test_a_re_read_tells_a_changed_endpoint_and_leaves_unread_ones_alone() -> None:
    """Engine-free: the differences a re-read delivers, from two views of one node."""
    c, d, e = ("c" * 64, "d" * 64, "e" * 64)
    old = {
        "net1": NetState(
            "one",
            "bridge",
            "local",
            {
                c: EndpointState("ep-c1", "172.20.0.2/16", ""),
                d: None,  # known from a connect event only: its endpoint was never read
                e: EndpointState("ep-e1", "172.20.0.4/16", ""),
            },
        )
    }
    new = {
        "net1": NetState(
            "one",
            "bridge",
            "local",
            {
                c: EndpointState("ep-c2", "172.20.0.2/16", ""),  # a new endpoint
                d: EndpointState("ep-d1", "172.20.0.3/16", ""),
                e: EndpointState("ep-e1", "172.20.0.9/16", ""),  # a new address
            },
        )
    }
    events = differences("n1", old, new, 5)
    assert [(str(ev.action), ev.container_id) for ev in events] == [
        ("disconnect", c),
        ("connect", c),
        ("disconnect", e),
        ("connect", e),
    ]
    assert all(ev.synthesized and ev.network_id == "net1" and ev.name == "one" for ev in events)
    assert differences("n1", new, new, 5) == []


def test_after_a_daemon_restart_an_unread_endpoint_is_taken_as_re_attached() -> None:
    """Engine-free: the default bridge's id tells a restarted daemon, whose endpoints are
    all new, so an endpoint known only from a connect event gets the pair too."""
    d = "d" * 64
    old = {
        "br-old": NetState("bridge", "bridge", "local", {}),
        "net1": NetState("one", "bridge", "local", {d: None}),
    }
    read = NetState("one", "bridge", "local", {d: EndpointState("ep-d1", "172.20.0.3/16", "")})
    same_daemon = {"br-old": old["br-old"], "net1": read}
    restarted = {"br-new": NetState("bridge", "bridge", "local", {}), "net1": read}
    assert not default_bridge_remade(old, same_daemon)
    assert default_bridge_remade(old, restarted)
    # A daemon with no default bridge (--bridge=none) tells nothing: taken as the same.
    assert not default_bridge_remade({"net1": old["net1"]}, {"net1": read})
    assert differences("n1", old, same_daemon, 5) == []
    events = differences("n1", old, restarted, 5, restarted=True)
    pairs = [(str(ev.action), ev.container_id) for ev in events if ev.container_id]
    assert pairs == [("disconnect", d), ("connect", d)]
