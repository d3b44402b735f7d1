"""``swarmnet service``: ls, inspect, ensure, rm, ps, network-add, network-rm, via a manager.

Specs are built from flags (or read whole from ``--spec FILE``, JSON with
:class:`swarmnet.ServiceSpec`'s fields) and validated, networks included, before
anything is written; a refusal is printed and the exit code is 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any

from pydantic_core import ErrorDetails

from swarmnet import InvalidSpec, ServiceDrift, ServiceNetwork, ServiceSpec
from swarmnet._cli._common import (
    Column,
    describe_invalid,
    engine_command,
    open_cli_engine,
    print_json,
    print_table,
)
from swarmnet._core.models import RefusedSpec
from swarmnet._services.specs import service_spec_from
from swarmnet.models import Progress, Service, Task


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``service`` and its subcommands."""
    service = subparsers.add_parser(
        "service",
        help="swarm services: ls, inspect, ensure, rm, ps, network-add, network-rm",
        description="Swarm services, through a manager (DOCKER_HOST, or --host).",
    )
    commands = service.add_subparsers(dest="service_command", metavar="COMMAND", required=True)
    command = functools.partial(
        engine_command, commands, json_what="swarmnet models (Service, Task, ServiceEnsureResult)"
    )

    ls = command("ls", "list services, with running/desired task counts")
    ls.add_argument("--name", help="only the service of exactly this name (default: all)")
    ls.add_argument(
        "--label",
        action="append",
        default=[],
        help="only services with this label, key or key=value (repeatable; default: any)",
    )
    ls.add_argument(
        "--mode",
        choices=["replicated", "global"],
        help="only services of this mode (default: both)",
    )
    ls.set_defaults(handler=_ls)

    inspect = command("inspect", "show one service")
    inspect.add_argument("service", help="name, id or id prefix")
    inspect.set_defaults(handler=_inspect)

    ensure = command("ensure", "create a service, or find it matching, or update it in place")
    ensure.add_argument("name", nargs="?", help="the service's name (or give --spec)")
    ensure.add_argument("image", nargs="?", help="the image its tasks run")
    ensure.add_argument(
        "args",
        nargs=argparse.REMAINDER,
        help="the task's command and its arguments: everything after IMAGE, dashes "
        "included, as with `docker service create` (so give options before NAME)",
    )
    ensure.add_argument(
        "--spec", type=Path, help="a JSON spec file, '-' for stdin (default: the flags below)"
    )
    ensure.add_argument(
        "--replicas", type=int, help="how many tasks (default: 1 on create, else unchanged)"
    )
    ensure.add_argument(
        "--global",
        dest="global_mode",
        action="store_true",
        help="one task on every node (default: replicated)",
    )
    ensure.add_argument(
        "--network",
        action="append",
        default=[],
        help="NAME[:ALIAS,…], repeatable (default: none, so ingress only when publishing)",
    )
    ensure.add_argument(
        "--endpoint-mode",
        choices=["vip", "dnsrr"],
        help="one virtual IP per network, or DNS round robin (default: vip)",
    )
    ensure.add_argument(
        "--publish",
        action="append",
        default=[],
        help="[PUBLISHED:]TARGET[/PROTOCOL], repeatable (default: nothing published)",
    )
    ensure.add_argument(
        "--publish-mode",
        choices=["ingress", "host"],
        default="ingress",
        help="through the routing mesh, or on each task's own node (default: ingress)",
    )
    ensure.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE, repeatable (default: none)"
    )
    ensure.add_argument(
        "--label", action="append", default=[], help="KEY=VALUE, repeatable (default: none)"
    )
    ensure.add_argument(
        "--constraint",
        action="append",
        default=[],
        help="KEY==VALUE or KEY!=VALUE, repeatable (default: any node)",
    )
    ensure.add_argument(
        "--stop-grace-period",
        type=float,
        metavar="SECONDS",
        help="seconds a stopping task gets before it is killed (default: the engine's, 10)",
    )
    ensure.add_argument(
        "--on-drift",
        choices=[d.value for d in ServiceDrift],
        default=ServiceDrift.RAISE.value,
        help="when the existing service differs: raise (exit 1), leave it, or update it "
        "(default: raise)",
    )
    ensure.add_argument(
        "--wait", action="store_true", help="wait until every task runs (default: do not wait)"
    )
    ensure.set_defaults(handler=_ensure)

    rm = command("rm", "remove services", json_what='{"removed": [names as given]}')
    rm.add_argument("services", nargs="+", help="names or ids")
    rm.set_defaults(handler=_rm)

    ps = command("ps", "a service's tasks: slot, node, state, addresses, errors")
    ps.add_argument("service", help="name or id")
    ps.add_argument(
        "--all",
        action="store_true",
        help="also tasks swarm no longer runs (default: only current ones)",
    )
    ps.set_defaults(handler=_ps)

    for name, verb in (("network-add", "attach to"), ("network-rm", "detach from")):
        sub = command(name, f"{verb} a network, and wait for the rolling update")
        sub.add_argument("service", help="name or id")
        sub.add_argument("network", help="name or id")
        if name == "network-add":
            sub.add_argument(
                "--alias", action="append", default=[], help="DNS alias, repeatable (default: none)"
            )
        sub.add_argument(
            "--no-wait",
            action="store_true",
            help="return once the update is sent (default: wait until it converged)",
        )
        sub.set_defaults(handler=_network_add if name == "network-add" else _network_rm)


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep:
            raise InvalidSpec(f"{what} {value!r}: write KEY=VALUE")
        pairs[key] = text
    return pairs


