"""The ``swarmnet`` command.

Each subcommand lives in a module of its own that exposes ``register(subparsers)``: it
adds its parser and sets ``handler``, an async function taking the parsed arguments and
returning the exit code. Adding a subcommand is one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager

import anyio
import structlog

from swarmnet._cli import _doctor as _doctor
from swarmnet._cli import _lab
from swarmnet._cli import _net as _net
from swarmnet._cli import _service as _service
from swarmnet._cli import _swarm as _swarm
from swarmnet._cli import _watch as _watch
from swarmnet._core.errors import SwarmnetError

Handler = Callable[[argparse.Namespace], Awaitable[int]]
Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

#: Every subcommand module's ``register``, in the order ``--help`` lists them.
COMMANDS: tuple[Register, ...] = (
    _lab.register,
    _swarm.register,
    _net.register,
    _service.register,
    _doctor.register,
    _watch.register,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from swarmnet import __version__

    parser = argparse.ArgumentParser(
        prog="swarmnet",
        description="Docker Swarm networking from the command line.",
    )
    parser.add_argument("--version", action="version", version=f"swarmnet {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v info, -vv debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``swarmnet`` command; return its exit code.

    A swarmnet error ends it with exit code 1 and its message on stderr (no traceback).
    """
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        with _logging(args.verbose):
            return anyio.run(handler, args)
    except SwarmnetError as exc:
        print(f"swarmnet: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


@contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    # The library never configures structlog; the command does, for its own run only
    # (main() may be called in-process, by tests), and sends logs to stderr so that
    # stdout stays for output (``lab status --json``, ``lab env``).
    was_configured, saved = structlog.is_configured(), structlog.get_config()
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()
