"""``swarmnet.metrics``: a watcher's, a controller's and a lease's statistics as
Prometheus metrics, read from a real ``prometheus_client`` registry.

The wiring is checked engine-free (a watcher over recorded container events served by
``swarmnet.testing.MockTransport``); one lab test checks that the numbers move with a
real engine's events and reconcile runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from _engines import eventually
from prometheus_client import CollectorRegistry, generate_latest

import swarmnet
import swarmnet.metrics
from swarmnet.lab import LAB_IMAGE, Lab
from swarmnet.testing import MockRequest, MockStream, MockTransport

pytestmark = [pytest.mark.anyio]

DATA = Path(__file__).parent / "data"
CONTAINER_LINES = [
    line
    for line in (DATA / "typed_events.jsonl").read_bytes().split(b"\n")
    if b'"Type":"container"' in line
]


def _engine_answering(events: list[bytes]) -> swarmnet.Engine:
    def handler(request: MockRequest) -> Any:
        if request.path == "/events":
            return MockStream([line + b"\n" for line in events], end=False)
        if request.path == "/networks":
            return []
        if request.path == "/info":
            return {"ID": "x", "Name": "n1", "Swarm": {"LocalNodeState": "inactive"}}
        return None

    return swarmnet.Engine(transport=MockTransport(handler), name="n1")


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_a_watchers_counters_per_node_and_per_callback_are_exported() -> None:
    registry = CollectorRegistry()
    async with _engine_answering(CONTAINER_LINES) as engine:
        watcher = swarmnet.Watcher(engine)
        got: list[swarmnet.models.Event] = []
        watcher.add(lambda event, **_: got.append(event), type="container", name="seen")
        swarmnet.metrics.register(watcher=watcher, registry=registry)
        assert _value(registry, "swarmnet_watcher_events_received_total", node="n1") == 0
        async with watcher:
            await eventually(lambda: _done(got, len(CONTAINER_LINES)), within=10)
            assert _value(registry, "swarmnet_watcher_connected", node="n1") == 1
    received = _value(registry, "swarmnet_watcher_events_received_total", node="n1")
    assert received == len(CONTAINER_LINES)
    assert _value(registry, "swarmnet_watcher_events_delivered_total", node="n1") == received
    assert (
        _value(
            registry, "swarmnet_watcher_handler_calls_total", handler="seen", outcome="delivered"
        )
        == received
    )
    assert _value(registry, "swarmnet_watcher_handler_queued", handler="seen") == 0
    assert _value(registry, "swarmnet_watcher_gaps_total", node="n1") == 0
    text = generate_latest(registry).decode()
    assert "# TYPE swarmnet_watcher_handler_lag_seconds gauge" in text


async def _done(got: list[swarmnet.models.Event], count: int) -> bool | None:
    return True if len(got) >= count else None


def test_a_controller_and_its_lease_are_exported_before_they_run() -> None:
    engine = swarmnet.Engine("unix:///nonexistent.sock", name="m1")
    lease = swarmnet.Lease(engine, "metrics", identity="replica-a")
    controller = swarmnet.Controller(engine, lease=lease)
    registry = CollectorRegistry()
    collector = swarmnet.metrics.register(controller=controller, registry=registry, prefix="app")
    assert collector.lease is lease  # the controller's own
    assert _value(registry, "app_controller_active") == 0
    assert _value(registry, "app_controller_reconcile_runs_total", outcome="succeeded") == 0
    assert _value(registry, "app_controller_reconcile_duration_seconds_count") == 0
    assert _value(registry, "app_controller_queue", state="queued") == 0
    assert _value(registry, "app_lease_held", lease="metrics", identity="replica-a") == 0
    assert _value(registry, "app_lease_acquisitions_total", lease="metrics") == 0
    registry.unregister(collector)
    assert _value(registry, "app_controller_active") is None


def test_nothing_to_export_or_a_bad_prefix_is_refused() -> None:
    with pytest.raises(swarmnet.InvalidSpec, match="needs a watcher"):
        swarmnet.metrics.register(registry=CollectorRegistry())
    watcher = swarmnet.Watcher(swarmnet.Engine("unix:///x.sock", name="n"))
    with pytest.raises(swarmnet.InvalidSpec, match="not a metric name"):
        swarmnet.metrics.register(watcher=watcher, registry=CollectorRegistry(), prefix="a-b")


def test_without_prometheus_client_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import then fails
    watcher = swarmnet.Watcher(swarmnet.Engine("unix:///x.sock", name="n"))
    with pytest.raises(swarmnet.MissingExtra, match=r"pip install 'swarmnet\[metrics\]'") as err:
        swarmnet.metrics.register(watcher=watcher)
    assert isinstance(err.value, ImportError)


@pytest.mark.lab
async def test_the_numbers_move_with_a_real_engines_events_and_runs(lab: Lab) -> None:
    registry = CollectorRegistry()
    label = {"swarmnet.metrics-test": "1"}
    async with lab.nodes[2].engine() as engine:
        watcher = swarmnet.Watcher(engine)
        watcher.add(lambda event, **_: None, type="container", name="containers")
        controller = swarmnet.Controller(
            engine, settings=swarmnet.ControllerSettings(resync_interval=None)
        )

        @controller.reconcile("container", labels=label)
        async def look(ref: Any, container: Any, **kwargs: Any) -> None:
            await anyio.sleep(0.01)  # a run takes time: the summary's sum grows

        swarmnet.metrics.register(watcher=watcher, controller=controller, registry=registry)
        node = engine.name
        async with watcher, controller:
            before = _value(registry, "swarmnet_watcher_events_received_total", node=node)
            runs = _value(registry, "swarmnet_controller_reconcile_runs_total", outcome="succeeded")
            container = await engine.containers.run(
                LAB_IMAGE, ["sleep", "30"], labels=label, start=True
            )
            try:

                async def moved() -> bool | None:
                    now = _value(
                        registry, "swarmnet_controller_reconcile_runs_total", outcome="succeeded"
                    )
                    seen = _value(registry, "swarmnet_watcher_events_received_total", node=node)
                    assert now is not None
                    assert runs is not None
                    assert seen is not None
                    assert before is not None
                    return True if now > runs and seen >= before + 2 else None

                await eventually(moved, within=10)
            finally:
                await engine.containers.remove(container.id)
            assert _value(registry, "swarmnet_controller_active") == 1
            count = _value(registry, "swarmnet_controller_reconcile_duration_seconds_count")
            total = _value(registry, "swarmnet_controller_reconcile_duration_seconds_sum")
            assert (count or 0) >= 1
            assert (total or 0) >= 0.01
    text = generate_latest(registry).decode()
    assert json.dumps(node) in text  # the node label, quoted
