"""Typed, immutable network specs, validated before anything reaches an engine.

One class per driver users create (:class:`OverlaySpec`, :class:`BridgeSpec`,
:class:`MacvlanSpec`, :class:`IpvlanSpec`) plus :class:`ConfigOnlySpec`, joined in the
discriminated union :data:`NetworkSpec` (the ``driver`` field tells them apart, so a
plain dict or JSON document validates into the right class with
:func:`network_spec_from`). Address pools are :class:`IPAMPool`.

Every rule that can be checked without an engine is checked here, when the spec is
built: CIDRs without host bits, gateway, ip-range and auxiliary addresses inside their
subnet, no two pools overlapping, IPv6 pools only with IPv6 enabled, driver options
that belong to the chosen driver only, names the engine and the kernel accept. A spec
that exists is one the engine should accept; what only the engine knows (a subnet
already used by another network, a parent interface that does not exist) is reported
by the engine and mapped to swarmnet's errors.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from swarmnet._core.errors import InvalidSpec
from swarmnet._core.models import Spec, invalid_spec

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Option keys as the engine's drivers read them (libnetwork's netlabel and drivers).
OPT_MTU = "com.docker.network.driver.mtu"
OPT_VXLAN_IDS = "com.docker.network.driver.overlay.vxlanid_list"
OPT_ENCRYPTED = "encrypted"
OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_ICC = "com.docker.network.bridge.enable_icc"
OPT_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
OPT_HOST_BINDING = "com.docker.network.bridge.host_binding_ipv4"
OPT_DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
OPT_PARENT = "parent"
OPT_MACVLAN_MODE = "macvlan_mode"
OPT_IPVLAN_MODE = "ipvlan_mode"
OPT_IPVLAN_FLAG = "ipvlan_flag"

#: Which driver each known option key belongs to; a key of another driver is refused.
OPTION_OWNERS: Mapping[str, frozenset[str]] = {
    OPT_MTU: frozenset({"overlay", "bridge"}),
    OPT_VXLAN_IDS: frozenset({"overlay"}),
    OPT_ENCRYPTED: frozenset({"overlay"}),
    OPT_BRIDGE_NAME: frozenset({"bridge"}),
    OPT_ICC: frozenset({"bridge"}),
    OPT_MASQUERADE: frozenset({"bridge"}),
    OPT_HOST_BINDING: frozenset({"bridge"}),
    OPT_DEFAULT_BRIDGE: frozenset({"bridge"}),
    OPT_PARENT: frozenset({"macvlan", "ipvlan", "null"}),
    OPT_MACVLAN_MODE: frozenset({"macvlan", "null"}),
    OPT_IPVLAN_MODE: frozenset({"ipvlan", "null"}),
    OPT_IPVLAN_FLAG: frozenset({"ipvlan", "null"}),
}
# Whole families of keys a driver reads by prefix.
_OPTION_PREFIXES: tuple[tuple[str, frozenset[str]], ...] = (
    ("com.docker.network.bridge.", frozenset({"bridge"})),
    ("com.docker.network.driver.overlay.", frozenset({"overlay"})),
)
#: Option keys whose values are booleans (the engine reads them with Go's ParseBool).
BOOL_OPTIONS = frozenset({OPT_ICC, OPT_MASQUERADE, OPT_DEFAULT_BRIDGE})
#: Option keys whose values are integers.
INT_OPTIONS = frozenset({OPT_MTU})

# Docker's rule for object names (containers, networks): letters and digits first.
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_NAME_MAX = 128
# A Linux interface name: at most 15 bytes (IFNAMSIZ - 1), no '/', no whitespace.
_IFNAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.@-]{0,14}")
_VXLAN_MAX = (1 << 24) - 1
# A plugin reference as the engine reads it: [registry/][path/]name[:tag].
_PLUGIN = re.compile(r"[a-z0-9][a-z0-9._-]*(?:[:/][a-zA-Z0-9][a-zA-Z0-9._-]*)*")


def option_owners(key: str) -> frozenset[str] | None:
    """The drivers a known option key belongs to, or None for a key swarmnet doesn't know."""
    if key in OPTION_OWNERS:
        return OPTION_OWNERS[key]
    for prefix, owners in _OPTION_PREFIXES:
        if key.startswith(prefix):
            return owners
    return None


