"""What applying a stack would change: per network and service, create, update, remove or
unchanged, with a field-level diff after normalisation.

How services are compared (and why ``docker stack deploy`` output shows no drift):
both the stored spec (the raw ``GET``, not ``insertDefaults``) and the spec the file
asks for go through one normaliser, :func:`service_view`, that reads a fixed set of
fields, keyed by their compose names (``deploy.replicas``, ``networks``…). Every field
in the set is compared whether the file sets it or not, so a label, a port or a
network removed from the file shows as a change (unlike ``ServicesAPI.ensure``, which
compares only what a spec mentions). Fields outside the set (``Privileges``, ``Init``,
``DNSConfig``, ``Isolation``… that the CLI or other tools always send) are never
compared. Within the set: empty equals absent, networks are compared by name with their
aliases sorted, env/ports/constraints sorted, ``EndpointSpec.Mode`` absent is ``vip``,
a port without protocol/mode is tcp/ingress, an image without tag is ``:latest`` and a
pinned ``@sha256:…`` is ignored, and restart/update/rollback policies are compared with
the engine's defaults filled in (an absent ``RestartPolicy`` equals ``condition: any,
delay: 5s``).

Networks cannot be changed in place (the engine has no network update, and ``docker
stack deploy`` never changes an existing one): a difference shows as an update that
:func:`swarmnet._stacks.apply.apply_plan` refuses before writing anything.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from swarmnet._core.engine import Engine
from swarmnet._core.errors import InvalidSpec
from swarmnet._networks.drift import FieldDrift
from swarmnet._networks.models import Network
from swarmnet._services.drift import apply as apply_patch
from swarmnet._services.models import Service
from swarmnet._stacks.model import NAMESPACE_LABEL, Stack, StackNetwork, StackService

_NS = 1_000_000_000
_RESTART_DEFAULTS = {"Condition": "any", "Delay": 5 * _NS, "MaxAttempts": 0, "Window": 0}
_UPDATE_DEFAULTS = {
    "Parallelism": 1,
    "Delay": 0,
    "FailureAction": "pause",
    "Monitor": 5 * _NS,
    "MaxFailureRatio": 0,
    "Order": "stop-first",
}


class StackAction(str, enum.Enum):
    """What applying a stack does to one object."""

    CREATE = "create"
    UPDATE = "update"
    REMOVE = "remove"
    UNCHANGED = "unchanged"


class ObjectKind(str, enum.Enum):
    """The kind of object a planned change is about."""

    NETWORK = "network"
    SERVICE = "service"


class PlannedChange(BaseModel):
    """One object of a plan.

    Attributes:
        kind: network or service.
        name: the object's name on the engine (``<stack>_<key>``).
        action: create, update, remove or unchanged.
        changes: the fields that differ, for updates (env values hidden).
        id: the object's id when it exists.
    """

    model_config = ConfigDict(frozen=True)

    kind: ObjectKind
    name: str
    action: StackAction
    changes: tuple[FieldDrift, ...] = ()
    id: str = ""

    def __str__(self) -> str:
        mark = {"create": "+", "update": "~", "remove": "-", "unchanged": "="}[self.action.value]
        head = f"{mark} {self.kind.value} {self.name}"
        return "\n".join([head, *(f"    {change}" for change in self.changes)])


class StackPlan(BaseModel):
    """Every object of a stack and what applying it would do, in apply order.

    ``bool(plan)`` is True when something would change. Order: networks to create,
    services to create or update, services to remove, networks to remove.

    Attributes:
        stack: the stack's name.
        prune: whether objects of the stack no longer in the file are removed.
        items: one :class:`PlannedChange` per object, unchanged ones included.
    """

    model_config = ConfigDict(frozen=True)

    stack: str
    prune: bool = False
    items: tuple[PlannedChange, ...] = ()

    @property
    def pending(self) -> tuple[PlannedChange, ...]:
        """The items that would change something."""
        return tuple(i for i in self.items if i.action is not StackAction.UNCHANGED)

    def __bool__(self) -> bool:
        return bool(self.pending)

    def __str__(self) -> str:
        if not self.pending:
            return f"stack {self.stack}: no changes ({len(self.items)} objects up to date)"
        lines = [f"stack {self.stack}: {len(self.pending)} change(s)"]
        lines += [str(item) for item in self.pending]
        return "\n".join(lines)


# -- normalising -----------------------------------------------------------------------


def _get(spec: Mapping[str, Any], *path: str) -> Any:
    value: Any = spec
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _image(text: str) -> str:
    text = text.split("@", 1)[0]
    last = text.rsplit("/", 1)[-1]
    return text if ":" in last else f"{text}:latest"


def _filled(block: Any, defaults: Mapping[str, Any], *, zeros_absent: bool) -> dict[str, Any]:
    """A policy block with the engine's defaults where it has nothing."""
    data = dict(block or {})
    if zeros_absent:
        # Go's omitempty drops zero durations: 0 and absent cannot be told apart.
        data = {k: v for k, v in data.items() if k == "Parallelism" or v not in (0, "", None)}
    out = {**defaults, **{k: v for k, v in data.items() if v is not None}}
    return {k: out[k] for k in sorted(out)}


