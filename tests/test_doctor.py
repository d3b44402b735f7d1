"""``swarmnet.doctor``: what keeps swarm traffic from flowing, found on real engines.

A healthy 3-node swarm gets no finding but what this machine's kernel lacks: it is built
without IPVS and ESP (see ENGINE-NOTES), so every swarm node is told that service VIPs
and the routing mesh carry nothing, and that encrypted overlays would drop their traffic;
a probe that shows a kernel with both makes those findings go. Then one fault at a time
is made and undone, and doctor names it: a bridge inside the swarm's address pool and one on top of
ingress, an overlay whose MTU does not fit the node's interface, IP forwarding off and
an iptables FORWARD policy of DROP with nothing letting the engine's traffic through
(changed inside one node's network namespace only, and restored), a container on the
default bridge (with advice that fits the networks the cluster already has), and a node
cut off from the lab. The rule evaluator behind the FORWARD
check is also shown on ``iptables -S`` text recorded from a lab node.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import json
import os
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import pytest
from _engines import engines_of, eventually
from _gwbridge import remove_gwbridges

import swarmnet
from swarmnet import Cluster, DoctorReport, Engine, Network
from swarmnet._core.engine_models import EngineInfo
from swarmnet._doctor.checks import check_esp, check_ipvs
from swarmnet._doctor.facts import HostFacts, NodeFacts, Survey
from swarmnet._host.iptables import forward_verdict, parse_rules
from swarmnet._host.kernel import ESP, IPVS, KernelEvidence, Support, read_kernel
from swarmnet._host.probe import CommandResult, LocalProbe
from swarmnet.daemon import NetnsProbe
from swarmnet.lab import LAB_IMAGE, Lab
from swarmnet.models import Finding, FindingKind, PortStatus, Severity

PREFIX = f"bid-{uuid.uuid4().hex[:6]}"
HOST_KINDS = {
    FindingKind.SUBNET_OVERLAP,
    FindingKind.MTU_MISMATCH,
    FindingKind.IP_FORWARDING_OFF,
    FindingKind.FORWARD_DROP,
    FindingKind.DEFAULT_BRIDGE_CONTAINERS,
    FindingKind.SWARM_PORT_UNREACHABLE,
    FindingKind.OVERLAY_PEERS_MISSING,
}
# What this machine's kernel lacks (no CONFIG_IP_VS, no CONFIG_INET_ESP): found on every
# swarm node of the lab, whatever else is going on.
KERNEL_KINDS = {FindingKind.IPVS_MISSING, FindingKind.ESP_MISSING}


# -- helpers --------------------------------------------------------------------------------


def beyond_the_kernel(report: DoctorReport) -> list[Finding]:
    """The findings about anything but this machine's kernel."""
    return [f for f in report.findings if f.kind not in KERNEL_KINDS]


async def healthy(engines: list[Engine]) -> DoctorReport:
    """Wait until doctor finds nothing but the kernel's lacks (gossip settles after a change)."""

    async def clean() -> DoctorReport | None:
        report = await swarmnet.doctor(engines)
        return report if not beyond_the_kernel(report) else None

    return await eventually(clean, within=60.0, every=0.5)


async def sandboxes_ready(engines: list[Engine]) -> None:
    """Wait for every node's ingress sandbox (and so its docker_gwbridge) after a join."""
    for engine in engines:

        async def sandboxed(engine: Engine = engine) -> bool | None:
            try:
                mesh = await swarmnet.ingress(engine)
            except swarmnet.NetworkNotFound:
                return None  # moments after a join a node may not hold ingress yet
            return True if mesh.sandbox else None

        await eventually(sandboxed)


async def run_container(engine: Engine, name: str, network: str | None = None) -> str:
    networks = [network] if network else ()
    container = await engine.containers.run(
        LAB_IMAGE, ["sleep", "600"], name=name, networks=networks
    )
    return container.id


async def remove_container(engine: Engine, name: str) -> None:
    await engine.containers.remove(name)


async def remove_network(engine: Engine, name: str) -> None:
    with contextlib.suppress(swarmnet.NotFound):
        await engine._transport.request("DELETE", f"networks/{name}")


