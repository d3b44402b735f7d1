"""One active replica: a lease in a swarm config's labels, on a swarm of three managers.

Real engines throughout: the compare-and-swap the lease rests on is the engine's, and
the failure it must survive is a manager's daemon killed with -9.
"""

from __future__ import annotations

import time

import anyio
import pytest

from swarmnet import Engine, InvalidSpec, Lease
from swarmnet.errors import OutOfSequence
from swarmnet.lab import Lab

pytestmark = [pytest.mark.anyio, pytest.mark.lab]

DURATION = 3.0
POLL = 0.2


class Terms:
    """When each replica acted: (identity, start, end) on this process's clock."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float]] = []

    async def act(self, lease: Lease) -> None:
        while True:
            async with lease.leading():
                start = time.monotonic()
                try:
                    await anyio.sleep_forever()
                finally:
                    self.spans.append((lease.identity, start, time.monotonic()))

    def overlaps(self) -> list[tuple[str, str]]:
        found = []
        for i, (who, start, end) in enumerate(self.spans):
            for other, other_start, other_end in self.spans[i + 1 :]:
                if who != other and start < other_end and other_start < end:
                    found.append((who, other))
        return found


def make_lease(engine: Engine, name: str, identity: str) -> Lease:
    return Lease(engine, name, identity=identity, duration=DURATION, poll_interval=POLL)


async def remove_record(engine: Engine, name: str) -> None:
    await engine.configs.remove(f"swarmnet.lease.{name}")


async def test_one_replica_holds_and_another_takes_over_when_its_daemon_is_killed(
    lab: Lab, managers: list[Engine]
) -> None:
    # The holder runs on a manager that is not the raft leader: killing the leader
    # stalls every write for the raft election (about 10 s on 20.10) whatever the lease
    # does, which test_takeover_after_the_raft_leader_dies measures.
    leader = await _raft_leader(managers)
    followers = [engine for engine in managers if engine is not leader]
    name = "failover"
    terms = Terms()
    a = make_lease(followers[0], name, "replica-a")
    b = make_lease(followers[1], name, "replica-b")
    node = lab.nodes[managers.index(followers[0])]
    try:
        async with a, anyio.create_task_group() as tg:
            tg.start_soon(terms.act, a)
            await a.wait_held()
            async with b:
                tg.start_soon(terms.act, b)
                await anyio.sleep(DURATION)
                assert a.held
                assert not b.held

                await node.kill()
                killed_at = time.monotonic()
                with anyio.fail_after(DURATION * 4):
                    await b.wait_held()
                took_over_after = time.monotonic() - killed_at
                assert not a.held, "the old holder still thinks it may act"

                await node.start()
                # Back, the old holder sees the record changed hands and does not act.
                await anyio.sleep(DURATION * 2)
                assert b.held
                assert not a.held
                assert a.holder == "replica-b"
                tg.cancel_scope.cancel()
    finally:
        await node.start()
        await remove_record(followers[1], name)
    assert terms.overlaps() == []
    assert [who for who, _, _ in terms.spans] == ["replica-a", "replica-b"]
    # Takeover waits for a whole unchanged term since the holder's last renewal (up to
    # renew_interval before the kill), and sees the expiry within one poll.
    renew_interval = DURATION / 3
    assert DURATION - renew_interval <= took_over_after <= DURATION + POLL + 1.5, took_over_after


async def test_takeover_after_the_raft_leader_dies_waits_for_raft_too(
    lab: Lab, managers: list[Engine]
) -> None:
    leader = await _raft_leader(managers)
    follower = next(engine for engine in managers if engine is not leader)
    name = "leaderdies"
    a = make_lease(leader, name, "replica-a")
    b = make_lease(follower, name, "replica-b")
    node = lab.nodes[managers.index(leader)]
    try:
        async with a:
            await a.wait_held()
            async with b:
                await node.kill()
                killed_at = time.monotonic()
                # No write reaches the swarm until the two managers left elect a leader.
                with anyio.fail_after(DURATION + 25):
                    await b.wait_held()
                took_over_after = time.monotonic() - killed_at
                assert not a.held
    finally:
        await node.start()
        await remove_record(follower, name)
    assert took_over_after > DURATION - DURATION / 3


async def test_a_released_lease_is_taken_at_once(managers: list[Engine]) -> None:
    name = "release"
    a = make_lease(managers[0], name, "replica-a")
    b = make_lease(managers[1], name, "replica-b")
    try:
        async with a:
            await a.wait_held()
            async with b:
                await anyio.sleep(POLL * 3)
                assert not b.held
                await a.release()
                released_at = time.monotonic()
                with anyio.fail_after(DURATION / 2):
                    await b.wait_held()
                assert time.monotonic() - released_at < DURATION
                assert b.stats().acquisitions == 1
    finally:
        await remove_record(managers[0], name)


async def test_of_several_writers_holding_one_version_exactly_one_wins(
    managers: list[Engine],
) -> None:
    record = await managers[0].configs.create("swarmnet-cas-test", b"x", labels={"n": "0"})
    outcomes: list[str] = []

    async def write(engine: Engine, value: str) -> None:
        try:
            await engine.configs.update_labels(record, {"n": value})
            outcomes.append("won")
        except OutOfSequence:
            outcomes.append("lost")

    try:
        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(write, managers[i % 3], str(i + 1))
        assert sorted(outcomes) == ["lost"] * 9 + ["won"]
        after = await managers[0].configs.get(record.id)
        assert after.version > record.version
        assert after.data == b"x"
    finally:
        await managers[0].configs.remove(record.id)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "no spaces"}, "invalid lease name"),
        ({"duration": 3.0, "renew_interval": 2.0}, "renew_interval"),
        ({"duration": 0.0}, "duration > 0"),
    ],
)
def test_lease_settings_that_cannot_work_are_refused(
    options: dict[str, object], message: str
) -> None:
    name = str(options.pop("name", "ok"))
    with pytest.raises(InvalidSpec, match=message):
        Lease(Engine("unix:///nonexistent.sock"), name, **options)  # type: ignore[arg-type]


async def _raft_leader(managers: list[Engine]) -> Engine:
    nodes = await managers[0].nodes.list(role="manager")
    (leader,) = [node for node in nodes if node.is_leader]
    infos = [await engine.info() for engine in managers]
    return managers[[info.swarm.node_id for info in infos].index(leader.id)]