def _seconds(block: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v / _NS if k in ("Delay", "Monitor", "Window") and isinstance(v, int) else v)
        for k, v in block.items()
    }


#: The engine's stop grace period when a spec names none (`docker stack deploy` stores it).
_DEFAULT_STOP_GRACE = 10.0


def _nanos_to_seconds(value: Any) -> float:
    return value / _NS if isinstance(value, int) else _DEFAULT_STOP_GRACE


def _ports(value: Any) -> list[str]:
    out = []
    for port in value or ():
        published = port.get("PublishedPort")
        text = f"{published}:" if published else ""
        text += f"{port.get('TargetPort')}/{port.get('Protocol') or 'tcp'}"
        out.append(f"{text} ({port.get('PublishMode') or 'ingress'})")
    return sorted(out)


def service_view(spec: Mapping[str, Any], network_names: Mapping[str, str]) -> dict[str, Any]:
    """The compared fields of an engine service spec, normalised, by compose key.

    ``network_names`` maps network ids to names (the engine stores ids).
    """
    container = _get(spec, "TaskTemplate", "ContainerSpec") or {}
    mode = spec.get("Mode") or {}
    networks = []
    for attachment in _get(spec, "TaskTemplate", "Networks") or spec.get("Networks") or ():
        target = str(attachment.get("Target", ""))
        name = network_names.get(target, target)
        aliases = sorted(set(attachment.get("Aliases") or ()))
        networks.append(f"{name} (aliases: {', '.join(aliases)})" if aliases else name)
    placement = _get(spec, "TaskTemplate", "Placement") or {}
    resources = _get(spec, "TaskTemplate", "Resources") or {}
    view: dict[str, Any] = {
        "image": _image(str(container.get("Image", ""))),
        "entrypoint": list(container.get("Command") or ()),
        "command": list(container.get("Args") or ()),
        "environment": sorted(container.get("Env") or ()),
        "labels": dict(sorted((container.get("Labels") or {}).items())),
        "deploy.labels": dict(sorted((spec.get("Labels") or {}).items())),
        "deploy.mode": "global" if "Global" in mode else "replicated",
        "deploy.replicas": None
        if "Global" in mode
        else (mode.get("Replicated") or {}).get("Replicas", 1),
        "networks": sorted(networks),
        "deploy.endpoint_mode": _get(spec, "EndpointSpec", "Mode") or "vip",
        "ports": _ports(_get(spec, "EndpointSpec", "Ports")),
        "deploy.placement.constraints": sorted(placement.get("Constraints") or ()),
        "deploy.placement.preferences": [
            _get(p, "Spread", "SpreadDescriptor") for p in placement.get("Preferences") or ()
        ],
        "deploy.placement.max_replicas_per_node": placement.get("MaxReplicas") or 0,
        "deploy.restart_policy": _seconds(
            _filled(
                _get(spec, "TaskTemplate", "RestartPolicy"),
                _RESTART_DEFAULTS,
                zeros_absent=False,
            )
        ),
        "deploy.update_config": _seconds(
            _filled(spec.get("UpdateConfig"), _UPDATE_DEFAULTS, zeros_absent=True)
        ),
        "deploy.rollback_config": _seconds(
            _filled(spec.get("RollbackConfig"), _UPDATE_DEFAULTS, zeros_absent=True)
        ),
        "stop_grace_period": _nanos_to_seconds(container.get("StopGracePeriod")),
        "stop_signal": container.get("StopSignal") or None,
        "deploy.resources.limits": {
            k: v for k, v in sorted((resources.get("Limits") or {}).items()) if v
        },
        "deploy.resources.reservations": {
            k: v for k, v in sorted((resources.get("Reservations") or {}).items()) if v
        },
    }
    return view


