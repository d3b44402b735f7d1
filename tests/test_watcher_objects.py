"""``watcher.objects``, engine-free: containers, services and swarm nodes kept current by
their events, queryable without engine calls (by label, network, node, state), and re-read
after events were lost, the difference delivered as synthesized typed events. (The same
on three real managers: ``test_watcher_types.py``.)
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from _netevents import wait_for

import swarmnet
from swarmnet._events.models import parse_event
from swarmnet._events.watcher import objects
from swarmnet.lab import LAB_IMAGE
from swarmnet.models import (
    CachedContainer,
    CachedNode,
    CachedService,
    ContainerAction,
    ContainerEvent,
    NodeEvent,
)
from swarmnet.testing import MockRequest, MockResponse, MockStream, MockTransport

pytestmark = [pytest.mark.anyio]

DATA = Path(__file__).parent / "data"
TYPED_LINES = [line for line in (DATA / "typed_events.jsonl").read_bytes().split(b"\n") if line]
FAST = swarmnet.WatcherSettings(
    reconnect=swarmnet.ReconnectSettings(initial_delay=0.1, max_delay=0.5),
    resync=swarmnet.ResyncSettings(endpoint_read_delay=0.2),
    stop_grace=1.0,
)


@dataclass
class Seen:
    events: list[swarmnet.models.Event] = field(default_factory=list)

    def __call__(self, event: swarmnet.models.Event, **kwargs: Any) -> None:
        self.events.append(event)


def _list_item(cid: str, name: str, state: str, **labels: str) -> dict[str, Any]:
    return {
        "Id": cid,
        "Names": [f"/{name}"],
        "Image": LAB_IMAGE,
        "State": state,
        "Labels": labels,
        "NetworkSettings": {"Networks": {"bridge": {}}},
    }


async def test_events_lost_are_re_read_and_the_difference_delivered_as_typed_events() -> None:
    hc1 = [line for line in TYPED_LINES if b'"name":"hc1"' in line][:2]  # create, start
    c1 = json.loads(hc1[0])["Actor"]["ID"]
    c2 = "2" * 64
    reads: list[int] = []

    def handler(request: MockRequest) -> Any:
        if request.path == "/events":
            # Two events, then a line that is no event: events may be lost (a gap).
            return MockStream([hc1[0] + b"\n", hc1[1] + b"\n", b"<html>oops\n"], end=False)
        if request.path == "/containers/json":
            reads.append(1)
            # First read: nothing yet. After the gap: c1 gone, c2 made and running.
            return [] if len(reads) == 1 else [_list_item(c2, "web2", "running", app="web")]
        if request.path == "/networks":
            return []
        if request.path == "/info":
            return {"ID": "x", "Name": "n1", "Swarm": {"LocalNodeState": "inactive"}}
        return None

    seen = Seen()
    async with swarmnet.Engine(transport=MockTransport(handler), name="n1") as engine:
        watcher = swarmnet.Watcher(engine, settings=FAST)
        watcher.add(seen, type="container")
        async with watcher:
            await wait_for(lambda: len(seen.events) >= 5, 10, "five container events")
            await anyio.sleep(0.1)  # nothing more comes
            cached = watcher.objects.containers()
        stats = watcher.stats().node("n1")
    got = [(str(e.action), e.actor_id, e.synthesized) for e in seen.events]
    assert got == [
        ("create", c1, False),
        ("start", c1, False),
        ("create", c2, True),
        ("start", c2, True),
        ("destroy", c1, True),
    ]
    assert all(isinstance(e, ContainerEvent) for e in seen.events)
    assert (stats.gaps, stats.resyncs, stats.synthesized) == (1, 1, 3)
    assert [(c.id, c.name, c.running, c.labels) for c in cached] == [
        (c2, "web2", True, {"app": "web"})
    ]


def test_the_cache_follows_a_containers_life_from_its_events() -> None:
    cache = objects.ObjectCache()
    seen: list[tuple[str, bool, str]] = []
    for line in TYPED_LINES:
        event = parse_event(line, "node1")
        if isinstance(event, ContainerEvent) and event.attributes.get("app") == "web":
            objects.apply(cache, event)
            found = cache.container(event.actor_id, node="node1")
            if found is not None:
                seen.append((found.name, found.running, found.state))
            else:
                seen.append(("", False, "gone"))
    assert seen[0] == ("hc1", False, "created")
    assert seen[1] == ("hc1", True, "running")
    assert ("hc2", True, "paused") in seen  # renamed, then paused
    assert seen[-1] == ("", False, "gone")
    assert ("hc2", False, "exited") in seen


def test_queries_select_by_label_network_node_and_state() -> None:
    cache = objects.ObjectCache(network_ids=lambda name: frozenset({f"id-{name}"}))
    cache._containers = {
        "n1": {
            "a": CachedContainer(
                id="a",
                name="web1",
                node="n1",
                labels={"app": "web"},
                running=True,
                networks=frozenset({"front"}),
            ),
            "b": CachedContainer(id="b", name="db", node="n1", labels={"app": "db"}),
        },
        "n2": {
            "c": CachedContainer(
                id="c",
                name="web2",
                node="n2",
                labels={"app": "web"},
                running=True,
                networks=frozenset({"front", "back"}),
            ),
        },
    }
    cache._services = {
        "s1": CachedService(id="s1", name="api", networks=frozenset({"id-front"})),
        "s2": CachedService(id="s2", name="batch", labels={"tier": "low"}),
    }
    cache._nodes = {
        "x": CachedNode(id="x", name="node1", role="manager", state="ready", availability="active"),
        "y": CachedNode(
            id="y",
            name="node2",
            role="worker",
            state="down",
            availability="drain",
            labels={"zone": "b"},
        ),
    }
    assert [c.name for c in cache.containers(label={"app": "web"})] == ["web1", "web2"]
    assert [c.name for c in cache.containers(network="back")] == ["web2"]
    assert [c.name for c in cache.containers(node="n1", running=False)] == ["db"]
    assert [c.name for c in cache.containers(label={"app": None})] == ["db", "web1", "web2"]
    assert cache.container("web2", node="n2") is cache._containers["n2"]["c"]
    assert [s.name for s in cache.services(network="front")] == ["api"]
    assert [s.name for s in cache.services(network="id-front")] == ["api"]
    assert [s.name for s in cache.services(label={"tier": "low"})] == ["batch"]
    assert cache.service("api") is cache._services["s1"]
    assert [n.name for n in cache.nodes(availability="drain", label={"zone": "b"})] == ["node2"]
    assert [n.name for n in cache.nodes(role="manager", state="ready")] == ["node1"]
    assert cache.node("node2") is cache._nodes["y"]


def test_a_re_read_describes_node_changes_as_the_engine_would() -> None:
    old = {
        "x": CachedNode(id="x", name="node2", role="worker", state="ready", availability="active")
    }
    new = {
        "x": old["x"].model_copy(update={"state": "down", "availability": "drain"}),
        "z": CachedNode(id="z", name="node4", role="worker", state="ready"),
    }
    events = objects.node_differences("node1", old, new, 5)
    assert all(isinstance(e, NodeEvent) and e.synthesized for e in events)
    created, changed = events
    assert (str(created.action), created.actor_id) == ("create", "z")
    assert isinstance(changed, NodeEvent)
    assert (changed.previous_state, changed.state) == ("ready", "down")
    assert (changed.previous_availability, changed.availability) == ("active", "drain")
    gone = objects.node_differences("node1", new, old, 6)
    assert [(str(e.action), e.actor_id) for e in gone][-1] == ("remove", "z")
    # What a fresh read already shows is not news twice.
    cache = objects.ObjectCache()
    cache._nodes = dict(new)
    assert objects.already_there(cache, changed)
    assert not objects.already_there(cache, gone[-1])


def test_a_synthesized_container_event_reads_like_a_real_one() -> None:
    old = {"a": CachedContainer(id="a", name="web", node="n1", running=True)}
    new = {"a": old["a"].model_copy(update={"name": "web2", "running": False})}
    renamed, died = objects.container_differences("n1", old, new, 9)
    assert isinstance(renamed, ContainerEvent)
    assert (renamed.action, renamed.old_name, renamed.name) == (
        ContainerAction.RENAME,
        "web",
        "web2",
    )
    assert died.action is ContainerAction.DIE
    assert renamed.synthesized
    assert renamed.node == "n1"


def test_after_a_re_read_only_what_it_could_have_made_up_counts_as_a_repeat() -> None:
    cache = objects.ObjectCache()
    stopped = CachedContainer(id="c" * 64, name="web", node="n1", state="exited")
    cache._containers = {"n1": {stopped.id: stopped}}

    def event(action: str) -> ContainerEvent:
        line = (
            f'{{"Type":"container","Action":"{action}","Actor":{{"ID":"{stopped.id}",'
            f'"Attributes":{{"name":"web"}}}},"scope":"local","timeNano":1}}'
        ).encode()
        parsed = parse_event(line, "n1")
        assert isinstance(parsed, ContainerEvent)
        return parsed

    # A re-read synthesizes create, start, die, destroy: those the cache shows are repeats.
    assert objects.already_there(cache, event("create"))
    assert objects.already_there(cache, event("die"))
    assert not objects.already_there(cache, event("start"))
    assert not objects.already_there(cache, event("destroy"))
    # A stop or kill is never made up: it is always news, whatever the cache shows.
    assert not objects.already_there(cache, event("stop"))
    assert not objects.already_there(cache, event("kill"))


# -- an endpoint read that outlives a daemon restart ---------------------------------------

NET = "e" * 64
CONTAINER = "c" * 64


def _network(network_id: str, name: str, containers: dict[str, str]) -> dict[str, Any]:
    """A bridge network as GET /networks/{id} shows it: container id to endpoint id."""
    return {
        "Name": name,
        "Id": network_id,
        "Created": "2026-12-02T10:00:00.000000000Z",
        "Scope": "local",
        "Driver": "bridge",
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "172.30.0.0/16"}]},
        "Containers": {
            cid: {
                "Name": "c",
                "EndpointID": endpoint,
                "MacAddress": "02:42:ac:1e:00:02",
                "IPv4Address": "172.30.0.2/16",
                "IPv6Address": "",
            }
            for cid, endpoint in containers.items()
        },
        "Options": {},
        "Labels": {},
    }


def _connect_line(time_nano: int) -> bytes:
    return (
        json.dumps(
            {
                "Type": "network",
                "Action": "connect",
                "Actor": {
                    "ID": NET,
                    "Attributes": {"container": CONTAINER, "name": "br", "type": "bridge"},
                },
                "scope": "local",
                "time": time_nano // 10**9,
                "timeNano": time_nano,
            }
        ).encode()
        + b"\n"
    )


async def test_an_endpoint_read_answered_by_a_restarted_daemon_hides_no_re_attachment() -> None:
    """A container connects; the daemon is killed before the watcher reads its endpoint;
    that read waits and is answered by the restarted daemon, with the endpoint the
    restart re-made. The re-read after the gap must still tell the re-attachment (a
    disconnect then a connect): the late answer describes another daemon than the
    events did and must not fill the cache (a CI run met it on the lab under load)."""
    phase = {"now": "old"}
    synced, restarted = anyio.Event(), anyio.Event()

    def networks() -> list[dict[str, Any]]:
        if phase["now"] == "old":
            return [_network("b1" * 32, "bridge", {}), _network(NET, "br", {})]
        return [_network("b2" * 32, "bridge", {}), _network(NET, "br", {CONTAINER: "E2" * 32})]

    async def first_stream() -> AsyncIterator[bytes]:
        await synced.wait()
        yield _connect_line(time.time_ns())
        phase["now"] = "down"  # killed: the stream ends, the engine does not answer

    async def handler(request: MockRequest) -> Any:
        if phase["now"] == "down":
            if request.path == f"/networks/{NET}":
                await restarted.wait()  # sent to the dead daemon, answered by the new one
            else:
                raise swarmnet.EngineUnreachable("connection refused", engine="mock://n1")
        if request.path == "/events":
            if "until" in request.params:
                return MockStream([], end=True)  # the restarted daemon holds no old event
            if phase["now"] == "old":
                return first_stream()
            return MockStream([], end=False)
        if request.path == "/networks":
            return networks()
        if request.path.startswith("/networks/"):
            found = [n for n in networks() if n["Id"] == request.path.rsplit("/", 1)[1]]
            return found[0] if found else MockResponse.error(404, "network not found")
        if request.path == "/info":
            synced.set()  # the last read of the first sync: the events may come
            return {"ID": "x", "Name": "n1", "Swarm": {"LocalNodeState": "inactive"}}
        return None

    seen = Seen()
    async with swarmnet.Engine(transport=MockTransport(handler), name="n1") as engine:
        watcher = swarmnet.Watcher(engine, settings=FAST)
        watcher.on(["connect", "disconnect"], network=NET)(seen)
        async with watcher:
            await wait_for(lambda: phase["now"] == "down", 10, "the kill")
            # Past endpoint_read_delay: the endpoint read of the connect is due now, and
            # one sent to the dead daemon waits for the new one to answer.
            await anyio.sleep(0.6)
            phase["now"] = "new"
            restarted.set()
            await wait_for(lambda: watcher.stats().node("n1").resyncs >= 1, 10, "the re-read")
            await anyio.sleep(0.3)  # the late endpoint answer has come too
            cached = watcher.cache.get(NET, node="n1")
    assert cached is not None
    assert {c: e.endpoint_id for c, e in cached.endpoints.items()} == {CONTAINER: "E2" * 32}
    got = [(str(e.action), e.synthesized) for e in seen.events]
    assert got == [("connect", False), ("disconnect", True), ("connect", True)]
