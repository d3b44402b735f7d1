"""``keep_service_attached`` on three real managers: a service detached from one of
its networks by hand (on another manager) is attached again, and one created without
them is attached when the controller starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import pytest
from _containers import unique_prefix
from _engines import eventually

import swarmnet
from swarmnet.lab import LAB_IMAGE
from swarmnet.models import Kind

pytestmark = [pytest.mark.anyio]

SLEEP = ("sleep", "600")
FAST_UPDATE = swarmnet.UpdateSettings(parallelism=0, monitor=0.2)
SETTINGS = swarmnet.ControllerSettings(
    resync_interval=None,  # only events: the re-attachment must come from them
    retry=swarmnet.RetrySettings(backoff=(0.2, 0.5), max_attempts=20),
)


@pytest.fixture
async def prefix(managers: list[swarmnet.Engine]) -> AsyncIterator[str]:
    prefix = unique_prefix("cs")
    try:
        yield prefix
    finally:
        manager = managers[0]
        for service in await manager.services.list():
            if service.name.startswith(prefix):
                await manager.services.remove(service.id, missing_ok=True)
        with anyio.move_on_after(20):  # an overlay is in use until the tasks are gone
            while left := [n for n in await manager.networks.list() if n.name.startswith(prefix)]:
                for network in left:
                    with contextlib.suppress(swarmnet.EngineAPIError):
                        await manager.networks.remove(network.id)
                await anyio.sleep(0.3)


async def _attached(engine: swarmnet.Engine, service: str, networks: list[str]) -> bool | None:
    ids = {(await engine.networks.get(name)).id for name in networks}
    found = await engine.services.get(service)
    return True if ids <= set(found.network_ids()) else None


@pytest.mark.lab
async def test_a_service_detached_by_hand_is_attached_again(
    managers: list[swarmnet.Engine], prefix: str
) -> None:
    manager, other = managers[0], managers[1]
    front, back = f"{prefix}front", f"{prefix}back"
    for name in (front, back):
        await manager.networks.create(swarmnet.OverlaySpec(name=name))
    service = f"{prefix}api"
    await manager.services.create(
        swarmnet.ServiceSpec(
            name=service,
            image=LAB_IMAGE,
            args=SLEEP,
            endpoint_mode="dnsrr",
            networks=(front,),  # back is missing from the start
            update_config=FAST_UPDATE,
        )
    )
    controller = swarmnet.Controller(*managers, settings=SETTINGS)
    swarmnet.keep_service_attached(controller, service, [front, back], engine=manager)
    async with controller:
        await eventually(lambda: _attached(manager, service, [front, back]), within=10)
        # By hand, through another manager: the service's update event brings it back.
        await other.services.remove_network(service, back, wait=False)
        await eventually(lambda: _attached(manager, service, [front, back]), within=10)
        stats = controller.stats()
    assert stats.events > 0
    assert stats.gave_up == 0
    # Reconciled through the one manager named, never from the others.
    assert {ref.engine for ref, _ in controller.cached(Kind.SERVICE)} <= {manager.name}


def test_keep_service_attached_refuses_what_cannot_work_before_running() -> None:
    engines = [swarmnet.Engine("unix:///nonexistent.sock", name=n) for n in ("m1", "m2")]
    controller = swarmnet.Controller(*engines)
    with pytest.raises(swarmnet.InvalidSpec, match="one or more network names"):
        swarmnet.keep_service_attached(controller, "api", [], engine="m1")
    with pytest.raises(swarmnet.InvalidSpec, match="service name"):
        swarmnet.keep_service_attached(controller, "", ["n"], engine="m1")
    with pytest.raises(swarmnet.InvalidSpec, match="not this controller's"):
        swarmnet.keep_service_attached(controller, "api", ["n"], engine="m3")
    with pytest.raises(swarmnet.InvalidSpec, match="runs on one manager"):
        controller.reconcile(Kind.SERVICE, names=["api"])
