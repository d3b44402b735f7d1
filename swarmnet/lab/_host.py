"""Everything the lab does to the host: commands, processes, cgroups, mounts, links, iptables.

The lab's only module that runs programs or reads ``/proc`` and ``/sys``. Functions here
know nothing about labs; callers pass names, paths and patterns from ``_layout``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface
from pathlib import Path
from typing import IO, Any

import anyio

from swarmnet._core.errors import LabError

#: What to run when something the lab needs is missing.
INSTALL_HINT = "apt-get install -y docker.io busybox-static iproute2 iptables util-linux"

#: The programs the lab runs, and the Debian package of each.
REQUIRED_TOOLS: Mapping[str, str] = {
    "dockerd": "docker.io",
    "containerd": "docker.io",
    "ip": "iproute2",
    "iptables": "iptables",
    "nsenter": "util-linux",
    "unshare": "util-linux",
}

#: The statically linked busybox that the lab image and the node hostnames use.
BUSYBOX = Path("/bin/busybox")

# dockerd, ip and iptables live in sbin, which a plain user's PATH often lacks.
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CGROUP_ROOT = Path("/sys/fs/cgroup")
_MNT_DETACH = 2
#: Seconds any one command (ip, iptables, nsenter …) may run.
COMMAND_LIMIT = 120.0


# -- preflight ------------------------------------------------------------------------


def search_path() -> str:
    """PATH with the system directories appended, for finding and running tools."""
    current = os.environ.get("PATH", "")
    return f"{current}:{_SYSTEM_PATH}" if current else _SYSTEM_PATH


def which(tool: str) -> str | None:
    """Full path of ``tool``, or None. Tests replace this to simulate a missing tool."""
    return shutil.which(tool, path=search_path())


def is_root() -> bool:
    return os.geteuid() == 0


def preflight() -> None:
    """Check that the lab can run here; raise :class:`LabError` saying what to fix."""
    problems: list[str] = []
    if not is_root():
        problems.append(
            "it must run as root (it makes network namespaces, links and iptables rules)"
        )
    missing = [f"{tool} ({package})" for tool, package in REQUIRED_TOOLS.items() if not which(tool)]
    if not BUSYBOX.is_file():
        missing.append(f"{BUSYBOX} (busybox-static)")
    if missing:
        problems.append("these programs are missing: " + ", ".join(missing))
    if problems:
        raise LabError(
            "the swarmnet lab cannot run on this host: "
            + "; ".join(problems)
            + f". Install what it needs with `{INSTALL_HINT}`"
            + (" and run it as root" if not is_root() else "")
        )


def tool(name: str) -> str:
    """Full path of a required tool, or a :class:`LabError` naming its package."""
    path = which(name)
    if path is None:
        package = REQUIRED_TOOLS.get(name, "util-linux")
        raise LabError(f"{name} is not installed (package {package}); run `{INSTALL_HINT}`")
    return path


# -- running commands ----------------------------------------------------------------


async def run(
    *argv: str,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run a command to completion; with ``check``, a non-zero exit is a :class:`LabError`.

    A command still running after :data:`COMMAND_LIMIT` seconds is killed (a LabError);
    callers wanting less wrap the call in ``anyio.fail_after``.
    """
    command = [tool(argv[0]) if "/" not in argv[0] else argv[0], *argv[1:]]
    try:
        with anyio.fail_after(COMMAND_LIMIT):
            result = await anyio.run_process(
                command, input=input, check=False, env={**os.environ, "PATH": search_path()}
            )
    except TimeoutError as exc:
        raise LabError(f"`{shlex.join(argv)}` did not finish within {COMMAND_LIMIT:g} s") from exc
    except OSError as exc:
        raise LabError(f"cannot run `{shlex.join(argv)}`: {exc}") from exc
    if check and result.returncode != 0:
        stderr = result.stderr.decode(errors="replace").strip()
        raise LabError(f"`{shlex.join(argv)}` failed with exit code {result.returncode}: {stderr}")
    return result


