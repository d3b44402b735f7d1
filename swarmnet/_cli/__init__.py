"""The ``swarmnet`` command.

Each subcommand lives in a module of its own that exposes ``register(subparsers)``: it
adds its parser and sets ``handler``, an async function taking the parsed arguments and
returning the exit code. Adding a subcommand is one line in :data:`COMMANDS`.

Every command speaks one dialect, from :mod:`swarmnet._cli._common`: engines picked with
``add_engine_options`` (``-H/--host [NAME=]HOST``, ``--lab NAME [--node N]``,
``$DOCKER_HOST``) and opened with ``open_cli_engines``; ``--json`` with the library's own
field names; errors turned into a message and an exit code in :func:`main` alone, through
``exit_status``. Commands call swarmnet's public API only.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager

import anyio
import structlog

from swarmnet._cli import _doctor as _doctor
from swarmnet._cli import _graph as _graph
from swarmnet._cli import _lab
from swarmnet._cli import _net as _net
from swarmnet._cli import _service as _service
from swarmnet._cli import _stack as _stack
from swarmnet._cli import _swarm as _swarm
from swarmnet._cli import _watch as _watch
from swarmnet._cli._common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, exit_status

Handler = Callable[[argparse.Namespace], Awaitable[int]]
Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

#: Every subcommand module's ``register``, in the order ``--help`` lists them.
COMMANDS: tuple[Register, ...] = (
    _lab.register,
    _swarm.register,
    _net.register,
    _service.register,
    _stack.register,
    _doctor.register,
    _watch.register,
    _graph.register,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from swarmnet import __version__

    parser = argparse.ArgumentParser(
        prog="swarmnet",
        description="Docker Swarm networking from the command line. Every command that "
        "talks to engines picks them the same way: -H/--host [NAME=]HOST (default: "
        "$DOCKER_HOST), or --lab NAME [--node N] for a swarmnet lab. Exit codes: 0 done, "
        "1 an error, 2 a command line that cannot run, 3 problems found (doctor, lab "
        "status), 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"swarmnet {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more, on stderr: -v info, -vv debug (default: warnings only)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``swarmnet`` command; return its exit code.

    Exit codes: 0 done, 1 an error (its message on stderr, no traceback), 2 a command line
    that cannot be run as given (usage and the problem on stderr), 130 Ctrl-C. Some
    commands add their own (``doctor`` and ``lab status``: 2 and 3 for what they found).
    Never exits the interpreter: tests call it in-process.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # argparse exits for --help (0) and bad usage (2); return the code instead.
        return exc.code if isinstance(exc.code, int) else 0
    handler: Handler = args.handler
    try:
        with _logging(args.verbose):
            return anyio.run(handler, args)
    except BrokenPipeError:
        # The reader went away (`swarmnet … | head`): nothing more to say, and Python's
        # own flush at exit must not complain either.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (left to the exit)
        return EXIT_ERROR
    except BaseException as exc:
        status = exit_status(exc)
        if status is None:
            raise
        code, message = status
        if code == EXIT_USAGE:
            usage_parser: argparse.ArgumentParser = getattr(args, "usage_parser", parser)
            usage_parser.print_usage(sys.stderr)
            print(f"{usage_parser.prog}: error: {message}", file=sys.stderr)
        elif code != EXIT_INTERRUPTED:
            print(f"swarmnet: error: {message}", file=sys.stderr)
        return code


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
