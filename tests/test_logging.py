"""swarmnet is silent unless the application turns logging on, and then follows its setup.

A small script reads ``engine.events()`` from a replayed event stream over
:class:`swarmnet.testing.MockTransport`, in a fresh interpreter, once per set-up in turn:
nothing configured, then ``logging.basicConfig``, then structlog configured by the
application (all events, then WARNING and up). Each phase writes a marker to stdout and
stderr first, so everything the script wrote can be told apart by phase. One
interpreter for the four keeps the fast tier fast; the phases run in the only order in
which each starts from what it claims (nothing is configured before the first).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

APP_LINE = re.compile(r"THE APP: read [56] events\n")  # the line after the garbage may go
ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).parent / "data" / "network_events.jsonl"
PHASES = ("none", "logging", "structlog", "structlog-warning")

# The stream holds a line that is not JSON, so swarmnet also logs at WARNING
# (events.unreadable, events.gap), not only at DEBUG.
SCRIPT = """
import logging
import sys
from pathlib import Path

import anyio
import structlog

import swarmnet
from swarmnet.testing import MockStream, MockTransport

lines = Path(sys.argv[1]).read_bytes().splitlines(keepends=True)


def handler(request):
    if request.path == "/events":
        return MockStream([lines[0], b"<html>502 Bad Gateway</html>\\n", *lines[1:6]])
    return None


async def main():
    transport = MockTransport(handler, name="replay")
    async with swarmnet.Engine(transport=transport) as engine:
        async with engine.events(until=2_000_000_000, on_gap="ignore") as events:
            read = [event async for event in events]
    print(f"THE APP: read {len(read)} events")


def setup(phase):
    if phase == "logging":
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s")
    elif phase.startswith("structlog"):
        logging.root.handlers.clear()  # this application configures structlog only
        logging.root.setLevel(logging.WARNING)
        structlog.configure(
            processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
            wrapper_class=structlog.make_filtering_bound_logger(
                logging.WARNING if phase == "structlog-warning" else logging.DEBUG
            ),
            logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        )


for phase in sys.argv[2:]:
    setup(phase)
    print(f"=== {phase}", flush=True)
    print(f"=== {phase}", file=sys.stderr, flush=True)
    anyio.run(main)
    sys.stdout.flush()
    sys.stderr.flush()
"""


def by_phase(text: str) -> dict[str, str]:
    """What was written after each ``=== phase`` marker, up to the next."""
    parts = re.split(r"^=== (\S+)\n", text, flags=re.MULTILINE)
    assert parts[0] == "", f"written before the first phase: {parts[0]!r}"
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """stdout and stderr of the script, by phase."""
    script = tmp_path_factory.mktemp("logging") / "reader.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(EVENTS), *PHASES],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    stdout, stderr = by_phase(done.stdout), by_phase(done.stderr)
    assert list(stdout) == list(stderr) == list(PHASES)
    return {phase: (stdout[phase], stderr[phase]) for phase in PHASES}


def test_with_no_logging_configured_swarmnet_prints_nothing(
    outputs: dict[str, tuple[str, str]],
) -> None:
    stdout, stderr = outputs["none"]

    # Only the application's own line, even though swarmnet logged warnings.
    assert APP_LINE.fullmatch(stdout)
    assert stderr == ""


def test_logging_basicconfig_shows_swarmnets_events_at_every_level(
    outputs: dict[str, tuple[str, str]],
) -> None:
    stdout, stderr = outputs["logging"]

    lines = stderr.splitlines()
    assert APP_LINE.fullmatch(stdout)
    assert any(
        line.startswith("DEBUG swarmnet.engine engine.opened engine='mock://replay' api_version=")
        for line in lines
    )
    assert any(
        line.startswith("DEBUG swarmnet.events events.subscribed engine='mock://replay'")
        for line in lines
    )
    assert any(
        line.startswith("WARNING swarmnet.events events.unreadable engine='mock://replay'")
        for line in lines
    )
    assert any("events.gap" in line and "reason='unreadable'" in line for line in lines)


@pytest.mark.parametrize("setup", ["structlog", "structlog-warning"])
def test_when_the_application_configures_structlog_events_follow_it(
    outputs: dict[str, tuple[str, str]], setup: str
) -> None:
    stdout, stderr = outputs[setup]

    lines = stdout.splitlines()
    assert APP_LINE.fullmatch(lines[-1] + "\n")
    records = [json.loads(line) for line in lines[:-1]]
    events = {(r["event"], r["level"]) for r in records}
    assert ("events.unreadable", "warning") in events
    assert ("events.gap", "warning") in events
    if setup == "structlog":
        assert ("engine.opened", "debug") in events
        assert ("events.subscribed", "debug") in events
    else:
        # The application's level filter applies to swarmnet's events too.
        assert {level for _, level in events} == {"warning"}
    # Bound context comes as fields, and nothing went to the logging module's output.
    assert all(r["engine"] == "mock://replay" for r in records)
    assert stderr == ""
