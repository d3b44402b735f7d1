"""Compare a service spec with the spec the engine stores, after normalising it.

The engine drops empty lists and maps and zero values (``Delay: 0``), fills in
``Labels: {}``, and stores network names as ids. None of that is drift: a value
absent on one side equals the empty or zero value on the other, networks are compared
by id, and lists whose order means nothing (env, networks, aliases, ports,
constraints) are compared sorted. Only the fields a spec mentions are compared (a
``None`` field is not mentioned), so fields set by others stay theirs.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from swarmnet._networks.drift import FieldDrift
from swarmnet._services.models import Service

Path = tuple[str, ...]

# Engine spec paths and the ServiceSpec field each one comes from.
_FIELD_OF: Mapping[Path, str] = {
    ("Name",): "name",
    ("TaskTemplate", "ContainerSpec", "Image"): "image",
    ("TaskTemplate", "ContainerSpec", "Command"): "command",
    ("TaskTemplate", "ContainerSpec", "Args"): "args",
    ("TaskTemplate", "ContainerSpec", "Env"): "env",
    ("Labels",): "labels",
    ("TaskTemplate", "ContainerSpec", "Labels"): "container_labels",
    ("Mode",): "mode",
    ("TaskTemplate", "Networks"): "networks",
    ("EndpointSpec", "Mode"): "endpoint_mode",
    ("EndpointSpec", "Ports"): "ports",
    ("TaskTemplate", "Placement", "Constraints"): "constraints",
    ("TaskTemplate", "Placement", "Preferences"): "preferences",
    ("TaskTemplate", "Placement", "MaxReplicas"): "max_replicas_per_node",
    ("TaskTemplate", "RestartPolicy"): "restart_policy",
    ("UpdateConfig",): "update_config",
    ("RollbackConfig",): "rollback_config",
    ("TaskTemplate", "Resources", "Limits"): "limits",
    ("TaskTemplate", "Resources", "Reservations"): "reservations",
    ("TaskTemplate", "ContainerSpec", "StopSignal"): "stop_signal",
    ("TaskTemplate", "ContainerSpec", "StopGracePeriod"): "stop_grace_period",
}
# The engine's keys inside restart, update and resource settings, and the spec's names.
_SUB_FIELD_OF: Mapping[str, str] = {
    "Condition": "condition",
    "Delay": "delay",
    "MaxAttempts": "max_attempts",
    "Window": "window",
    "Parallelism": "parallelism",
    "FailureAction": "failure_action",
    "Monitor": "monitor",
    "MaxFailureRatio": "max_failure_ratio",
    "Order": "order",
    "NanoCPUs": "cpus",
    "MemoryBytes": "memory",
}
# Go durations (and NanoCPUs) in nanoseconds; the spec says seconds (and CPUs).
_NANOS = frozenset({"Delay", "Window", "Monitor", "NanoCPUs", "StopGracePeriod"})
_BY_KEY = frozenset(
    {
        ("Labels",),
        ("TaskTemplate", "ContainerSpec", "Labels"),
        ("TaskTemplate", "RestartPolicy"),
        ("UpdateConfig",),
        ("RollbackConfig",),
        ("TaskTemplate", "Resources", "Limits"),
        ("TaskTemplate", "Resources", "Reservations"),
    }
)
_UNORDERED = frozenset(
    {
        ("TaskTemplate", "ContainerSpec", "Env"),
        ("TaskTemplate", "Networks"),
        ("EndpointSpec", "Ports"),
        ("TaskTemplate", "Placement", "Constraints"),
    }
)
_DEFAULTS: Mapping[Path, Any] = {("EndpointSpec", "Mode"): "vip"}


class ServiceDrift(str, enum.Enum):
    """What :meth:`ServicesAPI.ensure` does when a service differs from its spec."""

    RAISE = "raise"
    """Raise :class:`swarmnet.DriftDetected` carrying the diff (the default)."""
    LEAVE = "leave"
    """Leave the service as it is and report the diff."""
    UPDATE = "update"
    """Update the service in place (a rolling update; never a remove and create)."""


class ServiceOutcome(str, enum.Enum):
    """What :meth:`ServicesAPI.ensure` found and did."""

    CREATED = "created"
    UNCHANGED = "unchanged"
    DRIFTED = "drifted"
    UPDATED = "updated"


class ServiceDiff(BaseModel):
    """Every difference between a spec and the service of that name; empty when none.

    ``bool(diff)`` is True when something differs. ``changes`` name the spec fields
    (``env``, ``networks``, ``update_config``…).
    """

    model_config = ConfigDict(frozen=True)

    service: str
    changes: tuple[FieldDrift, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the fields that differ."""
        return tuple(change.field for change in self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __str__(self) -> str:
        if not self.changes:
            return f"service {self.service} matches its spec"
        return f"service {self.service} differs: " + "; ".join(str(c) for c in self.changes)


class ServiceEnsureResult(BaseModel):
    """What :meth:`ServicesAPI.ensure` returns.

    Attributes:
        service: the service as the engine reports it now.
        outcome: created, unchanged, drifted (left as it was) or updated.
        diff: what differed (empty for created and unchanged).
    """

    model_config = ConfigDict(frozen=True)

    service: Service
    outcome: ServiceOutcome
    diff: ServiceDiff


def _empty(value: Any) -> bool:
    return (
        value is None or value == 0 or value == "" or value == [] or value == {} or value is False
    )


def _canon(value: Any) -> Any:
    """``value`` with empty and zero members dropped, so absent equals empty."""
    if isinstance(value, Mapping):
        out = {k: _canon(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if not _empty(v)}
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    return value


def _sorted(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    items = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("Aliases"), list):
            item = {**item, "Aliases": sorted(item["Aliases"])}
        items.append(item)
    return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))


