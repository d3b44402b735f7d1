"""``swarmnet net``: networks on one engine: ls, inspect, create, ensure, rm, connect, disconnect.

Specs are built from flags (or read whole from ``--spec FILE``, JSON with a ``driver``
key) and validated before anything is sent; a refusal is printed and the exit code is 1.
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from swarmnet._cli._common import engine_command, print_json
from swarmnet._core.engine import Engine
from swarmnet._core.errors import InvalidSpec
from swarmnet._networks.drift import Drift, EnsureResult
from swarmnet._networks.models import Endpoint, Network
from swarmnet._networks.specs import AnyNetworkSpec, network_spec_from

_DRIVERS = ("overlay", "bridge", "macvlan", "ipvlan", "null")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``net`` and its subcommands."""
    net = subparsers.add_parser(
        "net",
        help="networks on one engine: ls, inspect, create, ensure, rm, connect, disconnect",
        description="Networks on one engine (DOCKER_HOST, or --host).",
    )
    commands = net.add_subparsers(dest="net_command", metavar="COMMAND", required=True)
    command = functools.partial(engine_command, commands, json_help="print JSON")

    ls = command("ls", "list networks")
    ls.add_argument("--name", help="exactly this name")
    ls.add_argument("--driver", help="only this driver")
    ls.add_argument("--scope", choices=["local", "swarm", "global"])
    ls.add_argument("--label", action="append", default=[], help="key or key=value (repeatable)")
    kind = ls.add_mutually_exclusive_group()
    kind.add_argument("--custom", action="store_true", help="only user-defined networks")
    kind.add_argument("--builtin", action="store_true", help="only the engine's own networks")
    ls.set_defaults(handler=_ls)

    inspect = command("inspect", "show one network")
    inspect.add_argument("network", help="name, id or id prefix")
    inspect.add_argument("--verbose", action="store_true", help="overlay peers and services")
    inspect.add_argument("--scope", choices=["local", "swarm", "global"])
    inspect.set_defaults(handler=_inspect)

    create = command("create", "create a network (fails if the name exists)")
    _spec_arguments(create)
    create.set_defaults(handler=_create)

    ensure = command("ensure", "create a network unless one matching the spec exists")
    _spec_arguments(ensure)
    ensure.add_argument(
        "--on-drift",
        choices=[d.value for d in Drift],
        default=Drift.RAISE.value,
        help="when the existing network differs: raise (exit 1), leave it, or recreate it",
    )
    ensure.set_defaults(handler=_ensure)

    rm = command("rm", "remove networks")
    rm.add_argument("networks", nargs="+", help="names or ids")
    rm.add_argument("-f", "--force", action="store_true", help="disconnect containers first")
    rm.set_defaults(handler=_rm)

    connect = command("connect", "attach a container to a network")
    connect.add_argument("network")
    connect.add_argument("container")
    connect.add_argument("--alias", action="append", default=[], help="DNS alias (repeatable)")
    connect.add_argument("--ip", help="static IPv4 address")
    connect.add_argument("--ip6", help="static IPv6 address")
    connect.add_argument("--link", action="append", default=[], help="container[:alias]")
    connect.set_defaults(handler=_connect)

    disconnect = command("disconnect", "detach a container from a network")
    disconnect.add_argument("network")
    disconnect.add_argument("container")
    disconnect.add_argument("-f", "--force", action="store_true")
    disconnect.set_defaults(handler=_disconnect)


