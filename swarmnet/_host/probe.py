"""Where host checks run: the network namespace an engine's dockerd lives in.

Forwarding sysctls, iptables rules, routes and interface MTUs belong to a network
namespace, not to a machine. A :class:`HostProbe` runs a program there and returns what
it printed: :class:`LocalProbe` in this process's own namespace, :class:`NetnsProbe` in
another one (through ``nsenter --net``, which needs root). :func:`locate_daemon` finds,
for an engine on a local unix socket, the dockerd behind the socket (the kernel tells
the socket's peer, ``SO_PEERCRED``) and so the namespace to probe, and its config file.

Engines reached over TCP or SSH run elsewhere: nothing here can look at their host.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import anyio
from pydantic import BaseModel, ConfigDict

#: Where dockerd reads its configuration unless ``--config-file`` says otherwise.
DEFAULT_CONFIG_FILE = Path("/etc/docker/daemon.json")
_NETNS_DIR = Path("/run/netns")


class CommandResult(BaseModel):
    """What a program run by a probe did.

    Attributes:
        argv: the program and its arguments (without the probe's own prefix).
        returncode: its exit status (127: it could not be started; 124: it timed out).
        stdout, stderr: what it printed, decoded as UTF-8.
    """

    model_config = ConfigDict(frozen=True)

    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """True when the program exited with status 0."""
        return self.returncode == 0


@runtime_checkable
class HostProbe(Protocol):
    """Runs programs where an engine's network lives (see :class:`LocalProbe`).

    Implement it to check a host reached another way (a remote shell, say): ``where``
    names the place for messages, ``run`` runs one program there.
    """

    @property
    def where(self) -> str:
        """A short description of where programs run (``"this host"``, a namespace)."""
        ...

    async def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:  # noqa: ASYNC109
        """Run ``argv`` to completion and return what it did (never raises for its exit)."""
        ...


async def _run(prefix: Sequence[str], argv: Sequence[str], limit: float) -> CommandResult:
    command = [*prefix, *argv]
    try:
        with anyio.fail_after(limit):
            done = await anyio.run_process(command, check=False)
    except TimeoutError:
        return CommandResult(
            argv=tuple(argv), returncode=124, stderr=f"timed out after {limit:g} s"
        )
    except OSError as exc:
        return CommandResult(argv=tuple(argv), returncode=127, stderr=str(exc))
    return CommandResult(
        argv=tuple(argv),
        returncode=done.returncode,
        stdout=done.stdout.decode(errors="replace"),
        stderr=done.stderr.decode(errors="replace"),
    )


class LocalProbe:
    """Runs programs in this process's own network namespace."""

    @property
    def where(self) -> str:
        """Always ``"this host"``."""
        return "this host"

    def __repr__(self) -> str:
        return "LocalProbe()"

    async def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:  # noqa: ASYNC109
        """Run ``argv`` here."""
        return await _run((), argv, timeout)


class NetnsProbe:
    """Runs programs inside another network namespace with ``nsenter --net`` (needs root).

    Only the network is that namespace's: programs, files and users are this host's.

    Args:
        netns: a name from ``ip netns`` (``"snl-demo-node1"``) or a path to a namespace
            file (``/proc/<pid>/ns/net``).

    Example::

        probe = NetnsProbe(lab.nodes[0].netns)
        print((await probe.run(["ip", "-br", "addr"])).stdout)
    """

    def __init__(self, netns: str | Path) -> None:
        text = str(netns)
        self.path = Path(text) if "/" in text else _NETNS_DIR / text

    @property
    def where(self) -> str:
        """The namespace: its ``ip netns`` name, or its path."""
        name = self.path.name if self.path.parent == _NETNS_DIR else str(self.path)
        return f"network namespace {name}"

    def __repr__(self) -> str:
        return f"NetnsProbe({str(self.path)!r})"

    async def run(self, argv: Sequence[str], *, timeout: float = 10.0) -> CommandResult:  # noqa: ASYNC109
        """Run ``argv`` inside the namespace."""
        return await _run(("nsenter", f"--net={self.path}", "--"), argv, timeout)


class DaemonLocation(BaseModel):
    """The dockerd behind a local unix socket.

    Attributes:
        pid: its process id.
        netns: its network namespace file: the ``ip netns`` one when it has a name
            (``/run/netns/<name>``), else ``/proc/<pid>/ns/net``.
        same_netns: True when it shares this process's network namespace.
        config_file: the ``daemon.json`` it was started with.
    """

    model_config = ConfigDict(frozen=True)

    pid: int
    netns: Path
    same_netns: bool
    config_file: Path = DEFAULT_CONFIG_FILE

    def probe(self) -> HostProbe:
        """A probe that runs programs in the daemon's network namespace."""
        return LocalProbe() if self.same_netns else NetnsProbe(self.netns)


def _peer_pid(path: str) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        sock.connect(path)
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _uid, _gid = struct.unpack("3i", creds)
    return int(pid)


def _config_file(pid: int) -> Path:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return DEFAULT_CONFIG_FILE
    words = [w.decode(errors="replace") for w in argv if w]
    for index, word in enumerate(words):
        if word == "--config-file" and index + 1 < len(words):
            return Path(words[index + 1])
        if word.startswith("--config-file="):
            return Path(word.split("=", 1)[1])
    return DEFAULT_CONFIG_FILE


def _locate(path: str) -> DaemonLocation | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        pid = _peer_pid(path)
        netns = Path(f"/proc/{pid}/ns/net")
        theirs, ours = os.stat(netns), os.stat("/proc/self/ns/net")
    except OSError:
        return None
    if pid <= 0:
        return None
    key = (theirs.st_dev, theirs.st_ino)
    same = key == (ours.st_dev, ours.st_ino)
    return DaemonLocation(
        pid=pid, netns=_named(key) or netns, same_netns=same, config_file=_config_file(pid)
    )


def _named(key: tuple[int, int]) -> Path | None:
    """The ``ip netns`` file of a namespace, if it has one (nicer in messages than /proc)."""
    try:
        entries = list(_NETNS_DIR.iterdir())
    except OSError:
        return None
    for entry in entries:
        try:
            st = entry.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == key:
            return entry
    return None


async def locate_daemon(url: str) -> DaemonLocation | None:
    """Find the dockerd behind a ``unix://`` engine address on this host.

    Returns None for other addresses, or when the socket's peer cannot be read (not
    Linux, no such socket, no permission to look at the process).
    """
    if not url.startswith("unix://"):
        return None
    return await anyio.to_thread.run_sync(_locate, url[len("unix://") :])
