"""Turn a set of engines into a swarm with one call, show it, and take it apart again.

What it shows:
  * ``swarmnet.form_cluster``: init on the first engine, the other managers joined one by
    one, the workers concurrently, until every node is ready; each step reported to a
    callback as it happens.
  * Running it a second time changes nothing: every member comes back ``unchanged``.
  * The typed ``Cluster`` view: members with their role and what was done, the node list.
  * Join tokens are ``Secret`` values: printing them shows a mask.
  * ``swarmnet.dissolve``: workers leave, then managers; every engine ends ``inactive``.

Run it against two or more engines in no swarm (the first ones become managers)::

    SWARMNET_EXAMPLE_HOSTS=unix:///run/swarmnet-lab/demo/node1/docker.sock,\
unix:///run/swarmnet-lab/demo/node2/docker.sock,\
unix:///run/swarmnet-lab/demo/node3/docker.sock python examples/02_form_cluster.py

or give the docker hosts as arguments. ``SWARMNET_EXAMPLE_MANAGERS`` sets how many are
managers (default 1). Set ``SWARMNET_EXAMPLE_KEEP=1`` to leave the swarm in place.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import AsyncExitStack

import anyio
import structlog

import swarmnet


def show_progress(step: swarmnet.models.ClusterProgress) -> None:
    role = f" as {step.role.value}" if step.role else ""
    who = step.engine or "all nodes"
    print(f"  [{step.done}/{step.total}] {step.elapsed:5.2f}s  {step.step:<11} {who}{role}")


async def main(hosts: list[str]) -> int:
    if len(hosts) < 2:
        print("give two or more docker hosts (arguments or SWARMNET_EXAMPLE_HOSTS)")
        return 2
    managers = int(os.environ.get("SWARMNET_EXAMPLE_MANAGERS", "1"))
    async with AsyncExitStack() as stack:
        engines = [
            await stack.enter_async_context(swarmnet.Engine(host, name=f"engine{i + 1}"))
            for i, host in enumerate(hosts)
        ]

        print(f"forming a swarm of {len(engines)} engines, {managers} manager(s):")
        cluster = await swarmnet.form_cluster(engines, managers=managers, on_progress=show_progress)
        print(f"swarm {cluster.id}")
        for member in cluster.members:
            node = cluster.node(member)
            print(
                f"  {member.engine:<9} {member.role.value:<8} {node.state.value:<6} "
                f"{node.hostname:<10} {member.action.value}"
            )
        leader = cluster.leader
        print(f"leader: {leader.hostname if leader else '-'}")

        again = await swarmnet.form_cluster(engines, managers=managers)
        print(f"second form_cluster changed something: {again.changed}")

        tokens = await engines[0].swarm.join_tokens()
        print(f"worker token: {tokens.worker}  (a Secret: .reveal() gives the value)")

        if os.environ.get("SWARMNET_EXAMPLE_KEEP", "") not in ("", "0"):
            print("leaving the swarm in place (SWARMNET_EXAMPLE_KEEP)")
            return 0
        left = await swarmnet.dissolve(engines)
        states = [(await engine.swarm.state()).value for engine in engines]
        print(f"dissolved: {len(left)} engines left; states now {sorted(set(states))}")
    return 0


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    arguments = sys.argv[1:] or [
        h for h in os.environ.get("SWARMNET_EXAMPLE_HOSTS", "").split(",") if h
    ]
    sys.exit(anyio.run(main, arguments))