# -- field parsers ---------------------------------------------------------------------


def _parse_network(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a CIDR string such as '10.10.0.0/24', got {value!r}")
    text = value.strip()
    if "/" not in text:
        raise ValueError(f"{text!r} is an address, not a CIDR: add a prefix length like /24")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid CIDR ({exc})") from None
        raise ValueError(f"{text!r} has host bits set; did you mean {loose}?") from None


def _parse_address(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address string, got {value!r}")
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IP address") from None


def _parse_ipv4(value: Any) -> Any:
    address = _parse_address(value)
    if not isinstance(address, ipaddress.IPv4Address):
        raise ValueError(f"{value!r} is not an IPv4 address")
    return address


def _parse_ipv6(value: Any) -> Any:
    address = _parse_address(value)
    if not isinstance(address, ipaddress.IPv6Address):
        raise ValueError(f"{value!r} is not an IPv6 address")
    return address


CIDR = Annotated[IPNetwork, BeforeValidator(_parse_network)]
Address = Annotated[IPAddress, BeforeValidator(_parse_address)]
IPv4 = Annotated[ipaddress.IPv4Address, BeforeValidator(_parse_ipv4)]
IPv6 = Annotated[ipaddress.IPv6Address, BeforeValidator(_parse_ipv6)]


def check_name(name: str, what: str = "network name") -> str:
    """Refuse a name the engine would refuse or mangle; return it unchanged."""
    if not name:
        raise ValueError(f"the {what} is empty")
    if len(name) > _NAME_MAX:
        raise ValueError(f"the {what} {name[:20]!r}… is longer than {_NAME_MAX} characters")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"the {what} {name!r} is not valid: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit"
        )
    return name


def _check_ifname(value: str | None, what: str) -> str | None:
    if value is not None and not _IFNAME.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not a valid Linux interface name "
            "(1 to 15 characters: letters, digits, '_', '.', '-', '@')"
        )
    return value


def _check_labels(labels: Mapping[str, str]) -> Mapping[str, str]:
    for key in labels:
        if not key or key != key.strip():
            raise ValueError(f"label key {key!r} is empty or has surrounding whitespace")
    return labels


def format_bool(value: bool) -> str:
    """A boolean in the string form the engine's options use."""
    return "true" if value else "false"


