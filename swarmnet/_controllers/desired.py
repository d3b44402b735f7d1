"""Desired-state helpers: the common reconcilers, each one call.

- :func:`keep_network`: a network with a spec exists on one engine (recreated when
  removed behind the controller's back);
- :func:`keep_connected`: containers a selector picks are connected to a network,
  with their name as an alias.

Both only register reconcilers on a :class:`~swarmnet._controllers.controller.Controller`;
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

if TYPE_CHECKING:
    from swarmnet._core.engine import Engine

__all__ = ["keep_connected", "keep_network"]

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
