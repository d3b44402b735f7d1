"""A lab: several real Docker engines on one Linux host, each in a network namespace."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from swarmnet._core.engine import Engine
from swarmnet._core.errors import LabError, SwarmnetError
from swarmnet._core.log import get_logger
from swarmnet.lab import _cleanup, _daemon, _host, _tls
from swarmnet.lab._image import LAB_IMAGE, ensure_image
from swarmnet.lab._layout import LabLayout, NodeLayout
from swarmnet.lab._models import LabNodeStatus, LabProgress, LabStatus
from swarmnet.lab._node import LabNode

_log = get_logger("swarmnet.lab")

#: Called with each step of ``up``/``down``; its return value is ignored.
ProgressCallback = Callable[[LabProgress], object]


class _Reporter:
    """Sends each step to the log (``swarmnet.lab``) and to the caller's callback."""

    def __init__(self, lab: str, callback: ProgressCallback | None) -> None:
        self._lab = lab
        self._callback = callback
        self._started = time.monotonic()
        self._log = _log.bind(lab=lab)

    @property
    def elapsed(self) -> float:
        return round(time.monotonic() - self._started, 2)

    def __call__(self, event: str, message: str, *, node: str | None = None, **fields: Any) -> None:
        self._log.info(event, node=node, elapsed=self.elapsed, **fields)
        if self._callback is not None:
            self._callback(
                LabProgress(
                    event=event, lab=self._lab, node=node, message=message, elapsed=self.elapsed
                )
            )


