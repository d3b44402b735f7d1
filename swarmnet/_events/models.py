"""Typed, immutable engine events, parsed straight from the engine's JSON bytes.

The engine sends, for every event, one object such as::

    {"Type":"network","Action":"connect",
     "Actor":{"ID":"…","Attributes":{"container":"…","name":"actbr","type":"bridge"}},
     "scope":"local","time":1795967433,"timeNano":1795967433420424771}

Network events become :class:`NetworkEvent`; every other type (container, service,
node, …) becomes the general :class:`Event`, never an error. Actions, types and scopes
the engine adds later stay plain strings, and attributes it adds later stay in
``attributes``: nothing the engine may send tomorrow breaks parsing today.

Parsing is done once, by pydantic-core from the raw bytes (no ``json.loads`` first);
the engine each event came from is attached through the validation context.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Annotated, Literal

from pydantic import (
    AliasPath,
    Field,
    ValidationError,
    computed_field,
)

from swarmnet._core.models import EngineModel
from swarmnet._events.framing import NotJSON

__all__ = [
    "Event",
    "EventScope",
    "EventType",
    "NetworkAction",
    "NetworkEvent",
    "event_parser",
    "parse_event",
]


class _Name(str, enum.Enum):
    """A str enum that prints as its value (``f"{NetworkAction.CREATE}"`` is ``create``)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class EventType(_Name):
    """The kind of object an event is about (the engine's ``Type``)."""

    BUILDER = "builder"
    CONFIG = "config"
    CONTAINER = "container"
    DAEMON = "daemon"
    IMAGE = "image"
    NETWORK = "network"
    NODE = "node"
    PLUGIN = "plugin"
    SECRET = "secret"  # noqa: S105 - an event type, not a password
    SERVICE = "service"
    VOLUME = "volume"


class EventScope(_Name):
    """Where an event comes from: this engine (``local``) or the swarm's store (``swarm``).

    An overlay on a manager yields both: ``swarm`` events (create, update, remove) from
    the cluster, and ``local`` events (create, connect, disconnect, destroy) as its
    endpoints come and go on this node.
    """

    LOCAL = "local"
    SWARM = "swarm"


class NetworkAction(_Name):
    """What happened to a network.

    ``create``/``destroy`` are the network appearing on and leaving this engine;
    ``remove`` (swarm scope) is the network deleted from the swarm; ``connect`` and
    ``disconnect`` are a container's endpoint joining or leaving.
    """

    CREATE = "create"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    DESTROY = "destroy"
    REMOVE = "remove"
    UPDATE = "update"
    PRUNE = "prune"


# A known value becomes the enum member; anything newer stays a plain string.
_OpenType = Annotated[EventType | str, Field(union_mode="left_to_right")]
_OpenScope = Annotated[EventScope | str, Field(union_mode="left_to_right")]
_OpenAction = Annotated[NetworkAction | str, Field(union_mode="left_to_right")]

_NS = 1_000_000_000


class Event(EngineModel):
    """One engine event of any type, typed and immutable.

    Attributes:
        type: what kind of object (``EventType.CONTAINER``, …; a type the engine adds
            later stays a plain string).
        action: what happened (``"start"``, ``"connect"``, …).
        actor_id: the id of the object (``Actor.ID``).
        attributes: the actor's attributes as sent (names, labels, …).
        scope: ``local`` or ``swarm``.
        time_nano: when, in nanoseconds since the epoch (the engine's clock).
        node: the engine the event came from (its :attr:`swarmnet.Engine.name`).
        synthesized: True when swarmnet made this event up to describe a change it
            could not see happen (events lost while away; see :class:`swarmnet.Watcher`).
    """

    type: _OpenType = Field(validation_alias="Type")
    action: str = Field(validation_alias="Action")
    actor_id: str = Field("", validation_alias=AliasPath("Actor", "ID"))
    attributes: Mapping[str, str] = Field(
        default_factory=dict,
        validation_alias=AliasPath("Actor", "Attributes"),
    )
    scope: _OpenScope = Field("", validation_alias="scope")
    time_nano: int = Field(0, validation_alias="timeNano")
    node: str = Field("", validation_alias="node")
    synthesized: bool = Field(False, validation_alias="synthesized")

    @property
    def time(self) -> datetime:
        """When the event happened, as an aware UTC datetime (microsecond precision)."""
        seconds, nanos = divmod(self.time_nano, _NS)
        return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=nanos // 1000)

    @property
    def identity(self) -> tuple[str, int, str, str, str, str]:
        """What makes this event itself: the same event replayed has the same identity."""
        return (
            self.node,
            self.time_nano,
            self.type,
            self.action,
            self.actor_id,
            self.attributes.get("container", ""),
        )


