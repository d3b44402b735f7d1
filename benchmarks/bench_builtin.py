"""Read the built-in networks of every node of a swarm: swarmnet vs docker-py vs the CLI.

The job, repeated for a number of rounds: on each node of a 3-node swarm, read the
ingress network verbosely (peers included) and docker_gwbridge. Side by side in the
same run:

* ``swarmnet, concurrent``: ``swarmnet.ingress`` and ``swarmnet.gwbridge`` on all
  nodes at once (one task group); typed views come back.
* ``swarmnet, one by one``: the same calls, node after node.
* ``docker-py``: ``networks.get("ingress", verbose=True)`` and
  ``networks.get("docker_gwbridge")`` per node (dicts come back).
* ``docker CLI``: ``docker network inspect --verbose ingress`` and ``docker network
  inspect docker_gwbridge`` per node.

Then ``swarmnet.doctor`` over the three engines, with and without the port checks (no
other tool does this job; its time is printed on its own, with its summary line).

Printed: the median time of a round for each contender, and each one as a multiple of
``swarmnet, concurrent``.

Usage::

    python benchmarks/bench_builtin.py            # 30 rounds, 5 doctor runs
    python benchmarks/bench_builtin.py --quick    # 8 rounds, 2 doctor runs

It uses the lab named by ``SWARMNET_LAB_NAME`` (default ``bench``) with 3 nodes,
bringing it up if needed (and down at the end), and makes it a swarm for the run if it
is in none (and dissolves it afterwards).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import anyio
import docker
import structlog

import swarmnet
from swarmnet.lab import Lab


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def timed(rounds: int, job: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await job()
        samples.append(time.perf_counter() - started)
    return samples


async def run(rounds: int, doctor_runs: int) -> None:
    lab = Lab(os.environ.get("SWARMNET_LAB_NAME", "bench"), nodes=3)
    brought_up = any(n.state.value != "running" for n in (await lab.status()).nodes)
    await lab.up()
    formed = False
    try:
        async with AsyncExitStack() as stack:
            engines = [await stack.enter_async_context(n.engine()) for n in lab.nodes]
            if not (await engines[0].info()).swarm.is_manager:
                await swarmnet.form_cluster(
                    engines, managers=1, advertise_addrs=[n.address for n in lab.nodes]
                )
                formed = True
            for engine in engines:  # wait for every ingress sandbox (and so docker_gwbridge)
                await sandboxed(engine)
            await compare(lab, engines, rounds)
            await time_doctor(engines, doctor_runs)
            if formed:
                await swarmnet.dissolve(engines)
                for engine in engines:
                    await swarmnet.remove_gwbridge(engine)
    finally:
        if brought_up:
            await lab.down()


async def sandboxed(engine: swarmnet.Engine) -> None:
    while True:
        if (await swarmnet.ingress(engine)).sandbox is not None:
            return
        await anyio.sleep(0.2)


async def compare(lab: Lab, engines: list[swarmnet.Engine], rounds: int) -> None:
    async def swarmnet_concurrent() -> None:
        async with anyio.create_task_group() as tg:
            for engine in engines:
                tg.start_soon(swarmnet.ingress, engine)
                tg.start_soon(swarmnet.gwbridge, engine)

    async def swarmnet_sequential() -> None:
        for engine in engines:
            await swarmnet.ingress(engine)
            await swarmnet.gwbridge(engine)

    clients = [docker.DockerClient(base_url=n.docker_host) for n in lab.nodes]

    def docker_py() -> None:
        for client in clients:
            client.networks.get("ingress", verbose=True)
            client.networks.get("docker_gwbridge")

    cli = shutil.which("docker")

    def docker_cli() -> None:
        assert cli is not None
        for node in lab.nodes:
            for args in (["--verbose", "ingress"], ["docker_gwbridge"]):
                subprocess.run(
                    [cli, "-H", node.docker_host, "network", "inspect", *args],
                    check=True,
                    capture_output=True,
                )

    rows: list[tuple[str, list[float]]] = [
        ("swarmnet, concurrent", await timed(rounds, swarmnet_concurrent)),
        ("swarmnet, one by one", await timed(rounds, swarmnet_sequential)),
        ("docker-py", await timed(rounds, lambda: anyio.to_thread.run_sync(docker_py))),
    ]
    if cli:
        rows.append(
            ("docker CLI", await timed(rounds, lambda: anyio.to_thread.run_sync(docker_cli)))
        )
    for client in clients:
        client.close()
    base = median_ms(rows[0][1])
    print(f"\nbuilt-in networks of 3 nodes, {rounds} rounds (median per round)")
    for name, samples in rows:
        ms = median_ms(samples)
        print(f"  {name:22} {ms:8.1f} ms   x{ms / base:5.1f}")


async def time_doctor(engines: list[swarmnet.Engine], runs: int) -> None:
    print(f"\nswarmnet.doctor on 3 engines, {runs} runs (median)")
    for label, ports in (("with port checks", True), ("without port checks", False)):
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            report = await swarmnet.doctor(engines, check_ports=ports)
            samples.append(time.perf_counter() - started)
            # A kernel without IPVS (as on the lab's machine) is a finding on every node.
            others = [
                f for f in report.problems if f.kind is not swarmnet.models.FindingKind.IPVS_MISSING
            ]
            assert not others, report.render()
        print(f"  {label:22} {median_ms(samples):8.1f} ms   {report.summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (well under a minute)")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    rounds, doctor_runs = (8, 2) if args.quick else (30, 5)
    anyio.run(run, rounds, doctor_runs)


if __name__ == "__main__":
    main()
