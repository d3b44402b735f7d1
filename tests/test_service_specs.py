"""Service specs: what they send, what is refused (naming the field), how drift is judged.

The first parts need no engine. The property-based part generates invalid service specs
with hypothesis, checks that each is refused with :class:`swarmnet.InvalidSpec`, and
sends each to a real lab engine through ``create``, ``ensure``, ``ensure_many`` and
``update`` with a counter on the engine's requests: not one request is made. A spec
naming a network the engine does not have costs one read, and no write.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmnet import (
    Engine,
    InvalidSpec,
    PublishedPort,
    Resources,
    RestartPolicy,
    ServiceNetwork,
    ServiceSpec,
    UpdateSettings,
)
from swarmnet._services.drift import apply, diff
from swarmnet._services.specs import service_spec_from
from swarmnet.lab import Lab

pytestmark = pytest.mark.anyio

IDS = {"front": "f" * 25, "back": "b" * 25}


def _body(spec: ServiceSpec) -> dict[str, Any]:
    return apply(spec.patch(IDS), {})


# -- what a valid spec sends -------------------------------------------------------------


def test_a_full_spec_becomes_the_engines_service_spec_with_network_ids() -> None:
    spec = ServiceSpec(
        name="web",
        image="busybox:1",
        command=("httpd",),
        args=("-f", "-p", "80"),
        env={"B": "2", "A": "1"},
        labels={"team": "net"},
        container_labels={"tier": "web"},
        replicas=3,
        networks=("front", ServiceNetwork(target="back", aliases=("api",))),
        endpoint_mode="dnsrr",
        ports=(PublishedPort(target=80, published=8080, mode="host"),),
        constraints=("node.role==worker",),
        preferences=("node.labels.zone",),
        restart_policy=RestartPolicy(condition="on-failure", delay=1, max_attempts=3),
        update_config=UpdateSettings(parallelism=2, monitor=1.5, failure_action="rollback"),
        limits=Resources(cpus=0.5, memory=64 * 2**20),
        reservations=Resources(cpus=0.25),
        stop_signal="SIGINT",
        stop_grace_period=2.5,
    )
    assert _body(spec) == {
        "Name": "web",
        "Labels": {"team": "net"},
        "Mode": {"Replicated": {"Replicas": 3}},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox:1",
                "Command": ["httpd"],
                "Args": ["-f", "-p", "80"],
                "Env": ["A=1", "B=2"],
                "Labels": {"tier": "web"},
                "StopSignal": "SIGINT",
                "StopGracePeriod": 2_500_000_000,
            },
            "Networks": [{"Target": "f" * 25}, {"Target": "b" * 25, "Aliases": ["api"]}],
            "Placement": {
                "Constraints": ["node.role==worker"],
                "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
            },
            "RestartPolicy": {
                "Condition": "on-failure",
                "Delay": 1_000_000_000,
                "MaxAttempts": 3,
                "Window": 0,
            },
            "Resources": {
                "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 * 2**20},
                "Reservations": {"NanoCPUs": 250_000_000},
            },
        },
        "EndpointSpec": {
            "Mode": "dnsrr",
            "Ports": [
                {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}
            ],
        },
        "UpdateConfig": {
            "Parallelism": 2,
            "Delay": 0,
            "FailureAction": "rollback",
            "Monitor": 1_500_000_000,
            "MaxFailureRatio": 0.0,
            "Order": "stop-first",
        },
    }


def test_a_minimal_spec_sends_only_name_and_image() -> None:
    assert _body(ServiceSpec(name="s", image="busybox")) == {
        "Name": "s",
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
    }


def test_a_global_spec_sends_global_mode() -> None:
    assert _body(ServiceSpec(name="g", image="i", mode="global"))["Mode"] == {"Global": {}}


def test_specs_are_immutable() -> None:
    spec = ServiceSpec(name="frozen", image="i")
    with pytest.raises(Exception, match="frozen"):
        spec.name = "thawed"  # type: ignore[misc]


# -- what is refused, naming the field ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"name": "has.dot"}, "name"),
        ({"name": "-lead"}, "name"),
        ({"name": "x" * 64}, "name"),
        ({"name": ""}, "name"),
        ({"image": ""}, "image"),
        ({"endpoint_mode": "dnsrr", "ports": [{"target": 80}]}, "ports"),
        ({"ports": [{"target": 80, "published": 81}, {"target": 90, "published": 81}]}, "ports"),
        ({"ports": [{"target": 70000}]}, "ports[0].target"),
        ({"ports": [{"target": 80, "published": 0}]}, "ports[0].published"),
        ({"ports": [{"target": 80, "protocol": "icmp"}]}, "ports[0].protocol"),
        ({"constraints": ["node.role=manager"]}, "constraints"),
        ({"constraints": ["node.role==manager==x"]}, "constraints"),
        ({"constraints": ["node.foo==bar"]}, "constraints"),
        ({"constraints": ["node.role==boss"]}, "constraints"),
        ({"preferences": ["zone"]}, "preferences"),
        ({"mode": "global", "replicas": 2}, "replicas"),
        ({"replicas": -1}, "replicas"),
        ({"env": {"A=B": "c"}}, "env"),
        ({"networks": ["a", "a"]}, "networks"),
        ({"networks": [{"target": ""}]}, "networks[0].target"),
        ({"limits": {"memory": 1024}}, "limits.memory"),
        ({"limits": {"memory": 5 * 2**20}}, "limits.memory"),
        ({"update_config": {"max_failure_ratio": 2}}, "update_config.max_failure_ratio"),
        ({"restart_policy": {"condition": "always"}}, "restart_policy.condition"),
        ({"endpoint_mode": "round-robin"}, "endpoint_mode"),
        ({"replicas_count": 3}, "replicas_count"),
        ({"stop_grace_period": -1}, "stop_grace_period"),
        ({"stop_signal": ""}, "stop_signal"),
    ],
)
def test_invalid_specs_are_refused_naming_the_field(fields: dict[str, Any], named: str) -> None:
    data = {"name": "svc", "image": "busybox", **fields}
    with pytest.raises(InvalidSpec, match=named.replace("[", r"\[").replace("]", r"\]")):
        service_spec_from(data)


def test_parts_built_alone_are_refused_naming_their_field() -> None:
    with pytest.raises(InvalidSpec, match="target"):
        PublishedPort(target=0)
    with pytest.raises(InvalidSpec, match="dnsrr"):
        ServiceSpec(
            name="s",
            image="i",
            endpoint_mode="dnsrr",
            ports=(PublishedPort(target=80, published=8080),),
        )


def test_dnsrr_with_host_mode_ports_is_accepted() -> None:
    spec = ServiceSpec(
        name="s",
        image="i",
        endpoint_mode="dnsrr",
        ports=(PublishedPort(target=80, published=8080, mode="host"),),
    )
    assert spec.ports is not None
    assert spec.ports[0].mode == "host"


# -- drift -------------------------------------------------------------------------------


def _stored(spec: ServiceSpec) -> dict[str, Any]:
    """What the engine stores for ``spec``: empty and zero values dropped, Labels filled."""

    def drop(value: Any) -> Any:
        if isinstance(value, dict):
            kept = {k: drop(v) for k, v in value.items()}
            return {k: v for k, v in kept.items() if v not in (0, "", [], {}, None)}
        if isinstance(value, list):
            return [drop(v) for v in value]
        return value

    stored = drop(_body(spec))
    stored.setdefault("Labels", {})
    stored["TaskTemplate"]["ForceUpdate"] = 0
    return dict(stored)


def test_what_the_engine_fills_in_or_drops_is_no_drift() -> None:
    spec = ServiceSpec(
        name="s",
        image="i",
        env={"A": "1", "B": "2"},
        labels={},
        networks=("front", "back"),
        update_config=UpdateSettings(),
        replicas=1,
    )
    stored = _stored(spec)
    # The engine keeps networks and env in its own order.
    stored["TaskTemplate"]["Networks"].reverse()
    stored["TaskTemplate"]["ContainerSpec"]["Env"].reverse()
    assert not diff("s", spec.patch(IDS), stored)


def test_changed_and_removed_fields_are_drift_and_unmentioned_ones_are_not() -> None:
    spec = ServiceSpec(name="s", image="i", args=("a",), env={"A": "1"}, replicas=2)
    stored = _stored(spec)
    stored["TaskTemplate"]["ContainerSpec"]["Args"] = ["b"]
    stored["Labels"] = {"set-by": "someone else"}
    found = diff("s", spec.patch(IDS), stored)
    assert found.fields == ("args",)
    assert str(found) == "service s differs: args: wanted 'a', found 'b'"


def test_drift_reads_in_the_specs_words_one_line_per_difference() -> None:
    """Issue #13 ("a normalised typed diff in the style of network ensure"): the text
    showed the engine's JSON (``[{"Target": "<id>"}]``, ``{"Delay": 5000000000}``,
    ``["replicated", 2]``) and ``TaskTemplate.ContainerSpec.StopGracePeriod``."""
    before = ServiceSpec(
        name="s",
        image="i",
        replicas=1,
        labels={"a": "1", "same": "x"},
        networks=(ServiceNetwork(target="front", aliases=("web",)),),
        ports=(PublishedPort(target=80, published=8081, mode="host"),),
        stop_grace_period=10,
        limits=Resources(memory=64 * 2**20),
    )
    after = before.model_copy(
        update={
            "replicas": 2,
            "labels": {"a": "2", "same": "x"},
            "networks": (ServiceNetwork(target="back"),),
            "ports": (PublishedPort(target=80, published=8082, mode="host"),),
            "stop_grace_period": 0.5,
            "limits": Resources(cpus=0.5, memory=64 * 2**20),
            "restart_policy": RestartPolicy(condition="none"),
        }
    )
    found = diff("s", after.patch(IDS), _stored(before), names={v: k for k, v in IDS.items()})
    assert [str(change) for change in found.changes] == [
        "labels.a: wanted '2', found '1'",
        "replicas: wanted 2, found 1",
        "networks: wanted 'back', found 'front' (aliases 'web')",
        "ports: wanted 8082:80/tcp (host), found 8081:80/tcp (host)",
        "stop_grace_period: wanted 0.5, found 10",
        "restart_policy.condition: wanted 'none', found (absent)",
        "restart_policy.delay: wanted 5, found (absent)",
        "limits.cpus: wanted 0.5, found (absent)",
    ]
    global_ = ServiceSpec(name="s", image="i", mode="global")
    assert [str(c) for c in diff("s", global_.patch(IDS), _stored(before)).changes] == [
        "mode: wanted 'global', found 'replicated'"
    ]


def test_environment_drift_names_the_variables_and_never_their_values() -> None:
    spec = ServiceSpec(name="s", image="i", env={"TOKEN": "s3cret-new", "SAME": "x"})
    stored = _stored(spec)
    stored["TaskTemplate"]["ContainerSpec"]["Env"] = ["SAME=x", "TOKEN=s3cret-old", "OLD=y"]
    found = diff("s", spec.patch(IDS), stored)
    assert found.fields == ("env.OLD", "env.TOKEN")
    assert "s3cret" not in str(found)
    assert "s3cret" not in repr(found)


def test_global_and_zero_replicas_are_told_apart() -> None:
    spec = ServiceSpec(name="s", image="i", replicas=0)
    stored = _stored(ServiceSpec(name="s", image="i", mode="global"))
    stored["Mode"] = {"Global": {}}  # the engine keeps this empty map (_stored drops it)
    assert diff("s", spec.patch(IDS), stored).fields == ("mode",)


def test_apply_keeps_every_field_the_spec_does_not_mention() -> None:
    stored = _stored(ServiceSpec(name="s", image="old", env={"A": "1"}, labels={"k": "v"}))
    merged = apply(ServiceSpec(name="s", image="new").patch(IDS), stored)
    assert merged["TaskTemplate"]["ContainerSpec"] == {"Image": "new", "Env": ["A=1"]}
    assert merged["Labels"] == {"k": "v"}


# -- invalid specs never reach the engine ------------------------------------------------

_BAD_FIELDS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.builds(lambda n: {"name": n}, st.from_regex(r"[a-z]{1,5}[.@/ ][a-z]{1,5}", fullmatch=True)),
    st.builds(lambda p: {"ports": [{"target": p}]}, st.integers(65536, 10**6)),
    st.builds(lambda p: {"ports": [{"target": 80, "published": p}]}, st.integers(-5, 0)),
    st.builds(
        lambda p: {
            "ports": [{"target": 80, "published": p}, {"target": 81, "published": p}],
        },
        st.integers(1, 65535),
    ),
    st.builds(
        lambda p: {"endpoint_mode": "dnsrr", "ports": [{"target": p, "mode": "ingress"}]},
        st.integers(1, 65535),
    ),
    st.builds(
        lambda k, op: {"constraints": [f"node.{k}{op}x"]},
        st.sampled_from(["role", "labels.a", "hostname"]),
        st.sampled_from(["=", "<", ">=", "==x==", "!==="]),
    ),
    st.builds(
        lambda k: {"constraints": [f"node.{k}==x"]}, st.from_regex(r"[q-z]{3,6}", fullmatch=True)
    ),
    st.builds(lambda r: {"replicas": r}, st.integers(max_value=-1)),
    st.builds(lambda r: {"mode": "global", "replicas": r}, st.integers(0, 5)),
)


@given(_BAD_FIELDS)
def test_every_generated_invalid_spec_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidSpec):
        service_spec_from({"name": "svc", "image": "busybox", **fields})


@pytest.mark.lab
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=_BAD_FIELDS)
async def test_invalid_specs_never_reach_the_engine(lab: Lab, fields: dict[str, Any]) -> None:
    calls: list[tuple[str, str]] = []
    data = {"name": "svc", "image": "busybox", **fields}
    async with Engine(
        lab.nodes[0].docker_host, on_request=lambda method, path: calls.append((method, path))
    ) as engine:
        assert calls == [("GET", "version")]  # the counter sees every request
        calls.clear()
        with pytest.raises(InvalidSpec):
            await engine.services.create(data)
        with pytest.raises(InvalidSpec):
            await engine.services.ensure(data)
        with pytest.raises(InvalidSpec):
            await engine.services.ensure_many([{"name": "fine", "image": "busybox"}, data])
        with pytest.raises(InvalidSpec):
            await engine.services.update("svc", data)
        assert calls == []


@pytest.mark.lab
async def test_an_unknown_network_costs_reads_and_no_write(lab: Lab) -> None:
    calls: list[tuple[str, str]] = []
    async with Engine(
        lab.nodes[0].docker_host, on_request=lambda method, path: calls.append((method, path))
    ) as engine:
        calls.clear()
        spec = ServiceSpec(name="svc", image="busybox", networks=("no-such-net-x1",))
        with pytest.raises(InvalidSpec, match=r"networks: no network 'no-such-net-x1'"):
            await engine.services.create(spec)
        assert calls == [("GET", "networks")]
        with pytest.raises(InvalidSpec, match="networks"):
            await engine.services.ensure_many([ServiceSpec(name="other", image="i"), spec])
        # ensure_many reads networks and services at once; it writes nothing.
        assert sorted(calls) == [("GET", "networks"), ("GET", "networks"), ("GET", "services")]
