"""Attachments on real engines: connect, disconnect, endpoints, networks at container create.

Bridges and macvlan on node1; the worker test uses the plugin's ``swarm_cluster``
(node1 manager, node2 a worker).
"""

from __future__ import annotations

import pytest
from _containers import Tracker, unique_prefix

import swarmnet
from swarmnet.lab import Lab

pytestmark = [pytest.mark.anyio, pytest.mark.lab]


@pytest.fixture
def prefix() -> str:
    return unique_prefix("ta")


@pytest.fixture
async def bridge(engine: swarmnet.Engine, prefix: str, tracker: Tracker) -> swarmnet.Network:
    return await engine.networks.create(
        swarmnet.BridgeSpec(name=f"{prefix}net", pools=[{"subnet": "10.211.0.0/24"}])
    )


async def test_a_running_container_is_connected_with_aliases_and_a_static_address(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    container = await tracker.run(engine, f"{prefix}app")

    endpoint = await engine.networks.connect(
        bridge.name, container, aliases=("api", "svc"), ipv4="10.211.0.42"
    )

    assert isinstance(endpoint, swarmnet.Endpoint)
    assert endpoint.network_id == bridge.id
    assert endpoint.network_name == bridge.name
    assert endpoint.container_id == container
    assert endpoint.container_name == f"{prefix}app"
    assert set(endpoint.aliases) == {"api", "svc"}
    assert str(endpoint.ipv4_address) == "10.211.0.42/24"
    assert str(endpoint.requested_ipv4) == "10.211.0.42"
    assert endpoint.mac_address
    assert await engine.networks.endpoints(bridge.name) == (endpoint,)


async def test_a_created_container_is_connected_before_it_ever_runs(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    container = await tracker.run(engine, f"{prefix}later", start=False)

    await engine.networks.connect(bridge.name, container, aliases=("later",))
    # No endpoint until it runs; then it is on the network with its alias.
    assert await engine.networks.endpoints(bridge.name) == ()
    await engine._transport.request("POST", f"containers/{container}/start")
    (endpoint,) = await engine.networks.endpoints(bridge.name)
    assert endpoint.aliases == ("later",)
    assert endpoint.ipv4_address is not None
    assert endpoint.ipv4_address.ip in bridge.ipam.config[0].subnet  # type: ignore[operator]


async def test_connecting_again_with_the_same_settings_is_a_no_op(
    lab: Lab, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    calls: list[tuple[str, str]] = []
    async with swarmnet.Engine(
        lab.nodes[0].docker_host, on_request=lambda m, p: calls.append((m, p))
    ) as counted:
        container = await tracker.run(counted, f"{prefix}twice")
        first = await counted.networks.connect(bridge.name, container, aliases=("one",))
        calls.clear()
        again = await counted.networks.connect(bridge.name, container, aliases=("one",))

    assert again == first
    assert ("POST", f"networks/{bridge.name}/connect") not in calls


async def test_connecting_again_with_other_settings_says_what_differs(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    container = await tracker.run(engine, f"{prefix}clash")
    await engine.networks.connect(bridge.name, container, aliases=("one",))

    with pytest.raises(swarmnet.AttachmentConflict) as excinfo:
        await engine.networks.connect(bridge.name, container, aliases=("two",), ipv4="10.211.0.9")

    message = str(excinfo.value)
    assert "aliases ['one'] (asked for ['two'])" in message
    assert "(asked for 10.211.0.9)" in message
    assert "disconnect it first" in message


async def test_disconnect_detaches_and_reports_whether_anything_was_attached(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    container = await tracker.run(engine, f"{prefix}leaver")
    await engine.networks.connect(bridge.name, container)

    assert await engine.networks.disconnect(bridge.name, container) is True
    assert await engine.networks.endpoints(bridge.name) == ()
    assert await engine.networks.disconnect(bridge.name, container, force=True) is False


async def test_unknown_networks_and_containers_are_typed_errors(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    container = await tracker.run(engine, f"{prefix}lonely")
    with pytest.raises(swarmnet.NetworkNotFound, match=f"{prefix}missing"):
        await engine.networks.connect(f"{prefix}missing", container)
    with pytest.raises(swarmnet.NotFound, match=f"no container '{prefix}ghost'"):
        await engine.networks.connect(bridge.name, f"{prefix}ghost")
    with pytest.raises(swarmnet.EngineAPIError, match=r"10\.99\.0\.1"):
        await engine.networks.connect(bridge.name, container, ipv4="10.99.0.1")


async def test_a_container_is_created_on_several_networks_at_once(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    second = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}second"))
    networking = swarmnet.attach(
        swarmnet.EndpointConfig(network=bridge.name, aliases=("db",), ipv4="10.211.0.7"),
        swarmnet.EndpointConfig(network=second.name, aliases=("db-admin",)),
    )

    container = await tracker.run(engine, f"{prefix}multi", networking=networking)

    (on_first,) = await engine.networks.endpoints(bridge.name)
    (on_second,) = await engine.networks.endpoints(second.name)
    assert on_first.container_id == on_second.container_id == container
    assert on_first.aliases == ("db",)
    assert str(on_first.ipv4_address) == "10.211.0.7/24"
    assert on_second.aliases == ("db-admin",)


async def test_macvlan_with_parent_eth0_gives_a_container_an_address(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    macvlan = await engine.networks.create(
        swarmnet.MacvlanSpec(
            name=f"{prefix}mv", parent="eth0", mode="bridge", pools=[{"subnet": "10.212.0.0/24"}]
        )
    )
    container = await tracker.run(engine, f"{prefix}mvc")
    endpoint = await engine.networks.connect(macvlan.name, container, ipv4="10.212.0.20")
    assert str(endpoint.ipv4_address) == "10.212.0.20/24"


async def test_ipvlan_is_created_but_attaching_explains_the_missing_kernel_support(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    ipvlan = await engine.networks.create(
        swarmnet.IpvlanSpec(name=f"{prefix}iv", parent="eth0", pools=[{"subnet": "10.213.0.0/24"}])
    )
    assert ipvlan.options == {"parent": "eth0"}
    container = await tracker.run(engine, f"{prefix}ivc")
    with pytest.raises(swarmnet.EngineAPIError, match="no ipvlan support"):
        await engine.networks.connect(ipvlan.name, container)


async def test_a_worker_attaches_by_name_to_an_overlay_it_does_not_list_yet(
    swarm: swarmnet.Cluster, lab: Lab, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    overlay = await engine.networks.create(
        swarmnet.OverlaySpec(name=f"{prefix}ov", attachable=True)
    )
    async with lab.nodes[1].engine() as worker:
        tracker.watch_networks(worker, prefix)
        with pytest.raises(swarmnet.NetworkNotFound) as excinfo:
            await worker.networks.get(overlay.name)
        assert "swarm worker" in str(excinfo.value)
        assert "appears on a worker only once a container here attaches" in str(excinfo.value)

        container = await tracker.run(worker, f"{prefix}w")
        endpoint = await worker.networks.connect(overlay.name, container, aliases=("remote",))

        assert endpoint.network_id == overlay.id
        assert endpoint.aliases == ("remote",)
        assert (await worker.networks.get(overlay.name)).id == overlay.id
        # Disconnect on the worker before the module's swarm goes away.
        assert await worker.networks.disconnect(overlay.name, container) is True


async def test_an_alias_equal_to_the_containers_own_name_is_accepted_every_time(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    name = f"{prefix}self"
    container = await tracker.run(engine, name)

    first = await engine.networks.connect(bridge.name, container, aliases=(name, "extra"))
    again = await engine.networks.connect(bridge.name, container, aliases=(name, "extra"))

    assert again == first
    # The engine answers to the name and the short id by itself: neither is reported.
    assert first.aliases == ("extra",)
    raw = await engine._transport.request("GET", f"containers/{container}/json")
    assert name in raw["NetworkSettings"]["Networks"][bridge.name]["Aliases"]
