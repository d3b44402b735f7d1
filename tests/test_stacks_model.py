"""Stacks without an engine: conversion as ``docker stack deploy`` does it, errors with
file, line and key, and plans against recorded service specs (what the docker CLI 28.x
stored for ``data/stack_shop.yaml`` on engine 20.10, trimmed to what matters).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from swarmnet import InvalidSpec, RestartPolicy
from swarmnet._networks.models import Network
from swarmnet._services.models import Service
from swarmnet._stacks.graph import (
    TopoContainer,
    Topology,
    TopoNetwork,
    TopoNode,
    TopoService,
    TopoTask,
    plan_to_mermaid,
    to_dot,
    to_mermaid,
)
from swarmnet._stacks.model import IMAGE_LABEL, NAMESPACE_LABEL, Stack, parse_duration
from swarmnet._stacks.plan import StackAction, StackState, make_plan

DATA = Path(__file__).resolve().parent / "data"
SHOP = DATA / "stack_shop.yaml"

# The spec `docker stack deploy` (CLI 28.2) stored for the worker service, as GET returns it.
CLI_WORKER: dict[str, Any] = {
    "Name": "shop_worker",
    "Labels": {IMAGE_LABEL: "swarmnet-lab/busybox:latest", NAMESPACE_LABEL: "shop"},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "swarmnet-lab/busybox:latest",
            "Labels": {"app": "worker", NAMESPACE_LABEL: "shop"},
            "Args": ["sleep", "3600"],
            "Env": ["LEVEL=3", "QUEUE=jobs"],
            "Privileges": {"CredentialSpec": None, "SELinuxContext": None},
            "Init": False,
            "StopGracePeriod": 0,
            "DNSConfig": {},
            "Isolation": "default",
        },
        "Resources": {},
        "RestartPolicy": {"Condition": "on-failure", "Delay": 1000000000, "MaxAttempts": 0},
        "Placement": {},
        "Networks": [
            {"Target": "idback", "Aliases": ["worker"]},
            {"Target": "iddata", "Aliases": ["worker"]},
        ],
        "ForceUpdate": 0,
        "Runtime": "container",
    },
    "Mode": {"Replicated": {"Replicas": 1}},
    "UpdateConfig": {"Parallelism": 0, "Monitor": 200000000, "MaxFailureRatio": 0},
    "EndpointSpec": {"Mode": "dnsrr"},
}


def _network(name: str, net_id: str, **extra: Any) -> Network:
    return Network.model_validate(
        {
            "Id": net_id,
            "Name": name,
            "Scope": "swarm",
            "Driver": "overlay",
            "Labels": {NAMESPACE_LABEL: "shop"},
            **extra,
        }
    )


def _state(worker: dict[str, Any]) -> StackState:
    networks = (
        _network(
            "shop_front",
            "idfront",
            Attachable=True,
            Labels={NAMESPACE_LABEL: "shop", "tier": "front"},
        ),
        _network("shop_back", "idback", Internal=True),
        _network("shop_data", "iddata", IPAM={"Config": [{"Subnet": "10.231.7.0/24"}]}),
        _network("shop_default", "iddefault"),
    )
    service = Service.from_payload({"ID": "svcworker", "Spec": worker, "Version": {"Index": 9}})
    return StackState(networks=networks, services=(service,))


def _worker_only(tmp_path: Path, text: str) -> Stack:
    file = tmp_path / "stack.yaml"
    file.write_text(text)
    return Stack.from_compose(file, name="shop", env={})


def test_names_and_labels_follow_docker_stack_deploy() -> None:
    stack = Stack.from_compose(SHOP, name="shop", env={})
    assert [n.name for n in stack.networks] == [
        "shop_front",
        "shop_back",
        "shop_data",
        "shop_default",
    ]
    front = stack.network("front").spec
    assert front is not None
    assert front.attachable
    assert front.labels == {"tier": "front", NAMESPACE_LABEL: "shop"}
    web = stack.service("web").spec
    assert web.name == "shop_web"
    assert web.labels == {"role": "web", NAMESPACE_LABEL: "shop", IMAGE_LABEL: web.image}
    assert web.container_labels == {NAMESPACE_LABEL: "shop"}
    # Aliases: the listed ones plus the service's key.
    assert {n.target: n.aliases for n in web.networks or ()} == {
        "shop_front": ("web", "www"),
        "shop_back": ("web",),
    }
    janitor = stack.service("janitor").spec
    assert janitor.command == ("sleep",)  # entrypoint -> Command
    assert janitor.args == ("3600",)  # command -> Args
    assert janitor.network_names() == ("shop_default",)
    assert stack.service("edge").spec.mode == "global"


def test_a_plan_against_what_the_cli_stored_shows_no_change(tmp_path: Path) -> None:
    stack = Stack.from_compose(SHOP, name="shop", env={})
    only = stack.model_copy(update={"services": (stack.service("worker"),)})
    plan = make_plan(only, _state(CLI_WORKER))
    assert [(i.name, i.action) for i in plan.items] == [
        ("shop_front", StackAction.UNCHANGED),
        ("shop_back", StackAction.UNCHANGED),
        ("shop_data", StackAction.UNCHANGED),
        ("shop_default", StackAction.UNCHANGED),
        ("shop_worker", StackAction.UNCHANGED),
    ]
    assert not plan


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda s: s["Labels"].pop(IMAGE_LABEL), f"deploy.labels.{IMAGE_LABEL}"),
        (lambda s: s["TaskTemplate"]["Networks"].pop(), "networks"),
        (lambda s: s["TaskTemplate"]["Networks"][0]["Aliases"].append("x"), "networks"),
        (lambda s: s["Mode"]["Replicated"].update(Replicas=4), "deploy.replicas"),
        (lambda s: s["TaskTemplate"]["ContainerSpec"]["Env"].pop(), "environment.QUEUE"),
        (lambda s: s["TaskTemplate"].pop("RestartPolicy"), "deploy.restart_policy"),
        (lambda s: s["EndpointSpec"].pop("Mode"), "deploy.endpoint_mode"),
        (lambda s: s["TaskTemplate"]["ContainerSpec"].pop("StopGracePeriod"), "stop_grace_period"),
        (lambda s: s["TaskTemplate"]["ContainerSpec"].update(StopSignal="9"), "stop_signal"),
        (
            lambda s: s["TaskTemplate"]["Placement"].update(Constraints=["node.role==worker"]),
            "deploy.placement.constraints",
        ),
    ],
)
def test_each_difference_shows_as_one_field(edit: Any, field: str) -> None:
    stack = Stack.from_compose(SHOP, name="shop", env={})
    only = stack.model_copy(update={"services": (stack.service("worker"),)})
    stored = copy.deepcopy(CLI_WORKER)
    edit(stored)
    (item,) = make_plan(only, _state(stored)).pending
    assert item.action is StackAction.UPDATE
    assert [c.field for c in item.changes] == [field]
    # Values of environment variables are never shown.
    assert "jobs" not in str(item)


def test_prune_plans_removal_of_objects_no_longer_in_the_file() -> None:
    stack = Stack.from_compose(SHOP, name="shop", env={})
    only = stack.model_copy(
        update={"services": (stack.service("janitor"),), "networks": (stack.network("default"),)}
    )
    state = _state(CLI_WORKER)
    assert {i.name for i in make_plan(only, state).pending} == {"shop_janitor"}
    pruned = make_plan(only, state, prune=True)
    assert [(i.name, i.action.value) for i in pruned.pending] == [
        ("shop_janitor", "create"),
        ("shop_worker", "remove"),
        ("shop_back", "remove"),
        ("shop_data", "remove"),
        ("shop_front", "remove"),
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "services:\n  a:\n    image: x\n    deploy:\n      replicas: many\n",
            r"stack\.yaml:5: services\.a\.deploy\.replicas: 'many' is not a number",
        ),
        (
            "services:\n  a:\n    image: x\n    ports:\n      - 70000:80\n",
            r"stack\.yaml:5: services\.a\.ports\[0\]: ",
        ),
        (
            "services:\n  a:\n    image: x\n    networks: [nope]\n",
            r"stack\.yaml:4: services\.a\.networks: .*'nope'.*do not declare",
        ),
        (
            "services:\n  a:\n    image: x\n    deploy:\n      placement:\n"
            "        constraints: [node.role=manager]\n",
            r"stack\.yaml:\d: services\.a\.deploy\.placement\.constraints: .*malformed",
        ),
        (
            "networks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.0.0.0/33\n"
            "services:\n  a:\n    image: x\n    networks: [n]\n",
            r"stack\.yaml:5: networks\.n\.ipam\.config\[0\]: ",
        ),
        (
            "services:\n  a:\n    image: x\n    deploy:\n      update_config:\n"
            "        delay: soon\n",
            r"stack\.yaml:5: services\.a\.deploy\.update_config: 'soon' is no duration",
        ),
        (
            "services:\n  a:\n    image: x\n    environment: [SECRET]\n",
            r"stack\.yaml:4: services\.a\.environment\[0\]: SECRET has no value",
        ),
    ],
)
def test_invalid_files_name_file_line_and_key(tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(InvalidSpec, match=where):
        _worker_only(tmp_path, text)


def test_ports_short_and_long_syntax(tmp_path: Path) -> None:
    stack = _worker_only(
        tmp_path,
        "services:\n  a:\n    image: x\n    ports:\n      - 8000-8001:80-81/udp\n      - '90'\n"
        "      - {target: 53, published: 5353, protocol: udp, mode: host}\n",
    )
    ports = [p.body() for p in stack.service("a").spec.ports or ()]
    assert ports == [
        {"Protocol": "udp", "TargetPort": 80, "PublishMode": "ingress", "PublishedPort": 8000},
        {"Protocol": "udp", "TargetPort": 81, "PublishMode": "ingress", "PublishedPort": 8001},
        {"Protocol": "tcp", "TargetPort": 90, "PublishMode": "ingress"},
        {"Protocol": "udp", "TargetPort": 53, "PublishMode": "host", "PublishedPort": 5353},
    ]


def test_durations_read_as_go_writes_them() -> None:
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("250ms") == 0.25
    with pytest.raises(ValueError, match="no duration"):
        parse_duration("5 s")


def test_topology_and_plans_are_drawn_as_mermaid_and_dot() -> None:
    topology = Topology(
        nodes=(
            TopoNode(
                name="node1",
                networks=(
                    TopoNetwork(
                        id="i1",
                        name="ingress",
                        driver="overlay",
                        scope="swarm",
                        subnets=("10.0.0.0/24",),
                    ),
                    TopoNetwork(
                        id="b1",
                        name="docker_gwbridge",
                        driver="bridge",
                        scope="local",
                        subnets=("172.18.0.0/16",),
                    ),
                ),
                containers=(
                    TopoContainer(id="c" * 64, name=f"web.1.{'t' * 25}", networks=("ingress",)),
                    TopoContainer(id="d" * 64, name=f"edge.{'n' * 25}.{'u' * 25}", networks=()),
                    TopoContainer(id="e" * 64, name="client", networks=()),
                ),
            ),
        ),
        services=(
            TopoService(
                name="web",
                tasks=(
                    TopoTask(id="t1", node="node1", state="running", container_id="c" * 64),
                    TopoTask(id="t2", node="node2", state="pending"),
                ),
            ),
        ),
    )
    mermaid = to_mermaid(topology)
    assert '  subgraph node_node1["node node1"]' in mermaid
    assert '    node1_net_ingress[("ingress<br/>overlay 10.0.0.0/24")]' in mermaid
    assert "  node1_ctr_cccccccccccc --- node1_net_ingress" in mermaid
    # Task containers are drawn as their service and slot (global ones: the service).
    assert '    node1_ctr_cccccccccccc(["web.1"])' in mermaid
    assert '    node1_ctr_dddddddddddd(["edge"])' in mermaid
    assert '    node1_ctr_eeeeeeeeeeee(["client"])' in mermaid
    assert "  svc_web -->|running| node1_ctr_cccccccccccc" in mermaid
    assert "  svc_web -->|pending| node_node2" in mermaid  # no container yet: the node
    dot = to_dot(topology)
    assert 'node1_net_docker_gwbridge [label="docker_gwbridge\\nbridge 172.18.0.0/16"' in dot
    assert dot.startswith("digraph swarm {")
    assert dot.rstrip().endswith("}")

    stack = Stack.from_compose(SHOP, name="shop", env={})
    plan = make_plan(stack, StackState(networks=(), services=()))
    drawn = plan_to_mermaid(stack, plan)
    assert '  network_shop_data[("create network shop_data")]' in drawn
    assert "  service_shop_worker --- network_shop_data" in drawn
    assert drawn.count("style ") == 8


def test_keys_not_applied_are_listed_or_refused_with_strict(tmp_path: Path) -> None:
    text = (
        "services:\n  a:\n    image: x\n    healthcheck: {test: [CMD, true]}\n    restart: always\n"
    )
    stack = _worker_only(tmp_path, text)
    assert stack.ignored == ("services.a.healthcheck",)
    # `restart:` is converted as the CLI converts it (after its warning).
    assert stack.service("a").spec.restart_policy == RestartPolicy(condition="any")
    with pytest.raises(InvalidSpec, match=r"strict.*services\.a\.healthcheck"):
        Stack.from_compose(tmp_path / "stack.yaml", name="shop", env={}, strict=True)


def test_stop_grace_period_and_signal_come_from_the_file(tmp_path: Path) -> None:
    file = tmp_path / "stack.yaml"
    file.write_text(
        "services:\n  api:\n    image: busybox\n    stop_grace_period: 1m30s\n"
        "    stop_signal: SIGINT\n  plain:\n    image: busybox\n"
    )
    stack = Stack.from_compose(file, name="st", env={})
    api = stack.service("api").spec
    assert (api.stop_grace_period, api.stop_signal) == (90.0, "SIGINT")
    plain = stack.service("plain").spec
    assert (plain.stop_grace_period, plain.stop_signal) == (None, None)
    file.write_text("services:\n  api:\n    image: busybox\n    stop_grace_period: soon\n")
    with pytest.raises(InvalidSpec, match=r"services\.api\.stop_grace_period"):
        Stack.from_compose(file, name="st", env={})
