"""Reading a compose file the way ``docker stack deploy`` reads it, keeping line numbers.

The file is parsed once into plain data with the line of every key remembered, every
string value is interpolated (:mod:`swarmnet._stacks.interpolate`), and the keys that
shape networks and services are checked against the subset swarmnet applies. Anything
else is collected into one list of ignored keys (an error with ``strict``), never
dropped silently. Errors name the file, the line and the key path
(``compose.yaml:12: services.web.deploy.replicas: …``).

Needs PyYAML (``pip install 'swarmnet[stacks]'``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmnet._core.errors import InvalidSpec, MissingExtra
from swarmnet._stacks.interpolate import InterpolationError, interpolate, read_env_file

KeyPath = tuple[str | int, ...]

#: Compose file versions ``docker stack deploy`` accepts (20.10: 3.0-3.9; 28.x: to 3.13).
SUPPORTED_VERSIONS = ("3", *(f"3.{minor}" for minor in range(14)))

# The subset applied, as nested key sets: a dict maps a key to its children's schema,
# ``None`` is a leaf, ``"*"`` stands for any name (a network's or a service's key).
_IPAM_CONFIG = {"subnet": None, "ip_range": None, "gateway": None, "aux_addresses": None}
_UPDATE = {
    key: None
    for key in (
        "parallelism",
        "delay",
        "failure_action",
        "monitor",
        "max_failure_ratio",
        "order",
    )
}
_SCHEMA: dict[str, Any] = {
    "version": None,
    "networks": {
        "*": {
            "driver": None,
            "driver_opts": None,
            "attachable": None,
            "internal": None,
            "labels": None,
            "name": None,
            "external": None,
            "ipam": {"driver": None, "config": [_IPAM_CONFIG], "options": None},
        }
    },
    "services": {
        "*": {
            "image": None,
            "command": None,
            "entrypoint": None,
            "environment": None,
            "env_file": None,
            "labels": None,
            "networks": None,  # a list of names, or a map checked below
            "ports": None,  # short strings or long maps, checked by the model
            "restart": None,
            "stop_grace_period": None,
            "stop_signal": None,
            "deploy": {
                "mode": None,
                "replicas": None,
                "endpoint_mode": None,
                "labels": None,
                "placement": {
                    "constraints": None,
                    "preferences": None,
                    "max_replicas_per_node": None,
                },
                "resources": {
                    "limits": {"cpus": None, "memory": None},
                    "reservations": {"cpus": None, "memory": None},
                },
                "restart_policy": {
                    "condition": None,
                    "delay": None,
                    "max_attempts": None,
                    "window": None,
                },
                "update_config": _UPDATE,
                "rollback_config": _UPDATE,
            },
        }
    },
}
_SERVICE_NETWORK = {"aliases", "ipv4_address"}


def format_path(path: KeyPath) -> str:
    """``("services", "web", "ports", 0)`` as ``services.web.ports[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass
class ComposeSource:
    """A compose file read into plain data, with where each key stood."""

    path: Path
    data: dict[str, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    def where(self, path: Sequence[str | int]) -> str:
        """``file:line: key.path`` for the nearest line known for ``path``."""
        probe = tuple(path)
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        location = f"{self.path}:{line}" if line else str(self.path)
        return f"{location}: {format_path(tuple(path))}" if path else location

    def error(self, path: Sequence[str | int], message: str) -> InvalidSpec:
        return InvalidSpec(f"{self.where(path)}: {message}")


def _load_yaml(path: Path, text: str) -> tuple[Any, dict[KeyPath, int]]:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise MissingExtra(
            "reading compose files needs PyYAML: pip install 'swarmnet[stacks]'"
        ) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise InvalidSpec(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    lines: dict[KeyPath, int] = {}
    constructor = yaml.SafeLoader(text)

    def build(node: Any, at: KeyPath) -> Any:
        lines.setdefault(at, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(constructor.construct_object(key_node))
                if key == "<<":
                    raise InvalidSpec(
                        f"{path}:{key_node.start_mark.line + 1}: YAML merge keys (<<) "
                        "are not supported; write the keys out"
                    )
                key_path = (*at, key)
                lines[key_path] = key_node.start_mark.line + 1
                result[key] = build(value_node, key_path)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*at, index)) for index, item in enumerate(node.value)]
        return constructor.construct_object(node)

    return (build(root, ()) if root is not None else None), lines


def _interpolate_tree(source: ComposeSource, env: Mapping[str, str]) -> None:
    def walk(value: Any, at: KeyPath) -> Any:
        if isinstance(value, str):
            try:
                return interpolate(value, env)
            except InterpolationError as exc:
                raise source.error(at, str(exc)) from exc
        if isinstance(value, dict):
            return {key: walk(item, (*at, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*at, index)) for index, item in enumerate(value)]
        return value

    source.data = walk(source.data, ())


def _collect_ignored(source: ComposeSource) -> None:
    def walk(value: Any, schema: Any, at: KeyPath) -> None:
        if schema is None or not isinstance(value, dict | list):
            return
        if isinstance(schema, list):
            for index, item in enumerate(value if isinstance(value, list) else ()):
                walk(item, schema[0], (*at, index))
            return
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            if key.startswith("x-"):
                continue  # extension fields are the file's own business
            if "*" in schema:
                walk(item, schema["*"], (*at, key))
            elif key in schema:
                walk(item, schema[key], (*at, key))
            else:
                source.ignored.append(format_path((*at, key)))

    walk(source.data, _SCHEMA, ())
    for name, service in (source.data.get("services") or {}).items():
        networks = service.get("networks") if isinstance(service, dict) else None
        if isinstance(networks, dict):
            for network, settings in networks.items():
                for key in settings or {}:
                    if key not in _SERVICE_NETWORK:
                        source.ignored.append(
                            format_path(("services", name, "networks", network, key))
                        )


def read_compose(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    env_file: str | Path | None = None,
    strict: bool = False,
) -> ComposeSource:
    """Read, interpolate and check a compose file; what it ignores is in ``.ignored``.

    ``env`` (default: the process environment) supplies ``${VAR}``; ``env_file`` adds
    ``KEY=value`` lines under it (the environment wins, as in the docker CLI).

    Raises:
        InvalidSpec: unreadable file, bad YAML, an unsupported version, a bad
            ``${…}``, or (with ``strict``) keys swarmnet would ignore; the message names
            the file, line and key.
    """
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise InvalidSpec(f"cannot read compose file {file}: {exc.strerror}") from exc
    data, lines = _load_yaml(file, text)
    if not isinstance(data, dict):
        raise InvalidSpec(f"{file}: a compose file is a mapping with 'services' at the top")
    source = ComposeSource(file, data, lines)
    variables = dict(read_env_file(env_file)) if env_file is not None else {}
    variables.update(os.environ if env is None else env)
    _interpolate_tree(source, variables)
    version = source.data.get("version")
    if version is not None and str(version) not in SUPPORTED_VERSIONS:
        raise source.error(
            ("version",),
            f"compose file version {version!r} is not one docker stack deploy reads (3.0 to 3.13)",
        )
    if not isinstance(source.data.get("services"), dict) or not source.data["services"]:
        raise source.error(("services",), "a stack needs at least one service")
    _collect_ignored(source)
    if strict and source.ignored:
        raise InvalidSpec(
            f"{file}: keys swarmnet does not apply (strict): " + ", ".join(source.ignored)
        )
    return source
