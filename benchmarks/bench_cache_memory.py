"""Memory per cached object: the Watcher's caches vs docker-py and aiodocker holding lists.

A controller keeps the objects it watches in memory. This measures what one more object
costs, for containers, networks and services, by filling a 3-node lab swarm with a
small and a large number of each and holding them three ways in this process:

* ``swarmnet Watcher``: ``async with Watcher(*engines)`` with handlers for containers,
  services and networks: ``watcher.objects`` (containers per engine, services once) and
  ``watcher.cache`` (networks per engine with their endpoints), filled by its first read.
* ``docker-py``: ``client.containers.list(all=True)`` (a full inspect per container, as
  docker-py does), ``client.networks.list()`` and ``client.services.list()`` per engine,
  the objects kept.
* ``aiodocker``: ``containers.list(all=True)``, ``networks.list()`` and
  ``services.list()`` per engine, the results kept.

Each holder's memory is what ``tracemalloc`` counts as allocated while it was made and
still held after a ``gc.collect()``. The cost of one object is the difference between
the large and the small fill divided by the difference in objects (the marginal cost:
fixed costs such as the connections cancel out). Reported in bytes and as ratios.

Containers are ``sleep`` containers labelled like a controller's, each on the overlay
``mem`` (so each has an endpoint); networks are overlays made on the manager (the
engines' default local pools hold about 30 bridges each); services have 0 replicas (no
tasks: the service alone). Swarm nodes are not measured:
a lab of 3 gives no useful marginal figure.

Usage::

    python benchmarks/bench_cache_memory.py                       # 30 → 240 of each
    python benchmarks/bench_cache_memory.py --small 20 --large 120 --lab bench --keep
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiodocker
import anyio
import docker
import structlog

import swarmnet
from swarmnet.lab import LAB_IMAGE, Lab

OVERLAY = "mem"
KINDS = ("container", "network", "service")
#: Writes in flight per engine while filling.
WRITERS = 6


async def _measured(make: Callable[[], Awaitable[Any]]) -> tuple[int, Any]:
    """Bytes allocated by ``make()`` and still held by what it returns."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    held = await make()
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - before, held


async def _watcher_bytes(engines: list[swarmnet.Engine], expect: dict[str, int]) -> int:
    watcher = swarmnet.Watcher(*engines)

    def ignore(event: object, **kwargs: object) -> None:
        return None

    for kind in ("container", "service", "network"):
        watcher.on(type=kind)(ignore)

    async def make() -> swarmnet.Watcher:
        await watcher.__aenter__()  # subscribed, and every engine read
        cached = {
            "container": len(watcher.objects.containers()),
            "service": len(watcher.objects.services()),
        }
        if any(cached[kind] < count for kind, count in expect.items()):
            raise RuntimeError(f"the watcher holds {cached}, expected at least {expect}")
        return watcher

    try:
        used, _ = await _measured(make)
    finally:
        await watcher.__aexit__(None, None, None)
    return used


def _docker_py_bytes(hosts: list[str]) -> int:
    clients = [docker.DockerClient(base_url=host, version="1.41") for host in hosts]
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        held = [
            (c.containers.list(all=True), c.networks.list(), c.services.list())
            if i == 0
            else (c.containers.list(all=True), c.networks.list(), [])
            for i, c in enumerate(clients)
        ]
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
        del held
        return used
    finally:
        for client in clients:
            client.close()


async def _aiodocker_bytes(hosts: list[str]) -> int:
    clients = [aiodocker.Docker(url=host) for host in hosts]
    try:
        # One request first, so that the connection pools are not counted.
        for client in clients:
            await client.version()

        async def make() -> list[Any]:
            held: list[Any] = []
            for i, client in enumerate(clients):
                held.append(await client.containers.list(all=True))
                held.append(await client.networks.list())
                if i == 0:
                    held.append(await client.services.list())
            return held

        used, held = await _measured(make)
        del held
        return used
    finally:
        for client in clients:
            await client.close()


