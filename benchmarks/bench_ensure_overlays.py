"""Ensure a batch of attachable overlays: swarmnet vs docker-py vs the docker CLI.

Every contender does the same job twice on its own set of N overlay names on one
swarm manager: "inspect it, create it when missing". The first pass creates all N,
the second finds them all. Side by side in the same run:

* ``swarmnet ensure_many``: lists the engine's networks once, compares every spec,
  creates the missing ones (16 at a time), lists once more. Second pass: one request.
* ``swarmnet ensure`` one by one: the per-network call, N times.
* ``docker-py``: ``networks.get`` and, on NotFound, ``networks.create`` per name.
* ``docker CLI``: ``docker network inspect NAME || docker network create …`` per name.

Printed: wall time per pass, engine requests (where countable), writes, and each
contender's time as a multiple of ``ensure_many``'s.

Usage::

    python benchmarks/bench_ensure_overlays.py            # 100 overlays, a lab node
    python benchmarks/bench_ensure_overlays.py --quick    # 20 overlays
    python benchmarks/bench_ensure_overlays.py --host unix:///var/run/docker.sock \
        --advertise-addr 10.0.0.5

Without ``--host`` (or ``DOCKER_HOST``) it uses node1 of the lab named by
``SWARMNET_LAB_NAME`` (default ``bench``), bringing a one-node lab up if there is none
and down again at the end. An engine in no swarm is made a one-node swarm for the run
and leaves it afterwards. Every network made is removed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import docker
import docker.errors
import structlog

import swarmnet
from swarmnet.lab import Lab


@dataclass
class Row:
    """One contender's figures."""

    name: str
    seconds: list[float] = field(default_factory=list)
    requests: list[int | None] = field(default_factory=list)
    writes: list[int | None] = field(default_factory=list)


