"""Network events: swarmnet against docker-py and aiodocker, side by side in one run.

Part 1, throughput and memory: a stand-in engine (``replay_engine.py``) replays a
recorded stream of real network events (``tests/data/network_events.jsonl``, repeated
to ``--events``, 200,000 by default) over a unix socket, as fast as each client reads.
Each client runs in a fresh process of its own, one after the other, against the same
stream:

- ``swarmnet Watcher``: typed events (pydantic models) to a registered callback, with
  the network cache kept current and the engine's repeated disconnects suppressed;
- ``swarmnet EventStream``: typed events from ``async for`` over ``engine.events()``;
- ``docker-py``: ``APIClient.events(decode=True)`` (dicts);
- ``aiodocker``: ``docker.events.subscribe()`` (dicts).

Reported: events per second of wall time and per second of CPU time (the machine may be
shared; CPU time is steadier), their ratios, and the resident memory of the process at
each quarter of the stream (flat memory means the buffers are bounded). Every client
reads the same stream and is timed from its ``--warmup``-th event on (connection set-up
and first-use imports are left out alike); the clients take turns, round after round,
and each keeps its best round.

Ceilings, measured in the same run so the ratios can be read: how fast a raw unix
socket reader takes the stream (the stand-in engine is not the bottleneck), how fast a
bare aiohttp reader takes it with the engine's chunked encoding (what every
aiohttp-based client, swarmnet and aiodocker alike, pays before any parsing) and as an
HTTP/1.0 request (which dockerd answers without chunked encoding), and how fast this
machine parses the recorded lines in memory: ``json.loads`` (the parse docker-py and
aiodocker do), pydantic's ``validate_json`` into a ``NetworkEvent`` (the parse swarmnet
does), and swarmnet's framer plus parser over 32 KiB chunks.

Part 2, latency on a real engine (a lab node): the time from an engine action to the
callback (engine timestamp of the event to the callback's clock, same host), p50 and
p99, for a swarmnet Watcher and for a plain aiohttp reader of the same stream, both
subscribed at once while the benchmark connects and disconnects a container.

Run: ``python benchmarks/bench_events.py`` (``--quick`` for a short run; ``--no-lab``
to skip part 2; ``--rounds N`` and ``--warmup N`` to change the defaults, 3 and 2% of
the stream; ``--lab NAME`` to use an existing lab, otherwise a one-node lab
``evbench`` is brought up and taken down again).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAGE = os.sysconf("SC_PAGE_SIZE")
QUARTERS = (0.25, 0.5, 0.75, 1.0)


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 1e6


# -- the clients, each run in a process of its own --------------------------------------


class Meter:
    """Counts events and samples memory at each quarter of the stream.

    The clocks start at the ``warmup``-th event: the same for every client, so the
    connection's set-up and what is imported on first use count for none of them.
    """

    def __init__(self, total: int, warmup: int = 0) -> None:
        self.total = total
        self.warmup = min(warmup, total // 2)
        self.count = 0
        self.marks = [int(total * q) for q in QUARTERS]
        self.rss: list[float] = []
        self.rss_start = rss_mb()
        self.started = 0
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def tick(self, n: int = 1) -> bool:
        before = self.count
        self.count += n
        if before < self.warmup <= self.count:
            self.started = self.count
            self.wall = time.perf_counter()
            self.cpu = time.process_time()
        for mark in self.marks:
            if before < mark <= self.count:
                self.rss.append(round(rss_mb(), 1))
        return self.count >= self.total

    def result(self, name: str, **extra: Any) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        timed = self.count - self.started
        gc.collect()
        return {
            "client": name,
            "events": self.count,
            "timed_events": timed,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "rate": round(timed / wall),
            "cpu_rate": round(timed / cpu),
            "rss_start_mb": round(self.rss_start, 1),
            "rss_mb": self.rss,
            "rss_end_mb": round(rss_mb(), 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000, 1),
            **extra,
        }


def run_docker_py(socket: str, total: int, warmup: int) -> dict[str, Any]:
    import docker

    client = docker.APIClient(base_url=f"unix://{socket}", version="1.41")
    meter = Meter(total, warmup)
    for _event in client.events(decode=True, filters={"type": "network"}):
        if meter.tick():
            break
    return meter.result("docker-py events(decode=True)")


def run_aiodocker(socket: str, total: int, warmup: int) -> dict[str, Any]:
    import aiodocker

    async def main() -> dict[str, Any]:
        docker = aiodocker.Docker(url=f"unix://{socket}", api_version="v1.41")
        meter = Meter(total, warmup)
        subscriber = docker.events.subscribe(  # type: ignore[no-untyped-call]
            filters=json.dumps({"type": ["network"]})
        )
        while await subscriber.get() is not None:
            if meter.tick():
                break
        result = meter.result("aiodocker events.subscribe()")
        await docker.events.stop()  # type: ignore[no-untyped-call]
        await docker.close()
        return result

    return asyncio.run(main())


def run_swarmnet_stream(socket: str, total: int, warmup: int) -> dict[str, Any]:
    import anyio

    import swarmnet

    async def main() -> dict[str, Any]:
        async with swarmnet.Engine(f"unix://{socket}", name="replay") as engine:
            meter = Meter(total, warmup)
            async with engine.events(type="network", reconnect=False) as events:
                async for _event in events:
                    if meter.tick():
                        break
            return meter.result("swarmnet engine.events()")

    return anyio.run(main)


def run_swarmnet_watcher(socket: str, total: int, warmup: int) -> dict[str, Any]:
    import anyio

    import swarmnet

    async def main() -> dict[str, Any]:
        async with swarmnet.Engine(f"unix://{socket}", name="replay") as engine:
            # The stand-in engine never drops a slow reader (a real one does after
            # ~100 ms), so the reader may wait for room instead of dropping.
            settings = swarmnet.WatcherSettings(feed_stall=30.0)
            watcher = swarmnet.Watcher(engine, settings=settings)
            calls = 0
            done = anyio.Event()

            @watcher.on()
            def count(event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
                nonlocal calls
                calls += 1

            async def progress(meter: Meter) -> None:
                # Events finished with: delivered to the callback, or suppressed as the
                # engine's repeats. Sampled every few ms, not counted per event.
                while True:
                    handled = calls + watcher.stats().node("replay").suppressed
                    if meter.tick(handled - meter.count):
                        done.set()
                        return
                    await anyio.sleep(0.005)

            async with watcher, anyio.create_task_group() as tg:
                meter = Meter(total, warmup)
                tg.start_soon(progress, meter)
                await done.wait()
            stats = watcher.stats()
            return meter.result(
                "swarmnet Watcher callback",
                callback_calls=calls,
                suppressed=stats.node("replay").suppressed,
                cached_networks=len(watcher.cache.networks()),
            )

    return anyio.run(main)


CLIENTS = {
    "swarmnet-watcher": run_swarmnet_watcher,
    "swarmnet-stream": run_swarmnet_stream,
    "docker-py": run_docker_py,
    "aiodocker": run_aiodocker,
}


# -- ceilings: what the stream and this machine allow, whatever the client --------------


def run_socket_reader(socket: str, total: int, warmup: int) -> dict[str, Any]:
    """A raw unix socket reader: no HTTP parsing, no JSON, just the bytes."""

    async def main() -> dict[str, Any]:
        reader, writer = await asyncio.open_unix_connection(socket)
        writer.write(b"GET /v1.41/events HTTP/1.1\r\nHost: engine\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        meter = Meter(total, warmup)
        newlines = 0
        while True:
            data = await reader.read(256 * 1024)
            if not data:
                raise SystemExit("the replay engine closed the stream early")
            # One chunk per event: its size line, the event's own newline, the chunk's end.
            newlines += data.count(b"\n")
            if meter.tick(newlines // 3 - meter.count):
                break
        writer.close()
        return meter.result("raw unix socket reader")

    return asyncio.run(main())


def _aiohttp_reader(socket: str, total: int, warmup: int, http10: bool) -> dict[str, Any]:
    import aiohttp

    async def main() -> dict[str, Any]:
        version = aiohttp.HttpVersion10 if http10 else aiohttp.HttpVersion11
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=socket), version=version
            ) as session,
            session.get(
                "http://engine/v1.41/events", timeout=aiohttp.ClientTimeout(total=None)
            ) as response,
        ):
            meter = Meter(total, warmup)
            async for chunk in response.content.iter_any():
                if meter.tick(chunk.count(b"\n")):
                    break
        name = "aiohttp reader, HTTP/1.0" if http10 else "aiohttp reader, chunked"
        return meter.result(name)

    return asyncio.run(main())


def run_aiohttp_chunked(socket: str, total: int, warmup: int) -> dict[str, Any]:
    """aiohttp reading the stream as dockerd sends it (chunked), counting lines."""
    return _aiohttp_reader(socket, total, warmup, http10=False)


def run_aiohttp_http10(socket: str, total: int, warmup: int) -> dict[str, Any]:
    """aiohttp reading the stream asked for as HTTP/1.0 (no chunks), counting lines."""
    return _aiohttp_reader(socket, total, warmup, http10=True)


CEILINGS = {
    "socket": run_socket_reader,
    "aiohttp-chunked": run_aiohttp_chunked,
    "aiohttp-http10": run_aiohttp_http10,
}


def parse_ceilings(count: int) -> dict[str, int]:
    """Events per CPU second of the parse alone, in memory (best of three)."""
    sys.path.insert(0, str(HERE))
    from replay_engine import load_sample, replay_lines

    from swarmnet._events.framing import JSONFramer
    from swarmnet._events.models import NetworkEvent, event_parser

    lines = replay_lines(load_sample(), count)
    blob = b"".join(lines)
    chunks = []
    start = 0
    while start < len(blob):
        end = blob.rfind(b"\n", start, start + 32 * 1024) + 1
        chunks.append(blob[start:end])
        start = end
    validate = NetworkEvent.__pydantic_validator__.validate_json

    def loads() -> None:
        for line in lines:
            json.loads(line)

    def typed() -> None:
        for line in lines:
            validate(line)

    def framed() -> None:
        framer = JSONFramer(event_parser("replay"))
        for chunk in chunks:
            framer.feed(chunk)

    rates = {}
    for name, work in (
        ("json.loads per line", loads),
        ("NetworkEvent validate_json per line", typed),
        ("swarmnet framer + parser, 32 KiB chunks", framed),
    ):
        best = math.inf
        for _ in range(3):
            began = time.process_time()
            work()
            best = min(best, time.process_time() - began)
        rates[name] = round(count / best)
    return rates


def hot_path(count: int, rounds: int) -> int:
    """Events per CPU second of the Watcher's own work alone, in memory (best of
    ``rounds``): parsed events applied to the cache, dispatched, and handed to a sync
    callback, with no socket and no parsing. It reaches into the watcher's internals on
    purpose: this is the part a change to the cache or the dispatch can slow down."""
    sys.path.insert(0, str(HERE))
    import anyio
    import anyio.lowlevel
    from replay_engine import load_sample, replay_lines

    import swarmnet
    from swarmnet._events.models import NetworkEvent, event_parser

    parse = event_parser("replay")
    events = [parse(line) for line in replay_lines(load_sample(), count)]
    parsed = [event for event in events if isinstance(event, NetworkEvent)]
    batches = [parsed[i : i + 100] for i in range(0, len(parsed), 100)]

    async def once() -> float:
        engine = swarmnet.Engine("unix:///nonexistent.sock", name="replay")
        watcher = swarmnet.Watcher(engine)

        @watcher.on()
        def count_it(event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
            pass

        node = watcher._nodes["replay"]
        async with anyio.create_task_group() as tg:
            for runner in watcher._runners:
                runner.start(tg)
            began = time.process_time()
            for batch in batches:
                await watcher._apply(node, list(batch))
                await anyio.lowlevel.checkpoint()
            for runner in watcher._runners:
                await runner.drained()
            took = time.process_time() - began
            tg.cancel_scope.cancel()
        return took

    best = min(anyio.run(once) for _ in range(rounds))
    return round(len(parsed) / best)


# -- part 1: the parent -----------------------------------------------------------------


def start_replay(socket: str, events: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "replay_engine.py"),
            "--socket",
            socket,
            "--events",
            str(events),
        ],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    if server.stdout.readline().strip() != b"ready":
        server.kill()
        raise SystemExit("the replay engine did not start")
    return server


def run_client(name: str, socket: str, events: int, warmup: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--client",
            name,
            "--socket",
            socket,
            "--events",
            str(events),
            "--warmup",
            str(warmup),
        ],
        capture_output=True,
        check=True,
        timeout=300,
    )
    return dict(json.loads(out.stdout.decode().strip().splitlines()[-1]))


def throughput(
    events: int, rounds: int, warmup: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every client and ceiling reader once per round, in turn; the best round of each."""
    with tempfile.TemporaryDirectory(prefix="swarmnet-bench-") as tmp:
        socket = os.path.join(tmp, "replay.sock")
        server = start_replay(socket, events)
        try:
            best: dict[str, dict[str, Any]] = {}
            for _ in range(rounds):
                for name in [*CLIENTS, *CEILINGS]:
                    result = run_client(name, socket, events, warmup)
                    if name not in best or result["cpu_rate"] > best[name]["cpu_rate"]:
                        best[name] = result
        finally:
            server.terminate()
            server.wait()
    return [best[name] for name in CLIENTS], [best[name] for name in CEILINGS]


