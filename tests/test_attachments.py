"""Attachments on real engines: connect, disconnect, endpoints, networks at container create.

Bridges and macvlan on node1; the worker test uses the plugin's ``swarm_cluster``
(node1 manager, node2 a worker).
"""

from __future__ import annotations

from typing import Any

import pytest
from _containers import Tracker, unique_prefix

import swarmnet
from swarmnet._networks.models import (
    attachment_in,
    endpoint_from,
    link_key,
    own_names,
    user_aliases,
)
from swarmnet.lab import Lab

pytestmark = pytest.mark.anyio

# -- reading a container's attachments from its inspect payload (no engine) -------------

# ``GET /containers/t4/json`` of a 20.10 engine (trimmed to what networking reads): t4 was
# connected to the attachable overlay ``app0`` with the alias "t4" (its own name), and
# the engine added its short id; it also sits on the default bridge.
RECORDED_CONTAINER: dict[str, Any] = {
    "Id": "41193372a0895a4dd2c7fff041fd3b15becc62cb62b4601caa0ac737ff1a6268",
    "Name": "/t4",
    "NetworkSettings": {
        "Networks": {
            "app0": {
                "IPAMConfig": {"IPv4Address": "10.0.1.2"},
                "Links": None,
                "Aliases": ["t4", "41193372a089"],
                "NetworkID": "gsx0tq6ggqndpj35y4hrzmv8q",
                "EndpointID": "97896a301a107f30596388dc57e6895100f404633524d0c1d204219b7ccaa063",
                "Gateway": "",
                "IPAddress": "10.0.1.2",
                "IPPrefixLen": 24,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": "02:42:0a:00:01:02",
                "DriverOpts": None,
            },
            "bridge": {
                "IPAMConfig": None,
                "Links": ["/db:/t4/database"],
                "Aliases": None,
                "NetworkID": "876552d257e9b0de66d898154be6729ffb37e440a14e4887a62b9f5ec792d227",
                "EndpointID": "42899cdbf1ce3198d68039280ceb4a48ea3326b9d307dc3728a65328f02549b5",
                "Gateway": "172.31.1.1",
                "IPAddress": "172.31.1.2",
                "IPPrefixLen": 24,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": "02:42:ac:1f:01:02",
                "DriverOpts": None,
            },
        }
    },
}


def test_an_attachment_is_found_by_network_name_id_or_id_prefix() -> None:
    for ref in ("app0", "gsx0tq6ggqndpj35y4hrzmv8q", "gsx0tq6ggqnd"):
        found = attachment_in(RECORDED_CONTAINER, ref)
        assert found is not None, ref
        assert found[0] == "app0"
    assert attachment_in(RECORDED_CONTAINER, "gsx0") is None  # too short to be an id
    assert attachment_in(RECORDED_CONTAINER, "other") is None
    assert attachment_in({"Id": "x"}, "app0") is None


def test_an_endpoint_is_typed_from_the_payload_without_the_containers_own_names() -> None:
    name, settings = attachment_in(RECORDED_CONTAINER, "app0") or ("", None)
    assert settings is not None
    endpoint = endpoint_from(RECORDED_CONTAINER, name, settings)
    assert endpoint.container_name == "t4"
    assert endpoint.network_name == "app0"
    assert endpoint.network_id == "gsx0tq6ggqndpj35y4hrzmv8q"
    assert str(endpoint.ipv4_address) == "10.0.1.2/24"
    assert endpoint.ipv6_address is None
    assert str(endpoint.requested_ipv4) == "10.0.1.2"
    assert endpoint.aliases == ()
    assert own_names(RECORDED_CONTAINER) == {
        "t4",
        "41193372a089",
        "41193372a0895a4dd2c7fff041fd3b15becc62cb62b4601caa0ac737ff1a6268",
    }
    assert user_aliases(RECORDED_CONTAINER, ["t4", "api", "41193372a089", "api"]) == ("api",)


def test_links_compare_however_the_engine_stored_them() -> None:
    name, settings = attachment_in(RECORDED_CONTAINER, "bridge") or ("", None)
    assert settings is not None
    endpoint = endpoint_from(RECORDED_CONTAINER, name, settings)
    assert endpoint.links == ("/db:/t4/database",)
    assert endpoint.requested_ipv4 is None
    assert {link_key(link) for link in endpoint.links} == {link_key("db:database")}
    assert link_key("db") == "db:db"


