"""Unit-test your own swarmnet code with no Docker engine: swarmnet.testing.MockTransport.

What it shows:
  * a small controller, ``join_app``, that makes sure the attachable overlay ``app``
    exists and connects every container labelled ``join=app`` to it;
  * a fake engine in a few lines: a handler that answers the handful of Engine API
    calls the controller makes, from plain dicts;
  * tests with plain asserts on what the controller returned, what it sent
    (``transport.requests``), and the typed errors it gets from engine error answers
    (a worker's 503 comes out as ``swarmnet.NotASwarmManager``, as from dockerd).

No root, no daemon, no lab: run it with ``python examples/08_unit_test_a_controller.py``
(or point pytest at functions like these). It prints ``4 tests passed``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

import swarmnet
from swarmnet.testing import MockRequest, MockResponse, MockTransport

# -- the code under test -----------------------------------------------------------------


async def join_app(engine: swarmnet.Engine) -> list[str]:
    """Ensure the attachable overlay ``app``; connect the containers labelled join=app.

    Returns the names of the containers it connected (those already on ``app`` are
    left alone). Raises ``swarmnet.DriftDetected`` if ``app`` exists with other
    settings, before touching any container.
    """
    await engine.networks.ensure(swarmnet.OverlaySpec(name="app", attachable=True))
    joined = []
    for container in await engine.containers.list(labels={"join": "app"}):
        if "app" not in container.networks:
            await engine.networks.connect("app", container.id)
            joined.append(container.name)
    return joined


# -- a fake engine: just the calls join_app makes ----------------------------------------------


class FakeDocker:
    """Networks and containers in dicts, answered the way a Docker 20.10 manager does."""

    def __init__(self, *, manager: bool = True) -> None:
        self.manager = manager
        self.networks: dict[str, dict[str, Any]] = {}  # by name
        self.containers: dict[str, dict[str, Any]] = {}  # by id

    def add_network(self, name: str, *, attachable: bool) -> None:
        self.networks[name] = {
            "Id": f"net-{name}",
            "Name": name,
            "Driver": "overlay",
            "Scope": "swarm",
            "Attachable": attachable,
            "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.0.1.0/24"}]},
        }

    def run(self, name: str, **labels: str) -> str:
        container_id = f"{name}-{len(self.containers):060d}"
        self.containers[container_id] = {
            "Id": container_id,
            "Name": f"/{name}",
            "Labels": labels,
            "State": {"Running": True, "Status": "running"},
            "NetworkSettings": {"Networks": {}},
        }
        return container_id

    def handler(self, request: MockRequest) -> Any:
        match request.method, request.path.split("/")[1:]:
            case "GET", ["info"]:
                # ensure() asks before creating an overlay: swarm networks need a manager.
                return {
                    "Name": "node1",
                    "Swarm": {"LocalNodeState": "active", "ControlAvailable": self.manager},
                }
            case "GET", ["networks"]:
                wanted = request.filters.get("name", [])
                return [n for n in self.networks.values() if not wanted or n["Name"] in wanted]
            case "GET", ["networks", ref]:  # by name or by id, as the engine takes it
                found = [n for n in self.networks.values() if ref in (n["Name"], n["Id"])]
                return found[0] if found else MockResponse.error(404, f"network {ref} not found")
            case "POST", ["networks", "create"]:
                if not self.manager:
                    return MockResponse.error(
                        503,
                        "This node is not a swarm manager. Worker nodes can't be used to "
                        "view or modify cluster state.",
                    )
                self.add_network(request.json["Name"], attachable=request.json["Attachable"])
                return MockResponse(201, json={"Id": f"net-{request.json['Name']}"})
            case "GET", ["containers", "json"]:
                # filters={"label": ["join=app"]}: keep the containers with every label
                labels = [label.split("=", 1) for label in request.filters.get("label", [])]
                return [
                    {**c, "Names": [c["Name"]], "State": "running"}
                    for c in self.containers.values()
                    if all(c["Labels"].get(key) == value for key, value in labels)
                ]
            case "GET", ["containers", container_id, "json"]:
                return self.containers[container_id]
            case "POST", ["networks", name, "connect"]:
                network = self.networks[name]
                attached = self.containers[request.json["Container"]]["NetworkSettings"]
                attached["Networks"][name] = {"NetworkID": network["Id"], "IPAddress": "10.0.1.5"}
                return None
        return MockResponse.error(404, "page not found")


def writes(transport: MockTransport) -> list[tuple[str, str]]:
    """What was changed on the engine: every request that is not a GET."""
    return [(r.method, r.path) for r in transport.requests if r.method != "GET"]


# -- the tests -----------------------------------------------------------------------------------


async def test_creates_the_overlay_and_connects_only_the_labelled_containers() -> None:
    docker = FakeDocker()
    web, api = docker.run("web", join="app"), docker.run("api", join="app")
    docker.run("db")
    transport = MockTransport(docker.handler)

    async with swarmnet.Engine(transport=transport) as engine:
        joined = await join_app(engine)

    assert joined == ["web", "api"]
    assert writes(transport) == [
        ("POST", "/networks/create"),
        ("POST", "/networks/app/connect"),
        ("POST", "/networks/app/connect"),
    ]
    create = next(r for r in transport.requests if r.path == "/networks/create")
    assert (create.json["Driver"], create.json["Attachable"]) == ("overlay", True)
    connects = [r.json["Container"] for r in transport.requests if r.path.endswith("/connect")]
    assert connects == [web, api]


async def test_a_second_run_changes_nothing() -> None:
    docker = FakeDocker()
    docker.run("web", join="app")
    transport = MockTransport(docker.handler)

    async with swarmnet.Engine(transport=transport) as engine:
        await join_app(engine)
        transport.requests.clear()
        joined = await join_app(engine)

    assert joined == []
    assert writes(transport) == []


async def test_a_drifted_network_stops_it_before_any_container_is_touched() -> None:
    docker = FakeDocker()
    docker.add_network("app", attachable=False)
    docker.run("web", join="app")
    transport = MockTransport(docker.handler)

    async with swarmnet.Engine(transport=transport) as engine:
        drift = None
        try:
            await join_app(engine)
        except swarmnet.DriftDetected as exc:
            drift = exc

    assert drift is not None, "join_app accepted a network that is not attachable"
    assert drift.diff.fields == ("attachable",)
    assert writes(transport) == []


async def test_on_a_worker_it_fails_with_not_a_swarm_manager() -> None:
    docker = FakeDocker(manager=False)
    docker.run("web", join="app")
    transport = MockTransport(docker.handler)

    async with swarmnet.Engine(transport=transport) as engine:
        refused = None
        try:
            await join_app(engine)
        except swarmnet.NotASwarmManager as exc:
            refused = exc

    assert refused is not None, "join_app did not fail on a worker"
    assert writes(transport) == []  # refused before anything was sent


TESTS: list[Callable[[], Awaitable[None]]] = [
    test_creates_the_overlay_and_connects_only_the_labelled_containers,
    test_a_second_run_changes_nothing,
    test_a_drifted_network_stops_it_before_any_container_is_touched,
    test_on_a_worker_it_fails_with_not_a_swarm_manager,
]


async def main() -> None:
    for test in TESTS:
        await test()
        print(f"ok  {test.__name__}")
    print(f"{len(TESTS)} tests passed")


if __name__ == "__main__":
    anyio.run(main)
