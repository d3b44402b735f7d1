"""Network specs: what is accepted, what is refused, and that refusals never reach an engine.

The first part builds specs without any engine. The property-based part generates
invalid specs of every driver with hypothesis, checks that each is refused, and sends
each to a real lab engine through ``create`` and ``ensure`` with a counter on the
engine's requests: not one request is made.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import swarmnet
from swarmnet._networks.drift import diff
from swarmnet.lab import Lab

pytestmark = pytest.mark.anyio

REFUSED = swarmnet.InvalidSpec  # never pydantic's own error
BRIDGE = {"driver": "bridge", "name": "n"}
OVERLAY = {"driver": "overlay", "name": "n"}


# -- what a valid spec sends -----------------------------------------------------------


def test_an_overlay_spec_becomes_the_engines_create_body() -> None:
    spec = swarmnet.OverlaySpec(
        name="app",
        attachable=True,
        encrypted=True,
        mtu=1400,
        vxlan_ids=(4242,),
        labels={"team": "net"},
        pools=[swarmnet.IPAMPool(subnet="10.42.0.0/24", gateway="10.42.0.254")],
    )
    assert spec.create_body() == {
        "Name": "app",
        "CheckDuplicate": True,
        "Driver": "overlay",
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Config": [{"Subnet": "10.42.0.0/24", "Gateway": "10.42.0.254"}],
            "Options": {},
        },
        "Internal": False,
        "Attachable": True,
        "Options": {
            "com.docker.network.driver.mtu": "1400",
            "com.docker.network.driver.overlay.vxlanid_list": "4242",
            "encrypted": "",
        },
        "Labels": {"team": "net"},
    }


def test_bridge_options_are_sent_in_the_engines_string_forms() -> None:
    spec = swarmnet.BridgeSpec(
        name="backend",
        bridge_name="br-backend",
        icc=False,
        ip_masquerade=True,
        host_binding_ipv4="127.0.0.1",
        mtu=1450,
        internal=True,
    )
    body = spec.create_body()
    assert body["Internal"] is True
    assert body["Options"] == {
        "com.docker.network.bridge.name": "br-backend",
        "com.docker.network.bridge.enable_icc": "false",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1",
        "com.docker.network.driver.mtu": "1450",
    }


def test_a_config_from_network_sends_neither_ipam_nor_options() -> None:
    config = swarmnet.ConfigOnlySpec(
        name="mv-config",
        parent="eth0",
        pools=[{"subnet": "192.168.90.0/24"}],
        extra_options={"macvlan_mode": "bridge"},
    )
    assert config.create_body()["ConfigOnly"] is True
    assert config.create_body()["Driver"] == "null"
    swarm_wide = swarmnet.MacvlanSpec(name="mv", scope="swarm", config_from="mv-config")
    body = swarm_wide.create_body()
    assert body["ConfigFrom"] == {"Network": "mv-config"}
    assert body["Scope"] == "swarm"
    assert "IPAM" not in body
    assert "Options" not in body


def test_a_mapping_validates_into_the_class_its_driver_names() -> None:
    spec = swarmnet.network_spec_from(
        {"driver": "ipvlan", "name": "l3net", "parent": "eth0", "mode": "l3", "flag": "private"}
    )
    assert isinstance(spec, swarmnet.IpvlanSpec)
    assert spec.driver_options() == {
        "parent": "eth0",
        "ipvlan_mode": "l3",
        "ipvlan_flag": "private",
    }
    assert spec.mode is swarmnet.models.IpvlanMode.L3


def test_specs_are_immutable() -> None:
    spec = swarmnet.BridgeSpec(name="frozen")
    with pytest.raises(ValidationError, match="frozen"):
        spec.name = "thawed"  # type: ignore[misc]


# -- what is refused, with messages that say why ----------------------------------------


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"driver": "bridge", "name": "a b"}, "not valid: use letters"),
        ({"driver": "bridge", "name": ""}, "empty"),
        ({"driver": "bridge", "name": "x" * 129}, "longer than 128"),
        (
            {**BRIDGE, "pools": [{"subnet": "10.1.0.7/24"}]},
            "did you mean 10.1.0.0/24",
        ),
        (
            {**BRIDGE, "pools": [{"subnet": "10.1.0.0"}]},
            "not a CIDR",
        ),
        (
            {
                "driver": "bridge",
                "name": "n",
                "pools": [{"subnet": "10.1.0.0/24", "gateway": "10.2.0.1"}],
            },
            "gateway 10.2.0.1 is outside subnet 10.1.0.0/24",
        ),
        (
            {
                "driver": "bridge",
                "name": "n",
                "pools": [{"subnet": "10.1.0.0/24", "gateway": "10.1.0.0"}],
            },
            "network address",
        ),
        (
            {
                "driver": "bridge",
                "name": "n",
                "pools": [{"subnet": "10.1.0.0/24", "gateway": "10.1.0.255"}],
            },
            "broadcast",
        ),
        (
            {
                "driver": "bridge",
                "name": "n",
                "pools": [{"subnet": "10.1.0.0/24", "ip_range": "10.1.1.0/25"}],
            },
            "ip_range 10.1.1.0/25 is not inside",
        ),
        (
            {
                "driver": "bridge",
                "name": "n",
                "pools": [{"subnet": "10.1.0.0/24", "aux_addresses": {"r": "10.9.0.1"}}],
            },
            "auxiliary address r=10.9.0.1 is outside",
        ),
        (
            {
                "driver": "overlay",
                "name": "n",
                "pools": [{"subnet": "10.1.0.0/16"}, {"subnet": "10.1.4.0/24"}],
            },
            "overlap",
        ),
        (
            {
                "driver": "bridge",
                "name": "n",
                "pools": [{"subnet": "10.1.0.0/24"}, {"subnet": "10.2.0.0/24"}],
            },
            "at most 1 IPv4 pool",
        ),
        (
            {**BRIDGE, "pools": [{"subnet": "fd00:1::/64"}]},
            "enable_ipv6",
        ),
        (
            {
                "driver": "overlay",
                "name": "n",
                "extra_options": {"com.docker.network.bridge.name": "b"},
            },
            "belongs to the bridge driver, not to overlay",
        ),
        (
            {**BRIDGE, "extra_options": {"parent": "eth0"}},
            "not to bridge",
        ),
        (
            {
                "driver": "bridge",
                "name": "n",
                "extra_options": {"com.docker.network.driver.mtu": "9000"},
            },
            "set by the field 'mtu'",
        ),
        ({"driver": "overlay", "name": "n", "bridge_name": "b0"}, "not a field of OverlaySpec"),
        ({"driver": "macvlan", "name": "n", "vxlan_ids": [5000]}, "not a field of MacvlanSpec"),
        ({"driver": "overlay", "name": "n", "mtu": 40}, "outside 68..65535"),
        ({"driver": "overlay", "name": "n", "vxlan_ids": [1 << 24]}, "outside 1..16777215"),
        ({"driver": "overlay", "name": "n", "vxlan_ids": [4097, 4098]}, "at most one id"),
        ({"driver": "bridge", "name": "n", "bridge_name": "a-very-long-bridge"}, "interface name"),
        ({"driver": "macvlan", "name": "n", "parent": "eth 0"}, "interface name"),
        ({"driver": "macvlan", "name": "n", "mode": "sideways"}, "mode"),
        ({"driver": "macvlan", "name": "n", "attachable": True}, "scope='swarm'"),
        (
            {"driver": "macvlan", "name": "n", "config_from": "cfg", "parent": "eth0"},
            "leave out parent",
        ),
        (
            {"driver": "null", "name": "n", "extra_options": {"macvlan_mode": "sideways"}},
            "macvlan_mode='sideways'",
        ),
        ({**BRIDGE, "pools": [{"subnet": "10.1.0.0/31"}]}, "10.1.0.0/31 has no room"),
        ({**BRIDGE, "pools": [{"subnet": "10.1.0.4/32"}]}, "10.1.0.4/32 has no room"),
        (
            {**OVERLAY, "enable_ipv6": True, "pools": [{"subnet": "fd00:1::/128"}]},
            "fd00:1::/128 has no room",
        ),
        ({**BRIDGE, "ipam_driver": "no such"}, "ipam_driver 'no such' is not a valid"),
        ({"driver": "weave", "name": "n"}, "does not match any of the expected tags"),
        ({"name": "n"}, "needs a 'driver'"),
    ],
)
def test_invalid_specs_are_refused_with_a_message_that_says_why(
    data: dict[str, Any], says: str
) -> None:
    with pytest.raises(REFUSED, match=says.replace("(", r"\(").replace("'", ".")):
        swarmnet.network_spec_from(data)


def test_attachment_specs_refuse_bad_aliases_and_the_default_bridge() -> None:
    with pytest.raises(swarmnet.InvalidSpec, match="not a valid DNS name"):
        swarmnet.EndpointConfig(network="n", aliases=("bad alias",))
    with pytest.raises(swarmnet.InvalidSpec, match="takes no aliases"):
        swarmnet.EndpointConfig(network="bridge", aliases=("web",))
    with pytest.raises(swarmnet.InvalidSpec, match="not an IPv4 address"):
        swarmnet.EndpointConfig(network="n", ipv4="fd00::1")
    with pytest.raises(swarmnet.InvalidSpec, match="appears twice"):
        swarmnet.attach("a", swarmnet.EndpointConfig(network="a", aliases=("x",)))


def test_container_create_carries_one_network_before_api_1_44_and_all_after() -> None:
    networking = swarmnet.attach(
        swarmnet.EndpointConfig(network="front", aliases=("web",), ipv4="10.5.0.9"), "back"
    )
    old = networking.create_fields("1.41")
    assert old["HostConfig"] == {"NetworkMode": "front"}
    assert old["NetworkingConfig"] == {
        "EndpointsConfig": {
            "front": {"IPAMConfig": {"IPv4Address": "10.5.0.9"}, "Aliases": ["web"]}
        }
    }
    assert [e.network for e in networking.deferred("1.41")] == ["back"]
    new = networking.networking_config("1.44")
    assert set(new["EndpointsConfig"]) == {"front", "back"}
    assert networking.deferred("1.44") == ()


# -- property-based: invalid specs of every driver never reach an engine ---------------

_DRIVERS = ("overlay", "bridge", "macvlan", "ipvlan", "null")
_OTHER_DRIVER_OPTION = {
    "overlay": "com.docker.network.bridge.enable_icc",
    "bridge": "com.docker.network.driver.overlay.vxlanid_list",
    "macvlan": "ipvlan_mode",
    "ipvlan": "macvlan_mode",
    "null": "com.docker.network.bridge.name",
}
_FOREIGN_FIELD = {
    "overlay": ("bridge_name", "br0"),
    "bridge": ("vxlan_ids", [5000]),
    "macvlan": ("flag", "private"),
    "ipvlan": ("encrypted", True),
    "null": ("attachable", True),
}

_bad_names = st.one_of(
    st.just(""),
    st.text(min_size=129, max_size=140, alphabet="abc"),
    st.builds(
        lambda head, tail: head + tail,
        st.sampled_from(["-", "_", ".", " ", "/", "é"]),
        st.text(alphabet="abc", max_size=5),
    ),
    st.builds(
        lambda a, bad, b: a + bad + b,
        st.text(alphabet="abc", min_size=1, max_size=5),
        st.sampled_from([" ", "/", ":", "$", "\n", "*"]),
        st.text(alphabet="abc", max_size=5),
    ),
)


@st.composite
def _subnets(draw: st.DrawFn) -> ipaddress.IPv4Network:
    prefix = draw(st.integers(min_value=16, max_value=28))
    base = draw(st.integers(min_value=0, max_value=(1 << 32) - 1))
    return ipaddress.IPv4Network((base, prefix), strict=False)


@st.composite
def invalid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec dict of a random driver, broken in exactly one drawn way."""
    driver = draw(st.sampled_from(_DRIVERS))
    spec: dict[str, Any] = {"driver": driver, "name": "prop-net"}
    subnet = draw(_subnets())
    outside = ipaddress.IPv4Address((int(subnet.broadcast_address) + 1) % (1 << 32))
    breakers = [
        "name",
        "host_bits",
        "gateway_outside",
        "range_outside",
        "aux_outside",
        "overlap",
        "foreign_option",
        "foreign_field",
        "ipv6_disabled",
        "label_key",
        "tiny_pool",
    ]
    if driver in ("overlay", "bridge"):
        breakers += ["mtu"]
    if driver == "overlay":
        breakers += ["vxlan"]
    if driver in ("macvlan", "ipvlan", "null"):
        breakers += ["parent"]
    if driver in ("macvlan", "ipvlan"):
        breakers += ["mode", "config_from_with_pools"]
    breaker = draw(st.sampled_from(breakers))
    if breaker == "name":
        spec["name"] = draw(_bad_names)
    elif breaker == "host_bits":
        host = draw(st.integers(min_value=1, max_value=subnet.num_addresses - 1))
        spec["pools"] = [{"subnet": f"{subnet.network_address + host}/{subnet.prefixlen}"}]
    elif breaker == "gateway_outside":
        spec["pools"] = [{"subnet": str(subnet), "gateway": str(outside)}]
    elif breaker == "range_outside":
        spec["pools"] = [{"subnet": str(subnet), "ip_range": f"{outside}/32"}]
    elif breaker == "aux_outside":
        spec["pools"] = [{"subnet": str(subnet), "aux_addresses": {"dev": str(outside)}}]
    elif breaker == "overlap":
        inner = draw(st.integers(min_value=subnet.prefixlen, max_value=30))
        spec["pools"] = [
            {"subnet": str(subnet)},
            {"subnet": str(next(subnet.subnets(new_prefix=inner)))},
        ]
    elif breaker == "foreign_option":
        spec["extra_options"] = {_OTHER_DRIVER_OPTION[driver]: "x"}
    elif breaker == "foreign_field":
        field, value = _FOREIGN_FIELD[driver]
        spec[field] = value
    elif breaker == "ipv6_disabled":
        spec["pools"] = [{"subnet": "fd00:77::/64"}]
    elif breaker == "tiny_pool":
        spec["pools"] = [
            {"subnet": str(next(subnet.subnets(new_prefix=draw(st.sampled_from([31, 32])))))}
        ]
    elif breaker == "label_key":
        spec["labels"] = {draw(st.sampled_from(["", " lead", "trail "])): "v"}
    elif breaker == "mtu":
        spec["mtu"] = draw(st.one_of(st.integers(max_value=67), st.integers(min_value=65536)))
    elif breaker == "vxlan":
        spec["vxlan_ids"] = [
            draw(st.one_of(st.integers(max_value=0), st.integers(min_value=1 << 24)))
        ]
    elif breaker == "parent":
        spec["parent"] = draw(st.sampled_from(["", "x" * 16, "eth 0", "a/b", "-eth0"]))
    elif breaker == "mode":
        spec["mode"] = draw(st.text(alphabet="xyz", min_size=1, max_size=6))
    elif breaker == "config_from_with_pools":
        spec["config_from"] = "cfg"
        spec["pools"] = [{"subnet": str(subnet)}]
    return spec


