"""``swarmnet swarm``: swarm membership: status, init, join, leave, tokens, form.

``status`` and ``form`` take several engines (``-H`` repeated, or ``--lab NAME``); the
others work on one. Join tokens and unlock keys are printed only when asked for with
``--reveal``; otherwise they show as masks, like everywhere else in swarmnet.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from swarmnet import (
    Cluster,
    InvalidSpec,
    Secret,
    SwarmInitSpec,
    SwarmSettings,
    form_cluster,
    open_engines,
)
from swarmnet._cli._common import (
    JSON_NAMING,
    Column,
    UsageError,
    describe_invalid,
    engine_choices,
    engine_command,
    open_cli_engine,
    open_cli_engines,
    print_json,
    print_table,
    to_json,
)
from swarmnet._core.models import RefusedSpec
from swarmnet.lab import Lab
from swarmnet.models import ClusterMember, ClusterProgress, SwarmStatus

#: Where ``join`` reads a token when ``--token``/``--token-file`` are not given.
TOKEN_ENV = "SWARMNET_JOIN_TOKEN"  # noqa: S105 (the variable's name, not a token)

_INIT_FLAGS = {
    "default_addr_pool": "--default-addr-pool",
    "task_history_retention_limit": "--task-history-limit",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``swarm`` and its subcommands."""
    swarm = subparsers.add_parser(
        "swarm",
        help="swarm membership: status, init, join, leave, tokens, form",
        description="Swarm membership of engines: -H HOST (status and form take several), "
        "--lab NAME [--node N], or $DOCKER_HOST. " + JSON_NAMING,
    )
    commands = swarm.add_subparsers(dest="swarm_command", metavar="COMMAND", required=True)

    status = engine_command(
        commands,
        "status",
        "show each engine's swarm state",
        many=True,
        json_what=(
            "a swarmnet.models.SwarmStatus (several engines: an object of them by engine name)"
        ),
        description="Show each engine's swarm state: its fields as --json names them, in "
        "the same order. " + JSON_NAMING,
    )
    status.set_defaults(handler=_status)

    init = engine_command(
        commands,
        "init",
        "make this engine the first manager of a new swarm (idempotent)",
        json_what="the swarmnet.models.Swarm",
    )
    init.add_argument(
        "--advertise-addr",
        metavar="ADDR",
        help="the address other nodes reach this one at (default: the engine picks)",
    )
    init.add_argument(
        "--listen-addr",
        metavar="ADDR[:PORT]",
        help="where to listen for cluster traffic (default: 0.0.0.0:2377)",
    )
    init.add_argument(
        "--data-path-addr",
        metavar="ADDR",
        help="address or interface for overlay traffic (default: --advertise-addr)",
    )
    init.add_argument(
        "--data-path-port",
        type=int,
        metavar="PORT",
        help="UDP port for overlay traffic (default: 4789)",
    )
    init.add_argument(
        "--default-addr-pool",
        action="append",
        metavar="CIDR",
        help="an IPv4 pool overlay subnets come from (repeatable; default: 10.0.0.0/8)",
    )
    init.add_argument(
        "--subnet-size",
        type=int,
        metavar="BITS",
        help="prefix length of subnets from the pools (default: 24)",
    )
    init.add_argument(
        "--force-new-cluster",
        action="store_true",
        help="a new single-manager cluster from this manager's state (default: off)",
    )
    init.add_argument(
        "--autolock",
        action="store_true",
        help="managers need the unlock key after a restart (default: off)",
    )
    init.add_argument(
        "--availability",
        choices=["active", "pause", "drain"],
        help="whether this node takes tasks (default: active)",
    )
    init.add_argument(
        "--task-history-limit",
        type=int,
        metavar="N",
        help="finished tasks kept per slot (default: 5)",
    )
    init.set_defaults(handler=_init)

    join = engine_command(
        commands, "join", "join a swarm through one or more of its managers (idempotent)"
    )
    join.add_argument("remote", nargs="+", metavar="MANAGER", help="manager address: ip[:port]")
    join.add_argument("--token", help=f"the join token (default: --token-file, else ${TOKEN_ENV})")
    join.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="read the join token from a file ('-': stdin; default: none)",
    )
    join.add_argument(
        "--advertise-addr",
        metavar="ADDR",
        help="the address other nodes reach this one at (default: the engine picks)",
    )
    join.add_argument(
        "--listen-addr",
        metavar="ADDR[:PORT]",
        help="where to listen if this node is a manager (default: 0.0.0.0:2377)",
    )
    join.add_argument(
        "--data-path-addr",
        metavar="ADDR",
        help="address or interface for overlay traffic (default: --advertise-addr)",
    )
    join.add_argument(
        "--availability",
        choices=["active", "pause", "drain"],
        help="whether this node takes tasks (default: active)",
    )
    join.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the join (default: 30)",
    )
    join.set_defaults(handler=_join)

    leave = engine_command(commands, "leave", "leave the swarm (does nothing when in none)")
    leave.add_argument(
        "--force",
        action="store_true",
        help="leave even as a manager, or when locked or stuck (default: off)",
    )
    leave.set_defaults(handler=_leave)

    tokens = engine_command(
        commands, "tokens", "show (masked unless --reveal) or rotate the join tokens"
    )
    tokens.add_argument(
        "role",
        nargs="?",
        choices=["worker", "manager"],
        metavar="ROLE",
        help="worker or manager: only this role's token, alone on its line (default: both)",
    )
    tokens.add_argument(
        "--reveal", action="store_true", help="print the real values (default: masked)"
    )
    tokens.add_argument(
        "--unlock-key", action="store_true", help="show the unlock key too (default: off)"
    )
    tokens.add_argument(
        "--rotate",
        action="append",
        choices=["worker", "manager", "unlock-key"],
        default=[],
        help="rotate this first (repeatable; default: none)",
    )
    tokens.set_defaults(handler=_tokens)

    form = engine_command(
        commands,
        "form",
        "make one swarm of several engines (idempotent)",
        many=True,
        json_what="the swarmnet.Cluster",
        description="Make one swarm of the engines given (-H repeated, or --lab NAME): "
        "the first --managers are managers, the rest workers. Engines already in place "
        "are left alone; roles are changed where they differ.",
    )
    form.add_argument(
        "--managers",
        type=int,
        default=1,
        metavar="K",
        help="how many of the engines, from the first, are managers (default: 1)",
    )
    form.add_argument(
        "--advertise-addr",
        action="append",
        default=[],
        metavar="ADDR",
        help="the address each engine is reached at, in the order of the engines "
        "(default: with --lab the nodes' addresses, else the engines pick)",
    )
    form.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for every node to be ready (default: 60)",
    )
    form.set_defaults(handler=_form)


