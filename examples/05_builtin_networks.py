"""The networks swarm mode gives every node, the default bridge's daemon.json, and doctor.

What it shows:
  * ``swarmnet.ingress`` on each node: the routing mesh's subnet, MTU, VXLAN id and the
    peers (nodes) this node knows hold it; outside a swarm, a clear ``NotInSwarm``.
  * ``swarmnet.gwbridge`` on each node: docker_gwbridge's subnet and options, or the
    typed "not created yet" answer with its reason.
  * ``DaemonBridgeConfig`` and ``merge_daemon_json``: the default bridge's keys written
    into a daemon.json (a scratch copy here) without losing the keys already there, and a
    ``fixed-cidr`` outside ``bip`` refused before anything is written.
  * ``swarmnet.doctor`` over all the engines given.

Run it against the engines of one swarm (or of none)::

    SWARMNET_EXAMPLE_HOSTS=unix:///run/swarmnet-lab/demo/node1/docker.sock,\
unix:///run/swarmnet-lab/demo/node2/docker.sock python examples/05_builtin_networks.py

or give the docker hosts as arguments (default: ``DOCKER_HOST``). It changes nothing on
the engines.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import anyio

import swarmnet


def hosts_from_args() -> list[str]:
    given = sys.argv[1:] or os.environ.get("SWARMNET_EXAMPLE_HOSTS", "").split(",")
    return [h for h in given if h] or [os.environ.get("DOCKER_HOST", "")]


async def show_builtin_networks(engine: swarmnet.Engine) -> None:
    try:
        mesh = await swarmnet.ingress(engine)
    except swarmnet.NotInSwarm as exc:
        print(f"{engine.name}: no ingress: {exc.message}")
    except swarmnet.NetworkNotFound as exc:
        print(f"{engine.name}: no ingress here: {exc.message}")
    else:
        peers = ", ".join(sorted(mesh.peer_addresses)) or "none yet"
        print(
            f"{engine.name}: ingress {mesh.name} subnet {mesh.subnet} gateway {mesh.gateway} "
            f"mtu {mesh.effective_mtu} vxlan {list(mesh.vxlan_ids)}; "
            f"{len(mesh.peers)} peers: {peers}"
        )
    bridge = await swarmnet.gwbridge(engine)
    if isinstance(bridge, swarmnet.models.GatewayBridge):
        print(
            f"{engine.name}: docker_gwbridge subnet {bridge.subnet} icc={bridge.icc} "
            f"masquerade={bridge.ip_masquerade} endpoints={[e.name for e in bridge.endpoints]}"
        )
    else:
        print(f"{engine.name}: docker_gwbridge not created yet: {bridge.reason}")


def show_daemon_json() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "daemon.json"
        path.write_text(json.dumps({"log-level": "warn", "features": {"buildkit": True}}))
        bridge = swarmnet.daemon.DaemonBridgeConfig(
            bip="10.200.0.1/24",
            fixed_cidr="10.200.0.128/25",
            mtu=1450,
            default_address_pools=[swarmnet.daemon.AddressPool(base="10.201.0.0/16", size=24)],
        )
        swarmnet.daemon.merge_daemon_json(path, bridge)
        print("daemon.json after the merge (log-level and features kept):")
        print(path.read_text().rstrip())
        try:
            swarmnet.daemon.merge_daemon_json(
                path, swarmnet.daemon.DaemonBridgeConfig(fixed_cidr="10.201.0.0/25")
            )
        except swarmnet.InvalidSpec as exc:
            print(f"refused: {str(exc).split(': ', 1)[1]}")


async def main() -> None:
    async with swarmnet.open_engines(hosts_from_args()) as engines:
        for engine in engines:
            await show_builtin_networks(engine)
        show_daemon_json()
        report = await swarmnet.doctor(engines)
        print(report.render())


if __name__ == "__main__":
    anyio.run(main)
