"""A burst of labelled containers joining an overlay: swarmnet's controller vs a docker-py loop.

The job (the README's join-label controller): every running container labelled
``join=app``, on any of 3 nodes, is connected to the attachable overlay ``app`` with its
name as alias. Two contenders do it, one after the other, on the same lab swarm:

* ``swarmnet``: ``Controller(*engines)`` with ``keep_connected(controller, "app",
  labels={"join": "app"})`` (level-triggered: a start event queues the container, a
  reconcile reads it from the cache and connects it).
* ``docker-py``: what one writes by hand: per node a thread reading
  ``client.events(filters={"type": "container", "event": "start", "label": "join=app"})``
  and calling ``connect_container_to_network(id, "app", aliases=[name])`` for each; a
  connect the engine refuses (under a burst it answers ``500 … context deadline
  exceeded`` now and then) is printed and skipped, as a careful script does, with no
  retry queue. Containers not connected after ``GIVE_UP`` are counted as missed.

For each, N containers (``--containers``, default 300) are started in a burst, a third on
each node, by the same starter (swarmnet's ``containers.run``, a few at a time per node).
Each container's latency is read from its own engine's events, one clock: from its
``start`` event to its ``connect`` event on ``app``. Reported: p50, p99 and max, and the
time until all were connected, per contender and as ratios.

Usage::

    python benchmarks/bench_join_label.py                    # 300 containers
    python benchmarks/bench_join_label.py --containers 60 --lab bench --keep
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import anyio
import docker
import structlog

import swarmnet
from swarmnet.lab import LAB_IMAGE, Lab
from swarmnet.models import ContainerEvent, NetworkEvent

NETWORK = "app"
#: Room for 1,000 containers (the engine's default /24 holds 250 here: see below).
SUBNET = "10.77.0.0/22"
LABEL = {"join": "app"}
#: Container starts in flight per node while the burst is started.
STARTERS_PER_NODE = 4
#: After this long (seconds) the containers not connected yet are counted as missed.
GIVE_UP = 180.0


@dataclass
class Outcome:
    """One contender's run: each container's start-to-connected latency (seconds)."""

    name: str
    latencies: list[float] = field(default_factory=list)
    all_connected: float = 0.0
    missing: int = 0

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _burst(engines: list[swarmnet.Engine], count: int, tag: str) -> None:
    """Start ``count`` labelled containers, a third on each node, a few at a time each."""

    async def node(engine: swarmnet.Engine, names: list[str]) -> None:
        limit = anyio.Semaphore(STARTERS_PER_NODE)

        async def one(name: str) -> None:
            async with limit:
                await engine.containers.run(
                    LAB_IMAGE, ["sleep", "3600"], name=name, labels={**LABEL, "bench": tag}
                )

        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(one, name)

    per_node: list[list[str]] = [[] for _ in engines]
    for i in range(count):
        per_node[i % len(engines)].append(f"{tag}-{i:03d}")
    async with anyio.create_task_group() as tg:
        for engine, names in zip(engines, per_node, strict=True):
            tg.start_soon(node, engine, names)


class _Observer:
    """Every node's events, followed live from before the burst (the engine replays only
    its last 256 events, fewer than a burst makes): each container's ``start`` and its
    first ``connect`` to ``app``, in the engine's own time."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.started: dict[str, float] = {}
        self.connected: dict[str, float] = {}
        self.changed = anyio.Event()

    async def follow(self, engine: swarmnet.Engine, ready: anyio.Event) -> None:
        async with engine.events(type=["container", "network"]) as events:
            ready.set()
            async for event in events:
                if (
                    isinstance(event, ContainerEvent)
                    and event.action == "start"
                    and event.attributes.get("bench") == self.tag
                ):
                    self.started.setdefault(event.actor_id, event.time_nano / 1e9)
                elif (
                    isinstance(event, NetworkEvent)
                    and event.action == "connect"
                    and event.name == NETWORK
                    and event.container_id
                ):
                    self.connected.setdefault(event.container_id, event.time_nano / 1e9)
                else:
                    continue
                self.changed.set()

    def done(self, count: int) -> bool:
        return len(self.started) >= count and all(c in self.connected for c in self.started)


async def _measure(name: str, engines: list[swarmnet.Engine], count: int, tag: str) -> Outcome:
    observer = _Observer(tag)
    outcome = Outcome(name)
    async with anyio.create_task_group() as tg:
        for engine in engines:
            ready = anyio.Event()
            tg.start_soon(observer.follow, engine, ready)
            await ready.wait()
        burst_at = time.monotonic()
        await _burst(engines, count, tag)
        with anyio.move_on_after(GIVE_UP):
            while not observer.done(count):
                observer.changed = anyio.Event()
                await observer.changed.wait()
        outcome.all_connected = time.monotonic() - burst_at
        tg.cancel_scope.cancel()
    started, connected = observer.started, observer.connected
    outcome.latencies = [connected[c] - started[c] for c in started if c in connected]
    outcome.missing = count - len(outcome.latencies)
    return outcome


