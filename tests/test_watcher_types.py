"""``swarmnet.Watcher`` beyond networks: container, service and node events, typed,
per handler type, on three real managers (service and node events come once, though
every manager reports them), and the filters that could never match refused at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from _containers import unique_prefix
from _engines import eventually
from _netevents import Collector, wait_for

import swarmnet
from swarmnet.lab import LAB_IMAGE
from swarmnet.models import (
    ContainerAction,
    ContainerEvent,
    EventScope,
    NetworkEvent,
    NodeEvent,
    ServiceAction,
    ServiceEvent,
)

pytestmark = [pytest.mark.anyio]

FAST = swarmnet.WatcherSettings(
    reconnect=swarmnet.ReconnectSettings(initial_delay=0.1, max_delay=0.5),
    stop_grace=1.0,
)
SLEEP = ("sleep", "600")


@dataclass
class Seen:
    """A callback that records the events of any type it was given."""

    events: list[swarmnet.models.Event] = field(default_factory=list)

    def __call__(self, event: swarmnet.models.Event, **kwargs: Any) -> None:
        self.events.append(event)


@pytest.fixture
def prefix() -> str:
    return unique_prefix("wt")


@pytest.fixture
async def services(managers: list[swarmnet.Engine], prefix: str) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for service in await managers[0].services.list():
            if service.name.startswith(prefix):
                await managers[0].services.remove(service.id, missing_ok=True)


@pytest.mark.lab
async def test_container_events_reach_the_handlers_of_their_type_in_order(
    managers: list[swarmnet.Engine], prefix: str
) -> None:
    engine = managers[0]
    watcher = swarmnet.Watcher(engine, settings=FAST)
    containers = Seen()
    watcher.add(containers, type="container", name="containers")
    networks = Collector()
    watcher.add(networks, name="networks")  # the default: network events only
    dies = Seen()
    watcher.on(ContainerAction.DIE, type="container", name="dies")(dies)
    name = f"{prefix}c"
    assert watcher.types == {"network", "container"}
    async with watcher:
        container = await engine.containers.run(LAB_IMAGE, SLEEP, name=name, labels={"app": "web"})
        try:
            await engine.containers.stop(container.id, grace=0)
        finally:
            await engine.containers.remove(container.id)

        def mine() -> list[ContainerEvent]:
            return [
                e
                for e in containers.events
                if isinstance(e, ContainerEvent) and e.container_id == container.id
            ]

        await wait_for(lambda: any(e.action == "destroy" for e in mine()), 10, "destroy")
        await wait_for(lambda: any(e.container_id == container.id for e in networks.events))
    actions = [str(e.action) for e in mine()]
    # The engine's own order, each action once (kill comes with a signal, die before stop).
    assert actions[:2] == ["create", "start"]
    assert actions[-1] == "destroy"
    assert actions.index("die") < actions.index("destroy")
    assert len(actions) == len(set(actions)) or actions.count("kill") > 1
    created = mine()[0]
    assert (created.name, created.node, created.labels["app"]) == (name, engine.name, "web")
    assert created.scope is EventScope.LOCAL
    assert [e.action for e in dies.events if e.actor_id == container.id] == [ContainerAction.DIE]
    assert all(isinstance(e, NetworkEvent) for e in networks.events)
    assert all(isinstance(e, ContainerEvent) for e in containers.events)
    stats = watcher.stats()
    assert stats.node(engine.name).dispatched >= len(actions)


@pytest.mark.lab
async def test_service_and_node_events_come_once_though_every_manager_reports_them(
    managers: list[swarmnet.Engine], prefix: str, services: None
) -> None:
    watcher = swarmnet.Watcher(*managers, settings=FAST)
    seen = Seen()
    watcher.add(seen, type=["service", "node"], name="swarm")
    name = f"{prefix}s"
    worker = (await managers[0].nodes.list())[-1]
    async with watcher:
        created = await managers[0].services.create(
            swarmnet.ServiceSpec(name=name, image=LAB_IMAGE, args=SLEEP, endpoint_mode="dnsrr")
        )
        await managers[1].services.update(
            name,
            swarmnet.ServiceSpec(
                name=name, image=LAB_IMAGE, args=SLEEP, endpoint_mode="dnsrr", replicas=2
            ),
        )
        await managers[2].services.remove(name)
        await managers[0].nodes.set_availability(worker.id, "pause")
        await managers[0].nodes.set_availability(worker.id, "active")

        def of_service() -> list[ServiceEvent]:
            return [
                e for e in seen.events if isinstance(e, ServiceEvent) and e.service_id == created.id
            ]

        def availability() -> list[tuple[str | None, str | None]]:
            return [
                (e.previous_availability, e.availability)
                for e in seen.events
                if isinstance(e, NodeEvent) and e.node_id == worker.id and e.availability
            ]

        await wait_for(lambda: any(e.action == "remove" for e in of_service()), 10, "remove")
        await wait_for(lambda: len(availability()) >= 2, 10, "availability")
        # Every manager reports each of them: leave the others time to (not) come.
        await anyio.sleep(0.5)
    events = of_service()
    assert [e.action for e in events].count(ServiceAction.CREATE) == 1
    assert [e.action for e in events].count(ServiceAction.REMOVE) == 1
    assert events[0].action is ServiceAction.CREATE
    assert events[-1].action is ServiceAction.REMOVE
    assert [(e.previous_replicas, e.replicas) for e in events if e.replicas] == [(1, 2)]
    assert all(e.scope is EventScope.SWARM and e.name == name for e in events)
    assert availability() == [("active", "pause"), ("pause", "active")]
    assert {e.node for e in seen.events} <= {m.name for m in managers}
    assert sum(n.swarm_duplicates for n in watcher.stats().nodes) >= 2 * len(events)


def test_types_and_the_filters_each_allows_are_checked_when_registered() -> None:
    watcher = swarmnet.Watcher(swarmnet.Engine("unix:///nonexistent.sock", name="n1"))

    def callback(event: Any, **kwargs: Any) -> None:
        raise AssertionError("never called")

    with pytest.raises(swarmnet.InvalidSpec, match=r"\['image'\] is not one of the types"):
        watcher.on(type="image")
    # A container action on container events is fine; on services it cannot match.
    watcher.on("health_status", type="container")(callback)
    with pytest.raises(swarmnet.InvalidSpec, match=r"\['start'\] cannot match.*service"):
        watcher.add(callback, "start", type="service")
    with pytest.raises(swarmnet.InvalidSpec, match="network and driver filters"):
        watcher.on("create", type=["network", "container"], driver="bridge")
    with pytest.raises(swarmnet.InvalidSpec, match="container filters"):
        watcher.on(type="node", container="0123456789abcdef")
    handler = watcher.add(callback, ["update", "remove"], type=["service", "node"])
    assert handler.types == {"service", "node"}
    # Network events are always followed: they keep the caches' networks current.
    assert watcher.types == {"network", "container", "service", "node"}
    assert swarmnet.Watcher(swarmnet.Engine("unix:///x.sock", name="n")).types == {"network"}


def test_a_handler_matches_the_container_a_container_event_is_about() -> None:
    from swarmnet._events.models import parse_event
    from swarmnet._events.watcher.handlers import make_handler

    cid = "ab" * 32
    line = (
        f'{{"Type":"container","Action":"health_status: unhealthy","Actor":{{"ID":"{cid}",'
        f'"Attributes":{{"name":"web"}}}},"scope":"local","timeNano":1}}'
    ).encode()
    event = parse_event(line, "n1")
    assert event is not None
    wants = make_handler(print, engines=["n1"], type="container", container=cid[:12])
    assert wants.matches(event)
    health = make_handler(print, engines=["n1"], type="container", action="health_status")
    assert health.matches(event)
    other = make_handler(print, engines=["n1"], type="container", container="cd" * 6)
    assert not other.matches(event)


@pytest.mark.lab
async def test_a_running_watcher_refuses_a_handler_of_a_type_it_does_not_follow(
    managers: list[swarmnet.Engine],
) -> None:
    watcher = swarmnet.Watcher(managers[0], settings=FAST)
    watcher.add(Seen(), type="node")
    async with watcher:
        with pytest.raises(swarmnet.InvalidSpec, match=r"register handlers for \['container'\]"):
            watcher.add(Seen(), type="container")
        watcher.add(Seen(), "update", type="node")  # a followed type is fine
    assert watcher.types == {"network", "node"}  # idle again: what the handlers want


# -- watcher.objects: what the events keep, queried without engine calls --------------


OBJECTS_FAST = swarmnet.WatcherSettings(
    reconnect=swarmnet.ReconnectSettings(initial_delay=0.1, max_delay=0.5),
    resync=swarmnet.ResyncSettings(endpoint_read_delay=0.2),  # services, nodes read back
    stop_grace=1.0,
)


@pytest.fixture
async def cleanup(managers: list[swarmnet.Engine], prefix: str) -> AsyncIterator[None]:
    try:
        yield
    finally:
        manager = managers[0]
        for service in await manager.services.list():
            if service.name.startswith(prefix):
                await manager.services.remove(service.id, missing_ok=True)
        for container in await manager.containers.list(all=True):
            if container.name.startswith(prefix):
                await manager.containers.remove(container.id)
        with anyio.move_on_after(20):
            while left := [n for n in await manager.networks.list() if n.name.startswith(prefix)]:
                for network in left:
                    try:
                        await manager.networks.remove(network.id)
                    except swarmnet.EngineAPIError:
                        await anyio.sleep(0.3)


@pytest.mark.lab
async def test_containers_services_and_nodes_are_queried_without_engine_calls(
    managers: list[swarmnet.Engine], prefix: str, cleanup: None
) -> None:
    manager = managers[0]
    watcher = swarmnet.Watcher(*managers, settings=OBJECTS_FAST)
    watcher.add(Seen(), type=["container", "service", "node"])
    overlay = f"{prefix}ov"
    await manager.networks.create(swarmnet.OverlaySpec(name=overlay, attachable=True))
    worker = (await manager.nodes.list())[-1]
    async with watcher:
        cached = watcher.objects
        assert {n.id for n in cached.nodes()} == {n.id for n in await manager.nodes.list()}
        web = await manager.containers.run(
            LAB_IMAGE,
            ["sleep", "600"],
            name=f"{prefix}web",
            labels={"app": "web"},
            networks=[overlay],
        )
        service = await manager.services.create(
            swarmnet.ServiceSpec(
                name=f"{prefix}api",
                image=LAB_IMAGE,
                args=("sleep", "600"),
                endpoint_mode="dnsrr",
                networks=(overlay,),
                labels={"tier": "api"},
            )
        )
        await manager.nodes.set_availability(worker.id, "drain")

        async def known() -> bool | None:
            found = cached.containers(label={"app": "web"}, network=overlay)
            services = cached.services(network=overlay, label={"tier": "api"})
            drained = cached.nodes(availability="drain")
            ok = [c.id for c in found] == [web.id] and found[0].running
            ok = ok and [s.id for s in services] == [service.id]
            return True if ok and [n.id for n in drained] == [worker.id] else None

        try:
            await eventually(known, within=10)
        finally:
            await manager.nodes.set_availability(worker.id, "active")
        await manager.containers.stop(web.id, grace=0)
        await eventually(
            lambda: _value(not cached.containers(label={"app": "web"}, running=True)), within=10
        )
        await manager.containers.remove(web.id)
        await manager.services.remove(service.id)
        await eventually(
            lambda: _value(
                not cached.containers(label={"app": "web"})
                and not cached.services(label={"tier": "api"})
            ),
            within=10,
        )
        assert cached.node(worker.id) is not None
        assert cached.containers(node=manager.name, label={"app": "web"}) == []


async def _value(ok: bool) -> bool | None:
    return True if ok else None


@pytest.mark.lab
async def test_a_services_tasks_and_their_addresses_on_every_node_come_from_the_cache(
    managers: list[swarmnet.Engine], prefix: str, cleanup: None
) -> None:
    """Issue #14: services with their tasks and per-network addresses, no engine call."""
    manager = managers[0]
    by_name = {engine.name: engine for engine in managers}
    overlay = f"{prefix}tasks"
    network = await manager.networks.create(
        swarmnet.OverlaySpec(name=overlay, pools=[swarmnet.IPAMPool(subnet="10.213.0.0/24")])
    )
    watcher = swarmnet.Watcher(*managers, settings=OBJECTS_FAST)
    watcher.add(Seen(), type=["container", "service"])
    async with watcher:
        cached = watcher.objects
        service = await manager.services.create(
            swarmnet.ServiceSpec(
                name=f"{prefix}web",
                image=LAB_IMAGE,
                args=SLEEP,
                replicas=3,
                max_replicas_per_node=1,
                stop_grace_period=0,
                networks=(overlay,),
            )
        )

        async def all_tasks() -> list[swarmnet.models.CachedContainer] | None:
            tasks = cached.tasks(service.name, running=True)
            known = cached.service(service.id)
            if known is None or network.id not in known.virtual_ips:
                return None
            return tasks if len(tasks) == 3 and all(overlay in t.addresses for t in tasks) else None

        tasks = await eventually(all_tasks, within=60)
        assert cached.tasks(service.id, running=True) == tasks  # by id as by name
        assert {t.node for t in tasks} == set(by_name)
        known = cached.service(service.name)
        assert known is not None
        vip = known.virtual_ips[network.id]
        assert vip.startswith("10.213.0.")
        assert vip.endswith("/24")
        # What the cache holds is what each task's own engine reports.
        for task in tasks:
            engine = by_name[task.node]
            address = task.addresses[overlay]
            assert address.startswith("10.213.0.")
            assert address.endswith("/24")
            assert address.split("/")[0] == str(
                (await engine.containers.get(task.id)).networks[overlay].ip_address
            )
        assert len({t.addresses[overlay] for t in tasks} | {vip}) == 4
