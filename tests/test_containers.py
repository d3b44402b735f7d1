"""Standalone containers on networks: run with networks at create, exec, remove."""

from __future__ import annotations

import uuid

import pytest

import swarmnet
from swarmnet.lab import LAB_IMAGE, Lab

pytestmark = [pytest.mark.anyio, pytest.mark.lab]


async def test_run_on_a_user_bridge_with_an_alias_then_exec_and_remove(lab: Lab) -> None:
    prefix = f"ct-{uuid.uuid4().hex[:6]}"
    async with lab.nodes[0].engine() as engine:
        await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}-br"))
        try:
            server = await engine.containers.run(
                LAB_IMAGE,
                ["sleep", "300"],
                name=f"{prefix}-server",
                networks=[swarmnet.EndpointConfig(network=f"{prefix}-br", aliases=("db",))],
            )
            client = await engine.containers.run(
                LAB_IMAGE, ["sleep", "300"], name=f"{prefix}-client", networks=[f"{prefix}-br"]
            )
            assert server.running
            assert server.name == f"{prefix}-server"
            assert "db" in server.networks[f"{prefix}-br"].aliases
            assert server.networks[f"{prefix}-br"].ip_address is not None

            by_alias = await engine.containers.exec(client.id, "ping", "-c", "1", "-W", "2", "db")
            assert by_alias.ok, by_alias.output
            missing = await engine.containers.exec(client.id, "cat", "/no/such/file")
            assert missing.exit_code != 0
            assert "No such file" in missing.output
        finally:
            for name in (f"{prefix}-client", f"{prefix}-server"):
                await engine.containers.remove(name)
            await engine.networks.remove(f"{prefix}-br")
        with pytest.raises(swarmnet.NotFound):
            await engine.containers.get(f"{prefix}-server")


async def test_a_container_on_a_missing_network_leaves_nothing_behind(lab: Lab) -> None:
    name = f"ct-{uuid.uuid4().hex[:6]}"
    async with lab.nodes[0].engine() as engine:
        with pytest.raises(swarmnet.NotFound):
            await engine.containers.run(
                LAB_IMAGE, ["sleep", "5"], name=name, networks=[f"{name}-nonet"]
            )
        with pytest.raises(swarmnet.NotFound):
            await engine.containers.get(name)
