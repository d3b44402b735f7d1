"""Real Docker engines on one Linux host, for trying swarmnet and for its tests.

``Lab`` brings up several engines, each in a network namespace on one Linux bridge, with
its own address, hostname, data and socket, and :data:`LAB_IMAGE` imported (no registry
needed). The same from a shell: ``swarmnet lab up``. Needs root and
``apt-get install -y docker.io busybox-static iproute2 iptables util-linux``. What
the lab cannot do raises :class:`LabError` (the class ``swarmnet.errors.LabError``).

Example::

    from swarmnet.lab import Lab

    async with Lab("demo", nodes=3) as lab:
        for node in lab.nodes:
            async with node.engine() as engine:
                print(node.name, node.address, (await engine.info()).name)
"""

from swarmnet._core.errors import LabError
from swarmnet.lab._image import LAB_IMAGE
from swarmnet.lab._lab import Lab
from swarmnet.lab._models import LabNodeState, LabNodeStatus, LabProgress, LabStatus, SSHAccess
from swarmnet.lab._node import LabNode

__all__ = [
    "LAB_IMAGE",
    "Lab",
    "LabError",
    "LabNode",
    "LabNodeState",
    "LabNodeStatus",
    "LabProgress",
    "LabStatus",
    "SSHAccess",
]