def paired_ratio(events: int, pairs: int, warmup: int) -> list[float]:
    """Issue #14's dispatch ratio as ``pairs`` back-to-back pairs of runs: the Watcher,
    then ``engine.events()``, on the same replayed stream; each pair's ratio of events
    per CPU second. Best-of-N figures of each client taken minutes apart swing by about
    0.2 on a shared machine; two runs seconds apart share its state, and the median of
    their ratios is the steady figure."""
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(prefix="swarmnet-bench-") as tmp:
        socket = os.path.join(tmp, "replay.sock")
        server = start_replay(socket, events)
        try:
            for index in range(pairs):
                # Alternate which runs first: neither gets the quieter half every time.
                order = ["swarmnet-watcher", "swarmnet-stream"]
                if index % 2:
                    order.reverse()
                rates = {
                    name: run_client(name, socket, events, warmup)["cpu_rate"] for name in order
                }
                ratios.append(rates["swarmnet-watcher"] / rates["swarmnet-stream"])
        finally:
            server.terminate()
            server.wait()
    return ratios


def print_throughput(results: list[dict[str, Any]], events: int, rounds: int) -> None:
    print(
        f"\n== throughput: {events:,} recorded network events over a unix socket "
        f"(best of {rounds}) =="
    )
    print(f"{'client':32} {'events/s':>10} {'events/cpu-s':>13}  memory at 25/50/75/100% (MB)")
    for r in results:
        print(
            f"{r['client']:32} {r['rate']:>10,} {r['cpu_rate']:>13,}  "
            f"{r['rss_start_mb']} -> {' / '.join(str(m) for m in r['rss_mb'])}"
        )
    by = {
        r["client"].split()[0]
        + (" " + r["client"].split()[1] if r["client"].startswith("swarmnet") else ""): r
        for r in results
    }
    watcher = by["swarmnet Watcher"]
    stream = by["swarmnet engine.events()"]
    for other in ("docker-py", "aiodocker"):
        base = by[other]
        print(
            f"swarmnet Watcher / {other}: {watcher['rate'] / base['rate']:.2f}x events/s, "
            f"{watcher['cpu_rate'] / base['cpu_rate']:.2f}x per CPU second   "
            f"(engine.events(): {stream['rate'] / base['rate']:.2f}x, "
            f"{stream['cpu_rate'] / base['cpu_rate']:.2f}x)"
        )
    # Issue #14's dispatch goal: the Watcher's own work (cache, dedupe, dispatch,
    # stats) over what reading typed events costs anyway, as a ratio of the same run.
    print(
        f"swarmnet Watcher / engine.events(): {watcher['rate'] / stream['rate']:.2f}x events/s, "
        f"{watcher['cpu_rate'] / stream['cpu_rate']:.2f}x per CPU second"
    )
    growth = watcher["rss_mb"][-1] - watcher["rss_mb"][0]
    print(
        f"swarmnet Watcher memory from 25% to 100% of the stream: {growth:+.1f} MB "
        f"(callback calls {watcher['callback_calls']:,}, engine repeats suppressed "
        f"{watcher['suppressed']:,}, networks cached {watcher['cached_networks']})"
    )


