"""``swarmnet net``: networks on one engine: ls, inspect, create, ensure, rm, connect, disconnect.

Specs are built from flags (or read whole from ``--spec FILE``, JSON with a ``driver``
key) and validated before anything is sent; a refusal names the flags at fault and the
exit code is 1.

Without ``-d/--driver`` a network is a bridge, as with ``docker network create``; no
other flag changes that (``--attachable`` fits overlay, macvlan and ipvlan alike, so it
cannot pick one). A flag the defaulted bridge cannot take is refused with a message that
says the driver was defaulted and which drivers take the flag.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from swarmnet import (
    BridgeSpec,
    ConfigOnlySpec,
    Drift,
    EnsureResult,
    InvalidSpec,
    IpvlanSpec,
    MacvlanSpec,
    Network,
    OverlaySpec,
    network_spec_from,
)
from swarmnet._cli._common import (
    JSON_NAMING,
    Column,
    describe_invalid,
    engine_command,
    open_cli_engine,
    option_name,
    print_json,
    print_table,
)
from swarmnet._core.models import RefusedSpec
from swarmnet.models import Endpoint

#: Any network spec ``network_spec_from`` returns.
AnyNetworkSpec = OverlaySpec | BridgeSpec | MacvlanSpec | IpvlanSpec | ConfigOnlySpec

#: Each driver's spec class, in the order ``--driver`` lists them.
_SPECS: dict[str, type[BaseModel]] = {
    "bridge": BridgeSpec,
    "overlay": OverlaySpec,
    "macvlan": MacvlanSpec,
    "ipvlan": IpvlanSpec,
    "null": ConfigOnlySpec,
}
#: The driver a network gets without -d/--driver, as with ``docker network create``.
DEFAULT_DRIVER = "bridge"

#: Spec field -> the flag that sets it, where the two are not spelled alike.
SPEC_FLAGS: dict[str, str] = {
    "name": "NAME",
    "pools": "--subnet",
    "gateway": "--gateway",
    "ip_range": "--ip-range",
    "aux_addresses": "--aux-address",
    "labels": "--label",
    "enable_ipv6": "--ipv6",
    "ip_masquerade": "--masquerade",
    "vxlan_ids": "--vxlan-id",
    "extra_options": "-o/--opt",
    "driver": "-d/--driver",
    "scope": "--scope",
    "attachable": "--attachable",
    "config_from": "--config-from",
    "ipam_driver": "--ipam-driver",
}

#: ``net ls``: the columns, in the order of :class:`swarmnet.Network`'s fields.
LS_COLUMNS: tuple[Column[Network], ...] = (
    Column("id", lambda n: n.id[:12]),
    Column("name", lambda n: n.name),
    Column("scope", lambda n: n.scope.value),
    Column("driver", lambda n: n.driver),
    Column("ipam", lambda n: ",".join(str(p.subnet) for p in n.ipam.config if p.subnet)),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``net`` and its subcommands."""
    net = subparsers.add_parser(
        "net",
        help="networks on one engine: ls, inspect, create, ensure, rm, connect, disconnect",
        description="Networks on one engine: -H HOST, --lab NAME [--node N], or "
        "$DOCKER_HOST. " + JSON_NAMING,
    )
    commands = net.add_subparsers(dest="net_command", metavar="COMMAND", required=True)

    ls = engine_command(
        commands,
        "ls",
        "list networks",
        json_what="the networks (a list of swarmnet.Network)",
        description="List networks, sorted by name. The table shows fields of "
        "swarmnet.Network under the names --json gives them, in the same order: ID (the "
        "first 12 characters), NAME, SCOPE, DRIVER, IPAM (the subnets).",
    )
    ls.add_argument("--name", help="only the network of exactly this name (default: all)")
    ls.add_argument("--driver", help="only networks of this driver (default: all)")
    ls.add_argument(
        "--scope", choices=["local", "swarm", "global"], help="only this scope (default: all)"
    )
    ls.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="only networks with this label (repeatable, all must match; default: any)",
    )
    kind = ls.add_mutually_exclusive_group()
    kind.add_argument(
        "--custom", action="store_true", help="only user-defined networks (default: all)"
    )
    kind.add_argument(
        "--builtin",
        action="store_true",
        help="only the engine's own networks: bridge, host, none (default: all)",
    )
    ls.set_defaults(handler=_ls)

    inspect = engine_command(
        commands, "inspect", "show one network", json_what="the swarmnet.Network"
    )
    inspect.add_argument("network", metavar="NETWORK", help="the network's name, id or id prefix")
    inspect.add_argument(
        "--verbose",
        action="store_true",
        # Not "verbose": that is swarmnet's own -v count, which this would overwrite.
        dest="detail",
        help="also the overlay's peers and services (managers only; default: off)",
    )
    inspect.add_argument(
        "--scope",
        choices=["local", "swarm", "global"],
        help="look only among networks of this scope (default: any)",
    )
    inspect.set_defaults(handler=_inspect)

    create = engine_command(
        commands,
        "create",
        "create a network (fails if the name exists)",
        json_what="the swarmnet.Network made",
        description="Create a network; it fails if one of that name exists (see ensure). "
        + _DRIVER_NOTE,
    )
    _spec_arguments(create)
    create.set_defaults(handler=_create)

    ensure = engine_command(
        commands,
        "ensure",
        "create a network unless one matching the spec exists",
        json_what="a swarmnet.EnsureResult (network, outcome, diff)",
        description="Create a network unless one of that name matching the spec exists; "
        "a network that differs is an error unless --on-drift says otherwise. " + _DRIVER_NOTE,
    )
    _spec_arguments(ensure)
    ensure.add_argument(
        "--on-drift",
        choices=[d.value for d in Drift],
        default=Drift.RAISE.value,
        help="when the existing network differs from the spec: raise (exit 1, the "
        "differences on stderr), leave it as it is, or recreate it (default: raise)",
    )
    ensure.set_defaults(handler=_ensure)

    rm = engine_command(
        commands, "rm", "remove networks", json_what='{"removed": [names as given]}'
    )
    rm.add_argument("networks", nargs="+", metavar="NETWORK", help="names or ids")
    rm.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="disconnect the containers attached on this engine first (default: refuse)",
    )
    rm.set_defaults(handler=_rm)

    connect = engine_command(
        commands,
        "connect",
        "attach a container to a network",
        json_what="the swarmnet.models.Endpoint made",
    )
    connect.add_argument("network", metavar="NETWORK", help="the network's name or id")
    connect.add_argument("container", metavar="CONTAINER", help="the container's name or id")
    connect.add_argument(
        "--alias", action="append", default=[], help="a DNS alias (repeatable; default: none)"
    )
    connect.add_argument("--ip", help="a static IPv4 address (default: the engine picks)")
    connect.add_argument("--ip6", help="a static IPv6 address (default: the engine picks)")
    connect.add_argument(
        "--link",
        action="append",
        default=[],
        metavar="CONTAINER[:ALIAS]",
        help="a legacy link (repeatable; default: none)",
    )
    connect.set_defaults(handler=_connect)

    disconnect = engine_command(
        commands,
        "disconnect",
        "detach a container from a network",
        json_what='{"disconnected": true|false}',
    )
    disconnect.add_argument("network", metavar="NETWORK", help="the network's name or id")
    disconnect.add_argument("container", metavar="CONTAINER", help="the container's name or id")
    disconnect.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="force it, even if the container is not running (default: off)",
    )
    disconnect.set_defaults(handler=_disconnect)


