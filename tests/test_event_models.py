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

from swarmnet import Event, NetworkEvent
from swarmnet._events.framing import NotJSON
from swarmnet._events.models import parse_event
from swarmnet.models import EventScope, EventType, NetworkAction

DATA = Path(__file__).parent / "data"
NETWORK_LINES = [line for line in (DATA / "network_events.jsonl").read_bytes().split(b"\n") if line]
ALL_LINES = [line for line in (DATA / "engine_events.jsonl").read_bytes().split(b"\n") if line]


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


def test_events_of_other_types_become_general_typed_events() -> None:
    parsed = [parse_event(line, "n") for line in ALL_LINES]
    by_type = {e.type for e in parsed if e is not None}
    assert {EventType.CONTAINER, EventType.NETWORK} <= by_type
    for event in parsed:
        assert event is not None
        if event.type is EventType.NETWORK:
            assert isinstance(event, NetworkEvent)
        else:
            assert type(event) is Event
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
    assert type(event) is Event
    assert event.type is EventType.CONTAINER
    assert event.attributes["Type"] == "network"


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
