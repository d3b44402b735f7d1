"""Typed, immutable engine events, parsed straight from the engine's JSON bytes.

The engine sends, for every event, one object such as::

    {"Type":"network","Action":"connect",
     "Actor":{"ID":"…","Attributes":{"container":"…","name":"actbr","type":"bridge"}},
     "scope":"local","time":1795967433,"timeNano":1795967433420424771}

Network, container, service and node events become :class:`NetworkEvent`,
:class:`ContainerEvent`, :class:`ServiceEvent` and :class:`NodeEvent`; every other type
(image, volume, config, …) becomes the general :class:`Event`, never an error.
Actions, types and scopes the engine adds later stay plain strings, and attributes it
adds later stay in ``attributes``: nothing the engine may send tomorrow breaks parsing today.

Parsing is done once, by pydantic-core from the raw bytes (no ``json.loads`` first);
the engine each event came from is attached through the validation context.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AliasPath,
    Field,
    ValidationError,
    computed_field,
    model_validator,
)

from swarmnet._core.models import EngineModel
from swarmnet._events.framing import NotJSON

__all__ = [
    "ContainerAction",
    "ContainerEvent",
    "Event",
    "EventScope",
    "EventType",
    "NetworkAction",
    "NetworkEvent",
    "NodeAction",
    "NodeEvent",
    "ServiceAction",
    "ServiceEvent",
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


class ContainerAction(_Name):
    """What happened to a container (the engine's documented container actions).

    ``health_status`` and the ``exec_*`` actions come from the engine with a detail
    after a colon (``health_status: healthy``, ``exec_create: sh -c true``): the
    action is the part before it, the rest is :attr:`ContainerEvent.detail`.
    """

    ATTACH = "attach"
    COMMIT = "commit"
    COPY = "copy"
    CREATE = "create"
    DESTROY = "destroy"
    DETACH = "detach"
    DIE = "die"
    EXEC_CREATE = "exec_create"
    EXEC_DETACH = "exec_detach"
    EXEC_DIE = "exec_die"
    EXEC_START = "exec_start"
    EXPORT = "export"
    HEALTH_STATUS = "health_status"
    KILL = "kill"
    OOM = "oom"
    PAUSE = "pause"
    PRUNE = "prune"
    RENAME = "rename"
    RESIZE = "resize"
    RESTART = "restart"
    START = "start"
    STOP = "stop"
    TOP = "top"
    UNPAUSE = "unpause"
    UPDATE = "update"


class ServiceAction(_Name):
    """What happened to a swarm service (swarm-scope events, sent by managers)."""

    CREATE = "create"
    UPDATE = "update"
    REMOVE = "remove"


class NodeAction(_Name):
    """What happened to a swarm node (swarm-scope events, sent by managers)."""

    CREATE = "create"
    UPDATE = "update"
    REMOVE = "remove"


# A known value becomes the enum member; anything newer stays a plain string.
_OpenType = Annotated[EventType | str, Field(union_mode="left_to_right")]
_OpenScope = Annotated[EventScope | str, Field(union_mode="left_to_right")]
_OpenAction = Annotated[NetworkAction | str, Field(union_mode="left_to_right")]
_OpenContainerAction = Annotated[ContainerAction | str, Field(union_mode="left_to_right")]
_OpenServiceAction = Annotated[ServiceAction | str, Field(union_mode="left_to_right")]
_OpenNodeAction = Annotated[NodeAction | str, Field(union_mode="left_to_right")]

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


def _number(text: str | None) -> int | None:
    """An integer attribute (``exitCode``, ``replicas.new``), or None if absent or odd."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _changes(attributes: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``{"state": ("unknown", "ready")}`` from ``state.old``/``state.new`` attributes.

    The engine writes both halves when a field changed, and only ``.new`` when there
    was no old value (a service's first update state): the old one is then ``""``.
    """
    out: dict[str, tuple[str, str]] = {}
    for key, value in attributes.items():
        if key.endswith(".new"):
            field = key[:-4]
            out[field] = (attributes.get(f"{field}.old", ""), value)
    return out


#: Attributes the engine adds to a container's labels in its events (the rest are labels).
_CONTAINER_KEYS = frozenset({"image", "name", "exitCode", "signal", "oldName", "execID"})


class ContainerEvent(Event):
    """Something happened to a container: created, started, died, renamed, …

    Container events are local: each engine reports its own containers. Their
    attributes are the container's labels plus what the engine adds (``name``,
    ``image``, ``exitCode`` on ``die``, ``signal`` on ``kill``, ``oldName`` on ``rename``).

    Attributes:
        action: a :class:`ContainerAction` (a plain string for one the engine adds later).
        detail: what the engine wrote after the action's colon (``healthy`` for
            ``health_status: healthy``, the command for ``exec_create: sh -c true``);
            ``""`` for the others.
        container_id: the container's id.
        name: its name (the new one on ``rename``).
        image: the image it runs.
        exit_code: the exit code on ``die`` (and ``exec_die``), else ``None``.
        signal: the signal number on ``kill``, else ``None``.
        old_name: the name before a ``rename`` (without the leading ``/``), else ``None``.
        health: ``healthy``/``unhealthy``/``starting`` on ``health_status``, else ``None``.
        labels: the container's labels (the attributes less those the engine adds).
        service_name: the swarm service whose task this container runs, else ``None``.

    Example::

        if event.action is ContainerAction.DIE and event.exit_code:
            print(f"{event.name} died with {event.exit_code} on {event.node}")
    """

    type: Literal[EventType.CONTAINER] = Field(EventType.CONTAINER, validation_alias="Type")
    action: _OpenContainerAction = Field(validation_alias="Action")
    detail: str = Field("", validation_alias="detail")

    @model_validator(mode="before")
    @classmethod
    def _split_action(cls, data: Any) -> Any:
        # "health_status: healthy" is one action and its detail, not an action of its own.
        if isinstance(data, dict):
            key = "Action" if "Action" in data else "action"
            action = data.get(key)
            if isinstance(action, str) and ": " in action and "detail" not in data:
                base, _, detail = action.partition(": ")
                data = {**data, key: base, "detail": detail}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def container_id(self) -> str:
        """The container's id (the actor's)."""
        return self.actor_id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def name(self) -> str:
        """The container's name (the new one on ``rename``)."""
        return self.attributes.get("name", "")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def image(self) -> str:
        """The image the container runs (``""`` if the engine did not say)."""
        return self.attributes.get("image", "")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int | None:
        """The exit code on ``die``/``exec_die``, else None."""
        return _number(self.attributes.get("exitCode"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def signal(self) -> int | None:
        """The signal number on ``kill``, else None."""
        return _number(self.attributes.get("signal"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def old_name(self) -> str | None:
        """The name before a ``rename`` (no leading ``/``), else None."""
        old = self.attributes.get("oldName")
        return old.lstrip("/") if old is not None else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def health(self) -> str | None:
        """``healthy``, ``unhealthy`` or ``starting`` on ``health_status``, else None."""
        return self.detail or None if self.action == ContainerAction.HEALTH_STATUS else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def labels(self) -> Mapping[str, str]:
        """The container's labels (the attributes less those the engine adds)."""
        return {k: v for k, v in self.attributes.items() if k not in _CONTAINER_KEYS}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def service_name(self) -> str | None:
        """The swarm service whose task this container runs, else None."""
        return self.attributes.get("com.docker.swarm.service.name")


class _SwarmObjectEvent(Event):
    """What service and node events share: the object's name and what an update changed."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def name(self) -> str:
        """The object's name (``""`` when the event does not carry it yet)."""
        return self.attributes.get("name", "")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def changes(self) -> Mapping[str, tuple[str, str]]:
        """What an update changed: field -> (old, new)."""
        return _changes(self.attributes)


class ServiceEvent(_SwarmObjectEvent):
    """Something happened to a swarm service: created, updated, removed.

    Service events are swarm-scope: every manager reports each one (a
    :class:`swarmnet.Watcher` delivers it once). On ``update`` the engine names what
    changed among the image, the replica count and the rolling update's state.

    Attributes:
        action: a :class:`ServiceAction` (a plain string for one the engine adds later).
        service_id: the service's id.
        name: its name.
        changes: ``{"replicas": ("1", "2"), "updatestate": ("", "updating"), …}``:
            what an ``update`` changed, as (old, new) strings (``""``: no old value).
        replicas, previous_replicas: the replica count an update set, and before.
        image, previous_image: the image an update set, and before.
        update_state: the rolling update's new state (``updating``, ``completed``,
            ``paused``, ``rollback_started``, …), when it changed.

    Example::

        if event.update_state == "paused":
            print(f"the update of {event.name} paused")
    """

    type: Literal[EventType.SERVICE] = Field(EventType.SERVICE, validation_alias="Type")
    action: _OpenServiceAction = Field(validation_alias="Action")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def service_id(self) -> str:
        """The service's id (the actor's)."""
        return self.actor_id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def replicas(self) -> int | None:
        """The replica count an update set, else None."""
        return _number(self.attributes.get("replicas.new"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def previous_replicas(self) -> int | None:
        """The replica count before that update, else None."""
        return _number(self.attributes.get("replicas.old"))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def image(self) -> str | None:
        """The image an update set, else None."""
        return self.attributes.get("image.new")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def previous_image(self) -> str | None:
        """The image before that update, else None."""
        return self.attributes.get("image.old")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def update_state(self) -> str | None:
        """The rolling update's new state when it changed (``updating``, …), else None."""
        return self.attributes.get("updatestate.new")


class NodeEvent(_SwarmObjectEvent):
    """Something happened to a swarm node: joined (create), changed (update), removed.

    Node events are swarm-scope: every manager reports each one (a
    :class:`swarmnet.Watcher` delivers it once). On ``update`` the engine names what
    changed among the node's state, availability, role, leadership and (managers)
    reachability. Do not confuse :attr:`node_id`/:attr:`name` (the node the event is
    about) with :attr:`node` (the engine that reported it).

    Attributes:
        action: a :class:`NodeAction` (a plain string for one the engine adds later).
        node_id: the swarm node's id.
        name: its name (its hostname unless named; ``""`` on the ``create`` of a node
            that has not reported its hostname yet).
        changes: what an ``update`` changed, as (old, new) strings.
        state, previous_state: ``ready``, ``down``, ``unknown``, ``disconnected``.
        availability, previous_availability: ``active``, ``pause``, ``drain``.
        role, previous_role: ``worker`` or ``manager``.
        leader: True when it became the raft leader, False when it stopped being it.
        reachability: a manager's new reachability (``reachable``, ``unreachable``).

    Example::

        if event.state == "down":
            print(f"{event.name} is down (it was {event.previous_state})")
    """

    type: Literal[EventType.NODE] = Field(EventType.NODE, validation_alias="Type")
    action: _OpenNodeAction = Field(validation_alias="Action")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def node_id(self) -> str:
        """The swarm node's id (the actor's)."""
        return self.actor_id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state(self) -> str | None:
        """The node's new state when it changed (``ready``, ``down``, …), else None."""
        return self.attributes.get("state.new")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def previous_state(self) -> str | None:
        """The node's state before that change, else None."""
        return self.attributes.get("state.old")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def availability(self) -> str | None:
        """The new availability when it changed (``active``, ``pause``, ``drain``)."""
        return self.attributes.get("availability.new")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def previous_availability(self) -> str | None:
        """The availability before that change, else None."""
        return self.attributes.get("availability.old")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def role(self) -> str | None:
        """The new role when it changed (``worker``, ``manager``), else None."""
        return self.attributes.get("role.new")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def previous_role(self) -> str | None:
        """The role before that change, else None."""
        return self.attributes.get("role.old")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def leader(self) -> bool | None:
        """True when the node became raft leader, False when it stopped; else None."""
        value = self.attributes.get("leader.new")
        return None if value is None else value == "true"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reachability(self) -> str | None:
        """A manager's new reachability when it changed, else None."""
        return self.attributes.get("reachability.new")


#: The typed model of each event type that has one (the others stay :class:`Event`).
TYPED_EVENTS: Mapping[str, type[Event]] = {
    EventType.NETWORK.value: NetworkEvent,
    EventType.CONTAINER.value: ContainerEvent,
    EventType.SERVICE.value: ServiceEvent,
    EventType.NODE.value: NodeEvent,
}


#: How the engine begins a network event: Go writes the fields in a fixed order,
#: ``Type`` first, and compact. A prefix test costs a fraction of a substring search.
_NETWORK_START = b'{"Type":"network"'


def event_parser(node: str = "") -> Callable[[bytes], Event | None]:
    """A :func:`parse_event` bound to one engine's name, for the hot path."""
    validate_network = NetworkEvent.__pydantic_validator__.validate_json
    validate_event = Event.__pydantic_validator__.validate_json
    validators = {
        name.encode(): model.__pydantic_validator__.validate_json
        for name, model in TYPED_EVENTS.items()
    }
    typed = {
        name: model.__pydantic_validator__.validate_json for name, model in TYPED_EVENTS.items()
    }
    marker = b'"Type":"'
    skip = len(marker)

    def parse(data: bytes) -> Event | None:
        # The engine writes compact JSON, so a byte test picks the model in one pass
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
            # Container events start with the legacy status/id/from fields: find Type.
            start = data.find(marker)
            validate = None
            if start >= 0:
                end = data.find(b'"', start + skip)
                validate = validators.get(data[start + skip : end])
            event = None
            if validate is not None:
                try:
                    event = validate(data)
                except ValidationError as exc:
                    if _json_error(exc):
                        raise NotJSON(str(exc)) from None
            if event is None:
                event = general(data)
                model = typed.get(str(event.type)) if event is not None else None
                if model is not None:
                    # Not written the way the engine writes it (spaces, another key
                    # order), or "Type" found inside an attribute: parse it fully.
                    event = model(data)
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

    Returns a :class:`NetworkEvent`, :class:`ContainerEvent`, :class:`ServiceEvent`
    or :class:`NodeEvent` for those types, an :class:`Event` for every other type, and
    ``None`` for a JSON value that is no event at all (the caller counts and skips it).

    Raises:
        NotJSON: ``data`` is not exactly one complete JSON value (the framer then
            looks for the real boundaries).
    """
    return event_parser(node)(data)


def _json_error(exc: ValidationError) -> bool:
    return any(error["type"] == "json_invalid" for error in exc.errors(include_url=False))