def parse_bool(value: str) -> bool | None:
    """Read a boolean option the way the engine does (Go's ParseBool); None if not one."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


# -- pools -----------------------------------------------------------------------------


class IPAMPool(Spec):
    """One address pool of a network: a subnet and what lives inside it.

    Args:
        subnet: the pool, as a CIDR without host bits (``"10.20.0.0/24"``).
        gateway: the gateway address; inside the subnet, not its network or broadcast
            address. Left out: the engine picks the first usable address.
        ip_range: the part of the subnet containers get addresses from; inside it.
        aux_addresses: addresses the engine must not hand out, by a name of your own
            (``{"router": "10.20.0.2"}``); inside the subnet, none equal to the gateway.

    Raises:
        InvalidSpec: when any of the above does not hold; the message
            names the field and says why.

    Example::

        IPAMPool(subnet="10.20.0.0/24", gateway="10.20.0.254", ip_range="10.20.0.128/25")
    """

    subnet: CIDR
    gateway: Address | None = None
    ip_range: CIDR | None = None
    aux_addresses: dict[str, Address] = Field(default_factory=dict)

    @property
    def version(self) -> int:
        """4 or 6: the IP version of this pool."""
        return self.subnet.version

    @model_validator(mode="after")
    def _inside_subnet(self) -> IPAMPool:
        subnet = self.subnet
        # The engine keeps the network and broadcast addresses out of an IPv4 pool and
        # takes one address for the gateway: a /31 or /32 leaves nothing, and the create
        # fails ("No available addresses on this pool"). An IPv6 /128 likewise.
        if subnet.prefixlen >= (31 if subnet.version == 4 else 128):
            raise ValueError(
                f"subnet {subnet} has no room for a gateway and a container; use at most "
                f"/{30 if subnet.version == 4 else 127}"
            )
        if self.gateway is not None:
            if self.gateway.version != subnet.version:
                raise ValueError(
                    f"gateway {self.gateway} is IPv{self.gateway.version}, "
                    f"subnet {subnet} is IPv{subnet.version}"
                )
            if self.gateway not in subnet:
                raise ValueError(f"gateway {self.gateway} is outside subnet {subnet}")
            if self.gateway == subnet.network_address and subnet.num_addresses > 2:
                raise ValueError(
                    f"gateway {self.gateway} is the network address of {subnet}; "
                    "pick a host address"
                )
            if (
                isinstance(subnet, ipaddress.IPv4Network)
                and subnet.prefixlen < 31
                and self.gateway == subnet.broadcast_address
            ):
                raise ValueError(f"gateway {self.gateway} is the broadcast address of {subnet}")
        if self.ip_range is not None and (
            self.ip_range.version != subnet.version or not self.ip_range.subnet_of(subnet)  # type: ignore[arg-type]
        ):
            raise ValueError(f"ip_range {self.ip_range} is not inside subnet {subnet}")
        seen: dict[IPAddress, str] = {}
        for name, address in self.aux_addresses.items():
            if not name:
                raise ValueError("an auxiliary address needs a non-empty name")
            if address.version != subnet.version or address not in subnet:
                raise ValueError(f"auxiliary address {name}={address} is outside subnet {subnet}")
            if address == self.gateway:
                raise ValueError(f"auxiliary address {name}={address} is the gateway")
            if address in seen:
                raise ValueError(
                    f"auxiliary addresses {seen[address]} and {name} are both {address}"
                )
            seen[address] = name
        return self

    def _body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"Subnet": str(self.subnet)}
        if self.ip_range is not None:
            body["IPRange"] = str(self.ip_range)
        if self.gateway is not None:
            body["Gateway"] = str(self.gateway)
        if self.aux_addresses:
            body["AuxiliaryAddresses"] = {k: str(v) for k, v in self.aux_addresses.items()}
        return body


# -- driver specs ----------------------------------------------------------------------


class MacvlanMode(str, enum.Enum):
    """How macvlan endpoints on one parent see each other (``macvlan_mode``)."""

    BRIDGE = "bridge"
    VEPA = "vepa"
    PASSTHRU = "passthru"
    PRIVATE = "private"


class IpvlanMode(str, enum.Enum):
    """The layer ipvlan works at (``ipvlan_mode``); ``l3s`` needs a newer engine."""

    L2 = "l2"
    L3 = "l3"
    L3S = "l3s"


class IpvlanFlag(str, enum.Enum):
    """ipvlan's isolation flag (``ipvlan_flag``)."""

    BRIDGE = "bridge"
    PRIVATE = "private"
    VEPA = "vepa"


