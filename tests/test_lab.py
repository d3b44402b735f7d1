"""swarmnet.lab: real engines on one host, brought up, faulted, and torn down without a trace.

The session ``lab`` fixture (from ``swarmnet.lab.pytest_plugin``) is shared; tests that tear a lab
down make a throwaway one with a name of their own. No test sends traffic to any address
outside the lab's bridge.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import AsyncIterator
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

import anyio
import pytest

import swarmnet
import swarmnet.lab
from swarmnet import Engine, InvalidSpec
from swarmnet._cli import main
from swarmnet.lab import LAB_IMAGE, Lab, LabError, LabNode, LabNodeState, _cleanup, _daemon, _host
from swarmnet.lab._image import APPLETS, image_archive, rootfs_tar
from swarmnet.lab._layout import NodeLayout
from swarmnet.lab.pytest_plugin import lab_name, remove_gwbridges

# -- helpers ---------------------------------------------------------------------------


async def run_container(node: LabNode, *cmd: str) -> tuple[int, str]:
    """Run ``cmd`` in a LAB_IMAGE container on ``node``; return its exit code and output."""
    async with node.engine() as engine:
        transport = engine._transport
        created = await transport.request(
            "POST", "containers/create", json_body={"Image": LAB_IMAGE, "Cmd": list(cmd)}
        )
        container = created["Id"]
        try:
            await transport.request("POST", f"containers/{container}/start")
            result = await transport.request("POST", f"containers/{container}/wait")
            logs = await transport.request(
                "GET", f"containers/{container}/logs", params={"stdout": "1", "stderr": "1"}
            )
        finally:
            await transport.request("DELETE", f"containers/{container}", params={"force": "1"})
    return int(result["StatusCode"]), str(logs)


async def start_sleeper(node: LabNode) -> str:
    """Leave a container running on ``node`` (mounts, a container netns, a cgroup, a shim)."""
    async with node.engine() as engine:
        created = await engine._transport.request(
            "POST", "containers/create", json_body={"Image": LAB_IMAGE, "Cmd": ["sleep", "600"]}
        )
        await engine._transport.request("POST", f"containers/{created['Id']}/start")
    return str(created["Id"])


def lab_pids(name: str) -> dict[int, str]:
    """Processes whose command line names the lab, read straight from /proc."""
    markers = (f"/swarmnet-lab/{name}/", f"swarmnet-lab-{name}-node", f"/netns/snl-{name}-")
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if any(marker in cmdline for marker in markers):
                found[int(entry.name)] = cmdline
    return found


async def command(*argv: str) -> str:
    return (await anyio.run_process(list(argv))).stdout.decode()


async def assert_no_trace(name: str) -> None:
    """Check each kind of resource, without swarmnet's help, for anything of lab ``name``."""
    netns = [
        n for n in (await command("ip", "netns", "list")).split() if n.startswith(f"snl-{name}-")
    ]
    assert netns == [], "network namespaces left"

    links = re.findall(r"^\d+: ([^:@]+)", await command("ip", "-o", "link", "show"), re.M)
    lab_links = [n for n in links if n == f"snb-{name}" or re.fullmatch(rf"sn-{name}-\d+", n)]
    assert lab_links == [], "links left"

    assert lab_pids(name) == {}, "processes left"

    rules = [
        line
        for line in (await command("iptables", "-w", "-S")).splitlines()
        if re.search(rf"swarmnet-lab:{name}\b", line) or f"snb-{name} " in line
    ]
    assert rules == [], "iptables rules left"

    mounts, directories, cgroups = files_left(name)
    assert mounts == [], "mounts left"
    assert directories == [], "directories left"
    assert cgroups == [], "cgroups left"


def mount_points() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def files_left(name: str) -> tuple[list[str], list[Path], list[Path]]:
    """Mounts, state/runtime directories and cgroups of lab ``name`` still on the host."""
    mounts = [
        p for p in mount_points() if f"/swarmnet-lab/{name}/" in p or f"/netns/snl-{name}-" in p
    ]
    directories = [
        d
        for d in (Path("/var/lib/swarmnet-lab", name), Path("/run/swarmnet-lab", name))
        if d.exists()
    ]
    cgroups = list(Path("/sys/fs/cgroup").glob(f"*/swarmnet-lab-{name}-node*"))
    return mounts, directories, cgroups