@given(invalid_specs())
def test_every_generated_invalid_spec_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(REFUSED):
        swarmnet.network_spec_from(data)


@pytest.mark.lab
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=invalid_specs())
async def test_invalid_specs_never_reach_the_engine(lab: Lab, data: dict[str, Any]) -> None:
    calls: list[tuple[str, str]] = []
    node = lab.nodes[0]
    async with swarmnet.Engine(
        node.docker_host, on_request=lambda method, path: calls.append((method, path))
    ) as engine:
        # The counter sees every request: opening the client was one.
        assert calls == [("GET", "version")]
        calls.clear()
        with pytest.raises(REFUSED):
            await engine.networks.create(data)
        with pytest.raises(REFUSED):
            await engine.networks.ensure(data)
        with pytest.raises(REFUSED):
            await engine.networks.ensure_many([{"driver": "bridge", "name": "fine"}, data])
        assert calls == []


# -- drift text ------------------------------------------------------------------------

# A bridge as a 20.10 engine lists it (GET /networks), recorded.
RECORDED_BRIDGE: dict[str, Any] = {
    "Name": "app",
    "Id": "4ac7a52c093fbf36adbff746aab2a46b504a9ba1705720a82ccb4bc60693b165",
    "Created": "2026-12-01T00:13:11.440408896Z",
    "Scope": "local",
    "Driver": "bridge",
    "EnableIPv6": False,
    "IPAM": {
        "Driver": "default",
        "Options": {},
        "Config": [{"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.1"}],
    },
    "Internal": False,
    "Attachable": False,
    "Ingress": False,
    "ConfigFrom": {"Network": ""},
    "ConfigOnly": False,
    "Containers": {},
    "Options": {"com.docker.network.driver.mtu": "1500"},
    "Labels": {"team": "a"},
}


