"""A stack: a compose file converted the way ``docker stack deploy`` converts it.

:meth:`Stack.from_compose` reads the file (:func:`read_compose`) and builds typed
specs: one :class:`StackNetwork` per network a service uses (``<stack>_<key>``, or its
``name:``; external ones only referenced) and one :class:`StackService` per service
(``<stack>_<key>``). Names, labels and converted fields follow docker/cli's
``cli/compose/convert`` (SWARM-OBJECT-NOTES, B): the ``com.docker.stack.namespace``
label on every object and on containers, ``com.docker.stack.image`` on services, a
``<stack>_default`` overlay for services that name no network, aliases = the listed
ones plus the service key, entrypoint -> Command, command -> Args.

Every spec is validated while the file is read; an error names the file, the line and
the key (``stack.yaml:14: services.web.deploy.replicas: …``), and nothing is written.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from swarmnet._core.errors import InvalidSpec
from swarmnet._core.log import get_logger
from swarmnet._networks.specs import IPAMPool, OverlaySpec
from swarmnet._services.specs import (
    PublishedPort,
    Resources,
    RestartPolicy,
    ServiceNetwork,
    ServiceSpec,
    UpdateSettings,
)
from swarmnet._stacks.compose import ComposeSource, KeyPath, read_compose
from swarmnet._stacks.interpolate import read_env_file

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine
    from swarmnet._stacks.apply import ProgressCallback, StackApplyResult
    from swarmnet._stacks.plan import StackPlan

_log = get_logger("swarmnet.stacks")

#: The label ``docker stack deploy`` puts on every object of a stack (and containers).
NAMESPACE_LABEL = "com.docker.stack.namespace"
#: The label holding the image a service's file asked for (services only).
IMAGE_LABEL = "com.docker.stack.image"
#: The compose key of the network services get when they name none.
DEFAULT_NETWORK = "default"

_STACK_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_RESTART_CONDITIONS = {"none": "none", "on-failure": "on-failure", "any": "any"}
# The top-level ``restart:`` values and the restart policy the CLI converts them to.
_RESTART_WORDS = {"no": "none", "always": "any", "on-failure": "on-failure"}


class StackNetwork(BaseModel):
    """One network of a stack.

    Attributes:
        key: its key in the file (``default`` for the implicit one).
        name: its name on the engine (``<stack>_<key>``, its ``name:``, or for an
            external network the existing network's name).
        external: True when the stack only uses it (never creates or removes it).
        spec: the overlay to create (None for external networks).
    """

    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    external: bool = False
    spec: OverlaySpec | None = None


class StackService(BaseModel):
    """One service of a stack.

    Attributes:
        key: its key in the file.
        spec: the full service spec, every compared field set (so an apply also
            removes what the file no longer says).
        image: the image as the file names it (the ``com.docker.stack.image`` label).
    """

    model_config = ConfigDict(frozen=True)

    key: str
    spec: ServiceSpec
    image: str

    @property
    def name(self) -> str:
        """The service's name on the engine (``<stack>_<key>``)."""
        return self.spec.name


class Stack(BaseModel):
    """A stack read from a compose file: its networks and services as typed specs.

    Example::

        stack = swarmnet.Stack.from_compose("stack.yaml", name="shop")
        plan = await stack.plan(engine)          # what would change
        print(plan)                              # "+ service shop_web", …
        result = await stack.apply(engine)       # networks, then services; converged

    Attributes:
        name: the stack's name (the ``com.docker.stack.namespace`` label).
        networks: the networks the services use, in file order.
        services: the services, in file order.
        ignored: compose keys swarmnet does not apply (``services.web.healthcheck``).
        source: the file read.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    networks: tuple[StackNetwork, ...]
    services: tuple[StackService, ...]
    ignored: tuple[str, ...] = ()
    source: str = ""

    @classmethod
    def from_compose(
        cls,
        path: str | Path,
        *,
        name: str,
        env: Mapping[str, str] | None = None,
        env_file: str | Path | None = None,
        strict: bool = False,
    ) -> Stack:
        """Read a compose file into a stack named ``name``.

        Args:
            path: the compose file.
            name: the stack's name (``docker stack deploy … NAME``).
            env: variables for ``${VAR}`` and bare ``environment`` keys (default: the
                process environment).
            env_file: a ``KEY=value`` file under ``env`` (default: none).
            strict: refuse keys swarmnet does not apply instead of listing them in
                :attr:`ignored` (default: False).

        Raises:
            InvalidSpec: the file or a value in it is invalid; the message names the
                file, the line and the key. Nothing is ever written.
        """
        if not _STACK_NAME.fullmatch(name):
            raise InvalidSpec(
                f"stack name {name!r}: use letters, digits, '_', '.' or '-', "
                "starting with a letter or digit"
            )
        variables = dict(read_env_file(env_file)) if env_file is not None else {}
        variables.update(_os_environ() if env is None else env)
        source = read_compose(path, env=variables, strict=strict)
        stack = _Converter(source, name, variables).stack()
        if stack.ignored:
            # One warning for the whole file, not one per key.
            _log.warning("stack.keys_ignored", file=str(path), keys=list(stack.ignored))
        return stack

    async def plan(self, engine: Engine, *, prune: bool = False) -> StackPlan:
        """What applying this stack to ``engine`` (a swarm manager) would change.

        Reads the swarm's networks and services (two requests) and writes nothing.

        Args:
            engine: a manager of the swarm.
            prune: also plan the removal of this stack's services and networks that
                the file no longer has (default: False).

        Raises:
            InvalidSpec: an external network is missing, or a service of a stack
                name exists outside the stack.
        """
        from swarmnet._stacks.plan import plan_stack

        return await plan_stack(engine, self, prune=prune)

    async def apply(
        self,
        engine: Engine,
        *,
        prune: bool = False,
        wait: bool = True,
        timeout: float = 300.0,
        on_progress: ProgressCallback | None = None,
    ) -> StackApplyResult:
        """Make the swarm match this stack, in dependency order, and wait for it.

        Networks are created before the services that use them; services are
        created or updated (only those that differ), then waited on until converged
        (``on_progress`` gets a :class:`StackStep` per step and per progress change);
        with ``prune``, services the file no longer has are removed, then its networks.

        Args:
            engine: a manager of the swarm.
            prune: remove objects of the stack the file no longer has (default: False).
            wait: wait until created or updated services converge (default: True).
            timeout: seconds each service may take to converge (default: 300).
            on_progress: called (sync or async) with each :class:`StackStep`.

        Raises:
            InvalidSpec: a network would have to change in place, or a service's mode;
                nothing was written.
            StackApplyFailed: a step failed; ``.result`` holds what was and was not done.
        """
        from swarmnet._stacks.apply import apply_stack

        return await apply_stack(
            engine, self, prune=prune, wait=wait, timeout=timeout, on_progress=on_progress
        )

    @property
    def labels(self) -> dict[str, str]:
        """The label every object of this stack carries."""
        return {NAMESPACE_LABEL: self.name}

    def network(self, key: str) -> StackNetwork:
        """The network of compose key ``key``.

        Raises:
            KeyError: no such network in the stack.
        """
        for network in self.networks:
            if network.key == key:
                return network
        raise KeyError(key)

    def service(self, key: str) -> StackService:
        """The service of compose key ``key``.

        Raises:
            KeyError: no such service in the stack.
        """
        for service in self.services:
            if service.key == key:
                return service
        raise KeyError(key)


def _os_environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def parse_duration(text: Any) -> float:
    """A Go duration (``1m30s``, ``500ms``) or plain seconds, as seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    if not isinstance(text, str) or not text:
        raise ValueError(f"{text!r} is no duration: write e.g. 10s, 1m30s, 500ms")
    total, at = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != at:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        at = match.end()
    if at != len(text):
        raise ValueError(f"{text!r} is no duration: write e.g. 10s, 1m30s, 500ms")
    return total


def parse_memory(text: Any) -> int:
    """``50M``, ``1g``, ``1048576`` as bytes (powers of 1024, as the docker CLI reads them)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _MEMORY.fullmatch(str(text).strip())
    if match is None:
        raise ValueError(f"{text!r} is no size: write e.g. 64M, 1G or a number of bytes")
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])


class _Converter:
    """One compose file to a :class:`Stack`, with errors that name file, line and key."""

    def __init__(self, source: ComposeSource, name: str, env: Mapping[str, str]) -> None:
        self.source = source
        self.name = name
        self.env = env
        self.data = source.data

    def fail(self, at: KeyPath, message: str) -> InvalidSpec:
        return self.source.error(at, message)

    def mapping(self, value: Any, at: KeyPath) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(at, f"expected a mapping, found {type(value).__name__}")
        return value

    def strings(self, value: Any, at: KeyPath) -> dict[str, str]:
        """A ``labels``-like mapping or ``KEY=value`` list, as strings."""
        if value is None:
            return {}
        if isinstance(value, list):
            out: dict[str, str] = {}
            for index, item in enumerate(value):
                key, sep, text = str(item).partition("=")
                if not key:
                    raise self.fail((*at, index), f"{item!r} has no key")
                out[key] = text if sep else ""
            return out
        return {str(k): _scalar(v) for k, v in self.mapping(value, at).items()}

    def words(self, value: Any, at: KeyPath) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return tuple(shlex.split(value))
            except ValueError as exc:
                raise self.fail(at, f"cannot split {value!r} into words: {exc}") from exc
        if isinstance(value, list):
            return tuple(_scalar(v) for v in value)
        raise self.fail(at, "expected a string or a list of strings")

    # -- networks ----------------------------------------------------------------------

    def stack(self) -> Stack:
        declared = self.mapping(self.data.get("networks"), ("networks",))
        services = self.mapping(self.data.get("services"), ("services",))
        used: list[str] = []
        converted: list[StackService] = []
        for key, body in services.items():
            at: KeyPath = ("services", key)
            service_networks = self.service_networks(key, body, at)
            for network_key, _ in service_networks:
                if network_key != DEFAULT_NETWORK and network_key not in declared:
                    raise self.fail(
                        (*at, "networks"),
                        f"service {key!r} uses network {network_key!r}, which the "
                        "top-level networks do not declare",
                    )
                if network_key not in used:
                    used.append(network_key)
            converted.append(self.service(key, self.mapping(body, at), service_networks))
        order = [*(k for k in declared if k in used), *(k for k in used if k not in declared)]
        networks = tuple(self.network(key, declared.get(key)) for key in order)
        names = {n.key: n.name for n in networks}
        # Service specs name their networks by key until now; give them engine names.
        final = tuple(
            StackService(
                key=s.key,
                image=s.image,
                spec=s.spec.model_copy(
                    update={
                        "networks": tuple(
                            n.model_copy(update={"target": names[n.target]})
                            for n in s.spec.networks or ()
                        )
                    }
                ),
            )
            for s in converted
        )
        return Stack(
            name=self.name,
            networks=networks,
            services=final,
            ignored=tuple(self.source.ignored),
            source=str(self.source.path),
        )

    def network(self, key: str, body: Any) -> StackNetwork:
        at: KeyPath = ("networks", key)
        data = self.mapping(body, at)
        external = data.get("external")
        if isinstance(external, dict):
            return StackNetwork(key=key, name=str(external.get("name") or key), external=True)
        if external:
            return StackNetwork(key=key, name=str(data.get("name") or key), external=True)
        name = str(data.get("name") or f"{self.name}_{key}")
        driver = data.get("driver") or "overlay"
        if driver != "overlay":
            raise self.fail(
                (*at, "driver"),
                f"driver {driver!r}: a stack's networks are swarm overlays; "
                "use external: true for others",
            )
        labels = {**self.strings(data.get("labels"), (*at, "labels")), NAMESPACE_LABEL: self.name}
        options = self.strings(data.get("driver_opts"), (*at, "driver_opts"))
        ipam = self.mapping(data.get("ipam"), (*at, "ipam"))
        pools = []
        for index, pool in enumerate(ipam.get("config") or ()):
            pool_at = (*at, "ipam", "config", index)
            pool = self.mapping(pool, pool_at)
            try:
                pools.append(
                    IPAMPool(
                        subnet=pool.get("subnet"),
                        gateway=pool.get("gateway"),
                        ip_range=pool.get("ip_range"),
                        aux_addresses=self.strings(
                            pool.get("aux_addresses"), (*pool_at, "aux_addresses")
                        ),
                    )
                )
            except (ValueError, InvalidSpec) as exc:
                raise self.fail(pool_at, _message(exc)) from None
        try:
            spec = OverlaySpec(
                name=name,
                labels=labels,
                attachable=bool(data.get("attachable", False)),
                internal=bool(data.get("internal", False)),
                pools=tuple(pools),
                extra_options=options,
            )
        except (ValueError, InvalidSpec) as exc:
            raise self.fail(at, _message(exc)) from None
        return StackNetwork(key=key, name=name, spec=spec)

    # -- services ----------------------------------------------------------------------

    def service_networks(
        self, key: str, body: Any, at: KeyPath
    ) -> list[tuple[str, tuple[str, ...]]]:
        value = self.mapping(body, at).get("networks")
        at = (*at, "networks")
        if value is None:
            return [(DEFAULT_NETWORK, ())]
        out: list[tuple[str, tuple[str, ...]]] = []
        if isinstance(value, list):
            out = [(str(item), ()) for item in value]
        elif isinstance(value, dict):
            for name, settings in value.items():
                settings = self.mapping(settings, (*at, name))
                aliases = settings.get("aliases") or []
                if not isinstance(aliases, list):
                    raise self.fail((*at, name, "aliases"), "expected a list of names")
                out.append((str(name), tuple(str(a) for a in aliases)))
        else:
            raise self.fail(at, "expected a list of network names or a mapping")
        if not out:
            return [(DEFAULT_NETWORK, ())]
        return out

    def service(
        self, key: str, body: dict[str, Any], networks: list[tuple[str, tuple[str, ...]]]
    ) -> StackService:
        at: KeyPath = ("services", key)
        image = body.get("image")
        if not isinstance(image, str) or not image:
            raise self.fail((*at, "image"), "every service needs an image")
        deploy = self.mapping(body.get("deploy"), (*at, "deploy"))
        dat = (*at, "deploy")
        mode = deploy.get("mode") or "replicated"
        if mode not in ("replicated", "global"):
            raise self.fail((*dat, "mode"), f"{mode!r}: use replicated or global")
        replicas = deploy.get("replicas")
        if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool)):
            try:
                replicas = int(str(replicas))
            except ValueError:
                raise self.fail((*dat, "replicas"), f"{replicas!r} is not a number") from None
        if mode == "global" and replicas is not None:
            raise self.fail((*dat, "replicas"), "a global service runs one task per node")
        placement = self.mapping(deploy.get("placement"), (*dat, "placement"))
        pat = (*dat, "placement")
        preferences = []
        for index, item in enumerate(placement.get("preferences") or ()):
            spread = self.mapping(item, (*pat, "preferences", index)).get("spread")
            if not spread:
                raise self.fail((*pat, "preferences", index), "write {spread: node.labels.KEY}")
            preferences.append(str(spread))
        resources = self.mapping(deploy.get("resources"), (*dat, "resources"))
        fields: dict[str, Any] = {
            "name": f"{self.name}_{key}",
            "image": image,
            "command": self.words(body.get("entrypoint"), (*at, "entrypoint")) or (),
            "args": self.words(body.get("command"), (*at, "command")) or (),
            "env": self.environment(body, at),
            "labels": {
                **self.strings(deploy.get("labels"), (*dat, "labels")),
                NAMESPACE_LABEL: self.name,
                IMAGE_LABEL: image,
            },
            "container_labels": {
                **self.strings(body.get("labels"), (*at, "labels")),
                NAMESPACE_LABEL: self.name,
            },
            "mode": mode,
            "replicas": (1 if replicas is None else replicas) if mode == "replicated" else None,
            "networks": tuple(
                ServiceNetwork(target=net, aliases=tuple(sorted({*aliases, key})))
                for net, aliases in networks
            ),
            "endpoint_mode": deploy.get("endpoint_mode") or "vip",
            "ports": self.ports(body.get("ports"), (*at, "ports")),
            "constraints": tuple(str(c) for c in placement.get("constraints") or ()),
            "preferences": tuple(preferences),
            "max_replicas_per_node": placement.get("max_replicas_per_node") or 0,
            "restart_policy": self.restart_policy(body, at),
            "update_config": self.update(deploy.get("update_config"), (*dat, "update_config")),
            "rollback_config": self.update(
                deploy.get("rollback_config"), (*dat, "rollback_config")
            ),
            "stop_grace_period": self.duration(body.get("stop_grace_period"), at),
            "stop_signal": None if body.get("stop_signal") is None else str(body["stop_signal"]),
            "limits": self.resources(resources.get("limits"), (*dat, "resources", "limits")),
            "reservations": self.resources(
                resources.get("reservations"), (*dat, "resources", "reservations")
            ),
        }
        try:
            spec = ServiceSpec(**fields)
        except InvalidSpec as exc:
            problems = getattr(exc, "problems", None)
            if problems:
                loc, message = problems[0]
                raise self.fail(
                    (*at, *_COMPOSE_PATH.get(str(loc[0]) if loc else "", ())), message
                ) from None
            raise self.fail(at, _message(exc)) from None
        return StackService(key=key, spec=spec, image=image)

    def environment(self, body: dict[str, Any], at: KeyPath) -> dict[str, str]:
        env: dict[str, str] = {}
        files = body.get("env_file")
        for index, file in enumerate([files] if isinstance(files, str) else files or ()):
            path = Path(str(file))
            if not path.is_absolute():
                path = self.source.path.parent / path
            try:
                env.update(read_env_file(path))
            except (OSError, InvalidSpec) as exc:
                raise self.fail((*at, "env_file", index), _message(exc)) from None
        value = body.get("environment")
        if isinstance(value, list):
            for index, item in enumerate(value):
                key, sep, text = str(item).partition("=")
                env[key] = text if sep else self.lookup(key, (*at, "environment", index))
        elif value is not None:
            for key, item in self.mapping(value, (*at, "environment")).items():
                env[str(key)] = (
                    self.lookup(str(key), (*at, "environment", key))
                    if item is None
                    else _scalar(item)
                )
        return env

    def lookup(self, key: str, at: KeyPath) -> str:
        # The CLI would send a bare ``KEY`` (no value); swarmnet asks for one.
        if key not in self.env:
            raise self.fail(at, f"{key} has no value here and is not set in the environment")
        return self.env[key]

    def ports(self, value: Any, at: KeyPath) -> tuple[PublishedPort, ...]:
        out: list[PublishedPort] = []
        for index, item in enumerate(value or ()):
            port_at = (*at, index)
            try:
                if isinstance(item, dict):
                    out.append(
                        PublishedPort(
                            target=item.get("target"),
                            published=item.get("published"),
                            protocol=item.get("protocol") or "tcp",
                            mode=item.get("mode") or "ingress",
                        )
                    )
                else:
                    out.extend(_short_ports(str(item)))
            except (ValueError, InvalidSpec) as exc:
                raise self.fail(port_at, _message(exc)) from None
        return tuple(out)

    def restart_policy(self, body: dict[str, Any], at: KeyPath) -> RestartPolicy:
        deploy = self.mapping(body.get("deploy"), (*at, "deploy"))
        policy = deploy.get("restart_policy")
        rat = (*at, "deploy", "restart_policy")
        if policy is None and body.get("restart") is not None:
            # The CLI warns that `restart` is unsupported, then converts it anyway.
            word = str(body["restart"])
            condition = _RESTART_WORDS.get(word)
            if condition is None and word == "unless-stopped":
                condition = "any"
            if condition is None:
                raise self.fail((*at, "restart"), f"{word!r}: no, always or on-failure")
            return RestartPolicy(condition=condition)
        data = self.mapping(policy, rat)
        try:
            fields: dict[str, Any] = {}
            if "condition" in data:
                fields["condition"] = _RESTART_CONDITIONS.get(str(data["condition"]), "?")
            for name in ("delay", "window"):
                if data.get(name) is not None:
                    fields[name] = parse_duration(data[name])
            if data.get("max_attempts") is not None:
                fields["max_attempts"] = data["max_attempts"]
            return RestartPolicy(**fields)
        except (ValueError, InvalidSpec) as exc:
            raise self.fail(rat, _message(exc)) from None

    def duration(self, value: Any, at: KeyPath) -> float | None:
        """``stop_grace_period``, in seconds (None when the file does not give it)."""
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail((*at, "stop_grace_period"), _message(exc)) from None

    def update(self, value: Any, at: KeyPath) -> UpdateSettings:
        data = self.mapping(value, at)
        try:
            fields: dict[str, Any] = {}
            for name in ("parallelism", "failure_action", "max_failure_ratio", "order"):
                if data.get(name) is not None:
                    fields[name] = data[name]
            for name in ("delay", "monitor"):
                if data.get(name) is not None:
                    fields[name] = parse_duration(data[name])
            return UpdateSettings(**fields)
        except (ValueError, InvalidSpec) as exc:
            raise self.fail(at, _message(exc)) from None

    def resources(self, value: Any, at: KeyPath) -> Resources:
        data = self.mapping(value, at)
        try:
            cpus = data.get("cpus")
            memory = data.get("memory")
            return Resources(
                cpus=None if cpus is None else float(cpus),
                memory=None if memory is None else parse_memory(memory),
            )
        except (ValueError, InvalidSpec) as exc:
            raise self.fail(at, _message(exc)) from None


# Where a ServiceSpec field stands in a compose service.
_COMPOSE_PATH: Mapping[str, KeyPath] = {
    "name": (),
    "image": ("image",),
    "command": ("entrypoint",),
    "args": ("command",),
    "env": ("environment",),
    "labels": ("deploy", "labels"),
    "container_labels": ("labels",),
    "mode": ("deploy", "mode"),
    "replicas": ("deploy", "replicas"),
    "networks": ("networks",),
    "endpoint_mode": ("deploy", "endpoint_mode"),
    "ports": ("ports",),
    "constraints": ("deploy", "placement", "constraints"),
    "preferences": ("deploy", "placement", "preferences"),
    "max_replicas_per_node": ("deploy", "placement", "max_replicas_per_node"),
    "stop_grace_period": ("stop_grace_period",),
    "stop_signal": ("stop_signal",),
}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _message(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if "validation error" not in text else _pydantic(exc)


def _pydantic(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        msg = str(first.get("msg", "")).removeprefix("Value error, ")
        return f"{loc}: {msg}" if loc else msg
    return str(exc)


def _port_range(text: str) -> list[int]:
    start, sep, end = text.partition("-")
    if not start.isdigit() or (sep and not end.isdigit()):
        raise ValueError(f"{text!r} is not a port or a port range")
    first, last = int(start), int(end) if sep else int(start)
    if last < first:
        raise ValueError(f"port range {text!r} runs backwards")
    return list(range(first, last + 1))


def _short_ports(text: str) -> list[PublishedPort]:
    """``[published:]target[/protocol]`` with ranges, as the CLI converts it."""
    spec, _, protocol = text.partition("/")
    parts = spec.split(":")
    if len(parts) > 2:
        raise ValueError(
            f"{text!r}: a host IP cannot be given for a swarm service's published port"
        )
    targets = _port_range(parts[-1])
    published: list[int | None] = (
        list(_port_range(parts[0])) if len(parts) == 2 else [None] * len(targets)
    )
    if len(published) != len(targets):
        raise ValueError(f"{text!r}: the published and target ranges differ in length")
    proto: Literal["tcp", "udp", "sctp"] = "tcp"
    if protocol:
        if protocol not in ("tcp", "udp", "sctp"):
            raise ValueError(f"{text!r}: protocol {protocol!r} is not tcp, udp or sctp")
        proto = protocol  # type: ignore[assignment]
    return [
        PublishedPort(target=t, published=p, protocol=proto, mode="ingress")
        for t, p in zip(targets, published, strict=True)
    ]
