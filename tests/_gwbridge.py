"""Leaving lab nodes as found after a swarm: without the docker_gwbridge it left behind.

The engine keeps ``docker_gwbridge`` (and, for a moment, the ingress sandbox on it) after
a node leaves its swarm. A dockerd 20.10 that logged "timeout while waiting for ingress
network removal" during the leave keeps a stale ``ingress`` and its sandbox until it
restarts; only then can the bridge go.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

import swarmnet
from swarmnet.lab import LabNode

_ATTEMPTS = 40


async def remove_gwbridges(nodes: Sequence[LabNode]) -> None:
    """Remove docker_gwbridge from every node that is in no swarm."""
    for node in nodes:
        for attempt in range(_ATTEMPTS):
            async with node.engine() as engine:
                info = await engine.info()
                if info.swarm.local_node_state is not swarmnet.LocalNodeState.INACTIVE:
                    break
                try:
                    await swarmnet.remove_gwbridge(engine)
                    break
                except swarmnet.NetworkInUse:
                    pass
            if attempt == _ATTEMPTS - 1:
                await node.restart()
                async with node.engine() as engine:
                    await swarmnet.remove_gwbridge(engine)
            else:
                await anyio.sleep(0.5)
