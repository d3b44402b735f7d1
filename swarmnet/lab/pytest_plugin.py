"""pytest plugin: real Docker engines for tests, from :mod:`swarmnet.lab`.

Load it with ``-p swarmnet.lab.pytest_plugin`` (swarmnet's own ``pyproject.toml`` does). It adds:

Fixtures:
    lab: a session-wide :class:`swarmnet.lab.Lab`, brought up before the first test that
        asks for it and torn down after the last test of the session. Its engines also
        listen with TLS (``node.engine(tls=True)``, ``node.tls_host``, ``lab.cert_path``).
    lab_nodes: its nodes, as a list.
    swarm_cluster: a swarm on the lab's first three nodes for one test module (node1
        manager, node2 and node3 workers), formed with ``form_cluster`` and dissolved at
        the module's end.

Options (or environment variables):
    ``--lab-nodes N`` (``SWARMNET_LAB_NODES``): how many engines; default 5
        (the most any swarmnet test needs).
    ``--lab-name NAME`` (``SWARMNET_LAB_NAME``): the lab's name; default ``pytest``. Give
        concurrent test runs on one host different names. Under pytest-xdist
        (``-n 2 --dist loadfile``) each worker brings up a lab of its own, named with
        the worker's number (``pytest0``, ``pytest1``).
    ``--lab-keep`` (``SWARMNET_LAB_KEEP=1``): leave the lab up after the session; the next
        session with the same name and size reuses it at once.

A lab that cannot be brought up fails the tests that need it, with the reason (never a
skip: a CI run with no engine must go red, and so must a developer's).

Example::

    @pytest.mark.lab
    @pytest.mark.anyio
    async def test_nodes_answer(lab_nodes):
        for node in lab_nodes:
            async with node.engine() as engine:
                assert await engine.ping()
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack

import anyio
import pytest

from swarmnet._builtin.networks import remove_gwbridge
from swarmnet._core.engine_models import LocalNodeState
from swarmnet._core.errors import NetworkInUse, SwarmnetError
from swarmnet._core.log import get_logger
from swarmnet._swarm.cluster import Cluster, dissolve, form_cluster
from swarmnet.lab import Lab, LabNode
from swarmnet.lab._layout import MAX_NAME_LENGTH

DEFAULT_LAB_NAME = "pytest"
DEFAULT_LAB_NODES = 5


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("swarmnet", "swarmnet lab (real engines)")
    group.addoption(
        "--lab-nodes",
        type=int,
        default=None,
        help=f"engines in the test lab (env SWARMNET_LAB_NODES, default {DEFAULT_LAB_NODES})",
    )
    group.addoption(
        "--lab-name",
        default=None,
        help=f"name of the test lab (env SWARMNET_LAB_NAME, default {DEFAULT_LAB_NAME!r})",
    )
    group.addoption(
        "--lab-keep",
        action="store_true",
        default=False,
        help="leave the test lab up after the session (env SWARMNET_LAB_KEEP=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab: needs real engines from swarmnet.lab (root, dockerd, ip, iptables)"
    )


def lab_name(config: pytest.Config) -> str:
    """The test lab's name: ``--lab-name``, ``SWARMNET_LAB_NAME``, or ``pytest``.

    Under pytest-xdist every worker has a lab of its own: the name ends with the
    worker's number (``pytest0``, ``pytest1``…), cut to fit the 8 characters a lab name
    may have.
    """
    name = str(
        config.getoption("--lab-name") or os.environ.get("SWARMNET_LAB_NAME") or DEFAULT_LAB_NAME
    )
    worker = getattr(config, "workerinput", {}).get("workerid")  # "gw0", set by pytest-xdist
    if worker:
        number = str(worker).removeprefix("gw")
        name = f"{name[: MAX_NAME_LENGTH - len(number)]}{number}"
    return name


def lab_node_count(config: pytest.Config) -> int:
    """How many nodes the test lab has: ``--lab-nodes``, ``SWARMNET_LAB_NODES``, or 5."""
    option = config.getoption("--lab-nodes")
    if option is not None:
        return int(option)
    raw = os.environ.get("SWARMNET_LAB_NODES", "")
    try:
        return int(raw) if raw else DEFAULT_LAB_NODES
    except ValueError:
        raise pytest.UsageError(f"SWARMNET_LAB_NODES must be a number, not {raw!r}") from None


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config) -> Iterator[Lab]:
    """A lab of real engines, up for the whole session (see the module docstring)."""
    keep = bool(pytestconfig.getoption("--lab-keep")) or os.environ.get(
        "SWARMNET_LAB_KEEP", ""
    ) not in ("", "0")
    try:
        # With TLS listeners too, so tests can reach the engines over the network.
        the_lab = Lab(lab_name(pytestconfig), lab_node_count(pytestconfig), tls=True)
        anyio.run(the_lab.up)
    except SwarmnetError as exc:
        in_ci = os.environ.get("CI", "").lower() == "true"
        pytest.fail(
            f"the swarmnet test lab could not be brought up{' (CI=true)' if in_ci else ''}: {exc}",
            pytrace=False,
        )
    yield the_lab
    if not keep:
        anyio.run(the_lab.down)


@pytest.fixture(scope="session")
def lab_nodes(lab: Lab) -> list[LabNode]:
    """The test lab's nodes, in order (``node1`` first)."""
    return list(lab.nodes)


