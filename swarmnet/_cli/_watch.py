"""``swarmnet watch``: print network events from one engine or many as they come.

Each engine is followed on its own, resumed after a lost connection, and its events are
tagged with its name. With ``--json`` every event is one JSON object on one line of
stdout (snake_case fields, as :class:`swarmnet.NetworkEvent` dumps them); a text line
shows the same fields in the same order. Status lines go to stderr so that stdout stays
machine-readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

from swarmnet import InvalidSpec, NetworkEvent, ResyncSettings, Watcher, WatcherSettings
from swarmnet._cli._common import JSON_NAMING, add_engine_options, open_cli_engines, to_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``watch``."""
    parser = subparsers.add_parser(
        "watch",
        help="print network events as they come (one engine or many)",
        description="Print network events from one engine or many as they come; each "
        "engine is named by NAME= from -H, its lab node name, or else its hostname. "
        "Reconnects and resumes by itself; Ctrl-C stops. " + JSON_NAMING,
    )
    add_engine_options(parser, many=True, old_names=("-e", "--engine"))
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each event as one swarmnet.NetworkEvent JSON object per line, "
        "snake_case keys as the library names them (default: text, the same fields in "
        "the same order)",
    )
    parser.add_argument(
        "--action",
        action="append",
        help="only this action: create, connect, disconnect, destroy, remove, … "
        "(repeatable; default: every action)",
    )
    parser.add_argument(
        "--network",
        action="append",
        help="only this network, by name or id (repeatable; default: every network)",
    )
    parser.add_argument(
        "--driver", action="append", help="only this driver (repeatable; default: every driver)"
    )
    parser.add_argument(
        "--scope", choices=["local", "swarm"], help="only this scope (default: both)"
    )
    parser.add_argument(
        "--existing",
        action="store_true",
        help="first print what exists now, as synthesized create/connect events "
        "(default: only new events)",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=0,
        metavar="N",
        help="exit after N events (default: 0, never)",
    )
    parser.set_defaults(handler=_watch)


def _line(event: NetworkEvent) -> str:
    """The event's fields in the order of its JSON (time first, as ``time_nano`` reads)."""
    data = to_json(event)
    parts = [f"{event.time:%Y-%m-%dT%H:%M:%S.%f}Z"]
    # type is always "network"; actor_id and attributes repeat network_id, name, driver.
    for key in ("action", "scope", "node", "synthesized", "network_id", "name", "driver"):
        value = data[key]
        if key == "synthesized":
            if value:
                parts.append("synthesized=true")
            continue
        parts.append(f"{key}={(value[:12] if key == 'network_id' else value) or '-'}")
    if event.container_id:
        parts.append(f"container_id={event.container_id[:12]}")
    return " ".join(parts)


async def _watch(args: argparse.Namespace) -> int:
    if args.count < 0:
        raise InvalidSpec("--count must be 0 (no limit) or more")
    async with open_cli_engines(args, hostnames=True) as engines:
        settings = WatcherSettings(resync=ResyncSettings(initial_events=args.existing))
        watcher = Watcher(*engines, settings=settings)
        enough = anyio.Event()
        printed = 0

        def show(event: NetworkEvent, **kwargs: Any) -> None:
            nonlocal printed
            if enough.is_set():
                return
            if args.json:
                print(json.dumps(to_json(event), separators=(",", ":")))
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
