"""One node's dockerd: its configuration, and starting, waiting for, stopping and killing it.

The daemon runs in the node's network namespace (``nsenter --net``, not ``ip netns
exec``, which remounts /sys and leaves dockerd without its devices cgroup) and in a UTS
namespace of its own, so each node has its own hostname. Which process is a node's
dockerd is read from the command line (its ``--pidfile``), never remembered: a lab
started by another process, or killed half-way, is handled the same.
"""

from __future__ import annotations

import shlex
import signal
import time
from typing import Any

import anyio

from swarmnet._core.engine import Engine
from swarmnet._core.errors import LabError, SwarmnetError
from swarmnet._core.log import get_logger
from swarmnet._host.daemon_config import write_daemon_json
from swarmnet.lab import _host
from swarmnet.lab._layout import NodeLayout

_log = get_logger("swarmnet.lab")

#: Seconds a dockerd gets to answer after it was started.
START_LIMIT = 60.0


def daemon_config(node: NodeLayout) -> dict[str, Any]:
    """The ``daemon.json`` a node starts with.

    Written once, when the node is made; a start or restart reads it again and never
    rewrites it, so a test may edit it (``LabNode.config_file``) and restart the node.
    Paths, the socket and ``--cgroup-parent`` are on the command line instead (see
    :func:`dockerd_argv`): they name the node's resources, the command line is how
    cleanup recognises the node's processes, and dockerd refuses a setting given both ways.
    """
    return {
        # One docker0 subnet per node, so a container's address tells its node.
        "bip": node.bip,
        "storage-driver": "overlay2",
        "log-level": "info",
        "log-driver": "json-file",
        "log-opts": {"max-size": "1m", "max-file": "2"},
        "live-restore": False,
        # Own containerd namespaces: nodes stay apart even if dockerd picks up a system
        # containerd (it does whenever /run/containerd/containerd.sock exists).
        "containerd-namespace": node.containerd_namespace,
        "containerd-plugins-namespace": f"{node.containerd_namespace}-plugins",
    }


def write_config(node: NodeLayout) -> None:
    """Write the node's ``daemon.json`` from :func:`daemon_config`."""
    node.state_dir.mkdir(parents=True, exist_ok=True)
    # Through the typed model: the bridge keys (bip…) are checked, the write is atomic.
    write_daemon_json(node.config_file, daemon_config(node))


#: No registry is reachable from a lab: without this, the swarm agent tries to pull a
#: service's image before using the local one and holds every task ~20 s (moby's own
#: test daemons set it too).
DOCKERD_ENV = {"DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"}


def dockerd_argv(node: NodeLayout) -> list[str]:
    """The command that starts the node's dockerd in the node's namespaces."""
    dockerd = [
        _host.tool("dockerd"),
        "--config-file", str(node.config_file),
        "--data-root", str(node.data_root),
        "--exec-root", str(node.exec_root),
        "--pidfile", str(node.pidfile),
        "-H", node.docker_host,
        "--cgroup-parent", node.cgroup_parent,
    ]  # fmt: skip
    if node.lab.tls:
        # A second listener on the node's address, for clients over the network; it
        # demands a client certificate from the lab's CA, as `--tlsverify` does.
        dockerd += [
            "-H", node.tls_host,
            "--tlsverify",
            "--tlscacert", str(node.lab.tls_dir / "ca.pem"),
            "--tlscert", str(node.server_cert),
            "--tlskey", str(node.server_key),
        ]  # fmt: skip
    script = f"{_host.BUSYBOX} hostname {node.name} && exec {shlex.join(dockerd)}"
    return [
        _host.tool("nsenter"), f"--net={node.netns_path}", "--",
        _host.tool("unshare"), "--uts", "--",
        "/bin/sh", "-c", script,
    ]  # fmt: skip


def daemon_pid(node: NodeLayout) -> int | None:
    """The pid of the node's dockerd (or of the launcher about to become it), if running."""
    marker = str(node.pidfile)
    for process in _host.processes():
        if marker in process.cmdline and process.program in ("dockerd", "nsenter", "unshare", "sh"):
            return process.pid
    return None


def containerd_pids(node: NodeLayout) -> set[int]:
    """The containerd that the node's dockerd started (found by its config path)."""
    marker = str(node.containerd_config)
    return {p.pid for p in _host.processes() if p.program == "containerd" and marker in p.argv}


def log_tail(node: NodeLayout, lines: int = 12) -> str:
    """The end of the node's daemon log since its last start, with the reason first.

    A dockerd that panics ends its log with a long Go stack; the line that says why
    (``panic: …``, ``level=fatal``, ``failed to start …``) comes before it, so it is
    picked out and shown first.
    """
    try:
        text = node.log_file.read_text(errors="replace")
    except OSError:
        return "(no log)"
    start = text.rfind("--- swarmnet lab: starting dockerd")
    run = text[start:] if start >= 0 else text
    run_lines = run.rstrip().splitlines()
    reasons = [
        line
        for line in run_lines
        if line.startswith(("panic:", "fatal error:"))
        or "level=fatal" in line
        or "failed to start" in line
        or "reservePools" in line
    ][:3]
    tail = run_lines[-lines:]
    return "\n".join([*[r for r in reasons if r not in tail], *tail])


