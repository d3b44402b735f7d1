"""The lab's container image, made on the spot: busybox in a tar, imported with no registry.

The image is made with the engine's images capability (``engine.images``); nothing here
names an HTTP path.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import tarfile
from functools import lru_cache
from pathlib import Path

from swarmnet._core.engine import Engine
from swarmnet._core.errors import Conflict, EngineError, LabError, NotFound
from swarmnet.lab._host import BUSYBOX

#: The image every lab node holds: a static busybox with the usual network tools.
LAB_IMAGE = "swarmnet-lab/busybox:latest"

_REPOSITORY, _TAG = LAB_IMAGE.rsplit(":", 1)

#: Applets in /bin (links to busybox; wget is a script, see WGET_SCRIPT). Enough for
#: shells, waiting, probing the network and fetching from HTTP services.
APPLETS = (
    "sh", "sleep", "ping", "nslookup", "wget", "httpd", "ip", "cat", "echo", "hostname",
    "ifconfig", "route", "nc", "ls", "true", "false",
    "env", "grep", "kill", "mkdir", "ps", "rm", "sed", "test", "timeout", "traceroute",
)  # fmt: skip

# Debian's static busybox 1.35 is built without wget's timeout support, and its wget
# then crashes on -T (SIGSEGV, exit 139; busybox issue 124, fixed in Debian's 1.36.1-5).
# /bin/wget is this script instead of the applet link: it applies -T/--timeout with
# `timeout` around the fetch and hands everything else to the applet.
WGET_SCRIPT = r"""#!/bin/sh
# wget, with -T/--timeout that works. Debian's static busybox 1.35 is built without
# wget's timeout support, and `busybox wget -T N` then crashes (SIGSEGV, exit 139:
# busybox issue 124). Here the limit is applied by `timeout` around the whole fetch.
limit= take= keep= ended=
for arg do
  shift
  if [ -n "$keep" ]; then keep=; set -- "$@" "$arg"; continue; fi
  if [ -n "$take" ]; then take=; limit=$arg; continue; fi
  if [ -n "$ended" ]; then set -- "$@" "$arg"; continue; fi
  case $arg in
    --) ended=1; set -- "$@" "$arg" ;;
    --timeout=*) limit=${arg#--timeout=} ;;
    --timeout) take=1 ;;
    --header|--post-data|--post-file|--output-document|--output-file|\
    --directory-prefix|--user-agent|--proxy|--tries)
      keep=1; set -- "$@" "$arg" ;;
    --*) set -- "$@" "$arg" ;;
    -?*)
      # A cluster such as -qT5 or -qO-: keep every letter but T and its number.
      rest=${arg#-} out=-
      while [ -n "$rest" ]; do
        c=${rest%"${rest#?}"} rest=${rest#?}
        case $c in
          T) if [ -n "$rest" ]; then limit=$rest; else take=1; fi; rest= ;;
          [OoPYUt]) out=$out$c$rest; if [ -z "$rest" ]; then keep=1; fi; rest= ;;
          *) out=$out$c ;;
        esac
      done
      if [ "$out" != - ]; then set -- "$@" "$out"; fi ;;
    *) set -- "$@" "$arg" ;;
  esac
done
case $limit in
  '' | 0) exec busybox wget "$@" ;;
  *[!0-9]*) echo "wget: invalid number '$limit'" >&2; exit 1 ;;
esac
# SIGINT, not timeout's default SIGTERM: the shell reports no "Terminated" for it.
timeout -s INT "$limit" busybox wget "$@"
code=$?
if [ "$code" -eq 130 ]; then echo "wget: download timed out" >&2; exit 1; fi
exit "$code"
"""

#: Applets that are scripts in the image instead of links to busybox.
_SCRIPTS = {"wget": WGET_SCRIPT}

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
            if applet in _SCRIPTS:
                data = _SCRIPTS[applet].encode()
                member = _member(f"bin/{applet}", tarfile.REGTYPE, 0o755, size=len(data))
                tar.addfile(member, io.BytesIO(data))
            else:
                tar.addfile(_member(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
        for name, text in _ETC.items():
            data = text.encode()
            tar.addfile(
                _member(f"etc/{name}", tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data)
            )
    return buffer.getvalue()


async def ensure_image(engine: Engine) -> bool:
    """Import :data:`LAB_IMAGE` into an open engine unless it is there; True if imported.

    An image of that name made from other contents (another busybox, an older image)
    is replaced; see :func:`image_comment`.
    """
    wanted = image_comment()
    stale: str | None = None
    try:
        image = await engine.images.get(LAB_IMAGE)
    except NotFound:
        pass
    else:
        if image.comment == wanted:
            return False
        stale = image.id
    try:
        await engine.images.import_archive(
            image_archive(),
            repository=_REPOSITORY,
            tag=_TAG,
            changes=['CMD ["sh"]'],
            message=wanted,
        )
    except EngineError as exc:
        raise LabError(f"importing {LAB_IMAGE} into {engine.name} failed: {exc}") from exc
    if stale is not None:
        # The old image lost its name to the new one; it goes unless containers use it.
        with contextlib.suppress(Conflict):
            await engine.images.remove(stale)
    return True


def image_comment() -> str:
    """The comment :data:`LAB_IMAGE` is imported with: it names the root filesystem.

    A node that holds an image made before the contents changed (the wget script,
    say) gets the new one. A comment, not a label: containers inherit image labels.
    """
    return f"swarmnet lab rootfs {hashlib.sha256(rootfs_tar()).hexdigest()[:16]}"