def print_ceilings(
    results: list[dict[str, Any]], readers: list[dict[str, Any]], parsing: dict[str, int]
) -> None:
    print("\n== ceilings on this machine, same run (events per CPU second) ==")
    for r in readers:
        print(f"{r['client']:52} {r['cpu_rate']:>10,}   ({r['rate']:,} per wall second)")
    for name, rate in parsing.items():
        print(f"{name + ' (in memory)':52} {rate:>10,}")
    by = {r["client"]: r["cpu_rate"] for r in [*results, *readers]}
    # swarmnet reads /events over HTTP/1.0, so the reader costs little next to framing
    # and validation; those two, measured in memory, bound what any typed-event client
    # can do here before it keeps a cache, orders per network or calls anyone. (An
    # estimate: best-of-N CPU rates of separate measurements, added up.)
    http10 = by["aiohttp reader, HTTP/1.0"]
    framed = parsing["swarmnet framer + parser, 32 KiB chunks"]
    bound = 1 / (1 / http10 + 1 / framed)
    aiodocker = by["aiodocker events.subscribe()"]
    watcher = by["swarmnet Watcher callback"]
    print(
        f"typed events read over HTTP/1.0 cannot much beat 1/(1/{http10:,} + 1/{framed:,}) = "
        f"{bound:,.0f} events/CPU-s = {bound / aiodocker:.2f}x aiodocker, before any "
        f"cache, ordering or callback; 4x aiodocker is {4 * aiodocker:,} events/CPU-s, "
        f"which leaves {1e6 / (4 * aiodocker) - 1e6 / bound:.2f} us per event for the "
        f"Watcher's own work (it takes {1e6 / watcher - 1e6 / bound:.2f} us)"
    )


