"""An attachable overlay across two nodes: ensure it, attach containers, reach across.

What it shows:
  * ``ensure`` on a manager creates the overlay once; a second ``ensure`` finds it
    unchanged (nothing written).
  * A worker does not list an attachable overlay until something attaches there, and
    ``get`` says so; attaching by name works anyway.
  * ``engine.containers.run`` with ``swarmnet.attach`` puts a container on the overlay
    at create time; the containers get DNS aliases there and reach each other by name
    (``engine.containers.exec`` runs ``ping`` inside).
  * ``engine.containers.list`` finds the containers again by label and network, each
    with its address on the overlay, as a controller adopting them would.
  * A verbose inspect lists the overlay's peers (the nodes taking part).

Everything goes through public calls (``engine.networks``, ``engine.containers``).
Run it against two engines of one swarm, the first a manager::

    SWARMNET_EXAMPLE_HOSTS=unix:///run/swarmnet-lab/demo/node1/docker.sock,\
unix:///run/swarmnet-lab/demo/node2/docker.sock python examples/03_attachable_overlay.py

or give the two docker hosts as arguments. The containers use the lab's busybox image
(``SWARMNET_EXAMPLE_IMAGE`` to change it). Everything it makes is removed at the end.
"""

from __future__ import annotations

import logging
import os
import sys

import anyio
import structlog

import swarmnet

NETWORK = "swarmnet-example-overlay"
IMAGE = os.environ.get("SWARMNET_EXAMPLE_IMAGE", "swarmnet-lab/busybox:latest")
LABELS = {"swarmnet-example": "03"}


async def run_container(
    engine: swarmnet.Engine, name: str, networking: swarmnet.models.ContainerNetworking
) -> swarmnet.models.Container:
    """A long-running busybox container on the overlay, labelled for cleanup."""
    return await engine.containers.run(
        IMAGE, ["sleep", "600"], name=name, networks=networking, labels=LABELS
    )


async def ping(engine: swarmnet.Engine, container: str, target: str, within: float = 15) -> bool:
    """Ping from inside the container until answered, for up to ``within`` seconds.

    A container's name reaches the other nodes' DNS by gossip, a moment after it starts
    (longer on a busy host); until then the name does not resolve there.
    """
    with anyio.move_on_after(within):
        while not (  # noqa: ASYNC110 (polling a container)
            await engine.containers.exec(container, "ping", "-c", "1", "-W", "2", target)
        ).ok:
            await anyio.sleep(0.5)
        return True
    return False


async def main(hosts: list[str]) -> int:
    if len(hosts) < 2:
        print("give two docker hosts of one swarm (the first a manager)", file=sys.stderr)
        return 2
    async with (
        swarmnet.Engine(hosts[0]) as manager,
        swarmnet.Engine(hosts[1]) as worker,
    ):
        manager_name = (await manager.info()).name
        worker_info = await worker.info()
        if not (await manager.info()).swarm.is_manager:
            print(f"{hosts[0]} is not a swarm manager; form a swarm first", file=sys.stderr)
            return 2

        spec = swarmnet.OverlaySpec(
            name=NETWORK,
            attachable=True,
            pools=[swarmnet.IPAMPool(subnet="10.240.0.0/24")],
            labels={"example": "03"},
        )
        first = await manager.networks.ensure(spec)
        print(f"overlay {NETWORK}: {first.outcome.value} ({first.network.id[:12]})")
        again = await manager.networks.ensure(spec)
        print(f"second ensure: {again.outcome.value}")

        try:
            await worker.networks.get(NETWORK)
        except swarmnet.NetworkNotFound:
            print(f"{worker_info.name} does not list it yet (nothing attached there)")

        try:
            alpha = await run_container(
                manager,
                "swarmnet-example-alpha",
                swarmnet.attach(swarmnet.EndpointConfig(network=NETWORK, aliases=("alpha",))),
            )
            beta = await run_container(
                worker,
                "swarmnet-example-beta",
                swarmnet.attach(swarmnet.EndpointConfig(network=NETWORK, aliases=("beta",))),
            )

            for engine, name, source, target, where in (
                (manager, manager_name, alpha.id, "beta", worker_info.name),
                (worker, worker_info.name, beta.id, "alpha", manager_name),
            ):
                reached = "reachable" if await ping(engine, source, target) else "UNREACHABLE"
                mine = "alpha" if target == "beta" else "beta"
                print(f"{mine} on {name} -> {target} on {where} by name: {reached}")

            # What a controller adopting running containers sees: one list per node,
            # each container with its networks.
            for engine, node in ((manager, manager_name), (worker, worker_info.name)):
                for container in await engine.containers.list(labels=LABELS, network=NETWORK):
                    address = container.networks[NETWORK].ip_address
                    print(f"{container.name} on {node}: {address} ({container.state})")
            for engine in (manager, worker):
                for endpoint in await engine.networks.endpoints(NETWORK):
                    print(
                        f"  {endpoint.container_name}: {endpoint.ipv4_address} "
                        f"aliases={list(endpoint.aliases)}"
                    )
            verbose = await manager.networks.get(NETWORK, verbose=True)
            peers = [str(ip) for ip in sorted(p.ip for p in verbose.peers if p.ip is not None)]
            print(f"peers: {', '.join(peers)}")
        finally:
            # Whatever was made, even by a run that failed half-way: found by label.
            for engine in (worker, manager):
                for container in await engine.containers.list(labels=LABELS, all=True):
                    await engine.containers.remove(container.id)
            await manager.networks.remove(NETWORK)
            print("cleaned up")
    return 0


if __name__ == "__main__":
    # An application, unlike the library, decides what its logs show: warnings and up.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    arguments = sys.argv[1:] or [
        h for h in os.environ.get("SWARMNET_EXAMPLE_HOSTS", "").split(",") if h
    ]
    sys.exit(anyio.run(main, arguments))
