"""``swarmnet watch``: print network (container, service, node) events from one engine
or many as they come.

Each engine is followed on its own, resumed after a lost connection, and its events are
tagged with its name. With ``--json`` every event is one JSON object on one line of
stdout (snake_case fields, as :class:`swarmnet.models.NetworkEvent` and the other typed events
dump them); a text line shows the same fields in the same order. Status lines go to
stderr so that stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

from swarmnet import InvalidSpec, ResyncSettings, Watcher, WatcherSettings
from swarmnet._cli._common import JSON_NAMING, add_engine_options, open_cli_engines, to_json
from swarmnet.models import (
    ContainerAction,
    ContainerEvent,
    Event,
    NetworkAction,
    NetworkEvent,
    NodeAction,
    NodeEvent,
    ServiceAction,
    ServiceEvent,
)

#: The types ``--type`` takes, in the order they print, and the actions of each.
TYPES: dict[str, frozenset[str]] = {
    "network": frozenset(a.value for a in NetworkAction),
    "container": frozenset(a.value for a in ContainerAction),
    "service": frozenset(a.value for a in ServiceAction),
    "node": frozenset(a.value for a in NodeAction),
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``watch``."""
    parser = subparsers.add_parser(
        "watch",
        help="print network, container, service or node events as they come",
        description="Print network events (or, with --type, container, service and node "
        "events) from one engine or many as they come; each "
        "engine is named by NAME= from -H, its lab node name, or else its hostname. "
        "Reconnects and resumes by itself; Ctrl-C stops. " + JSON_NAMING,
    )
    add_engine_options(parser, many=True, old_names=("-e", "--engine"))
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each event as one JSON object per line (swarmnet.models.NetworkEvent, "
        "swarmnet.models.ContainerEvent, ServiceEvent, NodeEvent), "
        "snake_case keys as the library names them (default: text, the same fields in "
        "the same order)",
    )
    parser.add_argument(
        "--type",
        action="append",
        metavar="TYPES",
        help="the event types to print, comma-separated: network, container, service, "
        "node (repeatable; default: network). Service and node events come from managers, "
        "once each however many report them",
    )
    parser.add_argument(
        "--action",
        action="append",
        help="only this action: create, connect, disconnect, destroy, remove, start, "
        "die, health_status, update, … (repeatable; default: every action)",
    )
    parser.add_argument(
        "--network",
        action="append",
        help="only this network, by name or id (repeatable; default: every network; "
        "network events only)",
    )
    parser.add_argument(
        "--driver",
        action="append",
        help="only this driver (repeatable; default: every driver; network events only)",
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


def _types(values: list[str] | None) -> list[str]:
    """The ``--type`` values, split on commas, checked, in TYPES order."""
    wanted = {part.strip() for value in values or ["network"] for part in value.split(",")}
    unknown = wanted - TYPES.keys()
    if unknown or not wanted:
        raise InvalidSpec(
            f"--type: {', '.join(sorted(unknown)) or 'nothing'} is not one of {', '.join(TYPES)}"
        )
    return [kind for kind in TYPES if kind in wanted]


def _line(event: Event) -> str:
    """The event's fields in the order of its JSON (time first, as ``time_nano`` reads)."""
    if not isinstance(event, NetworkEvent):
        return _other_line(event)
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


def _other_line(event: Event) -> str:
    """A container, service or node event: its type first (the stream mixes them)."""
    parts = [f"{event.time:%Y-%m-%dT%H:%M:%S.%f}Z", f"type={event.type}"]
    parts.append(f"action={event.action}")
    if isinstance(event, ContainerEvent) and event.detail:
        parts.append(f"detail={event.detail!r}")
    parts += [f"scope={event.scope or '-'}", f"node={event.node}"]
    if event.synthesized:
        parts.append("synthesized=true")
    parts.append(f"id={event.actor_id[:12]}")
    parts.append(f"name={event.attributes.get('name') or '-'}")
    if isinstance(event, ContainerEvent):
        for key, value in (
            ("exit_code", event.exit_code),
            ("signal", event.signal),
            ("old_name", event.old_name),
        ):
            if value is not None:
                parts.append(f"{key}={value}")
    elif isinstance(event, (ServiceEvent, NodeEvent)):
        parts += [f"{key}={old or '-'}->{new}" for key, (old, new) in event.changes.items()]
    return " ".join(parts)


async def _watch(args: argparse.Namespace) -> int:
    if args.count < 0:
        raise InvalidSpec("--count must be 0 (no limit) or more")
    types = _types(args.type)
    actions = set(args.action or ())
    known = frozenset().union(*(TYPES[kind] for kind in types))
    if actions - known:
        raise InvalidSpec(
            f"--action: {', '.join(sorted(actions - known))} is no action of "
            f"{', '.join(types)} events"
        )
    if (args.network or args.driver) and "network" not in types:
        raise InvalidSpec("--network and --driver filter network events: add --type network")
    async with open_cli_engines(args, hostnames=True) as engines:
        settings = WatcherSettings(resync=ResyncSettings(initial_events=args.existing))
        watcher = Watcher(*engines, settings=settings)
        enough = anyio.Event()
        printed = 0

        def show(event: Event, **kwargs: Any) -> None:
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

        # Network events take their own filters; the others share one handler. Each
        # handler gets the --action values of its types (none of them: no handler).
        groups = [["network"]] if "network" in types else []
        if [kind for kind in types if kind != "network"]:
            groups.append([kind for kind in types if kind != "network"])
        for group in groups:
            mine = sorted(a for a in actions if any(a in TYPES[kind] for kind in group))
            if actions and not mine:
                continue
            network = group == ["network"]
            watcher.add(
                show,
                mine or None,
                type=group,
                network=args.network if network else None,
                driver=args.driver if network else None,
                scope=args.scope,
                name=f"swarmnet watch {','.join(group)}",
            )
        async with watcher:
            names = ", ".join(engine.name for engine in engines)
            print(f"swarmnet: watching {names}", file=sys.stderr, flush=True)
            await enough.wait()
    return 0