async def answers(node: NodeLayout) -> bool:
    """True if the node's engine answers a ping right now."""
    if not node.socket.exists():
        return False
    try:
        async with Engine(node.docker_host, name=node.name, timeout=5.0) as engine:
            return await engine.ping()
    except SwarmnetError:
        return False


def _clear_stale_pidfiles(node: NodeLayout) -> None:
    # dockerd will not start while its pidfile names a live process, and reuses the
    # containerd its containerd.pid names if that one "lives". After a kill -9 both files
    # stay, and their pids may be zombies (an init that does not reap counts them alive)
    # or reused by unrelated processes.
    for pidfile, marker in (
        (node.pidfile, str(node.pidfile)),
        (node.containerd_pidfile, str(node.containerd_config)),
    ):
        pid = _host.read_pidfile(pidfile)
        if pid is not None and not (_host.alive(pid) and marker in _host.cmdline(pid)):
            pidfile.unlink(missing_ok=True)


async def start(node: NodeLayout) -> None:
    """Start the node's dockerd (unless it runs) and wait until its engine answers.

    Gives up after :data:`START_LIMIT` seconds with a LabError carrying the end of the log.

    dockerd 20.10 cannot start again after a kill -9 that landed in the middle of a
    network removal: the half-removed network is stored without its address pools, and
    libnetwork's ``reservePools`` panics on it at every start. The lab then sets the
    node's local network store aside (``local-kv.db.broken-…``, kept for inspection)
    and starts once more; the node's local networks are gone, as after a reinstall.
    """
    pid = daemon_pid(node)
    if pid is not None:
        await _wait_ready(node, pid)
        return
    try:
        await _wait_ready(node, await _spawn(node))
    except LabError as exc:
        store = node.data_root / "network" / "files" / "local-kv.db"
        if "reservePools" not in str(exc) or not store.exists():
            raise
        aside = store.with_name(f"local-kv.db.broken-{int(time.time())}")
        store.rename(aside)
        _log.warning(
            "lab.node.network_store_reset", node=node.name, lab=node.lab.name, kept=str(aside)
        )
        await _wait_ready(node, await _spawn(node))


async def _spawn(node: NodeLayout) -> int:
    # After a kill -9 the old containerd gets SIGKILL from the kernel (dockerd sets its
    # parent-death signal) but may not have exited yet; a dockerd started meanwhile
    # fails with "timeout waiting for containerd to start".
    leftover = containerd_pids(node)
    if leftover:
        await _terminate(leftover, 5.0)
    _clear_stale_pidfiles(node)
    for directory in (node.state_dir, node.run_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if not node.config_file.exists():
        write_config(node)
    with node.log_file.open("ab") as log:
        log.write(f"--- swarmnet lab: starting dockerd at {time.ctime()}\n".encode())
        log.flush()
        pid = _host.spawn_daemon(dockerd_argv(node), log=log, env=DOCKERD_ENV)
    _log.debug("lab.node.spawned", node=node.name, lab=node.lab.name, pid=pid)
    return pid


async def _wait_ready(node: NodeLayout, pid: int) -> None:
    """Wait until the engine answers; fail early, with its log, if dockerd exits."""
    try:
        with anyio.fail_after(START_LIMIT):
            while not await answers(node):
                if not _host.alive(pid):
                    raise LabError(
                        f"dockerd of {node.lab.name}/{node.name} exited while starting; "
                        f"the end of {node.log_file}:\n{log_tail(node)}"
                    )
                await anyio.sleep(0.1)
    except TimeoutError as exc:
        raise LabError(
            f"dockerd of {node.lab.name}/{node.name} did not answer within {START_LIMIT:g} s "
            f"on {node.socket}; the end of {node.log_file}:\n{log_tail(node)}"
        ) from exc


async def stop(node: NodeLayout, *, grace: float = 30.0) -> None:
    """TERM the node's dockerd and wait until it and its containerd have exited.

    A restart too soon after, while the old containerd still runs, fails with "timeout
    waiting for containerd to start". Whatever outlives ``grace`` seconds is killed.
    """
    pid = daemon_pid(node)
    if pid is not None:
        await _terminate({pid}, grace)
    containerd = containerd_pids(node)
    if containerd:
        # dockerd stops its containerd on a clean exit; after a kill -9 nobody does.
        await _terminate(containerd, grace)
    node.pidfile.unlink(missing_ok=True)


async def _terminate(pids: set[int], grace: float) -> None:
    _host.send_signal(pids, signal.SIGTERM)
    stubborn = await _host.wait_gone(pids, grace)
    if stubborn:
        _host.send_signal(stubborn, signal.SIGKILL)
        if await _host.wait_gone(stubborn, 10.0):
            raise LabError(f"processes {sorted(stubborn)} survived SIGKILL")


async def kill(node: NodeLayout) -> None:
    """kill -9 the node's dockerd, as a crash would.

    Its containerd dies with it; its pidfile, container shims and containers stay behind.
    """
    pid = daemon_pid(node)
    if pid is not None:
        _host.send_signal([pid], signal.SIGKILL)
        if await _host.wait_gone({pid}, 10.0):
            raise LabError(f"dockerd {pid} of {node.lab.name}/{node.name} survived SIGKILL")