async def _fill(engines: list[swarmnet.Engine], count: int, kind: str, tag: str) -> int:
    """Make ``count`` objects of ``kind`` (spread over the engines); how many were made."""
    manager = engines[0]

    async def on(engine: swarmnet.Engine, names: list[str]) -> None:
        limit = anyio.Semaphore(WRITERS)

        async def one(name: str) -> None:
            async with limit:
                if kind == "container":
                    await engine.containers.run(
                        LAB_IMAGE,
                        ["sleep", "3600"],
                        name=name,
                        labels={"bench": tag, "swarmnet.join": "app", "tier": "web"},
                        networks=[OVERLAY],
                    )
                elif kind == "network":
                    await engine.networks.create(
                        swarmnet.OverlaySpec(name=name, labels={"bench": tag})
                    )
                else:
                    await engine.services.create(
                        swarmnet.ServiceSpec(
                            name=name,
                            image=LAB_IMAGE,
                            command=("sleep", "3600"),
                            replicas=0,
                            labels={"bench": tag},
                            networks=(OVERLAY,),
                        )
                    )

        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(one, name)

    where = engines if kind == "container" else [manager]
    per: list[list[str]] = [[] for _ in where]
    for i in range(count):
        per[i % len(where)].append(f"{tag}-{kind[0]}{i:04d}")
    async with anyio.create_task_group() as tg:
        for engine, names in zip(where, per, strict=True):
            tg.start_soon(on, engine, names)
    return count


async def _empty(engines: list[swarmnet.Engine], tag: str) -> None:
    manager = engines[0]
    for service in await manager.services.list():
        if service.labels.get("bench") == tag:
            await manager.services.remove(service.id)

    async def node(engine: swarmnet.Engine) -> None:
        for container in await engine.containers.list(labels={"bench": tag}, all=True):
            await engine.containers.remove(container.id)
        for network in await engine.networks.list():
            if network.labels.get("bench") == tag:
                await engine.networks.remove(network.id)

    async with anyio.create_task_group() as tg:
        for engine in engines:
            tg.start_soon(node, engine)


async def bench(lab: Lab, small: int, large: int) -> dict[str, dict[str, float]]:
    hosts = [n.docker_host for n in lab.nodes[:3]]
    per_object: dict[str, dict[str, float]] = {}
    async with AsyncExitStack() as stack:
        engines = [await stack.enter_async_context(n.engine()) for n in lab.nodes[:3]]
        await swarmnet.dissolve(engines)
        await swarmnet.form_cluster(
            engines, managers=1, advertise_addrs=[n.address for n in lab.nodes[:3]]
        )
        await engines[0].networks.ensure(swarmnet.OverlaySpec(name=OVERLAY, attachable=True))
        tracemalloc.start()
        try:
            for kind in KINDS:
                figures: dict[str, list[int]] = {}
                for count in (small, large):
                    tag = f"m{count}"
                    await _fill(engines, count, kind, tag)
                    expect = {"container": 0, "service": 0}
                    if kind in expect:
                        expect[kind] = count
                    figures.setdefault("swarmnet Watcher", []).append(
                        await _watcher_bytes(engines, expect)
                    )
                    figures.setdefault("docker-py", []).append(
                        await anyio.to_thread.run_sync(_docker_py_bytes, hosts)
                    )
                    figures.setdefault("aiodocker", []).append(await _aiodocker_bytes(hosts))
                    await _empty(engines, tag)
                per_object[kind] = {
                    name: (big - little) / (large - small)
                    for name, (little, big) in figures.items()
                }
                print(
                    f"  {kind}: "
                    + ", ".join(f"{n} {b:,.0f} B" for n, b in per_object[kind].items()),
                    flush=True,
                )
        finally:
            tracemalloc.stop()
            for count in (small, large):
                await _empty(engines, f"m{count}")
            await engines[0].networks.remove(OVERLAY)
            await swarmnet.dissolve(engines)
    return per_object


def report(per_object: dict[str, dict[str, float]], small: int, large: int) -> None:
    print(f"\nMemory per cached object (marginal, {small} → {large} of each, 3 engines):\n")
    print("| object | swarmnet Watcher | docker-py | aiodocker | vs docker-py | vs aiodocker |")
    print("|---|---|---|---|---|---|")
    for kind, row in per_object.items():
        ours = row["swarmnet Watcher"]
        print(
            f"| {kind} | {ours:,.0f} B | {row['docker-py']:,.0f} B | {row['aiodocker']:,.0f} B | "
            f"{ours / row['docker-py']:.2f}x | {ours / row['aiodocker']:.2f}x |"
        )


async def main(args: argparse.Namespace) -> None:
    lab = Lab(args.lab, nodes=3)
    await lab.up()
    try:
        per_object = await bench(lab, args.small, args.large)
    finally:
        if not args.keep:
            await lab.down()
    report(per_object, args.small, args.large)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--small", type=int, default=30, help="the small fill (default 30)")
    parser.add_argument("--large", type=int, default=240, help="the large fill (default 240)")
    parser.add_argument("--lab", default="bench", help="the lab's name (default: bench)")
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    args = parser.parse_args()
    if not 0 < args.small < args.large:
        parser.error("--small must be more than 0 and less than --large")
    return args


if __name__ == "__main__":
    # Benchmarks print their own table; the library's logs stay quiet.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    anyio.run(main, parse())
