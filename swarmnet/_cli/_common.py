"""What the subcommands share: the ``-H/--host`` and ``--json`` options, and JSON output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from pydantic import BaseModel


def add_json_option(parser: argparse.ArgumentParser, help_text: str = "print JSON") -> None:
    """Add ``--json`` (``args.json``): print the result as JSON instead of text."""
    parser.add_argument("--json", action="store_true", help=help_text)


def engine_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    *,
    json_help: str | None = None,
) -> argparse.ArgumentParser:
    """Add a subcommand that talks to one engine, given by ``-H/--host`` (``args.host``).

    With ``json_help`` it takes ``--json`` too.
    """
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.add_argument(
        "-H",
        "--host",
        default=None,
        help="the engine: unix:///path or tcp://host:port (default: DOCKER_HOST)",
    )
    if json_help is not None:
        add_json_option(parser, json_help)
    return parser


def print_json(value: BaseModel | Sequence[BaseModel]) -> None:
    """Print a model, or a list of them, as indented JSON (snake_case field names)."""
    if isinstance(value, BaseModel):
        print(value.model_dump_json(indent=2))
    else:
        print(json.dumps([item.model_dump(mode="json") for item in value], indent=2))
