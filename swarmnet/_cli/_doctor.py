"""``swarmnet doctor``: why swarm traffic might not flow, as findings (or JSON)."""

from __future__ import annotations

import argparse
from contextlib import AsyncExitStack

from swarmnet._cli._common import add_json_option, print_json
from swarmnet._core.engine import Engine
from swarmnet._core.errors import InvalidSpec
from swarmnet._doctor.doctor import Severity, doctor


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="look for what keeps swarm traffic from flowing (exit code 2 when it finds some)",
        description="Check one or more engines for subnet overlaps, MTU mismatches, IP "
        "forwarding and iptables FORWARD problems, containers on the default bridge, "
        "unreachable swarm ports and missing overlay peers. Host checks run where an "
        "engine's daemon lives on this host (root is needed to enter other network "
        "namespaces); other engines are reported as not checked.",
    )
    parser.add_argument(
        "--engine",
        action="append",
        default=[],
        metavar="URL",
        help="an engine to check (repeatable; default: $DOCKER_HOST or the local socket)",
    )
    parser.add_argument(
        "--lab", metavar="NAME", help="check every node of a swarmnet lab on this host"
    )
    add_json_option(parser, "print the report as JSON")
    parser.add_argument(
        "--no-ports", action="store_true", help="skip the swarm port checks between nodes"
    )
    parser.add_argument(
        "--port-timeout",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="time allowed for each port check (default 1)",
    )
    parser.add_argument(
        "--fail-on",
        choices=("warning", "error", "never"),
        default="warning",
        help="the least severity that makes the exit code 2 (default: warning)",
    )
    parser.set_defaults(handler=_doctor)


async def _doctor(args: argparse.Namespace) -> int:
    if args.port_timeout <= 0:
        raise InvalidSpec("--port-timeout must be more than 0 seconds")
    engines = [Engine(url) for url in args.engine]
    if args.lab:
        from swarmnet.lab import Lab

        engines += [node.engine() for node in Lab.existing(args.lab).nodes]
    if not engines:
        engines = [Engine()]
    async with AsyncExitStack() as stack:
        opened = [await stack.enter_async_context(engine) for engine in engines]
        report = await doctor(opened, check_ports=not args.no_ports, port_timeout=args.port_timeout)
    if args.json:
        print_json(report)
    else:
        print(report.render())
    if args.fail_on == "never":
        return 0
    threshold = Severity(args.fail_on).rank
    return 2 if any(f.severity.rank >= threshold for f in report.findings) else 0