# -- on real engines -------------------------------------------------------------------


@pytest.fixture
def prefix() -> str:
    return unique_prefix("ta")


@pytest.fixture
async def bridge(engine: swarmnet.Engine, prefix: str, tracker: Tracker) -> swarmnet.Network:
    return await engine.networks.create(
        swarmnet.BridgeSpec(name=f"{prefix}net", pools=[{"subnet": "10.211.0.0/24"}])
    )


@pytest.mark.lab
async def test_a_running_container_is_connected_with_aliases_and_a_static_address(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    container = await tracker.run(engine, f"{prefix}app")

    endpoint = await engine.networks.connect(
        bridge.name, container, aliases=("api", "svc"), ipv4="10.211.0.42"
    )

    assert isinstance(endpoint, swarmnet.models.Endpoint)
    assert endpoint.network_id == bridge.id
    assert endpoint.network_name == bridge.name
    assert endpoint.container_id == container
    assert endpoint.container_name == f"{prefix}app"
    assert set(endpoint.aliases) == {"api", "svc"}
    assert str(endpoint.ipv4_address) == "10.211.0.42/24"
    assert str(endpoint.requested_ipv4) == "10.211.0.42"
    assert endpoint.mac_address
    assert await engine.networks.endpoints(bridge.name) == (endpoint,)


@pytest.mark.lab
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


@pytest.mark.lab
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


@pytest.mark.lab
async def test_connecting_again_with_other_settings_says_what_differs(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    container = await tracker.run(engine, f"{prefix}clash")
    await engine.networks.connect(bridge.name, container, aliases=("one",))

    with pytest.raises(swarmnet.errors.AttachmentConflict) as excinfo:
        await engine.networks.connect(bridge.name, container, aliases=("two",), ipv4="10.211.0.9")

    message = str(excinfo.value)
    assert "aliases ['one'] besides its name and short id (asked for ['two'])" in message
    assert "(asked for 10.211.0.9)" in message
    assert "disconnect it first" in message


@pytest.mark.lab
async def test_disconnect_detaches_and_reports_whether_anything_was_attached(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, bridge: swarmnet.Network
) -> None:
    container = await tracker.run(engine, f"{prefix}leaver")
    await engine.networks.connect(bridge.name, container)

    assert await engine.networks.disconnect(bridge.name, container) is True
    assert await engine.networks.endpoints(bridge.name) == ()
    assert await engine.networks.disconnect(bridge.name, container, force=True) is False


@pytest.mark.lab
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


@pytest.mark.lab
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


@pytest.mark.lab
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


@pytest.mark.lab
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


@pytest.mark.lab
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


@pytest.mark.lab
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

    # Other settings are a conflict that quotes what was asked as it was asked (it said
    # "asked for []" when the name alone was asked).
    with pytest.raises(swarmnet.errors.AttachmentConflict) as raised:
        await engine.networks.connect(bridge.name, container, aliases=(name,))
    assert f"(asked for ['{name}']" in str(raised.value)
    assert "['extra'] besides its name and short id" in str(raised.value)


@pytest.mark.lab
async def test_a_full_overlay_subnet_is_named_as_a_likely_cause_when_a_connect_times_out(
    swarm: swarmnet.Cluster, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    """The engine's own words for a full overlay are ``context deadline exceeded``."""
    # A /29: 8 addresses, less network, broadcast, gateway and this node's load balancer.
    overlay = await engine.networks.create(
        swarmnet.OverlaySpec(
            name=f"{prefix}full", attachable=True, pools=[{"subnet": "10.212.0.0/29"}]
        )
    )
    containers = [await tracker.run(engine, f"{prefix}f{i}") for i in range(5)]
    for container in containers[:4]:
        await engine.networks.connect(overlay.name, container)

    with pytest.raises(swarmnet.EngineAPIError) as excinfo:
        await engine.networks.connect(overlay.name, containers[4])

    message = str(excinfo.value)
    assert "context deadline exceeded" in excinfo.value.explanation
    assert "subnet may be full" in message
    assert "give the overlay a larger subnet" in message