class NetworkEvent(Event):
    """Something happened to a network: created, connected, disconnected, destroyed, …

    Attributes:
        action: a :class:`NetworkAction` (or a plain string for an action the engine
            adds later).
        network_id: the network's id.
        name: the network's name (``""`` if the engine did not say).
        driver: ``bridge``, ``overlay``, … (``None`` on swarm-scope events, which do
            not carry it).
        container_id: the container that connected or disconnected (``None`` for other
            actions).

    Example::

        if event.action is NetworkAction.CONNECT:
            print(f"{event.container_id[:12]} joined {event.name} on {event.node}")
    """

    type: Literal[EventType.NETWORK] = Field(EventType.NETWORK, validation_alias="Type")
    action: _OpenAction = Field(validation_alias="Action")

    # Read from the actor rather than parsed into fields of their own: every field is
    # a string allocated per event, and events come by the hundred thousand.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def network_id(self) -> str:
        """The network's id (the actor's)."""
        return self.actor_id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def name(self) -> str:
        """The network's name (``""`` if the engine did not say)."""
        return self.attributes.get("name", "")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def driver(self) -> str | None:
        """``bridge``, ``overlay``, … (``None`` on swarm-scope events, which lack it)."""
        return self.attributes.get("type")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def container_id(self) -> str | None:
        """The container that connected or disconnected (``None`` for other actions)."""
        return self.attributes.get("container")

    @classmethod
    def synthesize(
        cls,
        action: NetworkAction,
        *,
        network_id: str,
        name: str,
        driver: str | None,
        scope: EventScope | str,
        node: str,
        time_nano: int,
        container_id: str | None = None,
    ) -> NetworkEvent:
        """An event swarmnet made up to describe a change it did not see happen."""
        attributes = {"name": name}
        if driver is not None:
            attributes["type"] = driver
        if container_id is not None:
            attributes["container"] = container_id
        return cls(
            action=action,
            actor_id=network_id,
            attributes=attributes,
            scope=scope,
            node=node,
            time_nano=time_nano,
            synthesized=True,
        )


#: How the engine begins a network event: Go writes the fields in a fixed order,
#: ``Type`` first, and compact. A prefix test costs a fraction of a substring search.
_NETWORK_START = b'{"Type":"network"'


def event_parser(node: str = "") -> Callable[[bytes], Event | None]:
    """A :func:`parse_event` bound to one engine's name, for the hot path."""
    validate_network = NetworkEvent.__pydantic_validator__.validate_json
    validate_event = Event.__pydantic_validator__.validate_json

    def parse(data: bytes) -> Event | None:
        # The engine writes compact JSON, so this byte test picks the model in one pass
        # (the validated ``type`` field, not the test, has the last word), and a network
        # event as the engine writes it costs one validation and nothing else.
        event: Event | None
        if data.startswith(_NETWORK_START):
            try:
                event = validate_network(data)
            except ValidationError as exc:
                if _json_error(exc):
                    raise NotJSON(str(exc)) from None
                event = general(data)  # looked like a network event, is not a valid one
        else:
            event = general(data)
            if event is not None and event.type is EventType.NETWORK:
                # Not written the way the engine writes it (spaces, another key order):
                # parse it fully.
                event = validate_network(data)
        # The engine does not name itself in its events. Set before anyone sees the
        # event, bypassing the frozen check: a validator reading the validation context
        # would cost about a third of the whole parse.
        if event is not None and node:
            event.__dict__["node"] = node
        return event

    def general(data: bytes) -> Event | None:
        """The general event model, or None for JSON that is not an event at all."""
        try:
            event: Event = validate_event(data)
        except ValidationError as exc:
            if _json_error(exc):
                raise NotJSON(str(exc)) from None
            return None
        return event

    return parse


def parse_event(data: bytes, node: str = "") -> Event | None:
    """Parse one event (the JSON bytes the engine sent) into a typed event.

    Returns a :class:`NetworkEvent` for network events, an :class:`Event` for every
    other type, and ``None`` for a JSON value that is no event at all (the caller
    counts and skips it).

    Raises:
        NotJSON: ``data`` is not exactly one complete JSON value (the framer then
            looks for the real boundaries).
    """
    return event_parser(node)(data)


def _json_error(exc: ValidationError) -> bool:
    return any(error["type"] == "json_invalid" for error in exc.errors(include_url=False))
