"""Shared test setup. The lab fixtures come from the ``swarmnet.lab.pytest_plugin`` plugin.

Two tiers: ``pytest -m "not lab"`` runs every test that needs no engine (no root, in
seconds); ``pytest -m lab`` runs the ones on real engines. A test is in the lab tier
when it is marked ``lab`` or when its fixture closure holds ``lab`` (directly, through
``lab_nodes``, ``swarm_cluster``, ``engine``… or an autouse fixture): the collection
hook below marks those, so no one has to remember to. A test that asks for the lab
only at run time (``request.getfixturevalue("lab")``) cannot be seen at collection
and fails loudly instead of quietly bringing up a lab in the fast tier.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import hypothesis
import pytest
from _containers import Tracker
from _engines import engines_of

import swarmnet
from swarmnet.lab import Lab
from swarmnet.lab.pytest_plugin import remove_gwbridges

# The fast tier also runs as a user who cannot write to the checkout: hypothesis then
# keeps its examples in memory instead of warning (warnings are errors here).
if not os.access(Path(__file__).resolve().parent.parent, os.W_OK):
    hypothesis.settings.register_profile(
        "read-only-checkout", database=hypothesis.database.InMemoryExampleDatabase()
    )
    hypothesis.settings.load_profile("read-only-checkout")

# pytester runs pytest inside a test (to check what the lab fixture does when it fails).
pytest_plugins = ["pytester"]

#: The fixture that brings up real engines; every lab fixture depends on it.
LAB_FIXTURE = "lab"


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``lab`` every test whose fixture closure includes the ``lab`` fixture."""
    for item in items:
        if LAB_FIXTURE in getattr(item, "fixturenames", ()) and not item.get_closest_marker("lab"):
            item.add_marker(pytest.mark.lab)


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> None:
    """Refuse to bring up the lab for a test that is not marked ``lab``."""
    if fixturedef.argname != LAB_FIXTURE:
        return
    item = getattr(request, "_pyfuncitem", None)
    if item is not None and item.get_closest_marker("lab") is None:
        pytest.fail(
            f"{item.nodeid} asked for the lab at run time but is not marked lab, so it "
            'would run in the fast tier (-m "not lab"); add @pytest.mark.lab',
            pytrace=False,
        )


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


# -- three managers (test_lease, test_controller): one daemon may die, the swarm still writes --


@pytest.fixture(scope="module")
def three_managers(lab: Lab) -> Iterator[None]:
    """node1..node3 as three managers, for one module: a quorum survives one of them down."""

    async def form() -> None:
        async with engines_of(lab.nodes[:3]) as engines:
            await swarmnet.dissolve(engines)
        # As the plugin's swarm_cluster does: a node left with a stale ingress by an
        # earlier swarm cannot join the new one's ingress (its gossip then sees nobody).
        await remove_gwbridges(lab.nodes[:3])
        async with engines_of(lab.nodes[:3]) as engines:
            await swarmnet.form_cluster(
                engines, managers=3, advertise_addrs=[n.address for n in lab.nodes[:3]], timeout=90
            )

    async def dissolve() -> None:
        async with engines_of(lab.nodes[:3]) as engines:
            await swarmnet.dissolve(engines)
        await remove_gwbridges(lab.nodes[:3])

    anyio.run(form)
    try:
        yield
    finally:
        anyio.run(dissolve)


@pytest.fixture
async def managers(lab: Lab, three_managers: None) -> AsyncIterator[list[swarmnet.Engine]]:
    async with engines_of(lab.nodes[:3]) as engines:
        yield engines