def test_a_changed_pool_is_one_line_of_drift_in_one_quoting_style() -> None:
    network = swarmnet.Network.model_validate(RECORDED_BRIDGE)
    spec = swarmnet.BridgeSpec(
        name="app", labels={"team": "b"}, pools=[swarmnet.IPAMPool(subnet="10.99.0.0/24")]
    )

    changes = diff(spec, network)

    assert [str(c) for c in changes.changes] == [
        "labels.team: wanted 'b', found 'a'",
        "pools.ipv4: wanted 10.99.0.0/24, found 10.77.0.0/24",
    ]
    assert str(changes) == (
        "network app differs: labels.team: wanted 'b', found 'a'; "
        "pools.ipv4: wanted 10.99.0.0/24, found 10.77.0.0/24"
    )


def test_pools_that_match_only_report_their_own_fields() -> None:
    network = swarmnet.Network.model_validate(RECORDED_BRIDGE)
    spec = swarmnet.BridgeSpec(
        name="app",
        labels={"team": "a"},
        pools=[swarmnet.IPAMPool(subnet="10.77.0.0/24", gateway="10.77.0.254")],
    )
    assert [str(c) for c in diff(spec, network).changes] == [
        "pools[10.77.0.0/24].gateway: wanted 10.77.0.254, found 10.77.0.1"
    ]
    unchanged = swarmnet.BridgeSpec(name="app", labels={"team": "a"}, mtu=1500)
    assert not diff(unchanged, network)


