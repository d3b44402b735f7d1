"""Scaling curves (issue #16): how swarmnet's cost grows from 4 to 32 engines.

One command measures every curve, each side by side with its anchors in the same run,
and writes ``benchmarks/results/scale.json`` (raw figures, after each step, so a long
run that stops keeps what it measured), ``benchmarks/results/scale.md`` (the tables) and
one PNG per curve under ``benchmarks/results/``::

    python benchmarks/bench_scale.py                  # 4, 8, 16 and 32 engines
    python benchmarks/bench_scale.py --sizes 4 8      # a shorter run
    python benchmarks/bench_scale.py --only doctor    # one curve (others kept from the JSON)
    python benchmarks/bench_scale.py --plot           # tables and plots from the JSON only

The curves, per size N (a lab of N engines named ``scale<N>``, brought up and down):

* ``lab``: ``Lab.up()`` wall time and resident memory per node (dockerd + containerd),
  against the anchor of a 1-engine lab brought up in the same run.
* ``formation``: ``form_cluster(..., wait_for_gossip=False)`` with 1 and 3 managers
  against bare Engine API requests made as concurrently as the engine allows (the
  floor: init, manager joins one after another as raft needs, every worker join at
  once, then until all Ready), docker-py and the docker CLI (joins one after another,
  as a script does). Reported as each contender's time over the floor's. A second
  floor, ``bare, same requests``, makes swarmnet's own requests bare (``form_bare_same``).
  Engines whose gossip outlived the dissolve between runs are restarted first (``reset_formation``),
  and each 3-manager run of the floor and of swarmnet keeps its manager joins' and
  their ``GET info`` times (``formation_joins`` in the JSON).
* ``doctor``: ``doctor()`` with its bounded port plan (each node tried by 4 peers, every
  node trying the managers) against the full mesh (``port_peers=None``, what doctor did
  before), and against ``doctor(check_ports=False)`` (reading the engines only).
* ``watch``: one Watcher over all N engines, in a process of its own, while this process
  connects and disconnects a container on every node at a steady pace. CPU seconds per
  1,000 delivered events, resident memory per node, engine-to-callback latency p50 and
  p99; the anchor is a bare aiohttp reader of the same N streams (``json.loads`` per
  line, nothing else) in a process of its own, under the same load.
* ``ensure``: ``ensure_many`` of 100, 500 and 1,000 overlays on one manager, first and
  second pass (requests, writes, CPU), against the anchor of one bare ``GET /networks``
  and its ``json.loads`` (what a second pass cannot do without).

Needs root (the lab). Labs are named ``scale1``, ``scale4``, … and taken down at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import structlog

HERE = Path(__file__).resolve().parent
# The curves measure the swarmnet of this checkout, not whichever one is installed,
# unless PYTHONPATH names one (the "before" of a fix, say).
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(HERE.parent))

from bench_form_cluster import CLOCK  # noqa: E402

RESULTS = HERE / "results"
JSON_PATH = RESULTS / "scale.json"
SIZES = (4, 8, 16, 32)
ENSURE_COUNTS = (100, 500, 1000)
CURVES = ("lab", "formation", "doctor", "watch", "ensure")
#: Seconds a watching process is measured with no load, before the load starts.
IDLE_SECONDS = 10.0
#: Readiness is polled this often by every formation contender (seconds).
POLL = 0.02
#: Each node makes one connect and one disconnect this often during the watch curve: a
#: pace 32 engines on 2 cores keep up with. At 0.5 s they fell behind from 16 engines on,
#: each engine's events came further apart, and the Watcher's endpoint reads (one per
#: network however many connects came within ResyncSettings.endpoint_read_delay) merged
#: fewer events: 0.19 reads per event at 4 engines, 0.48 at 32, which is what the CPU
#: per event grew by. Every size now has the same load per engine.
LOAD_PERIOD = 2.0

Results = dict[str, Any]


def load_results() -> Results:
    if JSON_PATH.exists():
        loaded: Results = json.loads(JSON_PATH.read_text())
        return loaded
    return {}


def save_results(results: Results) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    JSON_PATH.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def _warnings_and_up(logger: object, name: str, event: MutableMapping[str, Any]) -> Any:
    if logging.getLevelName(str(event.get("level", "debug")).upper()) < logging.WARNING:
        raise structlog.DropEvent
    return event


# -- lab ------------------------------------------------------------------------------------


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _pid(pidfile: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(pidfile.read_text().strip())
    return None


def lab_rss_mb(lab: Any) -> float:
    """Resident memory of every node's dockerd and containerd, summed (MiB)."""
    total = 0.0
    for node in lab.nodes:
        layout = node._layout
        for pidfile in (layout.pidfile, layout.containerd_pidfile):
            pid = _pid(pidfile)
            if pid:
                total += _rss_mb(pid)
    return total


