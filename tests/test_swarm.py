"""Swarm lifecycle on one engine: init, join, leave, tokens, unlock and updates.

Against real engines of the lab (nodes 1-3). Every test starts from, and leaves, nodes
in no swarm: the ``engines`` fixture dissolves whatever a test made, even on failure.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from ipaddress import IPv4Network
from typing import Any

import anyio
import pytest
from _engines import Recorder, out_of_swarm
from structlog.testing import capture_logs

import swarmnet
from swarmnet import Engine, InvalidSpec, SwarmSettings
from swarmnet._cli import main
from swarmnet.lab import Lab
from swarmnet.models import LocalNodeState, NodeRole, NodeState

pytestmark = pytest.mark.anyio

# Shaped like real tokens and keys, for checks that must fail before anything is sent.
FAKE_TOKEN = "SWMTKN-1-" + "0" * 50 + "-" + "a" * 25
FAKE_KEY = "SWMKEY-1-" + "A" * 43


@pytest.fixture
async def engines(lab: Lab) -> AsyncIterator[list[Engine]]:
    """Open engines for nodes 1-3, in no swarm before and after the test."""
    async with out_of_swarm(lab.nodes[:3]) as opened:
        yield opened


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


async def cli(*argv: str) -> int:
    """Run the ``swarmnet`` command in-process (in a thread: it runs its own event loop)."""
    return await anyio.to_thread.run_sync(main, list(argv))


# -- init ------------------------------------------------------------------------------


@pytest.mark.lab
async def test_init_takes_every_option_and_the_engine_reports_them_back(
    lab: Lab, engines: list[Engine]
) -> None:
    node = lab.nodes[0]
    manager = engines[0]
    swarm = await manager.swarm.init(
        advertise_addr=node.address,
        listen_addr=f"{node.address}:2377",
        data_path_addr=node.address,
        data_path_port=7789,
        default_addr_pool=["10.123.0.0/16", "10.124.0.0/16"],
        subnet_size=26,
        spec=SwarmSettings(
            labels={"team": "net"},
            task_history_retention_limit=2,
            snapshot_interval=5000,
            keep_old_snapshots=1,
            log_entries_for_slow_followers=300,
            election_tick=12,
            heartbeat_tick=2,
            dispatcher_heartbeat_period=timedelta(seconds=3),
            node_cert_expiry=timedelta(hours=48),
        ),
    )

    assert swarm == await manager.swarm.inspect()
    assert swarm.data_path_port == 7789
    assert swarm.default_addr_pool == (IPv4Network("10.123.0.0/16"), IPv4Network("10.124.0.0/16"))
    assert swarm.subnet_size == 26
    spec = swarm.spec
    assert spec.labels == {"team": "net"}
    assert spec.orchestration.task_history_retention_limit == 2
    assert (spec.raft.snapshot_interval, spec.raft.keep_old_snapshots) == (5000, 1)
    assert spec.raft.log_entries_for_slow_followers == 300
    assert (spec.raft.election_tick, spec.raft.heartbeat_tick) == (12, 2)
    assert spec.dispatcher.heartbeat_period == timedelta(seconds=3)
    assert spec.ca_config.node_cert_expiry == timedelta(hours=48)
    assert spec.autolock is False

    status = await manager.swarm.status()
    assert status.state is LocalNodeState.ACTIVE
    assert status.is_manager
    assert status.cluster_id == swarm.id
    assert status.node_addr == node.address
    assert status.manager_addrs == (f"{node.address}:2377",)


@pytest.mark.lab
async def test_init_on_a_manager_returns_its_swarm_and_sends_nothing(
    lab: Lab, engines: list[Engine], recorder: Recorder
) -> None:
    first = await engines[0].swarm.init(advertise_addr=lab.nodes[0].address)
    async with Engine(lab.nodes[0].docker_host, on_request=recorder) as same:
        again = await same.swarm.init(advertise_addr=lab.nodes[0].address, data_path_port=9999)
        assert again.id == first.id
        assert again.data_path_port == first.data_path_port
        assert recorder.writes() == []

        # force_new_cluster is the one way to re-init a manager: same swarm, one member.
        forced = await same.swarm.init(force_new_cluster=True)
        assert ("POST", "swarm/init") in recorder.writes()
        assert forced.id == first.id
        assert len(await same.nodes.list()) == 1


@pytest.mark.lab
async def test_update_changes_only_what_it_names(lab: Lab, engines: list[Engine]) -> None:
    manager = engines[0]
    before = await manager.swarm.init(
        advertise_addr=lab.nodes[0].address,
        spec=SwarmSettings(labels={"a": "1"}, task_history_retention_limit=3),
    )

    after = await manager.swarm.update(snapshot_interval=7000, heartbeat_tick=2)

    assert after.version > before.version
    assert after.spec.raft.snapshot_interval == 7000
    assert after.spec.raft.heartbeat_tick == 2
    # Everything not mentioned is as it was.
    assert after.spec.labels == {"a": "1"}
    assert after.spec.orchestration.task_history_retention_limit == 3
    assert after.spec.raft.election_tick == before.spec.raft.election_tick
    assert after.spec.dispatcher == before.spec.dispatcher
    assert after.spec.ca_config == before.spec.ca_config

    relabelled = await manager.swarm.update(labels={"b": "2"})
    assert relabelled.spec.labels == {"b": "2"}
    assert relabelled.spec.raft.snapshot_interval == 7000

    # The merged spec is checked too: the election tick must stay above the heartbeat.
    with pytest.raises(InvalidSpec, match="election_tick"):
        await manager.swarm.update(election_tick=2)
    assert (await manager.swarm.inspect()).spec.raft.election_tick == before.spec.raft.election_tick


# -- join ------------------------------------------------------------------------------


@pytest.mark.lab
async def test_engines_join_as_worker_and_as_manager_and_a_second_join_is_a_no_op(
    lab: Lab, engines: list[Engine], recorder: Recorder
) -> None:
    manager, worker, second = engines
    addresses = [node.address for node in lab.nodes[:3]]
    swarm = await manager.swarm.init(advertise_addr=addresses[0])
    tokens = await manager.swarm.join_tokens()

    as_worker = await worker.swarm.join(addresses[0], tokens.worker, advertise_addr=addresses[1])
    as_manager = await second.swarm.join(
        [f"{addresses[0]}:2377"], tokens.manager, advertise_addr=addresses[2]
    )

    assert as_worker.state is LocalNodeState.ACTIVE
    assert not as_worker.is_manager
    assert as_manager.state is LocalNodeState.ACTIVE
    assert as_manager.is_manager
    assert as_manager.cluster_id == swarm.id
    roles = {node.hostname: node.role for node in await manager.nodes.list()}
    assert roles == {"node1": NodeRole.MANAGER, "node2": NodeRole.WORKER, "node3": NodeRole.MANAGER}

    async with Engine(lab.nodes[1].docker_host, on_request=recorder) as again:
        status = await again.swarm.join(addresses[0], tokens.worker)
        assert status.node_id == as_worker.node_id
        assert recorder.writes() == []

    # A worker holds no cluster state: manager calls are refused with a typed error.
    with pytest.raises(swarmnet.NotASwarmManager):
        await worker.swarm.inspect()
    with pytest.raises(swarmnet.NotASwarmManager):
        await worker.nodes.list()
    with pytest.raises(swarmnet.AlreadyInSwarm, match="as a worker"):
        await worker.swarm.init()


@pytest.mark.lab
async def test_an_engine_in_another_swarm_is_refused_with_that_swarms_id(
    lab: Lab, engines: list[Engine], recorder: Recorder
) -> None:
    first, other, _ = engines
    await first.swarm.init(advertise_addr=lab.nodes[0].address)
    tokens = await first.swarm.join_tokens()
    other_swarm = await other.swarm.init(advertise_addr=lab.nodes[1].address)

    async with Engine(lab.nodes[1].docker_host, on_request=recorder) as engine:
        with pytest.raises(swarmnet.AlreadyInSwarm) as refused:
            await engine.swarm.join(lab.nodes[0].address, tokens.worker)
    assert refused.value.cluster_id == other_swarm.id
    assert other_swarm.id in str(refused.value)
    assert recorder.writes() == []


@pytest.mark.lab
async def test_inactive_engines_answer_manager_calls_with_not_in_swarm(
    engines: list[Engine],
) -> None:
    engine = engines[2]
    assert await engine.swarm.state() is LocalNodeState.INACTIVE
    for call in (engine.swarm.inspect, engine.swarm.join_tokens, engine.nodes.list):
        with pytest.raises(swarmnet.NotInSwarm, match="no swarm"):
            await call()
    # Leaving when in no swarm is not an error: there is nothing to do.
    await engine.swarm.leave()
    assert await engine.swarm.state() is LocalNodeState.INACTIVE


# -- tokens ----------------------------------------------------------------------------


@pytest.mark.lab
async def test_a_rotated_worker_token_is_refused_and_the_new_one_works(
    lab: Lab, engines: list[Engine]
) -> None:
    manager, worker, _ = engines
    await manager.swarm.init(advertise_addr=lab.nodes[0].address)
    old = await manager.swarm.join_tokens()

    new = await manager.swarm.rotate(worker_token=True)

    assert new.worker != old.worker
    assert new.manager == old.manager
    with pytest.raises(swarmnet.errors.InvalidJoinToken, match="refused the join token") as refused:
        await worker.swarm.join(lab.nodes[0].address, old.worker)
    assert old.worker.reveal() not in str(refused.value)
    assert await worker.swarm.state() is LocalNodeState.INACTIVE

    joined = await worker.swarm.join(lab.nodes[0].address, new.worker)
    assert joined.state is LocalNodeState.ACTIVE

    rotated = await manager.swarm.rotate(manager_token=True)
    assert rotated.manager != old.manager
    assert rotated.worker == new.worker


@pytest.mark.lab
async def test_secrets_stay_out_of_reprs_logs_errors_and_cli_output(
    lab: Lab, engines: list[Engine], capsys: pytest.CaptureFixture[str]
) -> None:
    manager, worker, _ = engines
    with capture_logs() as logs:
        await manager.swarm.init(advertise_addr=lab.nodes[0].address)
        tokens = await manager.swarm.join_tokens()
        await worker.swarm.join(lab.nodes[0].address, tokens.worker)
        await manager.swarm.update(autolock=True)
        key = await manager.swarm.unlock_key()
        rotated = await manager.swarm.rotate(worker_token=True, unlock_key=True)
        new_key = await manager.swarm.unlock_key()
    assert {entry["event"] for entry in logs} >= {"swarm.joined", "swarm.rotated"}
    all_secrets = (tokens.worker, tokens.manager, rotated.worker, key, new_key)
    dumped = repr(logs) + repr(tokens) + tokens.model_dump_json() + str(rotated)
    assert key is not None
    assert new_key is not None
    assert key != new_key
    for secret in all_secrets:
        assert secret is not None
        assert secret.reveal() not in dumped

    host = lab.nodes[0].docker_host
    capsys.readouterr()
    # -vv sends the command's debug log (every engine request) to stderr.
    assert await cli("-vv", "swarm", "tokens", "-H", host, "--unlock-key") == 0
    masked = capsys.readouterr()
    assert "worker:" in masked.out
    assert "unlock-key:" in masked.out
    assert "engine.request" in masked.err
    for secret in (rotated.worker, rotated.manager, new_key):
        assert secret.reveal() not in masked.out + masked.err
    assert "--reveal" in masked.err

    # Asked for explicitly, one token alone on stdout (for $(…) in scripts).
    assert await cli("swarm", "tokens", "worker", "-H", host, "--reveal") == 0
    assert capsys.readouterr().out.strip() == rotated.worker.reveal()


# -- leave -----------------------------------------------------------------------------


@pytest.mark.lab
async def test_a_worker_that_left_is_listed_down_until_its_node_is_removed(
    lab: Lab, engines: list[Engine]
) -> None:
    manager, worker, _ = engines
    # A short heartbeat lets the manager notice the departure at once.
    await manager.swarm.init(
        advertise_addr=lab.nodes[0].address,
        spec=SwarmSettings(dispatcher_heartbeat_period=timedelta(milliseconds=500)),
    )
    joined = await worker.swarm.join(
        lab.nodes[0].address, (await manager.swarm.join_tokens()).worker
    )

    await worker.swarm.leave()

    assert await worker.swarm.state() is LocalNodeState.INACTIVE
    deadline = time.monotonic() + 10
    while (await manager.nodes.get(joined.node_id)).state is not NodeState.DOWN:
        assert time.monotonic() < deadline, "the manager never saw the worker go down"
        await anyio.sleep(0.1)
    await manager.nodes.remove(joined.node_id)
    assert [node.hostname for node in await manager.nodes.list()] == ["node1"]
    with pytest.raises(swarmnet.NotFound, match=joined.node_id):
        await manager.nodes.get(joined.node_id)


@pytest.mark.lab
async def test_the_last_manager_leaves_only_with_force(lab: Lab, engines: list[Engine]) -> None:
    manager = engines[0]
    await manager.swarm.init(advertise_addr=lab.nodes[0].address)
    with pytest.raises(swarmnet.errors.SwarmError, match="force"):
        await manager.swarm.leave()
    assert await manager.swarm.state() is LocalNodeState.ACTIVE
    await manager.swarm.leave(force=True)
    assert await manager.swarm.state() is LocalNodeState.INACTIVE


@pytest.mark.lab
async def test_an_unreachable_manager_fails_within_the_callers_timeout_and_the_node_recovers(
    lab: Lab, engines: list[Engine]
) -> None:
    manager, worker, _ = engines
    await manager.swarm.init(advertise_addr=lab.nodes[0].address)
    tokens = await manager.swarm.join_tokens()
    nobody = str(lab.subnet[250])  # in the lab's subnet, held by no node

    started = time.monotonic()
    with pytest.raises(swarmnet.JoinFailed, match=f"{nobody} within 2 s"):
        await worker.swarm.join(nobody, tokens.worker, timeout=2)
    assert time.monotonic() - started < 4
    # The engine keeps trying in the background: the node is stuck pending.
    assert await worker.swarm.state() is LocalNodeState.PENDING

    with pytest.raises(swarmnet.JoinFailed, match="stuck in swarm state 'pending'"):
        await worker.swarm.join(lab.nodes[0].address, tokens.worker, recover=False)

    # recover (the default) leaves with force first, then joins.
    joined = await worker.swarm.join(lab.nodes[0].address, tokens.worker, timeout=None)
    assert joined.state is LocalNodeState.ACTIVE


# -- autolock --------------------------------------------------------------------------


@pytest.mark.lab
async def test_autolock_keeps_a_restarted_manager_locked_until_unlocked(
    lab: Lab, engines: list[Engine]
) -> None:
    node = lab.nodes[0]
    swarm = await engines[0].swarm.init(
        advertise_addr=node.address, spec=SwarmSettings(autolock=True)
    )
    assert swarm.spec.autolock
    key = await engines[0].swarm.unlock_key()
    assert key is not None  # kept before the restart: a locked manager cannot show it

    await node.restart()

    async with node.engine() as engine:
        assert await engine.swarm.state() is LocalNodeState.LOCKED
        with pytest.raises(swarmnet.errors.SwarmLocked):
            await engine.swarm.inspect()
        with pytest.raises(swarmnet.errors.SwarmLocked, match="refused the unlock key"):
            await engine.swarm.unlock(FAKE_KEY)
        with pytest.raises(swarmnet.errors.SwarmLocked):
            await engine.swarm.wait_active(timeout=1)

        status = await engine.swarm.unlock(key)

        assert status.state is LocalNodeState.ACTIVE
        assert (await engine.swarm.inspect()).id == swarm.id
        await engine.swarm.leave(force=True)


# -- input checks ----------------------------------------------------------------------

BAD_INITS = [
    ({"advertise_addr": "198.18.0.300"}, "not a valid IP address"),
    ({"advertise_addr": "198.18.0.2:70000"}, "port must be a number from 1 to 65535"),
    ({"listen_addr": "eth 0"}, "neither an IP address nor an interface"),
    ({"data_path_addr": "198.18.0.2:4789"}, "without a port"),
    ({"data_path_port": 80}, "greater than or equal to 1024"),
    ({"default_addr_pool": ["10.60.0.1/16"]}, "has host bits set"),
    ({"default_addr_pool": ["10.0.0.0/8", "10.60.0.0/16"]}, "overlap"),
    ({"default_addr_pool": ["fd00::/64"]}, "IPv4 only"),
    ({"default_addr_pool": []}, "at least one pool"),
    ({"default_addr_pool": ["10.60.0.0/16"], "subnet_size": 12}, "from 16 to 29"),
    ({"subnet_size": 30}, "less than or equal to 29"),
    ({"spec": {"election_tick": 2, "heartbeat_tick": 2}}, "greater than heartbeat_tick"),
    ({"availability": "sleep"}, "availability"),
    ({"advertise_addrs": "x"}, "advertise_addrs: not a field of SwarmInitSpec"),
]


@pytest.mark.lab
@pytest.mark.parametrize(("options", "message"), BAD_INITS)
async def test_bad_init_options_are_refused_before_anything_is_sent(
    lab: Lab, recorder: Recorder, options: dict[str, Any], message: str
) -> None:
    async with Engine(lab.nodes[2].docker_host, on_request=recorder) as engine:
        with pytest.raises(InvalidSpec, match=message):
            await engine.swarm.init(**options)
    assert recorder.calls == [("GET", "version")]


BAD_JOINS = [
    ((["198.18.0.2"], "SWMTKN-1-nope"), {}, "not a swarm join token"),
    (([], FAKE_TOKEN), {}, "at least 1 item"),
    ((["198.18.0.2:0"], FAKE_TOKEN), {}, "port must be"),
    ((["bad host!"], FAKE_TOKEN), {}, "neither an IP address nor a hostname"),
    ((["198.18.0.2"], FAKE_TOKEN), {"advertise_addr": "1.2.3"}, "not a valid IP"),
    ((["198.18.0.2"], None), {}, "join token is needed"),
]


@pytest.mark.lab
@pytest.mark.parametrize(("args", "options", "message"), BAD_JOINS)
async def test_bad_join_arguments_are_refused_before_anything_is_sent(
    lab: Lab,
    recorder: Recorder,
    args: tuple[list[str], str | None],
    options: dict[str, Any],
    message: str,
) -> None:
    async with Engine(lab.nodes[2].docker_host, on_request=recorder) as engine:
        with pytest.raises(InvalidSpec, match=message) as refused:
            await engine.swarm.join(*args, **options)
    assert recorder.calls == [("GET", "version")]
    assert FAKE_TOKEN not in str(refused.value)


@pytest.mark.lab
async def test_bad_updates_unlock_keys_and_rotations_are_refused_before_sending(
    lab: Lab, recorder: Recorder
) -> None:
    async with Engine(lab.nodes[2].docker_host, on_request=recorder) as engine:
        with pytest.raises(InvalidSpec, match="greater than heartbeat_tick"):
            await engine.swarm.update(election_tick=2, heartbeat_tick=3)
        with pytest.raises(InvalidSpec, match="at least one hour"):
            await engine.swarm.update(node_cert_expiry=timedelta(minutes=5))
        with pytest.raises(InvalidSpec, match="not a swarm unlock key"):
            await engine.swarm.unlock("letmein")
        with pytest.raises(InvalidSpec, match="name at least one"):
            await engine.swarm.rotate()
        with pytest.raises(InvalidSpec, match="not both"):
            await engine.swarm.update(SwarmSettings(labels={}), labels={"a": "b"})
    assert recorder.calls == [("GET", "version")]


# -- models from recorded engine JSON --------------------------------------------------

# GET /swarm, GET /nodes/{id} and /info's "Swarm" as a 20.10 engine sent them (trimmed).
RECORDED_SWARM = {
    "ID": "t6m8f25s2ej92hhjwku208636",
    "Version": {"Index": 10},
    "CreatedAt": "2026-11-29T16:20:18.672056835Z",
    "UpdatedAt": "2026-11-29T16:20:19.301104678Z",
    "Spec": {
        "Name": "default",
        "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": 5},
        "Raft": {
            "SnapshotInterval": 10000,
            "KeepOldSnapshots": 0,
            "LogEntriesForSlowFollowers": 500,
            "ElectionTick": 10,
            "HeartbeatTick": 1,
        },
        "Dispatcher": {"HeartbeatPeriod": 5000000000},
        "CAConfig": {"NodeCertExpiry": 7776000000000000},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": False},
    },
    "TLSInfo": {"TrustRoot": "-----BEGIN CERTIFICATE-----\n…", "CertIssuerSubject": "MBMx"},
    "RootRotationInProgress": False,
    "DefaultAddrPool": ["10.61.0.0/16"],
    "SubnetSize": 26,
    "DataPathPort": 7790,
    "JoinTokens": {"Worker": FAKE_TOKEN, "Manager": FAKE_TOKEN},
}
RECORDED_NODE = {
    "ID": "q9f1fzll0i29bdta6z0drg00s",
    "Version": {"Index": 9},
    "CreatedAt": "2026-11-29T16:20:18.67208635Z",
    "UpdatedAt": "2026-11-29T16:20:19.278762155Z",
    "Spec": {"Labels": {}, "Role": "manager", "Availability": "active"},
    "Description": {
        "Hostname": "node1",
        "Platform": {"Architecture": "x86_64", "OS": "linux"},
        "Resources": {"NanoCPUs": 2000000000, "MemoryBytes": 25276510208},
        "Engine": {
            "EngineVersion": "20.10.24+dfsg1",
            "Plugins": [{"Type": "Log", "Name": "local"}],
        },
    },
    "Status": {"State": "ready", "Addr": "198.19.230.2"},
    "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": "198.19.230.2:2377"},
}
RECORDED_INFO_SWARM = {
    "NodeID": "q9f1fzll0i29bdta6z0drg00s",
    "NodeAddr": "198.19.230.2",
    "LocalNodeState": "active",
    "ControlAvailable": True,
    "Error": "",
    "RemoteManagers": [{"NodeID": "q9f1fzll0i29bdta6z0drg00s", "Addr": "198.19.230.2:2377"}],
    "Nodes": 1,
    "Managers": 1,
    "Cluster": {"ID": "t6m8f25s2ej92hhjwku208636", "Version": {"Index": 10}},
}


def test_swarm_node_and_status_models_read_recorded_engine_json() -> None:
    swarm = swarmnet.models.Swarm.model_validate(RECORDED_SWARM)
    assert (swarm.id, swarm.version, swarm.data_path_port) == (
        "t6m8f25s2ej92hhjwku208636",
        10,
        7790,
    )
    assert swarm.default_addr_pool == (IPv4Network("10.61.0.0/16"),)
    assert swarm.spec.dispatcher.heartbeat_period == timedelta(seconds=5)
    assert swarm.spec.ca_config.node_cert_expiry == timedelta(days=90)
    assert swarm.spec.task_defaults.log_driver is None
    assert FAKE_TOKEN not in repr(swarm) + swarm.model_dump_json()

    node = swarmnet.models.Node.model_validate(RECORDED_NODE)
    assert (node.hostname, node.role, node.state) == ("node1", NodeRole.MANAGER, NodeState.READY)
    assert node.is_leader
    assert node.reachability is swarmnet.models.Reachability.REACHABLE
    assert node.availability is swarmnet.models.NodeAvailability.ACTIVE
    assert node.description.resources.nano_cpus == 2_000_000_000
    assert node.version == 9

    status = swarmnet.models.SwarmStatus.model_validate(RECORDED_INFO_SWARM)
    assert status.cluster_id == "t6m8f25s2ej92hhjwku208636"
    assert status.manager_addrs == ("198.19.230.2:2377",)
    assert status.is_manager

    tokens = swarmnet.models.JoinTokens.model_validate(RECORDED_SWARM["JoinTokens"])
    assert tokens.for_role("worker").reveal() == FAKE_TOKEN
    assert FAKE_TOKEN not in repr(tokens) + str(tokens) + tokens.model_dump_json()
    with pytest.raises(Exception, match="frozen"):
        node.spec = node.spec  # type: ignore[misc]
