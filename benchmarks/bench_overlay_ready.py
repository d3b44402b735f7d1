"""Form a swarm, then time until its overlays work: swarmnet vs docker-py vs the docker CLI.

A swarm whose nodes are all Ready can still be unable to carry overlay traffic: every
node must also have joined the others' gossip (networkdb, TCP/UDP 7946), which is how
service names and the VXLAN peers of every overlay reach it. A worker that joins before
the new manager's gossip listens finds nobody on 7946, and its engine retries only a
minute later (its log: ``Error in joining gossip cluster … connection refused (join will
be retried in background)``).

For each contender the same lab engines are formed into 1 manager + N workers, and two
moments are timed from the first request:

* ``ready``: the contender's own formation returned (for docker-py and the CLI, after
  they polled the node list until every node was Ready, as a script does);
* ``overlay``: every engine's gossip knows every node (each engine counts every node
  among the peers of ``ingress``), polled every 0.1 s by an observer that is the same
  for every contender.

swarmnet's ``form_cluster`` waits for the new manager's gossip before any join and for
every node's gossip before it returns, so its two moments are the same.

Usage::

    python benchmarks/bench_overlay_ready.py                 # 6 rounds, 4 workers
    python benchmarks/bench_overlay_ready.py --rounds 10 --workers 4 --lab bench --keep
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import anyio
import structlog
from bench_form_cluster import Result, reset, run_cli, run_docker_py

import swarmnet
from swarmnet.lab import Lab, LabNode

#: Overlay readiness is given up on after this long (seconds); the engine's retry is 60 s.
GIVE_UP = 120.0
#: A run whose overlays took longer than this hit the engine's one-minute retry.
LATE = 10.0


@dataclass
class Contender:
    """One way of forming a swarm, and when each of its runs was ready and overlay-ready."""

    name: str
    ready: list[float] = field(default_factory=list)
    overlay: list[float] = field(default_factory=list)


async def _overlay_ready(engines: list[swarmnet.Engine], count: int, started: float) -> float:
    """Seconds from ``started`` until every engine's ingress lists ``count`` peers."""
    with anyio.move_on_after(GIVE_UP):
        while True:
            peers = []
            for engine in engines:
                try:
                    peers.append(len((await engine.networks.get("ingress", verbose=True)).peers))
                except swarmnet.NotFound:  # a worker makes its ingress a moment after joining
                    peers.append(0)
            if all(p >= count for p in peers):
                return time.perf_counter() - started
            await anyio.sleep(0.1)
    return GIVE_UP


async def _swarmnet(nodes: list[LabNode], engines: list[swarmnet.Engine]) -> None:
    await swarmnet.form_cluster(engines, managers=1, advertise_addrs=[n.address for n in nodes])


def _sync(run: Callable[[list[LabNode], Result], None], nodes: list[LabNode]) -> None:
    run(nodes, Result("scratch"))


async def bench(lab: Lab, workers: int, rounds: int) -> list[Contender]:
    nodes = list(lab.nodes[: workers + 1])
    contenders = [Contender("swarmnet"), Contender("docker-py"), Contender("docker CLI")]
    async with AsyncExitStack() as stack:
        engines = [await stack.enter_async_context(node.engine()) for node in nodes]
        for _ in range(rounds):
            for contender in contenders:
                await reset(engines)
                started = time.perf_counter()
                if contender.name == "swarmnet":
                    await _swarmnet(nodes, engines)
                elif contender.name == "docker-py":
                    await anyio.to_thread.run_sync(_sync, run_docker_py, nodes)
                else:
                    await anyio.to_thread.run_sync(_sync, run_cli, nodes)
                contender.ready.append(time.perf_counter() - started)
                contender.overlay.append(await _overlay_ready(engines, len(nodes), started))
                print(
                    f"  {contender.name:<11} ready {contender.ready[-1]:5.2f} s, "
                    f"overlays {contender.overlay[-1]:6.2f} s",
                    flush=True,
                )
        await reset(engines)
    return contenders


def report(contenders: list[Contender], workers: int) -> None:
    base = statistics.median(contenders[0].overlay)
    print(f"\n1 manager + {workers} workers, {len(contenders[0].ready)} rounds each:\n")
    print(
        "| contender | ready, median | overlays work, median (max) | runs over "
        f"{LATE:g} s | overlays vs swarmnet |"
    )
    print("|---|---|---|---|---|")
    for c in contenders:
        late = sum(t > LATE for t in c.overlay)
        print(
            f"| {c.name} | {statistics.median(c.ready):.2f} s | "
            f"{statistics.median(c.overlay):.2f} s ({max(c.overlay):.2f} s) | "
            f"{late}/{len(c.overlay)} | {statistics.median(c.overlay) / base:.2f}x |"
        )


async def main(args: argparse.Namespace) -> None:
    lab = Lab(args.lab, nodes=args.workers + 1)
    await lab.up()
    try:
        contenders = await bench(lab, args.workers, args.rounds)
    finally:
        if not args.keep:
            await lab.down()
    report(contenders, args.workers)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6, help="runs per contender (default: 6)")
    parser.add_argument("--workers", type=int, default=4, help="workers (default: 4)")
    parser.add_argument("--lab", default="bench", help="the lab's name (default: bench)")
    parser.add_argument("--keep", action="store_true", help="leave the lab up")
    return parser.parse_args()


if __name__ == "__main__":
    # Benchmarks print their own table; the library's logs stay quiet.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    anyio.run(main, parse())
