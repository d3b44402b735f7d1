"""Typed, immutable views of the Engine API's network payloads.

``GET /networks/{id}`` (with ``verbose`` for overlays: peers and services),
``GET /networks``, the endpoint entries of a network, and a container's
``NetworkSettings.Networks`` entries. The engine's ``null`` for an empty map or list
becomes an empty one; empty address strings become ``None``.

The pure functions at the end read a container's inspect payload
(``GET /containers/{id}/json``) into :class:`Endpoint` s; they send nothing.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from swarmnet._core.models import EngineModel

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def subnets_overlap(first: IPNetwork, second: IPNetwork) -> bool:
    """Whether two subnets share addresses (never across IPv4 and IPv6)."""
    if isinstance(first, ipaddress.IPv4Network) and isinstance(second, ipaddress.IPv4Network):
        return first.overlaps(second)
    if isinstance(first, ipaddress.IPv6Network) and isinstance(second, ipaddress.IPv6Network):
        return first.overlaps(second)
    return False


def _empty_dict(value: Any) -> Any:
    return {} if value is None else value


def _empty_tuple(value: Any) -> Any:
    return () if value is None else value


def _network_or_none(value: Any) -> Any:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        # The engine keeps a subnet as it was given, host bits and all.
        return ipaddress.ip_network(value, strict=False)
    return value


def _address_or_none(value: Any) -> Any:
    if value in (None, "", "<nil>"):
        return None
    if isinstance(value, str):
        return ipaddress.ip_address(value.split("/", 1)[0])
    return value


def _interface_or_none(value: Any) -> Any:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        return ipaddress.ip_interface(value)
    return value


def _config_from(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("Network") or None
    return value or None


StrMap = Annotated[dict[str, str], BeforeValidator(_empty_dict)]
OptNetwork = Annotated[IPNetwork | None, BeforeValidator(_network_or_none)]
OptAddress = Annotated[IPAddress | None, BeforeValidator(_address_or_none)]
OptIPv4Interface = Annotated[ipaddress.IPv4Interface | None, BeforeValidator(_interface_or_none)]
OptIPv6Interface = Annotated[ipaddress.IPv6Interface | None, BeforeValidator(_interface_or_none)]


class NetworkScope(str, enum.Enum):
    """Where a network exists: one engine (``local``), the swarm, or a global store."""

    LOCAL = "local"
    SWARM = "swarm"
    GLOBAL = "global"


class IPAMPoolInfo(EngineModel):
    """One address pool as the engine reports it (``IPAM.Config[]``)."""

    subnet: OptNetwork = None
    ip_range: OptNetwork = Field(None, alias="IPRange")
    gateway: OptAddress = None
    aux_addresses: Annotated[dict[str, str], BeforeValidator(_empty_dict)] = Field(
        default_factory=dict, alias="AuxiliaryAddresses"
    )


class IPAMInfo(EngineModel):
    """A network's IPAM: driver, its options, and the pools."""

    driver: str = "default"
    options: StrMap = Field(default_factory=dict)
    config: Annotated[tuple[IPAMPoolInfo, ...], BeforeValidator(_empty_tuple)] = ()


class NetworkEndpointInfo(EngineModel):
    """One endpoint as the network lists it (``Containers`` of an inspect).

    The key of that map is the container id; overlays also list a load-balancer
    endpoint keyed ``lb-<network>``, which is not a container.
    """

    name: str = ""
    endpoint_id: str = Field("", alias="EndpointID")
    mac_address: str = ""
    ipv4_address: OptIPv4Interface = Field(None, alias="IPv4Address")
    ipv6_address: OptIPv6Interface = Field(None, alias="IPv6Address")


class PeerInfo(EngineModel):
    """A node taking part in an overlay (verbose inspect, ``Peers``)."""

    name: str = ""
    ip: OptAddress = Field(None, alias="IP")


class ServiceTaskInfo(EngineModel):
    """A task (or standalone container) of a service on an overlay (verbose inspect)."""

    name: str = ""
    endpoint_id: str = Field("", alias="EndpointID")
    endpoint_ip: OptAddress = Field(None, alias="EndpointIP")
    info: StrMap = Field(default_factory=dict)


class ServiceInfo(EngineModel):
    """A service's presence on an overlay (verbose inspect, ``Services``).

    Standalone containers attached to an attachable overlay are listed under the
    service named ``""``.
    """

    vip: OptAddress = Field(None, alias="VIP")
    ports: Annotated[tuple[str, ...], BeforeValidator(_empty_tuple)] = ()
    local_lb_index: int = Field(0, alias="LocalLBIndex")
    tasks: Annotated[tuple[ServiceTaskInfo, ...], BeforeValidator(_empty_tuple)] = ()


