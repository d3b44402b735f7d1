"""The label filter every list and event call sends: spelled once, refused when empty."""

from __future__ import annotations

import pytest

import swarmnet
from swarmnet._core.filters import label_filter
from swarmnet.testing import MockRequest, MockTransport

pytestmark = pytest.mark.anyio


def test_labels_are_spelled_as_the_engine_reads_them() -> None:
    assert label_filter({"join": "app", "tier": None}) == ["join=app", "tier"]
    assert label_filter(["join=app", "tier"]) == ["join=app", "tier"]
    assert label_filter("join=app") == ["join=app"]


@pytest.mark.parametrize("labels", [{"": "x"}, {" ": None}, ["=x"], [""], "=app"])
def test_a_label_without_a_key_is_refused(labels: object) -> None:
    with pytest.raises(swarmnet.InvalidSpec, match="has no label key"):
        label_filter(labels)  # type: ignore[arg-type]


async def test_a_list_with_a_label_without_a_key_sends_nothing() -> None:
    sent: list[str] = []

    def handler(request: MockRequest) -> None:
        if request.path != "/version":
            sent.append(request.path)

    async with swarmnet.Engine(transport=MockTransport(handler)) as engine:
        with pytest.raises(swarmnet.InvalidSpec):
            await engine.containers.list(labels={"": "x"})
        with pytest.raises(swarmnet.InvalidSpec):
            await engine.networks.list(labels=["=x"])
    assert sent == []
