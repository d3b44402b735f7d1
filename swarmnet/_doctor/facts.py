"""What doctor reads, once per run: each engine's state and its host's, and the swarm's.

Engines are read through their capability APIs only (``engine.info()``,
``engine.networks``, ``engine.containers``, ``engine.swarm``, ``engine.nodes``); hosts
through a :class:`~swarmnet._host.probe.HostProbe` in the daemon's network namespace.
The checks then work on these facts alone, so each is a plain function.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from swarmnet._containers.api import Container
from swarmnet._core.concurrency import run_all
from swarmnet._core.engine_models import EngineInfo, LocalNodeState
from swarmnet._core.errors import EngineError, InvalidSpec, NotFound
from swarmnet._host.daemon_config import read_daemon_json
from swarmnet._host.kernel import KernelEvidence, read_kernel
from swarmnet._host.probe import CommandResult, HostProbe, locate_daemon
from swarmnet._networks.models import Network, NetworkScope
from swarmnet._networks.specs import OPT_BRIDGE_NAME
from swarmnet._swarm.models import Node, Swarm

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The default VXLAN data-path port (a swarm may set another: ``DataPathPort``).
DATA_PATH_PORT = 4789

# dockerd's local default-address-pools when daemon.json sets none (libnetwork ipamutils).
DOCKER_LOCAL_POOLS: tuple[IPNet, ...] = (
    *(ipaddress.ip_network(f"172.{n}.0.0/16") for n in range(17, 32)),
    ipaddress.ip_network("192.168.0.0/16"),
)
# A swarm whose DefaultAddrPool is empty allocates overlays from 10.0.0.0/8.
SWARM_DEFAULT_POOL: tuple[IPNet, ...] = (ipaddress.ip_network("10.0.0.0/8"),)

# The sysctls that must be 1 for containers to reach beyond their node, and their files.
FORWARDING_FILES = {
    "net.ipv4.ip_forward": "/proc/sys/net/ipv4/ip_forward",
    "net.ipv4.conf.all.forwarding": "/proc/sys/net/ipv4/conf/all/forwarding",
}


@dataclass
class HostFacts:
    """What one engine's network namespace holds (None: the command failed)."""

    where: str
    forwarding: dict[str, str] = field(default_factory=dict)
    iptables: str | None = None
    routes: list[dict[str, Any]] | None = None
    links: list[dict[str, Any]] | None = None
    kernel: KernelEvidence | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class NodeFacts:
    """Everything read about one engine and its host."""

    engine: Engine
    info: EngineInfo | None = None
    swarm: Swarm | None = None  # managers only
    networks: list[Network] = field(default_factory=list)
    overlays: dict[str, Network] = field(default_factory=dict)  # verbose, by id
    containers: list[Container] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)  # managers only
    probe: HostProbe | None = None
    probe_note: str = ""
    host: HostFacts | None = None
    local_pools: tuple[IPNet, ...] = DOCKER_LOCAL_POOLS
    local_pools_from: str = "docker's defaults"
    error: str = ""

    @property
    def name(self) -> str:
        """The engine's name (as the caller named it)."""
        return self.engine.name

    @property
    def hostname(self) -> str:
        """The node's hostname, or the engine's name when unknown."""
        return self.info.name if self.info is not None and self.info.name else self.name

    @property
    def in_swarm(self) -> bool:
        """True when the engine is an active swarm member."""
        return self.info is not None and self.info.swarm.local_node_state is LocalNodeState.ACTIVE

    @property
    def is_manager(self) -> bool:
        """True when the engine manages its swarm."""
        return self.info is not None and self.info.swarm.is_manager

    @property
    def address(self) -> str:
        """The node's swarm address ("" outside a swarm)."""
        return self.info.swarm.node_addr if self.info is not None else ""

    def swarm_pools(self) -> tuple[IPNet, ...] | None:
        """The swarm's default address pools, as a manager knows them (None elsewhere)."""
        if self.swarm is None:
            return None
        return self.swarm.default_addr_pool or SWARM_DEFAULT_POOL

    def bridges(self) -> dict[str, str]:
        """Linux bridge device -> network name, for the engine's local bridge networks."""
        found: dict[str, str] = {}
        for network in self.networks:
            if network.driver != "bridge":
                continue
            device = network.options.get(OPT_BRIDGE_NAME) or f"br-{network.id[:12]}"
            found[device] = network.name
        return found


@dataclass
class Survey:
    """What the engines tell together: the swarm's networks and pools, as managers see them.

    Attributes:
        nodes: the facts of every engine that could be read.
        swarm_pools: the swarm's default address pools (None: no manager among them).
        swarm_networks: every swarm-scoped network the managers list.
        swarm_ids: their ids, or None when no manager was among the engines (a worker
            lists only the overlays it holds endpoints of, so nothing can be called stale).
    """

    nodes: list[NodeFacts]
    swarm_pools: tuple[IPNet, ...] | None = None
    swarm_networks: list[Network] = field(default_factory=list)
    swarm_ids: set[str] | None = None

    @classmethod
    def of(cls, nodes: list[NodeFacts]) -> Survey:
        """Put together what the readable engines say."""
        managers = [f for f in nodes if f.is_manager]
        pools = next((p for f in managers if (p := f.swarm_pools()) is not None), None)
        networks = list(
            {
                n.id: n for f in managers for n in f.networks if n.scope is NetworkScope.SWARM
            }.values()
        )
        ids = {n.id for n in networks} if managers else None
        return cls(nodes=nodes, swarm_pools=pools, swarm_networks=networks, swarm_ids=ids)

    def network_names(self, node: NodeFacts) -> set[str]:
        """Every network name a new network on ``node`` would clash with."""
        return {n.name for n in node.networks} | {n.name for n in self.swarm_networks}