class Network(EngineModel):
    """A network as one engine reports it (``GET /networks/{id}``).

    ``containers`` lists the endpoints on *this* engine only (for an overlay, the
    containers of this node). ``peers`` and ``services`` are filled by a verbose
    inspect of an overlay.
    """

    id: str = Field(alias="Id")
    name: str
    created: datetime | None = None
    scope: NetworkScope = NetworkScope.LOCAL
    driver: str = ""
    enable_ipv6: bool = Field(False, alias="EnableIPv6")
    ipam: IPAMInfo = Field(default_factory=IPAMInfo, alias="IPAM")
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    config_from: Annotated[str | None, BeforeValidator(_config_from)] = None
    config_only: bool = False
    containers: Annotated[dict[str, NetworkEndpointInfo], BeforeValidator(_empty_dict)] = Field(
        default_factory=dict
    )
    options: StrMap = Field(default_factory=dict)
    labels: StrMap = Field(default_factory=dict)
    peers: Annotated[tuple[PeerInfo, ...], BeforeValidator(_empty_tuple)] = ()
    services: Annotated[dict[str, ServiceInfo], BeforeValidator(_empty_dict)] = Field(
        default_factory=dict
    )
    swarm_record: bool = False
    """True when a manager answered from the swarm's own record of the network.

    A manager lists a swarm network from the swarm's store; once the network is
    removed from the swarm, the manager still lists its local copy (``swarm_record``
    False) until the last endpoint on that node is gone, which can take the stop
    grace period of its tasks. Workers have no store: always False there.
    """

    @model_validator(mode="before")
    @classmethod
    def _mark_swarm_record(cls, data: Any) -> Any:
        # The engine builds a store record with no "Containers" at all (null); a local
        # copy always carries a map, empty or not. Only a raw engine payload is marked
        # (a payload that leaves the key out, as hand-written fakes do, reads as null).
        if (
            isinstance(data, dict)
            and "swarm_record" not in data
            and "SwarmRecord" not in data
            and data.get("Scope") == "swarm"
            and data.get("Containers") is None
        ):
            return {**data, "swarm_record": True}
        return data

    @property
    def is_builtin(self) -> bool:
        """True for the networks every engine has: ``bridge``, ``host``, ``none``."""
        return self.name in ("bridge", "host", "none") and self.scope is NetworkScope.LOCAL

    @property
    def container_ids(self) -> tuple[str, ...]:
        """Ids of the containers attached on this engine.

        The engine's own endpoints are left out: load balancers (``lb-…``) and the
        routing mesh's sandbox (``ingress-sbox``), which no container owns.
        """
        return tuple(
            key for key in self.containers if not key.startswith("lb-") and key != "ingress-sbox"
        )


class EndpointIPAMConfig(EngineModel):
    """Addresses asked for when a container was attached (``IPAMConfig``)."""

    ipv4_address: OptAddress = Field(None, alias="IPv4Address")
    ipv6_address: OptAddress = Field(None, alias="IPv6Address")
    link_local_ips: Annotated[tuple[str, ...], BeforeValidator(_empty_tuple)] = Field(
        (), alias="LinkLocalIPs"
    )


def _ipam_config(value: Any) -> Any:
    return EndpointIPAMConfig() if value is None else value


class EndpointSettings(EngineModel):
    """A container's side of one attachment (``NetworkSettings.Networks[name]``)."""

    ipam_config: Annotated[EndpointIPAMConfig, BeforeValidator(_ipam_config)] = Field(
        default_factory=EndpointIPAMConfig, alias="IPAMConfig"
    )
    links: Annotated[tuple[str, ...], BeforeValidator(_empty_tuple)] = ()
    aliases: Annotated[tuple[str, ...], BeforeValidator(_empty_tuple)] = ()
    network_id: str = Field("", alias="NetworkID")
    endpoint_id: str = Field("", alias="EndpointID")
    gateway: OptAddress = None
    ip_address: OptAddress = Field(None, alias="IPAddress")
    ip_prefix_len: int = Field(0, alias="IPPrefixLen")
    ipv6_gateway: OptAddress = Field(None, alias="IPv6Gateway")
    global_ipv6_address: OptAddress = Field(None, alias="GlobalIPv6Address")
    global_ipv6_prefix_len: int = Field(0, alias="GlobalIPv6PrefixLen")
    mac_address: str = ""
    driver_opts: StrMap = Field(default_factory=dict)


