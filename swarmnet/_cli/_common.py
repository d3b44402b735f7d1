"""What every subcommand shares: how engines are chosen, JSON and tables, and errors.

Engines, the same way in every command (docker-style)::

    -H/--host [NAME=]HOST   unix:///path, tcp://host:port or ssh://…; default $DOCKER_HOST,
                            else unix:///var/run/docker.sock; repeatable where a command
                            takes several engines; NAME labels the engine in output
    --lab NAME [--node N]   the engines of a running ``swarmnet lab``: every node, or node N

A command adds them with :func:`add_engine_options` and opens them with
:func:`open_cli_engines` (or :func:`open_cli_engine` for one)::

    add_engine_options(parser, many=True)
    ...
    async with open_cli_engines(args) as engines:
        ...

Output: ``--json`` prints swarmnet's models as the library returns them (snake_case
field names, in the model's order); a table shows some of those fields, in the same
order, headed by the same names in capitals (:func:`print_table`).

Errors: :func:`exit_status` is the one place that turns an exception into the message
printed and the exit code (1 for errors, 2 for usage, 130 for Ctrl-C). Messages are put in
the command line's words: a flag instead of a Python keyword argument
(:func:`cli_words`), an option instead of a model field (:func:`describe_invalid`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from swarmnet import Engine, InvalidSpec, SwarmnetError, open_engines
from swarmnet.lab import Lab, LabError, LabNode

#: Exit code of a command that ran and failed.
EXIT_ERROR = 1
#: Exit code of a command line that cannot be run as given (argparse uses it too).
EXIT_USAGE = 2
#: Exit code of a command that ran and found problems (doctor's findings, say).
EXIT_FOUND = 3
#: Exit code after Ctrl-C, as shells report SIGINT.
EXIT_INTERRUPTED = 130

#: How every ``--json`` names things; commands put it in their ``--help``.
JSON_NAMING = (
    "--json prints swarmnet's own models: snake_case field names, in the order the "
    "library returns them; tables show some of those fields in the same order, headed "
    "by the same names in capitals."
)

#: The help of ``-H/--host``.
HOST_HELP = (
    "the engine: unix:///path, tcp://host:port or ssh://user@host, optionally named "
    "NAME=HOST (default: $DOCKER_HOST, else unix:///var/run/docker.sock)"
)


class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2, like argparse's errors)."""


# -- engines -------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineChoice:
    """One engine picked on the command line, not opened yet.

    Attributes:
        url: its address; ``None`` means ``$DOCKER_HOST`` or the default socket.
        name: the label given with ``NAME=HOST`` or the lab node's name, else ``None``.
        engine: an unopened engine already made for it (lab nodes make their own).
    """

    url: str | None
    name: str | None = None
    engine: Engine | None = None


def add_engine_options(
    parser: argparse.ArgumentParser, *, many: bool = False, old_names: Sequence[str] = ()
) -> None:
    """Add ``-H/--host``, ``--lab`` and ``--node`` to a command that talks to engines.

    Args:
        parser: the command's parser.
        many: the command works on several engines at once: ``-H`` may be repeated and
            ``--lab`` alone means every node. Otherwise one engine: ``--lab`` alone
            means the lab's first node.
        old_names: earlier spellings of ``-H`` this command still accepts from old
            scripts; they are left out of ``--help``.

    The parsed values are ``args.host`` (a list), ``args.lab`` and ``args.node``; read
    them with :func:`engine_choices` or :func:`open_cli_engines`, not by hand.
    """
    group = parser.add_argument_group(
        "engine",
        "Which engine(s) to talk to: -H, or --lab; -H and --lab are mutually exclusive.",
    )
    which = group.add_mutually_exclusive_group()
    which.add_argument(
        "-H",
        "--host",
        action="append",
        default=[],
        metavar="[NAME=]HOST",
        help=HOST_HELP + ("; repeat for more engines" if many else ""),
    )
    if old_names:
        which.add_argument(*old_names, action="append", dest="host", help=argparse.SUPPRESS)
    which.add_argument(
        "--lab",
        metavar="NAME",
        help=(
            "the engines of the running swarmnet lab NAME: every node"
            if many
            else "an engine of the running swarmnet lab NAME: node1"
        )
        + " unless --node (default: no lab; -H or $DOCKER_HOST instead)",
    )
    group.add_argument(
        "--node",
        metavar="N",
        help="with --lab: only this node, by number or name (2 or node2; default: "
        + ("every node)" if many else "node1)"),
    )
    parser.set_defaults(engine_many=many, usage_parser=parser)