@pytest.fixture
def scratch_name(pytestconfig: pytest.Config) -> str:
    """A lab name of this test run's own, for labs that a test makes and destroys."""
    return f"td{lab_name(pytestconfig)[-6:]}"  # pytest0 -> tdytest0: one per xdist worker


@pytest.fixture
async def scratch(scratch_name: str) -> AsyncIterator[Lab]:
    """A two-node throwaway lab, up; removed afterwards whatever the test did."""
    lab = Lab(scratch_name, nodes=2)
    try:
        await lab.up()
        yield lab
    finally:
        await Lab(scratch_name).down()


# -- specs: no host needed ------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "Lab", "has-dash", "under_s", "toolongname", "ünï"])
def test_a_lab_name_is_1_to_8_lowercase_letters_or_digits(name: str) -> None:
    with pytest.raises(InvalidSpec, match="invalid lab name"):
        Lab(name)


@pytest.mark.parametrize("nodes", [0, -1, 65])
def test_a_lab_has_1_to_64_nodes(nodes: int) -> None:
    with pytest.raises(InvalidSpec, match="1 to 64 nodes"):
        Lab("ok", nodes)


def test_every_resource_is_named_from_the_lab_name() -> None:
    lab = Lab("abcdefgh", nodes=12)
    node = lab.node("node12")
    assert lab.bridge == "snb-abcdefgh"
    assert node.netns == "snl-abcdefgh-node12"
    assert node.docker_host == "unix:///run/swarmnet-lab/abcdefgh/node12/docker.sock"
    assert node.log_file == Path("/var/lib/swarmnet-lab/abcdefgh/node12/dockerd.log")
    assert node.config_file == Path("/var/lib/swarmnet-lab/abcdefgh/node12/daemon.json")
    assert lab.node(12) is node
    with pytest.raises(KeyError):
        lab.node("node13")


def test_a_tls_lab_names_each_nodes_listener_and_the_client_certificates() -> None:
    lab = Lab("abc", nodes=2, tls=True)
    node = lab.node("node2")
    assert node.tls_host == f"tcp://{node.address}:2376"
    assert lab.cert_path == Path("/var/lib/swarmnet-lab/abc/tls/client")
    assert node.cert_path == lab.cert_path
    argv = _daemon.dockerd_argv(_layout_of(node))
    script = argv[-1]
    assert f"-H {node.tls_host} --tlsverify" in script
    assert "/var/lib/swarmnet-lab/abc/tls/node2/server-cert.pem" in script


def test_a_lab_without_tls_has_no_listener_and_says_how_to_get_one() -> None:
    lab = Lab("abc", nodes=1)
    node = lab.nodes[0]
    assert (node.tls_host, node.cert_path) == (None, None)
    assert "--tlsverify" not in _daemon.dockerd_argv(_layout_of(node))[-1]
    with pytest.raises(LabError, match="swarmnet lab up --name abc --tls"):
        node.engine(tls=True)


def _layout_of(node: LabNode) -> NodeLayout:
    return node._layout


def test_the_default_subnet_is_a_24_of_the_test_range_fixed_by_the_name() -> None:
    first, again, other = Lab("alpha"), Lab("alpha"), Lab("beta")
    assert first.subnet == again.subnet
    assert first.subnet != other.subnet
    assert first.subnet.prefixlen == 24
    assert first.subnet.subnet_of(IPv4Network("198.18.0.0/15"))
    assert first.bridge_address == str(first.subnet.network_address + 1)
    assert [n.address for n in first.nodes] == [
        str(first.subnet.network_address + i) for i in (2, 3, 4)
    ]


def test_an_explicit_subnet_must_hold_the_bridge_and_every_node() -> None:
    lab = Lab("sub", nodes=2, subnet="198.19.7.0/29")
    assert [n.address for n in lab.nodes] == ["198.19.7.2", "198.19.7.3"]
    with pytest.raises(InvalidSpec, match="room for 2 addresses"):
        Lab("sub", nodes=3, subnet="198.19.7.0/30")
    with pytest.raises(InvalidSpec, match="invalid lab subnet"):
        Lab("sub", subnet="198.19.7.1/24")


