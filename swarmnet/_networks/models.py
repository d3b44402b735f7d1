"""Typed, immutable views of the Engine API's network payloads.

``GET /networks/{id}`` (with ``verbose`` for overlays: peers and services),
``GET /networks``, the endpoint entries of a network, and a container's
``NetworkSettings.Networks`` entries. The engine's ``null`` for an empty map or list
becomes an empty one; empty address strings become ``None``.
"""

from __future__ import annotations

import enum
import ipaddress
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

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
        aliases: the names the container answers to on this network, as asked for
            (the engine's own short-id alias is left out).
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
