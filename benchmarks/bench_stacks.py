"""A stack to converged: ``swarmnet`` apply vs ``docker stack deploy`` plus polling.

The stack is ``tests/data/stack_shop.yaml`` (3 networks, 4 services: replicated and
global, dnsrr, a host-mode port, aliases; 6 tasks on a 3-node swarm), deployed under a
fresh name per round and removed after it, a few rounds each (median shown):

* ``swarmnet``: ``Stack.from_compose`` + ``apply`` (networks, services, then
  ``wait_converged`` on every service at once: tasks of the current spec, 0.2 s polls).
* ``docker stack deploy + polling``: ``docker stack deploy --resolve-image never
  --detach`` then, every 0.2 s, swarmnet's task list until every service has all its
  tasks of the current spec running (the CLI alone returns before anything runs).

Then one no-change round each: ``apply`` of the unchanged file (a plan, nothing written)
vs ``docker stack deploy`` of it (every service updated: Version and PreviousSpec change).

Usage::

    python benchmarks/bench_stacks.py             # 3 rounds
    python benchmarks/bench_stacks.py --rounds 5 --host unix:///run/swarmnet-lab/stk/node1/docker.sock

Without ``--host`` it uses the 3-node lab named by ``SWARMNET_LAB_NAME`` (default
``bench``), bringing it up (and a swarm on it) if needed. Everything it makes is removed.
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
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import structlog

import swarmnet
from swarmnet import Stack, remove_stack
from swarmnet.lab import Lab

SHOP = Path(__file__).resolve().parent.parent / "tests" / "data" / "stack_shop.yaml"
# No registry in the lab: without --resolve-image never the CLI spends ~20 s looking.
DEPLOY = ("docker", "stack", "deploy", "-c", str(SHOP), "--resolve-image", "never", "--detach")


async def converged(engine: swarmnet.Engine, stack: Stack) -> None:
    """Poll until every service's current-spec tasks all run (0.2 s between looks)."""
    nodes = len(await engine.nodes.list())
    while True:
        done = True
        for service in stack.services:
            want = nodes if service.spec.mode == "global" else service.spec.replicas or 0
            tasks = await engine.services.tasks(
                service.name, up_to_date=True, desired_state="running"
            )
            if sum(t.state.value == "running" for t in tasks) < want:
                done = False
                break
        if done:
            return
        await anyio.sleep(0.2)


async def round_swarmnet(host: str, name: str) -> float:
    stack = Stack.from_compose(SHOP, name=name)
    async with swarmnet.Engine(host) as engine:
        start = time.perf_counter()
        await stack.apply(engine)
        return time.perf_counter() - start


async def round_cli(host: str, name: str) -> float:
    stack = Stack.from_compose(SHOP, name=name)
    env = {**os.environ, "DOCKER_HOST": host}
    async with swarmnet.Engine(host) as engine:
        start = time.perf_counter()
        await anyio.run_process(
            [*DEPLOY, name],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        await converged(engine, stack)
        return time.perf_counter() - start


async def unchanged(host: str, name: str) -> tuple[float, float, bool, bool]:
    """Seconds for a no-change apply and a no-change CLI deploy; whether each wrote."""
    stack = Stack.from_compose(SHOP, name=name)
    env = {**os.environ, "DOCKER_HOST": host}
    async with swarmnet.Engine(host) as engine:
        await stack.apply(engine)
        versions = {s.name: s.version for s in await engine.services.list()}
        start = time.perf_counter()
        await stack.apply(engine)
        mine = time.perf_counter() - start
        wrote_mine = {s.name: s.version for s in await engine.services.list()} != versions
        start = time.perf_counter()
        await anyio.run_process(
            [*DEPLOY, name],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        theirs = time.perf_counter() - start
        wrote_cli = {s.name: s.version for s in await engine.services.list()} != versions
        await remove_stack(engine, name)
    return mine, theirs, wrote_mine, wrote_cli


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
    if not shutil.which("docker"):
        raise SystemExit("the docker CLI is needed for the comparison")
    async with AsyncExitStack() as stack:
        host = await prepare(args, stack)
        run = uuid.uuid4().hex[:4]
        rows: dict[str, list[float]] = {"swarmnet apply": [], "docker stack deploy + polling": []}
        for index in range(args.rounds):
            for label, contender in (
                ("swarmnet apply", round_swarmnet),
                ("docker stack deploy + polling", round_cli),
            ):
                name = f"bst{run}{index}{label[0]}"
                try:
                    rows[label].append(await contender(host, name))
                finally:
                    async with swarmnet.Engine(host) as engine:
                        await remove_stack(engine, name)
        base = statistics.median(rows["swarmnet apply"])
        print(f"\nstack to converged (3 networks, 4 services, {args.rounds} rounds)")
        print(f"{'contender':<34}{'median s':>10}{'min':>8}{'max':>8}{'x':>8}")
        for label, seconds in rows.items():
            median = statistics.median(seconds)
            print(
                f"{label:<34}{median:>10.2f}{min(seconds):>8.2f}{max(seconds):>8.2f}"
                f"{median / base:>7.1f}x"
            )
        mine, theirs, wrote_mine, wrote_cli = await unchanged(host, f"bst{run}u")
        print("\nunchanged file, applied again")
        print(f"{'swarmnet apply':<34}{mine:>10.3f}  services written: {wrote_mine}")
        print(f"{'docker stack deploy':<34}{theirs:>10.3f}  services written: {wrote_cli}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", help="a swarm manager's docker host (default: DOCKER_HOST)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per contender (3)")
    return parser.parse_args()


if __name__ == "__main__":
    # An application, unlike the library, decides what its logs show: warnings and up.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    anyio.run(main, parse())