def test_a_managers_swarm_record_is_told_from_a_local_copy_left_after_removal() -> None:
    # GET /networks on a 20.10 manager, recorded: the overlay "app" while the swarm has
    # it, then after its removal while its tasks still stop (the local copy).
    record = {
        "Name": "app",
        "Id": "w94nmdpzsee53w6bvm6sftegt",
        "Created": "2026-12-01T00:14:43.395977851Z",
        "Scope": "swarm",
        "Driver": "overlay",
        "IPAM": {"Driver": "default", "Options": None, "Config": [{"Subnet": "10.0.3.0/24"}]},
        "Containers": None,
        "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4099"},
        "Labels": None,
    }
    leftover = {
        **record,
        "Created": "2026-12-01T00:14:43.596986142Z",
        "Containers": {},
        "Labels": {},
        "Peers": [{"Name": "ebb669aa8851", "IP": "198.19.17.2"}],
    }
    assert swarmnet.Network.model_validate(record).swarm_record is True
    assert swarmnet.Network.model_validate(leftover).swarm_record is False
    assert swarmnet.Network.model_validate(RECORDED_BRIDGE).swarm_record is False
    # A model read back from its own dump keeps what it was.
    network = swarmnet.Network.model_validate(record)
    assert swarmnet.Network.model_validate(network.model_dump(by_alias=True)).swarm_record
