"""The controller without an engine: its work queue on a fake clock, and whole controllers
over swarmnet.testing.MockTransport (a fake engine of plain dicts, events pushed by the test).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

import swarmnet
from swarmnet import Engine, InvalidSpec
from swarmnet._controllers.controller import (
    Controller,
    ControllerSettings,
    Kind,
    Ref,
)
from swarmnet._controllers.desired import keep_connected, keep_network
from swarmnet._controllers.queue import BACKGROUND_EVERY, TokenBucket, WorkQueue
from swarmnet.models import Container
from swarmnet.testing import MockRequest, MockResponse, MockTransport

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the queue -----------------------------------------------------------------------------


def test_a_key_queued_many_times_runs_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    assert queue.add("a")
    assert not queue.add("a")
    assert not queue.add("a")
    assert queue.add("b")
    assert [queue.take(), queue.take(), queue.take()] == ["a", "b", None]


def test_a_key_added_while_running_is_not_handed_out_again_until_done_then_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.take() == "a"
    queue.add("a")
    queue.add("a")
    assert queue.take() is None  # never two runs of one key at once
    queue.done("a")
    assert queue.take() == "a"  # the change seen meanwhile is run once more
    queue.done("a")
    assert queue.take() is None


def test_delayed_keys_wait_for_their_deadline_and_the_earliest_wins() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 5)
    queue.add_after("a", 2)  # earlier: replaces
    queue.add_after("a", 9)  # later: ignored
    assert queue.take() is None
    assert queue.delayed == 1
    clock.now += 1.9
    assert queue.take() is None
    clock.now += 0.2
    assert queue.take() == "a"
    queue.done("a")
    clock.now += 10
    assert queue.take() is None  # the superseded deadlines are not run


def test_an_event_folds_a_pending_retry_into_one_run_now() -> None:
    clock = Clock()
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 5)
    queue.add("a")
    assert queue.take() == "a"
    queue.done("a")
    clock.now += 6
    assert queue.take() is None
    assert queue.delayed == 0


def test_keys_an_event_named_run_before_those_a_resync_queued() -> None:
    """A resync queues every object; the changes in a burst must not wait behind them."""
    queue: WorkQueue[str] = WorkQueue()
    for key in ("r1", "r2", "r3"):
        queue.add(key, background=True)
    queue.add("e1")
    queue.add("e2")
    assert len(queue) == 5
    assert [queue.take(), queue.take()] == ["e1", "e2"]
    assert [queue.take(), queue.take(), queue.take(), queue.take()] == ["r1", "r2", "r3", None]


def test_a_resync_key_an_event_names_moves_up_and_runs_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("r1", background=True)
    queue.add("r2", background=True)
    assert not queue.add("r2")  # already waiting: not queued twice, but moved up
    assert len(queue) == 2
    assert queue.take() == "r2"
    queue.done("r2")
    assert [queue.take(), queue.take()] == ["r1", None]  # r2's old place is skipped


def test_a_steady_stream_of_events_still_lets_the_resync_through() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("resync", background=True)
    taken = []
    for i in range(BACKGROUND_EVERY * 2):
        queue.add(f"e{i}")
        taken.append(queue.take())
    assert "resync" in taken[:BACKGROUND_EVERY]


def test_a_change_during_a_run_is_run_again_in_the_lane_of_its_most_urgent_add() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.take() == "a"
    queue.add("a", background=True)  # a resync, then an event, while it runs
    queue.add("a")
    queue.add("r", background=True)
    queue.done("a")
    assert queue.take() == "a"  # foreground: ahead of r


def test_closing_drops_waiting_keys_and_ends_get() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        queue.close()
        assert not queue.add("b")
        with pytest.raises(anyio.EndOfStream):
            await queue.get()

    anyio.run(main)


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.5)
    assert bucket.reserve() == pytest.approx(1.0)
    clock.now += 10
    assert bucket.reserve() == 0.0
    assert TokenBucket(None).reserve() == 0.0


# -- a fake engine -------------------------------------------------------------------------


class FakeDocker:
    """Containers and networks in dicts; /events fed by the test through a memory stream."""

    def __init__(self) -> None:
        self.containers: dict[str, dict[str, Any]] = {}
        self.networks: dict[str, dict[str, Any]] = {}
        self.send, self._receive = anyio.create_memory_object_stream[bytes](100)
        self.fail_connects = 0

    def __enter__(self) -> FakeDocker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.send.close()
        self._receive.close()

    def run(self, name: str, **labels: str) -> str:
        container_id = f"{len(self.containers):02d}{name}".ljust(64, "0")
        self.containers[container_id] = {
            "Id": container_id,
            "Name": f"/{name}",
            "Config": {"Labels": labels},
            "Labels": labels,
            "State": {"Running": True, "Status": "running"},
            "NetworkSettings": {"Networks": {}},
        }
        return container_id

    async def event(self, type_: str, action: str, actor: str, **attributes: str) -> None:
        body: dict[str, Any] = {
            "Type": type_,
            "Action": action,
            "Actor": {"ID": actor, "Attributes": attributes},
            "scope": "local",
            "time": 1,
            "timeNano": 1_000_000_000 + len(self.containers),
        }
        await self.send.send(json.dumps(body).encode() + b"\n")

    async def _events(self) -> AsyncIterator[bytes]:
        async for chunk in self._receive:
            yield chunk

    def handler(self, request: MockRequest) -> Any:
        match request.method, request.path.split("/")[1:]:
            case "GET", ["events"]:
                return self._events()
            case "GET", ["containers", "json"]:
                return [
                    {**c, "Names": [c["Name"]], "State": "running"}
                    for c in self.containers.values()
                ]
            case "GET", ["containers", ref, "json"]:
                if ref not in self.containers:
                    return MockResponse.error(404, f"No such container: {ref}")
                return self.containers[ref]
            case "GET", ["networks"]:
                return list(self.networks.values())
            case "GET", ["networks", ref]:
                found = [n for n in self.networks.values() if ref in (n["Name"], n["Id"])]
                return found[0] if found else MockResponse.error(404, f"network {ref} not found")
            case "POST", ["networks", name, "connect"]:
                if self.fail_connects:
                    self.fail_connects -= 1
                    return MockResponse.error(500, "the engine had a bad moment")
                if name not in self.networks:
                    return MockResponse.error(404, f"network {name} not found")
                container = self.containers[request.json["Container"]]
                aliases = request.json.get("EndpointConfig", {}).get("Aliases") or []
                container["NetworkSettings"]["Networks"][name] = {
                    "NetworkID": self.networks[name]["Id"],
                    "Aliases": aliases,
                }
                return None
        return MockResponse.error(404, "page not found")

    def add_network(self, name: str) -> None:
        self.networks[name] = {
            "Id": f"net-{name}".ljust(64, "0"),
            "Name": name,
            "Driver": "overlay",
            "Scope": "swarm",
            "Attachable": True,
        }

    def connects(self, transport: MockTransport) -> list[str]:
        return [r.json["Container"] for r in transport.requests if r.path.endswith("/connect")]


@pytest.fixture
def docker() -> Iterator[FakeDocker]:
    with FakeDocker() as fake:
        yield fake


FAST = ControllerSettings(
    resync_interval=None,
    retry=swarmnet.RetrySettings(backoff=(0.01, 0.02), max_attempts=3),
    stop_grace=1.0,
)


async def wait_for(check: Any, within: float = 5.0) -> None:
    # Polls the fake engine's dicts, which signal nothing.
    with anyio.fail_after(within):
        while not check():  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_selected_containers_connected_at_start_and_after_a_disconnect(
    docker: FakeDocker,
) -> None:
    docker.add_network("app")
    web = docker.run("web", join="app")
    docker.run("db")
    transport = MockTransport(docker.handler)
    async with Engine(transport=transport, name="n1") as engine:
        controller = Controller(engine, settings=FAST)
        keep_connected(controller, "app", labels={"join": "app"})
        async with controller:
            await wait_for(lambda: docker.connects(transport) == [web])
            assert docker.containers[web]["NetworkSettings"]["Networks"]["app"]["Aliases"] == [
                "web"
            ]
            # Disconnected by hand: the event names the container; its state is re-read.
            docker.containers[web]["NetworkSettings"]["Networks"].clear()
            await docker.event("network", "disconnect", "net-app", container=web, name="app")
            await wait_for(lambda: docker.connects(transport) == [web, web])
            stats = controller.stats()
    assert stats.failed == 0
    assert stats.events >= 1
    assert stats.active
    assert not controller.stats().active


async def test_a_failing_reconciler_is_retried_then_given_up(
    docker: FakeDocker,
) -> None:
    docker.add_network("app")
    web = docker.run("web", join="app")
    docker.fail_connects = 2
    transport = MockTransport(docker.handler)
    async with Engine(transport=transport, name="n1") as engine:
        controller = Controller(engine, settings=FAST)
        keep_connected(controller, "app", labels={"join": "app"})
        async with controller:
            await wait_for(lambda: "app" in docker.containers[web]["NetworkSettings"]["Networks"])
            stats = controller.stats()
            assert (stats.failed, stats.retries, stats.gave_up) == (2, 2, 0)
            assert docker.connects(transport) == [web] * 3  # two 500s, then connected

        calls: list[Ref] = []
        failing = Controller(engine, settings=FAST)

        @failing.reconcile("container", labels={"join": "app"})
        async def always_fails(ref: Ref, container: Container | None, **kwargs: Any) -> None:
            calls.append(ref)
            raise RuntimeError("boom")

        async with failing:
            await wait_for(lambda: failing.stats().gave_up == 1)
            await anyio.sleep(0.1)
    assert len(calls) == 3  # max_attempts, then left for the next event or resync


async def test_one_object_never_runs_twice_at_once_a_change_meanwhile_reruns(
    docker: FakeDocker,
) -> None:
    ids = [docker.run(f"c{i}", join="app") for i in range(4)]
    transport = MockTransport(docker.handler)
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    at_once: list[int] = []
    runs: list[str] = []
    gate = anyio.Event()

    async with Engine(transport=transport, name="n1") as engine:
        controller = Controller(engine, settings=FAST.model_copy(update={"concurrency": 3}))

        @controller.reconcile("container", labels={"join": "app"})
        async def slow(ref: Ref, container: Container | None, **kwargs: Any) -> None:
            running[ref.id] = running.get(ref.id, 0) + 1
            most[ref.id] = max(most.get(ref.id, 0), running[ref.id])
            at_once.append(sum(running.values()))
            runs.append(ref.id)
            await gate.wait()
            running[ref.id] -= 1

        async with controller:
            # The start's full read, and the stream's own once subscribed (which finds
            # the three running: each is due once more).
            await wait_for(lambda: len(runs) == 3 and controller.stats().resyncs == 2)
            for _ in range(5):
                await docker.event("container", "start", ids[0])
            await wait_for(lambda: controller.stats().events == 5)
            await anyio.sleep(0.05)
            assert runs.count(ids[0]) == 1
            gate.set()
            await wait_for(lambda: len(runs) == 7)
            await anyio.sleep(0.1)
    assert max(at_once) == 3  # the limit: 3 of the 4 at once
    assert set(most.values()) == {1}
    # A resync and five events while running: one more run each, no more.
    assert sorted(runs.count(i) for i in ids) == [1, 2, 2, 2]
    assert runs.count(ids[0]) == 2


async def test_keep_network_recreates_a_missing_network(docker: FakeDocker) -> None:
    transport = MockTransport(docker.handler)
    created: list[str] = []

    def handler(request: MockRequest) -> Any:
        if request.method == "GET" and request.path == "/info":
            return {"Name": "n1", "Swarm": {"LocalNodeState": "active", "ControlAvailable": True}}
        if request.method == "POST" and request.path == "/networks/create":
            created.append(request.json["Name"])
            docker.add_network(request.json["Name"])
            return MockResponse(201, json={"Id": docker.networks[request.json["Name"]]["Id"]})
        return docker.handler(request)

    transport = MockTransport(handler)
    async with Engine(transport=transport, name="n1") as engine:
        controller = Controller(engine, settings=FAST)
        keep_network(controller, swarmnet.OverlaySpec(name="app", attachable=True), engine=engine)
        async with controller:
            await wait_for(lambda: created == ["app"])
            del docker.networks["app"]
            await docker.event("network", "remove", "net-app", name="app")
            await wait_for(lambda: created == ["app", "app"])


async def test_bad_selectors_are_refused_before_anything_runs(docker: FakeDocker) -> None:
    transport = MockTransport(docker.handler)
    async with Engine(transport=transport, name="n1") as engine:
        controller = Controller(engine)
        with pytest.raises(InvalidSpec):
            controller.reconcile("volume")  # type: ignore[arg-type]
        with pytest.raises(InvalidSpec):
            controller.reconcile("network", labels={"a": "b"})
        with pytest.raises(InvalidSpec):
            controller.reconcile("container", engines=["elsewhere"])
        with pytest.raises(InvalidSpec):
            keep_connected(controller, "app")
        with pytest.raises(InvalidSpec):
            await controller.run()  # nothing registered
        with pytest.raises(InvalidSpec):
            Controller()
        with pytest.raises(InvalidSpec):
            Controller(engine, engine)
    assert [r.path for r in transport.requests] == ["/version"]
    assert Kind("network") is Kind.NETWORK


async def test_stopping_lets_runs_in_flight_finish_within_the_grace_then_cancels(
    docker: FakeDocker,
) -> None:
    docker.run("web", join="app")
    transport = MockTransport(docker.handler)
    ended: list[str] = []

    async def stop_during_a_run(grace: float) -> None:
        async with Engine(transport=transport, name="n1") as engine:
            controller = Controller(engine, settings=FAST.model_copy(update={"stop_grace": grace}))
            began = anyio.Event()

            @controller.reconcile("container", labels={"join": "app"})
            async def slow(ref: Ref, container: Container | None, **kwargs: Any) -> None:
                began.set()
                try:
                    await anyio.sleep(0.3)
                except anyio.get_cancelled_exc_class():
                    ended.append(f"cancelled (grace {grace})")
                    raise
                ended.append(f"finished (grace {grace})")

            async with controller:
                await began.wait()

    await stop_during_a_run(2.0)
    await stop_during_a_run(0.05)
    assert ended == ["finished (grace 2.0)", "cancelled (grace 0.05)"]


class FakeLease:
    """What a Controller uses of swarmnet.Lease: ``held`` and ``leading()``."""

    def __init__(self) -> None:
        self.held = False
        self._taken = anyio.Event()
        self._scope: anyio.CancelScope | None = None

    def take(self) -> None:
        self.held = True
        self._taken.set()

    def lose(self) -> None:
        self.held = False
        self._taken = anyio.Event()
        if self._scope is not None:
            self._scope.cancel()

    @asynccontextmanager
    async def leading(self) -> AsyncIterator[None]:
        while not self.held:
            await self._taken.wait()
        with anyio.CancelScope() as self._scope:
            yield


async def test_with_a_lease_it_acts_only_while_held_and_a_loss_cancels_runs_at_once(
    docker: FakeDocker,
) -> None:
    web = docker.run("web", join="app")
    transport = MockTransport(docker.handler)
    lease = FakeLease()
    runs: list[str] = []
    release = anyio.Event()
    async with Engine(transport=transport, name="n1") as engine:
        settings = FAST.model_copy(update={"stop_grace": 30.0})
        controller = Controller(engine, lease=lease, settings=settings)  # type: ignore[arg-type]

        @controller.reconcile("container", labels={"join": "app"})
        async def hold(ref: Ref, container: Container | None, **kwargs: Any) -> None:
            runs.append("started")
            try:
                await release.wait()
            except anyio.get_cancelled_exc_class():
                runs.append("cancelled")
                raise

        async with controller:
            await anyio.sleep(0.2)
            assert not controller.stats().active
            assert [r.path for r in transport.requests] == ["/version"]  # not even a read
            lease.take()
            await wait_for(lambda: runs == ["started"])
            assert controller.stats().active
            with anyio.fail_after(1):  # not the 30 s stop_grace: another replica may act
                lease.lose()
                await wait_for(lambda: runs == ["started", "cancelled"])
            await wait_for(lambda: not controller.stats().active)
            lease.take()  # taken again: everything is read again
            await wait_for(lambda: runs == ["started", "cancelled", "started"])
            release.set()
            await wait_for(lambda: controller.stats().succeeded >= 1)
    stats = controller.stats()
    assert stats.activations == 2
    assert web in {r.path.split("/")[2] for r in transport.requests if "/containers/" in r.path}


def test_keep_service_attached_refuses_what_cannot_work_before_running() -> None:
    engines = [swarmnet.Engine("unix:///nonexistent.sock", name=n) for n in ("m1", "m2")]
    controller = swarmnet.Controller(*engines)
    with pytest.raises(swarmnet.InvalidSpec, match="one or more network names"):
        swarmnet.keep_service_attached(controller, "api", [], engine="m1")
    with pytest.raises(swarmnet.InvalidSpec, match="service name"):
        swarmnet.keep_service_attached(controller, "", ["n"], engine="m1")
    with pytest.raises(swarmnet.InvalidSpec, match="not this controller's"):
        swarmnet.keep_service_attached(controller, "api", ["n"], engine="m3")
    with pytest.raises(swarmnet.InvalidSpec, match="runs on one manager"):
        controller.reconcile(Kind.SERVICE, names=["api"])
