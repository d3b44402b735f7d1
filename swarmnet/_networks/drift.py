"""Compare a network spec with what an engine holds, after normalising what it fills in.

The engine fills in things a spec may leave open: the IPAM driver ``default`` (or an
empty string for a ``config_from`` network), a subnet and gateway when none were
asked for, an IPv4 pool next to an IPv6-only request, options read back as the
strings they were sent as (``"0"`` and ``"false"`` are the same boolean). None of
those is drift. What a spec leaves ``None`` is not compared; booleans it always sets
(``internal``, ``attachable``, ``enable_ipv6``, ``encrypted``) are.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Any

from pydantic import BaseModel, ConfigDict

from swarmnet._networks.models import IPAMPoolInfo, Network
from swarmnet._networks.specs import (
    BOOL_OPTIONS,
    INT_OPTIONS,
    OPT_ENCRYPTED,
    OPT_VXLAN_IDS,
    AnyNetworkSpec,
    ConfigOnlySpec,
    IPAMPool,
    OverlaySpec,
    parse_bool,
)

_ABSENT = "(absent)"


class Drift(str, enum.Enum):
    """What :meth:`NetworksAPI.ensure` does when a network differs from its spec."""

    RAISE = "raise"
    """Raise :class:`swarmnet.DriftDetected` carrying the diff (the default)."""
    LEAVE = "leave"
    """Leave the network as it is and report the diff."""
    RECREATE = "recreate"
    """Remove and create it again, reconnecting every container that was attached."""


class EnsureOutcome(str, enum.Enum):
    """What :meth:`NetworksAPI.ensure` found and did."""

    CREATED = "created"
    UNCHANGED = "unchanged"
    DRIFTED = "drifted"
    RECREATED = "recreated"


class FieldDrift(BaseModel):
    """One difference between a spec and a network.

    Attributes:
        field: the spec field, dotted for maps (``labels.team``,
            ``options.com.docker.network.driver.mtu``); ``pools.ipv4``/``pools.ipv6``
            when the subnets of that version differ, ``pools[10.1.0.0/24].gateway``
            for a field of a pool both sides have.
        wanted: what the spec asks for, as text.
        found: what the engine has, as text (``(absent)`` when it has nothing).
    """

    model_config = ConfigDict(frozen=True)

    field: str
    wanted: str
    found: str

    def __str__(self) -> str:
        return f"{self.field}: wanted {self.wanted}, found {self.found}"


class NetworkDiff(BaseModel):
    """Every difference between a spec and the network of that name; empty when none.

    ``bool(diff)`` is True when something differs.
    """

    model_config = ConfigDict(frozen=True)

    network: str
    changes: tuple[FieldDrift, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the fields that differ."""
        return tuple(change.field for change in self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __str__(self) -> str:
        if not self.changes:
            return f"network {self.network} matches its spec"
        return f"network {self.network} differs: " + "; ".join(str(c) for c in self.changes)


class EnsureResult(BaseModel):
    """What :meth:`NetworksAPI.ensure` returns.

    Attributes:
        network: the network as the engine reports it now.
        outcome: created, unchanged, drifted (left as it was) or recreated.
        diff: what differed (empty for created and unchanged).
    """

    model_config = ConfigDict(frozen=True)

    network: Network
    outcome: EnsureOutcome
    diff: NetworkDiff


def _text(value: Any) -> str:
    # One style: strings (labels, options, names) quoted; booleans, numbers, addresses
    # and subnets bare; a list is its items in that style, comma-separated.
    if value is None:
        return _ABSENT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value) or _ABSENT
    if isinstance(value, dict):
        return ", ".join(f"{key}={_text(item)}" for key, item in value.items()) or _ABSENT
    return str(value)


def option_values_equal(key: str, wanted: str, found: str) -> bool:
    """Whether two string forms of one driver option mean the same."""
    if key in BOOL_OPTIONS:
        return parse_bool(wanted) == parse_bool(found) and parse_bool(found) is not None
    if key in INT_OPTIONS:
        try:
            return int(wanted) == int(found)
        except ValueError:
            return wanted == found
    if key == OPT_VXLAN_IDS:
        return _int_list(wanted) == _int_list(found)
    return wanted == found


def _int_list(text: str) -> list[int] | str:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        return text


