"""The default bridge as ``daemon.json`` configures it: a typed model and an atomic merge.

The default ``bridge`` network (``docker0``) is not made through the API: dockerd builds
it at start from its configuration file. :class:`DaemonBridgeConfig` holds the keys that
shape it (``bip``, ``fixed-cidr``, ``fixed-cidr-v6``, ``mtu``, ``default-gateway``,
``default-gateway-v6``, ``dns``) and ``default-address-pools``, checks them against each
other the way dockerd would at start (or stricter, where dockerd would start and then
misbehave), and :func:`merge_daemon_json` writes them into an existing file without
touching the keys it does not know. The daemon reads the file only when it starts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from swarmnet._core.errors import InvalidSpec
from swarmnet._core.log import get_logger
from swarmnet._core.models import RefusedSpec, Spec, field_path, invalid_spec

_log = get_logger("swarmnet.daemon_config")

IPv4Net = ipaddress.IPv4Network
IPv6Net = ipaddress.IPv6Network
IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The daemon.json keys :class:`DaemonBridgeConfig` owns; every other key is kept as is.
BRIDGE_KEYS: tuple[str, ...] = (
    "bip",
    "fixed-cidr",
    "fixed-cidr-v6",
    "mtu",
    "default-gateway",
    "default-gateway-v6",
    "dns",
    "default-address-pools",
)

DEFAULT_DAEMON_JSON = Path("/etc/docker/daemon.json")


def _loose_network(value: Any) -> Any:
    # dockerd parses CIDRs with Go's net.ParseCIDR, which drops host bits
    # ("192.168.1.5/25" is 192.168.1.0/25); accept what dockerd accepts.
    if isinstance(value, str):
        try:
            return ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a CIDR network ({exc})") from exc
    return value


class AddressPool(Spec):
    """One entry of ``default-address-pools``: a base range cut into subnets of ``size`` bits.

    Example: ``AddressPool(base="10.10.0.0/16", size=24)`` hands out 10.10.0.0/24,
    10.10.1.0/24, … to networks created without a subnet.
    """

    base: IPNet
    size: int = Field(ge=1, le=128)

    _base = field_validator("base", mode="before")(_loose_network)

    @model_validator(mode="after")
    def _size_fits_base(self) -> AddressPool:
        if self.size < self.base.prefixlen:
            raise ValueError(
                f"pool {self.base} cannot hand out /{self.size} subnets: size must be "
                f"at least the base's prefix length ({self.base.prefixlen})"
            )
        if self.size > self.base.max_prefixlen:
            raise ValueError(f"size /{self.size} is longer than an address of {self.base}")
        return self

    def to_json(self) -> dict[str, Any]:
        """The pool as daemon.json spells it: ``{"base": "10.10.0.0/16", "size": 24}``."""
        return {"base": str(self.base), "size": self.size}


class DaemonBridgeConfig(Spec):
    """The default bridge's settings in ``daemon.json``, checked against each other.

    Every field is optional; only the fields you set are written. Setting a field to
    ``None`` explicitly removes that key from the file on merge.

    Checks (an :class:`swarmnet.InvalidSpec` names the field):
        * ``bip`` is the bridge's own address with its prefix (``192.168.1.1/24``), not
          the network address or the broadcast address;
        * ``fixed-cidr`` lies inside ``bip``'s network;
        * ``default-gateway`` lies inside ``bip``'s network, ``default-gateway-v6``
          inside ``fixed-cidr-v6``;
        * no pool of ``default-address-pools`` overlaps ``bip``'s network.

    Example::

        bridge = DaemonBridgeConfig(bip="10.200.0.1/24", fixed_cidr="10.200.0.128/25", mtu=1450)
        merge_daemon_json("/etc/docker/daemon.json", bridge)
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    bip: ipaddress.IPv4Interface | None = None
    fixed_cidr: IPv4Net | None = Field(None, alias="fixed-cidr")
    fixed_cidr_v6: IPv6Net | None = Field(None, alias="fixed-cidr-v6")
    mtu: int | None = Field(None, ge=68, le=65535)
    default_gateway: ipaddress.IPv4Address | None = Field(None, alias="default-gateway")
    default_gateway_v6: ipaddress.IPv6Address | None = Field(None, alias="default-gateway-v6")
    dns: tuple[IPAddr, ...] | None = None
    default_address_pools: tuple[AddressPool, ...] | None = Field(
        None, alias="default-address-pools"
    )

    _networks = field_validator("fixed_cidr", "fixed_cidr_v6", mode="before")(_loose_network)

    @field_validator("bip", mode="before")
    @classmethod
    def _bip_has_prefix(cls, value: Any) -> Any:
        if isinstance(value, str) and "/" not in value:
            raise ValueError(
                f"bip {value!r} needs a prefix length: the bridge's address and its "
                f"network's size, e.g. '{value}/24'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DaemonBridgeConfig:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        """What is wrong with these settings taken together (empty when nothing)."""
        problems: list[str] = []
        bridge_net = self.bip.network if self.bip is not None else None
        if self.bip is not None and bridge_net is not None and bridge_net.prefixlen < 31:
            if self.bip.ip == bridge_net.network_address:
                problems.append(
                    f"bip {self.bip} is the network address of {bridge_net}; give the "
                    f"bridge's own address, e.g. {bridge_net.network_address + 1}/"
                    f"{bridge_net.prefixlen} (dockerd fails to start with 'failed to "
                    "allocate gateway')"
                )
            elif self.bip.ip == bridge_net.broadcast_address:
                problems.append(f"bip {self.bip} is the broadcast address of {bridge_net}")
        if (
            bridge_net is not None
            and self.fixed_cidr is not None
            and not self.fixed_cidr.subnet_of(bridge_net)
        ):
            problems.append(
                f"fixed-cidr {self.fixed_cidr} is not inside bip's network {bridge_net}"
            )
        if (
            bridge_net is not None
            and self.default_gateway is not None
            and self.default_gateway not in bridge_net
        ):
            problems.append(
                f"default-gateway {self.default_gateway} is not inside bip's network {bridge_net}"
            )
        if (
            self.fixed_cidr_v6 is not None
            and self.default_gateway_v6 is not None
            and self.default_gateway_v6 not in self.fixed_cidr_v6
        ):
            problems.append(
                f"default-gateway-v6 {self.default_gateway_v6} is not inside "
                f"fixed-cidr-v6 {self.fixed_cidr_v6}"
            )
        if bridge_net is not None:
            for pool in self.default_address_pools or ():
                if pool.base.version == 4 and pool.base.overlaps(bridge_net):
                    problems.append(
                        f"default-address-pools entry {pool.base} overlaps bip's network "
                        f"{bridge_net}; networks cut from it would collide with docker0"
                    )
        return problems

    # -- daemon.json both ways ------------------------------------------------------

    @classmethod
    def from_daemon_json(cls, document: Mapping[str, Any]) -> DaemonBridgeConfig:
        """Read the bridge keys out of a parsed ``daemon.json``; other keys are ignored.

        Raises:
            InvalidSpec: a bridge key holds a value dockerd would refuse, or the keys
                contradict each other (the message names them).
        """
        try:
            return cls.model_validate({k: document[k] for k in BRIDGE_KEYS if k in document})
        except ValidationError as exc:
            # Validation runs the model's own __init__, whose InvalidSpec pydantic wraps.
            raise invalid_spec(exc, cls) from None

    def to_daemon_json(self) -> dict[str, Any]:
        """The fields set on this config, as daemon.json spells them (JSON-ready)."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            key = type(self).model_fields[name].alias or name
            out[key] = _json_value(value)
        return {key: out[key] for key in BRIDGE_KEYS if key in out}

    def merged_into(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``document`` with this config's keys written over it.

        Keys this config does not set are kept exactly as they were (known or not);
        keys set to ``None`` are removed. The bridge keys of the result are checked
        together, so a ``fixed-cidr`` that no longer fits an existing ``bip`` is refused.

        Raises:
            InvalidSpec: the merged bridge keys contradict each other, or the file also
                sets ``bridge`` (dockerd refuses ``bip`` together with ``bridge``).
        """
        merged = dict(document)
        for key, value in self.to_daemon_json().items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        try:
            DaemonBridgeConfig.from_daemon_json(merged)
        except RefusedSpec as exc:
            raise InvalidSpec(
                "the merged daemon.json would hold bridge settings dockerd refuses or that "
                f"contradict each other: {_describe(exc)}"
            ) from exc
        if merged.get("bridge") and merged.get("bip"):
            raise InvalidSpec(
                "daemon.json sets both 'bridge' and 'bip'; dockerd refuses to start with "
                "both. Remove 'bridge' to let dockerd manage docker0 with bip, or drop bip"
            )
        return merged


class DaemonConfigFile(BaseModel):
    """A ``daemon.json`` as read or written: its bridge settings and what else it holds.

    Attributes:
        path: where the file is.
        exists: False when no file was there (dockerd then uses its defaults).
        bridge: the bridge keys, typed and checked.
        other_keys: the names of every other key in the file, kept untouched on merge.
    """

    model_config = ConfigDict(frozen=True)

    path: Path
    exists: bool = True
    bridge: DaemonBridgeConfig = DaemonBridgeConfig()
    other_keys: tuple[str, ...] = ()


def read_daemon_json(path: str | Path = DEFAULT_DAEMON_JSON) -> DaemonConfigFile:
    """Read a ``daemon.json`` and type its bridge keys.

    A missing file reads as empty (``exists=False``).

    Raises:
        InvalidSpec: the file is not a JSON object, or its bridge keys are invalid.
    """
    target = Path(path)
    document = _load(target)
    try:
        bridge = DaemonBridgeConfig.from_daemon_json(document)
    except RefusedSpec as exc:
        raise InvalidSpec(f"{target} holds invalid bridge settings: {_describe(exc)}") from exc
    return DaemonConfigFile(
        path=target,
        exists=target.exists(),
        bridge=bridge,
        other_keys=tuple(sorted(k for k in document if k not in BRIDGE_KEYS)),
    )


def merge_daemon_json(
    path: str | Path,
    bridge: DaemonBridgeConfig | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    mode: int = 0o644,
) -> DaemonConfigFile:
    """Write bridge settings (and other keys) into the ``daemon.json`` at ``path``, atomically.

    Every key the file already has and this call does not set is kept as it was,
    including keys swarmnet does not know. The new file is written next to the old one
    and renamed over it, so a reader (or a crash) sees either the old file or the new
    one, never half of it. A missing file (and its folder) is created with ``mode``; an
    existing file keeps its permissions. dockerd reads the file only at start: restart
    it for the change to apply.

    Args:
        path: the file (``/etc/docker/daemon.json`` for a system engine).
        bridge: the bridge keys to set (fields set to None are removed).
        settings: other keys to set, as daemon.json spells them (``{"log-level": "warn"}``);
            a None value removes the key. Bridge keys go through ``bridge`` instead.
        mode: permissions of a file created here.

    Returns:
        the file as written.

    Raises:
        InvalidSpec: the existing file is not a JSON object, ``settings`` holds a bridge
            key, or the merged bridge keys contradict each other (nothing is written).

    Example::

        merge_daemon_json("/etc/docker/daemon.json",
                          DaemonBridgeConfig(bip="10.200.0.1/24", mtu=1450))
    """
    target = Path(path)
    extra = dict(settings or {})
    owned = sorted(set(extra) & set(BRIDGE_KEYS))
    if owned:
        raise InvalidSpec(
            f"settings holds bridge keys {owned}; give them as a DaemonBridgeConfig (bridge=…) "
            "so they are checked"
        )
    document = _load(target)
    for key, value in extra.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    merged = (bridge or DaemonBridgeConfig()).merged_into(document)
    if target.exists():
        mode = target.stat().st_mode & 0o7777
    _atomic_write(target, json.dumps(merged, indent=2) + "\n", mode)
    _log.info(
        "daemon_json.written",
        path=str(target),
        keys=sorted([*(bridge.to_daemon_json() if bridge else {}), *extra]),
    )
    return read_daemon_json(target)


def write_daemon_json(
    path: str | Path, document: Mapping[str, Any], *, mode: int = 0o644
) -> DaemonConfigFile:
    """Write a whole ``daemon.json`` (replacing any file there), atomically.

    Its bridge keys are checked through :class:`DaemonBridgeConfig` first; nothing is
    written if they are wrong. Use :func:`merge_daemon_json` to change a file in place.

    Raises:
        InvalidSpec: the bridge keys contradict each other or hold values dockerd
            refuses, or ``bridge`` and ``bip`` are both set.
    """
    target = Path(path)
    checked = DaemonBridgeConfig().merged_into(document)
    _atomic_write(target, json.dumps(checked, indent=2) + "\n", mode)
    _log.info("daemon_json.written", path=str(target), keys=sorted(checked))
    return read_daemon_json(target)


# -- helpers ------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, AddressPool):
        return value.to_json()
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    return str(value)


def _describe(refused: RefusedSpec) -> str:
    return "; ".join(f"{field_path(loc)}: {msg}" if loc else msg for loc, msg in refused.problems)


def _load(target: Path) -> dict[str, Any]:
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSpec(
            f"{target} is not valid JSON ({exc}); fix it by hand or move it away first"
        ) from exc
    if not isinstance(document, dict):
        raise InvalidSpec(f"{target} holds a JSON {type(document).__name__}, not an object")
    return document


def _atomic_write(target: Path, text: str, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    # The rename is durable only once the folder's entry is on disk too.
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