async def bring_up(size: int) -> tuple[Any, float]:
    """A fresh lab ``scale<size>`` (an existing one is taken down first); up time in s."""
    from swarmnet.lab import Lab

    lab = Lab(f"scale{size}", nodes=size)
    await lab.down()
    started = time.perf_counter()
    await lab.up()
    return lab, time.perf_counter() - started


async def curve_lab(lab: Any, seconds: float, results: Results) -> None:
    size = len(lab.nodes)
    anchor = results.setdefault("lab_anchor", {})
    if not anchor:
        one, one_up = await bring_up(1)
        await anyio.sleep(2)
        anchor.update(up_s=one_up, rss_mb=lab_rss_mb(one))
        await one.down()
    await anyio.sleep(2)  # daemons settle after start-up before their memory is read
    rss = lab_rss_mb(lab) / size
    results.setdefault("lab", {})[str(size)] = {"up_s": seconds, "rss_mb_per_node": rss}
    print(
        f"  lab {size}: up {seconds:.1f} s ({seconds / anchor['up_s']:.2f}x 1 engine), "
        f"{rss:.0f} MiB/node ({rss / anchor['rss_mb']:.2f}x 1 engine)",
        flush=True,
    )


# -- formation ------------------------------------------------------------------------------


def _init_body(address: str) -> dict[str, str]:
    return {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": address}


def _join_body(address: str, manager: str, token: str) -> dict[str, object]:
    return {
        "ListenAddr": "0.0.0.0:2377",
        "RemoteAddrs": [f"{manager}:2377"],
        "JoinToken": token,
        "AdvertiseAddr": address,
    }


async def _until_ready(manager: Any, count: int) -> None:
    while True:
        listed = await manager._transport.request("GET", "nodes")
        if len(listed) == count and all(n["Status"]["State"] == "ready" for n in listed):
            return
        await anyio.sleep(POLL)


Timed = tuple[float, float]  # (whole run, the engine's init inside it), seconds


class JoinClock:
    """Times each engine's ``POST swarm/join`` and ``GET info`` from swarmnet's debug log.

    A structlog processor, like ``CLOCK``: the floor's requests and swarmnet's go through
    the same transport, so both are timed the same way. Shows where a formation's time
    goes: the manager joins are the path nothing else can shorten.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, float]] = []

    def __call__(self, logger: object, name: str, event: MutableMapping[str, Any]) -> Any:
        if event.get("event") == "engine.request" and (
            event.get("method"),
            event.get("path"),
        ) in (("POST", "swarm/join"), ("GET", "info")):
            self.requests.append(
                (str(event["path"]), str(event["engine"]), float(event["elapsed_ms"]) / 1000)
            )
        return event

    def take(self, engines: list[Any], managers: int) -> dict[str, list[float]]:
        """Seconds of each manager's join and of the ``GET info`` calls on managers."""
        urls = [engine.url for engine in engines[1:managers]]
        taken, self.requests = self.requests, []
        return {
            path: [
                round(next((s for p, u, s in taken if p == path and u == url), 0.0), 3)
                for url in urls
            ]
            for path in ("swarm/join", "info")
        }


JOINS = JoinClock()


async def _bare_join(nodes: list[Any], engines: list[Any], index: int, token: str) -> None:
    """One ``POST swarm/join`` of node ``index`` to node 0, as the floors make it."""
    body = _join_body(nodes[index].address, nodes[0].address, token)
    await engines[index]._transport.request("POST", "swarm/join", json_body=body, secrets=(token,))


async def form_bare(nodes: list[Any], engines: list[Any], managers: int) -> Timed:
    """The floor: init; manager joins one at a time (raft) while every worker joins at once."""
    manager = engines[0]
    started = time.perf_counter()
    await manager._transport.request("POST", "swarm/init", json_body=_init_body(nodes[0].address))
    init = time.perf_counter() - started
    tokens = (await manager._transport.request("GET", "swarm"))["JoinTokens"]

    join = partial(_bare_join, nodes, engines)

    async def join_managers() -> None:
        for index in range(1, managers):
            await join(index, tokens["Manager"])

    async with anyio.create_task_group() as tg:
        tg.start_soon(join_managers)
        for index in range(managers, len(nodes)):
            tg.start_soon(join, index, tokens["Worker"])
    await _until_ready(manager, len(nodes))
    return time.perf_counter() - started, init


async def form_bare_same(nodes: list[Any], engines: list[Any], managers: int) -> Timed:
    """The floor of swarmnet's own requests: the kinds it makes, in its order, nothing else.

    ``bare concurrent`` is the fewest requests that form a swarm; it does not look at the
    engines first and lets nodes join before the leader's gossip listens (a node that
    does so has no overlay traffic for a minute). swarmnet does both, so this floor makes
    the same reads bare: every engine's ``GET info`` at once; init; ``GET swarm`` and
    ``GET nodes``; ``GET networks/ingress?verbose`` until the leader lists a peer; manager
    joins one at a time, each followed by ``GET nodes`` (its node id), while every
    worker joins at once; one ``GET nodes`` once they have (the workers' node ids); the
    readiness poll; ``GET swarm``. What is left between it and swarmnet is client logic.
    """
    manager = engines[0]
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for engine in engines:
            tg.start_soon(partial(engine._transport.request, "GET", "info"))
    before_init = time.perf_counter()
    await manager._transport.request("POST", "swarm/init", json_body=_init_body(nodes[0].address))
    init = time.perf_counter() - before_init
    tokens = (await manager._transport.request("GET", "swarm"))["JoinTokens"]
    await manager._transport.request("GET", "nodes")
    while True:
        ingress = await manager._transport.request(
            "GET", "networks/ingress", params={"verbose": "true"}
        )
        if ingress.get("Peers"):
            break
        await anyio.sleep(POLL)

    join = partial(_bare_join, nodes, engines)

    async def join_managers() -> None:
        for index in range(1, managers):
            await join(index, tokens["Manager"])
            await manager._transport.request("GET", "nodes")

    async def join_workers() -> None:
        async with anyio.create_task_group() as tg:
            for index in range(managers, len(nodes)):
                tg.start_soon(join, index, tokens["Worker"])
        await manager._transport.request("GET", "nodes")

    async with anyio.create_task_group() as tg:
        tg.start_soon(join_managers)
        tg.start_soon(join_workers)
    await _until_ready(manager, len(nodes))
    await manager._transport.request("GET", "swarm")
    return time.perf_counter() - started, init


async def form_swarmnet(nodes: list[Any], engines: list[Any], managers: int) -> Timed:
    import swarmnet

    CLOCK.seconds = None
    started = time.perf_counter()
    await swarmnet.form_cluster(
        engines,
        managers=managers,
        advertise_addrs=[node.address for node in nodes],
        wait_for_gossip=False,
    )
    return time.perf_counter() - started, CLOCK.take()


def form_docker_py(nodes: list[Any], managers: int) -> Timed:
    import docker

    clients = [docker.DockerClient(base_url=node.docker_host, version="1.41") for node in nodes]
    try:
        started = time.perf_counter()
        clients[0].swarm.init(advertise_addr=nodes[0].address, listen_addr="0.0.0.0:2377")
        init = time.perf_counter() - started
        clients[0].swarm.reload()
        tokens = clients[0].swarm.attrs["JoinTokens"]
        for index, (node, client) in enumerate(zip(nodes[1:], clients[1:], strict=True), 1):
            client.swarm.join(
                remote_addrs=[f"{nodes[0].address}:2377"],
                join_token=tokens["Manager" if index < managers else "Worker"],
                advertise_addr=node.address,
            )
        while True:
            listed = clients[0].nodes.list()
            if len(listed) == len(nodes) and all(
                n.attrs["Status"]["State"] == "ready" for n in listed
            ):
                break
            time.sleep(POLL)
        return time.perf_counter() - started, init
    finally:
        for client in clients:
            client.close()


def form_cli(nodes: list[Any], managers: int) -> Timed:
    from swarmnet._core.secret import redact

    def docker_cli(node: Any, *argv: str) -> str:
        done = subprocess.run(
            ["docker", "-H", node.docker_host, *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"docker {redact(' '.join(argv))}: {redact(done.stderr.strip())}")
        return done.stdout

    manager = nodes[0]
    started = time.perf_counter()
    docker_cli(manager, "swarm", "init", "--advertise-addr", manager.address)
    init = time.perf_counter() - started  # the command's own start-up flatters the CLI
    worker = docker_cli(manager, "swarm", "join-token", "-q", "worker").strip()
    boss = docker_cli(manager, "swarm", "join-token", "-q", "manager").strip()
    for index, node in enumerate(nodes[1:], 1):
        token = boss if index < managers else worker
        docker_cli(
            node, "swarm", "join", "--token", token, "--advertise-addr", node.address,
            f"{manager.address}:2377",
        )  # fmt: skip
    while True:
        states = docker_cli(manager, "node", "ls", "--format", "{{.Status}}").split()
        if len(states) == len(nodes) and all(state == "Ready" for state in states):
            break
        time.sleep(POLL)
    return time.perf_counter() - started, init


async def reset(engines: list[Any]) -> None:
    import swarmnet

    await swarmnet.dissolve(engines)


async def reset_formation(nodes: list[Any], engines: list[Any]) -> int:
    """Dissolve, then restart the engines whose gossip outlived the leave (LabNode.gossip_leaked).

    Every contender then starts from engines whose gossip can start: the floor and the
    clients that do not wait for gossip would otherwise form swarms with a broken overlay
    network, faster than any correct formation. Returns how many engines were restarted.
    """
    await reset(engines)
    leaked: list[int] = []

    async def check(index: int) -> None:
        if await nodes[index].gossip_leaked():
            leaked.append(index)

    async with anyio.create_task_group() as tg:
        for index in range(len(nodes)):
            tg.start_soon(check, index)
    if not leaked:
        return 0

    async def restart(index: int) -> None:
        await nodes[index].restart()
        with anyio.fail_after(60):
            while True:
                # The client's pooled connection died with the daemon: ask until it answers.
                with contextlib.suppress(Exception):
                    await engines[index].swarm.state()
                    return
                await anyio.sleep(0.2)

    async with anyio.create_task_group() as tg:
        for index in leaked:
            tg.start_soon(restart, index)
    return len(leaked)


async def curve_formation(lab: Any, engines: list[Any], rounds: int, results: Results) -> None:
    nodes = list(lab.nodes)
    size = len(nodes)
    with_cli = shutil.which("docker") is not None
    for managers in (1, 3):
        contenders: list[tuple[str, Callable[[], Awaitable[Timed]]]] = [
            ("bare concurrent", lambda m=managers: form_bare(nodes, engines, m)),  # type: ignore[misc]
            (
                "bare, same requests",
                lambda m=managers: form_bare_same(nodes, engines, m),  # type: ignore[misc]
            ),
            ("swarmnet", lambda m=managers: form_swarmnet(nodes, engines, m)),  # type: ignore[misc]
            (
                "docker-py",
                lambda m=managers: anyio.to_thread.run_sync(form_docker_py, nodes, m),  # type: ignore[misc]
            ),
        ]
        if with_cli:
            contenders.append(
                ("docker CLI", lambda m=managers: anyio.to_thread.run_sync(form_cli, nodes, m))  # type: ignore[misc]
            )
        times: dict[str, list[Timed]] = {name: [] for name, _ in contenders}
        joins: dict[str, list[dict[str, list[float]]]] = {}
        restarted = await reset_formation(nodes, engines)
        for round_number in range(rounds):
            # Each round in another order: no contender always meets "warm" engines.
            shift = round_number % len(contenders)
            for name, run in contenders[shift:] + contenders[:shift]:
                JOINS.requests.clear()
                times[name].append(await run())
                if name in ("bare concurrent", "swarmnet") and managers > 1:
                    joins.setdefault(name, []).append(JOINS.take(engines, managers))
                restarted += await reset_formation(nodes, engines)
        # The engine's init alone is bimodal here (about 0.15 s or 0.6 s, run to run), so
        # each run has its own init replaced by the median init of all runs of this size:
        # the same engine step for every contender, taken out of the noise.
        init = statistics.median(i for values in times.values() for _, i in values)
        row = {
            name: statistics.median(total - own + init for total, own in values)
            for name, values in times.items()
        }
        row["median init"] = init
        if joins:
            # Each run's manager joins (POST swarm/join) and the GET info on managers.
            formation_joins = results.setdefault("formation_joins", {})
            formation_joins.setdefault(str(managers), {})[str(size)] = joins
        restarts = results.setdefault("formation_gossip_restarts", {})
        restarts.setdefault(str(managers), {})[str(size)] = restarted
        runs = results.setdefault("formation_runs", {}).setdefault(str(managers), {})
        runs[str(size)] = {name: [list(run) for run in values] for name, values in times.items()}
        results.setdefault("formation", {}).setdefault(str(managers), {})[str(size)] = row
        floor = row["bare concurrent"]
        shown = ", ".join(f"{name} {row[name]:.2f} s ({row[name] / floor:.2f}x)" for name in times)
        print(
            f"  formation {size} engines, {managers} managers: {shown}; "
            f"{restarted} engine restarts for a leaked gossip port",
            flush=True,
        )


# -- doctor ---------------------------------------------------------------------------------


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its children that ended (doctor's port probes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


async def curve_doctor(lab: Any, engines: list[Any], rounds: int, results: Results) -> None:
    import swarmnet

    size = len(engines)
    # Without waiting for overlay gossip: at 16 engines it once did not reach every node
    # within 60 s after many formations in a row, and ports do not depend on it.
    await swarmnet.form_cluster(
        engines,
        managers=3,
        advertise_addrs=[node.address for node in lab.nodes],
        wait_for_gossip=False,
    )
    try:
        row: dict[str, float] = {}
        variants: list[tuple[str, dict[str, Any]]] = [
            ("read only", {"check_ports": False}),
            ("every pair (before)", {"port_peers": None}),
            ("bounded (after)", {}),
        ]
        took: dict[str, list[float]] = {name: [] for name, _ in variants}
        spent: dict[str, list[float]] = {name: [] for name, _ in variants}
        for round_number in range(rounds):
            # Each round in another order, so no variant always runs first after the
            # formation (when the engines are still making their ingress sandboxes).
            shift = round_number % len(variants)
            for name, kwargs in variants[shift:] + variants[:shift]:
                started, cpu = time.perf_counter(), _cpu_with_children()
                report = await swarmnet.doctor(engines, settle=0, **kwargs)
                took[name].append(time.perf_counter() - started)
                spent[name].append(_cpu_with_children() - cpu)
                row[f"{name} pairs"] = len({(c.source, c.address) for c in report.port_checks})
                row[f"{name} checks"] = len(report.port_checks)
                unreachable = report.of_kind(swarmnet.models.FindingKind.SWARM_PORT_UNREACHABLE)
                row[f"{name} unreachable findings"] = len(unreachable)
        for name, values in took.items():
            row[name] = statistics.median(values)
            row[f"{name} cpu"] = statistics.median(spent[name])
        results.setdefault("doctor_runs", {})[str(size)] = {"wall": took, "cpu": spent}
        results.setdefault("doctor", {})[str(size)] = row
        print(
            f"  doctor {size} engines (CPU s with probes: every pair "
            f"{row['every pair (before) cpu']:.2f}, bounded {row['bounded (after) cpu']:.2f}): "
            f"read only {row['read only']:.2f} s, every pair "
            f"{row['every pair (before)']:.2f} s ({row['every pair (before) pairs']:.0f} pairs), "
            f"bounded {row['bounded (after)']:.2f} s ({row['bounded (after) pairs']:.0f} pairs)",
            flush=True,
        )
    finally:
        await reset(engines)


# -- watch ----------------------------------------------------------------------------------


def watch_child(kind: str, hosts: list[str], seconds: float, ready: str) -> Results:
    """In a fresh process: follow every host's network events for ``seconds`` after ``ready``.

    Prints CPU seconds, delivered events, resident memory before and after, and the
    engine-to-callback latencies.
    """
    latencies: list[int] = []
    received: list[Callable[[], int]] = []
    base_rss = _rss_mb(os.getpid())

    def record(time_nano: int) -> None:
        latencies.append(time.time_ns() - time_nano)

    async def measure(started: Callable[[], None]) -> Results:
        # First with no load: what following N engines costs with nothing happening
        # (timers, sweeps: a cost per node, not per event), so that it can be told apart.
        await anyio.sleep(1)
        idle = time.process_time()
        await anyio.sleep(IDLE_SECONDS)
        idle_cpu = time.process_time() - idle
        started()
        Path(ready).touch()  # noqa: ASYNC240 - once, tiny
        before, got = len(latencies), received[0]()
        cpu = time.process_time()
        await anyio.sleep(seconds)
        return {
            "cpu_s": time.process_time() - cpu,
            "idle_cpu_s": idle_cpu,
            "idle_s": IDLE_SECONDS,
            "events": len(latencies) - before,
            "received": received[0]() - got,
            "rss_mb": _rss_mb(os.getpid()),
        }

    async def with_watcher() -> Results:
        import swarmnet

        async with AsyncExitStack() as stack:
            requests = [0]

            def count(method: str, path: str) -> None:
                requests[0] += 1

            engines = [
                await stack.enter_async_context(
                    swarmnet.Engine(host, name=f"n{i}", on_request=count)
                )
                for i, host in enumerate(hosts)
            ]
            base = _rss_mb(os.getpid())
            watcher = swarmnet.Watcher(*engines)

            @watcher.on(["connect", "disconnect"])
            def got(event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
                record(event.time_nano)

            received.append(lambda: watcher.stats().received)
            async with watcher:
                at_start: list[int] = []
                figures = await measure(lambda: at_start.append(requests[0]))
            # Its own reads of the engines while measured (a network read shortly after
            # a connect, for the endpoint: one per network however many came meanwhile).
            figures["requests"] = requests[0] - at_start[0]
            figures["base_rss_mb"] = base
            return figures

    async def with_aiohttp() -> Results:
        import aiohttp

        filters = json.dumps({"type": ["network"]})
        lines = [0]
        received.append(lambda: lines[0])

        async def follow(host: str) -> None:
            connector = aiohttp.UnixConnector(path=host.removeprefix("unix://"))
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get(
                    "http://engine/v1.41/events",
                    params={"filters": filters},
                    timeout=aiohttp.ClientTimeout(total=None),
                ) as response,
            ):
                async for line in response.content:
                    lines[0] += 1
                    event = json.loads(line)
                    if event.get("Action") in ("connect", "disconnect"):
                        record(int(event["timeNano"]))

        base = _rss_mb(os.getpid())
        async with anyio.create_task_group() as tg:
            for host in hosts:
                tg.start_soon(follow, host)
            await anyio.sleep(1)  # every stream subscribed
            figures = await measure(lambda: None)
            tg.cancel_scope.cancel()
        figures["base_rss_mb"] = base
        return figures

    figures = anyio.run(with_watcher if kind == "watcher" else with_aiohttp)
    ordered = sorted(latencies)
    figures["p50_ms"] = ordered[len(ordered) // 2] / 1e6 if ordered else float("nan")
    figures["p99_ms"] = ordered[int(len(ordered) * 0.99)] / 1e6 if ordered else float("nan")
    figures["process_base_rss_mb"] = base_rss
    figures["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


async def _load(engines: list[Any], network: str, container: str, stop: anyio.Event) -> None:
    """Connect and disconnect a container on every node, once per LOAD_PERIOD each."""

    async def one(engine: Any) -> None:
        while not stop.is_set():
            began = time.monotonic()
            for action in ("connect", "disconnect"):
                await engine._transport.request(
                    "POST", f"networks/{network}/{action}", json_body={"Container": container}
                )
            await anyio.sleep(max(0.0, LOAD_PERIOD - (time.monotonic() - began)))

    async with anyio.create_task_group() as tg:
        for engine in engines:
            tg.start_soon(one, engine)


async def curve_watch(lab: Any, engines: list[Any], seconds: float, results: Results) -> None:
    from swarmnet.lab import LAB_IMAGE

    size = len(engines)
    script = str(Path(__file__).resolve())  # noqa: ASYNC240 - once, no I/O
    network, container = f"scalew{uuid.uuid4().hex[:4]}", "scalew-c"

    async def prepare(engine: Any) -> None:
        await engine.containers.remove(container)
        await engine._transport.request("POST", "networks/create", json_body={"Name": network})
        await engine.containers.run(LAB_IMAGE, ["sleep", "3600"], name=container)

    async def clean(engine: Any) -> None:
        await engine.containers.remove(container)
        with contextlib.suppress(Exception):
            await engine._transport.request("DELETE", f"networks/{network}")

    async with anyio.create_task_group() as tg:
        for engine in engines:
            tg.start_soon(prepare, engine)
    row: dict[str, Any] = {}
    try:
        for kind in ("watcher", "aiohttp"):
            with tempfile.TemporaryDirectory() as tmp:
                ready = Path(tmp) / "ready"
                argv = [
                    sys.executable, script, "--child-watch", kind,
                    "--hosts", ",".join(node.docker_host for node in lab.nodes),
                    "--seconds", str(seconds), "--ready", str(ready),
                ]  # fmt: skip
                stop = anyio.Event()
                async with anyio.create_task_group() as tg:
                    process = await anyio.open_process(argv, stderr=None)
                    while not ready.exists():  # noqa: ASYNC110 - the child says when
                        await anyio.sleep(0.05)
                    tg.start_soon(_load, engines, network, container, stop)
                    assert process.stdout is not None
                    out = b"".join([chunk async for chunk in process.stdout])
                    await process.wait()
                    stop.set()
                figures = json.loads(out.decode().strip().splitlines()[-1])
                figures["cpu_per_1000_events_s"] = (
                    figures["cpu_s"] / max(figures["events"], 1) * 1000
                )
                # The idle cost taken out: what the events themselves cost.
                idle_share = figures["idle_cpu_s"] * seconds / figures["idle_s"]
                figures["net_cpu_per_1000_events_s"] = (
                    max(0.0, figures["cpu_s"] - idle_share) / max(figures["events"], 1) * 1000
                )
                figures["idle_cpu_ms_per_node_s"] = (
                    figures["idle_cpu_s"] / figures["idle_s"] / size * 1000
                )
                figures["rss_per_node_mb"] = (figures["rss_mb"] - figures["base_rss_mb"]) / size
                row[kind] = figures
                print(
                    f"  watch {size} engines, {kind}: {figures['events']} delivered, "
                    f"{figures['received']} received, "
                    f"{figures['cpu_per_1000_events_s']:.3f} CPU s/1000 "
                    f"({figures['net_cpu_per_1000_events_s']:.3f} without the idle "
                    f"{figures['idle_cpu_ms_per_node_s']:.2f} ms/s per node), "
                    f"{figures['rss_per_node_mb']:.2f} MiB/node, p50 {figures['p50_ms']:.1f} ms, "
                    f"p99 {figures['p99_ms']:.1f} ms",
                    flush=True,
                )
    finally:
        async with anyio.create_task_group() as tg:
            for engine in engines:
                tg.start_soon(clean, engine)
    results.setdefault("watch", {})[str(size)] = row


# -- ensure ---------------------------------------------------------------------------------


async def curve_ensure(counts: tuple[int, ...], results: Results, key: str) -> None:
    import swarmnet

    lab, _ = await bring_up(1)
    calls: list[tuple[str, str]] = []
    try:
        async with swarmnet.Engine(
            lab.nodes[0].docker_host, on_request=lambda m, p: calls.append((m, p))
        ) as engine:
            await swarmnet.form_cluster([engine], advertise_addrs=[lab.nodes[0].address])
            for count in counts:
                prefix = f"sc{uuid.uuid4().hex[:4]}-"
                specs = [
                    swarmnet.OverlaySpec(name=f"{prefix}{i:04d}", attachable=True)
                    for i in range(count)
                ]
                row: dict[str, float] = {}
                # The second pass three times, the best kept: a garbage collection in one
                # of them is not the pass's own cost.
                for label in ("first", "second", "second", "second"):
                    calls.clear()
                    cpu, wall = time.process_time(), time.perf_counter()
                    await engine.networks.ensure_many(specs)
                    took, spent = time.perf_counter() - wall, time.process_time() - cpu
                    if label == "second" and "second_s" in row:
                        took, spent = min(took, row["second_s"]), min(spent, row["second_cpu_s"])
                    row[f"{label}_s"], row[f"{label}_cpu_s"] = took, spent
                    row[f"{label}_requests"] = len(calls)
                    row[f"{label}_writes"] = sum(1 for m, _ in calls if m != "GET")
                # The anchor: one bare list request and its parse, nothing else.
                anchors = []
                for _ in range(3):
                    cpu = time.process_time()
                    await engine._transport.request("GET", "networks")
                    anchors.append(time.process_time() - cpu)
                row["list_cpu_s"] = min(anchors)
                results.setdefault(key, {})[str(count)] = row
                print(
                    f"  ensure_many {count}: first {row['first_s']:.2f} s "
                    f"({row['first_requests']:.0f} requests), second {row['second_s']:.3f} s, "
                    f"{row['second_cpu_s']:.3f} CPU s ({row['second_requests']:.0f} requests, "
                    f"{row['second_writes']:.0f} writes; bare list {row['list_cpu_s']:.3f} CPU s)",
                    flush=True,
                )
                for spec in specs:
                    await engine._transport.request("DELETE", f"networks/{spec.name}")
            await swarmnet.dissolve([engine])
    finally:
        await lab.down()


# -- the run --------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    import swarmnet

    results = load_results()
    results["machine"] = {"cores": os.cpu_count(), "note": "shared 2-core machine"}
    results.setdefault("swarmnet", {})[" ".join(map(str, args.sizes))] = {
        "path": str(Path(swarmnet.__file__).parent),
        "commit": args.commit,
    }
    wanted = set(args.only or CURVES)
    for size in args.sizes if wanted - {"ensure"} else ():
        print(f"== {size} engines", flush=True)
        lab, up_s = await bring_up(size)
        try:
            if "lab" in wanted:
                await curve_lab(lab, up_s, results)
                save_results(results)
            async with AsyncExitStack() as stack:
                engines = [
                    await stack.enter_async_context(swarmnet.Engine(n.docker_host, name=n.name))
                    for n in lab.nodes
                ]
                steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                    ("watch", partial(curve_watch, lab, engines, args.watch_seconds, results)),
                    ("formation", partial(curve_formation, lab, engines, args.rounds, results)),
                    ("doctor", partial(curve_doctor, lab, engines, args.doctor_rounds, results)),
                ]
                for name, step in steps:
                    if name not in wanted:
                        continue
                    try:
                        await step()
                    except Exception as exc:
                        # One curve that fails at one size leaves the others to measure.
                        print(f"  {name} {size} engines FAILED: {exc!r}"[:400], flush=True)
                        results.setdefault("failures", {})[f"{name} {size}"] = repr(exc)[:400]
                        await reset(engines)
                    save_results(results)
        finally:
            if not args.keep:
                await lab.down()
    if "ensure" in wanted:
        print("== ensure_many", flush=True)
        await curve_ensure(tuple(args.counts), results, args.ensure_key)
        save_results(results)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--counts", type=int, nargs="+", default=list(ENSURE_COUNTS))
    parser.add_argument("--only", nargs="+", choices=CURVES, help="these curves only")
    parser.add_argument("--rounds", type=int, default=2, help="runs per contender (2)")
    parser.add_argument("--doctor-rounds", type=int, default=5, help="doctor runs per variant (5)")
    parser.add_argument("--watch-seconds", type=float, default=30.0)
    parser.add_argument(
        "--ensure-key",
        default="ensure",
        help="where the ensure curve goes in the JSON (ensure_before: the same curve "
        "measured with an older swarmnet on PYTHONPATH)",
    )
    parser.add_argument("--plot", action="store_true", help="tables and plots from the JSON")
    parser.add_argument("--keep", action="store_true", help="leave each lab up")
    parser.add_argument("--child-watch", choices=("watcher", "aiohttp"), help=argparse.SUPPRESS)
    parser.add_argument("--hosts", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse()
    if args.child_watch:
        figures = watch_child(args.child_watch, args.hosts.split(","), args.seconds, args.ready)
        print(json.dumps(figures))
        return 0
    if not args.plot:
        args.commit = subprocess.run(
            ["git", "-C", str(HERE), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                CLOCK,  # reads form_cluster's init time from swarmnet's debug events
                JOINS,  # and each manager's join
                _warnings_and_up,
                structlog.dev.ConsoleRenderer(),
            ]
        )
        anyio.run(run, args)
    from scale_report import write_report

    write_report(load_results(), RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
