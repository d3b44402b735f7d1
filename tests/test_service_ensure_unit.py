"""ensure_many's repeated pass: one request when everything matches, the full check otherwise.

Pure dispatch logic over :class:`swarmnet.testing.MockTransport`: which requests a pass
sends given what the engine answers. How the engine stores a service's networks (by id)
is tested on the lab in tests/test_services.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

import swarmnet
from swarmnet.models import ServiceOutcome
from swarmnet.testing import MockRequest, MockTransport

pytestmark = pytest.mark.anyio

OVERLAY_ID = "n" * 64
OVERLAY: dict[str, Any] = {
    "Name": "app",
    "Id": OVERLAY_ID,
    "Scope": "swarm",
    "Driver": "overlay",
    "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.80.0.0/24"}]},
}
SPEC = swarmnet.ServiceSpec(
    name="web", image="busybox", replicas=1, networks=("app",), endpoint_mode="dnsrr"
)


def _stored(network_id: str) -> dict[str, Any]:
    return {
        "ID": "s" * 25,
        "Version": {"Index": 12},
        "Spec": {
            "Name": "web",
            "TaskTemplate": {
                "ContainerSpec": {"Image": "busybox"},
                "Networks": [{"Target": network_id}],
            },
            "Mode": {"Replicated": {"Replicas": 1}},
            "EndpointSpec": {"Mode": "dnsrr"},
        },
    }


class FakeSwarm:
    """GET /networks and GET /services, with every request's method and path kept."""

    def __init__(self) -> None:
        self.networks = [copy.deepcopy(OVERLAY)]
        self.services = [_stored(OVERLAY_ID)]
        self.calls: list[tuple[str, str]] = []

    def __call__(self, request: MockRequest) -> list[dict[str, Any]] | None:
        if request.path == "/version":
            return None  # MockTransport's own answer
        self.calls.append((request.method, request.path.lstrip("/")))
        if (request.method, request.path) == ("GET", "/networks"):
            return self.networks
        if (request.method, request.path) == ("GET", "/services"):
            return self.services
        raise AssertionError(f"unexpected {request.method} {request.path}")

    def take(self) -> list[tuple[str, str]]:
        calls, self.calls = self.calls, []
        return sorted(calls)


async def test_a_repeated_pass_that_finds_everything_unchanged_sends_one_request() -> None:
    fake = FakeSwarm()
    async with swarmnet.Engine(transport=MockTransport(fake)) as engine:
        fake.take()
        first = await engine.services.ensure_many([SPEC])
        assert [r.outcome for r in first] == [ServiceOutcome.UNCHANGED]
        assert fake.take() == [("GET", "networks"), ("GET", "services")]
        second = await engine.services.ensure_many([SPEC])
        assert [r.outcome for r in second] == [ServiceOutcome.UNCHANGED]
        assert fake.take() == [("GET", "services")]


async def test_a_service_on_a_remade_network_of_that_name_is_checked_against_a_fresh_list() -> None:
    # `app` removed and made again (a new id) once no service used it, and the
    # service moved onto the new one: the remembered id no longer matches, so the
    # networks are listed again and the service compares equal to the new id.
    fake = FakeSwarm()
    async with swarmnet.Engine(transport=MockTransport(fake)) as engine:
        await engine.services.ensure_many([SPEC])
        fake.take()
        fake.networks = [{**OVERLAY, "Id": "m" * 64}]
        fake.services = [_stored("m" * 64)]
        again = await engine.services.ensure_many([SPEC])
        assert [r.outcome for r in again] == [ServiceOutcome.UNCHANGED]
        # the services as read first, and the networks: still two requests
        assert fake.take() == [("GET", "networks"), ("GET", "services")]
        # and the pass after that is one request again
        await engine.services.ensure_many([SPEC])
        assert fake.take() == [("GET", "services")]


async def test_a_network_named_for_the_first_time_is_checked_before_anything_else() -> None:
    fake = FakeSwarm()
    async with swarmnet.Engine(transport=MockTransport(fake)) as engine:
        await engine.services.ensure_many([SPEC])
        fake.take()
        missing = swarmnet.ServiceSpec(
            name="web", image="busybox", replicas=1, networks=("app", "gone")
        )
        with pytest.raises(swarmnet.InvalidSpec, match="no network 'gone'"):
            await engine.services.ensure_many([missing])
        assert ("GET", "networks") in fake.take()
