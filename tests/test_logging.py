"""swarmnet is silent unless the application turns logging on, and then follows its setup.

Each case runs a small script in a fresh interpreter (logging and structlog set-ups are
process-wide) that reads ``engine.events()`` from a replayed event stream over
:class:`swarmnet.testing.MockTransport`, and looks at everything it wrote.
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

SETUP = sys.argv[1]
if SETUP == "logging":
    logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s %(message)s")
elif SETUP.startswith("structlog"):
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.WARNING if SETUP == "structlog-warning" else logging.DEBUG
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )

lines = Path(sys.argv[2]).read_bytes().splitlines(keepends=True)


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


anyio.run(main)
"""


SETUPS = ("none", "logging", "structlog", "structlog-warning")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """stdout and stderr of the script under each set-up (the four run side by side)."""
    script = tmp_path_factory.mktemp("logging") / "reader.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    running = {
        setup: subprocess.Popen(
            [sys.executable, str(script), setup, str(EVENTS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for setup in SETUPS
    }
    done: dict[str, tuple[str, str]] = {}
    for setup, process in running.items():
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, f"{setup}: {stderr}"
        done[setup] = (stdout, stderr)
    return done


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
    assert "DEBUG swarmnet.engine engine.opened engine='mock://replay' api_version='1.41'" in (
        "\n".join(lines)
    )
    assert any(
        line.startswith("DEBUG swarmnet.events events.subscribed engine='mock://replay'")
        for line in lines
    )
    assert any(
        line.startswith("WARNING swarmnet.events events.unreadable engine='mock://replay'")
        for line in lines
    )
    assert any("events.gap" in line and "reason='overflow'" in line for line in lines)


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
