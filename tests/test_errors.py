"""Engine answers map to swarmnet's error tree: status first, then the engine's message."""

import pytest

import swarmnet
from swarmnet._core.transport import error_for_status


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (404, "network foo not found", swarmnet.NotFound),
        (409, "container name already in use", swarmnet.Conflict),
        (
            503,
            "This node is not a swarm manager. Worker nodes can't be used to view or modify "
            "cluster state.",
            swarmnet.NotASwarmManager,
        ),
        (503, "This node is not part of a swarm", swarmnet.NotInSwarm),
        (503, 'This node is not a swarm manager. Use "docker swarm init"', swarmnet.NotInSwarm),
        (
            503,
            'This node is already part of a swarm. Use "docker swarm leave"',
            swarmnet.AlreadyInSwarm,
        ),
        (
            503,
            "Swarm is encrypted and needs to be unlocked before it can be used.",
            swarmnet.errors.SwarmLocked,
        ),
        (500, "something else broke", swarmnet.EngineAPIError),
    ],
)
def test_status_and_message_pick_the_error(
    status: int, message: str, expected: type[swarmnet.EngineAPIError]
) -> None:
    error = error_for_status(status, message, engine="unix:///x.sock", action="GET /x")
    assert type(error) is expected
    assert error.status == status
    assert error.explanation == message
    assert "unix:///x.sock" in str(error)


def test_every_error_swarmnet_raises_has_one_root() -> None:
    # Retry is raised by a user's callback to ask for a retry: a signal to swarmnet,
    # not an error swarmnet raises.
    signals = {swarmnet.Retry}
    public = [getattr(swarmnet, name) for name in swarmnet.__all__]
    public += [getattr(swarmnet.errors, name) for name in swarmnet.errors.__all__]
    errors = [
        member
        for member in public
        if isinstance(member, type) and issubclass(member, Exception) and member not in signals
    ]
    assert len(set(errors)) > 40
    for error in errors:
        assert issubclass(error, swarmnet.SwarmnetError), error


def test_invalid_spec_is_also_a_value_error() -> None:
    assert issubclass(swarmnet.InvalidSpec, ValueError)


def test_refine_gives_a_clearer_error_that_keeps_the_engines_answer() -> None:
    answer = error_for_status(
        409, "network web has active endpoints", engine="tcp://n1:2375", action="DELETE /x"
    )
    refined = swarmnet.NetworkInUse.refine(answer, "web is still in use", containers=("c1",))
    assert type(refined) is swarmnet.NetworkInUse
    assert (refined.engine, refined.status, refined.explanation) == (
        "tcp://n1:2375",
        409,
        "network web has active endpoints",
    )
    assert refined.containers == ("c1",)
    assert str(refined) == "web is still in use (engine tcp://n1:2375)"
