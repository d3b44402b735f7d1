"""One node of a lab: where its engine is, and the faults a test can inflict on it."""

from __future__ import annotations

import shlex
from pathlib import Path

import anyio

from swarmnet._core.address import TLSConfig
from swarmnet._core.engine import Engine
from swarmnet._core.errors import LabError, SwarmnetError
from swarmnet._core.log import get_logger
from swarmnet.lab import _daemon, _host, _ssh
from swarmnet.lab._image import WGET_SCRIPT
from swarmnet.lab._layout import NodeLayout
from swarmnet.lab._models import LabNodeState, LabNodeStatus, SSHAccess

_log = get_logger("swarmnet.lab")


class LabNode:
    """A node of a :class:`Lab`: a network namespace with its own dockerd.

    Get one from ``lab.nodes`` or ``lab.node("node2")``. Everything it does is derived
    from the lab's name and the node's number, so a ``LabNode`` made in another process
    controls the same node.

    Example::

        node = lab.node("node2")
        async with node.engine() as engine:
            await engine.ping()
        await node.cut()      # node2 drops off the lab network
        await node.heal()
    """

    def __init__(self, layout: NodeLayout) -> None:
        self._layout = layout
        self._log = _log.bind(lab=layout.lab.name, node=layout.name)

    def __repr__(self) -> str:
        return f"<LabNode {self._layout.lab.name}/{self.name} {self.address}>"

    @property
    def name(self) -> str:
        """The node's name in the lab, also its hostname: ``node1``, ``node2``, …"""
        return self._layout.name

    @property
    def index(self) -> int:
        """The node's number, from 1."""
        return self._layout.index

    @property
    def address(self) -> str:
        """The node's address on the lab bridge (its ``eth0``)."""
        return str(self._layout.address)

    @property
    def docker_host(self) -> str:
        """Where its engine listens: ``unix:///run/swarmnet-lab/<lab>/<node>/docker.sock``."""
        return self._layout.docker_host

    @property
    def netns(self) -> str:
        """The name of its network namespace (``ip netns list`` shows it)."""
        return self._layout.netns

    @property
    def log_file(self) -> Path:
        """Its dockerd's log."""
        return self._layout.log_file

    @property
    def config_file(self) -> Path:
        """Its dockerd's ``daemon.json``: edit it, then :meth:`restart` to apply."""
        return self._layout.config_file

    @property
    def tls_host(self) -> str | None:
        """Its engine's TLS listener, ``tcp://<address>:2376``; None unless the lab has TLS."""
        return self._layout.tls_host if self._layout.lab.tls else None

    @property
    def cert_path(self) -> Path | None:
        """The lab's client certificates (``DOCKER_CERT_PATH``); None unless the lab has TLS."""
        return self._layout.lab.client_cert_dir if self._layout.lab.tls else None

    def engine(self, *, timeout: float | None = 60.0, tls: bool = False) -> Engine:
        """An unopened :class:`swarmnet.Engine` for this node; use it with ``async with``.

        Args:
            timeout: seconds allowed for each request (``None``: no limit).
            tls: connect over the network to :attr:`tls_host` with the lab's client
                certificate, instead of through the node's unix socket.

        Raises:
            LabError: ``tls=True`` for a lab made without TLS.
        """
        if not tls:
            return Engine(self.docker_host, name=self.name, timeout=timeout)
        if self.tls_host is None or self.cert_path is None:
            lab = self._layout.lab.name
            raise LabError(
                f"lab {lab} has no TLS listeners; bring it up with them "
                f"(`swarmnet lab up --name {lab} --tls`, or the tls option of Lab)"
            )
        return Engine(
            self.tls_host,
            tls=TLSConfig.from_cert_path(self.cert_path),
            name=self.name,
            timeout=timeout,
        )

    async def status(self) -> LabNodeStatus:
        """Whether the node is running, stopped or missing, and the hostname its engine reports."""
        state, hostname = LabNodeState.MISSING, ""
        if self._layout.netns_path.exists():
            state = LabNodeState.STOPPED
            if self._layout.socket.exists():
                try:
                    async with self.engine(timeout=5.0) as engine:
                        hostname = (await engine.info()).name
                    state = LabNodeState.RUNNING
                except SwarmnetError:
                    pass
        return LabNodeStatus(
            name=self.name,
            hostname=hostname,
            address=self.address,
            docker_host=self.docker_host,
            tls_host=self.tls_host,
            state=state,
        )

    # -- faults ------------------------------------------------------------------------

    async def stop(self, *, grace: float = 30.0) -> None:
        """Stop dockerd (TERM) and wait until it and its containerd have exited.

        Its containers stop with it. Whatever outlives ``grace`` seconds is killed.
        """
        await _daemon.stop(self._layout, grace=grace)
        self._log.info("lab.node.stopped")

    async def start(self) -> None:
        """Start dockerd again (a stale pidfile is removed first) and wait until it answers.

        Raises:
            LabError: the node was never made (run ``lab.up()``), or dockerd did not answer
                within a minute; the message carries the end of its log.
        """
        self._require_namespace()
        await _daemon.start(self._layout)
        self._log.info("lab.node.started")

    async def restart(self, *, grace: float = 30.0) -> None:
        """:meth:`stop`, then :meth:`start`."""
        await self.stop(grace=grace)
        await self.start()

    async def kill(self) -> None:
        """Kill dockerd with SIGKILL, as a crash would; :meth:`start` brings it back.

        Its pidfile, and the shims and processes of its containers, stay behind.
        """
        await _daemon.kill(self._layout)
        self._log.info("lab.node.killed")

    async def cut(self) -> None:
        """Take the node off the lab network (its veth goes down); :meth:`heal` undoes it."""
        self._require_namespace()
        await _host.run("ip", "link", "set", self._layout.veth, "down")
        self._log.info("lab.node.cut")

    async def heal(self) -> None:
        """Put the node back on the lab network after :meth:`cut`."""
        self._require_namespace()
        await _host.run("ip", "link", "set", self._layout.veth, "up")
        self._log.info("lab.node.healed")

    async def exec(self, *argv: str, check: bool = True) -> str:
        """Run a host program inside the node's network namespace; return its stdout.

        Only the network is the node's: the program, files and hostname are the host's
        (``exec("busybox", "ping", "-c", "1", other.address)``). To limit how long it
        may run, wrap the call in ``anyio.fail_after``.

        Raises:
            LabError: with ``check``, when the program exits non-zero (the message has its
                exit code and stderr).
        """
        if not argv:
            raise LabError("exec needs a command")
        self._require_namespace()
        result = await _host.run(
            "nsenter", f"--net={self._layout.netns_path}", "--", *argv, check=False
        )
        if check and result.returncode != 0:
            raise LabError(
                f"`{shlex.join(argv)}` in {self._layout.lab.name}/{self.name} exited with "
                f"{result.returncode}: {result.stderr.decode(errors='replace').strip()}"
            )
        return result.stdout.decode(errors="replace")

    async def fetch(self, url: str, *, timeout: int = 5) -> str:  # noqa: ASYNC109 (wget -T)
        """Fetch ``url`` over HTTP from inside the node's network namespace; the body.

        Runs the lab image's ``wget`` (the host's busybox, with a ``timeout`` that
        works: ``busybox wget -T`` crashes with Debian's static busybox), so a node
        fetches as the lab's containers do.

        Raises:
            LabError: the fetch failed (refused, an HTTP error, no answer within
                ``timeout`` seconds); the message has wget's own words.
        """
        if timeout < 1:
            raise LabError(f"fetch timeout must be 1 second or more, not {timeout}")
        return await self.exec("sh", "-c", WGET_SCRIPT, "wget", "-T", str(timeout), "-qO-", url)

    async def gossip_leaked(self) -> bool:
        """Whether the node's engine still listens on the gossip port (TCP 7946) though
        it is in no swarm: ask only after it left.

        dockerd 20.10 stops its gossip (memberlist) on ``swarm leave`` only when its
        leave message went out within 1 s; under load, with many peers, it often does
        not (its log: "Could not close DB: timeout waiting for leave broadcast"), and the
        old gossip keeps the port. Every later init or join of that engine then runs
        without gossip ("error in agentInit … bind: address already in use"): its
        overlays carry nothing. A restart ends it (fixed upstream in moby/moby#50115).
        """
        return bool((await self.exec("ss", "-Hltn", "sport = :7946")).strip())

    async def start_sshd(self, *, docker_on_path: bool = True) -> SSHAccess:
        """Run an sshd on the node's address (port 22), for ``ssh://`` engine addresses.

        Key authentication as root, with a client key and host key the lab makes under
        the node's state directory; sessions get ``DOCKER_HOST`` set to this node's
        engine. Needs ``openssh-server``. An sshd already running is restarted.

        Args:
            docker_on_path: False leaves the ``docker`` CLI off the sessions' PATH, as on
                a host without it.

        Raises:
            LabError: the node does not exist, or sshd did not start.
        """
        self._require_namespace()
        if not await anyio.Path("/usr/sbin/sshd").exists():
            raise LabError("sshd is missing; install it with `apt-get install -y openssh-server`")
        access = await _ssh.start_sshd(self._layout, docker_on_path=docker_on_path)
        self._log.info("lab.node.sshd_started", url=access.url)
        return access

    async def stop_sshd(self) -> None:
        """Stop the node's sshd, if it runs. ``lab.down()`` stops it too."""
        await _ssh.stop_sshd(self._layout)

    def _require_namespace(self) -> None:
        if not self._layout.netns_path.exists():
            raise LabError(
                f"{self._layout.lab.name}/{self.name} does not exist; bring the lab up first "
                f"(`await lab.up()` or `swarmnet lab up --name {self._layout.lab.name}`)"
            )
