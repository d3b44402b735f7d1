"""A whole swarm at once: ``form_cluster``, re-runs that complete or change nothing, ``dissolve``.

Against real engines of the lab (up to five). Every test starts from, and leaves, nodes
in no swarm: the ``engines`` fixture dissolves whatever a test made, even on failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from _engines import Recorder, engines_of, out_of_swarm
from structlog.testing import capture_logs

import swarmnet
from swarmnet import Engine, InvalidSpec, SwarmInitSpec, SwarmSettings, dissolve, form_cluster
from swarmnet._cli import main
from swarmnet._core.docker_transport import DockerTransport
from swarmnet.lab import Lab
from swarmnet.models import (
    ClusterProgress,
    LocalNodeState,
    MemberAction,
    NodeRole,
    NodeState,
    Reachability,
)

pytestmark = [pytest.mark.anyio, pytest.mark.lab]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "02_form_cluster.py"


@pytest.fixture
async def engines(lab: Lab) -> AsyncIterator[list[Engine]]:
    """Open engines for nodes 1-5, in no swarm before and after the test."""
    async with out_of_swarm(lab.nodes[:5], on_request=Recorder()) as opened:
        yield opened


def recorder_of(engines: list[Engine]) -> Recorder:
    transport = engines[0]._transport
    assert isinstance(transport, DockerTransport)
    hook = transport._on_request
    assert isinstance(hook, Recorder)
    return hook


async def ingress_peers(engines: list[Engine]) -> list[int]:
    """How many nodes each engine's overlay gossip knows (the peers of ``ingress``)."""
    return [len((await e.networks.get("ingress", verbose=True)).peers) for e in engines]


def addresses(lab: Lab, count: int) -> list[str | None]:
    return [node.address for node in lab.nodes[:count]]


async def test_three_engines_form_a_swarm_and_a_second_run_changes_nothing(
    lab: Lab, engines: list[Engine]
) -> None:
    steps: list[ClusterProgress] = []
    with capture_logs() as logs:
        cluster = await form_cluster(
            engines[:3], managers=1, advertise_addrs=addresses(lab, 3), on_progress=steps.append
        )

    assert [(m.engine, m.role, m.action) for m in cluster.members] == [
        ("node1", NodeRole.MANAGER, MemberAction.INITIALISED),
        ("node2", NodeRole.WORKER, MemberAction.JOINED),
        ("node3", NodeRole.WORKER, MemberAction.JOINED),
    ]
    assert all(node.state is NodeState.READY for node in cluster.nodes)
    assert cluster.leader is not None
    assert cluster.leader.hostname == "node1"
    assert cluster.node(cluster.members[1]).addr == lab.nodes[1].address
    assert cluster.swarm == await engines[0].swarm.inspect()
    assert steps[0].step == "initialised"
    assert sorted(step.step for step in steps) == ["initialised", "joined", "joined", "ready"]
    assert steps[-1].done == steps[-1].total == 3
    # Ready means ready for overlays too: every node's gossip already knows every node.
    assert await ingress_peers(engines[:3]) == [3, 3, 3]
    events = [entry["event"] for entry in logs]
    assert events[0] == "cluster.forming"
    assert "cluster.gossip" in events
    assert events[-1] == "cluster.formed"
    tokens = await engines[0].swarm.join_tokens()
    assert tokens.worker.reveal() not in repr(logs)

    recorder = recorder_of(engines)
    recorder.calls.clear()
    again = await form_cluster(engines[:3], managers=1, advertise_addrs=addresses(lab, 3))
    assert not again.changed
    assert [m.action for m in again.members] == [MemberAction.UNCHANGED] * 3
    assert [m.node_id for m in again.members] == [m.node_id for m in cluster.members]
    assert recorder.writes() == []

    steps.clear()
    left = await dissolve(engines[:3], on_progress=steps.append)
    assert left == ("node1", "node2", "node3")
    removed = {step.node_id for step in steps if step.step == "removed"}
    assert removed == {cluster.members[1].node_id, cluster.members[2].node_id}
    for engine in engines[:3]:
        assert await engine.swarm.state() is LocalNodeState.INACTIVE