class _NetworkSpecBase(Spec):
    """What every network spec has: a name, labels, address pools, IPv6, extra options."""

    #: The fields that become driver options; subclasses list theirs.
    _typed_options: ClassVar[Mapping[str, str]] = {}
    #: How many pools of one IP version the driver takes (None: any number).
    _max_pools_per_version: ClassVar[int | None] = None

    driver: str
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    pools: tuple[IPAMPool, ...] = ()
    ipam_driver: str = "default"
    ipam_options: dict[str, str] = Field(default_factory=dict)
    enable_ipv6: bool = False
    extra_options: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        _check_labels(value)
        return value

    @field_validator("ipam_driver")
    @classmethod
    def _valid_ipam_driver(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("ipam_driver is empty; leave it out for the engine's 'default'")
        # A plugin reference: name[:tag], optionally behind a registry path.
        if not _PLUGIN.fullmatch(value):
            raise ValueError(
                f"ipam_driver {value!r} is not a valid IPAM driver name: 'default', 'null' or "
                "a plugin name such as 'vendor/ipam:1.0'"
            )
        return value

    @model_validator(mode="after")
    def _common_rules(self) -> _NetworkSpecBase:
        pools = self.pools
        for i, first in enumerate(pools):
            for second in pools[i + 1 :]:
                if first.version == second.version and first.subnet.overlaps(second.subnet):
                    raise ValueError(
                        f"pools {first.subnet} and {second.subnet} overlap; "
                        "each pool of a network needs its own addresses"
                    )
        if any(p.version == 6 for p in pools) and not self.enable_ipv6:
            raise ValueError("an IPv6 pool is given but enable_ipv6 is False; set enable_ipv6")
        limit = self._max_pools_per_version
        if limit is not None:
            for version in (4, 6):
                if sum(p.version == version for p in pools) > limit:
                    raise ValueError(
                        f"the {self.driver} driver takes at most {limit} IPv{version} pool"
                    )
        for key in self.extra_options:
            self._check_extra_option(key)
        return self

    def _check_extra_option(self, key: str) -> None:
        if not key:
            raise ValueError("an extra option has an empty key")
        for field, option in self._typed_options.items():
            if key == option:
                raise ValueError(
                    f"option {key!r} is set by the field {field!r}; use that field instead"
                )
        owners = option_owners(key)
        if owners is not None and self.driver not in owners:
            raise ValueError(
                f"option {key!r} belongs to the {'/'.join(sorted(owners))} driver, "
                f"not to {self.driver}"
            )

    # -- what is sent ----------------------------------------------------------------

    def driver_options(self) -> dict[str, str]:
        """The ``Options`` sent to the engine: typed fields and extra options, as strings."""
        return dict(self.extra_options)

    def expected_scope(self) -> str:
        """The scope the engine will report for this network (``local`` or ``swarm``)."""
        return "local"

    def _ipam_body(self) -> dict[str, Any]:
        return {
            "Driver": self.ipam_driver,
            "Config": [pool._body() for pool in self.pools],
            "Options": dict(self.ipam_options),
        }

    def create_body(self) -> dict[str, Any]:
        """The body of ``POST /networks/create`` for this spec (``CheckDuplicate`` set)."""
        return {
            "Name": self.name,
            "CheckDuplicate": True,
            "Driver": self.driver,
            "EnableIPv6": self.enable_ipv6,
            "IPAM": self._ipam_body(),
            "Internal": bool(getattr(self, "internal", False)),
            "Attachable": bool(getattr(self, "attachable", False)),
            "Options": self.driver_options(),
            "Labels": dict(self.labels),
        }


def _check_mtu(value: int | None) -> int | None:
    if value is not None and not 68 <= value <= 65535:
        raise ValueError(f"mtu {value} is outside 68..65535")
    return value


class OverlaySpec(_NetworkSpecBase):
    """A swarm-scoped overlay network (create it on a manager).

    Args:
        name: the network's name.
        attachable: standalone containers (not only services) may attach; needed for
            ``docker run --network`` and :meth:`NetworksAPI.connect` on any node.
        internal: no route out of the network.
        encrypted: IPsec between nodes (``--opt encrypted``).
        ingress: the swarm's routing-mesh network (``--ingress``); a swarm has one, and
            it is made this way only to replace it (see :func:`swarmnet.recreate_ingress`).
        mtu: the MTU of the overlay's interfaces.
        vxlan_ids: the VXLAN id of each IPv4 pool in order (1..16777215); the engine
            allocates ids for pools left without one.
        pools, enable_ipv6, labels, ipam_driver, ipam_options, extra_options: see
            :class:`BridgeSpec`.

    Example::

        OverlaySpec(name="app", attachable=True, pools=[IPAMPool(subnet="10.42.0.0/24")])
    """

    _typed_options: ClassVar[Mapping[str, str]] = {
        "mtu": OPT_MTU,
        "vxlan_ids": OPT_VXLAN_IDS,
        "encrypted": OPT_ENCRYPTED,
    }

    driver: Literal["overlay"] = "overlay"
    attachable: bool = False
    internal: bool = False
    encrypted: bool = False
    ingress: bool = False
    mtu: int | None = None
    vxlan_ids: tuple[int, ...] = ()

    @field_validator("mtu")
    @classmethod
    def _valid_mtu(cls, value: int | None) -> int | None:
        return _check_mtu(value)

    @field_validator("vxlan_ids")
    @classmethod
    def _valid_vxlan_ids(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for vni in value:
            if not 1 <= vni <= _VXLAN_MAX:
                raise ValueError(f"VXLAN id {vni} is outside 1..{_VXLAN_MAX}")
        if len(set(value)) != len(value):
            raise ValueError(f"VXLAN ids {list(value)} repeat")
        return value

    @model_validator(mode="after")
    def _vxlan_per_pool(self) -> OverlaySpec:
        v4_pools = sum(p.version == 4 for p in self.pools)
        if len(self.vxlan_ids) > max(1, v4_pools):
            raise ValueError(
                f"{len(self.vxlan_ids)} VXLAN ids for {v4_pools} IPv4 pool(s): "
                "give at most one id per IPv4 pool"
            )
        return self

    def expected_scope(self) -> str:
        """Overlays are swarm-scoped."""
        return "swarm"

    def create_body(self) -> dict[str, Any]:
        """The body of ``POST /networks/create`` (with ``Ingress`` for the routing mesh)."""
        body = super().create_body()
        if self.ingress:
            body["Ingress"] = True
        return body

    def driver_options(self) -> dict[str, str]:
        """The ``Options`` sent to the engine: typed fields and extra options, as strings."""
        options = dict(self.extra_options)
        if self.mtu is not None:
            options[OPT_MTU] = str(self.mtu)
        if self.vxlan_ids:
            options[OPT_VXLAN_IDS] = ",".join(str(v) for v in self.vxlan_ids)
        if self.encrypted:
            options[OPT_ENCRYPTED] = ""
        return options


class BridgeSpec(_NetworkSpecBase):
    """A user-defined bridge network on one engine.

    Args:
        name: the network's name (letters, digits, ``_ . -``; at most 128 characters).
        bridge_name: the Linux bridge's interface name (at most 15 characters).
        icc: inter-container traffic on the bridge (engine default: on).
        ip_masquerade: NAT for traffic leaving the host (engine default: on).
        host_binding_ipv4: the default host address for published ports.
        mtu: the MTU of the bridge and its containers' interfaces.
        internal: no route out of the network.
        pools: at most one IPv4 and one IPv6 :class:`IPAMPool`; none lets the engine pick.
        enable_ipv6: IPv6 on the network (required for an IPv6 pool).
        labels: user metadata.
        ipam_driver, ipam_options: the IPAM driver (``"default"``, ``"null"`` or a plugin
            name; an unknown one is reported by the engine as a missing IPAM driver)
            and its options.
        extra_options: further bridge options by their engine key (a key that belongs
            to another driver, or that a field above sets, is refused).

    Fields left ``None`` take the engine's default and are not compared by ``ensure``.

    Example::

        BridgeSpec(name="backend", icc=True, pools=[IPAMPool(subnet="10.30.0.0/24")])
    """

    _typed_options: ClassVar[Mapping[str, str]] = {
        "bridge_name": OPT_BRIDGE_NAME,
        "icc": OPT_ICC,
        "ip_masquerade": OPT_MASQUERADE,
        "host_binding_ipv4": OPT_HOST_BINDING,
        "mtu": OPT_MTU,
    }
    _max_pools_per_version: ClassVar[int | None] = 1

    driver: Literal["bridge"] = "bridge"
    bridge_name: str | None = None
    icc: bool | None = None
    ip_masquerade: bool | None = None
    host_binding_ipv4: IPv4 | None = None
    mtu: int | None = None
    internal: bool = False

    @field_validator("mtu")
    @classmethod
    def _valid_mtu(cls, value: int | None) -> int | None:
        return _check_mtu(value)

    @field_validator("bridge_name")
    @classmethod
    def _valid_bridge_name(cls, value: str | None) -> str | None:
        return _check_ifname(value, "bridge_name")

    @field_validator("extra_options")
    @classmethod
    def _no_default_bridge(cls, value: dict[str, str]) -> dict[str, str]:
        if OPT_DEFAULT_BRIDGE in value:
            raise ValueError(f"{OPT_DEFAULT_BRIDGE} is reserved for the engine's own bridge")
        return value

    def driver_options(self) -> dict[str, str]:
        """The ``Options`` sent to the engine: typed fields and extra options, as strings."""
        options = dict(self.extra_options)
        if self.bridge_name is not None:
            options[OPT_BRIDGE_NAME] = self.bridge_name
        if self.icc is not None:
            options[OPT_ICC] = format_bool(self.icc)
        if self.ip_masquerade is not None:
            options[OPT_MASQUERADE] = format_bool(self.ip_masquerade)
        if self.host_binding_ipv4 is not None:
            options[OPT_HOST_BINDING] = str(self.host_binding_ipv4)
        if self.mtu is not None:
            options[OPT_MTU] = str(self.mtu)
        return options


class _ParentedSpec(_NetworkSpecBase):
    """macvlan and ipvlan: a parent interface, a scope, optionally a config network."""

    parent: str | None = None
    internal: bool = False
    scope: Literal["local", "swarm"] = "local"
    attachable: bool = False
    config_from: str | None = None

    @field_validator("parent")
    @classmethod
    def _valid_parent(cls, value: str | None) -> str | None:
        return _check_ifname(value, "parent")

    @field_validator("config_from")
    @classmethod
    def _valid_config_from(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value, "config_from network name")

    @model_validator(mode="after")
    def _config_from_rules(self) -> _ParentedSpec:
        if self.attachable and self.scope != "swarm":
            raise ValueError("attachable needs scope='swarm'")
        if self.config_from is not None:
            taken = [
                field
                for field in (*self._typed_options, "pools", "ipam_options", "extra_options")
                if getattr(self, field)
            ]
            if self.enable_ipv6:
                taken.append("enable_ipv6")
            if self.ipam_driver != "default":
                taken.append("ipam_driver")
            if taken:
                raise ValueError(
                    f"config_from={self.config_from!r} takes its settings from that network; "
                    f"leave out {', '.join(taken)} (put them on the ConfigOnlySpec)"
                )
        return self

    def expected_scope(self) -> str:
        """``local`` (the default) or ``swarm`` (one network for the whole swarm)."""
        return self.scope

    def create_body(self) -> dict[str, Any]:
        """The body of ``POST /networks/create`` for this spec (``CheckDuplicate`` set)."""
        body = super().create_body()
        body["Scope"] = self.scope
        if self.config_from is not None:
            body["ConfigFrom"] = {"Network": self.config_from}
            # The engine refuses any IPAM or option with a config network.
            del body["IPAM"], body["Options"]
        return body


class MacvlanSpec(_ParentedSpec):
    """A macvlan network: containers get their own MAC on a parent interface.

    Args:
        name: the network's name.
        parent: the host interface (``eth0``, or ``eth0.10`` for a VLAN sub-interface).
        mode: :class:`MacvlanMode` (engine default: bridge).
        scope: ``"local"`` or ``"swarm"``.
        attachable: standalone containers may attach (swarm scope only).
        config_from: take pools and options from a :class:`ConfigOnlySpec` network of
            that name (then leave pools, parent, mode and options out).
        internal, pools, enable_ipv6, labels, ipam_driver, ipam_options, extra_options:
            as for :class:`BridgeSpec`.
    """

    _typed_options: ClassVar[Mapping[str, str]] = {
        "parent": OPT_PARENT,
        "mode": OPT_MACVLAN_MODE,
    }

    driver: Literal["macvlan"] = "macvlan"
    mode: MacvlanMode | None = None

    def driver_options(self) -> dict[str, str]:
        """The ``Options`` sent to the engine: typed fields and extra options, as strings."""
        options = dict(self.extra_options)
        if self.parent is not None:
            options[OPT_PARENT] = self.parent
        if self.mode is not None:
            options[OPT_MACVLAN_MODE] = self.mode.value
        return options


class IpvlanSpec(_ParentedSpec):
    """An ipvlan network: containers share the parent's MAC.

    The engine creates it, but a kernel without ipvlan (``CONFIG_IPVLAN``) cannot start
    containers on it.

    Args:
        name: the network's name.
        parent: the host interface.
        mode: :class:`IpvlanMode` (engine default: l2).
        flag: :class:`IpvlanFlag` (engine default: bridge).

    The other fields (``scope``, ``attachable``, ``config_from``, ``internal``, ``pools``,
    ``enable_ipv6``, ``labels``, ``ipam_driver``, ``ipam_options``, ``extra_options``) are
    as for :class:`MacvlanSpec`.
    """

    _typed_options: ClassVar[Mapping[str, str]] = {
        "parent": OPT_PARENT,
        "mode": OPT_IPVLAN_MODE,
        "flag": OPT_IPVLAN_FLAG,
    }

    driver: Literal["ipvlan"] = "ipvlan"
    mode: IpvlanMode | None = None
    flag: IpvlanFlag | None = None

    def driver_options(self) -> dict[str, str]:
        """The ``Options`` sent to the engine: typed fields and extra options, as strings."""
        options = dict(self.extra_options)
        if self.parent is not None:
            options[OPT_PARENT] = self.parent
        if self.mode is not None:
            options[OPT_IPVLAN_MODE] = self.mode.value
        if self.flag is not None:
            options[OPT_IPVLAN_FLAG] = self.flag.value
        return options


class ConfigOnlySpec(_NetworkSpecBase):
    """A configuration-only network: pools and options for ``config_from`` networks.

    It carries no traffic; the engine lists it with driver ``null``. Build a swarm-wide
    macvlan from per-node settings by creating one of these on each node (same name,
    each node's own parent and pool), then a ``MacvlanSpec(scope="swarm",
    config_from=...)`` on a manager.

    Args:
        name: the network's name.
        parent: the parent interface the macvlan/ipvlan network will use.
        pools, enable_ipv6, labels, ipam_driver, ipam_options: as for :class:`BridgeSpec`.
        extra_options: macvlan/ipvlan options (``macvlan_mode``, ``ipvlan_mode``,
            ``ipvlan_flag``) by key.
    """

    _typed_options: ClassVar[Mapping[str, str]] = {"parent": OPT_PARENT}

    driver: Literal["null"] = "null"
    parent: str | None = None

    @field_validator("parent")
    @classmethod
    def _valid_parent(cls, value: str | None) -> str | None:
        return _check_ifname(value, "parent")

    @model_validator(mode="after")
    def _known_modes(self) -> ConfigOnlySpec:
        allowed = {
            OPT_MACVLAN_MODE: {m.value for m in MacvlanMode},
            OPT_IPVLAN_MODE: {m.value for m in IpvlanMode},
            OPT_IPVLAN_FLAG: {m.value for m in IpvlanFlag},
        }
        for key, value in self.extra_options.items():
            if key in allowed and value not in allowed[key]:
                raise ValueError(f"{key}={value!r} is not one of {sorted(allowed[key])}")
        return self

    def driver_options(self) -> dict[str, str]:
        """The ``Options`` sent to the engine: typed fields and extra options, as strings."""
        options = dict(self.extra_options)
        if self.parent is not None:
            options[OPT_PARENT] = self.parent
        return options

    def create_body(self) -> dict[str, Any]:
        """The body of ``POST /networks/create`` for this spec (``CheckDuplicate`` set)."""
        body = super().create_body()
        body["ConfigOnly"] = True
        return body


NetworkSpec = Annotated[
    OverlaySpec | BridgeSpec | MacvlanSpec | IpvlanSpec | ConfigOnlySpec,
    Field(discriminator="driver"),
]
"""Any network spec; ``driver`` picks the class (``"null"`` for config-only)."""

_SPEC_ADAPTER: TypeAdapter[NetworkSpec] = TypeAdapter(
    NetworkSpec, config=ConfigDict(title="NetworkSpec")
)

AnyNetworkSpec = OverlaySpec | BridgeSpec | MacvlanSpec | IpvlanSpec | ConfigOnlySpec


def network_spec_from(data: Mapping[str, Any] | AnyNetworkSpec) -> AnyNetworkSpec:
    """Build the right spec class from a mapping (``{"driver": "overlay", "name": …}``).

    Raises:
        InvalidSpec: ``driver`` is missing, or the mapping is not a valid spec of its
            driver (the message names each field at fault).
    """
    if isinstance(data, OverlaySpec | BridgeSpec | MacvlanSpec | IpvlanSpec | ConfigOnlySpec):
        return data
    if "driver" not in data:
        raise InvalidSpec(
            "a network spec needs a 'driver': overlay, bridge, macvlan, ipvlan or "
            "null (config-only)"
        )
    try:
        return _SPEC_ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        # The errors' locations start with the union's tag, the driver: drop it.
        spec_class = _BY_DRIVER.get(str(data["driver"]), OverlaySpec)
        raise invalid_spec(exc, spec_class, skip=1) from None


_BY_DRIVER: dict[str, type[Spec]] = {
    "overlay": OverlaySpec,
    "bridge": BridgeSpec,
    "macvlan": MacvlanSpec,
    "ipvlan": IpvlanSpec,
    "null": ConfigOnlySpec,
}
