"""A lab of two real engines: bring it up, look at each node, ping across, tear it down.

Run as root on Linux (``apt-get install -y docker.io busybox-static iproute2 iptables
util-linux``)::

    python examples/lab_basics.py

The same from a shell: ``swarmnet lab up --nodes 2``, ``swarmnet lab status``,
``eval $(swarmnet lab env node1) && docker ps``, ``swarmnet lab down``.
"""

from __future__ import annotations

import anyio

from swarmnet.lab import Lab, LabProgress


def show(step: LabProgress) -> None:
    print(f"{step.elapsed:5.2f}s  {step.message}")


async def main(name: str = "example") -> None:
    lab = Lab(name, nodes=2)
    await lab.up(progress=show)
    try:
        for node in lab.nodes:
            async with node.engine() as engine:
                info = await engine.info()
            print(f"{node.name}: address {node.address}, hostname {info.name}, {node.docker_host}")
        first, second = lab.nodes
        # exec runs a host program inside the node's network namespace.
        reply = await first.exec("busybox", "ping", "-c", "1", "-W", "2", second.address)
        print(f"{first.name} -> {second.name}: {reply.splitlines()[-2]}")
    finally:
        await lab.down(progress=show)


if __name__ == "__main__":
    anyio.run(main)
