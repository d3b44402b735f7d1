"""The README's demo runs end to end against lab engines and shows the whole mission."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

import swarmnet
from swarmnet.lab import Lab, LabNode
from swarmnet.lab.pytest_plugin import remove_gwbridges


async def _fresh(nodes: Sequence[LabNode]) -> None:
    async with swarmnet.open_engines([node.docker_host for node in nodes]) as engines:
        await swarmnet.dissolve(engines)
    await remove_gwbridges(nodes)


QUICKSTART = Path(__file__).parent.parent / "examples" / "quickstart.py"


@pytest.mark.lab
def test_quickstart_forms_a_swarm_runs_containers_and_a_service_and_prints_events(
    lab: Lab,
) -> None:
    # As on a fresh machine: no swarm, and no docker_gwbridge an earlier module left.
    anyio.run(_fresh, lab.nodes[:3])
    hosts = ",".join(node.docker_host for node in lab.nodes[:3])
    done = subprocess.run(
        [sys.executable, str(QUICKSTART), "--hosts", hosts],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr + out
    assert "Forming a swarm of 3 engines" in out
    assert "ingress on node1: subnet" in out
    assert "docker_gwbridge on node2: not created yet" in out
    assert "docker_gwbridge on node2 now exists" in out
    assert "by name: reachable" in out
    # A service on the same overlay: a task on every node, each answering by name.
    assert "3/3 running" in out
    tasks = [line for line in out.splitlines() if line.strip().startswith("task on node")]
    assert sorted(line.split()[2].rstrip(":") for line in tasks) == ["node1", "node2", "node3"]
    answered = next(line for line in out.splitlines() if "answered from" in line)
    assert "[]" not in answered, answered
    # Events arrive through callbacks, tagged with the node that reported them.
    event_lines = [line for line in out.splitlines() if line.strip().startswith("event")]
    assert any(" node1 " in line and " connect " in line for line in event_lines), out
    assert any(" node2 " in line and " connect " in line for line in event_lines), out
    # A controller connected a labelled container started with no network, reachable by name.
    assert re.search(r"late-\w+ started on node3 with no network: on the overlay in [\d.]+ s", out)
    assert re.search(r"node2 -> late-\w+ by name: reachable", out), out
    # A compose stack: planned, applied, then nothing left to change; its services talk.
    assert "+ service demo" in out, out
    assert "plan again: no changes" in out
    assert "probe -> http://api/ on the stack's own network: answered by" in out, out
    assert "Swarm dissolved." in out