# Daemons started by this process, reaped as they end: no zombies while this process
# lives. (No Popen objects: collecting one that still runs raises a ResourceWarning.)
_children: set[int] = set()


def spawn_daemon(
    argv: Sequence[str], *, log: IO[bytes], env: Mapping[str, str] | None = None
) -> int:
    """Start a long-running program detached from this process; return its pid.

    It gets a session of its own (a Ctrl-C here does not reach it), stdin from /dev/null
    and its output in ``log``, so it outlives the command that started it. ``env`` is
    added to this process's environment.
    """
    try:
        pid = os.posix_spawn(
            argv[0],
            list(argv),
            {**os.environ, **(env or {}), "PATH": search_path()},
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
            ],
            setsid=True,
        )
    except OSError as exc:
        raise LabError(f"cannot start `{shlex.join(argv)}`: {exc}") from exc
    _children.add(pid)
    return pid


def _reap() -> None:
    for pid in list(_children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _children.discard(pid)


# -- processes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Process:
    """A live process: its pid and command line."""

    pid: int
    argv: tuple[str, ...]

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ""

    @property
    def cmdline(self) -> str:
        return "\0".join(self.argv)


def _read_argv(pid: int) -> tuple[str, ...]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def cmdline(pid: int) -> str:
    """The command line of ``pid``, arguments joined by NUL; empty if it is gone."""
    return "\0".join(_read_argv(pid))


def processes() -> list[Process]:
    """Every live user-space process (kernel threads and zombies have no command line)."""
    _reap()
    found: list[Process] = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            argv = _read_argv(int(entry.name))
            if argv:
                found.append(Process(int(entry.name), argv))
    return found


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # The command name may hold spaces and parentheses; fields resume after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def own_lineage() -> set[int]:
    """This process and its ancestors: never to be killed, whatever their namespace."""
    lineage: set[int] = set()
    pid = os.getpid()
    while pid > 0 and pid not in lineage:
        lineage.add(pid)
        pid = _parent(pid)
    return lineage


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    _reap()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def send_signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def running(pids: Iterable[int]) -> set[int]:
    """Those of ``pids`` still running."""
    return {pid for pid in pids if alive(pid)}


async def wait_gone(pids: Collection[int], grace: float) -> set[int]:
    """Wait up to ``grace`` seconds for every pid to end; return those still running."""
    with anyio.move_on_after(grace):
        # Polling: most of these are not our children, so there is nothing to wait on.
        while running(pids):  # noqa: ASYNC110
            await anyio.sleep(0.05)
    return running(pids)


def read_pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# -- network namespaces ---------------------------------------------------------------


def namespace_key(path: Path | str) -> tuple[int, int] | None:
    """Device and inode that identify a namespace (a netns file or /proc/PID/ns/net)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def pids_in_namespaces(netns_paths: Iterable[Path]) -> set[int]:
    """Processes living in any of these network namespaces (what ``ip netns pids`` does)."""
    keys = {key for key in map(namespace_key, netns_paths) if key is not None}
    if not keys:
        return set()
    return {p.pid for p in processes() if namespace_key(f"/proc/{p.pid}/ns/net") in keys}


# -- cgroups (v1 hierarchies, or the unified v2 tree) -------------------------------------


def cgroup_dirs(pattern: re.Pattern[str]) -> list[Path]:
    """Top-level cgroups whose name matches ``pattern``, in every mounted hierarchy."""
    found: list[Path] = []
    bases = [CGROUP_ROOT]
    try:
        bases += [d for d in CGROUP_ROOT.iterdir() if d.is_dir() and not d.is_symlink()]
    except OSError:
        return []
    for base in bases:
        try:
            found += [d for d in base.iterdir() if d.is_dir() and pattern.fullmatch(d.name)]
        except OSError:
            continue
    return found


def cgroup_pids(dirs: Iterable[Path]) -> set[int]:
    pids: set[int] = set()
    for top in dirs:
        for current, _subdirs, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    text = Path(current, "cgroup.procs").read_text()
                except OSError:
                    continue
                pids.update(int(line) for line in text.split())
    return pids


def remove_cgroups(dirs: Iterable[Path]) -> list[Path]:
    """rmdir each cgroup tree, deepest first; return the directories that would not go."""
    stuck: list[Path] = []
    for top in dirs:
        for current, _subdirs, _files in os.walk(top, topdown=False):
            try:
                os.rmdir(current)
            except FileNotFoundError:
                pass
            except OSError:
                stuck.append(Path(current))
    return stuck


# -- mounts ------------------------------------------------------------------------------


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_points() -> list[str]:
    """Every mount point in this mount namespace, from ``/proc/self/mountinfo``."""
    points: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.append(_unescape(fields[4]))
    return points


_libc: ctypes.CDLL | None = None


def unmount_lazy(path: str) -> None:
    """Detach a mount (``umount -l``); a mount already gone is not an error."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.umount2(os.fsencode(path), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise LabError(f"cannot unmount {path}: {os.strerror(err)}")


def unmount_all(select: Callable[[str], bool], rounds: int = 5) -> list[str]:
    """Lazily unmount every mount point ``select`` picks, deepest first, stacked ones too.

    Returns the mount points still there afterwards (empty when all went).
    """
    for _ in range(rounds):
        points = sorted(
            {p for p in mount_points() if select(p)}, key=lambda p: (p.count("/"), p), reverse=True
        )
        if not points:
            return []
        for point in points:
            unmount_lazy(point)
    return sorted({p for p in mount_points() if select(p)})


def remove_tree(path: Path) -> None:
    """Delete a directory tree (after its mounts are gone); a missing one is fine."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise LabError(f"cannot remove {path}: {exc}") from exc


# -- links and addresses (iproute2) -------------------------------------------------------


async def ip_json(*args: str) -> list[dict[str, Any]]:
    """What ``ip -j …`` prints, decoded."""
    result = await run("ip", "-j", *args)
    text = result.stdout.decode().strip()
    return list(json.loads(text)) if text else []


async def links() -> dict[str, set[str]]:
    """Every interface of this namespace, with its flags (``UP``, ``LOWER_UP``, …)."""
    return {
        str(link["ifname"]): set(link.get("flags", ())) for link in await ip_json("link", "show")
    }


async def link_names() -> set[str]:
    return set(await links())


async def ipv4_addresses() -> list[tuple[str, IPv4Interface]]:
    """Every IPv4 address on this namespace's interfaces, as (interface, address/prefix)."""
    found: list[tuple[str, IPv4Interface]] = []
    for link in await ip_json("-4", "addr", "show"):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet":
                found.append(
                    (str(link["ifname"]), IPv4Interface(f"{info['local']}/{info['prefixlen']}"))
                )
    return found


async def ip_batch(
    commands: Sequence[str], *, netns: str | None = None, force: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """Run several ``ip`` commands in one process (``ip -batch -``)."""
    args = ["ip"]
    if netns:
        args += ["-n", netns]
    if force:
        args.append("-force")
    args += ["-batch", "-"]
    return await run(*args, input="\n".join(commands).encode() + b"\n", check=not force)


# -- iptables ----------------------------------------------------------------------------


async def chain_exists(chain: str) -> bool:
    return (await run("iptables", "-w", "-S", chain, check=False)).returncode == 0


async def commented_rules(chains: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Every rule with a comment in these chains, as (comment, ``-A CHAIN …`` words)."""
    rules: list[tuple[str, list[str]]] = []
    for chain in chains:
        result = await run("iptables", "-w", "-S", chain, check=False)
        if result.returncode != 0:  # no such chain
            continue
        for line in result.stdout.decode().splitlines():
            words = shlex.split(line)
            if words[:1] == ["-A"] and "--comment" in words[:-1]:
                rules.append((words[words.index("--comment") + 1], words))
    return rules


async def insert_rule(chain: str, *spec: str) -> None:
    await run("iptables", "-w", "-I", chain, *spec)


async def delete_rule(words: list[str]) -> None:
    """Delete a rule given as ``iptables -S`` printed it; one already gone is fine."""
    await run("iptables", "-w", "-D", *words[1:], check=False)
