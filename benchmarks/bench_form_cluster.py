"""Form a swarm of 1 manager + N workers: swarmnet vs docker-py vs the docker CLI vs the floor.

Side by side in the same run, on the same lab engines, for N = 4 and N = 8:

* ``floor``: what the engines themselves need, timed with bare Engine API requests:
  ``POST /swarm/init`` on the manager, then ONE ``POST /swarm/join`` of a worker, then
  ``GET /nodes`` until that worker is Ready. If every worker's join could run at the
  same time at no extra cost, a whole swarm would take this long: init + one join +
  readiness (the issue's definition of the floor).
* ``bare concurrent``: bare requests again, but init and then EVERY worker's join at
  once, then until all are Ready: what these engines really need when N joins run
  together on this host (on a 2-core machine, 8 joins at once take longer than one).
* ``swarmnet``: ``form_cluster(engines, managers=1)``: every engine's state read first,
  init, the workers joined concurrently as soon as the new manager hands out tokens
  (before its init answers), then waiting until every node is Ready (with
  ``wait_for_gossip=False``: the others do not wait for the overlays' gossip either).
* ``docker-py``: ``swarm.init``, read the worker token, ``swarm.join`` on each worker one
  after another, then ``nodes.list()`` until all are Ready (what a script does with it).
* ``docker CLI``: ``docker swarm init``, ``docker swarm join-token -q worker``, ``docker
  swarm join`` per worker one after another, then ``docker node ls`` until all Ready.

Each run is timed from its first request to "all Ready". Between runs the engines are
reset with ``swarmnet.dissolve`` (leave with force, workers first; not timed). The
engine's init alone is bimodal here (about 0.13 s or about 0.6 s, run to run), so
besides raw medians the report gives each contender's time with its own init replaced
by the median init of all runs of that size (``normalised``): the same engine step,
taken out of the noise, for every contender. swarmnet's joins overlap its init and slow
the init's answer, so that correction flatters swarmnet a little; the report adds the
raw medians of the runs whose init took the slow path, which need no correction.

Usage::

    python benchmarks/bench_form_cluster.py            # 2 rounds, 4 and 8 workers
    python benchmarks/bench_form_cluster.py --quick    # 1 round
    python benchmarks/bench_form_cluster.py --rounds 5 --lab bench --keep

It brings up a lab of 9 nodes named ``bench`` (``--lab``) and takes it down at the end,
unless it was already up with 9 nodes, or ``--keep`` is given. Needs root.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
import docker
import structlog

import swarmnet
from swarmnet._core.secret import redact
from swarmnet.lab import Lab, LabNode

SIZES = (4, 8)
#: Readiness is polled this often by every contender (seconds).
POLL = 0.02
#: The engine's init takes about 0.13-0.3 s or 0.53-0.65 s; above this is the slow path.
SLOW_INIT = 0.45
NAMES = ("floor", "bare concurrent", "swarmnet", "docker-py", "docker CLI")


@dataclass
class Run:
    """One timed run: the whole of it, and the engine's init inside it."""

    total: float
    init: float


@dataclass
class Result:
    """One contender's runs for one swarm size."""

    name: str
    runs: list[Run] = field(default_factory=list)
    parts: dict[str, list[float]] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(run.total for run in self.runs)

    def slow_median(self) -> float | None:
        """The median total of the runs whose init took the engine's slow path."""
        totals = [run.total for run in self.runs if run.init >= SLOW_INIT]
        return statistics.median(totals) if totals else None

    def normalised(self, init: float) -> float:
        return statistics.median(run.total - run.init + init for run in self.runs)


class InitClock:
    """Times ``POST /swarm/init`` as swarmnet's transport saw it, from its debug log.

    A structlog processor: it keeps the ``elapsed_ms`` of each ``engine.request`` for
    ``POST swarm/init`` and passes every event on. swarmnet polls the manager while its
    init is still in flight (it starts joins as soon as tokens exist), so the init's own
    duration is read from the request itself, not from what the manager does next.
    """

    def __init__(self) -> None:
        self.seconds: float | None = None

    def __call__(self, logger: object, name: str, event: MutableMapping[str, Any]) -> Any:
        if event.get("event") == "engine.request" and (
            event.get("method"),
            event.get("path"),
        ) == ("POST", "swarm/init"):
            self.seconds = float(event["elapsed_ms"]) / 1000
        return event

    def take(self) -> float:
        assert self.seconds is not None, "no POST swarm/init was logged"
        seconds, self.seconds = self.seconds, None
        return seconds


