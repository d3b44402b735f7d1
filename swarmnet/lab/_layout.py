"""Where everything of a lab lives: names, paths and addresses, derived from the lab name.

Nothing here touches the host. Every resource a lab makes is named from the lab's name
alone, so a lab can be found and torn down from its name even when the process that made
it is long gone, and labs with different names never share anything.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from swarmnet._core.errors import InvalidSpec

#: Default parent of every lab's persistent state (data-roots, daemon.json, logs).
STATE_ROOT = Path("/var/lib/swarmnet-lab")
#: Parent of every lab's runtime files (exec-roots, pidfiles, sockets, the lab record).
RUN_ROOT = Path("/run/swarmnet-lab")
#: Where ``ip netns`` keeps its named namespaces.
NETNS_DIR = Path("/run/netns")

#: Test addresses (RFC 2544) that never leave the machine; each lab takes one /24 in it.
LAB_RANGE = ipaddress.IPv4Network("198.18.0.0/15")

#: The TCP port of a TLS lab node's engine (the docker convention for TLS).
TLS_PORT = 2376

#: A file in a lab's state directory saying the lab made it (and may delete it).
OWNER_MARK = ".swarmnet-lab"

MAX_NAME_LENGTH = 8
MAX_NODES = 64
# Linux refuses interface names longer than 15 bytes (IFNAMSIZ - 1).
_IFNAME_MAX = 15
# sun_path is 108 bytes, NUL included; containerd adds deeper sockets under the exec-root.
_SOCKET_PATH_MAX = 100

_NAME_RE = re.compile(r"[a-z0-9]{1,8}")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid lab name, else raise :class:`InvalidSpec`."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidSpec(
            f"invalid lab name {name!r}: use 1 to {MAX_NAME_LENGTH} characters from a-z and 0-9 "
            "(it becomes part of interface names, which Linux limits to 15 characters)"
        )
    return name


def default_subnet(name: str) -> ipaddress.IPv4Network:
    """The /24 a lab uses unless told otherwise: picked by a hash of its name.

    Deterministic, so the same name always gets the same addresses, and spread over the
    512 /24s of 198.18.0.0/15 so labs with different names rarely meet.
    """
    digest = hashlib.sha256(validate_name(name).encode()).digest()
    slot = int.from_bytes(digest[:4], "big") % (LAB_RANGE.num_addresses // 256)
    return ipaddress.IPv4Network((int(LAB_RANGE.network_address) + slot * 256, 24))


def parse_subnet(subnet: str, nodes: int) -> ipaddress.IPv4Network:
    """Validate a subnet given by the user: IPv4, room for the bridge and every node."""
    try:
        network = ipaddress.IPv4Network(subnet, strict=True)
    except ValueError as exc:
        raise InvalidSpec(f"invalid lab subnet {subnet!r}: {exc}") from exc
    usable = network.num_addresses - 2
    if usable < nodes + 1:
        raise InvalidSpec(
            f"lab subnet {network} has room for {max(usable, 0)} addresses; "
            f"{nodes} nodes and the bridge need {nodes + 1}"
        )
    return network


def node_name(index: int) -> str:
    """``node1``, ``node2``, …: a node's name, which is also its hostname."""
    return f"node{index}"


