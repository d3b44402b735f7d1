"""``swarmnet swarm``: one engine's swarm membership: status, init, join, leave, tokens.

Join tokens and unlock keys are printed only when asked for with ``--reveal``; otherwise
they show as masks, like everywhere else in swarmnet.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarmnet._cli._common import engine_command, print_json
from swarmnet._core.engine import Engine
from swarmnet._core.errors import InvalidSpec
from swarmnet._core.secret import Secret
from swarmnet._swarm.cluster import Cluster, ClusterProgress, form_cluster
from swarmnet._swarm.models import SwarmInitSpec, SwarmSettings, SwarmStatus, build_spec

if TYPE_CHECKING:
    from swarmnet.lab import Lab

#: Where ``join`` reads a token when ``--token``/``--token-file`` are not given.
TOKEN_ENV = "SWARMNET_JOIN_TOKEN"  # noqa: S105 (the variable's name, not a token)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``swarm`` and its subcommands."""
    swarm = subparsers.add_parser(
        "swarm",
        help="one engine's swarm membership: status, init, join, leave, tokens",
        description="Swarm lifecycle on one engine (DOCKER_HOST, or --host).",
    )
    commands = swarm.add_subparsers(dest="swarm_command", metavar="COMMAND", required=True)
    command = functools.partial(engine_command, commands)

    status = command("status", "show this engine's swarm state", json_help="print JSON")
    status.set_defaults(handler=_status)

    init = command(
        "init",
        "make this engine the first manager of a new swarm (idempotent)",
        json_help="print the swarm as JSON",
    )
    init.add_argument("--advertise-addr", help="address other nodes reach this one at")
    init.add_argument("--listen-addr", help="where to listen for cluster traffic (0.0.0.0:2377)")
    init.add_argument("--data-path-addr", help="address or interface for overlay traffic")
    init.add_argument("--data-path-port", type=int, help="UDP port for overlay traffic (4789)")
    init.add_argument(
        "--default-addr-pool",
        action="append",
        metavar="CIDR",
        help="IPv4 pool overlay subnets come from (repeatable)",
    )
    init.add_argument("--subnet-size", type=int, help="prefix length of subnets from the pools")
    init.add_argument("--force-new-cluster", action="store_true", help="new cluster from this one")
    init.add_argument("--autolock", action="store_true", help="lock managers' data on restart")
    init.add_argument("--availability", choices=["active", "pause", "drain"])
    init.add_argument("--task-history-limit", type=int, help="finished tasks kept per slot")
    init.set_defaults(handler=_init)

    join = command("join", "join a swarm through one or more of its managers (idempotent)")
    join.add_argument("remote", nargs="+", help="manager address(es): ip[:port]")
    join.add_argument("--token", help=f"join token (or --token-file, or ${TOKEN_ENV})")
    join.add_argument("--token-file", type=Path, help="read the token from a file ('-': stdin)")
    join.add_argument("--advertise-addr", help="address other nodes reach this one at")
    join.add_argument("--listen-addr", help="where to listen if this node is a manager")
    join.add_argument("--data-path-addr", help="address or interface for overlay traffic")
    join.add_argument("--availability", choices=["active", "pause", "drain"])
    join.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (30)")
    join.set_defaults(handler=_join)

    leave = command("leave", "leave the swarm (does nothing when in none)")
    leave.add_argument("--force", action="store_true", help="leave even as a manager")
    leave.set_defaults(handler=_leave)

    tokens = command("tokens", "show (masked unless --reveal) or rotate the join tokens")
    tokens.add_argument(
        "role", nargs="?", choices=["worker", "manager"], help="only this role's token"
    )
    tokens.add_argument("--reveal", action="store_true", help="print the real values")
    tokens.add_argument("--unlock-key", action="store_true", help="show the unlock key too")
    tokens.add_argument(
        "--rotate",
        action="append",
        choices=["worker", "manager", "unlock-key"],
        default=[],
        help="rotate this first (repeatable)",
    )
    tokens.set_defaults(handler=_tokens)


def _engine(args: argparse.Namespace) -> Engine:
    return Engine(args.host, timeout=None)


def _print_status(status: SwarmStatus, host: str) -> None:
    role = "manager" if status.control_available else "worker"
    print(f"engine:   {host}")
    print(f"state:    {status.local_node_state.value}")
    if status.node_id:
        print(f"node:     {status.node_id} ({role}) at {status.node_addr}")
    if status.cluster_id:
        print(f"swarm:    {status.cluster_id} ({status.nodes} nodes, {status.managers} managers)")
    if status.manager_addrs:
        print(f"managers: {', '.join(status.manager_addrs)}")
    if status.error:
        print(f"error:    {status.error}")


async def _status(args: argparse.Namespace) -> int:
    async with _engine(args) as engine:
        status = await engine.swarm.status()
    if args.json:
        print_json(status)
    else:
        _print_status(status, engine.url)
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
    given["spec"] = build_spec(SwarmSettings, None, settings, "swarm init")
    spec = build_spec(SwarmInitSpec, None, given, "swarm init")
    async with _engine(args) as engine:
        swarm = await engine.swarm.init(spec)
        status = await engine.swarm.status()
    if args.json:
        print_json(swarm)
        return 0
    print(f"swarm {swarm.id} is managed by {engine.url} (node {status.node_id})")
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
    async with _engine(args) as engine:
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
    print(f"{engine.url} is in the swarm as a {role} (node {status.node_id})")
    return 0


async def _leave(args: argparse.Namespace) -> int:
    async with _engine(args) as engine:
        before = await engine.swarm.state()
        await engine.swarm.leave(force=args.force)
    if before.value == "inactive":
        print(f"{engine.url} is in no swarm; nothing to do")
    else:
        print(f"{engine.url} left its swarm")
    return 0


async def _tokens(args: argparse.Namespace) -> int:
    async with _engine(args) as engine:
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


async def form_lab_swarm(lab: Lab, managers: int) -> Cluster:
    """``lab up --managers K``: form a swarm of every lab node with ``form_cluster``.

    Idempotent like ``lab up``: on a lab whose swarm is already formed nothing changes.
    """
    if not 1 <= managers <= len(lab.nodes):
        raise InvalidSpec(f"--managers must be from 1 to {len(lab.nodes)} (the lab's nodes)")
    async with AsyncExitStack() as stack:
        engines = [await stack.enter_async_context(node.engine()) for node in lab.nodes]
        cluster = await form_cluster(
            engines,
            managers=managers,
            advertise_addrs=[node.address for node in lab.nodes],
            on_progress=_print_cluster_step,
        )
    print(f"swarm {cluster.id}: {len(cluster.managers)} managers, {len(cluster.workers)} workers")
    for member in cluster.members:
        print(f"  {member.engine:<8} {member.role.value:<8} {member.action.value}")
    return cluster


def _print_cluster_step(step: ClusterProgress) -> None:
    who = f" {step.engine}" if step.engine else ""
    print(f"{step.elapsed:6.2f}s  swarm: {step.step}{who}", flush=True)
