"""The default bridge's daemon.json keys: a typed model, checked together, merged atomically.

Most tests work on files in a temporary folder (the model needs no engine). The lab tests
show that a real dockerd starts with what the model writes and honours it: the lab writes
every node's daemon.json through the model, and a node restarted with merged pools and an
MTU hands out subnets from the pool and gives docker0 that MTU.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmnet import InvalidSpec
from swarmnet._host.daemon_config import BRIDGE_KEYS
from swarmnet.daemon import (
    AddressPool,
    DaemonBridgeConfig,
    merge_daemon_json,
    read_daemon_json,
    write_daemon_json,
)
from swarmnet.lab import Lab, LabNode

# -- the model -------------------------------------------------------------------------


def test_only_the_keys_set_are_written_with_daemon_json_spelling() -> None:
    config = DaemonBridgeConfig(
        bip="10.200.0.1/24",
        fixed_cidr="10.200.0.128/25",
        mtu=1450,
        default_gateway="10.200.0.254",
        dns=["10.200.0.53", "2001:db8::53"],
        default_address_pools=[{"base": "10.201.0.0/16", "size": 24}],
    )

    assert config.to_daemon_json() == {
        "bip": "10.200.0.1/24",
        "fixed-cidr": "10.200.0.128/25",
        "mtu": 1450,
        "default-gateway": "10.200.0.254",
        "dns": ["10.200.0.53", "2001:db8::53"],
        "default-address-pools": [{"base": "10.201.0.0/16", "size": 24}],
    }
    assert DaemonBridgeConfig(mtu=1400).to_daemon_json() == {"mtu": 1400}


def test_daemon_json_spellings_are_accepted_as_input() -> None:
    config = DaemonBridgeConfig.from_daemon_json(
        {"bip": "192.168.1.5/24", "fixed-cidr": "192.168.1.5/25", "log-level": "warn"}
    )

    # dockerd drops host bits of fixed-cidr (Go's ParseCIDR); so does the model.
    assert config.fixed_cidr == ipaddress.IPv4Network("192.168.1.0/25")
    assert config.bip == ipaddress.IPv4Interface("192.168.1.5/24")


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"bip": "10.0.0.1/24", "fixed_cidr": "10.0.1.0/25"}, "not inside bip's network"),
        ({"bip": "10.0.0.1/24", "default_gateway": "10.9.9.9"}, "not inside bip's network"),
        (
            {"fixed_cidr_v6": "2001:db8:1::/64", "default_gateway_v6": "2001:db8:2::1"},
            "not inside fixed-cidr-v6",
        ),
        (
            {"bip": "10.0.0.1/24", "default_address_pools": [{"base": "10.0.0.0/8", "size": 24}]},
            "overlaps bip's network",
        ),
        ({"bip": "10.0.0.0/24"}, "network address"),
        ({"bip": "10.0.0.255/24"}, "broadcast address"),
        ({"bip": "10.0.0.1"}, "needs a prefix length"),
        ({"default_address_pools": [{"base": "10.0.0.0/16", "size": 8}]}, "cannot hand out /8"),
        ({"mtu": 20}, "greater than or equal to 68"),
        ({"dns": ["not-an-address"]}, "dns"),
    ],
)
def test_settings_dockerd_would_refuse_are_refused(fields: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InvalidSpec, match=complaint):
        DaemonBridgeConfig(**fields)


def test_a_fixed_cidr_inside_bip_with_a_gateway_inside_is_accepted() -> None:
    config = DaemonBridgeConfig(
        bip="172.26.0.1/16", fixed_cidr="172.26.5.0/24", default_gateway="172.26.0.254"
    )

    assert config.problems() == []


def test_an_address_pool_knows_its_json_form() -> None:
    assert AddressPool(base="10.10.0.0/16", size=24).to_json() == {
        "base": "10.10.0.0/16",
        "size": 24,
    }


# -- merging into a file -----------------------------------------------------------------


def _write(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2))


def test_merge_keeps_every_key_it_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    unknown = {
        "log-level": "warn",
        "features": {"buildkit": True},
        "registry-mirrors": ["https://mirror.example"],
        "some-future-key": {"nested": [1, 2, {"deep": None}]},
    }
    _write(path, {**unknown, "bip": "10.1.0.1/24"})

    written = merge_daemon_json(path, DaemonBridgeConfig(fixed_cidr="10.1.0.128/25", mtu=1400))

    document = json.loads(path.read_text())
    assert {k: document[k] for k in unknown} == unknown
    assert document["bip"] == "10.1.0.1/24"
    assert document["fixed-cidr"] == "10.1.0.128/25"
    assert document["mtu"] == 1400
    assert written.other_keys == tuple(sorted(unknown))
    assert written.bridge.mtu == 1400


def test_merge_refuses_a_fixed_cidr_outside_the_files_bip_and_writes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "daemon.json"
    _write(path, {"bip": "10.1.0.1/24", "debug": True})
    before = path.read_bytes()

    with pytest.raises(InvalidSpec, match=r"fixed-cidr 10\.2\.0\.0/24 is not inside bip's network"):
        merge_daemon_json(path, DaemonBridgeConfig(fixed_cidr="10.2.0.0/24"))

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.json"]


def test_a_field_set_to_none_removes_its_key(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    _write(path, {"bip": "10.1.0.1/24", "mtu": 1400, "debug": True})

    merge_daemon_json(path, DaemonBridgeConfig(mtu=None), settings={"debug": None})

    assert json.loads(path.read_text()) == {"bip": "10.1.0.1/24"}


def test_merge_creates_a_missing_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "docker" / "daemon.json"

    written = merge_daemon_json(path, DaemonBridgeConfig(bip="10.3.0.1/24"))

    assert written.exists
    assert json.loads(path.read_text()) == {"bip": "10.3.0.1/24"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_merge_replaces_the_file_atomically_and_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    _write(path, {"debug": True})
    os.chmod(path, 0o600)
    inode = path.stat().st_ino

    merge_daemon_json(path, DaemonBridgeConfig(mtu=1500))

    # A new file renamed over the old one: readers see the old or the new, never half.
    assert path.stat().st_ino != inode
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.json"]


def test_merge_refuses_bip_next_to_a_bridge_key(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    _write(path, {"bridge": "br0"})

    with pytest.raises(InvalidSpec, match="both 'bridge' and 'bip'"):
        merge_daemon_json(path, DaemonBridgeConfig(bip="10.4.0.1/24"))


def test_bridge_keys_must_go_through_the_model(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="settings holds bridge keys"):
        merge_daemon_json(tmp_path / "daemon.json", settings={"bip": "10.0.0.1/24"})


@pytest.mark.parametrize(("text", "complaint"), [("{not json", "not valid JSON"), ("[]", "list")])
def test_a_file_that_is_not_a_json_object_is_left_alone(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(text)

    with pytest.raises(InvalidSpec, match=complaint):
        merge_daemon_json(path, DaemonBridgeConfig(mtu=1400))

    assert path.read_text() == text


def test_reading_a_missing_file_gives_an_empty_config(tmp_path: Path) -> None:
    config = read_daemon_json(tmp_path / "absent.json")

    assert not config.exists
    assert config.bridge == DaemonBridgeConfig()
    assert config.other_keys == ()


def test_write_checks_the_bridge_keys_of_a_whole_document(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"

    with pytest.raises(InvalidSpec, match="not inside bip's network"):
        write_daemon_json(path, {"bip": "10.5.0.1/24", "fixed-cidr": "10.6.0.0/24"})
    assert not path.exists()

    written = write_daemon_json(path, {"bip": "10.5.0.1/24", "log-level": "warn"})
    assert written.bridge.bip == ipaddress.IPv4Interface("10.5.0.1/24")
    assert written.other_keys == ("log-level",)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(
    unknown=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k not in BRIDGE_KEYS),
        _json_values,
        max_size=6,
    ),
    mtu=st.integers(min_value=68, max_value=9216),
)
def test_any_unknown_keys_survive_a_merge(
    tmp_path_factory: pytest.TempPathFactory, unknown: dict[str, Any], mtu: int
) -> None:
    path = tmp_path_factory.mktemp("merge") / "daemon.json"
    _write(path, unknown)

    merge_daemon_json(path, DaemonBridgeConfig(mtu=mtu))

    assert json.loads(path.read_text()) == {**unknown, "mtu": mtu}


# -- real engines --------------------------------------------------------------------------


@pytest.mark.lab
@pytest.mark.anyio
async def test_the_lab_writes_each_nodes_daemon_json_through_the_model(lab: Lab) -> None:
    for node in lab.nodes[:3]:
        config = read_daemon_json(node.config_file)
        async with node.engine() as engine:
            bridge = await engine._transport.request("GET", "networks/bridge")

        gateway = bridge["IPAM"]["Config"][0]["Gateway"]
        assert config.bridge.bip is not None
        assert str(config.bridge.bip.ip) == gateway
        assert "storage-driver" in config.other_keys


async def _restart_with(node: LabNode, bridge: DaemonBridgeConfig) -> None:
    merge_daemon_json(node.config_file, bridge)
    await node.restart()


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_restarted_engine_honours_merged_pools_and_mtu(lab: Lab) -> None:
    node = lab.nodes[2]
    original = read_daemon_json(node.config_file).bridge
    name = "bi-dc-pool"
    try:
        await _restart_with(
            node,
            DaemonBridgeConfig(
                mtu=1400, default_address_pools=[{"base": "10.123.0.0/16", "size": 24}]
            ),
        )
        async with node.engine() as engine:
            transport = engine._transport
            docker0 = await transport.request("GET", "networks/bridge")
            await transport.request(
                "POST", "networks/create", json_body={"Name": name, "CheckDuplicate": True}
            )
            try:
                made = await transport.request("GET", f"networks/{name}")
            finally:
                await transport.request("DELETE", f"networks/{name}")

        assert docker0["Options"]["com.docker.network.driver.mtu"] == "1400"
        subnet = ipaddress.IPv4Network(made["IPAM"]["Config"][0]["Subnet"])
        assert subnet.subnet_of(ipaddress.IPv4Network("10.123.0.0/16"))
        assert subnet.prefixlen == 24
    finally:
        await _restart_with(
            node,
            DaemonBridgeConfig(
                mtu=original.mtu, default_address_pools=original.default_address_pools
            ),
        )
    async with node.engine() as engine:
        docker0 = await engine._transport.request("GET", "networks/bridge")
    assert docker0["Options"]["com.docker.network.driver.mtu"] == "1500"