@dataclass(frozen=True)
class NodeLayout:
    """Names, paths and addresses of node ``index`` (1-based) of one lab."""

    lab: LabLayout
    index: int

    @property
    def name(self) -> str:
        return node_name(self.index)

    @property
    def netns(self) -> str:
        return f"snl-{self.lab.name}-{self.name}"

    @property
    def netns_path(self) -> Path:
        return NETNS_DIR / self.netns

    @property
    def veth(self) -> str:
        """The host end of the node's veth pair; inside the namespace it is ``eth0``."""
        return f"sn-{self.lab.name}-{self.index}"

    @property
    def address(self) -> ipaddress.IPv4Address:
        return self.lab.subnet.network_address + 1 + self.index

    @property
    def interface(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{self.address}/{self.lab.subnet.prefixlen}")

    @property
    def bip(self) -> str:
        """docker0's address in the node (``bip``); distinct per node."""
        return f"172.31.{self.index}.1/24"

    @property
    def cgroup_parent(self) -> str:
        return f"swarmnet-lab-{self.lab.name}-{self.name}"

    @property
    def containerd_namespace(self) -> str:
        # Own namespace per node, so nodes stay apart even on a host whose system
        # containerd (/run/containerd/containerd.sock) dockerd would otherwise share.
        return self.cgroup_parent

    # -- persistent state ---------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.lab.state_dir / self.name

    @property
    def data_root(self) -> Path:
        return self.state_dir / "data"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "daemon.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "dockerd.log"

    # -- runtime ----------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.lab.run_dir / self.name

    @property
    def exec_root(self) -> Path:
        return self.run_dir / "exec"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "dockerd.pid"

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def containerd_config(self) -> Path:
        """The config dockerd writes for the containerd it starts (and names on its cmdline)."""
        return self.exec_root / "containerd" / "containerd.toml"

    @property
    def containerd_pidfile(self) -> Path:
        return self.exec_root / "containerd" / "containerd.pid"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    # -- TLS (labs made with tls=True) -----------------------------------------------

    @property
    def tls_host(self) -> str:
        """The engine's TLS listener: ``tcp://<node address>:2376``."""
        return f"tcp://{self.address}:{TLS_PORT}"

    @property
    def server_cert(self) -> Path:
        return self.lab.tls_dir / self.name / "server-cert.pem"

    @property
    def server_key(self) -> Path:
        return self.lab.tls_dir / self.name / "server-key.pem"


@dataclass(frozen=True)
class LabLayout:
    """Every name and path of one lab, derived from its name (and optional root/subnet)."""

    name: str
    nodes: int
    subnet: ipaddress.IPv4Network
    state_root: Path = STATE_ROOT
    run_root: Path = RUN_ROOT
    tls: bool = False

    @classmethod
    def build(
        cls,
        name: str,
        nodes: int,
        *,
        subnet: str | None = None,
        root: Path | None = None,
        tls: bool = False,
    ) -> LabLayout:
        """Validate the inputs and derive the layout; raises :class:`InvalidSpec`."""
        validate_name(name)
        if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= MAX_NODES:
            raise InvalidSpec(f"a lab has 1 to {MAX_NODES} nodes, not {nodes!r}")
        network = default_subnet(name) if subnet is None else parse_subnet(subnet, nodes)
        state_root = STATE_ROOT if root is None else Path(root).resolve()
        layout = cls(name, nodes, network, state_root=state_root, tls=bool(tls))
        for node in layout.all_nodes:
            if len(node.veth) > _IFNAME_MAX:
                raise InvalidSpec(f"interface name {node.veth!r} is longer than 15 characters")
            if len(str(node.socket)) > _SOCKET_PATH_MAX:
                raise InvalidSpec(f"socket path {node.socket} is too long for a unix socket")
        return layout

    @property
    def bridge(self) -> str:
        return f"snb-{self.name}"

    @property
    def bridge_interface(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{self.subnet.network_address + 1}/{self.subnet.prefixlen}")

    @property
    def rule_comment(self) -> str:
        """The comment on every iptables rule of this lab; cleanup finds rules by it."""
        return f"swarmnet-lab:{self.name}"

    @property
    def state_dir(self) -> Path:
        return self.state_root / self.name

    @property
    def run_dir(self) -> Path:
        return self.run_root / self.name

    @property
    def tls_dir(self) -> Path:
        """The lab's CA (``ca.pem``, ``ca-key.pem``) and each node's server pair."""
        return self.state_dir / "tls"

    @property
    def client_cert_dir(self) -> Path:
        """A ``DOCKER_CERT_PATH`` for the lab's engines: ``ca.pem``, ``cert.pem``, ``key.pem``."""
        return self.tls_dir / "client"

    @property
    def record_file(self) -> Path:
        """What the lab was built with (nodes, subnet, root), for callers knowing only its name."""
        return self.run_dir / "lab.json"

    @cached_property
    def all_nodes(self) -> tuple[NodeLayout, ...]:
        return tuple(NodeLayout(self, index) for index in range(1, self.nodes + 1))

    # -- recognising this lab's leftovers ----------------------------------------------

    @cached_property
    def netns_re(self) -> re.Pattern[str]:
        return re.compile(rf"snl-{self.name}-node(\d+)")

    @cached_property
    def veth_re(self) -> re.Pattern[str]:
        return re.compile(rf"sn-{self.name}-(\d+)")

    @cached_property
    def cgroup_re(self) -> re.Pattern[str]:
        return re.compile(rf"swarmnet-lab-{self.name}-node(\d+)")

    @cached_property
    def markers(self) -> tuple[str, ...]:
        """Substrings that, in a process's command line, tie it to this lab.

        Each ends where a longer lab name could not continue it (``/``, ``-node``), so
        lab ``ab`` never claims the processes of lab ``abc``.
        """
        return (
            f"{self.state_dir}/",
            f"{self.run_dir}/",
            f"{NETNS_DIR}/snl-{self.name}-node",
            f"swarmnet-lab-{self.name}-node",
        )
