"""remove_gwbridge / create_gwbridge on a node that has just left its swarm (no engine).

After ``docker swarm leave`` returns, the engine takes the old ingress sandbox off
``docker_gwbridge`` a moment later (a CI run met it: NetworkInUse right after a leave).
Whether a real engine is that slow at a given moment cannot be had on demand, so the
waiting logic is driven here by a pretend engine that keeps the sandbox for a few reads;
tests/test_builtin_networks.py checks remove right after a real leave on the lab.
"""

from __future__ import annotations

from typing import Any

import pytest

import swarmnet
from swarmnet.testing import MockRequest, MockResponse, MockTransport

pytestmark = pytest.mark.anyio

NOT_IN_SWARM = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
BRIDGE_ID = "b" * 64
NEW_ID = "a" * 64
SANDBOX = {
    "ingress-sbox": {
        "Name": "gateway_ingress-sbox",
        "EndpointID": "e" * 64,
        "MacAddress": "02:42:ac:12:00:02",
        "IPv4Address": "172.18.0.2/16",
        "IPv6Address": "",
    }
}
CONTAINER = {
    "c" * 64: {
        "Name": "gateway_0123456789ab",
        "EndpointID": "f" * 64,
        "MacAddress": "02:42:ac:12:00:03",
        "IPv4Address": "172.18.0.3/16",
        "IPv6Address": "",
    }
}


class LeavingNode:
    """A node whose docker_gwbridge holds ``endpoints`` for the first ``held`` reads."""

    def __init__(
        self, *, state: str = "inactive", held: int = 0, endpoints: dict[str, Any] | None = None
    ) -> None:
        self.state = state
        self.held = held
        self.endpoints = SANDBOX if endpoints is None else endpoints
        self.bridge_reads = 0
        self.removed = False

    def __call__(self, request: MockRequest) -> Any:
        if request.path == "/swarm":
            # As dockerd answers: a node in no swarm says so; any other is asked /info.
            message = NOT_IN_SWARM if self.state == "inactive" else "not a manager"
            return MockResponse.error(503, message)
        if request.path == "/info":
            return {"ID": "x", "Name": "n4", "Swarm": {"LocalNodeState": self.state}}
        if request.path == "/networks/docker_gwbridge" and request.method == "GET":
            self.bridge_reads += 1
            return self._bridge(self.endpoints if self.bridge_reads <= self.held else {})
        if request.path == f"/networks/{BRIDGE_ID}" and request.method == "GET":
            return self._bridge(self.endpoints if self.bridge_reads <= self.held else {})
        if request.path == f"/networks/{BRIDGE_ID}" and request.method == "DELETE":
            self.removed = True
            return None
        if request.path == "/networks/create":
            return {"Id": NEW_ID, "Warning": ""}
        if request.path == f"/networks/{NEW_ID}":
            return self._bridge({}, network_id=NEW_ID, subnet="10.99.0.0/24")
        return None

    @staticmethod
    def _bridge(
        containers: dict[str, Any], *, network_id: str = BRIDGE_ID, subnet: str = "172.18.0.0/16"
    ) -> dict[str, Any]:
        return {
            "Name": "docker_gwbridge",
            "Id": network_id,
            "Created": "2026-12-02T10:00:00.000000000Z",
            "Scope": "local",
            "Driver": "bridge",
            "IPAM": {"Driver": "default", "Config": [{"Subnet": subnet}]},
            "Containers": containers,
            "Options": {
                "com.docker.network.bridge.enable_icc": "false",
                "com.docker.network.bridge.enable_ip_masquerade": "true",
                "com.docker.network.bridge.name": "docker_gwbridge",
            },
            "Labels": {},
        }


def _writes(transport: MockTransport) -> list[str]:
    return [f"{r.method} {r.path}" for r in transport.requests if r.method != "GET"]


async def test_remove_waits_for_the_sandbox_of_a_swarm_just_left() -> None:
    node = LeavingNode(held=3)
    transport = MockTransport(node, name="n4")
    async with swarmnet.Engine(transport=transport) as engine:
        assert await swarmnet.remove_gwbridge(engine) is True
    assert node.bridge_reads == 4
    assert _writes(transport) == [f"DELETE /networks/{BRIDGE_ID}"]


async def test_remove_gives_up_after_settle_and_says_to_restart_the_engine() -> None:
    node = LeavingNode(held=10**6)
    transport = MockTransport(node, name="n4")
    async with swarmnet.Engine(transport=transport) as engine:
        with pytest.raises(swarmnet.NetworkInUse, match=r"0\.5 s after it left.*restart") as raised:
            await swarmnet.remove_gwbridge(engine, settle=0.5)
    assert raised.value.containers == ("gateway_ingress-sbox",)
    assert node.bridge_reads > 1  # it did wait
    assert _writes(transport) == []


@pytest.mark.parametrize(
    ("state", "endpoints", "advice"),
    [
        ("active", SANDBOX, "leave the swarm first"),
        ("pending", SANDBOX, "leave the swarm first"),
        ("inactive", CONTAINER, "stop or disconnect those containers"),
        ("inactive", {**SANDBOX, **CONTAINER}, "stop or disconnect those containers"),
    ],
)
async def test_remove_fails_at_once_when_not_just_a_left_swarms_sandbox(
    state: str, endpoints: dict[str, Any], advice: str
) -> None:
    node = LeavingNode(state=state, held=10**6, endpoints=endpoints)
    transport = MockTransport(node, name="n4")
    async with swarmnet.Engine(transport=transport) as engine:
        with pytest.raises(swarmnet.NetworkInUse, match=advice):
            await swarmnet.remove_gwbridge(engine)
    assert node.bridge_reads == 1
    assert _writes(transport) == []


async def test_create_without_replace_says_the_sandbox_goes_in_a_moment() -> None:
    node = LeavingNode(held=10**6)
    transport = MockTransport(node, name="n4")
    spec = swarmnet.GatewayBridgeSpec(subnet="10.99.0.0/24")
    async with swarmnet.Engine(transport=transport) as engine:
        with pytest.raises(swarmnet.NetworkInUse, match=r"just left.*a moment later"):
            await swarmnet.create_gwbridge(engine, spec)
    assert _writes(transport) == []


async def test_create_with_replace_waits_then_replaces() -> None:
    node = LeavingNode(held=2)
    transport = MockTransport(node, name="n4")
    spec = swarmnet.GatewayBridgeSpec(subnet="10.99.0.0/24")
    async with swarmnet.Engine(transport=transport) as engine:
        made = await swarmnet.create_gwbridge(engine, spec, replace=True)
    assert (made.id, str(made.subnet)) == (NEW_ID, "10.99.0.0/24")
    assert node.bridge_reads == 3
    assert _writes(transport) == [f"DELETE /networks/{BRIDGE_ID}", "POST /networks/create"]


@pytest.mark.parametrize("settle", [-1.0, float("nan")])
async def test_a_negative_settle_is_refused_before_any_request(settle: float) -> None:
    node = LeavingNode(held=3)
    transport = MockTransport(node, name="n4")
    async with swarmnet.Engine(transport=transport) as engine:
        with pytest.raises(swarmnet.InvalidSpec, match="settle must be 0 or more seconds"):
            await swarmnet.remove_gwbridge(engine, settle=settle)
        with pytest.raises(swarmnet.InvalidSpec, match="settle must be 0 or more seconds"):
            await swarmnet.create_gwbridge(engine, settle=settle)
    assert [r.path for r in transport.requests] == ["/version"]
