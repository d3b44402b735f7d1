"""What the lab reports: immutable status and progress records."""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LabNodeState(str, enum.Enum):
    """Where a lab node stands.

    ``running``: its engine answers. ``stopped``: its namespace is there but its engine does
    not answer (stopped, killed, still starting). ``missing``: the node was never made, or
    was torn down.
    """

    RUNNING = "running"
    STOPPED = "stopped"
    MISSING = "missing"


class LabNodeStatus(_Frozen):
    """One node of a lab, as seen right now.

    Attributes:
        name: the node's name in the lab (``node1``).
        hostname: the name its engine reports (``/info``), empty unless running.
        address: its address on the lab bridge (what ``swarm init --advertise-addr`` wants).
        docker_host: the engine's address, for ``DOCKER_HOST`` or :class:`swarmnet.Engine`.
        tls_host: the engine's TLS listener (``tcp://<address>:2376``) in a lab made with
            TLS, else None.
        state: running, stopped or missing.
    """

    name: str
    hostname: str
    address: str
    docker_host: str
    tls_host: str | None = None
    state: LabNodeState


class LabStatus(_Frozen):
    """A lab and its nodes, as seen right now.

    Attributes:
        name: the lab's name.
        subnet: the lab bridge's subnet (``198.18.x.0/24`` unless chosen).
        bridge: the Linux bridge the nodes hang on (``snb-<name>``).
        nodes: every node, in order.
    """

    name: str
    subnet: str
    bridge: str
    nodes: tuple[LabNodeStatus, ...]

    @property
    def healthy(self) -> bool:
        """True when every node's engine answers."""
        return bool(self.nodes) and all(n.state is LabNodeState.RUNNING for n in self.nodes)

    def node(self, name: str) -> LabNodeStatus:
        """The status of one node, by name; ``KeyError`` if the lab has no such node."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)


class LabProgress(_Frozen):
    """One step of bringing a lab up or down, as passed to a progress callback.

    Attributes:
        event: a stable event name (``lab.node.started``), the same as the log event.
        lab: the lab's name.
        node: the node the step is about, or None for the lab as a whole.
        message: a line for humans.
        elapsed: seconds since the operation began.
    """

    event: str
    lab: str
    node: str | None = None
    message: str
    elapsed: float


class SSHAccess(_Frozen):
    """How to reach a lab node's engine through SSH (see :meth:`LabNode.start_sshd`).

    Attributes:
        url: the engine address, ``ssh://root@<node address>``.
        identity_file: the client's private key (the node's sshd accepts only it).
        known_hosts: a ``known_hosts`` file with the node's host key.

    An ``ssh://`` client reads both from ``~/.ssh`` (``id_ed25519``, ``known_hosts``):
    copy them there, or point ``HOME`` at a directory whose ``.ssh`` holds them.
    """

    url: str
    identity_file: Path
    known_hosts: Path