def test_the_image_is_a_busybox_rootfs_with_its_applets() -> None:
    with tarfile.open(fileobj=io.BytesIO(rootfs_tar())) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile()
    assert members["bin/busybox"].mode & 0o111
    for applet in ("sh", "sleep", "ping", "nslookup", "httpd", "ip", "cat", "nc"):
        assert members[f"bin/{applet}"].linkname == "busybox"
    assert set(APPLETS) <= {name.removeprefix("bin/") for name in members}
    assert members["tmp"].mode == 0o1777
    assert "etc/passwd" in members
    assert "etc/hosts" in members
    assert rootfs_tar() == rootfs_tar(), "the same busybox gives the same layer"
    # Over 1 MiB, aiohttp warns (an error under our warning filter) about a bytes body.
    assert len(image_archive()) < 2**20


def test_the_lab_api_is_exported_and_documented() -> None:
    assert swarmnet.lab.__all__ == sorted(swarmnet.lab.__all__)
    for name in swarmnet.lab.__all__:
        member = getattr(swarmnet.lab, name)
        if isinstance(member, type):
            assert member.__doc__, f"swarmnet.lab.{name} has no docstring"


# -- preflight ------------------------------------------------------------------------

INSTALL = "apt-get install -y docker.io busybox-static iproute2 iptables util-linux"


@pytest.mark.parametrize("missing", ["nsenter", "dockerd", "iptables", "ip", "unshare"])
def test_preflight_names_the_missing_program_and_what_to_install(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    real_which = _host.which
    monkeypatch.setattr(_host, "which", lambda tool: None if tool == missing else real_which(tool))
    with pytest.raises(LabError) as caught:
        _host.preflight()
    assert f"{missing} ({_host.REQUIRED_TOOLS[missing]})" in str(caught.value)
    assert INSTALL in str(caught.value)


def test_preflight_wants_busybox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_host, "BUSYBOX", tmp_path / "busybox")
    with pytest.raises(LabError, match=r"busybox \(busybox-static\).*apt-get install"):
        _host.preflight()


def test_preflight_wants_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_host, "is_root", lambda: False)
    with pytest.raises(LabError, match="must run as root"):
        _host.preflight()


@pytest.mark.anyio
async def test_up_checks_the_host_before_touching_it(
    monkeypatch: pytest.MonkeyPatch, scratch_name: str
) -> None:
    monkeypatch.setattr(_host, "which", lambda tool: None)
    with pytest.raises(LabError, match=r"dockerd \(docker.io\)"):
        await Lab(scratch_name).up()
    assert files_left(scratch_name) == ([], [], [])


# -- the session lab ------------------------------------------------------------------


@pytest.mark.lab
@pytest.mark.anyio
async def test_nodes_have_their_own_hostname_address_and_engine(
    lab: Lab, lab_nodes: list[LabNode]
) -> None:
    status = await lab.status()
    assert status.healthy
    assert [n.name for n in status.nodes] == [n.name for n in lab_nodes]
    assert [n.hostname for n in status.nodes] == [n.name for n in lab_nodes]
    assert len({n.address for n in status.nodes}) == len(lab_nodes)
    assert len({n.docker_host for n in status.nodes}) == len(lab_nodes)
    for node in lab_nodes:
        async with node.engine() as engine:
            assert await engine.ping()
            info = await engine.info()
        assert info.name == node.name
        assert info.docker_root_dir == f"/var/lib/swarmnet-lab/{lab.name}/{node.name}/data"


@pytest.mark.lab
@pytest.mark.anyio
async def test_every_node_holds_the_lab_image(lab_nodes: list[LabNode]) -> None:
    for node in lab_nodes:
        async with Engine(node.docker_host) as engine:
            image = await engine._transport.request("GET", f"images/{LAB_IMAGE}/json")
        assert LAB_IMAGE in image["RepoTags"]


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_container_on_one_node_pings_another_node(lab_nodes: list[LabNode]) -> None:
    first, second = lab_nodes[0], lab_nodes[1]
    code, output = await run_container(first, "ping", "-c", "1", "-W", "2", second.address)
    assert code == 0, output
    assert "1 packets received" in output