CLOCK = InitClock()


def _warnings_and_up(logger: object, name: str, event: MutableMapping[str, Any]) -> Any:
    if logging.getLevelName(str(event.get("level", "debug")).upper()) < logging.WARNING:
        raise structlog.DropEvent
    return event


# -- contenders --------------------------------------------------------------------------


def _init_body(node: LabNode) -> dict[str, str]:
    return {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": node.address}


def _join_body(node: LabNode, manager: LabNode, token: str) -> dict[str, object]:
    return {
        "ListenAddr": "0.0.0.0:2377",
        "RemoteAddrs": [f"{manager.address}:2377"],
        "JoinToken": token,
        "AdvertiseAddr": node.address,
    }


async def _until_ready(manager: swarmnet.Engine, count: int) -> None:
    while True:
        listed = await manager._transport.request("GET", "nodes")
        if len(listed) == count and all(n["Status"]["State"] == "ready" for n in listed):
            return
        await anyio.sleep(POLL)


async def run_floor(nodes: list[LabNode], engines: list[swarmnet.Engine], result: Result) -> None:
    """init + one worker join + until that worker is Ready, with bare requests."""
    manager, worker = engines[0], engines[1]
    started = time.perf_counter()
    await manager._transport.request("POST", "swarm/init", json_body=_init_body(nodes[0]))
    init = time.perf_counter() - started
    token = (await manager._transport.request("GET", "swarm"))["JoinTokens"]["Worker"]
    before_join = time.perf_counter()
    await worker._transport.request(
        "POST", "swarm/join", json_body=_join_body(nodes[1], nodes[0], token), secrets=(token,)
    )
    join = time.perf_counter() - before_join
    before_ready = time.perf_counter()
    await _until_ready(manager, 2)
    ready = time.perf_counter() - before_ready
    result.runs.append(Run(total=init + join + ready, init=init))
    for name, value in (("join", join), ("ready", ready)):
        result.parts.setdefault(name, []).append(value)


async def run_bare_concurrent(
    nodes: list[LabNode], engines: list[swarmnet.Engine], result: Result
) -> None:
    manager = engines[0]
    started = time.perf_counter()
    await manager._transport.request("POST", "swarm/init", json_body=_init_body(nodes[0]))
    init = time.perf_counter() - started
    token = (await manager._transport.request("GET", "swarm"))["JoinTokens"]["Worker"]

    async def join(node: LabNode, engine: swarmnet.Engine) -> None:
        body = _join_body(node, nodes[0], token)
        await engine._transport.request("POST", "swarm/join", json_body=body, secrets=(token,))

    async with anyio.create_task_group() as tg:
        for node, engine in zip(nodes[1:], engines[1:], strict=True):
            tg.start_soon(join, node, engine)
    await _until_ready(manager, len(nodes))
    result.runs.append(Run(total=time.perf_counter() - started, init=init))


async def run_swarmnet(
    nodes: list[LabNode], engines: list[swarmnet.Engine], clock: InitClock, result: Result
) -> None:
    clock.seconds = None  # the floor's and bare runs' inits are logged too
    started = time.perf_counter()
    await swarmnet.form_cluster(
        engines,
        managers=1,
        advertise_addrs=[node.address for node in nodes],
        wait_for_gossip=False,
    )
    result.runs.append(Run(total=time.perf_counter() - started, init=clock.take()))


def run_docker_py(nodes: list[LabNode], result: Result) -> None:
    clients = [docker.DockerClient(base_url=node.docker_host, version="1.41") for node in nodes]
    try:
        manager = clients[0]
        started = time.perf_counter()
        manager.swarm.init(advertise_addr=nodes[0].address, listen_addr="0.0.0.0:2377")
        init = time.perf_counter() - started
        manager.swarm.reload()
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        for node, client in zip(nodes[1:], clients[1:], strict=True):
            client.swarm.join(
                remote_addrs=[f"{nodes[0].address}:2377"],
                join_token=token,
                advertise_addr=node.address,
            )
        while True:
            listed = manager.nodes.list()
            if len(listed) == len(nodes) and all(
                n.attrs["Status"]["State"] == "ready" for n in listed
            ):
                break
            time.sleep(POLL)
        result.runs.append(Run(total=time.perf_counter() - started, init=init))
    finally:
        for client in clients:
            client.close()


def run_cli(nodes: list[LabNode], result: Result) -> None:
    def docker_cli(node: LabNode, *argv: str) -> str:
        done = subprocess.run(
            ["docker", "-H", node.docker_host, *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if done.returncode != 0:
            command = redact(" ".join(argv))
            raise RuntimeError(f"docker {command} on {node.name}: {redact(done.stderr.strip())}")
        return done.stdout

    manager = nodes[0]
    started = time.perf_counter()
    docker_cli(manager, "swarm", "init", "--advertise-addr", manager.address)
    # The command's own start-up counts as init here, which only flatters the CLI.
    init = time.perf_counter() - started
    token = docker_cli(manager, "swarm", "join-token", "-q", "worker").strip()
    for node in nodes[1:]:
        docker_cli(
            node,
            "swarm",
            "join",
            "--token",
            token,
            "--advertise-addr",
            node.address,
            f"{manager.address}:2377",
        )
    while True:
        states = docker_cli(manager, "node", "ls", "--format", "{{.Status}}").split()
        if len(states) == len(nodes) and all(state == "Ready" for state in states):
            break
        time.sleep(POLL)
    result.runs.append(Run(total=time.perf_counter() - started, init=init))


# -- the run -----------------------------------------------------------------------------


async def reset(engines: list[swarmnet.Engine]) -> None:
    """``swarmnet.dissolve``: workers leave first, then the manager (not timed).

    Everything leaving at once is no faster and not safe: a worker whose manager is
    gone mid-leave can hang in its own leave and stay ``pending`` until its daemon is
    restarted.
    """
    await swarmnet.dissolve(engines)
    states = {await engine.swarm.state() for engine in engines}
    if states != {swarmnet.models.LocalNodeState.INACTIVE}:
        raise SystemExit(f"reset failed: engines are {sorted(s.value for s in states)}")


async def bench_size(lab: Lab, workers: int, rounds: int, with_cli: bool) -> list[Result]:
    nodes = list(lab.nodes[: workers + 1])
    results = {name: Result(name) for name in NAMES}
    clock = CLOCK
    async with AsyncExitStack() as stack:
        engines = [
            await stack.enter_async_context(swarmnet.Engine(node.docker_host, name=node.name))
            for node in nodes
        ]
        await reset(engines)
        contenders: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("floor", lambda: run_floor(nodes, engines, results["floor"])),
            (
                "bare concurrent",
                lambda: run_bare_concurrent(nodes, engines, results["bare concurrent"]),
            ),
            ("swarmnet", lambda: run_swarmnet(nodes, engines, clock, results["swarmnet"])),
            (
                "docker-py",
                lambda: anyio.to_thread.run_sync(run_docker_py, nodes, results["docker-py"]),
            ),
        ]
        if with_cli:
            cli_result = results["docker CLI"]
            contenders.append(
                ("docker CLI", lambda: anyio.to_thread.run_sync(run_cli, nodes, cli_result))
            )
        for round_number in range(rounds):
            # A different order each round, so no contender always runs on "warm" engines.
            shift = round_number % len(contenders)
            for name, run in contenders[shift:] + contenders[:shift]:
                await run()
                await reset(engines)
                print(f"  {workers} workers, round {round_number + 1}: {name}", flush=True)
    return [result for result in results.values() if result.runs]


def report(sizes: dict[int, list[Result]]) -> None:
    print()
    for workers, results in sizes.items():
        by_name = {result.name: result for result in results}
        init = statistics.median(run.init for result in results for run in result.runs)
        floor = by_name["floor"].normalised(init)
        ours = by_name["swarmnet"].normalised(init)
        bare = by_name["bare concurrent"].normalised(init)
        rounds = len(by_name["floor"].runs)
        print(f"1 manager + {workers} workers ({rounds} rounds; median init {init:.3f} s)")
        print(
            f"  {'contender':<16}{'median s':>10}{'normalised s':>14}"
            f"{'x floor':>9}{'x swarmnet':>12}"
        )
        for result in results:
            normal = result.normalised(init)
            print(
                f"  {result.name:<16}{result.median:>10.3f}{normal:>14.3f}"
                f"{normal / floor:>8.2f}x{normal / ours:>11.2f}x"
            )
        for result in results:
            runs = ", ".join(f"{run.total:.3f}/{run.init:.3f}" for run in result.runs)
            print(f"    {result.name} runs (total/init s): {runs}")
        parts = by_name["floor"].parts
        join, ready = (statistics.median(parts[name]) for name in ("join", "ready"))
        print(f"  floor = init {init:.3f} s + one worker join {join:.3f} s + Ready {ready:.3f} s")
        verdict = "within" if ours <= floor * 1.10 else "NOT within"
        print(f"  swarmnet: {ours / floor - 1:+.1%} over the floor ({verdict} the 10% target)")
        # swarmnet's joins overlap the end of its init and slow the init's answer, so
        # subtracting its own init flatters it. Raw totals of runs whose init took the
        # engine's slow path (it has a fast one too) need no init correction at all.
        slow_floor = by_name["floor"].slow_median()
        slow_ours = by_name["swarmnet"].slow_median()
        if slow_floor and slow_ours:
            print(
                f"  raw, runs whose init took >= {SLOW_INIT} s only: floor {slow_floor:.3f} s, "
                f"swarmnet {slow_ours:.3f} s ({slow_ours / slow_floor - 1:+.1%})"
            )
        print(
            f"  bare concurrent (the engines alone, all {workers} joins at once): "
            f"{bare / floor - 1:+.1%} over the floor; swarmnet {ours / bare - 1:+.1%} over that"
        )
        print()
    if all("docker CLI" in {r.name for r in results} for results in sizes.values()):
        leads = []
        for results in sizes.values():
            init = statistics.median(run.init for result in results for run in result.runs)
            by_name = {result.name: result for result in results}
            leads.append(
                by_name["docker CLI"].normalised(init) / by_name["swarmnet"].normalised(init)
            )
        shown = ", ".join(f"{w} workers {lead:.2f}x" for w, lead in zip(sizes, leads, strict=True))
        print(f"docker CLI time / swarmnet time (normalised): {shown}")


async def main(args: argparse.Namespace) -> None:
    rounds = 1 if args.quick else args.rounds
    lab = Lab(args.lab, nodes=max(SIZES) + 1)
    was_up = _already_up(lab)
    await lab.up()
    with_cli = shutil.which("docker") is not None
    if not with_cli:
        print("docker CLI not found: its row is left out")
    try:
        sizes = {workers: await bench_size(lab, workers, rounds, with_cli) for workers in SIZES}
        report(sizes)
    finally:
        if not (was_up or args.keep):
            await lab.down()


def _already_up(lab: Lab) -> bool:
    try:
        existing = Lab.existing(lab.name)
    except swarmnet.errors.LabError:
        return False
    return len(existing.nodes) == len(lab.nodes)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per contender (2)")
    parser.add_argument("--quick", action="store_true", help="1 round")
    parser.add_argument("--lab", default="bench", help="the lab to run on (bench)")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    return parser.parse_args()


if __name__ == "__main__":
    # An application, unlike the library, decides what its logs show: warnings and up
    # (after the init clock has read swarmnet's debug events).
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            CLOCK,
            _warnings_and_up,
            structlog.dev.ConsoleRenderer(),
        ]
    )
    anyio.run(main, parse())
