"""``swarmnet stack``: plan, apply, ls, rm; compose files interoperable with ``docker stack``.

``plan`` exits 3 when changes are pending and 0 when there are none (exit 2 is taken
by usage errors), so a CI job can gate on it. An invalid file is reported with its
file, line and key, exit 1, and nothing is written.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from swarmnet._cli._common import EXIT_FOUND, engine_command, open_cli_engine, print_json
from swarmnet._stacks.apply import StackStep, list_stacks, remove_stack
from swarmnet._stacks.model import Stack


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``stack`` and its subcommands."""
    stack = subparsers.add_parser(
        "stack",
        help="compose stacks: plan, apply, ls, rm (interoperable with docker stack)",
        description="Compose files applied to a swarm, as docker stack deploy names and "
        "labels them, through a manager (DOCKER_HOST, or --host).",
    )
    commands = stack.add_subparsers(dest="stack_command", metavar="COMMAND", required=True)
    command = functools.partial(
        engine_command, commands, json_what="swarmnet models (snake_case fields)"
    )

    for name, text in (
        ("plan", "show what apply would change (exit 3 when changes are pending, 0 if none)"),
        ("apply", "create, update (and with --prune remove) the stack's objects, in order"),
    ):
        sub = command(name, text)
        sub.add_argument("name", help="the stack's name")
        sub.add_argument(
            "-c",
            "--compose-file",
            required=True,
            type=Path,
            help="the compose file (required, no default)",
        )
        sub.add_argument(
            "--prune",
            action="store_true",
            help="also remove the stack's services and networks the file no longer has "
            "(default: keep them)",
        )
        sub.add_argument(
            "--strict",
            action="store_true",
            help="refuse compose keys swarmnet does not apply (default: warn and ignore)",
        )
        sub.add_argument(
            "--env-file",
            type=Path,
            help="KEY=value lines for ${VAR} in the file (default: the environment only)",
        )
        if name == "apply":
            sub.add_argument(
                "--no-wait",
                action="store_true",
                help="return once written (default: wait until every service converged)",
            )
            sub.add_argument(
                "--timeout",
                type=float,
                default=300.0,
                help="seconds each service may take to converge (default: 300)",
            )
        sub.set_defaults(handler=_plan if name == "plan" else _apply)

    ls = command("ls", "list the stacks on the swarm (found by their label)")
    ls.set_defaults(handler=_ls)

    rm = command("rm", "remove a stack: its services, then its networks")
    rm.add_argument("name", help="the stack's name")
    rm.set_defaults(handler=_rm)


def _read(args: argparse.Namespace) -> Stack:
    stack = Stack.from_compose(
        args.compose_file, name=args.name, env_file=args.env_file, strict=args.strict
    )
    if stack.ignored:
        print(
            f"warning: {args.compose_file}: keys swarmnet does not apply (ignored; "
            f"--strict refuses them): {', '.join(stack.ignored)}",
            file=sys.stderr,
        )
    return stack


async def _plan(args: argparse.Namespace) -> int:
    stack = _read(args)
    async with open_cli_engine(args) as engine:
        plan = await stack.plan(engine, prune=args.prune)
    if args.json:
        print_json(plan)
    else:
        print(plan)
    return EXIT_FOUND if plan else 0


def _print_step(step: StackStep) -> None:
    print(str(step), file=sys.stderr)


async def _apply(args: argparse.Namespace) -> int:
    stack = _read(args)
    async with open_cli_engine(args) as engine:
        result = await stack.apply(
            engine,
            prune=args.prune,
            wait=not args.no_wait,
            timeout=args.timeout,
            on_progress=None if args.json else _print_step,
        )
    if args.json:
        print_json(result)
    else:
        print(f"stack {stack.name}: {len(result.done)} change(s) applied")
    return 0


async def _ls(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        stacks = await list_stacks(engine)
    if args.json:
        print_json(stacks)
        return 0
    print(f"{'NAME':<24}{'SERVICES':<10}NETWORKS")
    for stack in stacks:
        print(f"{stack.name:<24}{len(stack.services):<10}{len(stack.networks)}")
    return 0


async def _rm(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        result = await remove_stack(
            engine, args.name, on_progress=None if args.json else _print_step
        )
    if args.json:
        print_json(result)
    else:
        print(f"stack {args.name}: {len(result.done)} object(s) removed")
    return 0
