"""Many processes ensure one network at once, on a real API 1.41 engine.

API 1.41 checks a name (``CheckDuplicate``) apart from the create itself, so writers
in different processes, which share no lock, race each other: several creates pass
the check, a fixed subnet is taken by whichever create runs first, the swarm refuses
a second overlay of a name with an error of its own. Whatever the race, every caller
must end with the one network of its spec and say honestly what it did: ``created``
for exactly one caller, ``unchanged`` for the others, ``DriftDetected`` for a caller
whose spec differs from the network that won; never another spec's network.

Writers are forked processes, started together on a barrier, each with its own
client; forking after swarmnet is imported keeps a round to well under a second of
client work.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import queue
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from _containers import remove_networks, unique_prefix

import swarmnet
from swarmnet.lab import Lab

pytestmark = [pytest.mark.lab]

WRITERS = 20
# A round that takes longer than this is a hang, not a slow engine.
ROUND_TIMEOUT = 60.0


def _write(host: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """One writer's ensure: what it returned or raised, as plain data."""

    async def run() -> dict[str, Any]:
        async with swarmnet.Engine(host) as engine:
            try:
                result = await engine.networks.ensure(spec)
            except swarmnet.SwarmnetError as exc:
                return {"error": type(exc).__name__, "message": str(exc)}
            return {
                "outcome": result.outcome.value,
                "id": result.network.id,
                "subnets": sorted(str(p.subnet) for p in result.network.ipam.config),
            }

    return anyio.run(run)


def _writer_loop(
    barrier: multiprocessing.synchronize.Barrier,
    jobs: multiprocessing.Queue[tuple[int, str, dict[str, Any]] | None],
    results: multiprocessing.Queue[tuple[int, dict[str, Any]]],
) -> None:
    while (job := jobs.get()) is not None:
        index, host, spec = job
        barrier.wait()
        try:
            results.put((index, _write(host, spec)))
        except Exception as exc:  # anything else is a finding too: report, don't hang
            results.put((index, {"error": type(exc).__name__, "message": str(exc)}))


@dataclass
class Writers:
    """``WRITERS`` forked processes that run one ensure each per round, all at once."""

    barrier: multiprocessing.synchronize.Barrier
    jobs: list[multiprocessing.Queue[tuple[int, str, dict[str, Any]] | None]]
    results: multiprocessing.Queue[tuple[int, dict[str, Any]]]

    def round(self, host: str, specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Writer ``i`` ensures ``specs[i % len(specs)]``; returns what each got, in order."""
        for i, jobs in enumerate(self.jobs):
            jobs.put((i, host, dict(specs[i % len(specs)])))
        out: dict[int, dict[str, Any]] = {}
        for _ in self.jobs:
            try:
                index, answer = self.results.get(timeout=ROUND_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"a writer gave no answer within {ROUND_TIMEOUT} s")
            out[index] = answer
        return [out[i] for i in range(len(self.jobs))]


@pytest.fixture(scope="module")
def writers() -> Iterator[Writers]:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WRITERS)
    jobs: list[multiprocessing.Queue[tuple[int, str, dict[str, Any]] | None]] = [
        context.Queue() for _ in range(WRITERS)
    ]
    results: multiprocessing.Queue[tuple[int, dict[str, Any]]] = context.Queue()
    processes = [
        context.Process(target=_writer_loop, args=(barrier, jobs[i], results), daemon=True)
        for i in range(WRITERS)
    ]
    for process in processes:
        process.start()
    try:
        yield Writers(barrier, jobs, results)
    finally:
        for job_queue in jobs:
            job_queue.put(None)
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


def _listed(host: str, name: str) -> tuple[swarmnet.Network, ...]:
    async def run() -> tuple[swarmnet.Network, ...]:
        async with swarmnet.Engine(host) as engine:
            return await engine.networks.list(name=name)

    return anyio.run(run)


def _clean(host: str, prefix: str) -> None:
    async def run() -> None:
        async with swarmnet.Engine(host) as engine:
            await remove_networks(engine, prefix)

    anyio.run(run)


def _assert_one_spec_round(host: str, spec: Mapping[str, Any], got: list[dict[str, Any]]) -> None:
    errors = [g for g in got if "error" in g]
    assert not errors, f"{len(errors)} of {len(got)} writers failed, e.g. {errors[0]}"
    (network,) = _listed(host, spec["name"])
    assert {g["id"] for g in got} == {network.id}
    assert Counter(g["outcome"] for g in got) == {"created": 1, "unchanged": len(got) - 1}
    wanted = sorted(p["subnet"] for p in spec.get("pools", ()))
    if wanted:
        assert all(g["subnets"] == wanted for g in got)


# The bar (#12): 5 rounds of 20 writers for each kind of network.
ROUNDS = 5

ONE_SPEC_CASES = {
    "bridge with a subnet": {"driver": "bridge", "pools": [{"subnet": "10.231.0.0/24"}]},
    "bridge, engine picks the subnet": {"driver": "bridge"},
    "overlay with a subnet": {
        "driver": "overlay",
        "attachable": True,
        "pools": [{"subnet": "10.232.0.0/24"}],
    },
    "overlay, engine picks the subnet": {"driver": "overlay", "attachable": True},
}


@pytest.mark.parametrize("base", ONE_SPEC_CASES.values(), ids=ONE_SPEC_CASES.keys())
def test_twenty_processes_ensuring_one_spec_share_one_network_and_one_created(
    swarm: swarmnet.Cluster, lab: Lab, writers: Writers, base: dict[str, Any]
) -> None:
    host = lab.nodes[0].docker_host
    prefix = unique_prefix("tw")
    try:
        for i in range(ROUNDS):
            spec = {**base, "name": f"{prefix}{i}"}
            _assert_one_spec_round(host, spec, writers.round(host, [spec]))
            _clean(host, spec["name"])
    finally:
        _clean(host, prefix)


TWO_SPEC_CASES = {
    "bridge": {"driver": "bridge"},
    "overlay": {"driver": "overlay", "attachable": True},
}


@pytest.mark.parametrize("base", TWO_SPEC_CASES.values(), ids=TWO_SPEC_CASES.keys())
def test_twenty_processes_with_two_specs_of_one_name_never_take_the_others_network(
    swarm: swarmnet.Cluster, lab: Lab, writers: Writers, base: dict[str, Any]
) -> None:
    host = lab.nodes[0].docker_host
    prefix = unique_prefix("tw2")
    try:
        for i in range(ROUNDS):
            name = f"{prefix}{i}"
            subnets = ["10.233.0.0/24", "10.234.0.0/24"]
            specs = [{**base, "name": name, "pools": [{"subnet": s}]} for s in subnets]
            got = writers.round(host, specs)
            (network,) = _listed(host, name)
            winner = str(network.ipam.config[0].subnet)
            created = 0
            for i_writer, answer in enumerate(got):
                wanted = subnets[i_writer % 2]
                if wanted == winner:
                    assert answer.get("outcome") in ("created", "unchanged"), answer
                    assert answer["id"] == network.id
                    assert answer["subnets"] == [winner]
                    created += answer["outcome"] == "created"
                else:
                    assert answer.get("error") == "DriftDetected", answer
                    assert f"wanted {wanted}, found {winner}" in answer["message"]
            assert created == 1
            _clean(host, name)
    finally:
        _clean(host, prefix)