async def test_joining_nodes_are_found_in_the_leaders_node_list_not_by_their_own_info(
    lab: Lab, engines: list[Engine]
) -> None:
    """A /info after a join runs helper programs: after a manager's join it delays the
    next one (they run one at a time), and 31 worker /info at once slowed the other joins
    by half at 32 engines. With IP advertise addresses none is sent."""
    recorders = [Recorder() for _ in range(5)]
    async with AsyncExitStack() as stack:
        mine = [
            await stack.enter_async_context(
                Engine(node.docker_host, name=node.name, on_request=recorder)
            )
            for node, recorder in zip(lab.nodes[:5], recorders, strict=True)
        ]
        cluster = await form_cluster(mine, managers=3, advertise_addrs=addresses(lab, 5))
        own_ids = [(await engine.swarm.status()).node_id for engine in mine]
    assert [m.action for m in cluster.members[1:]] == [MemberAction.JOINED] * 4
    assert [m.node_id for m in cluster.members] == own_ids
    for recorder in recorders[1:]:
        joined = recorder.calls.index(("POST", "swarm/join"))
        assert ("GET", "info") not in recorder.calls[joined:][:-1], recorder.calls


async def test_a_worker_that_left_and_joins_again_gets_its_new_node_not_the_one_left_down(
    lab: Lab, engines: list[Engine]
) -> None:
    """The leader still lists the node a worker left behind (``down``, at the same
    address): the node found for the new join must be the new one."""
    first = await form_cluster(engines[:3], managers=1, advertise_addrs=addresses(lab, 3))
    await engines[2].swarm.leave()
    with anyio.fail_after(30):
        while True:
            node = await engines[0].nodes.get(first.members[2].node_id)
            if node.state is NodeState.DOWN:
                break
            await anyio.sleep(0.2)

    again = await form_cluster(engines[:3], managers=1, advertise_addrs=addresses(lab, 3))

    rejoined = again.members[2]
    assert rejoined.action is MemberAction.JOINED
    assert rejoined.node_id != first.members[2].node_id
    assert rejoined.node_id == (await engines[2].swarm.status()).node_id
    stale = [n for n in again.nodes if n.id == first.members[2].node_id]
    assert [n.addr for n in stale] == [lab.nodes[2].address]  # same address, still listed


async def test_five_engines_form_a_swarm_of_three_managers_and_two_workers(
    lab: Lab, engines: list[Engine]
) -> None:
    cluster = await form_cluster(engines, managers=3, advertise_addrs=addresses(lab, 5))

    assert [m.role for m in cluster.members] == [NodeRole.MANAGER] * 3 + [NodeRole.WORKER] * 2
    by_id = {node.id: node for node in cluster.nodes}
    for member in cluster.managers:
        assert by_id[member.node_id].reachability is Reachability.REACHABLE
    for member in cluster.workers:
        assert by_id[member.node_id].manager_status is None
    assert all(node.state is NodeState.READY for node in cluster.nodes)
    assert await ingress_peers(engines) == [5] * 5
    statuses = [await engine.swarm.status() for engine in engines]
    assert [status.is_manager for status in statuses] == [True, True, True, False, False]
    assert {status.cluster_id for status in statuses[:3]} == {cluster.id}
    # The managers that joined were found in the leader's node list by their address,
    # not by their own /info: the ids must be each engine's own.
    assert [m.node_id for m in cluster.members] == [status.node_id for status in statuses]

    again = await form_cluster(engines, managers=3, advertise_addrs=addresses(lab, 5))
    assert not again.changed

    # A manager that is not the first can drive the dissolve as well.
    left = await dissolve(list(reversed(engines)))
    assert sorted(left) == [f"node{i}" for i in range(1, 6)]
    assert {await engine.swarm.state() for engine in engines} == {LocalNodeState.INACTIVE}


async def test_workers_join_while_the_managers_still_join_one_at_a_time(
    lab: Lab, engines: list[Engine]
) -> None:
    """Worker joins do not queue behind the manager joins: with 3 managers, the workers
    become members of the swarm while the third manager has not even started joining.

    The callback of the second manager's join holds the manager sequence (the next
    manager joins only once that step has been reported) and watches the engines' own
    state meanwhile."""
    seen_while_held: list[tuple[LocalNodeState, ...]] = []

    async def hold_second_manager(step: ClusterProgress) -> None:
        if (step.step, step.engine) != ("joined", "node2"):
            return
        with anyio.move_on_after(30):
            while True:
                states = tuple([await engine.swarm.state() for engine in engines[2:]])
                if states[1:] == (LocalNodeState.ACTIVE,) * 2:
                    break
                await anyio.sleep(0.1)
        seen_while_held.append(states)

    steps: list[ClusterProgress] = []

    async def on_progress(step: ClusterProgress) -> None:
        steps.append(step)
        await hold_second_manager(step)

    cluster = await form_cluster(
        engines, managers=3, advertise_addrs=addresses(lab, 5), on_progress=on_progress
    )

    # node3 (the third manager) still out of the swarm, node4 and node5 (workers) in it.
    assert seen_while_held == [
        (LocalNodeState.INACTIVE, LocalNodeState.ACTIVE, LocalNodeState.ACTIVE)
    ]
    joined = [step.engine for step in steps if step.step == "joined"]
    # The workers may even be reported before the second manager; the third comes last.
    assert set(joined[:3]) == {"node2", "node4", "node5"}
    assert joined[3] == "node3"
    assert [step.done for step in steps] == [1, 2, 3, 4, 5, 5]
    assert [m.role for m in cluster.members] == [NodeRole.MANAGER] * 3 + [NodeRole.WORKER] * 2
    assert [m.action for m in cluster.members] == [MemberAction.INITIALISED] + [
        MemberAction.JOINED
    ] * 4
    assert await ingress_peers(engines) == [5] * 5


