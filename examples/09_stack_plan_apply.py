"""A compose stack: plan it, apply it, edit the file, plan and apply again, remove it.

What it shows:
  * ``Stack.from_compose`` reads a compose file into typed specs named and labelled as
    ``docker stack deploy`` names them (``<stack>_<key>``, ``com.docker.stack.namespace``),
    so ``docker stack ls/ps/rm`` work on it.
  * ``plan`` lists per object create / update (with the fields) / remove / unchanged;
    ``apply`` runs it in order (networks, then services, waited on until converged).
  * A replica count and an alias changed in the file: the plan shows exactly those.
  * A second plan after apply shows no change.

Run it against a swarm manager::

    python examples/09_stack_plan_apply.py unix:///run/swarmnet-lab/demo/node1/docker.sock

or set ``SWARMNET_EXAMPLE_HOSTS`` (the first host is used). The tasks use the lab's
busybox image (``SWARMNET_EXAMPLE_IMAGE`` to change it). The stack is removed at the end.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import anyio

import swarmnet
from swarmnet import Stack, remove_stack
from swarmnet.models import StackStep

IMAGE = os.environ.get("SWARMNET_EXAMPLE_IMAGE", "swarmnet-lab/busybox:latest")
NAME = "swarmnet-example"
COMPOSE = """\
version: "3.8"
networks:
  app:
    attachable: true
services:
  api:
    image: ${IMAGE}
    command: sleep 3600
    stop_grace_period: 0s  # sleep as PID 1 ignores SIGTERM: do not wait 10 s per task
    networks:
      app:
        aliases: [backend]
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      update_config: {parallelism: 0, monitor: 200ms}
"""


def show(step: StackStep) -> None:
    print(f"  {step}")


async def main(host: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "stack.yaml"
        file.write_text(COMPOSE)
        stack = Stack.from_compose(file, name=NAME, env={"IMAGE": IMAGE})
        async with swarmnet.Engine(host) as engine:
            try:
                plan = await stack.plan(engine)
                print(plan)
                result = await stack.apply(engine, on_progress=show)
                print(f"applied {len(result.done)} change(s); converged")

                file.write_text(
                    COMPOSE.replace("replicas: 2", "replicas: 3").replace(
                        "[backend]", "[backend, api-v2]"
                    )
                )
                edited = Stack.from_compose(file, name=NAME, env={"IMAGE": IMAGE})
                plan = await edited.plan(engine)
                print(plan)  # ~ service swarmnet-example_api: deploy.replicas, networks
                await edited.apply(engine, on_progress=show)
                print(await edited.plan(engine))  # no changes
            finally:
                removed = await remove_stack(engine, NAME)
                print(f"removed {len(removed.done)} object(s)")


if __name__ == "__main__":
    hosts = os.environ.get("SWARMNET_EXAMPLE_HOSTS", "").split()
    target = sys.argv[1] if len(sys.argv) > 1 else (hosts[0] if hosts else "")
    if not target:
        sys.exit(f"usage: {sys.argv[0]} DOCKER_HOST (or set SWARMNET_EXAMPLE_HOSTS)")
    anyio.run(main, target)
