"""What networks do to traffic, observed from inside real containers on lab engines.

Each test makes its networks with swarmnet and busybox containers with raw engine
calls, then runs ``ping``/``nslookup`` in the containers and reads the exit code.
Name lookups ask the engine's embedded DNS at 127.0.0.11 directly, and every ping
targets a container or the lab bridge: nothing leaves this machine. Every negative
check has a positive twin in the same test, so a broken setup cannot pass as
"unreachable". Overlays use the plugin's ``swarm_cluster`` (node1 manager, node2 a
worker).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from _containers import (
    Tracker,
    can_ping,
    container_address,
    exec_in,
    resolve_eventually,
    unique_prefix,
)

import swarmnet
from swarmnet.lab import Lab

pytestmark = [pytest.mark.anyio, pytest.mark.lab]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "03_attachable_overlay.py"


@pytest.fixture
def prefix() -> str:
    return unique_prefix("tc")


async def _bridge(engine: swarmnet.Engine, name: str, **fields: object) -> swarmnet.Network:
    return await engine.networks.create(swarmnet.BridgeSpec(name=name, **fields))


async def test_standalone_containers_on_two_nodes_reach_each_other_over_an_attachable_overlay(
    swarm: swarmnet.Cluster, lab: Lab, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    overlay = await engine.networks.create(
        swarmnet.OverlaySpec(name=f"{prefix}ov", attachable=True)
    )
    async with lab.nodes[1].engine() as worker:
        tracker.watch_networks(worker, prefix)
        here = await tracker.run(engine, f"{prefix}here", network=overlay.name)
        there = await tracker.run(worker, f"{prefix}there", network=overlay.name)
        there_address = await container_address(worker, there, overlay.name)
        here_address = await container_address(engine, here, overlay.name)

        looked_up = await resolve_eventually(engine, here, f"{prefix}there")
        assert looked_up.exit_code == 0, looked_up.output
        assert there_address in looked_up.output
        assert await can_ping(engine, here, f"{prefix}there")
        assert await can_ping(engine, here, there_address)
        assert await can_ping(worker, there, f"{prefix}here")
        assert await can_ping(worker, there, here_address)


async def test_user_defined_bridges_resolve_names_and_the_default_bridge_does_not(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    user = await _bridge(engine, f"{prefix}named")
    a = await tracker.run(engine, f"{prefix}a", network=user.name)
    await tracker.run(engine, f"{prefix}b", network=user.name)
    on_default = await tracker.run(engine, f"{prefix}d1", network="bridge")
    peer = await tracker.run(engine, f"{prefix}d2", network="bridge")

    assert (await exec_in(engine, a, "nslookup", f"{prefix}b", "127.0.0.11")).exit_code == 0
    assert await can_ping(engine, a, f"{prefix}b")

    # On the default bridge the peer is reachable, but no resolver knows its name.
    assert await can_ping(engine, on_default, await container_address(engine, peer, "bridge"))
    lookup = await exec_in(engine, on_default, "nslookup", f"{prefix}d2", "127.0.0.11")
    assert lookup.exit_code != 0
    hosts = await exec_in(engine, on_default, "cat", "/etc/hosts")
    assert f"{prefix}d2" not in hosts.output


async def test_containers_on_two_different_bridges_cannot_reach_each_other(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    left = await _bridge(engine, f"{prefix}left")
    right = await _bridge(engine, f"{prefix}right")
    a = await tracker.run(engine, f"{prefix}a", network=left.name)
    neighbour = await tracker.run(engine, f"{prefix}n", network=left.name)
    b = await tracker.run(engine, f"{prefix}b", network=right.name)

    assert await can_ping(engine, a, await container_address(engine, neighbour, left.name))
    assert not await can_ping(engine, a, await container_address(engine, b, right.name))


async def test_a_running_container_is_connected_and_disconnected_and_reachability_follows(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    home = await _bridge(engine, f"{prefix}home")
    away = await _bridge(engine, f"{prefix}away")
    mover = await tracker.run(engine, f"{prefix}mover", network=home.name)
    target = await tracker.run(engine, f"{prefix}target", network=away.name)
    target_address = await container_address(engine, target, away.name)
    started = (await engine._transport.request("GET", f"containers/{mover}/json"))["State"]

    assert not await can_ping(engine, mover, target_address)
    await engine.networks.connect(away.name, mover)
    assert await can_ping(engine, mover, target_address)
    assert await can_ping(engine, mover, f"{prefix}target")
    await engine.networks.disconnect(away.name, mover)
    assert not await can_ping(engine, mover, target_address)

    after = (await engine._transport.request("GET", f"containers/{mover}/json"))["State"]
    assert after["StartedAt"] == started["StartedAt"]  # never restarted
    assert after["Running"] is True


async def test_a_container_on_two_networks_reaches_peers_on_both(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    front = await _bridge(engine, f"{prefix}front")
    back = await _bridge(engine, f"{prefix}back")
    web = await tracker.run(engine, f"{prefix}web", network=front.name)
    db = await tracker.run(engine, f"{prefix}db", network=back.name)
    app = await tracker.run(
        engine, f"{prefix}app", networking=swarmnet.attach(front.name, back.name)
    )

    assert await can_ping(engine, app, f"{prefix}web")
    assert await can_ping(engine, app, f"{prefix}db")
    # The two peers still cannot reach each other: only app is on both.
    assert not await can_ping(engine, web, await container_address(engine, db, back.name))


async def test_an_internal_network_has_no_route_out(
    lab: Lab, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    internal = await _bridge(engine, f"{prefix}internal", internal=True)
    normal = await _bridge(engine, f"{prefix}normal")
    inside = await tracker.run(engine, f"{prefix}inside", network=internal.name)
    outside = await tracker.run(engine, f"{prefix}outside", network=normal.name)
    inside_peer = await tracker.run(engine, f"{prefix}peer", network=internal.name)

    # The lab bridge's own address and another lab node are this machine: reachable
    # from a normal bridge, not from the internal network (the engine drops its
    # traffic to anything outside the network).
    for target in (lab.bridge_address, lab.nodes[1].address):
        assert await can_ping(engine, outside, target)
        assert not await can_ping(engine, inside, target)
    # Containers on the internal network still reach each other.
    assert await can_ping(engine, inside, f"{prefix}peer")
    assert inside_peer


async def test_the_attachable_overlay_example_runs_against_the_lab(swarm: None, lab: Lab) -> None:
    env = dict(os.environ)
    env["SWARMNET_EXAMPLE_HOSTS"] = ",".join(n.docker_host for n in lab.nodes[:2])

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(EXAMPLE)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    result = await anyio.to_thread.run_sync(run)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "overlay swarmnet-example-overlay: created" in out
    assert "second ensure: unchanged" in out
    assert "node2 does not list it yet" in out
    assert "alpha on node1 -> beta on node2 by name: reachable" in out
    assert "beta on node2 -> alpha on node1 by name: reachable" in out
    assert f"peers: {lab.nodes[0].address}, {lab.nodes[1].address}" in out
    assert "cleaned up" in out