def desired_spec(service: StackService) -> dict[str, Any]:
    """The engine spec the file asks for, networks by name."""
    spec = service.spec
    return apply_patch(spec.patch({n: n for n in spec.network_names()}), {})


def _text(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "(absent)"
    return json.dumps(value, sort_keys=True)


def service_changes(wanted: Mapping[str, Any], found: Mapping[str, Any]) -> tuple[FieldDrift, ...]:
    """The differing fields of two :func:`service_view` s; env values are never shown."""
    changes: list[FieldDrift] = []
    for key, want in wanted.items():
        have = found.get(key)
        if want == have:
            continue
        if key == "environment":
            w = dict(str(e).partition("=")[::2] for e in want)
            h = dict(str(e).partition("=")[::2] for e in have or ())
            for name in sorted(set(w) | set(h)):
                if w.get(name) != h.get(name):
                    changes.append(
                        FieldDrift(
                            field=f"environment.{name}",
                            wanted="(set, value hidden)" if name in w else "(absent)",
                            found="(set, value hidden)" if name in h else "(absent)",
                        )
                    )
            continue
        if isinstance(want, dict) and isinstance(have, dict) and key.endswith("labels"):
            for label in sorted(set(want) | set(have)):
                if want.get(label) != have.get(label):
                    changes.append(
                        FieldDrift(
                            field=f"{key}.{label}",
                            wanted=_text(want.get(label)),
                            found=_text(have.get(label)),
                        )
                    )
            continue
        changes.append(FieldDrift(field=key, wanted=_text(want), found=_text(have)))
    return tuple(changes)


def network_changes(network: StackNetwork, found: Network) -> tuple[FieldDrift, ...]:
    """What differs between a stack network and the existing one.

    Compared: driver, attachable, internal, labels, the subnets the file gives and the
    driver options the file gives (the engine adds its own, such as the VXLAN id).
    Gateway, ip_range and aux addresses are not compared: ``docker stack deploy``
    copies only the subnet, so a network it made would never match them.
    """
    spec = network.spec
    if spec is None:
        return ()
    pairs: list[tuple[str, Any, Any]] = [
        ("driver", spec.driver, found.driver),
        ("attachable", spec.attachable, found.attachable),
        ("internal", spec.internal, found.internal),
    ]
    for label in sorted(set(spec.labels) | set(found.labels)):
        pairs.append((f"labels.{label}", spec.labels.get(label), found.labels.get(label)))
    if spec.pools:
        pairs.append(
            (
                "ipam.config.subnet",
                sorted(str(p.subnet) for p in spec.pools),
                sorted(str(p.subnet) for p in found.ipam.config),
            )
        )
    for key, value in sorted(spec.driver_options().items()):
        pairs.append((f"driver_opts.{key}", value, found.options.get(key)))
    return tuple(
        FieldDrift(field=field, wanted=_text(want), found=_text(have))
        for field, want, have in pairs
        if want != have
    )


# -- planning --------------------------------------------------------------------------


class StackState(BaseModel):
    """What the engine holds that matters to one stack (read once per plan)."""

    model_config = ConfigDict(frozen=True)

    networks: tuple[Network, ...]
    services: tuple[Service, ...]

    def network_names(self) -> dict[str, str]:
        """Network id -> name."""
        return {n.id: n.name for n in self.networks}


async def read_state(engine: Engine) -> StackState:
    """Read the swarm's networks and services (two requests)."""
    networks = await engine.networks.list()
    services = await engine.services.list()
    return StackState(networks=current_networks(networks), services=services)


def current_networks(networks: Sequence[Network]) -> tuple[Network, ...]:
    """``networks`` without the local copies a manager keeps of removed swarm networks.

    Those linger until their last endpoint on the node is gone; only the swarm's own
    record (``swarm_record``) says the network still exists.
    """
    return tuple(n for n in networks if n.scope.value != "swarm" or n.swarm_record)


def make_plan(stack: Stack, state: StackState, *, prune: bool = False) -> StackPlan:
    """Compare ``stack`` with ``state``; see the module docstring for how.

    Raises:
        InvalidSpec: an external network does not exist (or is not swarm-scoped), or a
            service of the stack's name exists without the stack's label (the CLI
            would get a conflict half-way through).
    """
    by_name: dict[str, list[Network]] = {}
    for network in state.networks:
        by_name.setdefault(network.name, []).append(network)
    services = {s.name: s for s in state.services}
    items: list[PlannedChange] = []
    for wanted in stack.networks:
        found = by_name.get(wanted.name, [])
        if wanted.external:
            if not found:
                raise InvalidSpec(
                    f"{stack.source}: networks.{wanted.key}: external network "
                    f"{wanted.name!r} does not exist; create it first"
                )
            if found[0].scope.value != "swarm":
                raise InvalidSpec(
                    f"{stack.source}: networks.{wanted.key}: external network "
                    f"{wanted.name!r} is {found[0].scope.value}-scoped; services need a "
                    "swarm-scoped network"
                )
            continue
        if not found:
            items.append(
                PlannedChange(kind=ObjectKind.NETWORK, name=wanted.name, action=StackAction.CREATE)
            )
            continue
        changes = network_changes(wanted, found[0])
        items.append(
            PlannedChange(
                kind=ObjectKind.NETWORK,
                name=wanted.name,
                action=StackAction.UPDATE if changes else StackAction.UNCHANGED,
                changes=changes,
                id=found[0].id,
            )
        )
    names = state.network_names()
    for service in stack.services:
        existing = services.get(service.name)
        if existing is None:
            items.append(
                PlannedChange(kind=ObjectKind.SERVICE, name=service.name, action=StackAction.CREATE)
            )
            continue
        if existing.labels.get(NAMESPACE_LABEL) != stack.name:
            raise InvalidSpec(
                f"service {service.name} exists but is not part of stack {stack.name} "
                f"(label {NAMESPACE_LABEL} is {existing.labels.get(NAMESPACE_LABEL)!r}); "
                "remove or rename it first"
            )
        changes = service_changes(
            service_view(desired_spec(service), {}),
            service_view(existing.spec_payload, names),
        )
        items.append(
            PlannedChange(
                kind=ObjectKind.SERVICE,
                name=service.name,
                action=StackAction.UPDATE if changes else StackAction.UNCHANGED,
                changes=changes,
                id=existing.id,
            )
        )
    if prune:
        wanted_services = {s.name for s in stack.services}
        for existing in sorted(state.services, key=lambda s: s.name):
            if (
                existing.labels.get(NAMESPACE_LABEL) == stack.name
                and existing.name not in wanted_services
            ):
                items.append(
                    PlannedChange(
                        kind=ObjectKind.SERVICE,
                        name=existing.name,
                        action=StackAction.REMOVE,
                        id=existing.id,
                    )
                )
        wanted_networks = {n.name for n in stack.networks}
        seen: set[str] = set()
        for network in sorted(state.networks, key=lambda n: n.name):
            if (
                network.labels.get(NAMESPACE_LABEL) == stack.name
                and network.name not in wanted_networks
                and network.name not in seen
            ):
                seen.add(network.name)
                items.append(
                    PlannedChange(
                        kind=ObjectKind.NETWORK,
                        name=network.name,
                        action=StackAction.REMOVE,
                        id=network.id,
                    )
                )
    return StackPlan(stack=stack.name, prune=prune, items=tuple(items))


async def plan_stack(engine: Engine, stack: Stack, *, prune: bool = False) -> StackPlan:
    """Read the engine (a swarm manager) and plan ``stack`` against it; writes nothing."""
    return make_plan(stack, await read_state(engine), prune=prune)


def pending_names(plan: StackPlan, kind: ObjectKind, actions: Sequence[StackAction]) -> list[str]:
    """The names of the plan's objects of ``kind`` whose action is one of ``actions``."""
    return [i.name for i in plan.items if i.kind is kind and i.action in actions]
