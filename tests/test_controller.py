"""The join-label controller (examples/07) on three real managers.

Labelled containers on any node join the overlay ``app`` under their name and reach
each other by it; a container disconnected by hand is reconnected; the overlay,
removed behind the controller's back, is recreated; a node's daemon killed with -9
and restarted does not stop it. With two replicas under a lease, exactly one acts
(each container is connected once, as the engines' own events count), and when the
holder's daemon is killed the other takes over within the lease's time.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import pytest
from _containers import Tracker, can_ping, unique_prefix
from _engines import eventually
from anyio.abc import Process

import swarmnet
from swarmnet import Engine
from swarmnet.lab import LAB_IMAGE, Lab
from swarmnet.models import Kind

pytestmark = [pytest.mark.anyio, pytest.mark.lab]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "07_join_label_controller.py"
LABEL = "swarmnet.join"
LEASE_DURATION = 3.0


@pytest.fixture
async def tracked() -> AsyncIterator[Tracker]:
    tracker = Tracker()
    try:
        yield tracker
    finally:
        await tracker.cleanup()


async def raft_followers(managers: list[Engine]) -> list[int]:
    """Indexes of the managers that are not the raft leader (killing the leader stalls
    every swarm write for an election, whatever the controller does)."""
    nodes = await managers[0].nodes.list(role="manager")
    (leader,) = [node for node in nodes if node.is_leader]
    ids = [(await engine.info()).swarm.node_id for engine in managers]
    return [i for i, node_id in enumerate(ids) if node_id != leader.id]


class Running:
    """examples/07 running in a subprocess, its output collected as it comes."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.out = bytearray()
        self.err = bytearray()

    async def status(self) -> dict[str, str]:
        """Ask for its counters (SIGUSR1) and return the line it prints, as a dict."""
        before = self.out.count(b"status:")
        self.process.send_signal(signal.SIGUSR1)

        async def printed() -> str | None:
            lines = [line for line in self.out.decode().splitlines() if line.startswith("status:")]
            return lines[-1] if len(lines) > before else None

        line = await eventually(printed, within=10, every=0.05)
        return dict(part.split("=", 1) for part in line.split()[1:])


@asynccontextmanager
async def example(hosts: list[str], network: str, *extra: str) -> AsyncIterator[Running]:
    """Run examples/07 until the block ends; then SIGTERM, and it must exit 0 with stats."""
    argv = [sys.executable, str(EXAMPLE), *hosts, "--network", network, *extra]

    async def drain(stream: anyio.abc.ByteReceiveStream, into: bytearray) -> None:
        async for chunk in stream:
            into.extend(chunk)

    async with await anyio.open_process(argv) as process, anyio.create_task_group() as tg:
        assert process.stdout is not None
        assert process.stderr is not None
        running = Running(process)
        tg.start_soon(drain, process.stdout, running.out)
        tg.start_soon(drain, process.stderr, running.err)

        async def ready() -> bool | None:
            assert process.returncode is None, running.err.decode()[-3000:]
            return True if b"ready" in running.out else None

        await eventually(ready, every=0.05)
        try:
            yield running
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            with anyio.fail_after(15):
                code = await process.wait()
    assert code == 0, running.err.decode()[-3000:]
    assert b"stopped:" in running.out, running.out.decode()


async def joined(engine: Engine, container: str, network: str) -> str | None:
    """The container's name if it is on ``network`` with its name as an alias."""
    found = await engine.containers.get(container)
    endpoint = found.networks.get(network)
    if endpoint is not None and found.name in endpoint.aliases:
        return found.name
    return None


async def all_joined(engines: list[Engine], ids: list[str], network: str) -> bool | None:
    """True once the i-th container (on the i-th engine) has joined ``network``."""
    for engine, container in zip(engines, ids, strict=True):
        if await joined(engine, container, network) is None:
            return None
    return True


