"""Finding and removing everything a lab made, from its name alone.

Used by ``down`` and by ``up`` (to clear the leftovers of a lab that died half-way).
Nothing is taken from memory: processes are found by command line, network namespace
and cgroup; mounts from ``/proc/self/mountinfo``; links, iptables rules and cgroups by
the names and comment the lab gives them. Nothing named for another lab is touched.
"""

from __future__ import annotations

import json
import os
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from swarmnet._core.errors import LabError
from swarmnet.lab import _host
from swarmnet.lab._layout import NETNS_DIR, OWNER_MARK, RUN_ROOT, STATE_ROOT, LabLayout

#: Chains that may hold lab rules.
RULE_CHAINS = ("FORWARD", "DOCKER-USER")

# How long dockerd gets to shut down cleanly (it unmounts and removes its namespaces)
# before everything left is killed. Containers are killed first, so this is short.
_DAEMON_GRACE = 5.0


def lab_namespaces(layout: LabLayout) -> list[Path]:
    """The lab's named network namespaces (``/run/netns/snl-<name>-nodeN``)."""
    if not NETNS_DIR.is_dir():
        return []
    return [NETNS_DIR / n for n in sorted(os.listdir(NETNS_DIR)) if layout.netns_re.fullmatch(n)]


def lab_processes(layout: LabLayout) -> set[int]:
    """Pids of every process of this lab: daemons, shims, containers, commands in its netns."""
    pids = {p.pid for p in _host.processes() if any(m in p.cmdline for m in layout.markers)}
    pids |= _host.pids_in_namespaces(lab_namespaces(layout))
    pids |= _host.cgroup_pids(_host.cgroup_dirs(layout.cgroup_re))
    return pids - _host.own_lineage()


def owned(directory: Path) -> bool:
    """True if a lab made this directory, so that removing it removes nothing else.

    Everything under the default roots is the lab's; under a ``root`` of the caller's
    choosing, only a directory carrying the lab's mark is.
    """
    return directory.parent in (RUN_ROOT, STATE_ROOT) or (directory / OWNER_MARK).exists()


def lab_directories(layout: LabLayout) -> list[Path]:
    """The lab's runtime and state directories, and the state it recorded elsewhere.

    A lab made with another ``root`` is still cleared in full by a ``Lab(name)`` that
    does not know that root: ``up`` recorded it.
    """
    candidates = [layout.run_dir, layout.state_dir]
    record = read_record(layout)
    if record is not None and record.get("root"):
        candidates.append(Path(str(record["root"])) / layout.name)
    return [d for d in dict.fromkeys(candidates) if owned(d)]


def _is_lab_mount(layout: LabLayout, directories: list[Path], point: str) -> bool:
    for directory in directories:
        if point == str(directory) or point.startswith(f"{directory}/"):
            return True
    parent, _, name = point.rpartition("/")
    return parent == str(NETNS_DIR) and bool(layout.netns_re.fullmatch(name))


@dataclass
class Cleared:
    """What a cleanup removed (for logs and progress lines)."""

    processes: int = 0
    mounts: int = 0
    namespaces: int = 0
    links: list[str] = field(default_factory=list)
    rules: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.processes or self.mounts or self.namespaces or self.links or self.rules)

    @property
    def summary(self) -> str:
        return (
            f"removed {self.processes} processes, {self.mounts} mounts, "
            f"{self.namespaces} namespaces, {len(self.links)} links, {self.rules} iptables rules"
        )


async def clear(layout: LabLayout) -> Cleared:
    """Remove every trace of the lab named ``layout.name``; raise LabError if some stays."""
    cleared = Cleared()
    directories = lab_directories(layout)
    cleared.processes = await _stop_processes(layout)

    cleared.mounts = sum(_is_lab_mount(layout, directories, p) for p in _host.mount_points())
    stuck = _host.unmount_all(lambda point: _is_lab_mount(layout, directories, point))
    if stuck:
        raise LabError(f"lab {layout.name}: these mounts would not go: {', '.join(stuck)}")

    for netns in lab_namespaces(layout):
        netns.unlink(missing_ok=True)
        cleared.namespaces += 1

    links = sorted(
        name
        for name in await _host.link_names()
        if name == layout.bridge or layout.veth_re.fullmatch(name)
    )
    if links:
        await _host.ip_batch([f"link del {name}" for name in links], force=True)
        remaining = sorted(set(links) & await _host.link_names())
        if remaining:
            raise LabError(f"lab {layout.name}: links {', '.join(remaining)} would not go")
    cleared.links = links

    for comment, rule in await _host.commented_rules(RULE_CHAINS):
        if comment == layout.rule_comment:
            await _host.delete_rule(rule)
            cleared.rules += 1

    await _remove_cgroups(layout)
    for directory in directories:
        await anyio.to_thread.run_sync(_host.remove_tree, directory)
    return cleared