# -- part 2: latency on a lab engine --------------------------------------------------------


def latency_client(kind: str, socket: str, ready_file: str) -> dict[str, Any]:
    """Record, for each connect/disconnect event, engine time to the callback's time (ns).

    Stops once no event came for 3 s after the first one.
    """
    latencies: list[int] = []
    last = [0.0]

    def record(event_time_nano: int) -> None:
        latencies.append(time.time_ns() - event_time_nano)
        last[0] = time.monotonic()

    async def until_quiet() -> None:
        while not latencies or time.monotonic() - last[0] < 3.0:  # noqa: ASYNC110 - polling
            await asyncio.sleep(0.1)

    if kind == "swarmnet":
        import anyio

        import swarmnet

        async def main_swarmnet() -> None:
            async with swarmnet.Engine(f"unix://{socket}", name="node") as engine:
                watcher = swarmnet.Watcher(engine)

                @watcher.on(["connect", "disconnect"])
                def measure(event: swarmnet.models.NetworkEvent, **kwargs: Any) -> None:
                    record(event.time_nano)

                async with watcher:
                    Path(ready_file).touch()  # noqa: ASYNC240 - once, tiny
                    with anyio.move_on_after(120):
                        await until_quiet()

        anyio.run(main_swarmnet)
    else:
        import aiohttp

        async def read() -> None:
            filters = json.dumps({"type": ["network"], "event": ["connect", "disconnect"]})
            connector = aiohttp.UnixConnector(path=socket)
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get(
                    "http://engine/v1.41/events",
                    params={"filters": filters},
                    timeout=aiohttp.ClientTimeout(total=None),
                ) as response,
            ):
                Path(ready_file).touch()  # noqa: ASYNC240 - once, tiny
                async for line in response.content:
                    record(int(json.loads(line)["timeNano"]))

        async def main_aiohttp() -> None:
            reader = asyncio.ensure_future(read())
            try:
                await asyncio.wait_for(until_quiet(), 120)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

        asyncio.run(main_aiohttp())
    return {"client": kind, "latencies_ns": latencies}