def engine_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    *,
    many: bool = False,
    json_what: str | None = None,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add a subcommand that talks to engines: :func:`add_engine_options`, and ``--json``
    (printing ``json_what``) unless ``json_what`` is ``None``."""
    sentence = f"{help_text[:1].upper()}{help_text[1:]}."
    parser = commands.add_parser(name, help=help_text, description=description or sentence)
    add_engine_options(parser, many=many)
    if json_what is not None:
        add_json_option(parser, json_what)
    return parser


def parse_host(text: str) -> EngineChoice:
    """``HOST`` or ``NAME=HOST`` as given to ``-H``.

    Raises:
        UsageError: ``NAME=`` with no host, or ``=HOST`` with no name.
    """
    name, sep, url = text.partition("=")
    # An address may hold "=" itself (ssh://…?x=y): only a prefix without "://" is a name.
    if not sep or "://" in name:
        name, url = "", text
    elif not name or not url:
        raise UsageError(f"-H {text!r}: expected HOST or NAME=HOST")
    if not url:
        raise UsageError("-H needs an address: unix:///path, tcp://host:port or ssh://…")
    problem = address_problem(url)
    if problem:
        raise UsageError(f"-H {text!r}: {problem}")
    return EngineChoice(url=url, name=name or None)


#: The schemes an engine address may have (a bare /path or host:port is read as docker does).
SCHEMES = ("unix", "tcp", "http", "https", "ssh", "npipe")


def address_problem(address: str) -> str:
    """What is wrong with an engine address, or ``""`` when nothing is."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        return ""
    if scheme not in SCHEMES:
        return f"unknown scheme {scheme!r}; use unix:///path, tcp://host:port or ssh://user@host"
    if not rest.strip("/"):
        return "the address is empty after the scheme"
    return ""


def engine_choices(args: argparse.Namespace, *, timeout: float | None = 60.0) -> list[EngineChoice]:
    """The engines the command line names, in order, without opening them.

    Raises:
        UsageError: ``--node`` without ``--lab``, ``-H`` repeated where one engine is
            taken, or a malformed ``-H``.
        LabError: no lab of that name on this host, or it has no such node.
    """
    hosts: list[str] = args.host
    many: bool = args.engine_many
    if args.node is not None and args.lab is None:
        raise UsageError("--node picks a node of a lab: give --lab NAME too")
    if len(hosts) > 1 and not many:
        raise UsageError(f"this command talks to one engine; -H was given {len(hosts)} times")
    if args.lab is None:
        choices = [parse_host(text) for text in hosts]
        labels = [choice.name or choice.url or "" for choice in choices]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise UsageError(f"-H {', '.join(twice)} given twice")
        if not choices:
            # Checked here, not left to the connection: aiodocker fails on a bad
            # scheme with a bare ValueError.
            problem = address_problem(os.environ.get("DOCKER_HOST", ""))
            if problem:
                raise InvalidSpec(f"$DOCKER_HOST: {problem}")
        return choices or [EngineChoice(url=None)]
    lab = Lab.existing(args.lab)
    nodes = list(lab.nodes)
    if args.node is not None:
        nodes = [_lab_node(lab, args.node)]
    elif not many:
        nodes = nodes[:1]
    return [
        EngineChoice(url=node.docker_host, name=node.name, engine=node.engine(timeout=timeout))
        for node in nodes
    ]


def _lab_node(lab: Lab, which: str) -> LabNode:
    try:
        return lab.node(int(which) if which.isdigit() else which)
    except KeyError:
        names = ", ".join(node.name for node in lab.nodes)
        raise LabError(f"lab {lab.name} has no node {which!r}; it has {names}") from None


