"""``swarmnet doctor``: why swarm traffic might not flow, as findings (or JSON)."""

from __future__ import annotations

import argparse

from swarmnet import InvalidSpec, doctor
from swarmnet._cli._common import (
    EXIT_FOUND,
    JSON_NAMING,
    add_engine_options,
    add_json_option,
    open_cli_engines,
    print_json,
)
from swarmnet.models import Severity


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help=f"look for what keeps swarm traffic from flowing (exit code {EXIT_FOUND} when "
        "it finds some)",
        description="Check one or more engines for subnet overlaps, MTU mismatches, IP "
        "forwarding and iptables FORWARD problems, containers on the default bridge, "
        "unreachable swarm ports and missing overlay peers. Host checks run where an "
        "engine's daemon lives on this host (root is needed to enter other network "
        "namespaces); other engines are reported as not checked. Exit code: 0 nothing "
        f"at or above --fail-on, {EXIT_FOUND} findings at or above it, 1 an error, 2 a "
        "bad command line. " + JSON_NAMING,
    )
    add_engine_options(parser, many=True, old_names=("--engine",))
    add_json_option(parser, "the swarmnet.DoctorReport")
    parser.add_argument(
        "--no-ports",
        action="store_true",
        help="skip the swarm port checks between nodes (default: check them)",
    )
    parser.add_argument(
        "--port-timeout",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="time allowed for each port check (default: 1)",
    )
    parser.add_argument(
        "--fail-on",
        choices=("warning", "error", "never"),
        default="warning",
        help=f"the least severity that makes the exit code {EXIT_FOUND} (default: warning)",
    )
    parser.set_defaults(handler=_doctor)


async def _doctor(args: argparse.Namespace) -> int:
    if args.port_timeout <= 0:
        raise InvalidSpec("--port-timeout must be more than 0 seconds")
    async with open_cli_engines(args) as engines:
        report = await doctor(
            engines, check_ports=not args.no_ports, port_timeout=args.port_timeout
        )
    if args.json:
        print_json(report)
    else:
        print(report.render())
    if args.fail_on == "never":
        return 0
    threshold = Severity(args.fail_on).rank
    found = any(f.severity.rank >= threshold for f in report.findings)
    return EXIT_FOUND if found else 0