def diff(spec: AnyNetworkSpec, network: Network) -> NetworkDiff:
    """Compare ``spec`` with ``network``; an empty diff means ensure finds it unchanged."""
    changes: list[FieldDrift] = []

    def add(field: str, wanted: Any, found: Any) -> None:
        changes.append(FieldDrift(field=field, wanted=_text(wanted), found=_text(found)))

    if network.driver != spec.driver:
        add("driver", spec.driver, network.driver)
    if network.scope.value != spec.expected_scope():
        add("scope", spec.expected_scope(), network.scope.value)
    for flag in ("internal", "attachable"):
        if flag in type(spec).model_fields and bool(getattr(spec, flag)) != getattr(network, flag):
            add(flag, bool(getattr(spec, flag)), getattr(network, flag))
    if spec.enable_ipv6 != network.enable_ipv6:
        add("enable_ipv6", spec.enable_ipv6, network.enable_ipv6)
    if isinstance(spec, ConfigOnlySpec) != network.config_only:
        add("config_only", isinstance(spec, ConfigOnlySpec), network.config_only)
    config_from = getattr(spec, "config_from", None)
    if config_from != network.config_from:
        add("config_from", config_from, network.config_from)
    for key in sorted(set(spec.labels) | set(network.labels)):
        if spec.labels.get(key) != network.labels.get(key):
            add(f"labels.{key}", spec.labels.get(key), network.labels.get(key))
    if config_from is None:
        _diff_ipam(spec, network, add)
        _diff_options(spec, network, add)
    return NetworkDiff(network=spec.name, changes=tuple(changes))


def _diff_ipam(spec: AnyNetworkSpec, network: Network, add: Any) -> None:
    found_driver = network.ipam.driver or "default"
    if spec.ipam_driver != found_driver:
        add("ipam_driver", spec.ipam_driver, found_driver)
    for key in sorted(set(spec.ipam_options) | set(network.ipam.options)):
        if spec.ipam_options.get(key) != network.ipam.options.get(key):
            add(f"ipam_options.{key}", spec.ipam_options.get(key), network.ipam.options.get(key))
    # A version the spec leaves open is the engine's to fill (auto-assigned pools).
    for version in sorted({pool.version for pool in spec.pools}):
        wanted = [p for p in spec.pools if p.version == version]
        found = [p for p in network.ipam.config if p.subnet and p.subnet.version == version]
        by_subnet = {p.subnet: p for p in found}
        missing = [pool for pool in wanted if pool.subnet not in by_subnet]
        for pool in wanted:
            if pool.subnet in by_subnet:
                _diff_pool(pool, by_subnet.pop(pool.subnet), add)
        # What is left on either side is one difference: the pools of this version.
        if missing or by_subnet:
            add(
                f"pools.ipv{version}",
                [pool.subnet for pool in missing] or None,
                list(by_subnet) or None,
            )


def _diff_pool(pool: IPAMPool, found: IPAMPoolInfo, add: Any) -> None:
    prefix = f"pools[{pool.subnet}]"
    if pool.gateway is not None and pool.gateway != found.gateway:
        add(f"{prefix}.gateway", pool.gateway, found.gateway)
    if pool.ip_range != found.ip_range:
        add(f"{prefix}.ip_range", pool.ip_range, found.ip_range)
    wanted_aux = {name: str(address) for name, address in pool.aux_addresses.items()}
    if wanted_aux != found.aux_addresses:
        # Addresses print bare, like every other address in a diff.
        add(
            f"{prefix}.aux_addresses",
            dict(pool.aux_addresses) or None,
            {name: _address(text) for name, text in found.aux_addresses.items()} or None,
        )


def _address(text: str) -> Any:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return text


def _diff_options(spec: AnyNetworkSpec, network: Network, add: Any) -> None:
    wanted = spec.driver_options()
    for key, value in sorted(wanted.items()):
        found = network.options.get(key)
        if found is None or not option_values_equal(key, value, found):
            add(f"options.{key}", value, found)
    if isinstance(spec, OverlaySpec) and not spec.encrypted and OPT_ENCRYPTED in network.options:
        add(f"options.{OPT_ENCRYPTED}", None, network.options[OPT_ENCRYPTED])
