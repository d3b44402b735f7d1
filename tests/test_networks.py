"""Networks on real engines: create, get, list, remove, prune, and idempotent ensure.

Bridges, macvlan, ipvlan and config-only networks live on node1 of the lab; overlays
use the plugin's ``swarm_cluster`` (node1 manager). Every network is named with a
per-test prefix and removed after the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from _containers import Tracker, unique_prefix

import swarmnet
from swarmnet.lab import Lab

pytestmark = [pytest.mark.anyio, pytest.mark.lab]


@pytest.fixture
def prefix() -> str:
    """A unique name prefix; every network with it (and tracked container) goes at the end."""
    return unique_prefix("tn")


async def _raw_create(engine: swarmnet.Engine, body: dict[str, Any]) -> str:
    """A create that bypasses swarmnet (no CheckDuplicate): what another tool might do."""
    answer = await engine._transport.request("POST", "networks/create", json_body=body)
    return str(answer["Id"])


# -- create, get, list, remove ---------------------------------------------------------


async def test_a_bridge_is_created_read_back_typed_listed_and_removed(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    spec = swarmnet.BridgeSpec(
        name=f"{prefix}br",
        labels={"swarmnet.test": prefix},
        pools=[swarmnet.IPAMPool(subnet="10.201.0.0/24", gateway="10.201.0.254")],
        icc=True,
        mtu=1450,
    )
    created = await engine.networks.create(spec)
    assert isinstance(created, swarmnet.Network)
    assert created.name == spec.name
    assert created.driver == "bridge"
    assert created.scope is swarmnet.models.NetworkScope.LOCAL
    assert str(created.ipam.config[0].subnet) == "10.201.0.0/24"
    assert str(created.ipam.config[0].gateway) == "10.201.0.254"
    assert created.options["com.docker.network.driver.mtu"] == "1450"

    assert (await engine.networks.get(created.id)).name == spec.name
    assert (await engine.networks.get(created.id[:12])).id == created.id
    by_label = await engine.networks.list(labels={"swarmnet.test": prefix})
    assert [n.id for n in by_label] == [created.id]
    assert [n.id for n in await engine.networks.list(name=spec.name)] == [created.id]
    custom = {n.id for n in await engine.networks.list(kind="custom", driver="bridge")}
    builtin = {n.name for n in await engine.networks.list(kind="builtin")}
    assert created.id in custom
    assert {"bridge", "host", "none"} <= builtin
    assert spec.name not in builtin

    with pytest.raises(swarmnet.Conflict, match="already exists; use ensure"):
        await engine.networks.create(spec)

    await engine.networks.remove(spec.name)
    with pytest.raises(swarmnet.NetworkNotFound, match=spec.name):
        await engine.networks.get(spec.name)


async def test_get_by_a_name_two_networks_share_lists_both_ids(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    name = f"{prefix}twin"
    first = await _raw_create(engine, {"Name": name, "Driver": "bridge"})
    second = await _raw_create(engine, {"Name": name, "Driver": "bridge"})
    with pytest.raises(swarmnet.errors.AmbiguousNetwork) as excinfo:
        await engine.networks.get(name)
    assert set(excinfo.value.ids) == {first, second}
    assert first in str(excinfo.value)
    assert second in str(excinfo.value)


async def test_overlapping_subnets_between_two_networks_are_refused_naming_the_other(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    await engine.networks.create(
        swarmnet.BridgeSpec(name=f"{prefix}wide", pools=[{"subnet": "10.202.0.0/16"}])
    )
    with pytest.raises(swarmnet.Conflict) as excinfo:
        await engine.networks.create(
            swarmnet.BridgeSpec(name=f"{prefix}inner", pools=[{"subnet": "10.202.7.0/24"}])
        )
    message = str(excinfo.value)
    assert f"10.202.7.0/24 overlaps {prefix}wide (10.202.0.0/16)" in message
    assert "pick a free subnet" in message
    assert await engine.networks.list(name=f"{prefix}inner") == ()


async def test_remove_of_a_network_in_use_names_the_containers_and_force_disconnects_them(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    network = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}busy"))
    await tracker.run(engine, f"{prefix}c1", network=network.name)
    await tracker.run(engine, f"{prefix}c2", network=network.name, start=False)

    with pytest.raises(swarmnet.NetworkInUse) as excinfo:
        await engine.networks.remove(network.name)
    # Only started containers have endpoints; the created one is attached at start.
    assert excinfo.value.containers == (f"{prefix}c1",)
    assert (await engine.networks.get(network.id)).id == network.id

    await engine.networks.remove(network.name, force=True)
    assert await engine.networks.list(name=network.name) == ()
    inspected = await engine._transport.request("GET", f"containers/{prefix}c1/json")
    assert inspected["State"]["Running"] is True
    assert network.name not in inspected["NetworkSettings"]["Networks"]


async def test_prune_removes_only_unused_networks_matching_the_labels(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    labels = {"swarmnet.prune": prefix}
    idle = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}idle", labels=labels))
    used = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}used", labels=labels))
    other = await engine.networks.create(swarmnet.BridgeSpec(name=f"{prefix}other"))
    await tracker.run(engine, f"{prefix}user", network=used.name)

    report = await engine.networks.prune(labels=labels)

    assert report.networks_deleted == (idle.name,)
    remaining = {n.name for n in await engine.networks.list(kind="custom")}
    assert used.name in remaining
    assert other.name in remaining
    assert idle.name not in remaining


# -- ensure ----------------------------------------------------------------------------

SpecFactory = Callable[[str], swarmnet.BridgeSpec | swarmnet.MacvlanSpec | swarmnet.IpvlanSpec]

LOCAL_SPECS: dict[str, Callable[[str], Any]] = {
    "bridge, engine picks the subnet": lambda p: swarmnet.BridgeSpec(name=f"{p}auto"),
    "bridge with every option": lambda p: swarmnet.BridgeSpec(
        name=f"{p}full",
        bridge_name=f"b{p[3:9]}",
        icc=False,
        ip_masquerade=False,
        host_binding_ipv4="127.0.0.1",
        mtu=1400,
        internal=True,
        labels={"a": "1"},
        pools=[
            swarmnet.IPAMPool(
                subnet="10.203.0.0/24",
                gateway="10.203.0.1",
                ip_range="10.203.0.128/25",
                aux_addresses={"router": "10.203.0.2"},
            )
        ],
    ),
    "bridge with only an IPv6 pool": lambda p: swarmnet.BridgeSpec(
        name=f"{p}v6", enable_ipv6=True, pools=[swarmnet.IPAMPool(subnet="fd00:203::/64")]
    ),
    "macvlan on eth0": lambda p: swarmnet.MacvlanSpec(
        name=f"{p}mv", parent="eth0", mode="bridge", pools=[{"subnet": "10.204.0.0/24"}]
    ),
    "ipvlan on eth0": lambda p: swarmnet.IpvlanSpec(
        name=f"{p}iv", parent="eth0", mode="l2", pools=[{"subnet": "10.205.0.0/24"}]
    ),
    "config-only": lambda p: swarmnet.ConfigOnlySpec(
        name=f"{p}cfg",
        parent="eth0",
        pools=[{"subnet": "10.206.0.0/24"}],
        extra_options={"macvlan_mode": "bridge"},
    ),
}


@pytest.mark.parametrize("make", LOCAL_SPECS.values(), ids=LOCAL_SPECS.keys())
async def test_ensure_creates_once_then_finds_the_network_unchanged(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker, make: Callable[[str], Any]
) -> None:
    spec = make(prefix)
    first = await engine.networks.ensure(spec)
    second = await engine.networks.ensure(spec)

    assert first.outcome is swarmnet.models.EnsureOutcome.CREATED
    assert second.outcome is swarmnet.models.EnsureOutcome.UNCHANGED, str(second.diff)
    assert not second.diff
    assert second.network.id == first.network.id
    assert len(await engine.networks.list(name=spec.name)) == 1


async def test_overlays_are_unchanged_on_a_second_ensure_whatever_the_engine_filled_in(
    swarm: swarmnet.Cluster, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    specs = [
        swarmnet.OverlaySpec(name=f"{prefix}plain", attachable=True),
        swarmnet.OverlaySpec(
            name=f"{prefix}tuned",
            attachable=True,
            internal=True,
            encrypted=True,
            mtu=1400,
            vxlan_ids=(7001,),
            labels={"tier": "db"},
            pools=[swarmnet.IPAMPool(subnet="10.207.0.0/24", gateway="10.207.0.254")],
        ),
    ]
    for spec in specs:
        created = await engine.networks.ensure(spec)
        again = await engine.networks.ensure(spec)
        assert created.outcome is swarmnet.models.EnsureOutcome.CREATED
        assert created.network.scope is swarmnet.models.NetworkScope.SWARM
        assert again.outcome is swarmnet.models.EnsureOutcome.UNCHANGED, str(again.diff)
    plain = await engine.networks.get(f"{prefix}plain")
    # The engine picked a subnet and gateway the spec left open; still unchanged.
    assert plain.ipam.config[0].subnet is not None


async def test_drift_raises_by_default_with_a_typed_diff_or_is_left_when_asked(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    name = f"{prefix}drift"
    original = await engine.networks.create(
        swarmnet.BridgeSpec(name=name, labels={"owner": "a"}, mtu=1500)
    )
    wanted = swarmnet.BridgeSpec(name=name, labels={"owner": "b"}, mtu=1400, internal=True)

    with pytest.raises(swarmnet.DriftDetected) as excinfo:
        await engine.networks.ensure(wanted)
    diff = excinfo.value.diff
    assert isinstance(diff, swarmnet.models.NetworkDiff)
    assert set(diff.fields) == {
        "internal",
        "labels.owner",
        "options.com.docker.network.driver.mtu",
    }
    label = next(c for c in diff.changes if c.field == "labels.owner")
    assert (label.wanted, label.found) == ("'b'", "'a'")
    assert "Drift.RECREATE" in str(excinfo.value)

    left = await engine.networks.ensure(wanted, on_drift=swarmnet.Drift.LEAVE)
    assert left.outcome is swarmnet.models.EnsureOutcome.DRIFTED
    assert left.diff == diff
    assert left.network.id == original.id
    assert (await engine.networks.get(name)).labels == {"owner": "a"}


async def test_recreate_reconnects_every_container_with_its_aliases_and_addresses(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    name = f"{prefix}re"
    pool = swarmnet.IPAMPool(subnet="10.208.0.0/24")
    old = await engine.networks.create(swarmnet.BridgeSpec(name=name, pools=[pool]))
    web = await tracker.run(engine, f"{prefix}web")
    idle = await tracker.run(engine, f"{prefix}idle", start=False)
    await engine.networks.connect(name, web, aliases=("www", "front"), ipv4="10.208.0.50")
    await engine.networks.connect(name, idle, aliases=("spare",))

    result = await engine.networks.ensure(
        swarmnet.BridgeSpec(name=name, pools=[pool], labels={"v": "2"}),
        on_drift=swarmnet.Drift.RECREATE,
    )

    assert result.outcome is swarmnet.models.EnsureOutcome.RECREATED
    assert result.diff.fields == ("labels.v",)
    assert result.network.id != old.id
    assert result.network.labels == {"v": "2"}
    endpoints = {e.container_name: e for e in await engine.networks.endpoints(name)}
    # A created container has no endpoint until it starts; it joins the new network then.
    assert set(endpoints) == {f"{prefix}web"}
    assert set(endpoints[f"{prefix}web"].aliases) == {"www", "front"}
    assert str(endpoints[f"{prefix}web"].ipv4_address) == "10.208.0.50/24"
    await engine._transport.request("POST", f"containers/{idle}/start")
    endpoints = {e.container_name: e for e in await engine.networks.endpoints(name)}
    assert endpoints[f"{prefix}idle"].aliases == ("spare",)
    assert endpoints[f"{prefix}idle"].network_id == result.network.id


async def test_twenty_concurrent_ensures_of_one_name_end_with_exactly_one_network(
    lab: Lab, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    spec = swarmnet.BridgeSpec(name=f"{prefix}race")
    results: list[swarmnet.EnsureResult] = []
    async with lab.nodes[0].engine() as second_client:

        async def one(client: swarmnet.Engine) -> None:
            results.append(await client.networks.ensure(spec))

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, engine if i % 2 else second_client)

    listed = await engine.networks.list(name=spec.name)
    assert len(listed) == 1
    assert {r.network.id for r in results} == {listed[0].id}
    outcomes = sorted(r.outcome.value for r in results)
    assert outcomes == ["created"] + ["unchanged"] * 19


async def test_duplicates_made_by_another_process_are_resolved_to_the_oldest(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    name = f"{prefix}dup"
    ids = [await _raw_create(engine, {"Name": name, "Driver": "bridge"}) for _ in range(3)]
    assert len(await engine.networks.list(name=name)) == 3

    result = await engine.networks.ensure(swarmnet.BridgeSpec(name=name))

    assert result.outcome is swarmnet.models.EnsureOutcome.UNCHANGED
    assert result.network.id == ids[0]
    assert [n.id for n in await engine.networks.list(name=name)] == [ids[0]]


async def test_duplicates_with_containers_attached_are_not_removed_but_reported(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    name = f"{prefix}dupbusy"
    first = await _raw_create(engine, {"Name": name, "Driver": "bridge"})
    second = await _raw_create(engine, {"Name": name, "Driver": "bridge"})
    holder = await tracker.run(engine, f"{prefix}holder")
    await engine.networks.connect(second, holder)

    with pytest.raises(swarmnet.errors.AmbiguousNetwork) as excinfo:
        await engine.networks.ensure(swarmnet.BridgeSpec(name=name))

    assert excinfo.value.ids == (first, second)
    assert len(await engine.networks.list(name=name)) == 2


async def test_ensure_many_creates_a_batch_then_checks_it_with_one_list_and_no_write(
    swarm: swarmnet.Cluster, lab: Lab, prefix: str, tracker: Tracker
) -> None:
    calls: list[tuple[str, str]] = []
    specs = [swarmnet.OverlaySpec(name=f"{prefix}ov{i}", attachable=True) for i in range(12)]
    async with swarmnet.Engine(
        lab.nodes[0].docker_host, on_request=lambda m, p: calls.append((m, p))
    ) as counted:
        calls.clear()
        first = await counted.networks.ensure_many(specs)
        first_calls = list(calls)
        calls.clear()
        second = await counted.networks.ensure_many(specs)
        second_calls = list(calls)

    assert [r.outcome for r in first] == [swarmnet.models.EnsureOutcome.CREATED] * 12
    assert [r.network.name for r in first] == [s.name for s in specs]
    assert sum(1 for m, p in first_calls if (m, p) == ("POST", "networks/create")) == 12
    assert [r.outcome for r in second] == [swarmnet.models.EnsureOutcome.UNCHANGED] * 12
    assert [r.network.id for r in second] == [r.network.id for r in first]
    assert second_calls == [("GET", "networks")]


async def test_verbose_inspect_shows_overlay_peers_and_attached_containers(
    swarm: swarmnet.Cluster, lab: Lab, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    overlay = await engine.networks.create(
        swarmnet.OverlaySpec(name=f"{prefix}seen", attachable=True)
    )
    await tracker.run(engine, f"{prefix}member", network=overlay.name)

    plain = await engine.networks.get(overlay.name)
    verbose = await engine.networks.get(overlay.name, verbose=True, scope="swarm")

    assert plain.services == {}
    assert [str(p.ip) for p in verbose.peers] == [lab.nodes[0].address]
    standalone = verbose.services[""]
    assert [t.name for t in standalone.tasks] == [f"{prefix}member"]
    assert standalone.tasks[0].endpoint_ip in overlay.ipam.config[0].subnet  # type: ignore[operator]


async def test_the_engines_answers_to_list_are_typed_even_for_builtin_networks(
    engine: swarmnet.Engine,
) -> None:
    raw = await engine._transport.request(
        "GET", "networks", params={"filters": json.dumps({"name": ["none"]})}
    )
    typed = await engine.networks.list(name="none")
    assert [n.id for n in typed] == [r["Id"] for r in raw if r["Name"] == "none"]
    assert typed[0].is_builtin
    assert typed[0].ipam.config == ()


async def test_the_cli_ensures_lists_inspects_and_removes_networks_with_json(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    from swarmnet._cli import main as cli_main

    async def main(argv: list[str]) -> int:
        # The command runs its own event loop: give it a thread of its own.
        return await anyio.to_thread.run_sync(cli_main, argv)

    host = ["-H", lab.nodes[0].docker_host]
    name = f"{unique_prefix('tcli')}net"
    spec = [name, "--subnet", "10.209.0.0/24", "--label", "via=cli", "--mtu", "1400", "--icc"]
    try:
        assert await main(["net", "ensure", *spec, *host, "--json"]) == 0
        created = json.loads(capsys.readouterr().out)
        assert created["outcome"] == "created"
        assert await main(["net", "ensure", *spec, *host]) == 0
        assert capsys.readouterr().out.startswith(f"{name}: unchanged")

        assert await main(["net", "ls", "--name", name, *host, "--json"]) == 0
        (listed,) = json.loads(capsys.readouterr().out)
        assert listed["id"] == created["network"]["id"]
        assert listed["options"]["com.docker.network.bridge.enable_icc"] == "true"

        # Drift is an error by default: exit code 1, the diff on stderr.
        assert await main(["net", "ensure", name, "--subnet", "10.209.0.0/24", *host]) == 1
        assert "labels.via: wanted (absent), found 'cli'" in capsys.readouterr().err

        # An invalid spec is refused before anything is sent.
        assert (
            await main(["net", "create", "x", "--driver", "overlay", "--bridge-name", "b", *host])
            == 1
        )
        assert "--bridge-name does not apply to an overlay network" in capsys.readouterr().err

        assert await main(["net", "inspect", name, *host]) == 0
        assert "pool 10.209.0.0/24" in capsys.readouterr().out
    finally:
        await main(["net", "rm", name, *host])
    capsys.readouterr()
    assert await main(["net", "ls", "--name", name, *host, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


# -- what ensure refuses, and the truth about networks in flux -------------------------

LAB_IMAGE = "swarmnet-lab/busybox:latest"


async def _service(
    engine: swarmnet.Engine, name: str, network: str, *, replicas: int, on_workers: bool = False
) -> str:
    """A dnsrr service of sleepers on ``network`` (raw API: no services capability here)."""
    template: dict[str, Any] = {
        "ContainerSpec": {
            "Image": LAB_IMAGE,
            "Command": ["sleep", "3600"],
            # sleep ignores SIGTERM: its tasks linger this long after the service goes.
            "StopGracePeriod": 3_000_000_000,
        },
        "Networks": [{"Target": network}],
    }
    if on_workers:
        template["Placement"] = {"Constraints": ["node.role==worker"]}
    answer = await engine._transport.request(
        "POST",
        "services/create",
        json_body={
            "Name": name,
            "TaskTemplate": template,
            "Mode": {"Replicated": {"Replicas": replicas}},
            "EndpointSpec": {"Mode": "dnsrr"},
        },
    )
    service_id = str(answer["ID"])
    filters = json.dumps({"service": [service_id], "desired-state": ["running"]})
    with anyio.fail_after(60):
        while True:
            tasks = await engine._transport.request("GET", "tasks", params={"filters": filters})
            if sum(t["Status"]["State"] == "running" for t in tasks) == replicas:
                return service_id
            await anyio.sleep(0.2)


async def test_an_overlay_ensure_on_a_worker_is_refused_before_anything_is_sent(
    swarm: swarmnet.Cluster, lab: Lab
) -> None:
    calls: list[tuple[str, str]] = []
    async with swarmnet.Engine(
        lab.nodes[1].docker_host, on_request=lambda m, p: calls.append((m, p))
    ) as worker:
        with pytest.raises(swarmnet.NotASwarmManager, match="manager"):
            await worker.networks.ensure(swarmnet.OverlaySpec(name=f"{unique_prefix('tw')}ov"))
    assert ("POST", "networks/create") not in calls


async def test_an_unknown_ipam_driver_is_named_as_such(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    with pytest.raises(swarmnet.NotFound) as excinfo:
        await engine.networks.ensure(
            swarmnet.BridgeSpec(name=f"{prefix}ipam", ipam_driver="nosuch")
        )
    message = str(excinfo.value)
    assert "no IPAM driver 'nosuch'" in message
    assert "'bridge' driver" not in message
    assert await engine.networks.list(name=f"{prefix}ipam") == ()


async def test_a_swarm_network_removed_while_its_tasks_stop_is_not_reported_unchanged(
    swarm: swarmnet.Cluster, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    spec = swarmnet.OverlaySpec(name=f"{prefix}gone", attachable=True)
    old = (await engine.networks.ensure(spec)).network
    service = await _service(engine, f"{prefix}svc", spec.name, replicas=3)
    await engine._transport.request("DELETE", f"services/{service}")
    # Removed from the swarm at once; its tasks keep the local copies for a while.
    await engine._transport.request("DELETE", f"networks/{old.id}")
    assert [n.id for n in await engine.networks.list(name=spec.name)] == [old.id]

    result = await engine.networks.ensure(spec)

    assert result.outcome is swarmnet.models.EnsureOutcome.CREATED
    assert result.network.id != old.id
    assert [n.id for n in await engine.networks.list(name=spec.name)] == [result.network.id]


async def test_an_overlay_overlapping_another_overlay_is_refused_and_leaves_nothing(
    swarm: swarmnet.Cluster, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    await engine.networks.ensure(
        swarmnet.OverlaySpec(name=f"{prefix}first", pools=[{"subnet": "10.235.0.0/24"}])
    )
    with pytest.raises(swarmnet.Conflict) as excinfo:
        await engine.networks.ensure(
            swarmnet.OverlaySpec(name=f"{prefix}second", pools=[{"subnet": "10.235.0.0/25"}])
        )
    assert f"10.235.0.0/25 overlaps {prefix}first (10.235.0.0/24)" in str(excinfo.value)
    assert await engine.networks.list(name=f"{prefix}second") == ()


async def test_recreating_an_overlay_in_use_on_other_nodes_is_refused_before_any_change(
    swarm: swarmnet.Cluster, lab: Lab, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    spec = swarmnet.OverlaySpec(name=f"{prefix}shared", attachable=True)
    old = (await engine.networks.ensure(spec)).network
    local = await tracker.run(engine, f"{prefix}here", network=spec.name)
    async with lab.nodes[2].engine() as node3:
        await tracker.run(node3, f"{prefix}there", network=spec.name)
    service = await _service(engine, f"{prefix}svc", spec.name, replicas=1, on_workers=True)
    try:
        with pytest.raises(swarmnet.NetworkInUse) as excinfo:
            await engine.networks.ensure(
                spec.model_copy(update={"labels": {"v": "2"}}), on_drift=swarmnet.Drift.RECREATE
            )
        message = str(excinfo.value)
        assert f"service {prefix}svc" in message
        assert f"container {prefix}there on node3" in message
        assert "nothing was changed" in message
        assert (await engine.networks.get(spec.name)).id == old.id
        assert [e.container_id for e in await engine.networks.endpoints(spec.name)] == [local]
    finally:
        await engine._transport.request("DELETE", f"services/{service}")


async def test_a_recreate_that_fails_half_way_restores_the_network_and_its_containers(
    engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    name = f"{prefix}undo"
    pool = swarmnet.IPAMPool(subnet="10.236.0.0/24")
    await engine.networks.create(swarmnet.BridgeSpec(name=name, pools=[pool], labels={"v": "1"}))
    web = await tracker.run(engine, f"{prefix}web")
    await engine.networks.connect(name, web, aliases=("www",), ipv4="10.236.0.50")
    # The new pool reserves the address the container holds: its reconnect must fail.
    wanted = swarmnet.BridgeSpec(
        name=name,
        labels={"v": "2"},
        pools=[swarmnet.IPAMPool(subnet="10.236.0.0/24", aux_addresses={"taken": "10.236.0.50"})],
    )

    with pytest.raises(swarmnet.EngineAPIError, match="restored"):
        await engine.networks.ensure(wanted, on_drift=swarmnet.Drift.RECREATE)

    restored = await engine.networks.get(name)
    assert restored.labels == {"v": "1"}
    assert restored.ipam.config[0].aux_addresses == {}
    (endpoint,) = await engine.networks.endpoints(name)
    assert endpoint.container_id == web
    assert endpoint.aliases == ("www",)
    assert str(endpoint.ipv4_address) == "10.236.0.50/24"


async def test_recreating_an_overlay_used_only_here_reconnects_its_containers(
    swarm: swarmnet.Cluster, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    spec = swarmnet.OverlaySpec(name=f"{prefix}here", attachable=True)
    old = (await engine.networks.ensure(spec)).network
    local = await tracker.run(engine, f"{prefix}member")
    await engine.networks.connect(spec.name, local, aliases=("db",))

    # The manager keeps the old overlay's local copy a moment after its removal.
    result = await engine.networks.ensure(
        spec.model_copy(update={"labels": {"v": "2"}}), on_drift=swarmnet.Drift.RECREATE
    )

    assert result.outcome is swarmnet.models.EnsureOutcome.RECREATED
    assert result.network.id != old.id
    assert result.network.labels == {"v": "2"}
    (endpoint,) = await engine.networks.endpoints(spec.name)
    assert (endpoint.container_id, endpoint.aliases) == (local, ("db",))


async def test_recreating_an_overlay_used_only_on_another_node_names_the_container_there(
    swarm: swarmnet.Cluster, lab: Lab, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> None:
    spec = swarmnet.OverlaySpec(name=f"{prefix}far", attachable=True)
    old = (await engine.networks.ensure(spec)).network
    async with lab.nodes[2].engine() as node3:
        remote = await tracker.run(node3, f"{prefix}there", network=spec.name)

        # The manager has no endpoint on it, so it cannot see node3's; the swarm refuses.
        with pytest.raises(swarmnet.NetworkInUse) as excinfo:
            await engine.networks.ensure(
                spec.model_copy(update={"labels": {"v": "2"}}), on_drift=swarmnet.Drift.RECREATE
            )

        message = str(excinfo.value)
        assert f"container {remote[:12]} on node3" in message
        assert "nothing was changed" in message
        assert (await engine.networks.get(spec.name)).id == old.id
        assert [e.container_id for e in await node3.networks.endpoints(spec.name)] == [remote]