def read_path(spec: Mapping[str, Any], path: Path) -> Any:
    """The value at ``path`` in an engine spec, or None."""
    value: Any = spec
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def comparable(path: Path, value: Any) -> Any:
    """A value at ``path`` in the form two equal ones share."""
    if value is None:
        value = _DEFAULTS.get(path)
    if path == ("Mode",):
        # {"Global": {}} and {"Replicated": {"Replicas": 0}} would both canonicalise to
        # nothing; compare the mode words instead.
        mode = value or {}
        if "Global" in mode:
            return ["global"]
        return ["replicated", (mode.get("Replicated") or {}).get("Replicas", 1)]
    value = _canon(value)
    if path in _UNORDERED:
        value = _sorted(value)
    return None if _empty(value) else value


def _text(value: Any) -> str:
    # The style of network drift: strings quoted; numbers and booleans bare; a list is
    # its items, comma-separated.
    if value is None:
        return "(absent)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value) or "(absent)"
    return str(value)


def _seconds(key: str, value: Any) -> Any:
    return value / 1e9 if key in _NANOS and isinstance(value, int | float) else value


def _network_text(network: Mapping[str, Any], names: Mapping[str, str]) -> str:
    target = str(network.get("Target", ""))
    text = repr(names.get(target, target))
    if network.get("Aliases"):
        text += f" (aliases {_text(network['Aliases'])})"
    if network.get("DriverOpts"):
        options = ", ".join(f"{k}={v!r}" for k, v in sorted(network["DriverOpts"].items()))
        text += f" (driver options {options})"
    return text


def _port_text(port: Mapping[str, Any]) -> str:
    published = f"{port['PublishedPort']}:" if port.get("PublishedPort") else ""
    return (
        f"{published}{port.get('TargetPort')}/{port.get('Protocol', 'tcp')} "
        f"({port.get('PublishMode', 'ingress')})"
    )


