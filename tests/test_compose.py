"""Reading compose files as ``docker stack deploy`` does: interpolation, ignored keys, errors.

Engine-free: what the file says, checked against the rules of docker/cli's
``cli/compose/template`` and the subset swarmnet applies (SWARM-OBJECT-NOTES, B).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmnet import InvalidSpec
from swarmnet._stacks.compose import read_compose
from swarmnet._stacks.interpolate import InterpolationError, interpolate, read_env_file

ENV = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a${SET}b", "avalueb"),
        ("${UNSET}", ""),  # silently empty, as the CLI does
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),  # '-' falls back only when unset
        ("${UNSET-d}", "d"),
        ("$$SET", "$SET"),
        ("${SET:?needed}", "value"),
        ("${EMPTY?needed}", ""),
        ("no dollar", "no dollar"),
    ],
)
def test_interpolation_follows_the_docker_cli(template: str, expected: str) -> None:
    assert interpolate(template, ENV) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?set it}", "required variable UNSET is missing a value: set it"),
        ("${EMPTY:?set it}", "required variable EMPTY is missing a value: set it"),
        ("${UNSET?set it}", "required variable UNSET is missing a value: set it"),
        ("${SET:+x}", "invalid interpolation format"),
        ("${}", "invalid interpolation format"),
        ("$ alone", "invalid interpolation format"),
    ],
)
def test_interpolation_errors_say_what_is_wrong(template: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message.replace("?", r"\?")):
        interpolate(template, ENV)


def test_an_env_file_supplies_variables_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "stack.env"
    env_file.write_text("# comment\n\nTAG=1.2\nIMAGE=busybox\n")
    compose = tmp_path / "compose.yaml"
    compose.write_text('version: "3.8"\nservices:\n  web:\n    image: "${IMAGE}:${TAG}"\n')
    assert read_env_file(env_file) == {"TAG": "1.2", "IMAGE": "busybox"}
    source = read_compose(compose, env={"TAG": "2.0"}, env_file=env_file)
    assert source.data["services"]["web"]["image"] == "busybox:2.0"


def test_keys_swarmnet_does_not_apply_are_listed_and_refused_when_strict(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "version: '3.8'\n"
        "x-shared: {anything: 1}\n"
        "networks:\n  back:\n    internal: true\n    enable_ipv6: true\n"
        "services:\n  web:\n    image: busybox\n    healthcheck: {test: [CMD, 'true']}\n"
        "    networks:\n      back:\n        aliases: [www]\n        priority: 1\n"
        "volumes:\n  data: {}\n"
    )
    source = read_compose(compose, env={})
    assert sorted(source.ignored) == [
        "networks.back.enable_ipv6",
        "services.web.healthcheck",
        "services.web.networks.back.priority",
        "volumes",
    ]
    with pytest.raises(InvalidSpec, match="strict") as caught:
        read_compose(compose, env={}, strict=True)
    assert "services.web.healthcheck" in str(caught.value)


def test_errors_name_the_file_the_line_and_the_key(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        "version: '3.8'\nservices:\n  web:\n    image: busybox\n"
        "  db:\n    image: ${DB:?name an image}\n"
    )
    with pytest.raises(InvalidSpec) as caught:
        read_compose(compose, env={})
    assert str(caught.value) == (
        f"{compose}:6: services.db.image: required variable DB is missing a value: name an image"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: '2.4'\nservices: {web: {image: x}}\n",
            ":1: version: compose file version '2.4'",
        ),
        ("version: '3.8'\nservices: {}\n", "needs at least one service"),
        ("services:\n  web: [unclosed\n", "not valid YAML"),
        ("- a list\n", "a compose file is a mapping"),
    ],
)
def test_files_that_are_not_stacks_are_refused(tmp_path: Path, text: str, message: str) -> None:
    compose = tmp_path / "compose.yaml"
    compose.write_text(text)
    with pytest.raises(InvalidSpec, match=message):
        read_compose(compose, env={})


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match=r"cannot read compose file .*nope\.yaml"):
        read_compose(tmp_path / "nope.yaml")