@dataclass
class Counter:
    """Counts a swarmnet engine's requests (through ``Engine(on_request=…)``)."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, method: str, path: str) -> None:
        self.calls.append((method, path))

    def take(self) -> tuple[int, int]:
        total = len(self.calls)
        writes = sum(1 for method, _ in self.calls if method != "GET")
        self.calls.clear()
        return total, writes


def _specs(prefix: str, count: int) -> list[swarmnet.OverlaySpec]:
    return [
        swarmnet.OverlaySpec(name=f"{prefix}{i:03d}", attachable=True, labels={"bench": prefix})
        for i in range(count)
    ]


async def _bench_swarmnet(
    name: str,
    host: str,
    specs: list[swarmnet.OverlaySpec],
    run: Callable[[swarmnet.Engine, list[swarmnet.OverlaySpec]], Awaitable[None]],
) -> Row:
    """Time ``run`` twice (creating, then all present) and count its requests each time."""
    row = Row(name)
    counter = Counter()
    async with swarmnet.Engine(host, on_request=counter) as engine:
        counter.take()
        for _ in range(2):
            started = time.perf_counter()
            await run(engine, specs)
            row.seconds.append(time.perf_counter() - started)
            total, writes = counter.take()
            row.requests.append(total)
            row.writes.append(writes)
    return row


async def bench_ensure_many(host: str, prefix: str, count: int) -> Row:
    async def run(engine: swarmnet.Engine, specs: list[swarmnet.OverlaySpec]) -> None:
        results = await engine.networks.ensure_many(specs)
        assert len(results) == count

    return await _bench_swarmnet("swarmnet ensure_many", host, _specs(prefix, count), run)


async def bench_ensure_each(host: str, prefix: str, count: int) -> Row:
    async def run(engine: swarmnet.Engine, specs: list[swarmnet.OverlaySpec]) -> None:
        for spec in specs:
            await engine.networks.ensure(spec)

    return await _bench_swarmnet("swarmnet ensure (each)", host, _specs(prefix, count), run)


def bench_docker_py(host: str, prefix: str, count: int) -> Row:
    row = Row("docker-py get/create")
    client = docker.DockerClient(base_url=host, version="1.41")
    names = [f"{prefix}{i:03d}" for i in range(count)]
    try:
        for _ in range(2):
            started = time.perf_counter()
            created = 0
            for name in names:
                try:
                    client.networks.get(name)
                except docker.errors.NotFound:
                    client.networks.create(
                        name,
                        driver="overlay",
                        attachable=True,
                        check_duplicate=True,
                        labels={"bench": prefix},
                    )
                    created += 1
            row.seconds.append(time.perf_counter() - started)
            # get = 1 inspect; create = create + the inspect docker-py does after it.
            row.requests.append(count + 2 * created)
            row.writes.append(created)
    finally:
        client.close()
    return row


def bench_cli(host: str, prefix: str, count: int) -> Row:
    row = Row("docker CLI inspect||create")
    env = {**os.environ, "DOCKER_HOST": host}
    names = [f"{prefix}{i:03d}" for i in range(count)]

    def run(*argv: str) -> int:
        return subprocess.run(
            ["docker", *argv], env=env, capture_output=True, check=False
        ).returncode

    for _ in range(2):
        started = time.perf_counter()
        created = 0
        for name in names:
            if run("network", "inspect", name) != 0:
                code = run(
                    "network",
                    "create",
                    "--driver",
                    "overlay",
                    "--attachable",
                    "--label",
                    f"bench={prefix}",
                    name,
                )
                if code != 0:
                    raise RuntimeError(f"docker network create {name} failed")
                created += 1
        row.seconds.append(time.perf_counter() - started)
        row.requests.append(None)  # each CLI call also asks /_ping and /version
        row.writes.append(created)
    return row


async def cleanup(host: str, prefixes: list[str]) -> None:
    async with swarmnet.Engine(host) as engine:
        for prefix in prefixes:
            for network in await engine.networks.list(labels={"bench": prefix}):
                await engine.networks.remove(network.id)


def report(rows: list[Row], count: int) -> None:
    base = rows[0]
    print(f"\nensure {count} attachable overlays, two passes (first creates, second finds)\n")
    header = (
        f"{'contender':<28}{'pass 1 s':>10}{'pass 2 s':>10}{'requests 1/2':>16}{'writes 1/2':>12}"
    )
    print(header + f"{'x pass 1':>10}{'x pass 2':>10}")
    for row in rows:
        requests = "/".join("-" if r is None else str(r) for r in row.requests)
        writes = "/".join("-" if w is None else str(w) for w in row.writes)
        ratios = [row.seconds[i] / base.seconds[i] for i in range(2)]
        print(
            f"{row.name:<28}{row.seconds[0]:>10.3f}{row.seconds[1]:>10.3f}"
            f"{requests:>16}{writes:>12}{ratios[0]:>9.1f}x{ratios[1]:>9.1f}x"
        )
    print("\n(x = time relative to swarmnet ensure_many in the same run; higher is slower)")


async def prepare(args: argparse.Namespace) -> tuple[str, Lab | None, bool]:
    """Pick the engine (and the lab to bring down after), make it a manager if needed."""
    lab_to_remove: Lab | None = None
    host = args.host or os.environ.get("DOCKER_HOST")
    advertise = args.advertise_addr
    if not host:
        lab = Lab(os.environ.get("SWARMNET_LAB_NAME") or "bench", nodes=1)
        if not _lab_exists(lab):
            lab_to_remove = lab
        await lab.up()
        host, advertise = lab.nodes[0].docker_host, lab.nodes[0].address
    async with swarmnet.Engine(host) as engine:
        info = await engine.info()
        made_swarm = False
        if info.swarm.local_node_state is swarmnet.models.LocalNodeState.INACTIVE:
            if not advertise:
                raise SystemExit("the engine is in no swarm: give --advertise-addr to init one")
            await engine.swarm.init(advertise_addr=advertise)
            made_swarm = True
        elif not info.swarm.is_manager:
            raise SystemExit(f"{host} is not a swarm manager")
    return host, lab_to_remove, made_swarm


def _lab_exists(lab: Lab) -> bool:
    try:
        Lab.existing(lab.name)
    except swarmnet.errors.LabError:
        return False
    return True


async def main(args: argparse.Namespace) -> None:
    count = 20 if args.quick else args.count
    host, lab_to_remove, made_swarm = await prepare(args)
    run_id = uuid.uuid4().hex[:4]
    prefixes = {k: f"bench{run_id}{k}-" for k in ("m", "e", "p", "c")}
    rows: list[Row] = []
    try:
        rows.append(await bench_ensure_many(host, prefixes["m"], count))
        rows.append(await bench_ensure_each(host, prefixes["e"], count))
        rows.append(await anyio.to_thread.run_sync(bench_docker_py, host, prefixes["p"], count))
        if shutil.which("docker"):
            rows.append(await anyio.to_thread.run_sync(bench_cli, host, prefixes["c"], count))
        else:
            print("docker CLI not found: its row is left out")
        report(rows, count)
    finally:
        await cleanup(host, list(prefixes.values()))
        if made_swarm:
            async with swarmnet.Engine(host) as engine:
                await engine.swarm.leave(force=True)
        if lab_to_remove is not None:
            await lab_to_remove.down()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", help="a swarm manager's docker host (default: DOCKER_HOST)")
    parser.add_argument("--advertise-addr", help="to init a swarm on an engine in none")
    parser.add_argument("--count", type=int, default=100, help="overlays per contender (100)")
    parser.add_argument("--quick", action="store_true", help="20 overlays")
    return parser.parse_args()


if __name__ == "__main__":
    # An application, unlike the library, decides what its logs show: warnings and up.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    anyio.run(main, parse())