async def test_labelled_containers_join_by_name_survive_a_disconnect_a_removal_and_a_kill(
    lab: Lab, managers: list[Engine], tracked: Tracker
) -> None:
    prefix = unique_prefix("ctl")
    network = f"{prefix}app"
    label = {LABEL: network}
    hosts = [node.docker_host for node in lab.nodes[:3]]
    victim = (await raft_followers(managers))[-1]
    keeper = managers[0] if victim != 0 else managers[1]
    async with example(hosts, network, "--resync", "20") as running:
        names = [f"{prefix}c{i}" for i in range(3)]
        ids = [
            await tracked.run(engine, name, labels=label)
            for engine, name in zip(managers, names, strict=True)
        ]
        other = await tracked.run(managers[1], f"{prefix}plain")
        await eventually(lambda: all_joined(managers, ids, network))
        assert network not in (await managers[1].containers.get(other)).networks
        # By name, across nodes, through the overlay the controller made.
        assert await can_ping(managers[0], ids[0], names[1])
        assert await can_ping(managers[2], ids[2], names[0])

        # Disconnected by hand: connected again.
        assert await managers[1].networks.disconnect(network, ids[1])
        await eventually(lambda: joined(managers[1], ids[1], network), within=15)

        # One node's daemon killed with -9 and started again: its containers stopped,
        # and a new labelled container there joins and reaches the others by name.
        node = lab.nodes[victim]
        await node.kill()
        await node.start()
        fresh = await tracked.run(managers[victim], f"{prefix}fresh", labels=label)
        await eventually(lambda: joined(managers[victim], fresh, network), within=30)
        survivor = next(i for i in range(3) if i != victim)
        assert await can_ping(managers[victim], fresh, names[survivor])
        # The restarted daemon's events were gone: seen as a gap, and that engine re-read.
        status = await running.status()
        assert int(status["gaps"]) >= 1, status

        # The overlay removed behind the controller's back, once its endpoints are gone:
        # made again, and new labelled containers join the new one.
        old_id = (await keeper.networks.get(network)).id
        await tracked.cleanup()

        async def removed() -> bool | None:
            try:
                await keeper.networks.remove(network)
            except swarmnet.NetworkInUse:
                return None  # an endpoint still being released somewhere
            return True

        await eventually(removed, within=20)

        async def recreated() -> str | None:
            try:
                found = await keeper.networks.get(network)
            except swarmnet.NotFound:
                return None
            return found.id if found.id != old_id else None

        await eventually(recreated, within=15)
        again = await tracked.run(managers[2], f"{prefix}again", labels=label)
        await eventually(lambda: joined(managers[2], again, network), within=15)
    await tracked.cleanup()
    await keeper.networks.remove(network)


async def test_two_replicas_one_acts_and_the_other_takes_over_when_its_daemon_dies(
    lab: Lab, managers: list[Engine], tracked: Tracker
) -> None:
    prefix = unique_prefix("ctl")
    network = f"{prefix}app"
    lease = f"{prefix}lease"
    label = {LABEL: network}
    a, b = await raft_followers(managers)
    hosts = [node.docker_host for node in lab.nodes[:3]]
    connects: Counter[str] = Counter()

    async def count_connects(engine: Engine) -> None:
        async with engine.events(
            type="network", action="connect", network=network, on_gap="ignore"
        ) as events:
            async for event in events:
                connects[event.attributes.get("container", "")] += 1

    def replica(first: int, identity: str) -> AbstractAsyncContextManager[Running]:
        # Each replica keeps the overlay, and its lease, on its own manager.
        ordered = [hosts[first]] + [h for i, h in enumerate(hosts) if i != first]
        lease_args = ["--lease", lease, "--identity", identity]
        return example(ordered, network, *lease_args, "--lease-duration", str(LEASE_DURATION))

    async with anyio.create_task_group() as counting:
        for engine in managers:
            counting.start_soon(count_connects, engine)
        async with replica(a, "replica-a") as replica_a:

            async def holder() -> str | None:
                try:
                    record = await managers[b].configs.get(f"swarmnet.lease.{lease}")
                except swarmnet.NotFound:
                    return None
                return record.labels.get("swarmnet.lease.holder") or None

            assert await eventually(holder) == "replica-a"
            async with replica(b, "replica-b") as replica_b:
                ids = [
                    await tracked.run(engine, f"{prefix}c{i}", labels=label)
                    for i, engine in enumerate(managers)
                ]
                await eventually(lambda: all_joined(managers, ids, network))
                await anyio.sleep(LEASE_DURATION)  # both replicas had time to (not) act
                # The standby has not even looked: no run, no resync.
                standby = await replica_b.status()
                assert (standby["active"], standby["runs"], standby["resyncs"]) == (
                    "False",
                    "0",
                    "0",
                ), standby
                assert (await replica_a.status())["active"] == "True"

                await lab.nodes[a].kill()
                killed_at = time.monotonic()

                async def taken_over() -> bool | None:
                    return True if await holder() == "replica-b" else None

                await eventually(taken_over, within=LEASE_DURATION * 4, every=0.1)
                took_over_after = time.monotonic() - killed_at
                late = await tracked.run(managers[b], f"{prefix}late", labels=label)
                await eventually(lambda: joined(managers[b], late, network), within=15)
                await lab.nodes[a].start()
                # Back, the old holder sees the record changed hands and stays standby.
                await anyio.sleep(LEASE_DURATION)
                assert (await replica_a.status())["active"] == "False"
                assert (await replica_b.status())["active"] == "True"
        counting.cancel_scope.cancel()
    print(f"took over {took_over_after:.2f} s after the holder's daemon was killed")
    try:
        assert took_over_after <= LEASE_DURATION + 2.0, took_over_after
        for container in [*ids, late]:
            assert connects[container] == 1, (container[:12], dict(connects))
    finally:
        await tracked.cleanup()
        await managers[b].configs.remove(f"swarmnet.lease.{lease}")
        await eventually(lambda: _removed(managers[b], network), within=20)