def _port(text: str, mode: str) -> dict[str, Any]:
    spec, _, protocol = text.partition("/")
    published, _, target = spec.rpartition(":")
    try:
        port: dict[str, Any] = {"target": int(target), "mode": mode}
        if published:
            port["published"] = int(published)
    except ValueError:
        raise InvalidSpec(f"--publish {text!r}: write [PUBLISHED:]TARGET[/PROTOCOL]") from None
    if protocol:
        port["protocol"] = protocol
    return port


def _spec(args: argparse.Namespace) -> ServiceSpec:
    if args.spec is not None:
        try:
            text = sys.stdin.read() if str(args.spec) == "-" else args.spec.read_text()
            return service_spec_from(json.loads(text))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidSpec(f"cannot read --spec {args.spec}: {exc}") from exc
    if not args.name or not args.image:
        raise InvalidSpec("give the service's name and image, or --spec FILE")
    networks = []
    for value in args.network:
        target, _, aliases = value.partition(":")
        networks.append(
            ServiceNetwork(target=target, aliases=tuple(filter(None, aliases.split(","))))
        )
    data: dict[str, Any] = {"name": args.name, "image": args.image}
    optional: dict[str, Any] = {
        "args": tuple(args.args) or None,
        "replicas": args.replicas,
        "mode": "global" if args.global_mode else None,
        "networks": tuple(networks) or None,
        "endpoint_mode": args.endpoint_mode,
        "ports": tuple(_port(p, args.publish_mode) for p in args.publish) or None,
        "env": _pairs(args.env, "--env") or None,
        "labels": _pairs(args.label, "--label") or None,
        "constraints": tuple(args.constraint) or None,
        "stop_grace_period": args.stop_grace_period,
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    try:
        return service_spec_from(data)
    except RefusedSpec as exc:
        raise InvalidSpec(_refusal(exc.errors)) from None


#: The flag of each ServiceSpec field the flags fill (``mode`` is left out: the word is
#: also a published port's mode, ``--publish-mode``).
SPEC_FLAGS: dict[str, str] = {
    "name": "NAME",
    "image": "IMAGE",
    "args": "COMMAND",
    "replicas": "--replicas",
    "networks": "--network",
    "endpoint_mode": "--endpoint-mode",
    "ports": "--publish",
    "env": "--env",
    "labels": "--label",
    "constraints": "--constraint",
    "stop_grace_period": "--stop-grace-period",
}


def _refusal(errors: list[ErrorDetails]) -> str:
    """A refused spec in the flags' words (a model-wide check names its field first)."""
    worded: list[ErrorDetails] = []
    for error in errors:
        error = error.copy()
        message = str(error["msg"]).removeprefix("Value error, ")
        field, colon, rest = message.partition(": ")
        if not error["loc"] and colon and field in SPEC_FLAGS:
            error["loc"], message = (field,), rest
        error["msg"] = message.replace("with mode='host'", "with --publish-mode host")
        worded.append(error)
    return describe_invalid(worded, SPEC_FLAGS)


def _print_progress(progress: Progress) -> None:
    print(f"{progress.service}: {progress}", file=sys.stderr)


#: ``service ls``: the columns, in the order of :class:`swarmnet.models.Service`'s fields.
LS_COLUMNS: tuple[Column[Service], ...] = (
    Column("id", lambda s: s.id[:12]),
    Column("name", lambda s: s.name),
    Column("image", lambda s: s.image),
    Column("mode", lambda s: s.mode),
    Column("endpoint_mode", lambda s: s.endpoint_mode),
    Column("running_tasks", lambda s: str(s.running_tasks)),
    Column("desired_tasks", lambda s: str(s.desired_tasks)),
)

#: ``service ps``: the columns, in the order of :class:`swarmnet.models.Task`'s fields.
PS_COLUMNS: tuple[Column[Task], ...] = (
    Column("id", lambda t: t.id[:12]),
    Column("node_id", lambda t: t.node_id[:12]),
    Column("slot", lambda t: "" if t.slot is None else str(t.slot)),
    Column("state", lambda t: t.state.value),
    Column("desired_state", lambda t: t.desired_state.value),
    Column("error", lambda t: t.error),
    Column(
        "networks",
        lambda t: " ".join(
            f"{n.network_name}={'/'.join(str(a) for a in n.addresses)}" for n in t.networks
        ),
    ),
)


async def _ls(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        services = await engine.services.list(
            name=args.name, labels=args.label or None, mode=args.mode, status=True
        )
    if args.json:
        print_json(services)
        return 0
    print_table(LS_COLUMNS, services)
    return 0


async def _inspect(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        service = await engine.services.get(args.service)
        names = {n.id: n.name for n in await engine.networks.list()}
    if args.json:
        print_json(service)
        return 0
    replicas = "" if service.replicas is None else f" x{service.replicas}"
    print(f"{service.name}  {service.id}  (version {service.version})")
    print(f"  image {service.image}, {service.mode}{replicas}, endpoint {service.endpoint_mode}")
    for network in service.networks:
        vip = service.virtual_ip(network.target)
        aliases = f" aliases {','.join(network.aliases)}" if network.aliases else ""
        print(f"  network {names.get(network.target, network.target)}{aliases} vip {vip or '-'}")
    for port in service.ports:
        print(f"  port {port.published or '-'}:{port.target}/{port.protocol} ({port.mode})")
    for key, value in sorted(service.labels.items()):
        print(f"  label {key}={value}")
    if service.update_status is not None:
        status = service.update_status
        print(f"  update {status.state.value}: {status.message}")
    return 0


async def _ensure(args: argparse.Namespace) -> int:
    spec = _spec(args)
    async with open_cli_engine(args) as engine:
        result = await engine.services.ensure(spec, on_drift=ServiceDrift(args.on_drift))
        service = result.service
        if args.wait:
            service = await engine.services.wait_converged(service.id, on_progress=_print_progress)
    if args.json:
        print_json(result.model_copy(update={"service": service}))
        return 0
    print(f"{service.name}: {result.outcome.value} ({service.id[:12]})")
    for change in result.diff.changes:
        print(f"  {change}")
    return 0


async def _rm(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        for name in args.services:
            await engine.services.remove(name)
            if not args.json:
                print(name)
    if args.json:
        print_json({"removed": list(args.services)})
    return 0


async def _ps(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        tasks = await engine.services.tasks(
            args.service, desired_state=None if args.all else "running"
        )
    if args.json:
        print_json(tasks)
        return 0
    print_table(PS_COLUMNS, tasks)
    return 0


async def _network_add(args: argparse.Namespace) -> int:
    network = ServiceNetwork(target=args.network, aliases=tuple(args.alias))
    async with open_cli_engine(args) as engine:
        service = await engine.services.add_network(
            args.service, network, wait=not args.no_wait, on_progress=_print_progress
        )
    return _print_service(args, service)


async def _network_rm(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        service = await engine.services.remove_network(
            args.service, args.network, wait=not args.no_wait, on_progress=_print_progress
        )
    return _print_service(args, service)


def _print_service(args: argparse.Namespace, service: Service) -> int:
    if args.json:
        print_json(service)
    else:
        print(f"{service.name}: {len(service.networks)} network(s)")
    return 0
