"""Swarm services on overlays, proven on real engines (node1 manager, node2/node3 workers).

Traffic is observed from inside task containers (``ping``/``nslookup`` run with exec on
the node that runs the task) and, for host-mode published ports, from this host to the
lab nodes' own addresses. Every negative check has a positive twin in the same test.
There is no IPVS in this kernel, so VIP-mode services are tested on what the engine
accepts and reports (the VIP and its DNS answer), never on traffic to the VIP; traffic
tests use ``endpoint_mode="dnsrr"``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from _containers import Tracker, unique_prefix

import swarmnet
from swarmnet import (
    PublishedPort,
    Resources,
    RestartPolicy,
    ServiceDrift,
    ServiceNetwork,
    ServiceSpec,
    UpdateSettings,
)
from swarmnet._core.errors import ServiceNotFound, ServiceUpdateFailed
from swarmnet._services.drift import apply
from swarmnet.lab import LAB_IMAGE, Lab, LabNode
from swarmnet.models import Progress, Service, ServiceOutcome, Task, TaskState

pytestmark = [pytest.mark.anyio, pytest.mark.lab]

SLEEP = ("sleep", "3600")
FAST = UpdateSettings(parallelism=0, monitor=0.2)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "06_services_on_overlays.py"


@pytest.fixture
def prefix() -> str:
    return unique_prefix("sv")


@pytest.fixture
async def made(
    swarm: swarmnet.Cluster, engine: swarmnet.Engine, prefix: str, tracker: Tracker
) -> AsyncIterator[Tracker]:
    """The tracker, and every service named ``prefix…`` removed (before its networks)."""
    try:
        yield tracker
    finally:
        async with swarmnet.Engine(engine.url) as manager:
            for service in await manager.services.list():
                if service.name.startswith(prefix):
                    await manager.services.remove(service.id, missing_ok=True)
            await tracker.cleanup()
            await _remove_networks_when_free(manager, prefix)


async def _remove_networks_when_free(engine: swarmnet.Engine, prefix: str) -> None:
    # An overlay stays in use until the removed services' tasks are gone (seconds).
    with anyio.move_on_after(30):
        while True:
            left = [n for n in await engine.networks.list() if n.name.startswith(prefix)]
            if not left:
                return
            for network in left:
                with contextlib.suppress(swarmnet.EngineAPIError):
                    await engine.networks.remove(network.id)
            await anyio.sleep(0.5)


def _svc(name: str, networks: tuple[str | ServiceNetwork, ...], **fields: Any) -> ServiceSpec:
    fields.setdefault("args", SLEEP)
    fields.setdefault("endpoint_mode", "dnsrr")
    fields.setdefault("update_config", FAST)
    # `sleep` as PID 1 ignores SIGTERM: without this every removal waits 10 s per task.
    fields.setdefault("stop_grace_period", 0)
    return ServiceSpec(name=name, image=LAB_IMAGE, networks=networks, **fields)


async def _nodes_by_id(engine: swarmnet.Engine, lab: Lab) -> dict[str, LabNode]:
    return {node.id: lab.node(node.hostname) for node in await engine.nodes.list()}


async def _exec(node: LabNode, task: Task, *argv: str) -> swarmnet.models.ExecResult:
    async with node.engine() as on_node:
        return await on_node.containers.exec(task.container_id, *argv)


async def _running(engine: swarmnet.Engine, service: str) -> tuple[Task, ...]:
    tasks = await engine.services.tasks(service, up_to_date=True, desired_state="running")
    assert all(t.state is TaskState.RUNNING for t in tasks), tasks
    return tasks


async def _lookup(
    run: Callable[[], Awaitable[swarmnet.models.ExecResult]], wanted: set[str]
) -> str:
    """The output of ``run`` (an nslookup) once it holds every wanted address.

    The other nodes learn of new tasks by gossip, a moment after swarm reports them
    running; after 15 s the last output is returned (and the caller's assert fails).
    """
    answer = await run()
    with anyio.move_on_after(15):
        while not (answer.ok and all(address in answer.output for address in wanted)):
            await anyio.sleep(0.5)
            answer = await run()
    return answer.output


def _subnet(network: swarmnet.Network) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    subnet = network.ipam.config[0].subnet
    assert subnet is not None
    return subnet


def _addresses(tasks: tuple[Task, ...], network: str) -> set[str]:
    return {str(a.ip) for t in tasks for a in t.addresses_on(network)}


# -- connectivity --------------------------------------------------------------------------


async def test_two_services_on_one_overlay_spread_over_three_nodes_reach_each_other(
    made: Tracker, engine: swarmnet.Engine, lab: Lab, prefix: str
) -> None:
    overlay = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}ov"))
    results = await engine.services.ensure_many(
        [
            _svc(f"{prefix}a", (overlay.name,), replicas=3),
            _svc(f"{prefix}b", (overlay.name,), replicas=3),
        ]
    )
    assert [r.outcome for r in results] == [ServiceOutcome.CREATED] * 2
    for result in results:
        await engine.services.wait_converged(result.service.id, timeout=90)
    nodes = await _nodes_by_id(engine, lab)
    a_tasks = await _running(engine, f"{prefix}a")
    b_tasks = await _running(engine, f"{prefix}b")
    assert len({t.node_id for t in a_tasks}) == 3
    assert len({t.node_id for t in b_tasks}) == 3
    assert sorted(t.slot or 0 for t in b_tasks) == [1, 2, 3]
    b_addresses = _addresses(b_tasks, overlay.name)
    assert len(b_addresses) == 3
    assert all(a in _subnet(overlay) for t in b_tasks for a in [t.addresses_on(overlay.id)[0].ip])

    for a_task in a_tasks:
        here = nodes[a_task.node_id]
        by_name = await _lookup(partial(_exec, here, a_task, "nslookup", f"{prefix}b"), b_addresses)
        assert all(address in by_name for address in b_addresses), by_name
        per_task = await _lookup(
            partial(_exec, here, a_task, "nslookup", f"tasks.{prefix}b"), b_addresses
        )
        assert all(address in per_task for address in b_addresses), per_task
        assert (await _exec(here, a_task, "ping", "-c", "1", "-W", "2", f"{prefix}b")).ok
    # Each task of b, one on each node, answers a task of a (across nodes, over VXLAN).
    a_task = a_tasks[0]
    for address in b_addresses:
        assert (
            await _exec(nodes[a_task.node_id], a_task, "ping", "-c", "1", "-W", "2", address)
        ).ok
    b_task = b_tasks[-1]
    assert (
        await _exec(nodes[b_task.node_id], b_task, "ping", "-c", "1", "-W", "2", f"{prefix}a")
    ).ok
    # The negative twin: a name nobody registered does not resolve.
    assert not (await _exec(nodes[b_task.node_id], b_task, "nslookup", f"{prefix}zz")).ok


async def test_a_service_reaches_containers_on_each_of_its_overlays_and_none_elsewhere(
    made: Tracker, engine: swarmnet.Engine, lab: Lab, prefix: str
) -> None:
    ov_a = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}a", attachable=True))
    ov_b = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}b", attachable=True))
    on_a = await made.run(engine, f"{prefix}ca", network=ov_a.name)
    on_b = await made.run(engine, f"{prefix}cb", network=ov_b.name)
    a_address = str((await engine.containers.get(on_a)).networks[ov_a.name].ip_address)
    b_address = str((await engine.containers.get(on_b)).networks[ov_b.name].ip_address)
    await engine.services.ensure_many(
        [_svc(f"{prefix}both", (ov_a.name, ov_b.name)), _svc(f"{prefix}only", (ov_a.name,))]
    )
    nodes = await _nodes_by_id(engine, lab)
    for name in (f"{prefix}both", f"{prefix}only"):
        await engine.services.wait_converged(name, timeout=90)
    (both,) = await _running(engine, f"{prefix}both")
    (only,) = await _running(engine, f"{prefix}only")
    assert _addresses((both,), ov_a.id)
    assert _addresses((both,), ov_b.id)
    assert not _addresses((only,), ov_b.id)

    for target in (f"{prefix}ca", a_address, f"{prefix}cb", b_address):
        result = await _exec(nodes[both.node_id], both, "ping", "-c", "1", "-W", "2", target)
        assert result.ok, (target, result.output)
    assert (await _exec(nodes[only.node_id], only, "ping", "-c", "1", "-W", "2", a_address)).ok
    assert not (await _exec(nodes[only.node_id], only, "ping", "-c", "1", "-W", "2", b_address)).ok
    assert not (await _exec(nodes[only.node_id], only, "nslookup", f"{prefix}cb")).ok


async def test_a_standalone_container_on_an_attachable_overlay_reaches_a_service_by_name(
    made: Tracker, engine: swarmnet.Engine, lab: Lab, prefix: str
) -> None:
    overlay = await engine.networks.create(
        swarmnet.OverlaySpec(name=f"{prefix}ov", attachable=True)
    )
    created = await engine.services.create(_svc(f"{prefix}web", (overlay.name,), replicas=2))
    await engine.services.wait_converged(created.id, timeout=90)
    addresses = _addresses(await _running(engine, created.name), overlay.id)
    async with lab.nodes[1].engine() as worker:
        made.watch_networks(worker, prefix)
        client = await made.run(worker, f"{prefix}client", network=overlay.name)
        looked_up = await _lookup(
            partial(worker.containers.exec, client, "nslookup", created.name), addresses
        )
        assert all(address in looked_up for address in addresses), looked_up
        assert (await worker.containers.exec(client, "ping", "-c", "1", "-W", "2", created.name)).ok
        assert not (await worker.containers.exec(client, "nslookup", f"{prefix}nobody")).ok


async def _http_get(address: str, port: int) -> str:
    with anyio.fail_after(10):
        async with await anyio.connect_tcp(address, port) as stream:
            await stream.send(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
            answer = b""
            with contextlib.suppress(anyio.EndOfStream):
                while True:
                    answer += await stream.receive()
    return answer.decode(errors="replace")


async def test_a_host_mode_port_answers_on_each_node_that_runs_a_task_and_no_other(
    made: Tracker, engine: swarmnet.Engine, lab: Lab, prefix: str
) -> None:
    overlay = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}ov"))
    port = 18000 + int(prefix.split("-")[1], 16) % 1000
    spec = _svc(
        f"{prefix}web",
        (overlay.name,),
        replicas=2,
        constraints=("node.hostname!=node3",),
        ports=(PublishedPort(target=80, published=port, mode="host"),),
        command=("sh", "-c"),
        args=(
            "mkdir -p /www && echo served-by-swarm > /www/index.html "
            "&& exec httpd -f -p 80 -h /www",
        ),
    )
    service = await engine.services.wait_converged(
        (await engine.services.create(spec)).id, timeout=90
    )
    assert [(p.target, p.published, p.mode) for p in service.ports] == [(80, port, "host")]
    nodes = await _nodes_by_id(engine, lab)
    serving = {nodes[t.node_id].name for t in await _running(engine, service.name)}
    assert serving == {"node1", "node2"}
    for node in lab.nodes[:3]:
        if node.name in serving:
            answer = await _http_get(node.address, port)
            assert answer.startswith("HTTP/1."), answer
            assert "served-by-swarm" in answer, answer
        else:
            with pytest.raises(OSError, match=r"(?i)connect|refused"):
                await _http_get(node.address, port)


async def test_a_vip_service_gets_a_virtual_ip_its_name_resolves_to(
    made: Tracker, engine: swarmnet.Engine, lab: Lab, prefix: str
) -> None:
    overlay = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}ov"))
    service = await engine.services.create(
        _svc(f"{prefix}vip", (overlay.name,), replicas=2, endpoint_mode="vip")
    )
    service = await engine.services.wait_converged(service.id, timeout=90)
    assert service.endpoint_mode == "vip"
    vip = service.virtual_ip(overlay.id)
    assert vip is not None
    assert vip.ip in _subnet(overlay)
    tasks = await _running(engine, service.name)
    assert str(vip.ip) not in _addresses(tasks, overlay.id)
    nodes = await _nodes_by_id(engine, lab)
    task = tasks[0]
    by_name = await _exec(nodes[task.node_id], task, "nslookup", service.name)
    assert str(vip.ip) in by_name.output, by_name.output
    addresses = _addresses(tasks, overlay.id)
    per_task = await _lookup(
        partial(_exec, nodes[task.node_id], task, "nslookup", f"tasks.{service.name}"), addresses
    )
    assert str(vip.ip) not in per_task
    assert all(a in per_task for a in addresses), per_task


# -- ensure, update, drift ---------------------------------------------------------------


def _counting(url: str, calls: list[tuple[str, str]]) -> swarmnet.Engine:
    return swarmnet.Engine(url, on_request=lambda method, path: calls.append((method, path)))


async def test_a_second_ensure_of_an_unchanged_spec_writes_nothing(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    overlay = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}ov"))
    spec = _svc(
        f"{prefix}s",
        (ServiceNetwork(target=overlay.name, aliases=("x", "y")),),
        replicas=2,
        env={"B": "2", "A": "1"},
        labels={"team": "net"},
        container_labels={"tier": "web"},
        ports=(PublishedPort(target=80, published=18999, mode="host"),),
        constraints=("node.role!=manager", "node.labels.nope!=x"),
        preferences=("node.labels.zone",),
        restart_policy=RestartPolicy(),
        rollback_config=UpdateSettings(failure_action="continue"),
        limits=Resources(cpus=0.5, memory=64 * 2**20),
    )
    first = await engine.services.ensure(spec)
    assert first.outcome is ServiceOutcome.CREATED
    # The allocator bumps the version once after a create (ports, addresses); let it.
    before = await engine.services.wait_converged(spec.name, timeout=90)
    calls: list[tuple[str, str]] = []
    async with _counting(engine.url, calls) as counted:
        calls.clear()
        again = await counted.services.ensure(spec)
        assert again.outcome is ServiceOutcome.UNCHANGED, again.diff
        assert not [c for c in calls if c[0] != "GET"]
        calls.clear()
        batch = await counted.services.ensure_many([spec])
        assert batch[0].outcome is ServiceOutcome.UNCHANGED
        # This engine object listed the networks once already: the services list is
        # the one request of a repeated pass.
        assert calls == [("GET", "services")]
    async with _counting(engine.url, calls) as fresh:
        calls.clear()
        batch = await fresh.services.ensure_many([spec])
        assert batch[0].outcome is ServiceOutcome.UNCHANGED
        assert sorted(calls) == [("GET", "networks"), ("GET", "services")]
    after = await engine.services.get(spec.name)
    assert after.version == before.version
    assert after.previous_spec_payload is None  # no update happened: no rollback target


async def test_ten_concurrent_ensures_of_one_spec_end_with_one_service(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    spec = _svc(f"{prefix}race", (), replicas=1)
    outcomes: list[ServiceOutcome] = []

    async def one() -> None:
        async with swarmnet.Engine(engine.url) as client:
            outcomes.append((await client.services.ensure(spec)).outcome)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(one)
    assert len(await engine.services.list(name=spec.name)) == 1
    assert sorted(outcomes) == sorted([ServiceOutcome.CREATED] + [ServiceOutcome.UNCHANGED] * 9)


async def test_drift_is_raised_left_or_updated_in_place_keeping_unmentioned_fields(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    name = f"{prefix}d"
    created = await engine.services.create(
        _svc(name, (), env={"A": "1"}, labels={"owner": "ops"}, replicas=1)
    )
    changed = ServiceSpec(name=name, image=LAB_IMAGE, env={"A": "2"})
    # The version moves with allocation and update status too: count writes instead.
    calls: list[tuple[str, str]] = []
    async with _counting(engine.url, calls) as counted:
        calls.clear()
        with pytest.raises(swarmnet.DriftDetected) as raised:
            await counted.services.ensure(changed)
        assert raised.value.diff.fields == ("env.A",)
        left = await counted.services.ensure(changed, on_drift=ServiceDrift.LEAVE)
        assert left.outcome is ServiceOutcome.DRIFTED
        assert not [c for c in calls if c[0] != "GET"]

        updated = await counted.services.ensure(changed, on_drift=ServiceDrift.UPDATE)
        assert updated.outcome is ServiceOutcome.UPDATED
        assert [c for c in calls if c[0] != "GET"] == [("POST", f"services/{created.id}/update")]
        assert updated.service.id == created.id  # updated in place, never re-created
        stored = updated.service.spec_payload
        assert stored["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=2"]
        assert stored["TaskTemplate"]["ContainerSpec"]["Args"] == list(SLEEP)
        assert updated.service.labels == {"owner": "ops"}
        assert updated.service.endpoint_mode == "dnsrr"
        previous = updated.service.previous_spec_payload
        assert previous is not None  # the rollback target is the spec before the update
        assert previous["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1"]
        await counted.services.wait_converged(name, timeout=90)

        calls.clear()
        with pytest.raises(swarmnet.InvalidSpec, match="mode"):
            await counted.services.ensure(
                ServiceSpec(name=name, image=LAB_IMAGE, mode="global"),
                on_drift=ServiceDrift.UPDATE,
            )
        assert not [c for c in calls if c[0] != "GET"]


async def test_update_keeps_what_it_is_not_told_and_refuses_a_rename_before_writing(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    name = f"{prefix}up"
    created = await engine.services.create(
        _svc(name, (), replicas=1, env={"KEEP": "1"}, constraints=("node.role==manager",))
    )
    await engine.services.wait_converged(name, timeout=90)
    updated = await engine.services.update(
        name, ServiceSpec(name=name, image=LAB_IMAGE, replicas=2)
    )
    assert updated.replicas == 2
    container = updated.spec_payload["TaskTemplate"]["ContainerSpec"]
    assert (container["Env"], container["Args"]) == (["KEEP=1"], list(SLEEP))
    assert updated.spec_payload["TaskTemplate"]["Placement"]["Constraints"] == [
        "node.role==manager"
    ]
    calls: list[tuple[str, str]] = []
    async with _counting(engine.url, calls) as counted:
        calls.clear()
        with pytest.raises(swarmnet.InvalidSpec, match="renamed"):
            await counted.services.update(name, ServiceSpec(name=f"{prefix}other", image=LAB_IMAGE))
        same = await counted.services.update(name, ServiceSpec(name=name, image=LAB_IMAGE))
        assert not [c for c in calls if c[0] != "GET"]  # nothing changed, nothing sent
        forced = await counted.services.update(
            name, ServiceSpec(name=name, image=LAB_IMAGE), force=True
        )
        assert [c for c in calls if c[0] == "POST"] == [("POST", f"services/{created.id}/update")]
    assert forced.spec_payload["TaskTemplate"]["ForceUpdate"] == 1
    assert same.id == forced.id == created.id
    await engine.services.wait_converged(name, timeout=90)


async def test_an_update_sent_with_a_stale_version_is_retried_after_reading_again(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    name = f"{prefix}seq"
    stale = await engine.services.create(_svc(name, (), replicas=1))
    await engine.services.update(name, ServiceSpec(name=name, image=LAB_IMAGE, labels={"v": "1"}))
    patch = ServiceSpec(name=name, image=LAB_IMAGE, env={"E": "x"}).patch({})
    calls: list[tuple[str, str]] = []
    async with _counting(engine.url, calls) as counted:
        service, wrote = await counted.services._update(stale, lambda s: apply(patch, s))
    assert wrote
    assert [c for c in calls if c[0] == "POST"] == [("POST", f"services/{stale.id}/update")] * 2
    assert service.labels == {"v": "1"}  # the other update's change survives
    assert service.spec_payload["TaskTemplate"]["ContainerSpec"]["Env"] == ["E=x"]


# -- networks of a running service, tasks, convergence -----------------------------------


async def test_networks_are_added_to_and_removed_from_a_running_service(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    ov_a = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}a"))
    ov_b = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}b"))
    service = await engine.services.create(_svc(f"{prefix}s", (ov_a.name,), replicas=2))
    await engine.services.wait_converged(service.id, timeout=90)
    seen: list[Progress] = []

    added = await engine.services.add_network(
        service.name, ServiceNetwork(target=ov_b.name, aliases=("bee",)), on_progress=seen.append
    )
    assert set(added.network_ids()) == {ov_a.id, ov_b.id}
    assert str(seen[-1]).startswith("2/2 running")
    tasks = await _running(engine, service.name)
    assert len(tasks) == 2
    for task in tasks:
        assert task.addresses_on(ov_a.id)[0].ip in _subnet(ov_a)
        assert task.addresses_on(ov_b.name)[0].ip in _subnet(ov_b)

    calls: list[tuple[str, str]] = []
    async with _counting(engine.url, calls) as counted:
        again = await counted.services.add_network(
            service.name, ServiceNetwork(target=ov_b.name, aliases=("bee",))
        )
    assert set(again.network_ids()) == {ov_a.id, ov_b.id}
    assert not [c for c in calls if c[0] == "POST"]

    removed = await engine.services.remove_network(service.name, ov_a.name)
    assert removed.network_ids() == (ov_b.id,)
    for task in await _running(engine, service.name):
        assert not task.addresses_on(ov_a.id)
        assert task.addresses_on(ov_b.id)

    with pytest.raises(swarmnet.InvalidSpec, match="networks"):
        await engine.services.add_network(service.name, f"{prefix}missing")


async def test_tasks_that_cannot_start_fail_convergence_with_their_own_errors(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    spec = ServiceSpec(name=f"{prefix}bad", image="swarmnet-lab/absent:latest", replicas=2)
    service = await engine.services.create(spec)
    with pytest.raises(ServiceUpdateFailed) as failed:
        await engine.services.wait_converged(service.id, timeout=60)
    assert failed.value.service == spec.name
    assert failed.value.task_errors
    assert "image" in " ".join(failed.value.task_errors).lower()
    assert "/2 running" in failed.value.progress


async def test_a_failing_update_rolls_back_and_raises_with_the_task_errors(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    name = f"{prefix}rb"
    await engine.services.create(_svc(name, (), replicas=2))
    await engine.services.wait_converged(name, timeout=90)
    broken = ServiceSpec(
        name=name,
        image=LAB_IMAGE,
        args=("sh", "-c", "exit 3"),
        update_config=UpdateSettings(monitor=2, failure_action="rollback"),
    )
    await engine.services.update(name, broken)
    # Failed tasks tolerated, so only the update's own state can end the wait.
    with pytest.raises(ServiceUpdateFailed) as failed:
        await engine.services.wait_converged(name, timeout=90, allowed_failures=1000)
    assert failed.value.update_state.startswith("rollback"), failed.value
    # The tasks that failed ran the broken spec, which is no longer current after the
    # rollback; their errors are reported all the same.
    assert any("exit" in error for error in failed.value.task_errors), failed.value.task_errors
    # Once rolled back, the failed update is what the service reports, every time.
    with pytest.raises(ServiceUpdateFailed, match="rollback"):
        await engine.services.wait_converged(name, timeout=90)


async def test_a_placement_nobody_satisfies_times_out_with_the_schedulers_message(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    spec = _svc(f"{prefix}nowhere", (), constraints=("node.labels.swarmnet-nowhere==yes",))
    service = await engine.services.create(spec)
    with pytest.raises(ServiceUpdateFailed) as failed:
        await engine.services.wait_converged(service.id, timeout=3)
    assert "0/1 running" in str(failed.value)
    assert any("suitable node" in error for error in failed.value.task_errors)


# -- reading -----------------------------------------------------------------------------


async def test_get_list_and_remove_by_name_with_typed_filters(
    made: Tracker, engine: swarmnet.Engine, prefix: str
) -> None:
    await engine.services.ensure_many(
        [
            _svc(f"{prefix}r", (), replicas=0, labels={"kind": "r"}),
            _svc(f"{prefix}g", (), mode="global", labels={"kind": "g"}),
        ]
    )
    assert (await engine.services.get(f"{prefix}r")).replicas == 0
    globals_ = await engine.services.list(mode="global", labels={"kind": "g"})
    assert [s.name for s in globals_ if s.name.startswith(prefix)] == [f"{prefix}g"]
    assert [s.name for s in await engine.services.list(labels=["kind=r"])] == [f"{prefix}r"]
    g = await engine.services.wait_converged(f"{prefix}g", timeout=90)
    assert g.replicas is None
    assert len(await _running(engine, g.name)) == 3  # one per node
    assert all(t.slot is None for t in await engine.services.tasks(g.name))
    assert await engine.services.remove(f"{prefix}r")
    with pytest.raises(ServiceNotFound):
        await engine.services.get(f"{prefix}r")
    assert not await engine.services.remove(f"{prefix}r", missing_ok=True)
    with pytest.raises(ServiceNotFound):
        await engine.services.remove(f"{prefix}r")
    assert isinstance(g, Service)


async def _cli(*argv: str) -> tuple[int, str]:
    result = await anyio.run_process(
        [sys.executable, "-m", "swarmnet", *argv], check=False, stderr=subprocess.STDOUT
    )
    return result.returncode, result.stdout.decode()


async def test_the_service_command_ensures_lists_shows_tasks_and_removes(
    made: Tracker, engine: swarmnet.Engine, lab: Lab, prefix: str
) -> None:
    host = ("-H", lab.nodes[0].docker_host)
    overlay = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}ov"))
    name = f"{prefix}cli"
    # Options first: everything after the image is the task's command, dashes too.
    flags: tuple[str, ...] = ("--replicas", "2", "--network", f"{overlay.name}:al")
    flags += ("--endpoint-mode", "dnsrr", "--stop-grace-period", "0")
    ensure = ("service", "ensure", *host, *flags, "--wait", name, LAB_IMAGE, "sleep", "600")
    code, out = await _cli(*ensure)
    assert code == 0, out
    assert f"{name}: created" in out
    assert "2/2 running" in out
    code, out = await _cli(*ensure)
    assert (code, f"{name}: unchanged" in out) == (0, True), out
    (made_service,) = await engine.services.list(name=name)
    assert made_service.spec_payload["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 0
    code, out = await _cli("service", "ls", *host, "--name", name, "--json")
    assert code == 0, out
    (listed,) = json.loads(out)
    assert (listed["running_tasks"], listed["desired_tasks"]) == (2, 2)
    code, out = await _cli("service", "ps", *host, name)
    assert code == 0, out
    assert out.count(f"{overlay.name}=") == 2
    code, out = await _cli("service", "ensure", *host, "--endpoint-mode", "x", name, LAB_IMAGE)
    assert code == 2, out  # argparse refuses the choice
    code, out = await _cli("service", "ensure", *host, "--publish", "80:80", name, LAB_IMAGE)
    assert code == 1
    assert "ports" in out  # a port the service lacks is drift, refused by default
    code, out = await _cli("service", "rm", *host, name, "--json")
    assert code == 0, out
    assert json.loads(out) == {"removed": [name]}  # it printed nothing with --json
    assert not await engine.services.list(name=name)


async def test_the_service_tables_show_json_fields_in_their_order(
    made: Tracker, engine: swarmnet.Engine, lab: Lab, prefix: str
) -> None:
    """Issue #11 item 13: one naming, the model's, in --json and in the tables' headers.

    ``service ls`` printed ``ID NAME MODE TASKS EP IMAGE`` and ``service ps`` ``TASK …
    ADDRESSES / ERROR``: names --json does not have, in another order.
    """
    host = ("-H", lab.nodes[0].docker_host)
    overlay = await engine.networks.create(swarmnet.OverlaySpec(name=f"{prefix}ov"))
    name = f"{prefix}tbl"
    flags = ("--replicas", "1", "--network", overlay.name, "--stop-grace-period", "0")
    code, out = await _cli("service", "ensure", *host, *flags, "--wait", name, LAB_IMAGE, *SLEEP)
    assert code == 0, out
    for command in (("ls", "--name", name), ("ps", name)):
        code, out = await _cli("service", *command, *host, "--json")
        assert code == 0, out
        (listed,) = json.loads(out)
        code, out = await _cli("service", *command, *host)
        assert code == 0, out
        header, row = out.splitlines()
        columns = [c.lower() for c in header.split()]
        assert columns == [key for key in listed if key in columns], command
        assert row.split()[0] == listed["id"][:12]
        if command[0] == "ls":
            assert row.split()[1:] == [name, LAB_IMAGE, "replicated", "vip", "1", "1"]
        else:
            assert row.split()[1:3] == [listed["node_id"][:12], "1"]
            assert f"{overlay.name}=" in row


async def test_the_example_runs_against_the_lab(made: Tracker, lab: Lab) -> None:
    result = await anyio.run_process(
        [sys.executable, str(EXAMPLE), lab.nodes[0].docker_host],
        check=False,
        stderr=subprocess.STDOUT,
    )
    output = result.stdout.decode()
    assert result.returncode == 0, output
    assert "converged" in output