class Interrupted(Exception):
    """Raised from a progress callback to stop form_cluster half-way."""


async def test_an_interrupted_form_cluster_completes_on_a_rerun(
    lab: Lab, engines: list[Engine]
) -> None:
    # Three managers and no worker: the managers join one at a time, and a callback that
    # raises at the first join stops the sequence before the next manager's join is sent.
    def stop_after_first_join(step: ClusterProgress) -> None:
        if step.step == "joined":
            raise Interrupted(step.engine)

    with pytest.raises(Interrupted, match="node2"):
        await form_cluster(
            engines[:3],
            managers=3,
            advertise_addrs=addresses(lab, 3),
            on_progress=stop_after_first_join,
        )
    states = [await engine.swarm.state() for engine in engines[:3]]
    assert states == [LocalNodeState.ACTIVE, LocalNodeState.ACTIVE, LocalNodeState.INACTIVE]

    cluster = await form_cluster(engines[:3], managers=3, advertise_addrs=addresses(lab, 3))

    assert [m.action for m in cluster.members] == [
        MemberAction.UNCHANGED,
        MemberAction.UNCHANGED,
        MemberAction.JOINED,
    ]
    assert [m.role for m in cluster.members] == [NodeRole.MANAGER] * 3
    assert all(cluster.node(m).reachability is Reachability.REACHABLE for m in cluster.members)


async def test_a_callback_that_raises_while_workers_join_stops_the_run_with_its_own_error(
    lab: Lab, engines: list[Engine]
) -> None:
    def stop_at_first_worker(step: ClusterProgress) -> None:
        if step.step == "joined":
            raise Interrupted(step.engine)

    # The caller's exception comes back as itself, not wrapped in an exception group;
    # the joins still in flight are abandoned (the engines may finish them alone).
    with pytest.raises(Interrupted):
        await form_cluster(
            engines, managers=1, advertise_addrs=addresses(lab, 5), on_progress=stop_at_first_worker
        )

    cluster = await form_cluster(engines, managers=1, advertise_addrs=addresses(lab, 5))

    assert cluster.members[0].action is MemberAction.UNCHANGED
    assert {m.action for m in cluster.members[1:]} <= {MemberAction.UNCHANGED, MemberAction.JOINED}
    assert MemberAction.UNCHANGED in {m.action for m in cluster.members[1:]}
    assert len(cluster.nodes) == 5
    assert all(node.state is NodeState.READY for node in cluster.nodes)


async def test_a_callback_that_raises_at_the_init_stops_the_run_before_any_join_is_reported(
    lab: Lab, engines: list[Engine]
) -> None:
    # The joins start before the init answers; once the init's report failed, none of
    # them is reported, and the caller gets its own exception.
    steps: list[str] = []

    def stop_at_init(step: ClusterProgress) -> None:
        steps.append(step.step)
        if step.step == "initialised":
            raise Interrupted(step.engine)

    with pytest.raises(Interrupted, match="node1"):
        await form_cluster(
            engines[:3], managers=1, advertise_addrs=addresses(lab, 3), on_progress=stop_at_init
        )
    assert steps == ["initialised"]

    cluster = await form_cluster(engines[:3], managers=1, advertise_addrs=addresses(lab, 3))
    assert cluster.members[0].action is MemberAction.UNCHANGED
    assert len(cluster.nodes) == 3
    assert all(node.state is NodeState.READY for node in cluster.nodes)