def _value_text(path: Path, value: Any, names: Mapping[str, str]) -> str:
    """A compared value as the spec would say it (names, seconds, ports), not as JSON."""
    if value is None:
        return _text(None)
    if path == ("TaskTemplate", "Networks"):
        return ", ".join(_network_text(n, names) for n in value)
    if path == ("EndpointSpec", "Ports"):
        return ", ".join(_port_text(p) for p in value)
    if path == ("TaskTemplate", "Placement", "Preferences"):
        return _text([(p.get("Spread") or {}).get("SpreadDescriptor") for p in value])
    return _text(_seconds(path[-1], value))


def _changes(path: Path, want: Any, found: Any, names: Mapping[str, str]) -> list[FieldDrift]:
    """The lines of one differing field: one per key of a map, replicas apart from mode."""
    field = _FIELD_OF.get(path, ".".join(path))
    if path == ("Mode",) and want[0] == found[0] == "replicated":
        return [FieldDrift(field="replicas", wanted=_text(want[1]), found=_text(found[1]))]
    if path == ("Mode",):
        return [FieldDrift(field=field, wanted=_text(want[0]), found=_text(found[0]))]
    if path in _BY_KEY:
        want, found = want or {}, found or {}
        return [
            FieldDrift(
                field=f"{field}.{_SUB_FIELD_OF.get(key, key)}",
                wanted=_text(_seconds(key, want.get(key))),
                found=_text(_seconds(key, found.get(key))),
            )
            for key in [*want, *(k for k in found if k not in want)]
            if want.get(key) != found.get(key)
        ]
    return [
        FieldDrift(
            field=field,
            wanted=_value_text(path, want, names),
            found=_value_text(path, found, names),
        )
    ]


def _env_changes(wanted: Any, found: Any) -> list[FieldDrift]:
    # Environment values often hold credentials: name the variables, never the values.
    def split(env: Any) -> dict[str, str]:
        return dict(str(item).partition("=")[::2] for item in env or ())

    want, have = split(wanted), split(found)
    return [
        FieldDrift(
            field=f"env.{key}",
            wanted="(set, value hidden)" if key in want else _text(None),
            found="(set, value hidden)" if key in have else _text(None),
        )
        for key in sorted(set(want) | set(have))
        if want.get(key) != have.get(key)
    ]


def diff(
    name: str,
    patch: Sequence[tuple[Path, Any]],
    stored: Mapping[str, Any],
    *,
    names: Mapping[str, str] | None = None,
) -> ServiceDiff:
    """Compare the fields a spec mentions (``patch``) with the stored engine spec.

    The differences read in the spec's words: field names, network names (``names``
    maps the engine's network ids to them; an id left out is shown as is), seconds,
    ports as ``published:target/protocol (mode)``, one line per key of a map.
    Environment variables are reported by name only (``env.PASSWORD``), never by value.
    """
    changes: list[FieldDrift] = []
    for path, wanted in patch:
        want, found = comparable(path, wanted), comparable(path, read_path(stored, path))
        if want == found:
            continue
        if path == ("TaskTemplate", "ContainerSpec", "Env"):
            changes.extend(_env_changes(want, found))
            continue
        changes.extend(_changes(path, want, found, names or {}))
    return ServiceDiff(service=name, changes=tuple(changes))


def apply(patch: Sequence[tuple[Path, Any]], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The stored spec with the patch's fields replaced; every other field is kept."""
    merged: dict[str, Any] = copy.deepcopy(dict(stored))
    for path, value in patch:
        node = merged
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[path[-1]] = copy.deepcopy(value)
    return merged


def mode_changed(patch: Sequence[tuple[Path, Any]], service: Service) -> str | None:
    """The new mode when the patch switches replicated/global (the engine refuses that)."""
    for path, value in patch:
        if path == ("Mode",):
            wanted = "global" if "Global" in value else "replicated"
            if wanted != service.mode:
                return wanted
    return None