@pytest.fixture(scope="module", autouse=True)
def no_docker_gwbridge_left(lab: Lab) -> Iterator[None]:
    """Leave the nodes as found: the engine keeps docker_gwbridge after a swarm is gone.

    Autouse, so it is set up before the module's swarm and torn down after it.
    """
    yield
    anyio.run(remove_gwbridges, lab.nodes[:3])


# -- a healthy swarm --------------------------------------------------------------------------


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_healthy_swarm_gets_no_finding_but_the_kernels(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    nodes = lab.nodes[:3]
    async with engines_of(nodes) as engines:
        # The VXLAN socket (4789/udp) opens with a node's first overlay endpoint: its
        # ingress sandbox, made moments after the join.
        await sandboxes_ready(engines)
        report = await healthy(engines)

    assert [(f.engine, f.kind) for f in report.problems] == [
        (name, FindingKind.IPVS_MISSING) for name in ("node1", "node2", "node3")
    ]
    assert report.engines == ("node1", "node2", "node3")
    # Every node tried every other: TCP confirmed, UDP only "not refused".
    pairs = {(c.source, c.address) for c in report.port_checks}
    assert pairs == {(a.name, b.address) for a in nodes for b in nodes if a is not b}
    for check in report.port_checks:
        expected = PortStatus.REACHABLE if check.protocol == "tcp" else PortStatus.UNCONFIRMED
        assert check.status is expected, check
    managers = {c.target for c in report.port_checks if c.port == 2377}
    assert managers == {"node1"}


# -- one fault at a time ------------------------------------------------------------------------


@pytest.mark.lab
@pytest.mark.anyio
async def test_bridges_inside_the_swarm_pool_or_on_an_overlays_subnet_are_reported(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    overlay, in_pool, on_overlay = f"{PREFIX}-ov", f"{PREFIX}-pool", f"{PREFIX}-onov"
    on_route = f"{PREFIX}-route"
    lab_half = list(lab.subnet.subnets(prefixlen_diff=1))[1]  # the node's own LAN, via eth0
    async with engines_of(lab.nodes[:3]) as engines:
        manager, node2, _ = engines
        swarm = await manager._transport.request("GET", "swarm")
        pool = ipaddress.IPv4Network((swarm["DefaultAddrPool"] or ["10.0.0.0/8"])[0])
        free = [s for s in pool.subnets(new_prefix=24) if s.network_address.packed[1] >= 200]
        overlay_subnet, bridge_subnet = free[int(uuid.uuid4()) % 1000], free[-1]
        await manager._transport.request(
            "POST",
            "networks/create",
            json_body={
                "Name": overlay,
                "Driver": "overlay",
                "IPAM": {"Config": [{"Subnet": str(overlay_subnet)}]},
            },
        )
        try:
            # node2, a worker, holds no endpoint of the overlay, so its engine lets a
            # bridge take the same subnet; a task of the overlay landing there would clash.
            made = ((in_pool, bridge_subnet), (on_overlay, overlay_subnet), (on_route, lab_half))
            for name, subnet in made:
                await node2._transport.request(
                    "POST",
                    "networks/create",
                    json_body={"Name": name, "IPAM": {"Config": [{"Subnet": str(subnet)}]}},
                )

            report = await swarmnet.doctor(engines, check_ports=False)
        finally:
            for name in (in_pool, on_overlay, on_route):
                await remove_network(node2, name)
            await remove_network(manager, overlay)

    overlaps = report.of_kind(FindingKind.SUBNET_OVERLAP)
    assert {f.engine for f in overlaps} == {"node2"}
    in_pool_findings = [f for f in overlaps if f.subjects == (in_pool, str(pool))]
    assert len(in_pool_findings) == 1
    assert in_pool_findings[0].severity is Severity.WARNING
    assert f"lies in the swarm's default address pool {pool}" in in_pool_findings[0].seen
    clash = [f for f in overlaps if f.subjects == (on_overlay, overlay)]
    assert len(clash) == 1
    assert clash[0].severity is Severity.ERROR
    assert f"overlaps overlay network {overlay!r} ({overlay_subnet})" in clash[0].seen
    routed = [f for f in overlaps if f.subjects == (on_route, str(lab.subnet))]
    assert len(routed) == 1
    assert routed[0].severity is Severity.ERROR
    assert f"overlaps the host's route to {lab.subnet} via eth0" in routed[0].seen
    assert "network namespace snl-" in routed[0].seen
    assert {f.kind for f in beyond_the_kernel(report)} == {FindingKind.SUBNET_OVERLAP}


@pytest.mark.lab
@pytest.mark.anyio
async def test_an_overlay_too_big_for_the_nodes_interface_is_an_mtu_mismatch(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    network, container = f"{PREFIX}-mtu", f"{PREFIX}-mtu-c"
    async with engines_of(lab.nodes[:3]) as engines:
        manager, node2, _ = engines
        await manager._transport.request(
            "POST",
            "networks/create",
            json_body={
                "Name": network,
                "Driver": "overlay",
                "Attachable": True,
                "Options": {"com.docker.network.driver.mtu": "1500"},
            },
        )
        try:
            await run_container(node2, container, network)
            report = await swarmnet.doctor(engines, check_ports=False)
        finally:
            await remove_container(node2, container)
            await remove_network(manager, network)

    mismatches = report.of_kind(FindingKind.MTU_MISMATCH)
    # The manager lists every overlay; node2 holds it through the container.
    assert {f.engine for f in mismatches} == {"node1", "node2"}
    for finding in mismatches:
        assert finding.subjects == (network, "eth0")
        assert "1550 bytes on the wire, more than eth0's MTU 1500" in finding.seen
        assert "mtu=1450" in finding.action


@pytest.mark.lab
@pytest.mark.anyio
async def test_forwarding_off_and_a_forward_drop_policy_are_reported(
    lab: Lab, swarm_cluster: Cluster, tmp_path: Path
) -> None:
    node3 = lab.nodes[2]
    saved = tmp_path / "filter.rules"
    async with engines_of(lab.nodes[:3]) as engines:
        await sandboxes_ready(engines)  # docker_gwbridge and its rules are in place
        saved.write_text(await node3.exec("iptables-save", "-t", "filter"))
        forwarding = (await node3.exec("cat", "/proc/sys/net/ipv4/ip_forward")).strip()
        try:
            # Inside node3's namespace only: the policy DROP with nothing let through.
            await node3.exec("iptables", "-P", "FORWARD", "DROP")
            await node3.exec("iptables", "-F", "FORWARD")
            await node3.exec("sysctl", "-qw", "net.ipv4.ip_forward=0")

            report = await swarmnet.doctor(engines, check_ports=False)
        finally:
            await node3.exec("sh", "-c", f"iptables-restore -T filter < {saved}")
            await node3.exec("sysctl", "-qw", f"net.ipv4.ip_forward={forwarding}")
        after = await swarmnet.doctor(engines, check_ports=False)

    dropped = report.of_kind(FindingKind.FORWARD_DROP)
    assert [f.engine for f in dropped] == ["node3"]
    assert set(dropped[0].subjects) >= {"docker0", "docker_gwbridge"}
    assert "FORWARD policy DROP" in dropped[0].seen
    assert "snl-" in dropped[0].seen  # read in the node's own namespace
    forwarding_off = report.of_kind(FindingKind.IP_FORWARDING_OFF)
    assert [f.engine for f in forwarding_off] == ["node3"]
    assert forwarding_off[0].severity is Severity.ERROR
    assert "net.ipv4.ip_forward=0" in forwarding_off[0].seen
    assert not after.of_kind(FindingKind.FORWARD_DROP)
    assert not after.of_kind(FindingKind.IP_FORWARDING_OFF)


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_container_on_the_default_bridge_is_reported_and_the_cli_says_so(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    on_default, on_own = f"{PREFIX}-dflt", f"{PREFIX}-own"
    network = f"{PREFIX}-br"
    node2 = lab.nodes[1]
    async with node2.engine() as engine:
        await engine._transport.request("POST", "networks/create", json_body={"Name": network})
        try:
            await run_container(engine, on_default)
            await run_container(engine, on_own, network)

            report = await swarmnet.doctor(engine, check_ports=False)
            cli = await anyio.run_process(
                [
                    sys.executable,
                    "-m",
                    "swarmnet",
                    "doctor",
                    "--json",
                    "--no-ports",
                    "--engine",
                    node2.docker_host,
                ],
                check=False,
            )
        finally:
            await remove_container(engine, on_default)
            await remove_container(engine, on_own)
            await remove_network(engine, network)

    found = report.of_kind(FindingKind.DEFAULT_BRIDGE_CONTAINERS)
    assert len(found) == 1
    assert found[0].subjects == (on_default,)
    assert "no embedded DNS" in found[0].seen
    assert cli.returncode == 3  # findings at or above --fail-on (2 is a usage error)
    printed = json.loads(cli.stdout)
    others = [f for f in printed["findings"] if f["kind"] not in KERNEL_KINDS]
    assert [f["kind"] for f in others] == ["default-bridge-containers"]
    assert others[0]["subjects"] == [on_default]


@pytest.mark.lab
@pytest.mark.anyio
async def test_host_checks_run_where_a_probe_says_and_are_skipped_without_one(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    node = lab.nodes[1]
    async with node.engine() as engine:
        skipped = await swarmnet.doctor(engine, probes={node.name: None}, check_ports=False)
        probed = await swarmnet.doctor(
            engine, probes={node.name: NetnsProbe(node.netns)}, check_ports=False
        )

    assert [f.kind for f in skipped.findings] == [FindingKind.NOT_CHECKED]
    assert skipped.findings[0].severity is Severity.INFO
    assert "were not run" in skipped.findings[0].seen
    assert skipped.ok
    assert {f.kind for f in probed.findings} == KERNEL_KINDS  # read in its namespace


@pytest.mark.lab
@pytest.mark.anyio
async def test_an_ingress_removed_under_a_task_leaves_a_stale_copy_that_doctor_names(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    """The trap ``recreate_ingress`` avoids, sprung with raw calls to show doctor sees it."""
    service = f"{PREFIX}-stale"
    node3 = lab.nodes[2]
    async with engines_of(lab.nodes[:3]) as engines:
        manager, _, worker = engines
        old = await swarmnet.ingress(manager)
        await manager._transport.request(
            "POST",
            "services/create",
            json_body={
                "Name": service,
                "TaskTemplate": {
                    "ContainerSpec": {
                        "Image": LAB_IMAGE,
                        "Command": ["sleep", "600"],
                        "StopGracePeriod": 0,  # sleep as PID 1 ignores SIGTERM
                    },
                    "Placement": {"Constraints": ["node.hostname==node3"]},
                },
                "EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 18081}]},
            },
        )
        try:

            async def task_running() -> bool | None:
                filters = json.dumps({"label": [f"com.docker.swarm.service.name={service}"]})
                listed = await worker._transport.request(
                    "GET", "containers/json", params={"filters": filters}
                )
                return True if listed else None

            await eventually(task_running)
            # The task takes its 10 s stop grace to leave; ingress goes at once meanwhile.
            await manager._transport.request("DELETE", f"services/{service}")
            await manager._transport.request("DELETE", f"networks/{old.id}")

            async def gone_from_the_swarm() -> bool | None:
                listed = await manager._transport.request("GET", "networks")
                return None if any(n["Id"] == old.id for n in listed) else True

            await eventually(gone_from_the_swarm)
            report = await swarmnet.doctor(engines, check_ports=False)
        finally:
            with contextlib.suppress(swarmnet.NotFound):
                await manager._transport.request("DELETE", f"services/{service}")
            await node3.restart()
            await swarmnet.recreate_ingress(engines)

    stale = report.of_kind(FindingKind.STALE_SWARM_NETWORK)
    assert [f.engine for f in stale] == ["node3"]
    assert stale[0].subjects == ("ingress",)
    assert old.id[:12] in stale[0].seen
    assert "restart this node's dockerd" in stale[0].action


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_node_cut_off_from_the_lab_is_reported_from_both_sides(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    nodes = lab.nodes[:3]
    cut = nodes[2]
    async with engines_of(nodes) as engines:
        await cut.cut()
        try:
            report = await swarmnet.doctor(engines, port_timeout=0.5, settle=0)
        finally:
            await cut.heal()
        await healthy(engines)

    unreachable = report.of_kind(FindingKind.SWARM_PORT_UNREACHABLE)
    by_source = {f.engine: f for f in unreachable}
    assert set(by_source) == {"node1", "node2", "node3"}
    assert "node node3 (" in by_source["node1"].seen
    assert "node node3 (" in by_source["node2"].seen
    assert "7946/tcp" in by_source["node1"].subjects
    from_cut = [f for f in unreachable if f.engine == "node3"]
    assert {s for f in from_cut for s in f.subjects} >= {"2377/tcp", "7946/tcp"}
    assert all(f.severity is Severity.ERROR for f in unreachable)
    assert not {f.kind for f in report.findings} & (
        HOST_KINDS
        - {
            FindingKind.SWARM_PORT_UNREACHABLE,
            FindingKind.OVERLAY_PEERS_MISSING,
        }
    )


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_bounded_port_plan_tries_fewer_pairs_and_still_names_a_cut_off_node(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    """Issue #16: with ``port_peers=1`` each node is tried by one neighbour on the ring of
    addresses (node1 tries node2, node2 tries node3, node3 tries node1) and every node
    tries the manager (node1): 4 pairs instead of 6, and the cut node is still named."""
    nodes = lab.nodes[:3]
    node1, node2, node3 = nodes
    async with engines_of(nodes) as engines:
        await healthy(engines)
        whole = await swarmnet.doctor(engines, port_peers=1, settle=0)
        await node3.cut()
        try:
            cut = await swarmnet.doctor(engines, port_peers=1, port_timeout=0.5, settle=0)
        finally:
            await node3.heal()
        await healthy(engines)

    expected = {
        ("node1", node2.address),
        ("node2", node3.address),
        ("node3", node1.address),
        ("node2", node1.address),  # every node tries the manager
    }
    assert {(c.source, c.address) for c in whole.port_checks} == expected
    assert not whole.of_kind(FindingKind.SWARM_PORT_UNREACHABLE)
    assert {(c.source, c.address) for c in cut.port_checks} == expected
    unreachable = {f.engine: f for f in cut.of_kind(FindingKind.SWARM_PORT_UNREACHABLE)}
    # node3's one neighbour names it; node3 names the manager it cannot reach.
    assert set(unreachable) == {"node2", "node3"}
    assert "node node3 (" in unreachable["node2"].seen
    assert "node node1 (" in unreachable["node3"].seen


@pytest.mark.lab
@pytest.mark.anyio
async def test_default_bridge_advice_fits_the_networks_the_cluster_has(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    """Issue "new user": the advice named `app`, an overlay that existed, and said "3 warning"."""
    first, second = f"{PREFIX}-one", f"{PREFIX}-two"
    async with engines_of(lab.nodes[:3]) as engines:
        manager, node2, _ = engines
        # On the manager only: node2, a worker, does not list it until something attaches.
        await manager.networks.create(swarmnet.OverlaySpec(name="app", attachable=True))
        try:
            await run_container(node2, first)
            await run_container(node2, second)
            report = await swarmnet.doctor(engines, check_ports=False)
            await remove_container(node2, second)
            alone = await swarmnet.doctor(node2, check_ports=False)
        finally:
            for name in (first, second):
                with contextlib.suppress(swarmnet.NotFound):
                    await remove_container(node2, name)
            await manager.networks.remove("app")

    [both] = report.of_kind(FindingKind.DEFAULT_BRIDGE_CONTAINERS)
    assert both.seen.startswith("2 running containers on the default bridge:")
    assert "docker network create app " not in both.action
    assert (
        f"`docker network create app-2 && docker network connect app-2 {first} && "
        f"docker network connect app-2 {second}`" in both.action
    )
    assert (
        "connect them to a user-defined network that exists already (attachable overlay 'app')"
        in both.action
    )
    [one] = alone.of_kind(FindingKind.DEFAULT_BRIDGE_CONTAINERS)
    assert one.seen.startswith("1 running container on the default bridge:")
    assert "it cannot find other containers by name" in one.seen
    assert "and shares one network" in one.seen
    assert one.action.endswith(f"`docker network disconnect bridge {first}`")
    # Doctor on node2 alone knows no manager's list: "app" is free as far as it can tell.
    assert f"`docker network create app && docker network connect app {first}`" in one.action
    for rendered in (report.render(), alone.render()):
        summary = rendered.splitlines()[-1]
        assert re.search(r"\b\d+ (errors?|warnings?)\b", summary), summary
        assert not re.search(r"\b1 (errors|warnings)\b", summary), summary
        assert not re.search(r"\b(\d\d+|[02-9]) (error|warning)\b", summary), summary
        assert "(s)" not in rendered


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_kernel_without_ipvs_or_esp_is_reported_on_every_swarm_node(
    lab: Lab, swarm_cluster: Cluster
) -> None:
    """Issue "services": this machine's kernel has neither (CONFIG_IP_VS, CONFIG_INET_ESP)."""
    network = f"{PREFIX}-enc"
    async with engines_of(lab.nodes[:3]) as engines:
        manager = engines[0]
        plain = await swarmnet.doctor(engines, check_ports=False)
        await manager.networks.create(
            swarmnet.OverlaySpec(name=network, attachable=True, encrypted=True)
        )
        try:
            encrypted = await swarmnet.doctor(engines, check_ports=False)
        finally:
            await manager.networks.remove(network)

    ipvs = plain.of_kind(FindingKind.IPVS_MISSING)
    assert [f.engine for f in ipvs] == ["node1", "node2", "node3"]
    for finding in ipvs:
        assert finding.severity is Severity.ERROR
        assert "CONFIG_IP_VS is not set in /proc/config.gz" in finding.seen
        assert "virtual IP" in finding.seen
        assert "routing mesh" in finding.seen
        assert "--endpoint-mode dnsrr" in finding.action
    esp = plain.of_kind(FindingKind.ESP_MISSING)
    assert [(f.engine, f.severity) for f in esp] == [
        (name, Severity.INFO) for name in ("node1", "node2", "node3")
    ]
    assert "no encrypted overlay exists now" in esp[0].seen
    # With an encrypted overlay in the swarm, every node is told: the workers learn of
    # it from the manager's list.
    esp = encrypted.of_kind(FindingKind.ESP_MISSING)
    assert [(f.engine, f.severity) for f in esp] == [
        (name, Severity.ERROR) for name in ("node1", "node2", "node3")
    ]
    for finding in esp:
        assert f"encrypted overlay {network}" in finding.seen
        assert "traffic between nodes is dropped" in finding.seen
        assert "CONFIG_INET_ESP" in finding.action
        assert network in finding.subjects


class KernelTree(LocalProbe):
    """A probe that runs programs in a node's namespace, but reads a made-up kernel tree.

    The kernel script runs for real, here, with its root (its first argument) moved.
    """

    def __init__(self, inner: NetnsProbe, root: Path) -> None:
        self.inner, self.root = inner, root

    @property
    def where(self) -> str:
        return self.inner.where

    async def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:  # noqa: ASYNC109
        if argv[:2] == ["sh", "-c"] and "modules.dep" in argv[2]:
            return await super().run([*argv[:4], str(self.root), *argv[5:]], timeout=timeout)
        return await self.inner.run(argv, timeout=timeout)


def kernel_tree(root: Path, *, modules: str = "", config: str = "") -> Path:
    """A file tree holding what the kernel script reads: /proc bits and a build config."""
    (root / "proc" / "net").mkdir(parents=True)
    if modules:
        (root / "proc" / "modules").write_text(modules)
    if config:
        (root / "proc" / "config.gz").write_bytes(gzip.compress(config.encode()))
    return root


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_kernel_with_ipvs_and_esp_gets_no_kernel_finding(
    lab: Lab, swarm_cluster: Cluster, tmp_path: Path
) -> None:
    tree = kernel_tree(
        tmp_path,
        modules="ip_vs 172032 0 - Live 0x0\nesp4 24576 0 - Live 0x0\n",
        config="# CONFIG_IP_VS is not set\n",  # a loaded module outweighs a stale config
    )
    node = lab.nodes[1]
    async with node.engine() as engine:
        report = await swarmnet.doctor(
            engine, probes={node.name: KernelTree(NetnsProbe(node.netns), tree)}, check_ports=False
        )

    assert report.findings == ()


# -- the kernel's evidence, weighed ---------------------------------------------------------


@pytest.mark.anyio
async def test_the_kernel_script_reads_modules_proc_files_and_the_build_config(
    tmp_path: Path,
) -> None:
    tree = kernel_tree(
        tmp_path,
        modules="esp4 24576 0 - Live 0x0\nvxlan 1 0 - Live 0x0\n",
        config="CONFIG_XFRM=y\nCONFIG_IP_VS=m\nCONFIG_INET_ESP=m\n",
    )
    (tree / "proc" / "net" / "ip_vs").write_text("")
    release = os.uname().release
    moddir = tree / "lib" / "modules" / release
    moddir.mkdir(parents=True)
    (moddir / "modules.dep").write_text("kernel/net/netfilter/ipvs/ip_vs.ko.xz: kernel/x.ko\n")

    evidence = await read_kernel(LocalProbe(), root=str(tree))

    assert isinstance(evidence, KernelEvidence)
    assert evidence.release == release
    assert evidence.proc_files == frozenset({"net/ip_vs"})
    assert evidence.loaded == frozenset({"esp4"})
    assert evidence.installed == frozenset({"ip_vs"})
    assert evidence.builtin is None
    assert evidence.config == {"CONFIG_IP_VS": "m", "CONFIG_INET_ESP": "m"}
    assert evidence.config_source == "/proc/config.gz"
    assert evidence.support(IPVS) == (Support.PRESENT, "/proc/net/ip_vs exists")
    assert evidence.support(ESP) == (Support.PRESENT, "module esp4 is loaded")


@pytest.mark.anyio
async def test_without_proc_config_the_kernel_script_reads_the_boot_config(
    tmp_path: Path,
) -> None:
    tree = kernel_tree(tmp_path)  # no /proc/modules, no /proc/config.gz
    release = os.uname().release
    (tree / "boot").mkdir()
    (tree / "boot" / f"config-{release}").write_text(
        "CONFIG_IP_VS=y\n# CONFIG_INET_ESP is not set\nCONFIG_IP_VS_DEBUG=y\n"
    )

    evidence = await read_kernel(LocalProbe(), root=str(tree))

    assert isinstance(evidence, KernelEvidence)
    assert evidence.loaded is None
    assert evidence.config == {"CONFIG_IP_VS": "y", "CONFIG_INET_ESP": "n"}
    assert evidence.config_source == f"/boot/config-{release}"
    assert evidence.support(IPVS)[0] is Support.PRESENT
    assert evidence.support(ESP) == (
        Support.ABSENT,
        f"CONFIG_INET_ESP is not set in /boot/config-{release} (kernel {release})",
    )


@pytest.mark.parametrize(
    ("evidence", "support", "why"),
    [
        ({"builtin": ["ip_vs"]}, Support.PRESENT, "built into the kernel"),
        ({"config": {"CONFIG_IP_VS": "y"}}, Support.PRESENT, "CONFIG_IP_VS=y"),
        ({"loaded": [], "installed": ["ip_vs"]}, Support.LOADABLE, "installed but not loaded"),
        ({"config": {"CONFIG_IP_VS": "m"}}, Support.LOADABLE, "CONFIG_IP_VS=m"),
        ({"config": {"CONFIG_IP_VS": "n"}}, Support.ABSENT, "CONFIG_IP_VS is not set"),
        ({"config": {}}, Support.ABSENT, "CONFIG_IP_VS is not set"),  # its deps are off
        ({"loaded": [], "installed": []}, Support.ABSENT, "neither loaded nor installed"),
        ({"loaded": []}, Support.UNKNOWN, "no module list and no kernel build config"),
        ({}, Support.UNKNOWN, "no module list and no kernel build config"),
    ],
)
def test_kernel_evidence_is_weighed_present_loadable_absent_or_unknown(
    evidence: dict[str, object], support: Support, why: str
) -> None:
    weighed = KernelEvidence.model_validate({"release": "6.1.0", **evidence}).support(IPVS)

    assert weighed[0] is support
    assert why in weighed[1]


def swarm_node(kernel: dict[str, object], *networks: Network) -> tuple[Survey, NodeFacts]:
    """The facts of one active swarm node (never opened) whose kernel showed ``kernel``."""
    node = NodeFacts(
        engine=Engine("unix:///run/nowhere.sock", name="n1"),
        info=EngineInfo.model_validate({"Name": "n1", "Swarm": {"LocalNodeState": "active"}}),
        networks=list(networks),
        host=HostFacts(where="here", kernel=KernelEvidence.model_validate(kernel)),
    )
    return Survey.of([node]), node


ENCRYPTED = Network.model_validate(
    {
        "Id": "e1",
        "Name": "secret",
        "Driver": "overlay",
        "Scope": "swarm",
        "Options": {"encrypted": ""},
    }
)


@pytest.mark.parametrize(
    ("kernel", "networks", "expected"),
    [
        ({"loaded": ["ip_vs", "esp4"]}, [ENCRYPTED], []),
        ({"config": {}}, [], [("ipvs-missing", "error"), ("esp-missing", "info")]),
        ({"config": {}}, [ENCRYPTED], [("ipvs-missing", "error"), ("esp-missing", "error")]),
        ({"config": {"CONFIG_IP_VS": "m", "CONFIG_INET_ESP": "m"}}, [], [("ipvs-missing", "info")]),
        (
            {"config": {"CONFIG_IP_VS": "m", "CONFIG_INET_ESP": "m"}},
            [ENCRYPTED],
            [("ipvs-missing", "info"), ("esp-missing", "info")],
        ),
        ({}, [], [("not-checked", "info")]),  # nothing to tell by: said, not guessed
        ({}, [ENCRYPTED], [("not-checked", "info"), ("esp-missing", "info")]),
    ],
)
def test_kernel_findings_weigh_what_the_kernel_lacks_against_what_the_swarm_uses(
    kernel: dict[str, object], networks: list[Network], expected: list[tuple[str, str]]
) -> None:
    survey, node = swarm_node(kernel, *networks)

    findings = check_ipvs(survey, node) + check_esp(survey, node)

    assert [(f.kind.value, f.severity.value) for f in findings] == expected
    for finding in findings:
        assert finding.engine == "n1"
        assert "(s)" not in finding.seen


def test_the_summary_counts_in_words_that_agree() -> None:
    def finding(severity: Severity) -> Finding:
        return Finding(
            kind=FindingKind.NOT_CHECKED, severity=severity, engine="n1", seen="s", action="a"
        )

    many = DoctorReport(
        engines=("n1", "n2"),
        findings=(
            finding(Severity.ERROR),
            *[finding(Severity.WARNING)] * 3,
            *[finding(Severity.INFO)] * 2,
        ),
    )
    one = DoctorReport(engines=("n1",), findings=(finding(Severity.WARNING),))

    assert many.summary() == "doctor: 1 error, 3 warnings, 2 info on n1, n2"
    assert one.summary() == "doctor: 1 warning on n1"
    assert DoctorReport(engines=("n1",)).summary() == "doctor: no findings on n1"
    assert many.render().endswith("\n" + many.summary())


# -- the FORWARD rule evaluator, on recorded `iptables -S` text ---------------------------------

# Recorded from a lab node's namespace (dockerd 20.10 with a swarm: docker0, docker_gwbridge).
DOCKER_RULES = """\
-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-ISOLATION-STAGE-1
-N DOCKER-ISOLATION-STAGE-2
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker_gwbridge -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker_gwbridge -j DOCKER
-A FORWARD -i docker_gwbridge ! -o docker_gwbridge -j ACCEPT
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A FORWARD -i docker_gwbridge -o docker_gwbridge -j DROP
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
"""


def with_rule_first(chain: str, rule: str) -> str:
    """DOCKER_RULES with ``rule`` inserted first in ``chain`` (what ``iptables -I`` does)."""
    lines = DOCKER_RULES.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(f"-A {chain} "))
    lines.insert(first, f"-A {chain} {rule}")
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("inserted", "bridge", "verdict"),
    [
        (None, "docker0", "ACCEPT"),
        (None, "docker_gwbridge", "ACCEPT"),
        (None, "br-0123456789ab", None),  # a bridge no rule names: the policy decides
        ("-j DROP", "docker0", "DROP"),
        ('-m comment --comment "lab" -i br+ -j DROP', "br-0123456789ab", "DROP"),
        ("-p tcp -j DROP", "docker0", "ACCEPT"),  # conditional: not decisive for every packet
        ("! -i docker0 -j REJECT --reject-with icmp-port-unreachable", "docker0", "ACCEPT"),
        ("! -i docker0 -j REJECT --reject-with icmp-port-unreachable", "docker_gwbridge", "REJECT"),
    ],
)
def test_the_forward_evaluator_follows_chains_like_the_kernel(
    inserted: str | None, bridge: str, verdict: str | None
) -> None:
    text = with_rule_first("DOCKER-USER", inserted) if inserted else DOCKER_RULES
    policies, chains = parse_rules(text)

    decided = forward_verdict(chains, bridge, "eth0")

    assert policies["FORWARD"] == "DROP"
    assert (decided[0] if decided else None) == verdict
