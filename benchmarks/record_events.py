"""Record real network events from an engine, exactly as it sends them.

Makes network activity on one engine (bridges and, when the engine is or can become
a swarm manager, an attachable overlay; containers connected and disconnected) while
reading the raw ``/events`` stream, and writes every network event's JSON, byte for
byte, one per line, to ``tests/data/network_events.jsonl``. The benchmarks replay
that file; the framing tests replay it split at every byte.

Run against a lab node::

    swarmnet lab up --name ev --nodes 1
    python benchmarks/record_events.py --host unix:///run/swarmnet-lab/ev/node1/docker.sock
    python benchmarks/record_events.py --host … --rounds 1 --every-type \
        --out tests/data/engine_events.jsonl

Everything it makes is named ``rec-…`` and removed at the end (a swarm it initialised
is left again).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

import anyio

import swarmnet
from swarmnet.lab import LAB_IMAGE

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "network_events.jsonl"


async def _call(engine: swarmnet.Engine, method: str, path: str, **kw: Any) -> Any:
    return await engine._transport.request(method, path, **kw)


async def activity(engine: swarmnet.Engine, rounds: int) -> None:
    """Bridges and an overlay with containers coming and going on them."""
    info = await engine.info()
    initialised = False
    if info.swarm.local_node_state.value == "inactive":
        await _call(
            engine,
            "POST",
            "swarm/init",
            json_body={"ListenAddr": "127.0.0.1:2377", "AdvertiseAddr": "127.0.0.1:2377"},
        )
        initialised = True
    containers: list[str] = []
    networks: list[str] = []
    try:
        for index in range(2):
            created = await _call(
                engine,
                "POST",
                "containers/create",
                params={"name": f"rec-c{index}"},
                json_body={"Image": LAB_IMAGE, "Cmd": ["sleep", "600"]},
            )
            containers.append(created["Id"])
            await _call(engine, "POST", f"containers/{created['Id']}/start")
        overlay = await _call(
            engine,
            "POST",
            "networks/create",
            json_body={"Name": "rec-overlay", "Driver": "overlay", "Attachable": True},
        )
        networks.append(overlay["Id"])
        for round_ in range(rounds):
            bridge = await _call(
                engine,
                "POST",
                "networks/create",
                json_body={"Name": f"rec-br{round_}", "Driver": "bridge", "CheckDuplicate": True},
            )
            for network in (bridge["Id"], overlay["Id"]):
                for container in containers:
                    await _call(
                        engine,
                        "POST",
                        f"networks/{network}/connect",
                        json_body={"Container": container},
                    )
                for container in containers:
                    await _call(
                        engine,
                        "POST",
                        f"networks/{network}/disconnect",
                        json_body={"Container": container, "Force": False},
                    )
            await _call(engine, "DELETE", f"networks/{bridge['Id']}")
    finally:
        for container in containers:
            with contextlib.suppress(swarmnet.SwarmnetError):
                await _call(engine, "DELETE", f"containers/{container}", params={"force": "true"})
        for network in networks:
            with contextlib.suppress(swarmnet.SwarmnetError):
                await _call(engine, "DELETE", f"networks/{network}")
        if initialised:
            await _call(engine, "POST", "swarm/leave", params={"force": "true"})


async def record(host: str, rounds: int, out: Path, every_type: bool) -> int:
    lines: list[bytes] = []
    async with swarmnet.Engine(host) as engine:
        params = {} if every_type else {"filters": json.dumps({"type": ["network"]})}
        async with anyio.create_task_group() as tg:

            async def capture() -> None:
                buffer = b""
                async with engine._transport.stream("GET", "events", params=params) as chunks:
                    async for chunk in chunks:
                        buffer += chunk
                        *complete, buffer = buffer.split(b"\n")
                        lines.extend(line for line in complete if line.strip())

            tg.start_soon(capture)
            await anyio.sleep(0.5)
            await activity(engine, rounds)
            await anyio.sleep(1.0)
            tg.cancel_scope.cancel()
    await anyio.Path(out.parent).mkdir(parents=True, exist_ok=True)
    await anyio.Path(out).write_bytes(b"".join(line + b"\n" for line in lines))
    return len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True, help="engine address (unix://…)")
    parser.add_argument("--rounds", type=int, default=6, help="bridge rounds of activity")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--every-type", action="store_true", help="record container, … events too, not just network"
    )
    args = parser.parse_args()
    count = anyio.run(record, args.host, args.rounds, args.out, args.every_type)
    print(f"recorded {count} events to {args.out}")


if __name__ == "__main__":
    main()
