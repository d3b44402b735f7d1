"""The lab's container image, made on the spot: busybox in a tar, imported with no registry."""

from __future__ import annotations

import gzip
import io
import tarfile
from functools import lru_cache
from pathlib import Path

from swarmnet._core.engine import Engine
from swarmnet._core.errors import LabError, NotFound
from swarmnet.lab._host import BUSYBOX

#: The image every lab node holds: a static busybox with the usual network tools.
LAB_IMAGE = "swarmnet-lab/busybox:latest"

_REPOSITORY, _TAG = LAB_IMAGE.rsplit(":", 1)

#: Applets linked into /bin. Enough for shells, waiting, and probing the network.
APPLETS = (
    "sh", "sleep", "ping", "nslookup", "wget", "httpd", "ip", "cat", "echo", "hostname",
    "ifconfig", "route", "nc", "ls", "true", "false",
    "env", "grep", "kill", "mkdir", "ps", "rm", "sed", "test", "timeout", "traceroute",
)  # fmt: skip

_ETC = {
    "passwd": (
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    ),
    "group": "root:x:0:\nnobody:x:65534:\n",
    # The engine mounts its own /etc/hosts, resolv.conf and hostname over these.
    "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "resolv.conf": "",
    "hostname": "",
    "nsswitch.conf": "hosts: files dns\n",
}

# Fixed metadata, so the same busybox always gives the same layer (and image id).
_MTIME = 946684800  # 2000-01-01


def _member(name: str, kind: bytes, mode: int, *, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = link
    info.mtime = _MTIME
    info.uname = info.gname = "root"
    return info


@lru_cache(maxsize=4)
def image_archive(busybox: Path = BUSYBOX) -> bytes:
    """:func:`rootfs_tar`, gzipped: what is sent to the engine's import.

    Half the bytes, and under the 1 MiB above which aiohttp warns (ResourceWarning) about
    a body given as bytes; the transport takes no stream.
    """
    return gzip.compress(rootfs_tar(busybox), compresslevel=9, mtime=0)


@lru_cache(maxsize=4)
def rootfs_tar(busybox: Path = BUSYBOX) -> bytes:
    """A root filesystem tar: ``/bin/busybox``, its applet links, a minimal ``/etc``, ``/tmp``."""
    try:
        binary = busybox.read_bytes()
    except OSError as exc:
        raise LabError(
            f"cannot read {busybox} for the lab image ({exc}); install busybox-static"
        ) from exc
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory, mode in (
            ("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("root", 0o700),
            ("proc", 0o755), ("sys", 0o755), ("dev", 0o755), ("var", 0o755), ("var/www", 0o755),
        ):  # fmt: skip
            tar.addfile(_member(directory, tarfile.DIRTYPE, mode))
        tar.addfile(
            _member("bin/busybox", tarfile.REGTYPE, 0o755, size=len(binary)), io.BytesIO(binary)
        )
        for applet in APPLETS:
            tar.addfile(_member(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
        for name, text in _ETC.items():
            data = text.encode()
            tar.addfile(
                _member(f"etc/{name}", tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data)
            )
    return buffer.getvalue()


async def ensure_image(engine: Engine) -> bool:
    """Import :data:`LAB_IMAGE` into an open engine unless it is there; True if imported."""
    if await _has_image(engine):
        return False
    answer = await engine._transport.request(
        "POST",
        "images/create",
        params={"fromSrc": "-", "repo": _REPOSITORY, "tag": _TAG, "changes": 'CMD ["sh"]'},
        data=image_archive(),
        headers={"Content-Type": "application/x-tar"},
        timeout=None,
    )
    # The engine answers 200 and puts a failure in the body ({"errorDetail": …}).
    if isinstance(answer, dict) and answer.get("error"):
        raise LabError(f"importing {LAB_IMAGE} into {engine.name} failed: {answer['error']}")
    if not await _has_image(engine):
        raise LabError(f"importing {LAB_IMAGE} into {engine.name} failed: {answer!r}")
    return True


async def _has_image(engine: Engine) -> bool:
    try:
        await engine._transport.request("GET", f"images/{LAB_IMAGE}/json")
    except NotFound:
        return False
    return True
