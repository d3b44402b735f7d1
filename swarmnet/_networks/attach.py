"""Attachment specs: how a container joins a network (aliases, static addresses, links).

:class:`EndpointConfig` describes one attachment; :func:`attach` gathers several into
a :class:`ContainerNetworking`, which produces the ``HostConfig.NetworkMode`` and
``NetworkingConfig`` of a ``POST /containers/create`` body. Engines before API 1.44
accept a single network at create time, so on those the other attachments are
returned by :meth:`ContainerNetworking.deferred`, to be connected after the create
(:meth:`NetworksAPI.connect_deferred` does it) and before the start.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from swarmnet._core.models import Spec
from swarmnet._networks.specs import IPv4, IPv6, check_name

# Aliases are DNS names on the network: letters, digits, '-', '_', '.'.
_ALIAS = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")
# The engine's own networks, where aliases and static addresses are refused.
_PREDEFINED = frozenset({"bridge", "host", "none"})
#: The first Engine API version that takes several networks in one container create.
MULTI_NETWORK_CREATE_API = (1, 44)


def _api_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.lstrip("v").partition(".")
    return int(major), int(minor or 0)


class EndpointConfig(Spec):
    """One container attachment to one network.

    Args:
        network: the network's name or id.
        aliases: extra DNS names the container answers to on this network.
        ipv4: a static IPv4 address (the network needs a pool that holds it).
        ipv6: a static IPv6 address.
        links: legacy links, ``"container"`` or ``"container:alias"``.
        driver_opts: endpoint options passed to the network driver.

    Raises:
        InvalidSpec: a name, alias or address is not valid, or aliases or
            static addresses are asked for on the engine's own ``bridge``/``host``/``none``.

    Example::

        EndpointConfig(network="backend", aliases=("db",), ipv4="10.30.0.10")
    """

    network: str
    aliases: tuple[str, ...] = ()
    ipv4: IPv4 | None = None
    ipv6: IPv6 | None = None
    links: tuple[str, ...] = ()
    driver_opts: dict[str, str] = Field(default_factory=dict)

    @field_validator("network")
    @classmethod
    def _valid_network(cls, value: str) -> str:
        return check_name(value, "network name or id")

    @field_validator("aliases")
    @classmethod
    def _valid_aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for alias in value:
            if not _ALIAS.fullmatch(alias):
                raise ValueError(
                    f"alias {alias!r} is not a valid DNS name "
                    "(letters, digits, '_', '.', '-', starting with a letter or digit)"
                )
        if len(set(value)) != len(value):
            raise ValueError(f"aliases {list(value)} repeat")
        return value

    @field_validator("links")
    @classmethod
    def _valid_links(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for link in value:
            target, _, alias = link.partition(":")
            check_name(target, "linked container")
            if alias and not _ALIAS.fullmatch(alias):
                raise ValueError(f"link alias {alias!r} is not a valid DNS name")
        return value

    @model_validator(mode="after")
    def _not_on_predefined(self) -> EndpointConfig:
        if self.network in _PREDEFINED and (self.aliases or self.ipv4 or self.ipv6):
            raise ValueError(
                f"the engine's {self.network!r} network takes no aliases or static addresses; "
                "use a user-defined network"
            )
        return self

    def endpoint_settings(self) -> dict[str, Any]:
        """The ``EndpointSettings`` body of a connect or a container create."""
        body: dict[str, Any] = {}
        ipam: dict[str, str] = {}
        if self.ipv4 is not None:
            ipam["IPv4Address"] = str(self.ipv4)
        if self.ipv6 is not None:
            ipam["IPv6Address"] = str(self.ipv6)
        if ipam:
            body["IPAMConfig"] = ipam
        if self.aliases:
            body["Aliases"] = list(self.aliases)
        if self.links:
            body["Links"] = list(self.links)
        if self.driver_opts:
            body["DriverOpts"] = dict(self.driver_opts)
        return body


class ContainerNetworking(Spec):
    """The networks a container is created on, in order (the first is its network mode).

    Build it with :func:`attach`. Merge :meth:`create_fields` into a
    ``POST /containers/create`` body, then after the create call
    ``await engine.networks.connect_deferred(container_id, networking)`` so that the
    networks an older engine cannot take at create time are connected before start.
    """

    endpoints: tuple[EndpointConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_networks(self) -> ContainerNetworking:
        names = [endpoint.network for endpoint in self.endpoints]
        if len(set(names)) != len(names):
            raise ValueError(f"a network appears twice in {names}")
        if len(names) > 1 and set(names) & {"host", "none"}:
            raise ValueError("the 'host' and 'none' networks cannot be combined with others")
        return self

    @property
    def network_mode(self) -> str:
        """``HostConfig.NetworkMode``: the first network."""
        return self.endpoints[0].network

    def _all_at_create(self, api_version: str) -> bool:
        return _api_tuple(api_version) >= MULTI_NETWORK_CREATE_API

    def networking_config(self, api_version: str = "1.41") -> dict[str, Any]:
        """The ``NetworkingConfig`` body for an engine speaking ``api_version``."""
        chosen = self.endpoints if self._all_at_create(api_version) else self.endpoints[:1]
        return {"EndpointsConfig": {e.network: e.endpoint_settings() for e in chosen}}

    def deferred(self, api_version: str = "1.41") -> tuple[EndpointConfig, ...]:
        """The attachments to connect after the create (none from API 1.44 on)."""
        return () if self._all_at_create(api_version) else self.endpoints[1:]

    def create_fields(self, api_version: str = "1.41") -> dict[str, Any]:
        """``{"HostConfig": {"NetworkMode": …}, "NetworkingConfig": …}`` to merge into a body."""
        return {
            "HostConfig": {"NetworkMode": self.network_mode},
            "NetworkingConfig": self.networking_config(api_version),
        }


def attach(*endpoints: EndpointConfig | str) -> ContainerNetworking:
    """Describe the networks of a container create: names or :class:`EndpointConfig` s.

    Example::

        networking = swarmnet.attach(
            swarmnet.EndpointConfig(network="front", aliases=("web",)), "back"
        )
        body = {"Image": "busybox", "Cmd": ["sleep", "60"], **networking.create_fields("1.41")}

    Raises:
        InvalidSpec: no network, a network twice, or an invalid endpoint.
    """
    return ContainerNetworking(
        endpoints=tuple(EndpointConfig(network=e) if isinstance(e, str) else e for e in endpoints)
    )