_DRIVER_NOTE = (
    "Without -d/--driver the network is a bridge, as with `docker network create`; "
    "give -d overlay for a swarm-wide network (on a manager)."
)


def _spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", nargs="?", metavar="NAME", help="the network's name (or give --spec)"
    )
    parser.add_argument(
        "--spec",
        type=Path,
        metavar="FILE",
        help="read the whole spec from a JSON file with a 'driver' key ('-': stdin) "
        "instead of flags (default: flags)",
    )
    parser.add_argument(
        "-d",
        "--driver",
        choices=list(_SPECS),
        default=None,
        help=f"the network driver; null makes a config-only network (default: "
        f"{DEFAULT_DRIVER}, as with `docker network create`)",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label (repeatable; default: none)",
    )
    parser.add_argument(
        "--subnet",
        action="append",
        default=[],
        metavar="CIDR",
        help="an address pool (repeatable; default: the engine picks one)",
    )
    parser.add_argument(
        "--gateway",
        action="append",
        default=[],
        metavar="IP",
        help="the gateway of each --subnet, in order (default: the engine picks)",
    )
    parser.add_argument(
        "--ip-range",
        action="append",
        default=[],
        metavar="CIDR",
        help="where containers' addresses come from, per --subnet in order "
        "(default: the whole subnet)",
    )
    parser.add_argument(
        "--aux-address",
        action="append",
        default=[],
        metavar="NAME=IP",
        help="an address kept from containers, inside one --subnet (default: none)",
    )
    parser.add_argument(
        "--ipam-driver", metavar="DRIVER", help="the IPAM driver (default: the engine's default)"
    )
    parser.add_argument("--ipv6", action="store_true", help="enable IPv6 (default: off)")
    parser.add_argument(
        "--internal", action="store_true", help="no route out of the network (default: off)"
    )
    parser.add_argument(
        "--attachable",
        action="store_true",
        help="overlay, and macvlan/ipvlan with --scope swarm: standalone containers may "
        "attach (default: off)",
    )
    parser.add_argument(
        "--encrypted", action="store_true", help="overlay: IPsec between nodes (default: off)"
    )
    parser.add_argument(
        "--mtu",
        type=int,
        metavar="BYTES",
        help="overlay/bridge: the interfaces' MTU (default: the driver's)",
    )
    parser.add_argument(
        "--vxlan-id",
        action="append",
        type=int,
        default=[],
        metavar="ID",
        help="overlay: a VXLAN id per subnet (repeatable; default: the manager picks)",
    )
    parser.add_argument(
        "--bridge-name", metavar="IFNAME", help="bridge: the Linux bridge's name (default: br-<id>)"
    )
    parser.add_argument(
        "--icc",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bridge: containers on it may talk to each other (default: the engine's, on)",
    )
    parser.add_argument(
        "--masquerade",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bridge: masquerade traffic going out (default: the engine's, on)",
    )
    parser.add_argument(
        "--host-binding-ipv4",
        metavar="IP",
        help="bridge: the default address published ports bind to (default: 0.0.0.0)",
    )
    parser.add_argument(
        "--parent",
        metavar="IFNAME",
        help="macvlan/ipvlan/null: the host interface (default: a dummy interface)",
    )
    parser.add_argument("--mode", help="macvlan or ipvlan mode (default: the driver's)")
    parser.add_argument("--flag", help="ipvlan: bridge, private or vepa (default: bridge)")
    parser.add_argument(
        "--scope", choices=["local", "swarm"], help="macvlan/ipvlan: the scope (default: local)"
    )
    parser.add_argument(
        "--config-from",
        metavar="NETWORK",
        help="macvlan/ipvlan: take the settings of this config-only network (default: none)",
    )
    parser.add_argument(
        "-o",
        "--opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a driver option with no flag of its own (repeatable; default: none)",
    )


def _pairs(values: list[str], what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise InvalidSpec(f"{what} {value!r} is not key=value")
        result[key] = item
    return result


def _pools(args: argparse.Namespace) -> list[dict[str, Any]]:
    if len(args.gateway) > len(args.subnet) or len(args.ip_range) > len(args.subnet):
        raise InvalidSpec("each --gateway and --ip-range needs a --subnet before it")
    pools: list[dict[str, Any]] = []
    for i, subnet in enumerate(args.subnet):
        pool: dict[str, Any] = {"subnet": subnet}
        if i < len(args.gateway):
            pool["gateway"] = args.gateway[i]
        if i < len(args.ip_range):
            pool["ip_range"] = args.ip_range[i]
        pools.append(pool)
    for name, address in _pairs(args.aux_address, "--aux-address").items():
        home = next(
            (p for p in pools if _contains(p["subnet"], address)),
            None,
        )
        if home is None:
            raise InvalidSpec(f"--aux-address {name}={address} is in no --subnet given")
        home.setdefault("aux_addresses", {})[name] = address
    return pools


def _contains(subnet: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return False


def _spec(args: argparse.Namespace) -> AnyNetworkSpec:
    if args.spec is not None:
        return _spec_from_file(args.spec)
    if not args.name:
        raise InvalidSpec("give the network's name, or --spec FILE")
    driver: str = args.driver or DEFAULT_DRIVER
    data: dict[str, Any] = {"driver": driver, "name": args.name}
    optional: dict[str, Any] = {
        "labels": _pairs(args.label, "--label") or None,
        "pools": _pools(args) or None,
        "ipam_driver": args.ipam_driver,
        "enable_ipv6": args.ipv6 or None,
        "internal": args.internal or None,
        "attachable": args.attachable or None,
        "encrypted": args.encrypted or None,
        "mtu": args.mtu,
        "vxlan_ids": args.vxlan_id or None,
        "bridge_name": args.bridge_name,
        "icc": args.icc,
        "ip_masquerade": args.masquerade,
        "host_binding_ipv4": args.host_binding_ipv4,
        "parent": args.parent,
        "mode": args.mode,
        "flag": args.flag,
        "scope": args.scope,
        "config_from": args.config_from,
        "extra_options": _pairs(args.opt, "--opt") or None,
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    try:
        return network_spec_from(data)
    except RefusedSpec as exc:
        raise InvalidSpec(_refusal(exc.errors, driver, defaulted=args.driver is None)) from None


def _spec_from_file(path: Path) -> AnyNetworkSpec:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
        return network_spec_from(json.loads(text))
    except RefusedSpec as exc:
        # A file speaks in spec fields, not flags: name them as written.
        raise InvalidSpec(f"invalid spec in {path}: {describe_invalid(exc.errors)}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidSpec(f"cannot read --spec {path}: {exc}") from exc


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _refusal(errors: list[ErrorDetails], driver: str, *, defaulted: bool) -> str:
    """The flags' fault, in flags; a flag the driver cannot take says which drivers can."""
    problems: list[str] = []
    rest: list[ErrorDetails] = []
    unfit = False
    for error in errors:
        loc = [str(part) for part in error["loc"]]
        if error["type"] != "extra_forbidden" or len(loc) != 1:
            rest.append(error)
            continue
        unfit = True
        takers = [name for name, cls in _SPECS.items() if loc[0] in cls.model_fields]
        problems.append(
            f"{option_name(loc[0], SPEC_FLAGS)} does not apply to {_a(driver)} network"
            + (f" (it does to {', '.join(takers)})" if takers else "")
        )
    if rest:
        problems.append(describe_invalid(rest, SPEC_FLAGS))
    message = "; ".join(problems)
    if defaulted and unfit:
        message += (
            f"; no -d/--driver was given, so the driver is {DEFAULT_DRIVER} (as with "
            "`docker network create`): add -d overlay for a swarm-wide network"
        )
    return message


async def _ls(args: argparse.Namespace) -> int:
    kind: Literal["custom", "builtin"] | None = (
        "custom" if args.custom else "builtin" if args.builtin else None
    )
    async with open_cli_engine(args) as engine:
        networks = await engine.networks.list(
            name=args.name, driver=args.driver, scope=args.scope, labels=args.label, kind=kind
        )
    ordered = sorted(networks, key=lambda n: (n.name, n.id))
    if args.json:
        print_json(ordered)
    else:
        print_table(LS_COLUMNS, ordered)
    return 0


async def _inspect(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        network = await engine.networks.get(args.network, verbose=args.detail, scope=args.scope)
    if args.json:
        print_json(network)
        return 0
    flags = [f for f in ("internal", "attachable", "ingress", "config_only") if getattr(network, f)]
    print(f"{network.name}  {network.id}")
    print(f"  driver {network.driver}, scope {network.scope.value}, flags {flags or '-'}")
    for pool in network.ipam.config:
        print(f"  pool {pool.subnet} gateway {pool.gateway or '-'} range {pool.ip_range or '-'}")
    for key, value in sorted(network.options.items()):
        print(f"  option {key}={value}")
    for key, value in sorted(network.labels.items()):
        print(f"  label {key}={value}")
    for container_id, endpoint in network.containers.items():
        print(f"  endpoint {endpoint.name} ({container_id[:12]}) {endpoint.ipv4_address or ''}")
    for peer in network.peers:
        print(f"  peer {peer.name} {peer.ip}")
    return 0


def _note_default_driver(args: argparse.Namespace) -> None:
    if args.spec is None and args.driver is None:
        # Said on stderr: stdout stays the result (an id, or JSON).
        print(
            f"swarmnet: no -d/--driver given: {args.name} is a {DEFAULT_DRIVER} network, "
            "local to this engine (-d overlay for a swarm-wide one)",
            file=sys.stderr,
        )


async def _create(args: argparse.Namespace) -> int:
    spec = _spec(args)
    async with open_cli_engine(args) as engine:
        network = await engine.networks.create(spec)
    _note_default_driver(args)
    if args.json:
        print_json(network)
    else:
        print(network.id)
    return 0


async def _ensure(args: argparse.Namespace) -> int:
    spec = _spec(args)
    async with open_cli_engine(args) as engine:
        result: EnsureResult = await engine.networks.ensure(spec, on_drift=Drift(args.on_drift))
    _note_default_driver(args)
    if args.json:
        print_json(result)
        return 0
    print(f"{result.network.name}: {result.outcome.value} ({result.network.id[:12]})")
    for change in result.diff.changes:
        print(f"  {change}")
    return 0


async def _rm(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        for name in args.networks:
            await engine.networks.remove(name, force=args.force)
            if not args.json:
                print(name)
    if args.json:
        print_json({"removed": list(args.networks)})
    return 0


async def _connect(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        try:
            endpoint: Endpoint = await engine.networks.connect(
                args.network,
                args.container,
                aliases=args.alias,
                ipv4=args.ip,
                ipv6=args.ip6,
                links=args.link,
            )
        except (ValidationError, RefusedSpec) as exc:
            flags = {"aliases": "--alias", "ipv4": "--ip", "ipv6": "--ip6", "links": "--link"}
            errors = exc.errors if isinstance(exc, RefusedSpec) else exc
            raise InvalidSpec(f"invalid attachment: {describe_invalid(errors, flags)}") from None
    if args.json:
        print_json(endpoint)
    else:
        print(
            f"{endpoint.container_name} on {endpoint.network_name}: "
            f"{endpoint.ipv4_address or '-'} aliases={list(endpoint.aliases)}"
        )
    return 0


async def _disconnect(args: argparse.Namespace) -> int:
    async with open_cli_engine(args) as engine:
        was = await engine.networks.disconnect(args.network, args.container, force=args.force)
    if args.json:
        print_json({"disconnected": was})
    else:
        print("disconnected" if was else "was not connected")
    return 0
