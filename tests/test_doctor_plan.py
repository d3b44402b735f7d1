"""The doctor's bounded port-check plan (``select_peers``), without any engine.

Trying every pair of nodes grows with the square of the nodes; the plan has every node
tried by a fixed number of others and every node try the managers, so it grows linearly
while a node nobody can reach is still tried, and so named, by several nodes.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

import swarmnet
from swarmnet import Engine, InvalidSpec
from swarmnet._doctor.ports import DEFAULT_PORT_PEERS, select_peers


def addresses(count: int) -> list[str]:
    base = ipaddress.IPv4Address("198.18.7.2")
    return [str(base + i) for i in range(count)]


def pairs(plan: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {(source, target) for source, targets in plan.items() for target in targets}


@pytest.mark.parametrize("count", [1, 2, 3, DEFAULT_PORT_PEERS + 1])
def test_small_swarms_get_every_pair(count: int) -> None:
    nodes = addresses(count)
    plan = select_peers(nodes, nodes, {nodes[0]})
    assert pairs(plan) == {(s, t) for s in nodes for t in nodes if s != t}


def test_none_is_every_pair_whatever_the_size() -> None:
    nodes = addresses(32)
    assert len(pairs(select_peers(nodes, nodes, (), None))) == 32 * 31


@pytest.mark.parametrize("count", [6, 8, 16, 32, 64])
@pytest.mark.parametrize("peers", [1, 2, 4])
def test_every_node_is_tried_by_exactly_peers_others_and_never_by_itself(
    count: int, peers: int
) -> None:
    nodes = addresses(count)
    plan = select_peers(nodes, nodes, (), peers)
    assert all(source not in targets for source, targets in plan.items())
    tried_by = Counter(target for targets in plan.values() for target in targets)
    assert tried_by == dict.fromkeys(nodes, peers)
    # Spread evenly: each source tries ``peers`` nodes, no source carries the rest.
    assert {len(targets) for targets in plan.values()} == {peers}


def test_the_work_grows_linearly_not_with_the_square() -> None:
    managers = addresses(32)[:3]
    sizes = {
        n: len(pairs(select_peers(addresses(n), addresses(n), managers[: min(3, n)])))
        for n in (4, 8, 16, 32)
    }
    assert sizes[4] == 4 * 3  # the full mesh: 5 nodes or fewer
    # At most DEFAULT_PORT_PEERS tries of each node plus every node trying the managers.
    assert sizes[32] <= 32 * (DEFAULT_PORT_PEERS + 3)
    assert sizes[32] / sizes[16] <= 2 * 1.1  # twice the nodes, about twice the pairs
    assert sizes[32] < 32 * 31 / 4


def test_every_source_tries_every_manager() -> None:
    nodes = addresses(32)
    managers = {nodes[5], nodes[17], nodes[30]}
    plan = select_peers(nodes, nodes, managers, 2)
    for source, targets in plan.items():
        assert managers - {source} <= set(targets)


def test_a_cut_off_node_is_tried_by_several_distinct_neighbours() -> None:
    nodes = addresses(32)
    plan = select_peers(nodes, nodes, (), 3)
    cut = nodes[0]
    triers = sorted(source for source, targets in plan.items() if cut in targets)
    # The nodes just before it on the ring (which wraps): 3 distinct nodes name it.
    assert triers == sorted(nodes[-3:])


def test_targets_without_a_probe_are_covered_by_the_sources_there_are() -> None:
    nodes = addresses(16)
    sources = nodes[::2]  # half of the nodes can run tries (the others: no probe)
    plan = select_peers(sources, nodes, (), 2)
    tried_by = Counter(target for targets in plan.values() for target in targets)
    assert tried_by == dict.fromkeys(nodes, 2)
    assert set(plan) == set(sources)


def test_the_plan_is_the_same_whatever_the_order_given() -> None:
    nodes = addresses(20)
    shuffled = nodes[7:] + nodes[:7]
    first = pairs(select_peers(nodes, nodes, {nodes[3]}, 3))
    assert pairs(select_peers(shuffled, list(reversed(nodes)), {nodes[3]}, 3)) == first


def test_addresses_sort_as_addresses_not_as_text() -> None:
    nodes = ["198.18.7.9", "198.18.7.10", "198.18.7.11", "198.18.7.100"]
    plan = select_peers(nodes, nodes, (), 1)
    # Numeric order 9, 10, 11, 100: each tries the next one (as text, 10 < 100 < 11 < 9).
    assert plan == {
        "198.18.7.9": ["198.18.7.10"],
        "198.18.7.10": ["198.18.7.11"],
        "198.18.7.11": ["198.18.7.100"],
        "198.18.7.100": ["198.18.7.9"],
    }


@pytest.mark.parametrize("peers", [0, -1])
def test_fewer_than_one_peer_is_refused(peers: int) -> None:
    nodes = addresses(8)
    with pytest.raises(InvalidSpec, match="port_peers"):
        select_peers(nodes, nodes, (), peers)


@pytest.mark.anyio
async def test_port_peers_below_one_is_refused_before_any_engine_is_read() -> None:
    # A closed engine: reading it would fail with another error than InvalidSpec.
    engine = Engine("unix:///nonexistent/docker.sock", name="never")
    with pytest.raises(InvalidSpec, match="port_peers must be at least 1"):
        await swarmnet.doctor(engine, port_peers=0)