@asynccontextmanager
async def open_cli_engines(
    args: argparse.Namespace, *, timeout: float | None = 60.0, hostnames: bool = False
) -> AsyncIterator[list[Engine]]:
    """Open the engines the command line names (concurrently); close them all on exit.

    Args:
        args: parsed arguments of a command given :func:`add_engine_options`.
        timeout: seconds allowed for each request (``None``: no limit).
        hostnames: name each engine that got no ``NAME=`` by its hostname (as the
            engine reports it) rather than by its address.

    Raises:
        UsageError, LabError: as :func:`engine_choices`.
        EngineUnreachable: an engine could not be reached (the others are closed).
    """
    choices = engine_choices(args, timeout=timeout)
    if hostnames:
        choices = [await _named_by_hostname(choice, timeout) for choice in choices]
    engines = [
        choice.engine or Engine(choice.url, name=choice.name, timeout=timeout) for choice in choices
    ]
    async with open_engines(engines) as opened:
        yield opened


async def _named_by_hostname(choice: EngineChoice, timeout: float | None) -> EngineChoice:
    if choice.name is not None:
        return choice
    async with Engine(choice.url, timeout=timeout) as probe:
        name = (await probe.info()).name or probe.url
    return EngineChoice(url=choice.url, name=name)


@asynccontextmanager
async def open_cli_engine(
    args: argparse.Namespace, *, timeout: float | None = 60.0
) -> AsyncIterator[Engine]:
    """:func:`open_cli_engines` for a command that talks to one engine."""
    async with open_cli_engines(args, timeout=timeout) as engines:
        yield engines[0]


# -- output --------------------------------------------------------------------------


def add_json_option(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    """Add ``--json`` (``args.json``): print ``what`` as JSON instead of text."""
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"print JSON instead of text: {what}, keys in snake_case as the library "
        "names them (default: text)",
    )


def to_json(value: BaseModel | Sequence[BaseModel] | Mapping[str, Any]) -> Any:
    """A model, a list of models, or a plain mapping, as JSON-ready data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {
            key: to_json(item) if isinstance(item, BaseModel) else item
            for key, item in value.items()
        }
    return [item.model_dump(mode="json") for item in value]


def print_json(value: BaseModel | Sequence[BaseModel] | Mapping[str, Any]) -> None:
    """Print a model, a list of them, or a plain mapping as indented JSON."""
    print(json.dumps(to_json(value), indent=2))


RowT = TypeVar("RowT")


@dataclass(frozen=True)
class Column(Generic[RowT]):
    """One column of a table: the JSON key it shows and how to show it.

    Attributes:
        key: the model field (as in ``--json``); the header is this in capitals.
        text: the cell's text for one row.
    """

    key: str
    text: Callable[[RowT], str]


def print_table(columns: Sequence[Column[RowT]], rows: Iterable[RowT]) -> None:
    """Print rows under headers named for their JSON keys, columns sized to fit."""
    table = [[column.key.upper() for column in columns]]
    table += [[column.text(row) or "-" for column in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


# -- errors --------------------------------------------------------------------------

# The library's messages advise Python callers; the command line says the same with its
# own flags and subcommands. Longest phrases first: later ones are parts of earlier ones.
_CLI_WORDS: tuple[tuple[str, str], ...] = (
    (
        "pass on_drift=ServiceDrift.UPDATE to update it in place, or ServiceDrift.LEAVE to keep it",
        "add --on-drift update to update it in place, or --on-drift leave to keep it",
    ),
    (
        "pass on_drift=Drift.RECREATE to replace it, or Drift.LEAVE to keep it",
        "add --on-drift recreate to replace it, or --on-drift leave to keep it",
    ),
    ("remove with force=True", "remove it with -f/--force"),
    ("pass force=True to leave anyway", "add --force to leave anyway"),
    (
        "join again (recover=True) or leave(force=True)",
        "join again, or `swarmnet swarm leave --force`",
    ),
    (
        "call leave(force=True) first, or pass recover=True",
        "run `swarmnet swarm leave --force` first",
    ),
    ("engine.swarm.leave(force=True)", "`swarmnet swarm leave --force`"),
    ("leave(force=True)", "`swarmnet swarm leave --force`"),
    ("engine.swarm.unlock(key)", "`docker swarm unlock`"),
    ("join_tokens() on a manager", "`swarmnet swarm tokens` on a manager"),
    ("or pass force=True", "or add --force"),
    ("(ensure() resolves duplicates)", "(`swarmnet net ensure` resolves duplicates)"),
    ("`engine.nodes.list()`", "`docker node ls`"),
    ("engine.nodes.list()", "`docker node ls`"),
    (
        "`engine.swarm.join_tokens()` or `docker swarm join-token`",
        "`swarmnet swarm tokens --reveal`",
    ),
    ("`engine.swarm.unlock_key()`", "`swarmnet swarm tokens --unlock-key --reveal`"),
    ("`await lab.up()` or ", ""),
    ("; use ensure() to accept it", "; use `swarmnet net ensure` to accept it"),
    (
        "create it on a manager, attachable=True)",
        "create it on a manager with -d overlay --attachable)",
    ),
    ("tls=True or a swarmnet.TLSConfig, an https:// address", "an https:// address"),
    ("(unset DOCKER_TLS_VERIFY, tls=False)", "(unset DOCKER_TLS_VERIFY)"),
)


def cli_words(message: str) -> str:
    """``message`` with Python advice (``force=True``, ``on_drift=…``) in CLI words."""
    for python, cli in _CLI_WORDS:
        message = message.replace(python, cli)
    return message


def option_name(field: str, options: Mapping[str, str]) -> str:
    """The command-line option for a model field: ``options`` first, else ``--field-name``."""
    return options.get(field) or "--" + field.replace("_", "-")


def _flag_words(message: str, options: Mapping[str, str]) -> str:
    """A spec's own words in a message (``scope='swarm'``, ``drop replicas``) as flags."""

    def flag(word: str) -> str:
        return option_name(word, options) if word in options else word

    # An option that a field sets: name the flag, not the field.
    message = re.sub(
        r"the field '(\w+)'; use that field",
        lambda m: f"{option_name(m[1], options)}; use that flag",
        message,
    )
    # field='value' (or --field='value' once renamed above) reads as the flag and value.
    message = re.sub(
        r"(--[\w-]+|\b\w+)='([^']*)'",
        lambda m: (
            f"{m[1] if m[1].startswith('-') else flag(m[1])} {m[2]}"
            if m[1].startswith("-") or m[1] in options
            else m[0]
        ),
        message,
    )
    # Fields to leave out or drop, listed by name.
    message = re.sub(
        r"\b(leave out|drop) (\w+(?:, \w+)*)",
        lambda m: f"{m[1]} {', '.join(flag(w) for w in m[2].split(', '))}",
        message,
    )
    # A model-wide check names its field first ("attachable needs …").
    message = re.sub(r"^(\w+) (?=needs )", lambda m: f"{flag(m[1])} ", message)
    return message.replace("the ConfigOnlySpec", "the config-only network (-d null)")


