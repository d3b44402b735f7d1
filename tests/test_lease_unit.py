"""The lease's refusals, engine-free: what a worker answers is final, not a retry."""

from __future__ import annotations

import anyio
import pytest

import swarmnet
from swarmnet.testing import MockRequest, MockResponse, MockTransport

pytestmark = pytest.mark.anyio

NOT_A_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify "
    "cluster state. Please run this command on a manager node or promote the current "
    "node to a manager."
)


def worker(request: MockRequest) -> MockResponse | None:
    if request.path.startswith("/configs"):
        return MockResponse.error(503, NOT_A_MANAGER)
    return None


async def test_a_lease_on_a_worker_raises_at_once_instead_of_waiting() -> None:
    transport = MockTransport(worker)
    async with swarmnet.Engine(transport=transport) as engine:
        with anyio.fail_after(2), pytest.raises(swarmnet.NotASwarmManager):
            async with swarmnet.Lease(engine, "ctl", duration=3):
                pass
    writes = [r for r in transport.requests if r.method != "GET"]
    assert writes == []


async def test_an_unreachable_manager_is_waited_out_not_raised() -> None:
    calls = 0

    def flaky(request: MockRequest) -> MockResponse | None:
        nonlocal calls
        if request.path.startswith("/configs"):
            calls += 1
            return MockResponse.error(503, "rpc error: code = Unavailable desc = no leader")
        return None

    engine = swarmnet.Engine(transport=MockTransport(flaky))
    async with engine, swarmnet.Lease(engine, "ctl", duration=1, poll_interval=0.05) as lease:
        await anyio.sleep(0.3)
        assert not lease.held
    assert calls >= 3
