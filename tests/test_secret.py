"""Secrets never show themselves: repr, str, f-strings, JSON, logs, exception text."""

import json
import pickle

import pytest
import structlog
from pydantic import BaseModel

import swarmnet
from swarmnet._core.secret import redact
from swarmnet._core.transport import error_for_status

TOKEN = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx"


def test_repr_str_format_mask_the_value() -> None:
    secret = swarmnet.Secret(TOKEN)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>40}"):
        assert TOKEN not in shown
        assert "*" in shown
    assert secret.reveal() == TOKEN


def test_secrets_compare_by_value_and_refuse_pickling() -> None:
    assert swarmnet.Secret(TOKEN) == swarmnet.Secret(TOKEN)
    assert swarmnet.Secret(TOKEN) != swarmnet.Secret(TOKEN + "x")
    with pytest.raises(TypeError):
        pickle.dumps(swarmnet.Secret(TOKEN))


def test_secret_as_a_model_field_serialises_masked() -> None:
    class Tokens(BaseModel):
        worker: swarmnet.Secret

    tokens = Tokens(worker=TOKEN)
    assert isinstance(tokens.worker, swarmnet.Secret)
    assert TOKEN not in repr(tokens)
    assert TOKEN not in tokens.model_dump_json()
    assert TOKEN not in json.dumps(tokens.model_dump(mode="json"))


def test_logging_a_secret_shows_the_mask() -> None:
    with structlog.testing.capture_logs() as logs:
        structlog.get_logger("test").info("swarm.joined", token=swarmnet.Secret(TOKEN))
    rendered = structlog.dev.ConsoleRenderer(colors=False)(None, "info", dict(logs[0]))
    assert TOKEN not in rendered
    assert TOKEN not in json.dumps(logs[0], default=str)


def test_engine_messages_that_echo_a_token_are_redacted() -> None:
    error = error_for_status(
        400,
        redact(f"invalid join token {TOKEN}", swarmnet.Secret(TOKEN)),
        engine="unix:///x.sock",
        action="POST /swarm/join",
    )
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)
    # Token shapes are masked even when the caller did not name the secret.
    assert "3pu6hszjas19" not in redact(f"bad token {TOKEN} and SWMKEY-1-abc+/def=")
    assert "abc+/def" not in redact("key SWMKEY-1-abc+/def=")