@pytest.mark.lab
@pytest.mark.anyio
async def test_lab_traffic_is_kept_on_the_bridge(lab: Lab) -> None:
    rules = await command("iptables", "-w", "-S", "FORWARD")
    bridge, tag = lab.bridge, f'--comment "swarmnet-lab:{lab.name}"'
    assert f"-A FORWARD -i {bridge} -o {bridge} -m comment {tag} -j ACCEPT" in rules
    assert f"-A FORWARD -i {bridge} ! -o {bridge} -m comment {tag} -j DROP" in rules
    assert f"-A FORWARD ! -i {bridge} -o {bridge} -m comment {tag} -j DROP" in rules
    routes = await lab.nodes[0].exec("ip", "-4", "route", "show", "default")
    assert routes.split()[:3] == ["default", "via", lab.bridge_address]


@pytest.mark.lab
@pytest.mark.anyio
async def test_up_again_leaves_a_healthy_lab_alone(lab: Lab) -> None:
    pidfiles = [Path(f"/run/swarmnet-lab/{lab.name}/{n.name}/dockerd.pid") for n in lab.nodes]
    before = [p.read_text() for p in pidfiles]
    seen: list[str] = []
    started = time.monotonic()
    status = await Lab(lab.name, len(lab.nodes)).up(progress=lambda step: seen.append(step.event))
    assert time.monotonic() - started < 2.0
    assert status.healthy
    assert [p.read_text() for p in pidfiles] == before, "no daemon was restarted"
    assert seen == ["lab.up.ready"]


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_killed_node_starts_again(lab_nodes: list[LabNode]) -> None:
    node = lab_nodes[-1]
    await node.kill()
    assert (await node.status()).state is LabNodeState.STOPPED
    await node.start()
    status = await node.status()
    assert (status.state, status.hostname) == (LabNodeState.RUNNING, node.name)


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_restarted_node_comes_back_with_its_containerd_replaced(lab: Lab) -> None:
    node = lab.nodes[-1]
    old = [
        pid
        for pid, cmd in lab_pids(lab.name).items()
        if cmd.startswith("containerd ") and f"/{lab.name}/{node.name}/" in cmd
    ]
    assert len(old) == 1
    await node.stop()
    assert (await node.status()).state is LabNodeState.STOPPED
    assert not any(_host.alive(pid) for pid in old), "stop waits for containerd to exit"
    await node.start()
    assert (await node.status()).state is LabNodeState.RUNNING
    await node.restart()
    assert (await node.status()).hostname == node.name


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_cut_node_is_unreachable_until_healed(lab_nodes: list[LabNode]) -> None:
    here, there = lab_nodes[0], lab_nodes[1]
    ping = ("busybox", "ping", "-c", "1", "-W", "1", there.address)
    assert "1 packets received" in await here.exec(*ping)
    await there.cut()
    try:
        with pytest.raises(LabError, match="exited with 1"):
            await here.exec(*ping)
    finally:
        await there.heal()
    assert "1 packets received" in await here.exec(*ping)


@pytest.mark.lab
@pytest.mark.anyio
async def test_the_gossip_port_is_seen_on_a_swarm_node_and_not_on_a_node_in_no_swarm(
    lab: Lab, swarm_cluster: swarmnet.Cluster
) -> None:
    """The probe behind the fixtures' restart of a node whose gossip outlived its leave."""
    assert len(lab.nodes) > 3, "needs a node outside the module's swarm (nodes 1-3)"
    assert await lab.nodes[0].gossip_leaked()  # in a swarm, its gossip listens
    outside = lab.nodes[3]
    async with outside.engine() as engine:
        await swarmnet.dissolve([engine])
    await remove_gwbridges([outside])  # restarts it if its gossip outlived the leave
    assert not await outside.gossip_leaked()


@pytest.mark.lab
@pytest.mark.anyio
async def test_exec_runs_in_the_node_namespace(lab_nodes: list[LabNode]) -> None:
    node = lab_nodes[1]
    addresses = await node.exec("ip", "-4", "-o", "addr", "show", "dev", "eth0")
    assert f"inet {node.address}/" in addresses
    assert await node.exec("false", check=False) == ""
    with pytest.raises(LabError, match="exited with 1"):
        await node.exec("false")


