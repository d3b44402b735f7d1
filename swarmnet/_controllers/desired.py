"""Desired-state helpers: the common reconcilers, each one call.

- :func:`keep_network`: a network with a spec exists on one engine (recreated when
  removed behind the controller's back);
- :func:`keep_connected`: containers a selector picks are connected to a network,
  with their name as an alias;
- :func:`keep_service_attached`: a service's tasks are attached to a set of networks
  (re-attached when detached by hand).

Each only registers reconcilers on a :class:`~swarmnet._controllers.controller.Controller`;
the controller decides when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from swarmnet._containers.models import Container
from swarmnet._controllers.controller import Controller, Kind, Ref, Selector
from swarmnet._core.errors import InvalidSpec, NetworkNotFound
from swarmnet._core.log import get_logger
from swarmnet._events.watcher.settings import Retry
from swarmnet._networks.drift import Drift
from swarmnet._networks.models import Network
from swarmnet._networks.specs import AnyNetworkSpec, network_spec_from
from swarmnet._services.models import Service

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

__all__ = ["keep_connected", "keep_network", "keep_service_attached"]

_log = get_logger("swarmnet.controller")


def _name_alias(container: Container) -> Sequence[str]:
    return (container.name,)


def keep_network(
    controller: Controller,
    spec: AnyNetworkSpec | Mapping[str, Any],
    *,
    engine: Engine | str,
    on_drift: Drift = Drift.RAISE,
) -> None:
    """Keep the network ``spec`` describes existing on ``engine`` (a manager, for overlays).

    Whenever the network is found missing (its removal's event, a resync) it is created
    again with ``engine.networks.ensure(spec)``.

    Args:
        controller: the controller to register with.
        spec: a network spec (``swarmnet.OverlaySpec(...)``) or its mapping form;
            checked now, before anything is sent.
        engine: the engine (or its name) the network is kept on.
        on_drift: what ``ensure`` does with an existing network of other settings.

    Raises:
        InvalidSpec, pydantic.ValidationError: a bad spec or an unknown engine.
    """
    spec = network_spec_from(spec) if isinstance(spec, Mapping) else spec
    name = spec.name

    @controller.reconcile(Kind.NETWORK, names=[name], engines=[engine])
    async def keep(ref: Ref, network: Network | None, *, engine: Engine, **_: Any) -> None:
        if network is None:
            result = await engine.networks.ensure(spec, on_drift=on_drift)
            _log.info(
                "controller.network_kept",
                network=name,
                engine=engine.name,
                outcome=result.outcome.value,
                id=result.network.id[:12],
            )


def keep_connected(
    controller: Controller,
    network: str,
    *,
    labels: Mapping[str, str | None] | None = None,
    names: Iterable[str] = (),
    aliases: Callable[[Container], Sequence[str]] | None = _name_alias,
) -> None:
    """Keep the running containers a selector picks connected to ``network``.

    A container that starts, or is disconnected by hand, is connected (again); when the
    network (re)appears every selected container is looked at again.

    Args:
        controller: the controller to register with.
        network: the network's name (for an overlay: attachable, kept on a manager,
            e.g. with :func:`keep_network`).
        labels: containers with these labels (``None`` as value: the label is set).
        names: containers with these names.
        aliases: the DNS aliases to connect a container with; by default its name.
            ``None``: no aliases.

    Raises:
        InvalidSpec: no selector, or an empty network name.
    """
    if not network:
        raise InvalidSpec("keep_connected needs a network name")
    if not labels and not names:
        raise InvalidSpec("keep_connected needs labels or names to select containers")
    names = frozenset([names] if isinstance(names, str) else names)

    @controller.reconcile(Kind.CONTAINER, labels=labels, names=names)
    async def connect(ref: Ref, container: Container | None, *, engine: Engine, **_: Any) -> None:
        if container is None or not container.running or network in container.networks:
            return
        try:
            await engine.networks.connect(
                network,
                container.id,
                aliases=aliases(container) if aliases is not None else (),
            )
        except NetworkNotFound:
            raise Retry(f"network {network!r} not there yet") from None
        _log.info("controller.connected", network=network, container=container.name)

    selector = Selector(Kind.CONTAINER, labels=dict(labels or {}), names=names)

    @controller.reconcile(Kind.NETWORK, names=[network])
    async def fan_out(ref: Ref, found: Network | None, *, controller: Controller, **_: Any) -> None:
        if found is None:
            return
        # The network (re)appeared: every selected container may need it, on any engine
        # (a worker learns of an overlay only when its first endpoint lands there).
        for container_ref, container in controller.cached(Kind.CONTAINER):
            if selector.matches(container) and network not in container.networks:
                controller.add(container_ref)


def keep_service_attached(
    controller: Controller,
    service: str,
    networks: Iterable[str],
    *,
    engine: Engine | str,
) -> None:
    """Keep a swarm service's tasks attached to every one of ``networks``.

    Whenever the service is created, updated (a ``--network-rm`` by hand) or found by a
    resync without one of them, the missing networks are added back with
    ``engine.services.add_network`` (a rolling update, not waited for); when one of the
    networks (re)appears the service is looked at again. Networks the service has
    besides these are left alone, and so is a service that does not exist.

    Args:
        controller: the controller to register with.
        service: the service's name.
        networks: names of swarm-scoped networks (overlays), e.g. kept with
            :func:`keep_network`.
        engine: the manager (or its name) the service is read and updated through.

    Raises:
        InvalidSpec: an empty service name, no networks, or an unknown engine.

    Example::

        keep_service_attached(controller, "api", ["frontend", "backend"], engine=manager)
    """
    if not service:
        raise InvalidSpec("keep_service_attached needs a service name")
    wanted = [networks] if isinstance(networks, str) else list(dict.fromkeys(networks))
    if not wanted or not all(wanted):
        raise InvalidSpec("keep_service_attached needs one or more network names")

    @controller.reconcile(Kind.SERVICE, names=[service], engines=[engine])
    async def attach(ref: Ref, found: Service | None, *, engine: Engine, **_: Any) -> None:
        if found is None:
            return
        attached = set(found.network_ids())
        for name in wanted:
            try:
                network = await engine.networks.get(name)
            except NetworkNotFound:
                raise Retry(f"network {name!r} not there yet") from None
            if network.id in attached:
                continue
            # Not waited for: the update's own events bring the service back here.
            await engine.services.add_network(service, name, wait=False)
            _log.info("controller.service_attached", service=service, network=name)

    @controller.reconcile(Kind.NETWORK, names=wanted, engines=[engine])
    async def fan_out(ref: Ref, found: Network | None, *, controller: Controller, **_: Any) -> None:
        if found is not None:
            controller.add(Ref(ref.engine, Kind.SERVICE, service))
