"""``swarmnet watch``: print network events from one engine or many as they come.

Each engine is followed on its own, resumed after a lost connection, and its events are
tagged with its name. With ``--json`` every event is one JSON object on one line of
stdout (snake_case fields, as :class:`swarmnet.NetworkEvent` dumps them); status lines
go to stderr so stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import AsyncExitStack
from typing import Any

import anyio

from swarmnet._core.engine import Engine
from swarmnet._core.errors import InvalidSpec
from swarmnet._events.models import NetworkEvent
from swarmnet._events.watcher import ResyncSettings, Watcher, WatcherSettings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``watch``."""
    parser = subparsers.add_parser(
        "watch",
        help="print network events as they come (one engine or many)",
        description=(
            "Print network events from one engine or many as they come; reconnects and "
            "resumes by itself. Ctrl-C stops."
        ),
    )
    parser.add_argument(
        "-e",
        "--engine",
        action="append",
        default=[],
        metavar="[NAME=]HOST",
        help=(
            "an engine to follow, unix:///path or tcp://host:port, optionally named "
            "(node1=unix:///…); repeatable (default: DOCKER_HOST, named by its hostname)"
        ),
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per event per line")
    parser.add_argument("--action", action="append", help="only these actions (repeatable)")
    parser.add_argument("--network", action="append", help="only these networks (name or id)")
    parser.add_argument("--driver", action="append", help="only these drivers (repeatable)")
    parser.add_argument("--scope", choices=["local", "swarm"], help="only this scope")
    parser.add_argument(
        "--existing",
        action="store_true",
        help="first print what exists now, as synthesized create/connect events",
    )
    parser.add_argument(
        "--count", type=int, default=0, help="exit after this many events (default: never)"
    )
    parser.set_defaults(handler=_watch)


def _parse_engine(text: str) -> tuple[str | None, str | None]:
    name, sep, url = text.partition("=")
    if sep and "://" not in name:
        if not name or not url:
            raise InvalidSpec(f"--engine {text!r}: expected NAME=HOST or HOST")
        return name, url
    return None, text


async def _open(stack: AsyncExitStack, name: str | None, url: str | None) -> Engine:
    if name is None:
        async with Engine(url) as probe:
            name = (await probe.info()).name or probe.url
    return await stack.enter_async_context(Engine(url, name=name))


def _line(event: NetworkEvent) -> str:
    container = f" container={event.container_id[:12]}" if event.container_id else ""
    marker = " (synthesized)" if event.synthesized else ""
    return (
        f"{event.time:%Y-%m-%dT%H:%M:%S.%f}Z {event.node} {event.scope} {event.action} "
        f"{event.name} id={event.network_id[:12]} driver={event.driver or '-'}{container}{marker}"
    )


async def _watch(args: argparse.Namespace) -> int:
    wanted = [_parse_engine(text) for text in args.engine] or [(None, None)]
    if args.count < 0:
        raise InvalidSpec("--count must be 0 (no limit) or more")
    async with AsyncExitStack() as stack:
        engines = [await _open(stack, name, url) for name, url in wanted]
        settings = WatcherSettings(resync=ResyncSettings(initial_events=args.existing))
        watcher = Watcher(*engines, settings=settings)
        enough = anyio.Event()
        printed = 0

        def show(event: NetworkEvent, **kwargs: Any) -> None:
            nonlocal printed
            if enough.is_set():
                return
            if args.json:
                print(json.dumps(event.model_dump(mode="json"), separators=(",", ":")))
            else:
                print(_line(event))
            sys.stdout.flush()
            printed += 1
            if args.count and printed >= args.count:
                enough.set()

        watcher.add(
            show,
            args.action,
            network=args.network,
            driver=args.driver,
            scope=args.scope,
            name="swarmnet watch",
        )
        async with watcher:
            names = ", ".join(engine.name for engine in engines)
            print(f"swarmnet: watching {names}", file=sys.stderr, flush=True)
            await enough.wait()
    return 0
