"""Stacks on real engines, side by side with ``docker stack`` (the docker CLI, 28.x).

One swarm for the module (node1 manages). The showcase file ``data/stack_shop.yaml``
has 3 networks (attachable, internal, explicit subnet) and 4 services (replicated and
global, dnsrr, a host-mode port, aliases). Both directions are checked: swarmnet applies
and ``docker stack ps``/``deploy``/``rm`` work on it and change nothing swarmnet sees;
``docker stack deploy`` makes it and swarmnet plans no change. Edits to the file give
exactly those changes, apply converges them, and a second plan is empty.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

import swarmnet
from swarmnet._core.errors import InvalidSpec
from swarmnet._stacks.apply import StackStep, list_stacks, remove_stack
from swarmnet._stacks.model import NAMESPACE_LABEL, Stack
from swarmnet._stacks.plan import ObjectKind, StackAction, StackPlan
from swarmnet.lab import Lab

pytestmark = [pytest.mark.anyio, pytest.mark.lab]

DATA = Path(__file__).resolve().parent / "data"
SHOP = DATA / "stack_shop.yaml"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "09_stack_plan_apply.py"


def docker(lab: Lab, *args: str) -> str:
    """Run the docker CLI against node1; its output (fails the test on an error)."""
    env = {**os.environ, "DOCKER_HOST": lab.nodes[0].docker_host}
    done = subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


def deploy(lab: Lab, file: Path, name: str) -> None:
    docker(
        lab, "stack", "deploy", "-c", str(file), "--resolve-image", "never", "--detach=true", name
    )


async def converged(engine: swarmnet.Engine, stack: Stack) -> None:
    async with anyio.create_task_group() as group:
        for service in stack.services:
            group.start_soon(functools.partial(engine.services.wait_converged, service.name))


async def gone(engine: swarmnet.Engine, name: str) -> None:
    """Wait until no service or network of stack ``name`` is left."""
    with anyio.fail_after(60):
        while [s for s in await list_stacks(engine) if s.name == name]:  # noqa: ASYNC110
            await anyio.sleep(0.3)  # the engine has no event for "stack gone"


def summary(plan: StackPlan) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {
        (i.kind.value, i.name, i.action.value, tuple(c.field for c in i.changes))
        for i in plan.pending
    }


@pytest.fixture
async def clean(swarm: swarmnet.Cluster, engine: swarmnet.Engine) -> AsyncIterator[None]:
    """Every stack a test made is removed (services first, then networks)."""
    try:
        yield
    finally:
        for found in await list_stacks(engine):
            await remove_stack(engine, found.name)


async def test_apply_then_docker_stack_ps_deploy_and_edits(
    lab: Lab, engine: swarmnet.Engine, clean: None, tmp_path: Path
) -> None:
    stack = Stack.from_compose(SHOP, name="shop")
    first = await stack.plan(engine)
    assert {(i.kind, i.action) for i in first.items} == {
        (ObjectKind.NETWORK, StackAction.CREATE),
        (ObjectKind.SERVICE, StackAction.CREATE),
    }
    assert len(first.items) == 8
    steps: list[StackStep] = []
    result = await stack.apply(engine, on_progress=steps.append)
    assert result.ok
    assert len(result.done) == 8
    assert not result.not_done
    assert any("running" in s.detail for s in steps)

    # docker stack ls/ps see it: every service's tasks are listed and running.
    assert "shop" in docker(lab, "stack", "ls", "--format", "{{.Name}}").split()
    ps = docker(lab, "stack", "ps", "shop", "--format", "{{.Name}} {{.CurrentState}}")
    names = {line.split()[0].rsplit(".", 1)[0] for line in ps.splitlines() if line}
    assert {"shop_web", "shop_edge", "shop_worker", "shop_janitor"} <= names
    assert "Running" in ps
    # Global: one edge task per node (3 nodes).
    assert (
        len([t for t in await engine.services.tasks("shop_edge") if t.state.value == "running"])
        == 3
    )
    assert not await stack.plan(engine)

    # docker stack deploy of the same file: swarmnet sees nothing to change.
    deploy(lab, SHOP, "shop")
    await converged(engine, stack)
    again = await stack.plan(engine)
    assert not again, str(again)

    # Edits: a replica count, an alias, a network added to a service, a network removed.
    text = SHOP.read_text()
    edited = (
        text.replace("      replicas: 2\n", "      replicas: 3\n")
        .replace("aliases: [www]", "aliases: [www, shop]")
        .replace("    networks: [front]\n", "    networks: [front, back]\n")
        .replace("      - back\n      - data\n", "      - back\n")
        .replace("  data:\n    ipam:\n      config:\n        - subnet: 10.231.7.0/24\n", "")
    )
    file = tmp_path / "stack.yaml"
    file.write_text(edited)
    changed = Stack.from_compose(file, name="shop")
    plan = await changed.plan(engine, prune=True)
    assert summary(plan) == {
        ("service", "shop_web", "update", ("deploy.replicas", "networks")),
        ("service", "shop_edge", "update", ("networks",)),
        ("service", "shop_worker", "update", ("networks",)),
        ("network", "shop_data", "remove", ()),
    }, str(plan)
    # Without prune the network stays.
    assert ("network", "shop_data", "remove", ()) not in summary(await changed.plan(engine))
    result = await changed.apply(engine, prune=True)
    assert result.ok, result.error
    assert (
        len(await engine.services.tasks("shop_web", up_to_date=True, desired_state="running")) == 3
    )
    assert not await changed.plan(engine, prune=True)
    assert "shop_data" not in {n.name for n in await engine.networks.list()}

    # docker stack rm works on what swarmnet applied.
    docker(lab, "stack", "rm", "shop")
    await gone(engine, "shop")


async def test_docker_stack_deploy_then_swarmnet_plans_no_changes(
    lab: Lab, engine: swarmnet.Engine, clean: None
) -> None:
    stack = Stack.from_compose(SHOP, name="cli")
    deploy(lab, SHOP, "cli")
    await converged(engine, stack)
    plan = await stack.plan(engine, prune=True)
    assert not plan, str(plan)
    assert len(plan.items) == 8
    # The CLI labelled everything; swarmnet finds it and removes it.
    (found,) = [s for s in await list_stacks(engine) if s.name == "cli"]
    assert len(found.services) == 4
    assert len(found.networks) == 4
    removed = await remove_stack(engine, "cli")
    assert removed.ok
    assert len(removed.done) == 8
    assert not [s for s in await list_stacks(engine) if s.name == "cli"]


async def test_invalid_file_writes_nothing(
    engine: swarmnet.Engine, clean: None, tmp_path: Path
) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(SHOP.read_text().replace("      replicas: 2\n", "      replicas: many\n"))
    before = await engine.services.list(labels=[NAMESPACE_LABEL])
    with pytest.raises(InvalidSpec, match=r"bad\.yaml:\d+: services\.web\.deploy\.replicas: "):
        await Stack.from_compose(file, name="bad").apply(engine)
    assert await engine.services.list(labels=[NAMESPACE_LABEL]) == before
    # A network change cannot be applied in place: refused before any write.
    small = (
        "networks:\n  back:\n    internal: true\n"
        "services:\n  idle:\n    image: swarmnet-lab/busybox:latest\n"
        "    networks: [back]\n    deploy:\n      replicas: 0\n"
    )
    file.write_text(small)
    await Stack.from_compose(file, name="net").apply(engine)
    file.write_text(small.replace("internal: true", "internal: false"))
    changed = Stack.from_compose(file, name="net")
    plan = await changed.plan(engine)
    assert summary(plan) == {("network", "net_back", "update", ("internal",))}
    versions = {s.name: s.version for s in await engine.services.list()}
    with pytest.raises(InvalidSpec, match="networks cannot be changed in place"):
        await changed.apply(engine)
    assert {s.name: s.version for s in await engine.services.list()} == versions


async def test_the_example_runs_against_the_lab(
    lab: Lab, engine: swarmnet.Engine, clean: None
) -> None:
    result = await anyio.run_process(
        [sys.executable, str(EXAMPLE), lab.nodes[0].docker_host],
        check=False,
        stderr=subprocess.STDOUT,
    )
    output = result.stdout.decode()
    assert result.returncode == 0, output
    assert "~ service swarmnet-example_api" in output
    assert "deploy.replicas: wanted 3, found 2" in output
    assert output.count("no changes") == 1
    assert "removed 2 object(s)" in output


SMALL = """\
networks:
  app:
    attachable: true
    ipam:
      config:
        - subnet: 10.231.9.0/24