@pytest.mark.lab
@pytest.mark.anyio
async def test_the_lab_is_found_among_the_labs_on_the_host(lab: Lab) -> None:
    assert lab.name in await _cleanup.lab_names()


# -- the pytest plugin ----------------------------------------------------------------


@pytest.mark.parametrize("ci", ["true", ""])
def test_the_lab_fixture_fails_rather_than_skips_when_the_lab_cannot_come_up(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile("def test_needs_engines(lab):\n    pass\n")
    result = pytester.runpytest("-p", "swarmnet.lab.pytest_plugin", "--lab-name", "Not-Valid")
    result.assert_outcomes(errors=1)
    label = " (CI=true)" if ci else ""
    result.stdout.fnmatch_lines(
        [f"*the swarmnet test lab could not be brought up{label}: invalid lab name 'Not-Valid'*"]
    )


# -- the example ----------------------------------------------------------------------


@pytest.mark.lab
@pytest.mark.anyio
async def test_the_example_runs(scratch_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).parent.parent / "examples" / "lab_basics.py"
    spec = importlib.util.spec_from_file_location("lab_basics", path)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    await example.main(scratch_name)
    output = capsys.readouterr().out
    assert "node1 -> node2: 1 packets transmitted, 1 packets received" in output
    await assert_no_trace(scratch_name)


# -- the command line -----------------------------------------------------------------


@pytest.mark.lab
def test_cli_status_and_env(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "status", "--name", lab.name, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [n["state"] for n in status["nodes"]] == ["running"] * len(lab.nodes)
    assert status["nodes"][0]["docker_host"] == lab.nodes[0].docker_host

    assert main(["lab", "status", "--name", lab.name]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["NAME", "HOSTNAME", "ADDRESS", "DOCKER_HOST", "STATE"]
    assert table[2].split() == [
        "node1",
        "node1",
        lab.nodes[0].address,
        lab.nodes[0].docker_host,
        "running",
    ]

    assert main(["lab", "env", "node2", "--name", lab.name]) == 0
    assert capsys.readouterr().out == f"export DOCKER_HOST={lab.nodes[1].docker_host}\n"


@pytest.mark.lab
def test_cli_up_hints_carry_the_lab_name_and_its_env_works_over_tls(
    lab: Lab, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lab.tls, "the test plugin brings its lab up with TLS listeners"
    assert main(["lab", "up", "--name", lab.name, "--nodes", str(len(lab.nodes)), "--tls"]) == 0
    out = capsys.readouterr().out
    assert f"eval $(swarmnet lab env node1 --name {lab.name})" in out
    assert f"eval $(swarmnet lab env node1 --name {lab.name} --tls)" in out

    node = lab.nodes[1]
    assert main(["lab", "env", "node2", "--name", lab.name, "--tls"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == (
        f"export DOCKER_HOST=tcp://{node.address}:2376 DOCKER_TLS_VERIFY=1 "
        f"DOCKER_CERT_PATH={lab.cert_path}"
    )
    exported = dict(word.split("=", 1) for word in line.split()[1:])
    # The docker CLI takes the same variables (and certificates) as swarmnet.
    result = subprocess.run(
        ["docker", "info", "--format", "{{.Name}}"],
        env={**os.environ, **exported},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, node.name), result.stderr
    for key, value in exported.items():
        monkeypatch.setenv(key, value)

    async def over_tls() -> str:
        async with Engine() as engine:
            return (await engine.info()).name

    assert anyio.run(over_tls) == node.name


def test_cli_errors_are_one_line_and_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str], scratch_name: str
) -> None:
    assert main(["lab", "status", "--name", scratch_name]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"swarmnet: error: there is no lab named '{scratch_name}'")
    assert "Traceback" not in captured.err
    assert main(["lab", "up", "--name", "Bad!"]) == 1
    assert capsys.readouterr().err.startswith("swarmnet: error: invalid lab name 'Bad!'")


# -- throwaway labs: teardown ---------------------------------------------------------


@pytest.mark.lab
@pytest.mark.anyio
async def test_down_removes_everything_the_lab_made(scratch_name: str) -> None:
    lab = Lab(scratch_name, nodes=2)
    await lab.up()
    await start_sleeper(lab.nodes[0])
    assert lab_pids(scratch_name), "the lab runs processes"
    await lab.down()
    await assert_no_trace(scratch_name)


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_lab_with_its_own_root_is_torn_down_by_name(
    scratch_name: str, tmp_path: Path
) -> None:
    lab = Lab(scratch_name, nodes=1, root=tmp_path)
    await lab.up()
    async with lab.nodes[0].engine() as engine:
        assert (await engine.info()).docker_root_dir == str(
            tmp_path / scratch_name / "node1" / "data"
        )
    await start_sleeper(lab.nodes[0])
    await Lab(scratch_name).down()  # knows nothing of tmp_path: up recorded it
    await assert_no_trace(scratch_name)
    assert not (tmp_path / scratch_name).exists()
    assert not [p for p in mount_points() if p.startswith(f"{tmp_path}/")]


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_root_never_claims_a_directory_the_lab_did_not_make(
    scratch_name: str, tmp_path: Path
) -> None:
    precious = tmp_path / scratch_name / "precious.txt"
    precious.parent.mkdir()
    precious.write_text("not the lab's")
    with pytest.raises(LabError, match="was not made by a swarmnet lab"):
        await Lab(scratch_name, nodes=1, root=tmp_path).up()
    await Lab(scratch_name, nodes=1, root=tmp_path).down()
    assert precious.read_text() == "not the lab's"


@pytest.mark.lab
@pytest.mark.anyio
async def test_down_cleans_up_after_daemons_killed_half_way(scratch: Lab) -> None:
    await start_sleeper(scratch.nodes[0])
    daemons = [
        pid
        for pid, cmd in lab_pids(scratch.name).items()
        if cmd.startswith(("/usr/sbin/dockerd ", "containerd "))
    ]
    assert len(daemons) == 4
    for pid in daemons:
        os.kill(pid, signal.SIGKILL)
    await Lab(scratch.name).down()  # a new object: nothing is taken from memory
    await assert_no_trace(scratch.name)


@pytest.mark.lab
@pytest.mark.anyio
async def test_down_cleans_up_after_up_was_killed_half_way(scratch_name: str) -> None:
    up = await anyio.open_process(
        [sys.executable, "-m", "swarmnet", "lab", "up", "--nodes", "2", "--name", scratch_name]
    )
    try:
        with anyio.fail_after(20):
            while not lab_pids(scratch_name):  # noqa: ASYNC110  (polling /proc)
                await anyio.sleep(0.05)
        up.kill()
    finally:
        await up.aclose()
    await Lab(scratch_name).down()
    await assert_no_trace(scratch_name)


@pytest.mark.lab
@pytest.mark.anyio
async def test_up_clears_stale_leftovers_and_comes_up(scratch: Lab) -> None:
    await start_sleeper(scratch.nodes[1])
    for node in scratch.nodes:
        await node.kill()  # pidfiles, mounts, shims and containers stay behind
    seen: list[str] = []
    status = await Lab(scratch.name, nodes=2).up(progress=lambda step: seen.append(step.event))
    assert status.healthy
    assert "lab.leftovers.cleared" in seen
    code, _ = await run_container(
        scratch.nodes[1], "ping", "-c", "1", "-W", "2", scratch.nodes[0].address
    )
    assert code == 0


@pytest.mark.lab
@pytest.mark.anyio
async def test_a_subnet_held_by_another_interface_is_refused(
    monkeypatch: pytest.MonkeyPatch, scratch_name: str
) -> None:
    lab = Lab(scratch_name, nodes=1)
    taken = IPv4Interface(f"{lab.subnet.network_address + 9}/{lab.subnet.prefixlen}")

    async def addresses() -> list[tuple[str, IPv4Interface]]:
        return [("eth7", taken)]

    monkeypatch.setattr(_host, "ipv4_addresses", addresses)
    with pytest.raises(LabError, match=rf"wants subnet {lab.subnet}.*eth7 already has {taken}"):
        await lab.up()
    await lab.down()