@pytest.fixture(scope="module")
def swarm_cluster(lab: Lab) -> Iterator[Cluster]:
    """A swarm on ``lab.nodes[:3]`` for one test module, gone again after it.

    Module-scoped and synchronous (usable from sync and async tests alike). Before
    forming, the three nodes are made to leave any swarm a crashed run left behind;
    then :func:`swarmnet.form_cluster` makes ``node1`` the only manager and ``node2``,
    ``node3`` workers, each advertising its lab address, and waits until all three are
    ready. The fixture's value is the :class:`swarmnet.Cluster` view (``members`` in
    node order, ``nodes``, ``swarm``); open engines with ``lab.nodes[i].engine()``.

    At the module's end (even after a failure) :func:`swarmnet.dissolve` takes every
    node out: workers leave and are removed from the node list, then node1 leaves; all
    three end ``inactive``, and the ``docker_gwbridge`` the swarm left is removed. Tests
    must remove their own services, networks and containers; a test that changes roles
    or membership must restore them.
    """
    if len(lab.nodes) < 3:
        pytest.fail(f"swarm_cluster needs a lab of 3 nodes or more, not {len(lab.nodes)}")
    nodes = lab.nodes[:3]
    cluster = anyio.run(_form_swarm_cluster, nodes)
    try:
        yield cluster
    finally:
        anyio.run(_dissolve_swarm_cluster, nodes)


async def _form_swarm_cluster(nodes: Sequence[LabNode]) -> Cluster:
    async with AsyncExitStack() as stack:
        engines = [await stack.enter_async_context(node.engine()) for node in nodes]
        await dissolve(engines)
        await remove_gwbridges(nodes)  # and restart a node whose gossip outlived its leave
        # 90 s: a node whose first gossip join failed is retried by its engine a minute later.
        return await form_cluster(
            engines, managers=1, advertise_addrs=[node.address for node in nodes], timeout=90
        )


async def _dissolve_swarm_cluster(nodes: Sequence[LabNode]) -> None:
    async with AsyncExitStack() as stack:
        engines = [await stack.enter_async_context(node.engine()) for node in nodes]
        await dissolve(engines)
    await remove_gwbridges(nodes)


_log = get_logger("swarmnet.lab")
#: Seconds a node that has just left may keep its old ingress sandbox on docker_gwbridge.
_GWBRIDGE_SETTLE = 20.0


async def remove_gwbridges(nodes: Sequence[LabNode]) -> None:
    """Remove ``docker_gwbridge`` from every node that is in no swarm.

    The engine keeps the bridge (and, for a moment, the ingress sandbox on it, which
    :func:`swarmnet.remove_gwbridge` waits for) after a node leaves its swarm, so a node
    is not as it was before the swarm until it goes. A dockerd 20.10 that logged
    "timeout while waiting for ingress network removal" during the leave keeps a stale
    ``ingress`` and its sandbox until it restarts; such a node is restarted after 20 s.
    So is a node whose gossip outlived its leave (:meth:`LabNode.gossip_leaked`).
    """
    for node in nodes:
        stuck = False
        async with node.engine() as engine:
            info = await engine.info()
            inactive = info.swarm.local_node_state is LocalNodeState.INACTIVE
            if inactive:
                try:
                    await remove_gwbridge(engine, settle=_GWBRIDGE_SETTLE)
                except NetworkInUse:
                    stuck = True
        if stuck:
            _log.warning("lab.gwbridge_stuck", node=node.name)
            await node.restart()
            async with node.engine() as engine:
                await remove_gwbridge(engine)
        if inactive and await node.gossip_leaked():
            # Its next swarm would have no overlay traffic (see LabNode.gossip_leaked).
            _log.warning("lab.gossip_leaked", node=node.name)
            await node.restart()