async def test_a_rerun_with_another_manager_count_promotes_and_demotes(
    lab: Lab, engines: list[Engine]
) -> None:
    await form_cluster(engines[:3], managers=1, advertise_addrs=addresses(lab, 3))

    more = await form_cluster(engines[:3], managers=2, advertise_addrs=addresses(lab, 3))
    assert [m.action for m in more.members] == [
        MemberAction.UNCHANGED,
        MemberAction.PROMOTED,
        MemberAction.UNCHANGED,
    ]
    assert more.node(more.members[1]).reachability is Reachability.REACHABLE

    fewer = await form_cluster(engines[:3], managers=1, advertise_addrs=addresses(lab, 3))
    assert fewer.members[1].action is MemberAction.DEMOTED
    assert fewer.node(fewer.members[1]).manager_status is None


async def test_engines_of_two_swarms_are_refused_before_any_change(
    lab: Lab, engines: list[Engine]
) -> None:
    await engines[0].swarm.init(advertise_addr=lab.nodes[0].address)
    other = await engines[2].swarm.init(advertise_addr=lab.nodes[2].address)
    recorder = recorder_of(engines)
    recorder.calls.clear()

    with pytest.raises(swarmnet.AlreadyInSwarm) as refused:
        await form_cluster(engines[:3], managers=1)

    assert refused.value.cluster_id == other.id
    assert recorder.writes() == []
    assert await engines[1].swarm.state() is LocalNodeState.INACTIVE


async def test_joins_wait_for_the_init_when_it_sets_what_joining_nodes_get(
    lab: Lab, engines: list[Engine]
) -> None:
    """Joins start as soon as the new manager hands out tokens, before its init answers,
    except when the init sets up the CA: a node that joined before the settings were
    applied would hold a certificate made without them."""
    join_started_after_init: list[bool] = []

    def on_request(method: str, path: str) -> None:
        if (method, path) == ("POST", "swarm/join"):
            answered = any(
                entry["event"] == "engine.request" and entry.get("path") == "swarm/init"
                for entry in logs
            )
            join_started_after_init.append(answered)

    init = SwarmInitSpec(spec=SwarmSettings(node_cert_expiry=timedelta(hours=36)))
    with capture_logs() as logs:
        async with engines_of(lab.nodes[:3], on_request=on_request) as mine:
            cluster = await form_cluster(mine, init=init, advertise_addrs=addresses(lab, 3))

    assert join_started_after_init == [True, True]
    assert [m.action for m in cluster.members][1:] == [MemberAction.JOINED] * 2
    assert cluster.swarm.spec.ca_config.node_cert_expiry == timedelta(hours=36)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"managers": 0}, "managers must be from 1 to 3"),
        ({"managers": 4}, "managers must be from 1 to 3"),
        ({"advertise_addrs": ["198.18.0.2"]}, "1 entries for 3 engines"),
        ({"advertise_addrs": ["198.18.0.2", "198.18.0.999", None]}, "not a valid IP"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_is_sent(
    engines: list[Engine], arguments: dict[str, Any], message: str
) -> None:
    recorder = recorder_of(engines)
    recorder.calls.clear()
    with pytest.raises(InvalidSpec, match=message):
        await form_cluster(engines[:3], **arguments)
    with pytest.raises(InvalidSpec, match="given twice"):
        await form_cluster([engines[0], engines[1], engines[0]])
    assert recorder.calls == []


async def test_lab_up_with_managers_forms_the_swarm_of_the_whole_lab(
    lab: Lab, engines: list[Engine], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["lab", "up", "--name", lab.name, "--nodes", str(len(lab.nodes)), "--managers", "2"]
    assert await anyio.to_thread.run_sync(main, argv) == 0

    out = capsys.readouterr().out
    assert "2 managers, 3 workers" in out
    statuses = [await engine.swarm.status() for engine in engines]
    assert [status.is_manager for status in statuses] == [True, True, False, False, False]
    assert len(await engines[0].nodes.list()) == 5


async def test_the_example_forms_shows_and_dissolves_a_swarm(
    lab: Lab, engines: list[Engine]
) -> None:
    hosts = ",".join(node.docker_host for node in lab.nodes[:3])
    result = await anyio.run_process(
        [sys.executable, str(EXAMPLE)],
        env={**os.environ, "SWARMNET_EXAMPLE_HOSTS": hosts},
        check=False,
        stderr=subprocess.STDOUT,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, out
    assert "initialised engine1 as manager" in out
    assert "second form_cluster changed something: False" in out
    assert "worker token: **********" in out
    assert "SWMTKN" not in out
    assert "states now ['inactive']" in out