def describe_invalid(
    exc: ValidationError | Iterable[ErrorDetails],
    options: Mapping[str, str] | None = None,
    *,
    skip: int = 0,
) -> str:
    """A pydantic error as the command line would say it: ``option: problem; …``.

    Args:
        exc: the error, or some of its ``errors()``.
        options: field name → option (``{"pools": "--subnet"}``); other fields become
            ``--field-name``, and fields named in a message's text become their option.
            ``None`` keeps the field path as is (input read from a file).
        skip: leading parts of each location to drop (a union's tag, say).

    No links to pydantic's site, no input echoed (it may hold a secret).
    """
    errors = (
        exc.errors(include_url=False, include_input=False)
        if isinstance(exc, ValidationError)
        else exc
    )
    lines = []
    for error in errors:
        loc = [str(part) for part in error["loc"]][skip:]
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        fields = [part for part in loc if not part.isdigit()]
        if options is not None:
            # Model-wide checks name fields in their text ("set enable_ipv6").
            for field, option in options.items():
                if "_" in field:
                    message = re.sub(rf"\b{field}\b", option, message)
            message = _flag_words(message, options)
        if not fields:
            lines.append(message)
        elif options is None:
            lines.append(f"{'.'.join(loc)}: {message}")
        else:
            # A nested field (pools.0.gateway) has an option of its own (--gateway).
            field = fields[-1] if fields[-1] in options else fields[0]
            lines.append(f"{option_name(field, options)}: {message}")
    return "; ".join(lines)


def exit_status(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and the message (without ``swarmnet: error:``) for an exception.

    Usage errors give 2, Ctrl-C 130, swarmnet's errors and invalid input 1. ``None`` for
    anything else: a bug, which the caller lets raise with its traceback.
    """
    if isinstance(exc, UsageError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted"
    if isinstance(exc, ValidationError):
        return EXIT_ERROR, f"invalid input: {describe_invalid(exc)}"
    if isinstance(exc, SwarmnetError):
        return EXIT_ERROR, cli_words(str(exc))
    return None
