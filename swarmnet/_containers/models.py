"""Typed, immutable views of the Engine API's container payloads.

``GET /containers/{id}/json`` (inspect) and the items of ``GET /containers/json``
(list) say the same things in different shapes; both become one :class:`Container`.
An exec's exit code and output become an :class:`ExecResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from swarmnet._core.models import EngineModel
from swarmnet._networks.models import EndpointSettings

#: The states ``docker ps --filter status=`` knows (``Container.state`` takes these values).
ContainerStatus = Literal[
    "created", "restarting", "running", "removing", "paused", "exited", "dead"
]

#: The same states, as a set to check input against.
CONTAINER_STATUSES: frozenset[str] = frozenset(get_args(ContainerStatus))

# The engine's inspect says State.Running for a paused or restarting container too;
# the list only gives the state word, so the same answer is derived from it.
_RUNNING_STATES = frozenset({"running", "paused", "restarting"})


class Container(EngineModel):
    """A container as the engine reports it, with its network attachments.

    Attributes:
        id: the container id.
        name: its name, without the engine's leading ``/``.
        image: the image it was created from, as it was named then. In a list, the
            engine gives the image id instead once that name points to another image.
        running: whether its process runs (also while it is paused or restarting,
            as the engine's inspect says).
        state: the engine's word for its state: one of :data:`ContainerStatus`
            (``"running"``, ``"exited"``, ``"created"``…).
        labels: its labels.
        networks: attachment settings by network name (addresses, aliases, ids). A
            container that never ran lists its networks with no address yet.
    """

    id: str = Field(alias="Id")
    name: str = ""
    image: str = ""
    running: bool = False
    state: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    networks: dict[str, EndpointSettings] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.lstrip("/")

    @classmethod
    def from_inspect(cls, payload: Mapping[str, Any]) -> Container:
        """Build from ``GET /containers/{id}/json``."""
        settings = payload.get("NetworkSettings") or {}
        state = payload.get("State") or {}
        config = payload.get("Config") or {}
        return cls.model_validate(
            {
                "Id": payload["Id"],
                "Name": payload.get("Name", ""),
                "Image": config.get("Image", ""),
                "Running": bool(state.get("Running")),
                "State": str(state.get("Status", "")),
                "Labels": config.get("Labels") or {},
                "Networks": settings.get("Networks") or {},
            }
        )

    @classmethod
    def from_list_item(cls, payload: Mapping[str, Any]) -> Container:
        """Build from one item of ``GET /containers/json`` (names come as ``["/x"]``).

        A container linked from another also lists ``/other/alias`` names; its own
        name is the one with no second ``/``.
        """
        names = [str(n) for n in payload.get("Names") or ()]
        own = [n for n in names if "/" not in n.lstrip("/")]
        state = str(payload.get("State", ""))
        return cls.model_validate(
            {
                "Id": payload["Id"],
                "Name": (own or names or [""])[0],
                "Image": payload.get("Image", ""),
                "Running": state in _RUNNING_STATES,
                "State": state,
                "Labels": payload.get("Labels") or {},
                "Networks": (payload.get("NetworkSettings") or {}).get("Networks") or {},
            }
        )


class ExecResult(EngineModel):
    """What a command run in a container gave back: its exit code and its output.

    Attributes:
        exit_code: the command's exit status (``139`` is a segfault: 128 + SIGSEGV).
        output: what it wrote to stdout and stderr, interleaved as sent.
    """

    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0
