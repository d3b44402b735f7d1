"""Swarm services on overlays: ensure them, follow them to converged, reach them by name.

What it shows:
  * ``ensure_many`` checks every spec and every network before writing anything, creates
    the services, and a second pass finds them unchanged (nothing written).
  * ``wait_converged`` follows the tasks of the current spec, reporting "2/3 running".
  * Each task's slot, node, state and addresses on each network, typed.
  * A standalone container on an attachable overlay reaches a service by its name
    (``dnsrr``: the name resolves to every task) and each task by ``tasks.<service>``.
  * ``add_network`` / ``remove_network`` on a running service, the rolling update awaited.
  * Refusals before any write: a port published in ingress mode with ``dnsrr``.

Run it against a swarm manager::

    python examples/06_services_on_overlays.py unix:///run/swarmnet-lab/demo/node1/docker.sock

or set ``SWARMNET_EXAMPLE_HOSTS`` (the first host is used). The tasks use the lab's
busybox image (``SWARMNET_EXAMPLE_IMAGE`` to change it). Everything it makes is removed
at the end.
"""

from __future__ import annotations

import logging
import os
import re
import sys

import anyio
import structlog

import swarmnet

# Until swarmnet's top level re-exports them, the service names live here.
from swarmnet import PublishedPort, ServiceNetwork, ServiceSpec, UpdateSettings
from swarmnet.models import Progress

IMAGE = os.environ.get("SWARMNET_EXAMPLE_IMAGE", "swarmnet-lab/busybox:latest")
FRONT, BACK = "swarmnet-example-front", "swarmnet-example-back"
API, WEB = "swarmnet-example-api", "swarmnet-example-web"
CLIENT = "swarmnet-example-client"
DNS = "127.0.0.11"  # the engine's embedded DNS server, in every container


def show(progress: Progress) -> None:
    print(f"  {progress.service}: {progress}")


async def main(hosts: list[str]) -> int:
    if not hosts:
        print("give the docker host of a swarm manager", file=sys.stderr)
        return 2
    async with swarmnet.Engine(hosts[0]) as manager:
        if not (await manager.info()).swarm.is_manager:
            print(f"{hosts[0]} is not a swarm manager; form a swarm first", file=sys.stderr)
            return 2
        try:
            await demo(manager)
        finally:
            await clean_up(manager)
            print("cleaned up")
    return 0


async def demo(manager: swarmnet.Engine) -> None:
    for name in (FRONT, BACK):
        await manager.networks.ensure(swarmnet.OverlaySpec(name=name, attachable=True))
    rollout = UpdateSettings(parallelism=0, monitor=0.5)
    specs = [
        ServiceSpec(
            name=API,
            image=IMAGE,
            args=("sleep", "600"),
            replicas=3,
            networks=(ServiceNetwork(target=BACK, aliases=("api",)),),
            endpoint_mode="dnsrr",
            update_config=rollout,
            # `sleep` as PID 1 ignores SIGTERM: stop it at once, not after 10 s.
            stop_grace_period=0,
            labels={"example": "06"},
        ),
        ServiceSpec(
            name=WEB,
            image=IMAGE,
            args=("sleep", "600"),
            replicas=2,
            networks=(FRONT, BACK),
            endpoint_mode="dnsrr",
            update_config=rollout,
            # `sleep` as PID 1 ignores SIGTERM: stop it at once, not after 10 s.
            stop_grace_period=0,
            labels={"example": "06"},
        ),
    ]
    for result in await manager.services.ensure_many(specs):
        print(f"service {result.service.name}: {result.outcome.value}")
    for spec in specs:
        await manager.services.wait_converged(spec.name, on_progress=show)
        print(f"{spec.name} converged")
    again = await manager.services.ensure_many(specs)
    print("second ensure_many:", ", ".join(r.outcome.value for r in again))

    hostnames = {node.id: node.hostname for node in await manager.nodes.list()}
    for task in await manager.services.tasks(API, desired_state="running"):
        where = ", ".join(
            f"{n.network_name}={'/'.join(str(a.ip) for a in n.addresses)}" for n in task.networks
        )
        print(f"  {API}.{task.slot} on {hostnames.get(task.node_id)}: {task.state.value} {where}")

    client = await manager.containers.run(IMAGE, ["sleep", "600"], name=CLIENT, networks=[BACK])
    for target in (API, "api", f"tasks.{API}"):
        answer = await manager.containers.exec(client.id, "nslookup", target)
        # Every IPv4 address in busybox's answer but the embedded DNS server's own.
        found = sorted(set(re.findall(r"\b\d+\.\d+\.\d+\.\d+\b", answer.output)) - {DNS})
        print(f"client -> {target}: {'resolves to ' + ', '.join(found) if answer.ok else 'no'}")
    reached = await manager.containers.exec(client.id, "ping", "-c", "1", "-W", "2", API)
    print(f"client -> ping {API}: {'reachable' if reached.ok else 'UNREACHABLE'}")

    print(f"adding {FRONT} to {API}:")
    service = await manager.services.add_network(API, FRONT, on_progress=show)
    print(f"{API} is on {len(service.networks)} networks")
    print(f"removing {FRONT} from {API}:")
    service = await manager.services.remove_network(API, FRONT, on_progress=show)
    print(f"{API} is on {len(service.networks)} network")

    try:
        ServiceSpec(
            name="bad",
            image=IMAGE,
            endpoint_mode="dnsrr",
            ports=(PublishedPort(target=80, published=8080),),  # ingress mode
        )
    except swarmnet.InvalidSpec as exc:
        print(f"refused before anything was sent: {exc}")


async def clean_up(manager: swarmnet.Engine) -> None:
    await manager.containers.remove(CLIENT)
    for name in (API, WEB):
        await manager.services.remove(name, missing_ok=True)
    # An overlay stays in use until the removed services' tasks have gone.
    with anyio.move_on_after(30):
        for name in (FRONT, BACK):
            while True:
                try:
                    await manager.networks.remove(name)
                    break
                except swarmnet.NetworkNotFound:
                    break
                except swarmnet.EngineAPIError:
                    await anyio.sleep(0.5)


if __name__ == "__main__":
    # An application, unlike the library, decides what its logs show: warnings and up.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    arguments = sys.argv[1:] or [
        h for h in os.environ.get("SWARMNET_EXAMPLE_HOSTS", "").split(",") if h
    ]
    sys.exit(anyio.run(main, arguments))