services:
  api:
    image: swarmnet-lab/busybox:latest
    command: sleep 3600
    stop_grace_period: 0s
    networks: [app]
    deploy:
      replicas: 1
      endpoint_mode: dnsrr
"""


async def swarmnet_cli(*args: str) -> tuple[int, str]:
    done = await anyio.run_process(
        [sys.executable, "-m", "swarmnet", *args], check=False, stderr=subprocess.STDOUT
    )
    return done.returncode, done.stdout.decode()


async def test_the_cli_plans_applies_draws_and_removes(
    lab: Lab, engine: swarmnet.Engine, clean: None, tmp_path: Path
) -> None:
    file = tmp_path / "small.yaml"
    file.write_text(SMALL)
    where = ("--lab", lab.name)
    code, out = await swarmnet_cli("stack", "plan", "-c", str(file), "sm", *where)
    assert code == 3, out  # changes pending
    assert "+ network sm_app" in out
    assert "+ service sm_api" in out
    code, out = await swarmnet_cli("stack", "apply", "-c", str(file), "sm", *where)
    assert code == 0, out
    assert "1/1 running" in out
    code, out = await swarmnet_cli("stack", "plan", "-c", str(file), "sm", *where, "--json")
    assert code == 0, out
    assert '"action": "unchanged"' in out
    # docker stack ps shows the task swarmnet made.
    assert "sm_api.1" in docker(lab, "stack", "ps", "sm", "--format", "{{.Name}}")
    code, out = await swarmnet_cli("graph", *where)
    assert code == 0, out
    assert out.startswith("flowchart LR")
    for node in ("node1", "node2", "node3"):
        assert f'["node {node}"]' in out
    assert "ingress<br/>overlay" in out
    assert "sm_app<br/>overlay 10.231.9.0/24" in out
    assert "docker_gwbridge<br/>bridge" in out
    assert 'svc_sm_api{{"service sm_api"}}' in out
    assert "svc_sm_api -->|running|" in out
    # The same picture as SVG, drawn by Graphviz's dot (installed by .ci/setup).
    code, out = await swarmnet_cli("graph", "--format", "svg", *where)
    assert code == 0, out
    assert "<svg" in out
    assert out.rstrip().endswith("</svg>")
    assert ">service sm_api</text>" in out
    # A plan drawn: the file edited to put the service on a second network.
    file.write_text(
        SMALL.replace("networks:\n  app:\n", "networks:\n  extra: {}\n  app:\n", 1).replace(
            "networks: [app]", "networks: [app, extra]"
        )
    )
    code, out = await swarmnet_cli(
        "graph", "--format", "dot", "-c", str(file), "--stack", "sm", *where
    )
    assert code == 0, out
    assert 'network_sm_extra [label="create sm_extra", shape=cylinder' in out
    assert 'service_sm_api [label="update sm_api", shape=hexagon' in out
    assert "service_sm_api -> network_sm_extra [dir=none];" in out
    code, out = await swarmnet_cli("stack", "ls", *where)
    assert code == 0, out
    assert "sm " in out
    code, out = await swarmnet_cli("stack", "rm", "sm", *where)
    assert code == 0, out
    assert "2 object(s) removed" in out
