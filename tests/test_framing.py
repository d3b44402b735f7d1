"""Framing the event stream: the same events come out however the bytes are cut.

The engine's stream is replayed from a recording of a real engine
(``tests/data/network_events.jsonl``, made with ``benchmarks/record_events.py``); a
fake cut of the bytes is all a real engine cannot give on demand.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmnet._events.framing import FramingError, JSONFramer, NotJSON
from swarmnet._events.models import Event, parse_event

RECORDED = (Path(__file__).parent / "data" / "network_events.jsonl").read_bytes()
LINES = [line for line in RECORDED.split(b"\n") if line.strip()]


def events_of(stream: bytes) -> list[Event | None]:
    """Parse a stream the slow, obvious way: one JSON object per line."""
    return [parse_event(line, "n1") for line in stream.split(b"\n") if line.strip()]


def frame(chunks: list[bytes]) -> list[Event | None]:
    framer = JSONFramer(lambda data: parse_event(data, "n1"))
    out: list[Event | None] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    out.extend(framer.close())
    return out


def loads(data: bytes) -> object:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise NotJSON(str(exc)) from exc


EXPECTED = events_of(RECORDED)


def test_the_recording_is_a_real_network_stream() -> None:
    assert len(EXPECTED) > 50
    assert all(event is not None and event.type == "network" for event in EXPECTED)


def test_a_stream_fed_one_byte_at_a_time_yields_every_event_in_order() -> None:
    # Every byte boundary of the recording is a chunk boundary here.
    assert frame([RECORDED[i : i + 1] for i in range(len(RECORDED))]) == EXPECTED


def test_every_single_cut_of_the_first_events_yields_them_unchanged() -> None:
    head = b"".join(line + b"\n" for line in LINES[:4])
    expected = events_of(head)
    for cut in range(len(head) + 1):
        assert frame([head[:cut], head[cut:]]) == expected, f"cut at byte {cut}"


def test_the_whole_stream_in_one_chunk_yields_every_event() -> None:
    assert frame([RECORDED]) == EXPECTED


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(RECORDED)), max_size=40))
def test_any_cutting_of_the_stream_yields_the_same_events(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(RECORDED)]
    assert frame([RECORDED[a:b] for a, b in itertools.pairwise(points)]) == EXPECTED


def test_an_event_without_its_newline_is_delivered_at_once() -> None:
    # aiodocker frames by readline() and waits forever here (its issue 405).
    framer = JSONFramer(loads)
    assert framer.feed(b'{"a": 1}') == [{"a": 1}]
    assert framer.feed(b'{"b"') == []
    assert framer.feed(b": 2}") == [{"b": 2}]
    assert framer.pending == 0


def test_several_values_on_one_line_and_values_spread_over_lines() -> None:
    framer = JSONFramer(loads)
    assert framer.feed(b'{"a":1}{"b":2} {"c":3}\n') == [{"a": 1}, {"b": 2}, {"c": 3}]
    assert framer.feed(b'{\n  "pretty": [1,\n 2]\n') == []
    assert framer.feed(b"}\n") == [{"pretty": [1, 2]}]


def test_blank_lines_and_crlf_are_ignored() -> None:
    assert frame([b"\n\r\n", LINES[0] + b"\r\n\r\n", b"  \n", LINES[1] + b"\n"]) == EXPECTED[:2]


def test_a_character_split_across_chunks_is_reassembled() -> None:
    event = json.loads(LINES[0])
    event["Actor"]["Attributes"]["name"] = "réseau-🐳"
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    for cut in range(len(data) + 1):
        framer = JSONFramer(lambda raw: parse_event(raw, "n1"))
        # No newline at all: each cut goes through the no-newline path.
        out = framer.feed(data[:cut]) + framer.feed(data[cut:]) + framer.close()
        assert len(out) == 1
        assert out[0] is not None
        assert out[0].attributes["name"] == "réseau-🐳"


def test_a_bare_number_waits_for_its_end() -> None:
    framer = JSONFramer(loads)
    assert framer.feed(b"12") == []
    assert framer.feed(b"3\n") == [123]
    assert framer.feed(b"45") == []
    assert framer.close() == [45]


def test_a_line_that_is_not_json_is_dropped_alone_and_counted() -> None:
    framer = JSONFramer(loads)
    assert framer.feed(b'{"a": 1}\nHTTP/1.1 500 oops\n{"b": 2}\n') == [{"a": 1}, {"b": 2}]
    assert framer.skipped == 1
    # The next chunk starts on a line boundary: nothing of it is lost.
    assert framer.feed(b'{"c": 3}\n') == [{"c": 3}]
    assert framer.skipped == 1


def test_garbage_in_an_unfinished_value_is_an_error() -> None:
    framer = JSONFramer(loads)
    assert framer.feed(b'{"a": 1} oops') == []  # no newline yet: it may still end
    with pytest.raises(FramingError, match="not JSON"):
        framer.close()


def test_a_stream_that_ends_inside_a_value_is_an_error() -> None:
    framer = JSONFramer(loads)
    assert framer.feed(b'{"a": [1, 2') == []
    with pytest.raises(FramingError, match="ended inside"):
        framer.close()


def test_a_value_growing_past_the_limit_is_an_error_and_frees_its_buffer() -> None:
    framer = JSONFramer(loads, max_frame=1024)
    framer.feed(b'{"a": "' + b"x" * 1000)
    with pytest.raises(FramingError, match="grew past 1024 bytes"):
        framer.feed(b"x" * 100)
    assert framer.pending == 0


def test_after_lost_bytes_framing_resumes_at_the_next_line() -> None:
    framer = JSONFramer(lambda raw: parse_event(raw, "n1"))
    assert framer.feed(LINES[0][:40]) == []
    framer.discard()  # the rest of that event was dropped
    tail_of_another = LINES[1][25:] + b"\n"
    assert framer.feed(tail_of_another + LINES[2] + b"\n") == [EXPECTED[2]]
