"""Typed events from the engine's JSON: recorded engine output in, immutable models out.

``tests/data/network_events.jsonl`` and ``engine_events.jsonl`` are what a real lab
engine (dockerd 20.10, API 1.41) sent, recorded by ``benchmarks/record_events.py``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pydantic
import pytest

from swarmnet._events.framing import NotJSON
from swarmnet._events.models import parse_event
from swarmnet.models import (
    ContainerAction,
    ContainerEvent,
    Event,
    EventScope,
    EventType,
    NetworkAction,
    NetworkEvent,
    NodeAction,
    NodeEvent,
    ServiceAction,
    ServiceEvent,
)

DATA = Path(__file__).parent / "data"
NETWORK_LINES = [line for line in (DATA / "network_events.jsonl").read_bytes().split(b"\n") if line]
ALL_LINES = [line for line in (DATA / "engine_events.jsonl").read_bytes().split(b"\n") if line]
# Container, service and node events as lab engines sent them (API 1.41): a container's
# life with a health check, a rename, pause, restart; a service created, scaled, updated
# and removed; nodes joining, drained/paused, promoted and demoted.
TYPED_LINES = [line for line in (DATA / "typed_events.jsonl").read_bytes().split(b"\n") if line]


def _typed(kind: type[Event], action: str) -> list[Event]:
    return [
        event
        for event in (parse_event(line, "node1") for line in TYPED_LINES)
        if isinstance(event, kind) and event.action == action
    ]


def test_every_recorded_network_event_becomes_a_network_event_with_its_fields() -> None:
    for line in NETWORK_LINES:
        raw = json.loads(line)
        event = parse_event(line, "node1")
        assert isinstance(event, NetworkEvent)
        attributes = raw["Actor"]["Attributes"]
        assert event.type is EventType.NETWORK
        assert event.action == raw["Action"]
        assert isinstance(event.action, NetworkAction)
        assert event.network_id == event.actor_id == raw["Actor"]["ID"]
        assert event.name == attributes["name"]
        assert event.driver == attributes.get("type")
        assert event.container_id == attributes.get("container")
        assert event.scope == raw["scope"]
        assert isinstance(event.scope, EventScope)
        assert event.time_nano == raw["timeNano"]
        assert event.node == "node1"
        assert event.synthesized is False
        assert dict(event.attributes) == attributes


def test_swarm_scope_events_carry_a_name_but_no_driver() -> None:
    swarm = [parse_event(line, "n") for line in NETWORK_LINES if b'"scope":"swarm"' in line]
    assert {e.action for e in swarm if isinstance(e, NetworkEvent)} >= {"create", "remove"}
    for event in swarm:
        assert isinstance(event, NetworkEvent)
        assert event.name
        assert event.driver is None
        assert event.container_id is None


def test_each_recorded_event_gets_the_model_of_its_type() -> None:
    parsed = [parse_event(line, "n") for line in ALL_LINES + TYPED_LINES]
    by_type = {e.type for e in parsed if e is not None}
    assert {EventType.CONTAINER, EventType.NETWORK, EventType.SERVICE, EventType.NODE} <= by_type
    models = {
        EventType.NETWORK: NetworkEvent,
        EventType.CONTAINER: ContainerEvent,
        EventType.SERVICE: ServiceEvent,
        EventType.NODE: NodeEvent,
    }
    for event in parsed:
        assert event is not None
        assert type(event) is models.get(EventType(event.type), Event)
        assert event.actor_id
        assert event.action


def test_a_container_labelled_type_network_is_still_a_container_event() -> None:
    line = json.dumps(
        {
            "Type": "container",
            "Action": "start",
            "Actor": {"ID": "c1", "Attributes": {"Type": "network", "name": "web"}},
            "scope": "local",
            "timeNano": 5,
        },
        separators=(",", ":"),
    ).encode()
    event = parse_event(line, "n")
    assert type(event) is ContainerEvent
    assert event.type is EventType.CONTAINER
    assert event.attributes["Type"] == "network"
    assert event.labels == {"Type": "network"}


def test_what_the_engine_adds_later_never_breaks_parsing() -> None:
    raw = json.loads(NETWORK_LINES[0])
    raw["Action"] = "teleport"
    raw["scope"] = "galaxy"
    raw["Actor"]["Attributes"]["colour"] = "blue"
    raw["NewTopLevel"] = {"nested": [1, 2]}
    event = parse_event(json.dumps(raw).encode(), "n")
    assert isinstance(event, NetworkEvent)
    assert event.action == "teleport"
    assert not isinstance(event.action, NetworkAction)
    assert event.scope == "galaxy"
    assert event.attributes["colour"] == "blue"

    widget = parse_event(b'{"Type":"widget","Action":"spin","Actor":{"ID":"w"},"timeNano":1}', "n")
    assert type(widget) is Event
    assert widget.type == "widget"


def test_json_written_differently_from_the_engine_still_parses_fully() -> None:
    # Spaces after colons defeat the byte test that picks the model; the type decides.
    spaced = json.dumps(json.loads(NETWORK_LINES[1])).encode()
    assert b'"Type": "network"' in spaced
    assert parse_event(spaced, "node1") == parse_event(NETWORK_LINES[1], "node1")


def test_json_that_is_no_event_is_skipped_and_broken_json_is_reported() -> None:
    assert parse_event(b"12", "n") is None
    assert parse_event(b'["a"]', "n") is None
    assert parse_event(b'{"Action":"x"}', "n") is None  # no Type
    with pytest.raises(NotJSON):
        parse_event(NETWORK_LINES[0][:50], "n")
    with pytest.raises(NotJSON):
        parse_event(NETWORK_LINES[0] + NETWORK_LINES[1], "n")


def test_events_are_immutable() -> None:
    event = parse_event(NETWORK_LINES[0], "n")
    assert event is not None
    with pytest.raises(pydantic.ValidationError):
        event.action = "destroy"  # type: ignore[misc]


def test_time_keeps_nanoseconds_and_reads_as_an_aware_datetime() -> None:
    event = parse_event(NETWORK_LINES[0], "n")
    assert event is not None
    raw = json.loads(NETWORK_LINES[0])
    assert event.time_nano == raw["timeNano"]
    assert event.time.tzinfo is timezone.utc
    assert int(event.time.timestamp()) == raw["time"]
    assert event.time == datetime.fromtimestamp(raw["timeNano"] // 1000 / 1e6, tz=timezone.utc)


def test_the_same_event_replayed_has_the_same_identity_and_others_differ() -> None:
    first = parse_event(NETWORK_LINES[0], "node1")
    again = parse_event(NETWORK_LINES[0], "node1")
    elsewhere = parse_event(NETWORK_LINES[0], "node2")
    assert first is not None
    assert again is not None
    assert elsewhere is not None
    assert first.identity == again.identity
    assert first.identity != elsewhere.identity
    identities = {parse_event(line, "n").identity for line in NETWORK_LINES}  # type: ignore[union-attr]
    assert len(identities) == len(NETWORK_LINES)


def test_a_synthesized_event_says_so_and_reads_like_a_real_one() -> None:
    event = NetworkEvent.synthesize(
        NetworkAction.CONNECT,
        network_id="abc",
        name="front",
        driver="bridge",
        scope=EventScope.LOCAL,
        node="node2",
        time_nano=1_700_000_000_123_456_789,
        container_id="c0ffee",
    )
    assert event.synthesized is True
    assert (event.network_id, event.actor_id, event.name, event.driver) == (
        "abc",
        "abc",
        "front",
        "bridge",
    )
    assert event.container_id == "c0ffee"
    assert event.attributes == {"name": "front", "type": "bridge", "container": "c0ffee"}
    assert event.time_nano == 1_700_000_000_123_456_789


def test_events_dump_to_plain_json_with_snake_case_names() -> None:
    event = parse_event(NETWORK_LINES[0], "node1")
    assert event is not None
    dumped = event.model_dump(mode="json")
    assert dumped["action"] == json.loads(NETWORK_LINES[0])["Action"]
    assert dumped["node"] == "node1"
    assert dumped["network_id"] == event.network_id  # type: ignore[attr-defined]
    json.dumps(dumped)


def test_container_events_carry_name_image_labels_and_what_the_action_adds() -> None:
    (create,) = [e for e in _typed(ContainerEvent, "create") if e.attributes.get("app")]
    assert isinstance(create, ContainerEvent)
    assert create.action is ContainerAction.CREATE
    assert create.scope is EventScope.LOCAL
    assert create.container_id == create.actor_id
    assert len(create.container_id) == 64
    assert (create.name, create.image) == ("hc1", "swarmnet-lab/busybox")
    assert create.labels == {"app": "web"}  # name and image are the engine's, not labels
    assert (create.exit_code, create.signal, create.old_name, create.health) == (None,) * 4

    (rename,) = _typed(ContainerEvent, "rename")
    assert isinstance(rename, ContainerEvent)
    assert (rename.old_name, rename.name) == ("hc1", "hc2")
    dies = _typed(ContainerEvent, "die")
    assert dies
    assert all(isinstance(e, ContainerEvent) and e.exit_code == 137 for e in dies)
    kills = [e for e in _typed(ContainerEvent, "kill") if isinstance(e, ContainerEvent)]
    assert {e.signal for e in kills} == {9, 15}
    task = [e for e in _typed(ContainerEvent, "start") if isinstance(e, ContainerEvent)]
    assert {e.service_name for e in task} == {None, "svc1"}


def test_a_health_status_is_one_action_with_its_detail() -> None:
    # The engine writes "health_status: healthy" and "exec_create: /bin/sh -c true".
    health = _typed(ContainerEvent, "health_status")
    assert health
    for event in health:
        assert isinstance(event, ContainerEvent)
        assert event.action is ContainerAction.HEALTH_STATUS
        assert (event.detail, event.health) == ("healthy", "healthy")
    execs = _typed(ContainerEvent, "exec_create")
    assert execs
    assert all(
        isinstance(e, ContainerEvent) and e.detail == "/bin/sh -c true" and e.health is None
        for e in execs
    )


def test_service_events_name_what_an_update_changed() -> None:
    (create,) = _typed(ServiceEvent, "create")
    assert isinstance(create, ServiceEvent)
    assert create.scope is EventScope.SWARM
    assert create.action is ServiceAction.CREATE
    assert (create.name, create.service_id, create.changes) == ("svc1", create.actor_id, {})
    updates = [e for e in _typed(ServiceEvent, "update") if isinstance(e, ServiceEvent)]
    (scaled,) = [e for e in updates if e.replicas is not None]
    assert (scaled.previous_replicas, scaled.replicas) == (1, 2)
    assert scaled.changes == {"replicas": ("1", "2")}
    assert {e.update_state for e in updates} >= {None, "updating"}
    (removed,) = _typed(ServiceEvent, "remove")
    assert removed.actor_id == create.actor_id


def test_node_events_carry_state_availability_and_role_changes() -> None:
    nodes = [parse_event(line, "node1") for line in TYPED_LINES if b'"Type":"node"' in line]
    events = [e for e in nodes if isinstance(e, NodeEvent)]
    assert {e.action for e in events} == {NodeAction.CREATE, NodeAction.UPDATE}
    joined = [e for e in events if e.state == "ready"]
    assert {e.previous_state for e in joined} == {"unknown"}
    assert {e.name for e in joined} == {"node1", "node2"}
    drained = [e for e in events if e.availability is not None]
    assert [(e.previous_availability, e.availability) for e in drained] == [
        ("active", "pause"),
        ("pause", "active"),
    ]
    roles = [(e.previous_role, e.role) for e in events if e.role is not None]
    assert roles == [("worker", "manager"), ("manager", "worker")]
    assert all(e.node == "node1" and e.node_id == e.actor_id for e in events)
    (created,) = [e for e in events if e.action is NodeAction.CREATE]
    assert created.name == ""  # the engine names a node only once it reported


def test_leadership_reachability_and_a_removal_read_from_attributes() -> None:
    line = json.dumps(
        {
            "Type": "node",
            "Action": "update",
            "Actor": {
                "ID": "n2",
                "Attributes": {
                    "name": "node2",
                    "leader.old": "false",
                    "leader.new": "true",
                    "reachability.old": "unknown",
                    "reachability.new": "reachable",
                },
            },
            "scope": "swarm",
            "timeNano": 7,
        },
        separators=(",", ":"),
    ).encode()
    event = parse_event(line, "n")
    assert isinstance(event, NodeEvent)
    assert (event.leader, event.reachability) == (True, "reachable")
    assert event.changes == {"leader": ("false", "true"), "reachability": ("unknown", "reachable")}
    removed = parse_event(line.replace(b'"update"', b'"remove"'), "n")
    assert isinstance(removed, NodeEvent)
    assert removed.action is NodeAction.REMOVE


def test_unknown_actions_of_typed_events_are_values_not_failures() -> None:
    for kind, model in (("container", ContainerEvent), ("service", ServiceEvent)):
        line = f'{{"Type":"{kind}","Action":"levitate: high","Actor":{{"ID":"x"}}}}'.encode()
        event = parse_event(line, "n")
        assert type(event) is model
        assert isinstance(event.action, str)
        assert not isinstance(event.action, (ContainerAction, ServiceAction))
    odd = parse_event(b'{"Type":"node","Action":"teleport","Actor":{"ID":"n","Attributes":{}}}')
    assert isinstance(odd, NodeEvent)
    assert odd.action == "teleport"
    assert parse_event(b'{"Type":"container","Action":"die","Actor":{"ID":"c"}}') is not None


def test_typed_events_written_differently_still_get_their_model() -> None:
    for line in TYPED_LINES[:3]:
        spaced = json.dumps(json.loads(line)).encode()  # spaces defeat the byte test
        assert parse_event(spaced, "n") == parse_event(line, "n")
        assert type(parse_event(spaced, "n")) is ContainerEvent


def test_typed_events_dump_their_derived_fields() -> None:
    (rename,) = _typed(ContainerEvent, "rename")
    dumped = rename.model_dump(mode="json")
    assert (dumped["name"], dumped["old_name"], dumped["labels"]) == ("hc2", "hc1", {"app": "web"})