async def make_activity(docker_host: str, count: int) -> int:
    """Connect and disconnect a container to a bridge until ``count`` events happened."""
    import swarmnet
    from swarmnet.lab import LAB_IMAGE

    async with swarmnet.Engine(docker_host) as engine:
        call = engine._transport.request
        network = await call(
            "POST", "networks/create", json_body={"Name": "evbench-net", "CheckDuplicate": True}
        )
        created = await call(
            "POST",
            "containers/create",
            params={"name": "evbench-c"},
            json_body={"Image": LAB_IMAGE, "Cmd": ["sleep", "600"]},
        )
        await call("POST", f"containers/{created['Id']}/start")
        made = 0
        try:
            while made < count:
                await call(
                    "POST",
                    f"networks/{network['Id']}/connect",
                    json_body={"Container": created["Id"]},
                )
                await asyncio.sleep(0.01)
                await call(
                    "POST",
                    f"networks/{network['Id']}/disconnect",
                    json_body={"Container": created["Id"]},
                )
                await asyncio.sleep(0.01)
                made += 2
        finally:
            await call("DELETE", f"containers/{created['Id']}", params={"force": "true"})
            await call("DELETE", f"networks/{network['Id']}")
    return made


def latency(lab_name: str | None, count: int) -> list[dict[str, Any]]:
    import anyio

    from swarmnet.lab import Lab, LabError

    own = False
    try:
        lab = Lab.existing(lab_name or "evbench")
    except LabError:
        lab = Lab(lab_name or "evbench", nodes=1)
        own = True
        anyio.run(lab.up)
    node = lab.nodes[0]
    socket = node.docker_host.removeprefix("unix://")
    try:
        with tempfile.TemporaryDirectory(prefix="swarmnet-bench-") as tmp:
            procs = {}
            for kind in ("swarmnet", "aiohttp"):
                ready = os.path.join(tmp, f"{kind}.ready")
                procs[kind] = subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--latency-client",
                        kind,
                        "--socket",
                        socket,
                        "--ready",
                        ready,
                    ],
                    stdout=subprocess.PIPE,
                )
                deadline = time.monotonic() + 60
                while not os.path.exists(ready) and time.monotonic() < deadline:
                    time.sleep(0.05)
            anyio.run(make_activity, node.docker_host, count)
            results = []
            for proc in procs.values():
                out, _ = proc.communicate(timeout=180)
                results.append(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        if own:
            anyio.run(lab.down)
    return results


def print_latency(results: list[dict[str, Any]]) -> None:
    print("\n== latency on a real engine: engine action to callback (same host clock) ==")
    print(f"{'client':32} {'events':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    summary = {}
    for r in results:
        values = sorted(v / 1e6 for v in r["latencies_ns"])
        if not values:
            print(f"{r['client']:32} no events")
            continue
        p50 = statistics.median(values)
        p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
        summary[r["client"]] = (p50, p99)
        name = "swarmnet Watcher callback" if r["client"] == "swarmnet" else "plain aiohttp reader"
        print(f"{name:32} {len(values):>7} {p50:>8.2f} {p99:>8.2f} {values[-1]:>8.2f}")
    if len(summary) == 2:
        print(
            f"swarmnet - aiohttp: p50 {summary['swarmnet'][0] - summary['aiohttp'][0]:+.2f} ms, "
            f"p99 {summary['swarmnet'][1] - summary['aiohttp'][1]:+.2f} ms"
        )


def quiet_logs() -> None:
    # A benchmark is an application: it may configure logging (the library never does).
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def main() -> None:
    quiet_logs()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 events, one round")
    parser.add_argument("--events", type=int, default=None, help="events in the replayed stream")
    parser.add_argument("--rounds", type=int, default=None, help="runs per client (best kept)")
    parser.add_argument("--no-lab", action="store_true", help="skip the latency part")
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help="back-to-back Watcher / engine.events() pairs for the dispatch ratio "
        "(default 10, 4 with --quick; 0 skips it)",
    )
    parser.add_argument(
        "--hot-path",
        action="store_true",
        help="only the Watcher's own work on parsed events in memory (cache, dispatch, "
        "callback), events per CPU second; steadier than the rest on a loaded machine",
    )
    parser.add_argument("--lab", default=None, help="lab to use for latency (default evbench)")
    parser.add_argument("--latency-events", type=int, default=None)
    parser.add_argument(
        "--warmup", type=int, default=None, help="events read before the clocks start"
    )
    parser.add_argument("--client", choices=sorted([*CLIENTS, *CEILINGS]), help=argparse.SUPPRESS)
    parser.add_argument("--latency-client", choices=["swarmnet", "aiohttp"], help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    args = parser.parse_args()
    events = args.events or (50_000 if args.quick else 200_000)
    warmup = args.warmup if args.warmup is not None else events // 50
    if args.client:
        run = CLIENTS.get(args.client) or CEILINGS[args.client]
        print(json.dumps(run(args.socket, events, warmup)))
        return
    if args.latency_client:
        print(json.dumps(latency_client(args.latency_client, args.socket, args.ready)))
        return
    rounds = args.rounds or (1 if args.quick else 3)
    if args.hot_path:
        rate = hot_path(events, rounds)
        print(f"Watcher hot path (cache, dispatch, callback; {events:,} parsed events): ", end="")
        print(f"{rate:,} events per CPU second (best of {rounds})")
        return
    results, readers = throughput(events, rounds, warmup)
    print_throughput(results, events, rounds)
    pairs = args.pairs if args.pairs is not None else (4 if args.quick else 10)
    if pairs:
        ratios = sorted(paired_ratio(events, pairs, warmup))
        print(
            f"swarmnet Watcher / engine.events() per CPU second, {pairs} back-to-back "
            f"pairs: median {statistics.median(ratios):.2f}x "
            f"(from {ratios[0]:.2f}x to {ratios[-1]:.2f}x)"
        )
    print_ceilings(results, readers, parse_ceilings(min(events, 50_000)))
    if not args.no_lab:
        count = args.latency_events or (100 if args.quick else 400)
        print_latency(latency(args.lab, count))


if __name__ == "__main__":
    main()
