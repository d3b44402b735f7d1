"""The nodes of a swarm: typed listing, promote and demote, availability, labels, removal.

Runs on the ``swarm_cluster`` fixture (node1 manager, node2 and node3 workers). Every
test puts roles, availability and labels back as it found them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest

import swarmnet
from swarmnet import Cluster, Engine
from swarmnet.lab import Lab
from swarmnet.models import NodeAvailability, NodeRole, NodeState, Reachability

pytestmark = [pytest.mark.anyio, pytest.mark.lab]


@pytest.fixture
async def manager(lab: Lab, swarm_cluster: Cluster) -> AsyncIterator[Engine]:
    async with lab.nodes[0].engine() as engine:
        yield engine


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds (role changes reach raft and the node in a moment)."""
    with anyio.fail_after(20):
        while not await check():  # noqa: ASYNC110 (the engine has no event for this)
            await anyio.sleep(0.1)


async def test_nodes_are_listed_and_read_as_typed_values(
    lab: Lab, swarm_cluster: Cluster, manager: Engine
) -> None:
    nodes = await manager.nodes.list()

    assert sorted(node.hostname for node in nodes) == ["node1", "node2", "node3"]
    by_name = {node.hostname: node for node in nodes}
    for lab_node in lab.nodes[:3]:
        node = by_name[lab_node.name]
        assert node.state is NodeState.READY
        assert node.addr == lab_node.address
        assert node.availability is NodeAvailability.ACTIVE
    leader = by_name["node1"]
    assert (leader.role, leader.is_leader) == (NodeRole.MANAGER, True)
    assert leader.reachability is Reachability.REACHABLE
    assert leader.manager_status is not None
    assert leader.manager_status.addr == f"{lab.nodes[0].address}:2377"
    assert by_name["node2"].role is NodeRole.WORKER
    assert by_name["node2"].reachability is None
    assert {m.node_id for m in swarm_cluster.members} == {node.id for node in nodes}

    managers = await manager.nodes.list(role="manager")
    assert [node.hostname for node in managers] == ["node1"]
    assert [node.hostname for node in await manager.nodes.list(name="node2")] == ["node2"]
    assert await manager.nodes.get("node2") == by_name["node2"]
    assert await manager.nodes.get(by_name["node3"].id) == by_name["node3"]
    with pytest.raises(swarmnet.NotFound, match="no node 'node9'"):
        await manager.nodes.get("node9")


async def test_workers_cannot_manage_nodes(lab: Lab, swarm_cluster: Cluster) -> None:
    async with lab.nodes[1].engine() as worker:
        with pytest.raises(swarmnet.NotASwarmManager):
            await worker.nodes.list()
        with pytest.raises(swarmnet.NotASwarmManager):
            await worker.nodes.set_availability("node2", "drain")


async def test_promote_and_demote_change_raft_membership(
    lab: Lab, swarm_cluster: Cluster, manager: Engine
) -> None:
    promoted = await manager.nodes.promote("node2")
    assert promoted.role is NodeRole.MANAGER
    async with lab.nodes[1].engine() as node2:

        async def node2_manages() -> bool:
            node = await manager.nodes.get("node2")
            return (
                node.reachability is Reachability.REACHABLE
                and (await node2.swarm.status()).is_manager
            )

        await eventually(node2_manages)
        # A manager now: it can read the swarm itself.
        assert (await node2.swarm.inspect()).id == swarm_cluster.id

        demoted = await manager.nodes.demote("node2")
        assert demoted.role is NodeRole.WORKER

        async def node2_works() -> bool:
            # The role filter follows the role raft observed, which comes last.
            managers = await manager.nodes.list(role="manager")
            return [n.hostname for n in managers] == ["node1"] and not (
                await node2.swarm.status()
            ).is_manager

        await eventually(node2_works)
    assert (await manager.nodes.get("node2")).manager_status is None


async def test_the_last_manager_cannot_be_demoted(swarm_cluster: Cluster, manager: Engine) -> None:
    with pytest.raises(swarmnet.errors.SwarmError, match="last manager"):
        await manager.nodes.demote("node1")
    assert (await manager.nodes.get("node1")).is_manager


async def test_availability_and_labels_change_only_what_is_named(
    swarm_cluster: Cluster, manager: Engine
) -> None:
    # A name set by someone else (raw API) must survive every update below.
    raw = await manager._transport.request("GET", "nodes/node3")
    await manager._transport.request(
        "POST",
        f"nodes/{raw['ID']}/update",
        params={"version": raw["Version"]["Index"]},
        json_body={**raw["Spec"], "Name": "edge-3"},
    )
    try:
        labelled = await manager.nodes.add_labels("node3", {"zone": "a", "tier": "web"})
        assert labelled.labels == {"zone": "a", "tier": "web"}

        drained = await manager.nodes.set_availability("node3", "drain")
        assert drained.availability is NodeAvailability.DRAIN
        assert drained.labels == {"zone": "a", "tier": "web"}
        assert drained.spec.name == "edge-3"
        assert drained.version > labelled.version

        trimmed = await manager.nodes.remove_labels("node3", ["tier", "absent"])
        assert trimmed.labels == {"zone": "a"}
        assert trimmed.availability is NodeAvailability.DRAIN

        paused = await manager.nodes.set_availability(trimmed, NodeAvailability.PAUSE)
        assert paused.availability is NodeAvailability.PAUSE
        assert (paused.spec.name, paused.labels, paused.role) == (
            "edge-3",
            {"zone": "a"},
            NodeRole.WORKER,
        )

        with pytest.raises(swarmnet.InvalidSpec, match="use one of active, pause, drain"):
            await manager.nodes.set_availability("node3", "asleep")
        with pytest.raises(swarmnet.InvalidSpec, match="without '='"):
            await manager.nodes.add_labels("node3", {"a=b": "c"})
        assert await manager.nodes.get("node3") == paused
    finally:
        raw = await manager._transport.request("GET", "nodes/node3")
        await manager._transport.request(
            "POST",
            f"nodes/{raw['ID']}/update",
            params={"version": raw["Version"]["Index"]},
            json_body={"Role": "worker", "Availability": "active", "Labels": {}},
        )
    restored = await manager.nodes.get("node3")
    assert (restored.availability, restored.labels) == (NodeAvailability.ACTIVE, {})


async def test_a_node_is_removed_once_it_left_or_with_force(
    lab: Lab, swarm_cluster: Cluster, manager: Engine
) -> None:
    node3 = await manager.nodes.get("node3")
    with pytest.raises(swarmnet.errors.SwarmError, match="force=True"):
        await manager.nodes.remove(node3)
    assert (await manager.nodes.get(node3.id)).state is NodeState.READY

    async with lab.nodes[2].engine() as engine:
        await engine.swarm.leave()
        # Until the manager sees it down (a few heartbeats), only force removes it.
        await manager.nodes.remove(node3, force=True)
        assert node3.id not in {node.id for node in await manager.nodes.list()}
        with pytest.raises(swarmnet.NotFound):
            await manager.nodes.remove(node3.id)

        # Put node3 back for the rest of the module.
        tokens = await manager.swarm.join_tokens()
        await engine.swarm.join(
            lab.nodes[0].address, tokens.worker, advertise_addr=lab.nodes[2].address
        )
    back = await manager.nodes.list(name="node3")
    assert [node.state for node in back] == [NodeState.READY]