def _spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="the network's name (or give --spec)")
    parser.add_argument("--spec", type=Path, help="a JSON spec file ('-': stdin)")
    parser.add_argument("-d", "--driver", choices=_DRIVERS, default="bridge")
    parser.add_argument("--label", action="append", default=[], help="key=value (repeatable)")
    parser.add_argument("--subnet", action="append", default=[], help="CIDR (repeatable)")
    parser.add_argument("--gateway", action="append", default=[], help="per --subnet, in order")
    parser.add_argument("--ip-range", action="append", default=[], help="per --subnet, in order")
    parser.add_argument(
        "--aux-address", action="append", default=[], help="name=ip, in its subnet's pool"
    )
    parser.add_argument("--ipam-driver")
    parser.add_argument("--ipv6", action="store_true", help="enable IPv6")
    parser.add_argument("--internal", action="store_true", help="no route out")
    parser.add_argument("--attachable", action="store_true", help="overlay/swarm macvlan")
    parser.add_argument("--encrypted", action="store_true", help="overlay: IPsec")
    parser.add_argument("--mtu", type=int)
    parser.add_argument("--vxlan-id", action="append", type=int, default=[], help="overlay")
    parser.add_argument("--bridge-name", help="bridge: the Linux bridge's name")
    parser.add_argument("--icc", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--masquerade", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--host-binding-ipv4", help="bridge: default address for ports")
    parser.add_argument("--parent", help="macvlan/ipvlan/config-only: host interface")
    parser.add_argument("--mode", help="macvlan or ipvlan mode")
    parser.add_argument("--flag", help="ipvlan flag")
    parser.add_argument("--scope", choices=["local", "swarm"], help="macvlan/ipvlan")
    parser.add_argument("--config-from", help="macvlan/ipvlan: the config-only network")
    parser.add_argument("-o", "--opt", action="append", default=[], help="key=value driver option")


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
    try:
        if args.spec is not None:
            text = sys.stdin.read() if str(args.spec) == "-" else args.spec.read_text()
            return network_spec_from(json.loads(text))
        if not args.name:
            raise InvalidSpec("give the network's name, or --spec FILE")
        data: dict[str, Any] = {"driver": args.driver, "name": args.name}
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
        return network_spec_from(data)
    except ValidationError as exc:
        raise InvalidSpec(f"invalid network spec: {exc}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidSpec(f"cannot read --spec {args.spec}: {exc}") from exc


def _subnets(network: Network) -> str:
    return ",".join(str(p.subnet) for p in network.ipam.config if p.subnet) or "-"


async def _ls(args: argparse.Namespace) -> int:
    kind: Literal["custom", "builtin"] | None = (
        "custom" if args.custom else "builtin" if args.builtin else None
    )
    async with Engine(args.host) as engine:
        networks = await engine.networks.list(
            name=args.name, driver=args.driver, scope=args.scope, labels=args.label, kind=kind
        )
    if args.json:
        print_json(networks)
        return 0
    print(f"{'ID':<14}{'NAME':<32}{'DRIVER':<10}{'SCOPE':<8}SUBNETS")
    for n in sorted(networks, key=lambda n: n.name):
        print(f"{n.id[:12]:<14}{n.name:<32}{n.driver or '-':<10}{n.scope.value:<8}{_subnets(n)}")
    return 0


async def _inspect(args: argparse.Namespace) -> int:
    async with Engine(args.host) as engine:
        network = await engine.networks.get(args.network, verbose=args.verbose, scope=args.scope)
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


async def _create(args: argparse.Namespace) -> int:
    spec = _spec(args)
    async with Engine(args.host) as engine:
        network = await engine.networks.create(spec)
    if args.json:
        print_json(network)
    else:
        print(network.id)
    return 0


async def _ensure(args: argparse.Namespace) -> int:
    spec = _spec(args)
    async with Engine(args.host) as engine:
        result: EnsureResult = await engine.networks.ensure(spec, on_drift=Drift(args.on_drift))
    if args.json:
        print_json(result)
        return 0
    print(f"{result.network.name}: {result.outcome.value} ({result.network.id[:12]})")
    for change in result.diff.changes:
        print(f"  {change}")
    return 0


async def _rm(args: argparse.Namespace) -> int:
    async with Engine(args.host) as engine:
        for name in args.networks:
            await engine.networks.remove(name, force=args.force)
            if not args.json:
                print(name)
    if args.json:
        print(json.dumps({"removed": list(args.networks)}))
    return 0


async def _connect(args: argparse.Namespace) -> int:
    async with Engine(args.host) as engine:
        try:
            endpoint: Endpoint = await engine.networks.connect(
                args.network,
                args.container,
                aliases=args.alias,
                ipv4=args.ip,
                ipv6=args.ip6,
                links=args.link,
            )
        except ValidationError as exc:
            raise InvalidSpec(f"invalid attachment: {exc}") from exc
    if args.json:
        print_json(endpoint)
    else:
        print(
            f"{endpoint.container_name} on {endpoint.network_name}: "
            f"{endpoint.ipv4_address or '-'} aliases={list(endpoint.aliases)}"
        )
    return 0


async def _disconnect(args: argparse.Namespace) -> int:
    async with Engine(args.host) as engine:
        was = await engine.networks.disconnect(args.network, args.container, force=args.force)
    if args.json:
        print(json.dumps({"disconnected": was}))
    else:
        print("disconnected" if was else "was not connected")
    return 0
