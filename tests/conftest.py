"""Shared test setup. The lab fixtures come from the ``swarmnet.lab.pytest_plugin`` plugin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _containers import Tracker

import swarmnet
from swarmnet.lab import Lab

# pytester runs pytest inside a test (to check what the lab fixture does when it fails).
pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """swarmnet runs on asyncio (aiodocker is built on aiohttp)."""
    return "asyncio"


# -- node1 and what a test made on it (test_networks, test_attachments, test_connectivity) --
# Each of those modules defines its own ``prefix`` fixture (a unique name prefix).


@pytest.fixture(scope="module")
def swarm(swarm_cluster: swarmnet.Cluster) -> swarmnet.Cluster:
    """node1 manages, node2 and node3 work (the plugin's swarm_cluster)."""
    return swarm_cluster


@pytest.fixture
async def engine(lab: Lab) -> AsyncIterator[swarmnet.Engine]:
    """An open client for lab node1."""
    async with lab.nodes[0].engine() as opened:
        yield opened


@pytest.fixture
async def tracker(engine: swarmnet.Engine, prefix: str) -> AsyncIterator[Tracker]:
    """Removes the containers a test ran and every node1 network named ``prefix…``."""
    made = Tracker()
    made.watch_networks(engine, prefix)
    try:
        yield made
    finally:
        await made.cleanup()