def _status_lines(status: SwarmStatus) -> list[str]:
    data = to_json(status)
    data["remote_managers"] = ", ".join(status.manager_addrs)
    width = max(len(key) for key in data) + 1
    return [f"{key + ':':<{width}} {_text(value)}" for key, value in data.items()]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if value not in ("", None) else "-"


async def _status(args: argparse.Namespace) -> int:
    async with open_cli_engines(args, timeout=None) as engines:
        statuses = {engine.name: await engine.swarm.status() for engine in engines}
    if args.json:
        print_json(next(iter(statuses.values())) if len(statuses) == 1 else statuses)
        return 0
    for i, (name, status) in enumerate(statuses.items()):
        if i:
            print()
        print(f"engine {name}")
        for line in _status_lines(status):
            print(f"  {line}")
    return 0


async def _init(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        "advertise_addr": args.advertise_addr,
        "data_path_addr": args.data_path_addr,
        "data_path_port": args.data_path_port,
        "default_addr_pool": args.default_addr_pool,
        "subnet_size": args.subnet_size,
        "availability": args.availability,
    }
    if args.listen_addr:
        options["listen_addr"] = args.listen_addr
    settings: dict[str, Any] = {}
    if args.autolock:
        settings["autolock"] = True
    if args.task_history_limit is not None:
        settings["task_history_retention_limit"] = args.task_history_limit
    given = {key: value for key, value in options.items() if value is not None}
    given["force_new_cluster"] = args.force_new_cluster
    try:
        spec = SwarmInitSpec(**given, spec=SwarmSettings(**settings))
    except (ValidationError, RefusedSpec) as exc:
        # Refused before any engine is opened, in the flags' names.
        errors = exc.errors if isinstance(exc, RefusedSpec) else exc
        raise InvalidSpec(f"swarm init: {describe_invalid(errors, _INIT_FLAGS)}") from None
    async with open_cli_engine(args, timeout=None) as engine:
        swarm = await engine.swarm.init(spec)
        status = await engine.swarm.status()
    if args.json:
        print_json(swarm)
        return 0
    print(f"swarm {swarm.id} is managed by {engine.name} (node {status.node_id})")
    print(f"data path port {swarm.data_path_port}, address pools {_pools(swarm.default_addr_pool)}")
    if swarm.spec.autolock:
        print("autolock is on: keep the unlock key (`swarmnet swarm tokens --unlock-key --reveal`)")
    print("join tokens: `swarmnet swarm tokens --reveal` on this engine")
    return 0


def _pools(pools: tuple[Any, ...]) -> str:
    return ", ".join(str(pool) for pool in pools) or "-"


def _read_token(args: argparse.Namespace) -> Secret:
    if args.token:
        return Secret(args.token)
    if args.token_file is not None:
        text = sys.stdin.read() if str(args.token_file) == "-" else args.token_file.read_text()
        return Secret(text.strip())
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return Secret(from_env)
    raise InvalidSpec(f"swarm join: give the token with --token, --token-file or ${TOKEN_ENV}")