# -- reading -------------------------------------------------------------------------------


async def collect(engine: Engine, probe: HostProbe | None, *, auto_probe: bool) -> NodeFacts:
    """Read one engine (and, where it can be reached, its host) into :class:`NodeFacts`.

    The engine and its host are read at the same time; an engine that cannot be read
    leaves ``error`` set, and its host facts are not kept.
    """
    facts = NodeFacts(engine=engine)
    errors: list[EngineError] = []

    async def read_engine() -> None:
        try:
            await _read_engine(facts)
        except EngineError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_engine)
        tg.start_soon(_read_host_of, facts, probe, auto_probe)
    if errors:
        facts.error = str(errors[0])
        facts.host = None
    return facts


async def _read_host_of(facts: NodeFacts, probe: HostProbe | None, auto_probe: bool) -> None:
    engine = facts.engine
    if auto_probe:
        location = await locate_daemon(engine.url)
        if location is None:
            facts.probe_note = (
                f"{engine.url} is not a unix socket on this host whose daemon could be found"
            )
        else:
            facts.probe = location.probe()
            _read_local_pools(facts, location.config_file)
    else:
        facts.probe = probe
        if probe is None:
            facts.probe_note = "no host probe was given for it"
    if facts.probe is not None:
        facts.host = await read_host(facts.probe)


async def _read_engine(facts: NodeFacts) -> None:
    engine = facts.engine
    facts.info = info = await engine.info()

    async def networks() -> None:
        facts.networks = list(await engine.networks.list())
        overlays = [
            n.id for n in facts.networks if n.driver == "overlay" and n.scope is NetworkScope.SWARM
        ]
        await run_all(
            [functools.partial(overlay, network_id) for network_id in overlays], catch=EngineError
        )
        # In the engine's order, whatever order the inspects finished in.
        facts.overlays = {i: facts.overlays[i] for i in overlays}

    async def overlay(network_id: str) -> None:
        facts.overlays[network_id] = await inspect_verbose(engine, network_id)

    async def containers() -> None:
        facts.containers = list(await engine.containers.list())

    async def swarm() -> None:
        facts.swarm = await engine.swarm.inspect()

    async def nodes() -> None:
        facts.nodes = list(await engine.nodes.list())

    jobs: list[Callable[[], Awaitable[None]]] = [networks, containers]
    if info.swarm.is_manager:
        jobs += [swarm, nodes]
    await run_all(jobs, catch=EngineError)


async def inspect_verbose(engine: Engine, network_id: str) -> Network:
    """An overlay with its peers; an empty one when it went away meanwhile."""
    try:
        return await engine.networks.get(network_id, verbose=True)
    except NotFound:
        return Network(Id=network_id, name="")


def _read_local_pools(facts: NodeFacts, config_file: Path) -> None:
    try:
        config = read_daemon_json(config_file)
    except (InvalidSpec, OSError):
        return
    pools = config.bridge.default_address_pools
    if pools:
        facts.local_pools = tuple(p.base for p in pools)
        facts.local_pools_from = str(config_file)


async def read_host(probe: HostProbe) -> HostFacts:
    """Forwarding sysctls, iptables rules, routes, interfaces and kernel features, at once."""
    host = HostFacts(where=probe.where)
    commands = {
        "forwarding": ["cat", *FORWARDING_FILES.values()],
        "iptables": ["iptables", "-w", "5", "-S"],
        "routes": ["ip", "-j", "route", "show", "table", "main"],
        "links": ["ip", "-j", "addr", "show"],
    }
    results: dict[str, CommandResult] = {}
    kernel: list[KernelEvidence | str] = []

    async def one(key: str, argv: list[str]) -> None:
        results[key] = await probe.run(argv, timeout=10.0)

    async def features() -> None:
        kernel.append(await read_kernel(probe))

    async with anyio.create_task_group() as tg:
        for key, argv in commands.items():
            tg.start_soon(one, key, argv)
        tg.start_soon(features)
    for key, result in results.items():
        if not result.ok:
            host.problems.append(
                f"`{shlex.join(result.argv)}` failed ({result.returncode}): {result.stderr.strip()}"
            )
            continue
        if key == "forwarding":
            values = result.stdout.split()
            if len(values) == len(FORWARDING_FILES):
                host.forwarding = dict(zip(FORWARDING_FILES, values, strict=True))
        elif key == "iptables":
            host.iptables = result.stdout
        else:
            try:
                parsed = json.loads(result.stdout or "[]")
            except json.JSONDecodeError:
                host.problems.append(f"`{shlex.join(result.argv)}` printed no JSON")
                continue
            if key == "routes":
                host.routes = list(parsed)
            else:
                host.links = list(parsed)
    if isinstance(kernel[0], str):
        host.problems.append(kernel[0])
    else:
        host.kernel = kernel[0]
    return host
