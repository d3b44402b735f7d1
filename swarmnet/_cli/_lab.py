"""``swarmnet lab``: bring local engines up and down, and see where they are."""

from __future__ import annotations

import argparse
import os
import sys

from swarmnet._cli._common import add_json_option, print_json
from swarmnet._core.errors import LabError
from swarmnet.lab import Lab, LabProgress, LabStatus

#: The lab name used when ``--name`` is not given.
DEFAULT_NAME = os.environ.get("SWARMNET_LAB_NAME") or "swarmnet"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lab`` and its subcommands."""
    lab = subparsers.add_parser(
        "lab",
        help="real Docker engines on this host, one per network namespace (needs root)",
        description="Real Docker engines on this Linux host, each in a network namespace "
        "on one bridge, with its own address, hostname and socket. Needs root and "
        "`apt-get install -y docker.io busybox-static iproute2 iptables util-linux`.",
    )
    commands = lab.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)
    name_help = f"the lab's name (default: $SWARMNET_LAB_NAME or {DEFAULT_NAME!r})"

    up = commands.add_parser("up", help="bring a lab up (idempotent)")
    up.add_argument("--nodes", type=int, default=3, help="how many engines (default 3)")
    up.add_argument("--name", default=DEFAULT_NAME, help=name_help)
    up.add_argument("--subnet", help="the lab bridge's IPv4 subnet (default: from the name)")
    up.add_argument(
        "--managers",
        type=int,
        default=None,
        metavar="K",
        help="also form a swarm: the first K nodes managers, the rest workers",
    )
    up.add_argument(
        "--recreate",
        action="store_true",
        help="rebuild a lab of this name made with other settings (node count, subnet, "
        "TLS), losing what its engines hold (default: refuse)",
    )
    up.add_argument(
        "--tls",
        action="store_true",
        help="also listen with TLS on tcp://<node address>:2376 (lab CA, client certificate "
        "under the lab's state directory; see `lab env NODE --tls`)",
    )
    up.set_defaults(handler=_up)

    down = commands.add_parser("down", help="remove a lab and everything it made")
    which = down.add_mutually_exclusive_group()
    which.add_argument("--name", default=DEFAULT_NAME, help=name_help)
    which.add_argument(
        "--all", action="store_true", help="every swarmnet lab on this host, whoever made it"
    )
    down.set_defaults(handler=_down)

    status = commands.add_parser(
        "status", help="show a lab's nodes (exit code 3 when a node is not running)"
    )
    status.add_argument("--name", default=DEFAULT_NAME, help=name_help)
    add_json_option(status)
    status.set_defaults(handler=_status)

    env = commands.add_parser("env", help="print `export DOCKER_HOST=…` for one node")
    env.add_argument("node", help="the node: node1, node2, … (or its number)")
    env.add_argument("--name", default=DEFAULT_NAME, help=name_help)
    env.add_argument(
        "--tls",
        action="store_true",
        help="the node's TLS listener: DOCKER_HOST=tcp://…:2376 DOCKER_TLS_VERIFY=1 "
        "DOCKER_CERT_PATH=… (a lab brought up with --tls)",
    )
    env.set_defaults(handler=_env)


async def _up(args: argparse.Namespace) -> int:
    lab = Lab(args.name, args.nodes, subnet=args.subnet, tls=args.tls)
    status = await lab.up(progress=_print_progress, rebuild=args.recreate)
    _print_table(status)
    if args.managers is not None:
        from swarmnet._cli._swarm import form_lab_swarm

        await form_lab_swarm(lab, args.managers)
    first = status.nodes[0]
    # The hint names the lab: `lab env` alone would look for the default lab.
    print(
        f"\nexport DOCKER_HOST={first.docker_host}   "
        f"# or: eval $(swarmnet lab env node1 --name {lab.name})"
    )
    if lab.tls:
        print(f"over TLS: eval $(swarmnet lab env node1 --name {lab.name} --tls)")
    return 0


async def _down(args: argparse.Namespace) -> int:
    if args.all:
        names = await Lab.down_all(progress=_print_progress)
        if not names:
            print("no swarmnet labs on this host")
        return 0
    try:
        lab = Lab.existing(args.name)
    except LabError:
        # No record (never finished coming up, or half removed): the name is enough.
        lab = Lab(args.name)
    await lab.down(progress=_print_progress)
    return 0


async def _status(args: argparse.Namespace) -> int:
    status = await Lab.existing(args.name).status()
    if args.json:
        print_json(status)
    else:
        _print_table(status)
    return 0 if status.healthy else 3


async def _env(args: argparse.Namespace) -> int:
    lab = Lab.existing(args.name)
    try:
        node = lab.node(int(args.node) if args.node.isdigit() else args.node)
    except KeyError:
        names = ", ".join(n.name for n in lab.nodes)
        raise LabError(f"lab {lab.name} has no node {args.node!r}; it has {names}") from None
    if not args.tls:
        print(f"export DOCKER_HOST={node.docker_host}")
        return 0
    if node.tls_host is None or node.cert_path is None:
        raise LabError(
            f"lab {lab.name} was brought up without TLS; "
            f"run `swarmnet lab up --name {lab.name} --nodes {len(lab.nodes)} --tls`"
        )
    print(
        f"export DOCKER_HOST={node.tls_host} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={node.cert_path}"
    )
    return 0


def _print_progress(step: LabProgress) -> None:
    print(f"{step.elapsed:6.2f}s  {step.message}", flush=True)


def _print_table(status: LabStatus) -> None:
    rows = [("NAME", "HOSTNAME", "ADDRESS", "DOCKER_HOST", "STATE")]
    rows += [
        (n.name, n.hostname or "-", n.address, n.docker_host, n.state.value) for n in status.nodes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"lab {status.name}: bridge {status.bridge}, subnet {status.subnet}")
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    sys.stdout.flush()