async def _join(args: argparse.Namespace) -> int:
    token = _read_token(args)
    async with open_cli_engine(args, timeout=None) as engine:
        status = await engine.swarm.join(
            args.remote,
            token,
            advertise_addr=args.advertise_addr,
            listen_addr=args.listen_addr,
            data_path_addr=args.data_path_addr,
            availability=args.availability,
            timeout=args.timeout,
        )
    role = "manager" if status.control_available else "worker"
    print(f"{engine.name} is in the swarm as a {role} (node {status.node_id})")
    return 0


async def _leave(args: argparse.Namespace) -> int:
    async with open_cli_engine(args, timeout=None) as engine:
        before = await engine.swarm.state()
        await engine.swarm.leave(force=args.force)
    if before.value == "inactive":
        print(f"{engine.name} is in no swarm; nothing to do")
    else:
        print(f"{engine.name} left its swarm")
    return 0


async def _tokens(args: argparse.Namespace) -> int:
    async with open_cli_engine(args, timeout=None) as engine:
        if args.rotate:
            await engine.swarm.rotate(
                worker_token="worker" in args.rotate,
                manager_token="manager" in args.rotate,
                unlock_key="unlock-key" in args.rotate,
            )
        tokens = await engine.swarm.join_tokens()
        key = await engine.swarm.unlock_key() if args.unlock_key else None
    shown: dict[str, Secret | None] = {"worker": tokens.worker, "manager": tokens.manager}
    if args.role:
        shown = {args.role: shown[args.role]}
    if args.unlock_key:
        shown["unlock-key"] = key

    def show(value: Secret | None) -> str:
        if value is None:
            return "(none: autolock is off)"
        return value.reveal() if args.reveal else str(value)

    if args.role and not args.unlock_key:
        # One value alone on its line, for $(swarmnet swarm tokens worker --reveal).
        print(show(shown[args.role]))
    else:
        for name, value in shown.items():
            print(f"{name + ':':12} {show(value)}")
    if not args.reveal:
        print("(masked: add --reveal to print the values)", file=sys.stderr)
    if args.rotate:
        print(f"rotated: {', '.join(args.rotate)}", file=sys.stderr)
    return 0


async def _form(args: argparse.Namespace) -> int:
    choices = engine_choices(args)
    if not 1 <= args.managers <= len(choices):
        raise UsageError(
            f"--managers must be from 1 to {len(choices)} (the number of engines given)"
        )
    addrs: list[str | None] = list(args.advertise_addr)
    if addrs and len(addrs) != len(choices):
        raise UsageError(
            f"give --advertise-addr once per engine ({len(choices)}) or not at all "
            f"(got {len(addrs)})"
        )
    if not addrs and args.lab is not None:
        by_name = {node.name: node.address for node in Lab.existing(args.lab).nodes}
        addrs = [by_name.get(choice.name or "") for choice in choices]
    async with open_cli_engines(args, timeout=None) as engines:
        cluster = await form_cluster(
            engines,
            managers=args.managers,
            advertise_addrs=addrs or None,
            timeout=args.timeout,
            on_progress=None if args.json else _print_cluster_step,
        )
    if args.json:
        print_json(cluster)
    else:
        _print_cluster(cluster)
    return 0


#: ``swarm form``: one row per engine, in the order of ClusterMember's fields.
MEMBER_COLUMNS: tuple[Column[ClusterMember], ...] = (
    Column("engine", lambda m: m.engine),
    Column("node_id", lambda m: m.node_id[:12]),
    Column("role", lambda m: m.role.value),
    Column("action", lambda m: m.action.value),
)


def _print_cluster(cluster: Cluster) -> None:
    managers, workers = len(cluster.managers), len(cluster.workers)
    print(
        f"swarm {cluster.id}: {managers} manager{'s' * (managers != 1)}, "
        f"{workers} worker{'s' * (workers != 1)}"
    )
    print_table(MEMBER_COLUMNS, cluster.members)


async def form_lab_swarm(lab: Lab, managers: int) -> Cluster:
    """``lab up --managers K``: form a swarm of every lab node with ``form_cluster``.

    Idempotent like ``lab up``: on a lab whose swarm is already formed nothing changes.
    """
    if not 1 <= managers <= len(lab.nodes):
        raise InvalidSpec(f"--managers must be from 1 to {len(lab.nodes)} (the lab's nodes)")
    async with open_engines([node.engine() for node in lab.nodes]) as engines:
        cluster = await form_cluster(
            engines,
            managers=managers,
            advertise_addrs=[node.address for node in lab.nodes],
            on_progress=_print_cluster_step,
        )
    _print_cluster(cluster)
    return cluster


def _print_cluster_step(step: ClusterProgress) -> None:
    who = f" {step.engine}" if step.engine else ""
    print(f"{step.elapsed:6.2f}s  swarm: {step.step}{who}", flush=True)
