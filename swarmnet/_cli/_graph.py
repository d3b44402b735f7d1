"""``swarmnet graph``: nodes, their networks and containers, services and tasks, drawn as
Mermaid or Graphviz DOT text (SVG through ``dot`` when it is installed); or a stack plan.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import anyio

from swarmnet._cli._common import engine_command, open_cli_engines
from swarmnet._core.errors import InvalidSpec
from swarmnet._stacks.graph import (
    gather_topology,
    plan_to_dot,
    plan_to_mermaid,
    to_dot,
    to_mermaid,
)
from swarmnet._stacks.model import Stack


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``graph``."""
    graph = engine_command(
        subparsers,
        "graph",
        "draw the swarm's topology (or a stack plan) as Mermaid or Graphviz DOT",
        many=True,
    )
    graph.add_argument(
        "--format",
        choices=["mermaid", "dot", "svg"],
        default="mermaid",
        help="mermaid or dot text, or svg (needs Graphviz's dot) (default: mermaid)",
    )
    graph.add_argument(
        "-c",
        "--compose-file",
        type=Path,
        help="draw the plan of this compose file instead (with --stack; default: none)",
    )
    graph.add_argument("--stack", help="the stack's name, with --compose-file (default: none)")
    graph.add_argument(
        "--prune",
        action="store_true",
        help="with --compose-file: plan removals too (default: no)",
    )
    graph.set_defaults(handler=_graph)


async def _graph(args: argparse.Namespace) -> int:
    if (args.compose_file is None) != (args.stack is None):
        raise InvalidSpec("give both --compose-file and --stack to draw a plan, or neither")
    async with open_cli_engines(args, hostnames=True) as engines:
        if args.compose_file is not None:
            stack = Stack.from_compose(args.compose_file, name=args.stack)
            plan = await stack.plan(engines[0], prune=args.prune)
            text = (
                plan_to_mermaid(stack, plan)
                if args.format == "mermaid"
                else plan_to_dot(stack, plan)
            )
        else:
            topology = await gather_topology(engines)
            text = to_mermaid(topology) if args.format == "mermaid" else to_dot(topology)
    if args.format == "svg":
        dot = shutil.which("dot")
        if dot is None:
            raise InvalidSpec("--format svg needs Graphviz's dot; use --format dot")
        drawn = await anyio.run_process([dot, "-Tsvg"], input=text.encode())
        text = drawn.stdout.decode()
    print(text, end="")
    return 0