async def _removed(engine: Engine, network: str) -> bool | None:
    try:
        await engine.networks.remove(network)
    except swarmnet.NetworkInUse:
        return None
    except swarmnet.NotFound:
        pass
    return True


# -- keep_service_attached: a service detached by hand (through another manager) is
# attached again; one created without its networks is attached when the controller starts.

SLEEP = ("sleep", "600")
FAST_UPDATE = swarmnet.UpdateSettings(parallelism=0, monitor=0.2)
SERVICE_SETTINGS = swarmnet.ControllerSettings(
    resync_interval=None,  # only events: the re-attachment must come from them
    retry=swarmnet.RetrySettings(backoff=(0.2, 0.5), max_attempts=20),
)


@pytest.fixture
async def service_prefix(managers: list[swarmnet.Engine]) -> AsyncIterator[str]:
    prefix = unique_prefix("cs")
    try:
        yield prefix
    finally:
        manager = managers[0]
        for service in await manager.services.list():
            if service.name.startswith(prefix):
                await manager.services.remove(service.id, missing_ok=True)
        with anyio.move_on_after(20):  # an overlay is in use until the tasks are gone
            while left := [n for n in await manager.networks.list() if n.name.startswith(prefix)]:
                for network in left:
                    with contextlib.suppress(swarmnet.EngineAPIError):
                        await manager.networks.remove(network.id)
                await anyio.sleep(0.3)


async def _attached(engine: swarmnet.Engine, service: str, networks: list[str]) -> bool | None:
    ids = {(await engine.networks.get(name)).id for name in networks}
    found = await engine.services.get(service)
    return True if ids <= set(found.network_ids()) else None


async def test_a_service_detached_by_hand_is_attached_again(
    managers: list[swarmnet.Engine], service_prefix: str
) -> None:
    prefix = service_prefix
    manager, other = managers[0], managers[1]
    front, back = f"{prefix}front", f"{prefix}back"
    for name in (front, back):
        await manager.networks.create(swarmnet.OverlaySpec(name=name))
    service = f"{prefix}api"
    await manager.services.create(
        swarmnet.ServiceSpec(
            name=service,
            image=LAB_IMAGE,
            args=SLEEP,
            endpoint_mode="dnsrr",
            networks=(front,),  # back is missing from the start
            update_config=FAST_UPDATE,
        )
    )
    controller = swarmnet.Controller(*managers, settings=SERVICE_SETTINGS)
    swarmnet.keep_service_attached(controller, service, [front, back], engine=manager)
    async with controller:
        await eventually(lambda: _attached(manager, service, [front, back]), within=10)
        # By hand, through another manager: the service's update event brings it back.
        await other.services.remove_network(service, back, wait=False)
        await eventually(lambda: _attached(manager, service, [front, back]), within=10)
        stats = controller.stats()
    assert stats.events > 0
    assert stats.gave_up == 0
    # Reconciled through the one manager named, never from the others.
    assert {ref.engine for ref, _ in controller.cached(Kind.SERVICE)} <= {manager.name}