class Endpoint(EngineModel):
    """One container's attachment to a network on one engine, typed.

    Attributes:
        network_id, network_name: the network.
        container_id, container_name: the container (name without the leading ``/``).
        endpoint_id: the engine's id of the endpoint.
        mac_address: the interface's MAC.
        ipv4_address, ipv6_address: the addresses with their prefix length.
        aliases: the names the container answers to on this network, as asked for;
            the container's own name and ids, which it answers to anyway (the engine
            adds the short id by itself), are left out.
        links: legacy links on this network.
        requested_ipv4, requested_ipv6: the static addresses asked for at attach time,
            if any (an overlay records its allocated address here too).
    """

    network_id: str
    network_name: str
    container_id: str
    container_name: str
    endpoint_id: str = ""
    mac_address: str = ""
    ipv4_address: ipaddress.IPv4Interface | None = None
    ipv6_address: ipaddress.IPv6Interface | None = None
    aliases: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    requested_ipv4: ipaddress.IPv4Address | None = None
    requested_ipv6: ipaddress.IPv6Address | None = None


class NetworkPruneReport(EngineModel):
    """What ``POST /networks/prune`` removed."""

    networks_deleted: Annotated[tuple[str, ...], BeforeValidator(_empty_tuple)] = ()


# -- a container's attachments, read from its inspect payload (pure) -------------------


def short_id(container_id: str) -> str:
    """The 12-character id the engine shows and answers to."""
    return container_id[:12]


def own_names(payload: Mapping[str, Any]) -> frozenset[str]:
    """The names a container answers to on every network without asking: its name and ids.

    The engine adds the short id to a container's aliases on each user-defined network
    (and newer engines add the name too); an alias equal to one of these adds nothing.
    """
    container_id = str(payload.get("Id", ""))
    names = {container_id, short_id(container_id), str(payload.get("Name", "")).lstrip("/")}
    names.discard("")
    return frozenset(names)


def user_aliases(payload: Mapping[str, Any], aliases: Iterable[str]) -> tuple[str, ...]:
    """``aliases`` without the container's own names, in order, each once."""
    own = own_names(payload)
    seen: dict[str, None] = {}
    for alias in aliases:
        if alias not in own:
            seen.setdefault(alias, None)
    return tuple(seen)


def attachment_in(payload: Mapping[str, Any], network: str) -> tuple[str, EndpointSettings] | None:
    """The container's attachment to ``network`` (a name, an id or a 12+ character prefix).

    Returns the network's name as the container lists it and the endpoint settings, or
    None when the container is not attached.
    """
    networks = (payload.get("NetworkSettings") or {}).get("Networks") or {}
    for name, raw in networks.items():
        settings = EndpointSettings.model_validate(raw)
        if network in (name, settings.network_id) or (
            len(network) >= 12 and settings.network_id.startswith(network)
        ):
            return name, settings
    return None


def endpoint_from(
    payload: Mapping[str, Any], network_name: str, settings: EndpointSettings
) -> Endpoint:
    """One :class:`Endpoint` from a container's inspect payload and one of its attachments."""
    ipv4 = ipv6 = None
    if settings.ip_address is not None:
        ipv4 = ipaddress.IPv4Interface(f"{settings.ip_address}/{settings.ip_prefix_len}")
    if settings.global_ipv6_address is not None:
        ipv6 = ipaddress.IPv6Interface(
            f"{settings.global_ipv6_address}/{settings.global_ipv6_prefix_len}"
        )
    requested = settings.ipam_config
    return Endpoint(
        network_id=settings.network_id,
        network_name=network_name,
        container_id=str(payload.get("Id", "")),
        container_name=str(payload.get("Name", "")).lstrip("/"),
        endpoint_id=settings.endpoint_id,
        mac_address=settings.mac_address,
        ipv4_address=ipv4,
        ipv6_address=ipv6,
        aliases=user_aliases(payload, settings.aliases),
        links=settings.links,
        requested_ipv4=(
            requested.ipv4_address
            if isinstance(requested.ipv4_address, ipaddress.IPv4Address)
            else None
        ),
        requested_ipv6=(
            requested.ipv6_address
            if isinstance(requested.ipv6_address, ipaddress.IPv6Address)
            else None
        ),
    )


def link_key(link: str) -> str:
    """A legacy link as ``target:alias``, however the engine stored it.

    The engine may store ``"/target:/container/alias"``; a link without an alias is
    its target's name.
    """
    target, _, alias = link.partition(":")
    target = target.strip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else target
    return f"{target}:{alias}"