async def _stop_processes(layout: LabLayout) -> int:
    """End the lab's processes: containers killed, daemons TERMed, then the rest killed."""
    # Containers first: they are throwaway, and a running one makes dockerd wait out its
    # stop timeout (10 s for a `sleep` that ignores TERM as pid 1).
    _host.send_signal(_host.cgroup_pids(_host.cgroup_dirs(layout.cgroup_re)), signal.SIGKILL)
    everything = lab_processes(layout)
    daemons = {p.pid for p in _host.processes() if p.pid in everything and p.program == "dockerd"}
    _host.send_signal(daemons, signal.SIGTERM)
    await _host.wait_gone(daemons, _DAEMON_GRACE)
    seen = set(everything)
    for _ in range(10):
        remaining = lab_processes(layout)
        if not remaining:
            return len(seen)
        seen |= remaining
        _host.send_signal(remaining, signal.SIGKILL)
        await _host.wait_gone(remaining, 5.0)
    raise LabError(
        f"lab {layout.name}: processes {sorted(lab_processes(layout))} keep running after SIGKILL"
    )


async def _remove_cgroups(layout: LabLayout) -> None:
    # A cgroup stays busy for a moment after its last process exits.
    stuck = _host.remove_cgroups(_host.cgroup_dirs(layout.cgroup_re))
    for _ in range(20):
        if not stuck:
            return
        await anyio.sleep(0.05)
        stuck = _host.remove_cgroups(_host.cgroup_dirs(layout.cgroup_re))
    raise LabError(f"lab {layout.name}: cgroups {', '.join(map(str, stuck))} would not go")


# -- every lab on the host -------------------------------------------------------------

_NAME = r"([a-z0-9]{1,8})"
_NAME_IN_RESOURCE = (
    re.compile(rf"snb-{_NAME}"),
    re.compile(rf"sn-{_NAME}-\d+"),
    re.compile(rf"snl-{_NAME}-node\d+"),
    re.compile(rf"swarmnet-lab-{_NAME}-node\d+"),
    re.compile(rf"swarmnet-lab:{_NAME}"),
)


async def lab_names() -> list[str]:
    """Names of every swarmnet lab that left anything on this host."""
    resources = await _host.link_names()
    if NETNS_DIR.is_dir():
        resources.update(os.listdir(NETNS_DIR))
    resources.update(d.name for d in _host.cgroup_dirs(re.compile(r"swarmnet-lab-.+")))
    resources.update(comment for comment, _ in await _host.commented_rules(RULE_CHAINS))
    names = {
        match[1]
        for resource in resources
        for match in (pattern.fullmatch(resource) for pattern in _NAME_IN_RESOURCE)
        if match
    }
    for directory in (STATE_ROOT, RUN_ROOT):
        if directory.is_dir():
            names.update(n for n in os.listdir(directory) if re.fullmatch(_NAME, n))
    return sorted(names)


def read_record(layout: LabLayout) -> dict[str, object] | None:
    """What ``up`` wrote about the lab (nodes, subnet, root, tls), or None."""
    try:
        data = json.loads(layout.record_file.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def claim_directories(layout: LabLayout) -> None:
    """Make the lab's directories, mark them as the lab's, and record how it was made.

    Raises:
        LabError: the state directory exists and is not the lab's (a ``root`` chosen
            where a directory of that name already holds something else).
    """
    if layout.state_dir.exists() and not owned(layout.state_dir):
        raise LabError(
            f"{layout.state_dir} exists and was not made by a swarmnet lab; the lab would "
            "delete it on `down`: choose another root or lab name"
        )
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    (layout.state_dir / OWNER_MARK).touch()
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    layout.record_file.write_text(json.dumps(record_of(layout), indent=2) + "\n")


def record_of(layout: LabLayout) -> dict[str, object]:
    return {
        "name": layout.name,
        "nodes": layout.nodes,
        "subnet": str(layout.subnet),
        "root": str(layout.state_root),
        "tls": layout.tls,
    }