class Lab:
    """Several real Docker engines on this Linux host, each with its own address and hostname.

    Each node is a network namespace on a Linux bridge, running its own dockerd with its
    own data, socket and hostname, and holding :data:`LAB_IMAGE`. Nodes reach one another
    over the bridge; traffic from the lab to anything off the bridge is dropped, so a lab
    never sends a packet off the machine. Needs root and ``docker.io busybox-static
    iproute2 iptables util-linux``.

    Every resource is named from the lab's name (bridge ``snb-<name>``, namespaces
    ``snl-<name>-nodeN``, state under ``/var/lib/swarmnet-lab/<name>``, sockets under
    ``/run/swarmnet-lab/<name>``), so labs with different names live side by side, and a
    lab is found and torn down by name even after the process that made it died.

    Args:
        name: 1 to 8 characters from a-z and 0-9.
        nodes: how many engines (1 to 64).
        subnet: the bridge's IPv4 subnet; by default a /24 of 198.18.0.0/15 picked from
            the name. The bridge takes the first address, nodeN the (N+1)th.
        root: where node state lives instead of ``/var/lib/swarmnet-lab``.
        tls: also give each engine a TLS listener on ``tcp://<node address>:2376``
            (``--tlsverify``), with a lab CA and a client certificate under the lab's state
            directory (:attr:`cert_path`); ``node.engine(tls=True)`` connects through it.

    Raises:
        InvalidSpec: a bad name, node count or subnet.

    Example::

        async with Lab("demo", nodes=2) as lab:        # up on enter, down on exit
            async with lab.node("node1").engine() as engine:
                print((await engine.info()).name)      # node1
    """

    def __init__(
        self,
        name: str = "swarmnet",
        nodes: int = 3,
        *,
        subnet: str | None = None,
        root: Path | None = None,
        tls: bool = False,
    ) -> None:
        self._layout = LabLayout.build(name, nodes, subnet=subnet, root=root, tls=tls)
        self._nodes = tuple(LabNode(node) for node in self._layout.all_nodes)

    @classmethod
    def existing(cls, name: str = "swarmnet") -> Lab:
        """The lab of that name on this host, with the node count and subnet it was made with.

        Raises:
            LabError: no lab of that name was brought up on this host.
        """
        record = _cleanup.read_record(LabLayout.build(name, 1))
        if record is None:
            raise LabError(
                f"there is no lab named {name!r} on this host; "
                f"bring one up with `swarmnet lab up --name {name}`"
            )
        return cls(
            name,
            int(str(record["nodes"])),
            subnet=str(record["subnet"]),
            root=Path(str(record["root"])),
            tls=record.get("tls") is True,
        )

    def __repr__(self) -> str:
        tls = " tls" if self.tls else ""
        return f"<Lab {self.name!r} nodes={len(self._nodes)} subnet={self.subnet}{tls}>"

    @property
    def name(self) -> str:
        """The lab's name."""
        return self._layout.name

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        """The lab bridge's subnet."""
        return self._layout.subnet

    @property
    def tls(self) -> bool:
        """Whether each engine also listens with TLS on ``tcp://<node address>:2376``."""
        return self._layout.tls

    @property
    def cert_path(self) -> Path:
        """The lab's client certificates, as ``DOCKER_CERT_PATH`` wants them.

        ``ca.pem`` (the lab's CA), ``cert.pem`` and ``key.pem`` (a client pair it signed).
        Filled by :meth:`up` for a lab made with ``tls=True``.
        """
        return self._layout.client_cert_dir

    @property
    def bridge(self) -> str:
        """The name of the lab's Linux bridge."""
        return self._layout.bridge

    @property
    def bridge_address(self) -> str:
        """The bridge's own address: every node's default gateway."""
        return str(self._layout.bridge_interface.ip)

    @property
    def nodes(self) -> tuple[LabNode, ...]:
        """Every node, in order: ``node1``, ``node2``, …"""
        return self._nodes

    def node(self, name: str | int) -> LabNode:
        """One node, by name (``"node2"``) or number (``2``).

        Raises:
            KeyError: the lab has no such node.
        """
        for node in self._nodes:
            if name in (node.name, node.index):
                return node
        raise KeyError(f"lab {self.name!r} has no node {name!r}")

    # -- lifecycle -----------------------------------------------------------------------

    async def up(
        self, progress: ProgressCallback | None = None, *, rebuild: bool = True
    ) -> LabStatus:
        """Bring the lab up: bridge, namespaces, engines, image. Idempotent.

        A lab that is already up, as asked, is left alone (this returns in well under a
        second). Anything else of this lab's name on the host (a lab killed half-way,
        stale processes, mounts or pidfiles, and, with ``rebuild``, a lab made with other
        settings) is torn down first, and the lab is built afresh; nodes start
        concurrently.

        Args:
            progress: called with a :class:`LabProgress` for each step.
            rebuild: tear down a lab of this name made with other settings (node count,
                subnet, TLS): everything its engines held is lost. ``False`` refuses
                instead, as ``swarmnet lab up`` does unless given ``--recreate``.

        Raises:
            LabError: the host lacks what the lab needs (the message says what to install),
                the subnet is taken by another interface, or an engine did not come up
                (the message carries the end of its log). What was built is left in place
                for inspection; :meth:`down` removes it.
        """
        report = _Reporter(self.name, progress)
        _host.preflight()
        if await self._already_up():
            status = await self._finish(report)
            report("lab.up.ready", f"lab {self.name} is already up", already_up=True)
            return status
        record = _cleanup.read_record(self._layout)
        wanted = _cleanup.record_of(self._layout)
        if not rebuild and record is not None and record != wanted:
            differs = ", ".join(
                f"{key} {record.get(key)!r} (asked: {wanted[key]!r})"
                for key in wanted
                if record.get(key) != wanted[key]
            )
            raise LabError(
                f"lab {self.name} was made with other settings: {differs}; rebuilding it "
                "loses everything its engines hold (swarm, networks, containers). Take it "
                f"down first (`swarmnet lab down --name {self.name}`) or rebuild it "
                "(`swarmnet lab up --recreate …`)"
            )
        cleared = await _cleanup.clear(self._layout)
        if cleared.anything:
            report(
                "lab.leftovers.cleared", f"cleared leftovers of lab {self.name}: {cleared.summary}"
            )
        await self._check_subnet_free()
        _cleanup.claim_directories(self._layout)
        if self.tls:
            await _tls.make_lab_certificates(self._layout)
            report("lab.tls.ready", f"lab CA and certificates are in {self._layout.tls_dir}")
        await self._make_bridge()
        report(
            "lab.bridge.ready",
            f"bridge {self.bridge} {self._layout.bridge_interface} is up",
        )
        await self._each(self._bring_up_node, report, "did not come up")
        status = await self._finish(report)
        report("lab.up.ready", f"lab {self.name} is up with {len(self._nodes)} nodes")
        return status

    async def down(self, progress: ProgressCallback | None = None) -> None:
        """Remove everything of this lab from the host. Safe on a lab that is half there.

        Kills the lab's containers, stops its daemons (TERM, then KILL), and removes its
        mounts, namespaces, links, bridge, iptables rules, cgroups and directories. Only
        the lab's name (and what ``up`` recorded under ``/run/swarmnet-lab/<name>``) is
        used, so this also cleans up after a lab made by another process.

        Raises:
            LabError: something could not be removed (the message says what).
        """
        report = _Reporter(self.name, progress)
        _host.preflight()
        cleared = await _cleanup.clear(self._layout)
        report("lab.down.done", f"lab {self.name} is gone ({cleared.summary})")

    @classmethod
    async def down_all(cls, progress: ProgressCallback | None = None) -> list[str]:
        """Tear down every swarmnet lab on this host; return their names.

        This includes labs other people or test runs are using on this host.
        """
        _host.preflight()
        names = await _cleanup.lab_names()
        for name in names:
            cleared = await _cleanup.clear(LabLayout.build(name, 1))
            _Reporter(name, progress)("lab.down.done", f"lab {name} is gone ({cleared.summary})")
        return names

    async def status(self) -> LabStatus:
        """Every node's state, address, engine address and hostname, asked right now."""
        results: dict[int, LabNodeStatus] = {}

        async def one(node: LabNode) -> None:
            results[node.index] = await node.status()

        async with anyio.create_task_group() as tg:
            for node in self._nodes:
                tg.start_soon(one, node)
        return LabStatus(
            name=self.name,
            subnet=str(self.subnet),
            bridge=self.bridge,
            nodes=tuple(results[node.index] for node in self._nodes),
        )

    async def __aenter__(self) -> Lab:
        await self.up()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.down()

    # -- steps -------------------------------------------------------------------------

    async def _already_up(self) -> bool:
        record, wanted_record = _cleanup.read_record(self._layout), _cleanup.record_of(self._layout)
        if record is not None and not self.tls:
            # A lab with TLS listeners is all a lab without them is, and more: reused as is.
            record = {**record, "tls": False}
        if record != wanted_record:
            return False
        links = await _host.links()
        wanted = [self.bridge, *(node.veth for node in self._layout.all_nodes)]
        if not all("UP" in links.get(name, ()) for name in wanted):
            return False  # missing, or a node left cut
        rules = await _host.commented_rules(_cleanup.RULE_CHAINS)
        if sum(comment == self._layout.rule_comment for comment, _ in rules) < len(
            await self._rule_specs()
        ):
            return False
        return (await self.status()).healthy

    async def _check_subnet_free(self) -> None:
        for interface, address in await _host.ipv4_addresses():
            if address.network.overlaps(self.subnet):
                raise LabError(
                    f"lab {self.name} wants subnet {self.subnet}, but interface {interface} "
                    f"already has {address} in it; choose another lab name or pass "
                    "subnet= (--subnet) with a free one, e.g. in 198.18.0.0/15"
                )

    async def _rule_specs(self) -> list[tuple[str, list[str]]]:
        bridge, comment = self.bridge, ["-m", "comment", "--comment", self._layout.rule_comment]
        specs = [
            # Nodes talk to one another: bridged traffic passes iptables (br_netfilter),
            # and a root-namespace dockerd sets FORWARD's policy to DROP.
            ["-i", bridge, "-o", bridge, *comment, "-j", "ACCEPT"],
            # Nothing leaves the lab for another interface, and nothing comes in from one:
            # the lab never sends traffic off this machine.
            ["-i", bridge, "!", "-o", bridge, *comment, "-j", "DROP"],
            ["!", "-i", bridge, "-o", bridge, *comment, "-j", "DROP"],
        ]
        chains = ["FORWARD"]
        if await _host.chain_exists("DOCKER-USER"):
            chains.append("DOCKER-USER")
        return [(chain, spec) for chain in chains for spec in specs]

    async def _make_bridge(self) -> None:
        await _host.ip_batch(
            [
                f"link add {self.bridge} type bridge",
                f"addr add {self._layout.bridge_interface} dev {self.bridge}",
                f"link set {self.bridge} up",
            ]
        )
        for chain, spec in await self._rule_specs():
            await _host.insert_rule(chain, *spec)

    async def _each(
        self,
        step: Callable[[NodeLayout, _Reporter], Awaitable[None]],
        report: _Reporter,
        failed: str,
    ) -> None:
        """Run ``step`` for every node at once; gather failures into one LabError."""
        errors: dict[str, SwarmnetError] = {}

        async def guarded(node: NodeLayout) -> None:
            try:
                await step(node, report)
            except SwarmnetError as exc:
                errors[node.name] = exc
                report("lab.node.failed", f"{node.name}: {exc}", node=node.name)

        async with anyio.create_task_group() as tg:
            for node in self._layout.all_nodes:
                tg.start_soon(guarded, node)
        if errors:
            raise LabError(
                f"lab {self.name}: {len(errors)} of {len(self._nodes)} nodes {failed} "
                f"(`swarmnet lab down --name {self.name}` removes what was made):\n"
                + "\n".join(f"{name}: {error}" for name, error in sorted(errors.items()))
            )

    async def _bring_up_node(self, node: NodeLayout, report: _Reporter) -> None:
        await _host.ip_batch(
            [
                f"netns add {node.netns}",
                f"link add {node.veth} type veth peer name eth0 netns {node.netns}",
                f"link set {node.veth} master {self.bridge} up",
            ]
        )
        await _host.ip_batch(
            [
                f"addr add {node.interface} dev eth0",
                "link set lo up",
                "link set eth0 up",
                f"route add default via {self._layout.bridge_interface.ip}",
            ],
            netns=node.netns,
        )
        report("lab.node.network", f"{node.name}: {node.address} on {self.bridge}", node=node.name)
        _daemon.write_config(node)
        await _daemon.start(node)
        report(
            "lab.node.started",
            f"{node.name}: dockerd answers at {node.docker_host}",
            node=node.name,
        )

    async def _finish(self, report: _Reporter) -> LabStatus:
        """Make sure every node holds the lab image; return the lab's status."""
        await self._each(self._ensure_image, report, "could not get the lab image")
        return await self.status()

    async def _ensure_image(self, node: NodeLayout, report: _Reporter) -> None:
        async with Engine(node.docker_host, name=node.name, timeout=None) as engine:
            if await ensure_image(engine):
                report("lab.node.image", f"{node.name}: imported {LAB_IMAGE}", node=node.name)