async def _remove(engines: list[swarmnet.Engine], tag: str) -> None:
    async def node(engine: swarmnet.Engine) -> None:
        for container in await engine.containers.list(labels={"bench": tag}, all=True):
            await engine.containers.remove(container.id)

    async with anyio.create_task_group() as tg:
        for engine in engines:
            tg.start_soon(node, engine)


def _docker_py_loop(hosts: list[str], stop: threading.Event) -> Callable[[], None]:
    """Start the hand-written event loop, one thread per node; return its stopper."""
    clients = [docker.DockerClient(base_url=host, version="1.41") for host in hosts]
    streams = []
    failures: list[str] = []

    def follow(client: docker.DockerClient) -> None:
        events = client.events(
            decode=True,
            filters={"type": "container", "event": "start", "label": "join=app"},
        )
        streams.append(events)
        for event in events:
            if stop.is_set():
                return
            name = event["Actor"]["Attributes"]["name"]
            try:
                client.api.connect_container_to_network(event["id"], NETWORK, aliases=[name])
            except docker.errors.APIError as exc:
                # What a careful script does: say so and go on (no retry queue).
                failures.append(f"{name}: {exc.explanation}")

    threads = [threading.Thread(target=follow, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()

    def close() -> None:
        if failures:
            print(f"docker-py loop: {len(failures)} connect(s) failed, e.g. {failures[0]}")
        stop.set()
        for events in streams:
            events.close()
        for client in clients:
            client.close()

    return close


async def bench(lab: Lab, count: int, concurrency: int, contenders: list[str]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    async with AsyncExitStack() as stack:
        engines = [await stack.enter_async_context(n.engine()) for n in lab.nodes[:3]]
        await swarmnet.dissolve(engines)
        await swarmnet.form_cluster(
            engines, managers=1, advertise_addrs=[n.address for n in lab.nodes[:3]]
        )
        # A /22: the default /24 holds 250 containers once each node's load balancer
        # took its address, and a connect beyond that waits 20 s and fails.
        await engines[0].networks.ensure(
            swarmnet.OverlaySpec(
                name=NETWORK, attachable=True, pools=[swarmnet.IPAMPool(subnet=SUBNET)]
            )
        )
        try:
            if "swarmnet" in contenders:
                settings = swarmnet.ControllerSettings(concurrency=concurrency)
                controller = swarmnet.Controller(*engines, settings=settings)
                swarmnet.keep_connected(controller, NETWORK, labels=LABEL)
                async with controller:
                    outcomes.append(await _measure("swarmnet", engines, count, "sw"))
                    stats = controller.stats()
                print(
                    f"swarmnet controller: {stats.runs} runs, {stats.failed} failed, "
                    f"{stats.retries} retried, {stats.gave_up} given up, "
                    f"{stats.resyncs} resyncs"
                )
                await _remove(engines, "sw")

            if "docker-py" in contenders:
                hosts = [n.docker_host for n in lab.nodes[:3]]
                close = _docker_py_loop(hosts, threading.Event())
                try:
                    await anyio.sleep(1)  # the threads subscribe
                    outcomes.append(await _measure("docker-py loop", engines, count, "dp"))
                finally:
                    close()
                await _remove(engines, "dp")
        finally:
            await _remove(engines, "sw")
            await _remove(engines, "dp")
            with anyio.move_on_after(30):
                while True:
                    try:
                        await engines[0].networks.remove(NETWORK)
                        break
                    except swarmnet.NetworkNotFound:
                        break
                    except swarmnet.EngineAPIError:
                        await anyio.sleep(0.5)
            await swarmnet.dissolve(engines)
    return outcomes


def report(outcomes: list[Outcome], count: int) -> None:
    base = outcomes[0]
    print(f"\n{count} labelled containers started in a burst across 3 nodes:\n")
    print("| contender | p50 | p99 | max | all connected | not connected | p50 vs swarmnet |")
    print("|---|---|---|---|---|---|---|")
    for o in outcomes:
        if not o.latencies:
            print(f"| {o.name} | - | - | - | - | {o.missing} | - |")
            continue
        p50 = statistics.median(o.latencies)
        print(
            f"| {o.name} | {p50:.2f} s | {o.quantile(0.99):.2f} s | {max(o.latencies):.2f} s | "
            f"{o.all_connected:.1f} s | {o.missing} | "
            f"{p50 / statistics.median(base.latencies):.2f}x |"
        )


async def main(args: argparse.Namespace) -> None:
    lab = Lab(args.lab, nodes=3)
    await lab.up()
    try:
        outcomes = await bench(lab, args.containers, args.concurrency, args.contenders)
    finally:
        if not args.keep:
            await lab.down()
    report(outcomes, args.containers)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=300, help="how many (default 300)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=swarmnet.ControllerSettings().concurrency,
        help="the controller's reconcile runs at once (default: its default, %(default)s)",
    )
    parser.add_argument(
        "--contenders",
        nargs="+",
        choices=("swarmnet", "docker-py"),
        default=["swarmnet", "docker-py"],
        help="who runs (default: both, swarmnet first)",
    )
    parser.add_argument("--lab", default="bench", help="the lab's name (default: bench)")
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    return parser.parse_args()


if __name__ == "__main__":
    # Benchmarks print their own table; the library's logs stay quiet.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    anyio.run(main, parse())
