"""Swarm services: swarmnet vs docker-py vs the docker CLI, in one run, with ratios.

Part 1, ensure a batch: N services (default 20), each on two overlays, dnsrr, 0 replicas
(the job is the API's, not the scheduler's), done twice by each contender on its own
names: the first pass creates all N, the second finds all N.

* ``swarmnet ensure_many``: checks every spec and network (one network list), lists the
  services once, creates the missing ones (8 at a time). Second pass, through the
  same engine object: no write and one request (the service list, compared by the
  network ids the first pass listed); every field the specs mention is compared.
* ``docker-py``: ``services.get`` and, on NotFound, ``services.create`` per name (its
  second pass only checks that each exists: it compares nothing).
* ``docker CLI``: ``docker service inspect NAME || docker service create --detach
  --no-resolve-image …`` per name (without ``--no-resolve-image`` the CLI spends about
  20 s per create looking for a registry).

Part 2, create to converged: a 3-task dnsrr service on an overlay, from the create call
until every task runs, a few rounds each (median shown):

* ``swarmnet``: ``create`` then ``wait_converged`` (tasks of the current spec, 0.1 s polls).
* ``docker-py + polling``: ``services.create`` then ``service.tasks()`` every 0.1 s until
  three run.
* ``docker CLI``: ``docker service create --detach=false`` (it also watches the tasks
  for its 5 s monitor period before it returns: that is what users wait for).

Usage::

    python benchmarks/bench_services.py            # 20 services, 3 rounds
    python benchmarks/bench_services.py --quick    # 10 services, 2 rounds
    python benchmarks/bench_services.py --host unix:///run/swarmnet-lab/svc/node1/docker.sock

Without ``--host`` it uses the 3-node lab named by ``SWARMNET_LAB_NAME`` (default
``bench``), bringing it up (and a swarm on it) if needed and taking down what it made.
Everything it creates is removed.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import anyio
import docker
import docker.errors
import docker.types
import structlog

import swarmnet
from swarmnet import ServiceSpec
from swarmnet.lab import LAB_IMAGE, Lab

IMAGE = os.environ.get("SWARMNET_BENCH_IMAGE", LAB_IMAGE)
ARGS = ["sleep", "3600"]


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


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(count)]


# -- part 1: ensure a batch ----------------------------------------------------------------


async def bench_ensure_many(host: str, prefix: str, count: int, networks: list[str]) -> Row:
    row = Row("swarmnet ensure_many")
    specs = [
        ServiceSpec(
            name=name,
            image=IMAGE,
            args=tuple(ARGS),
            replicas=0,
            networks=tuple(networks),
            endpoint_mode="dnsrr",
            labels={"bench": prefix},
        )
        for name in _names(prefix, count)
    ]
    counter = Counter()
    async with swarmnet.Engine(host, on_request=counter) as engine:
        counter.take()
        for _ in range(2):
            started = time.perf_counter()
            results = await engine.services.ensure_many(specs)
            row.seconds.append(time.perf_counter() - started)
            assert len(results) == count
            total, writes = counter.take()
            row.requests.append(total)
            row.writes.append(writes)
    return row


def bench_docker_py(host: str, prefix: str, count: int, networks: list[str]) -> Row:
    row = Row("docker-py get/create")
    client = docker.DockerClient(base_url=host, version="1.41")
    try:
        for _ in range(2):
            started = time.perf_counter()
            created = 0
            for name in _names(prefix, count):
                try:
                    client.services.get(name)
                except docker.errors.NotFound:
                    client.services.create(
                        IMAGE,
                        ARGS,
                        name=name,
                        networks=networks,
                        endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
                        mode=docker.types.ServiceMode("replicated", replicas=0),
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


def _docker(host: str, *argv: str) -> int:
    env = {**os.environ, "DOCKER_HOST": host}
    return subprocess.run(["docker", *argv], env=env, capture_output=True, check=False).returncode


def bench_cli(host: str, prefix: str, count: int, networks: list[str]) -> Row:
    row = Row("docker CLI inspect||create")
    network_flags = [flag for n in networks for flag in ("--network", n)]
    for _ in range(2):
        started = time.perf_counter()
        created = 0
        for name in _names(prefix, count):
            if _docker(host, "service", "inspect", name) != 0:
                code = _docker(
                    host,
                    *("service", "create", "--detach", "--no-resolve-image", "--quiet"),
                    *("--name", name, "--replicas", "0", "--endpoint-mode", "dnsrr"),
                    *("--label", f"bench={prefix}", *network_flags, IMAGE, *ARGS),
                )
                if code != 0:
                    raise RuntimeError(f"docker service create {name} failed")
                created += 1
        row.seconds.append(time.perf_counter() - started)
        row.requests.append(None)  # each CLI call also asks /_ping and /version
        row.writes.append(created)
    return row


# -- part 2: create to converged -----------------------------------------------------------


async def converge_swarmnet(host: str, name: str, network: str) -> float:
    spec = ServiceSpec(
        name=name,
        image=IMAGE,
        args=tuple(ARGS),
        replicas=3,
        networks=(network,),
        endpoint_mode="dnsrr",
        labels={"bench": name},
    )
    async with swarmnet.Engine(host) as engine:
        started = time.perf_counter()
        created = await engine.services.create(spec)
        await engine.services.wait_converged(created.id, poll_interval=0.1)
        return time.perf_counter() - started


def converge_docker_py(host: str, name: str, network: str) -> float:
    client = docker.DockerClient(base_url=host, version="1.41")
    try:
        started = time.perf_counter()
        service = client.services.create(
            IMAGE,
            ARGS,
            name=name,
            networks=[network],
            endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
            mode=docker.types.ServiceMode("replicated", replicas=3),
            labels={"bench": name},
        )
        while True:
            tasks = service.tasks(filters={"desired-state": "running"})
            if sum(t["Status"]["State"] == "running" for t in tasks) >= 3:
                return time.perf_counter() - started
            time.sleep(0.1)
    finally:
        client.close()


def converge_cli(host: str, name: str, network: str) -> float:
    started = time.perf_counter()
    code = _docker(
        host,
        *("service", "create", "--detach=false", "--no-resolve-image", "--quiet"),
        *("--name", name, "--replicas", "3", "--endpoint-mode", "dnsrr", "--network", network),
        *("--label", f"bench={name}", IMAGE, *ARGS),
    )
    if code != 0:
        raise RuntimeError(f"docker service create {name} failed")
    return time.perf_counter() - started


async def remove_services(host: str, prefix: str) -> None:
    """Remove every service named ``prefix…`` and wait until their tasks are gone."""
    async with swarmnet.Engine(host) as engine:
        for service in await engine.services.list():
            if service.name.startswith(prefix):
                await engine.services.remove(service.id, missing_ok=True)
        with anyio.move_on_after(60):
            while True:
                names = {s.name for s in await engine.services.list()}
                if not any(n.startswith(prefix) for n in names):
                    break
                await anyio.sleep(0.2)
        # Containers of removed tasks go away after the service; give them a moment.
        await anyio.sleep(2)


async def bench_converge(host: str, prefix: str, network: str, rounds: int) -> list[Row]:
    rows = [Row("swarmnet create+wait_converged"), Row("docker-py create+polling")]
    contenders: list[tuple[Row, Callable[[str, str, str], float] | None]] = [
        (rows[0], None),
        (rows[1], converge_docker_py),
    ]
    if shutil.which("docker"):
        rows.append(Row("docker CLI --detach=false"))
        contenders.append((rows[2], converge_cli))
    for round_ in range(rounds):
        # Each round starts with the next contender: whoever goes first meets the
        # engines still stopping the last round's tasks.
        shift = round_ % len(contenders)
        for index, (row, sync) in enumerate(contenders[shift:] + contenders[:shift]):
            name = f"{prefix}{round_}{index}"
            if sync is None:
                row.seconds.append(await converge_swarmnet(host, name, network))
            else:
                row.seconds.append(await anyio.to_thread.run_sync(sync, host, name, network))
            await remove_services(host, name)
    return rows


# -- running it ----------------------------------------------------------------------------


def report_ensure(rows: list[Row], count: int) -> None:
    base = rows[0]
    print(f"\nensure {count} services, each on two overlays, two passes (create, then find)\n")
    print(
        f"{'contender':<30}{'pass 1 s':>10}{'pass 2 s':>10}{'requests 1/2':>16}"
        f"{'writes 1/2':>12}{'x pass 1':>10}{'x pass 2':>10}"
    )
    for row in rows:
        requests = "/".join("-" if r is None else str(r) for r in row.requests)
        writes = "/".join("-" if w is None else str(w) for w in row.writes)
        ratios = [row.seconds[i] / base.seconds[i] for i in range(2)]
        print(
            f"{row.name:<30}{row.seconds[0]:>10.3f}{row.seconds[1]:>10.3f}"
            f"{requests:>16}{writes:>12}{ratios[0]:>9.1f}x{ratios[1]:>9.1f}x"
        )


def report_converge(rows: list[Row]) -> None:
    base = statistics.median(rows[0].seconds)
    rounds = len(rows[0].seconds)
    print(f"\ncreate a 3-task dnsrr service until every task runs ({rounds} rounds)\n")
    print(f"{'contender':<34}{'median s':>10}{'min s':>8}{'max s':>8}{'x':>8}")
    for row in rows:
        median = statistics.median(row.seconds)
        print(
            f"{row.name:<34}{median:>10.2f}{min(row.seconds):>8.2f}{max(row.seconds):>8.2f}"
            f"{median / base:>7.1f}x"
        )
    print("\n(x = time relative to swarmnet's row in the same run; higher is slower)")


async def prepare(args: argparse.Namespace, stack: AsyncExitStack) -> str:
    """Pick the manager; bring up a lab (and a swarm on it) when no host is given."""
    host = args.host or os.environ.get("DOCKER_HOST")
    if host:
        return str(host)
    lab = Lab(os.environ.get("SWARMNET_LAB_NAME") or "bench", nodes=3)
    try:
        Lab.existing(lab.name)
    except swarmnet.errors.LabError:
        stack.push_async_callback(lab.down)
    await lab.up()
    engines = [await stack.enter_async_context(node.engine()) for node in lab.nodes]
    if not (await engines[0].info()).swarm.is_manager:
        await swarmnet.form_cluster(
            engines, managers=1, advertise_addrs=[node.address for node in lab.nodes]
        )
    return lab.nodes[0].docker_host


async def main(args: argparse.Namespace) -> None:
    count = 10 if args.quick else args.count
    rounds = 2 if args.quick else args.rounds
    async with AsyncExitStack() as stack:
        host = await prepare(args, stack)
        run_id = uuid.uuid4().hex[:4]
        prefixes = {k: f"bsv{run_id}{k}-" for k in ("m", "p", "c", "v")}
        networks = [f"bsv{run_id}-a", f"bsv{run_id}-b"]
        async with swarmnet.Engine(host) as engine:
            for network in networks:
                await engine.networks.ensure(swarmnet.OverlaySpec(name=network))
        try:
            rows = [await bench_ensure_many(host, prefixes["m"], count, networks)]
            rows.append(
                await anyio.to_thread.run_sync(
                    bench_docker_py, host, prefixes["p"], count, networks
                )
            )
            if shutil.which("docker"):
                rows.append(
                    await anyio.to_thread.run_sync(bench_cli, host, prefixes["c"], count, networks)
                )
            report_ensure(rows, count)
            for prefix in ("m", "p", "c"):
                await remove_services(host, prefixes[prefix])
            report_converge(await bench_converge(host, prefixes["v"], networks[0], rounds))
        finally:
            for prefix in prefixes.values():
                await remove_services(host, prefix)
            async with swarmnet.Engine(host) as engine:
                for network in networks:
                    with anyio.move_on_after(30):
                        while True:
                            try:
                                await engine.networks.remove(network)
                                break
                            except swarmnet.NetworkNotFound:
                                break
                            except swarmnet.EngineAPIError:
                                await anyio.sleep(0.5)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", help="a swarm manager's docker host (default: DOCKER_HOST)")
    parser.add_argument("--count", type=int, default=20, help="services per contender (20)")
    parser.add_argument("--rounds", type=int, default=3, help="create-to-converged rounds (3)")
    parser.add_argument("--quick", action="store_true", help="10 services, 2 rounds")
    return parser.parse_args()


if __name__ == "__main__":
    # An application, unlike the library, decides what its logs show: warnings and up.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    anyio.run(main, parse())
