"""The ``swarmnet`` command, run in-process through ``swarmnet._cli.main``.

One dialect for every command: engines are picked with ``-H/--host [NAME=]HOST``
(``$DOCKER_HOST`` by default) or ``--lab NAME [--node N]``; errors are put in the
command line's words (flags, not Python keywords or model fields) with exit code 1, and
command lines that cannot run exit with 2; ``--json`` prints the library's models, and
tables show the same fields under the same names, in the same order.

Engine-free tests point ``-H`` at a socket that does not exist: anything that tried to
reach an engine would fail with "cannot connect" instead of the message asserted.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from _containers import Tracker, unique_prefix

import swarmnet
import swarmnet._core.errors
from swarmnet._cli import build_parser, main
from swarmnet._cli._common import _CLI_WORDS, cli_words
from swarmnet._cli._watch import _line, _types
from swarmnet._events.models import parse_event
from swarmnet.lab import Lab

# -- helpers ---------------------------------------------------------------------------

#: Commands that talk to engines, and whether each takes several.
ENGINE_COMMANDS: dict[tuple[str, ...], bool] = {
    ("net", "ls"): False,
    ("net", "inspect"): False,
    ("net", "create"): False,
    ("net", "ensure"): False,
    ("net", "rm"): False,
    ("net", "connect"): False,
    ("net", "disconnect"): False,
    ("swarm", "status"): True,
    ("swarm", "init"): False,
    ("swarm", "join"): False,
    ("swarm", "leave"): False,
    ("swarm", "tokens"): False,
    ("swarm", "form"): True,
    ("service", "ls"): False,
    ("service", "inspect"): False,
    ("service", "ensure"): False,
    ("service", "rm"): False,
    ("service", "ps"): False,
    ("service", "network-add"): False,
    ("service", "network-rm"): False,
    ("stack", "plan"): False,
    ("stack", "apply"): False,
    ("stack", "ls"): False,
    ("stack", "rm"): False,
    ("doctor",): True,
    ("watch",): True,
    ("graph",): True,
}

#: What a message in the CLI's words must never hold.
PYTHON_WORDS = re.compile(
    r"pydantic|\[type=|validation error for|Extra inputs|=True|=False|Drift\.|on_drift|"
    r"\w+\(\w*=\w*\)|\w+\(\)"
)
#: And what a refusal of flags must not hold either: a field set as in Python
#: (``scope='swarm'``) or a spec's class name. (Validators' own texts say so; the
#: command line words them by their flags.)
SPEC_WORDS = re.compile(rf"{PYTHON_WORDS.pattern}|\b\w+='|[A-Z]\w+Spec\b")
SOURCES = Path(swarmnet.__file__).parent
#: The library modules whose errors reach the command line.
REACHED = [
    *sorted((SOURCES / "_core").glob("*.py")),
    SOURCES / "_networks" / "api.py",
    SOURCES / "_networks" / "specs.py",
    SOURCES / "_swarm" / "api.py",
    SOURCES / "_swarm" / "cluster.py",
    SOURCES / "_swarm" / "models.py",
    *sorted((SOURCES / "lab").glob("*.py")),
    *sorted((SOURCES / "_services").glob("*.py")),
    SOURCES / "_networks" / "ensure.py",
    SOURCES / "_containers" / "api.py",
    *sorted((SOURCES / "_stacks").glob("*.py")),
    *sorted((SOURCES / "_doctor").glob("*.py")),
]
#: The exception classes, and ``refine``: a message built for one of them, raised or
#: returned to a caller that raises it, can reach the command line.
ERROR_CALLS = {
    name
    for name, value in vars(swarmnet._core.errors).items()
    if isinstance(value, type) and issubclass(value, BaseException)
} | {"refine"}


def subparser(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def every_command() -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every leaf command but ``lab`` (whose options are the lab's own)."""

    def walk(
        path: tuple[str, ...], parser: argparse.ArgumentParser
    ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield path, parser
            return
        for name, child in subs[0].choices.items():
            yield from walk((*path, name), child)

    for path, parser in walk((), build_parser()):
        if path[0] != "lab":
            yield path, parser


@pytest.fixture
def nowhere(tmp_path: Path) -> str:
    """An engine address where nothing listens (no traffic leaves the machine)."""
    return f"unix://{tmp_path}/no-engine.sock"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- one way to pick engines -------------------------------------------------------------


@pytest.mark.parametrize(("path", "many"), list(ENGINE_COMMANDS.items()))
def test_every_engine_command_takes_the_same_engine_options(
    path: tuple[str, ...], many: bool
) -> None:
    parser = subparser(path)
    options = {s for a in parser._actions for s in a.option_strings}
    assert {"-H", "--host", "--lab", "--node"} <= options

    args = parser.parse_args(["-H", "a=unix:///a.sock", "-H", "unix:///b.sock", *_required(path)])
    assert args.host == ["a=unix:///a.sock", "unix:///b.sock"]
    assert args.engine_many is many


def _required(path: tuple[str, ...]) -> list[str]:
    needed: dict[tuple[str, ...], list[str]] = {
        ("net", "inspect"): ["n"],
        ("net", "rm"): ["n"],
        ("net", "connect"): ["n", "c"],
        ("net", "disconnect"): ["n", "c"],
        ("swarm", "join"): ["198.18.0.2"],
        ("service", "inspect"): ["s"],
        ("service", "rm"): ["s"],
        ("service", "ps"): ["s"],
        ("service", "network-add"): ["s", "n"],
        ("service", "network-rm"): ["s", "n"],
        ("stack", "plan"): ["-c", "f.yaml", "s"],
        ("stack", "apply"): ["-c", "f.yaml", "s"],
        ("stack", "rm"): ["s"],
    }
    return needed.get(path, [])


def test_every_engine_command_is_listed_here() -> None:
    found = {path for path, _ in every_command()}
    assert found == set(ENGINE_COMMANDS)


def test_host_and_lab_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "net", "ls", "-H", "unix:///x.sock", "--lab", "cli")
    assert code == 2
    assert "usage: swarmnet net ls" in err
    assert "--lab: not allowed with argument -H/--host" in err
    assert out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["net", "ls", "--node", "2"], "--node picks a node of a lab: give --lab NAME too"),
        (["swarm", "leave", "-H", "unix:///a", "-H", "unix:///b"], "-H was given 2 times"),
        (["net", "ls", "-H", "=unix:///a"], "expected HOST or NAME=HOST"),
        (["net", "ls", "-H", "foo://x"], "unknown scheme 'foo'; use unix:///path"),
        (["net", "ls", "-H", "n=tcp://"], "the address is empty after the scheme"),
        (["swarm", "status", "-H", "unix:///a", "-H", "unix:///a"], "-H unix:///a given twice"),
        (["swarm", "form", "-H", "unix:///a", "--managers", "2"], "--managers must be from 1"),
        (
            ["swarm", "form", "-H", "unix:///a", "--advertise-addr", "1", "--advertise-addr", "2"],
            "once per engine",
        ),
        (["net", "ls", "--bogus"], "unrecognized arguments: --bogus"),
        (["net"], "the following arguments are required: COMMAND"),
    ],
)
def test_command_lines_that_cannot_run_exit_2_with_the_usage(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert "usage: swarmnet" in err
    assert out == ""


def test_a_lab_that_is_not_there_is_an_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "swarm", "status", "--lab", "nolab")
    assert code == 1
    assert err.startswith("swarmnet: error: there is no lab named 'nolab'")


def test_a_docker_host_of_no_known_scheme_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "foo://x")
    code, _, err = run(capsys, "net", "ls")
    assert code == 1
    assert err == (
        "swarmnet: error: $DOCKER_HOST: unknown scheme 'foo'; use unix:///path, "
        "tcp://host:port or ssh://user@host\n"
    )


def test_docker_host_is_the_default_engine(
    capsys: pytest.CaptureFixture[str], nowhere: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", nowhere)
    for argv in (["net", "ls"], ["swarm", "status"], ["doctor"], ["watch"]):
        code, _, err = run(capsys, *argv)
        assert code == 1, argv
        assert "cannot connect to the engine" in err
        assert nowhere.removeprefix("unix://") in err, argv


def test_every_option_says_what_it_does_and_its_default() -> None:
    missing = []
    for path, parser in [((), build_parser()), *every_command()]:
        for action in parser._actions:
            skip = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
            if isinstance(action, skip) or action.help == argparse.SUPPRESS:
                continue
            where = f"swarmnet {' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(f"{where}: no help")
            elif action.option_strings and "default" not in action.help:
                missing.append(f"{where}: no default in {action.help!r}")
    assert missing == []


@pytest.mark.parametrize("path", [("net", "ensure"), ("swarm", "form"), ("doctor",), ("watch",)])
def test_help_reads_well_to_a_stranger(
    capsys: pytest.CaptureFixture[str], path: tuple[str, ...]
) -> None:
    code, out, _ = run(capsys, *path, "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "-H [NAME=]HOST, --host [NAME=]HOST" in text
    assert "default: $DOCKER_HOST, else unix:///var/run/docker.sock" in text
    assert "--lab NAME" in text
    assert "--node N" in text
    assert "snake_case" in text  # how --json names things
    assert "--engine" not in text  # the old spellings are not offered


def test_net_inspect_verbose_leaves_the_log_level_alone() -> None:
    """``-vv`` (log level) and ``net inspect --verbose`` (peers) once shared a name."""
    args = build_parser().parse_args(["-vv", "net", "inspect", "x"])
    assert args.verbose == 2
    assert args.detail is False
    assert build_parser().parse_args(["net", "inspect", "x", "--verbose"]).detail is True


def test_old_spellings_of_host_still_work_for_old_scripts() -> None:
    assert subparser(("watch",)).parse_args(["-e", "n=unix:///a"]).host == ["n=unix:///a"]
    assert subparser(("doctor",)).parse_args(["--engine", "unix:///a"]).host == ["unix:///a"]


# -- errors in the command line's words --------------------------------------------------


def test_a_flag_the_defaulted_bridge_cannot_take_says_the_driver_was_defaulted(
    capsys: pytest.CaptureFixture[str], nowhere: str
) -> None:
    """Issue "new user" 11: without -d, --attachable used to end in pydantic's text."""
    code, out, err = run(
        capsys, "net", "ensure", "--attachable", "--subnet", "10.77.0.0/24", "app", "-H", nowhere
    )
    assert code == 1
    assert out == ""
    assert err.startswith(
        "swarmnet: error: --attachable does not apply to a bridge network "
        "(it does to overlay, macvlan, ipvlan); no -d/--driver was given, so the driver "
        "is bridge"
    )
    assert "add -d overlay" in err
    assert not PYTHON_WORDS.search(err), err
    assert "cannot connect" not in err  # refused before any engine was asked


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["net", "create", "x", "-d", "overlay", "--bridge-name", "b"],
            "--bridge-name does not apply to an overlay network (it does to bridge)",
        ),
        (["net", "create", "x", "--subnet", "10.0.0.0/33"], "--subnet: '10.0.0.0/33' is not"),
        (["net", "create", "x", "--subnet", "fd00::/64"], "set --ipv6"),
        (["net", "create", "x", "--label", "novalue"], "--label 'novalue' is not key=value"),
        (["net", "create", "x", "-d", "overlay", "--mtu", "20"], "--mtu: mtu 20 is outside"),
        (
            ["net", "create", "x", "-d", "overlay", "-o", "com.docker.network.driver.mtu=1400"],
            "option 'com.docker.network.driver.mtu' is set by --mtu; use that flag instead",
        ),
        (["swarm", "init", "--data-path-port", "80"], "--data-path-port: Input should be"),
        (["swarm", "init", "--subnet-size", "40"], "--subnet-size: Input should be less"),
        (["watch", "--count", "-1"], "--count must be 0 (no limit) or more"),
        (
            ["watch", "--type", "container,image"],
            "--type: image is not one of network, container, service, node",
        ),
        (
            ["watch", "--type", "service", "--action", "connect"],
            "--action: connect is no action of service events",
        ),
        (["watch", "--type", "node", "--network", "x"], "--network and --driver filter network"),
        (["doctor", "--port-timeout", "0"], "--port-timeout must be more than 0 seconds"),
        (
            ["net", "create", "x", "-d", "macvlan", "--attachable"],
            "--attachable needs --scope swarm",
        ),
        (
            [
                "net",
                "create",
                "x",
                "-d",
                "macvlan",
                "--config-from",
                "y",
                "--subnet",
                "10.1.0.0/24",
            ],
            "--config-from y takes its settings from that network; leave out --subnet (put them "
            "on the config-only network (-d null))",
        ),
        (
            ["service", "ensure", "--endpoint-mode", "dnsrr", "--publish", "8080:80", "s", "i"],
            "--publish: a port published in ingress mode cannot be used with --endpoint-mode "
            "dnsrr; publish it with --publish-mode host",
        ),
        (
            ["service", "ensure", "--global", "--replicas", "2", "s", "i"],
            "--replicas: a global service runs one task per node; drop --replicas",
        ),
        (
            ["service", "ensure", "--constraint", "node.role=worker", "s", "i"],
            "--constraint: constraint 'node.role=worker' is malformed",
        ),
        (
            ["service", "ensure", "--publish", "80:80", "--publish", "80:81", "s", "i"],
            "--publish: 80/tcp is published twice",
        ),
    ],
)
def test_invalid_input_is_refused_in_the_flags_words_before_any_engine_is_asked(
    capsys: pytest.CaptureFixture[str], nowhere: str, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv, "-H", nowhere)
    assert code == 1
    assert out == ""
    assert err.startswith("swarmnet: error: ")
    assert message in err
    assert len(err.splitlines()) == 1
    assert not SPEC_WORDS.search(err), err
    assert "cannot connect" not in err


def test_a_spec_file_is_refused_in_its_own_field_names(
    capsys: pytest.CaptureFixture[str], nowhere: str, tmp_path: Path
) -> None:
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps({"driver": "overlay", "name": "x", "bridge_name": "b"}))
    code, _, err = run(capsys, "net", "create", "--spec", str(spec), "-H", nowhere)
    assert code == 1
    assert f"invalid spec in {spec}: bridge_name: " in err
    assert "pydantic" not in err


def test_the_python_advice_the_cli_rewrites_is_still_in_the_library() -> None:
    """A library message reworded would slip past ``cli_words``: this names it."""
    texts = [
        part.value
        for path in SOURCES.rglob("*.py")
        if "_cli" not in path.parts
        for part in ast.walk(ast.parse(path.read_text()))
        if isinstance(part, ast.Constant) and isinstance(part.value, str)
    ]
    missing = [python for python, _ in _CLI_WORDS if not any(python in text for text in texts)]
    assert missing == []


@pytest.mark.parametrize("path", REACHED, ids=lambda p: str(p.relative_to(SOURCES)))
def test_no_error_the_cli_can_meet_keeps_python_advice(path: Path) -> None:
    leftovers = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            message: ast.AST | None = node.exc
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            message = node if called in ERROR_CALLS else None
        else:
            message = None
        if message is not None:
            for part in ast.walk(message):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    text = cli_words(part.value)
                    if PYTHON_WORDS.search(text):
                        leftovers.append(f"line {part.lineno}: {text}")
    assert sorted(set(leftovers)) == []


# -- --json and tables agree -------------------------------------------------------------


def test_watch_types_are_split_on_commas_and_printed_with_what_each_adds() -> None:
    assert _types(None) == ["network"]
    assert _types(["node,container", "network"]) == ["network", "container", "node"]
    died = parse_event(
        b'{"Type":"container","Action":"die","Actor":{"ID":"'
        + b"c" * 64
        + b'","Attributes":{"name":"web","exitCode":"137","app":"x"}},'
        b'"scope":"local","timeNano":1795967433420424771}',
        "node1",
    )
    assert died is not None
    line = _line(died)
    assert line.startswith("2026-11-29T15:50:33.420424Z ")
    assert " type=container action=die scope=local node=node1 id=cccccccccccc name=web" in line
    assert line.endswith(" exit_code=137")
    drained = parse_event(
        b'{"Type":"node","Action":"update","Actor":{"ID":"n1","Attributes":{"name":"node2",'
        b'"availability.new":"drain","availability.old":"active"}},"scope":"swarm","timeNano":5}',
        "node1",
    )
    assert drained is not None
    assert _line(drained).endswith(
        "type=node action=update scope=swarm node=node1 id=n1 name=node2 availability=active->drain"
    )


def test_a_watch_line_shows_the_json_fields_in_their_order() -> None:
    event = swarmnet.models.NetworkEvent.model_validate(
        {
            "Type": "network",
            "Action": "connect",
            "Actor": {"ID": "n" * 64, "Attributes": {"container": "c" * 64, "name": "web"}},
            "scope": "local",
            "time": 1795967433,
            "timeNano": 1795967433420424771,
        }
    ).model_copy(update={"node": "node2", "synthesized": True})
    keys = list(json.loads(event.model_dump_json()))
    line = _line(event)
    shown = re.findall(r"(\w+)=", line)
    assert shown == [key for key in keys if key in shown]
    assert shown[:4] == ["action", "scope", "node", "synthesized"]
    assert "network_id=nnnnnnnnnnnn" in line
    assert "container_id=cccccccccccc" in line


# -- on the lab -----------------------------------------------------------------------------


@pytest.fixture
def prefix() -> str:
    return unique_prefix("tcli")


@pytest.fixture
def cleanup(lab: Lab, prefix: str) -> Iterator[Tracker]:
    """Removes the containers a test ran, and networks named ``prefix…`` on every node."""
    made = Tracker()
    for node in lab.nodes:
        made.network_prefixes.append((node.docker_host, prefix))
    try:
        yield made
    finally:
        anyio.run(made.cleanup)


@pytest.mark.lab
def test_net_reaches_a_lab_node_by_lab_name_and_by_host(
    lab: Lab, prefix: str, cleanup: Tracker, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{prefix}net"
    node2 = lab.nodes[1]
    on_node2 = ["--lab", lab.name, "--node", "2", "--json"]
    code, out, _ = run(
        capsys, "net", "ensure", name, "--subnet", "10.211.0.0/24", *on_node2, "--json"
    )
    assert code == 0
    created = json.loads(out)
    assert created["outcome"] == "created"

    code, out, _ = run(capsys, "net", "ls", "--name", name, "-H", node2.docker_host, "--json")
    assert code == 0
    assert [n["id"] for n in json.loads(out)] == [created["network"]["id"]]

    # A bridge is local to node2: node1 (the lab's default node) has none of that name.
    code, out, _ = run(capsys, "net", "ls", "--name", name, "--lab", lab.name, "--json")
    assert code == 0
    assert json.loads(out) == []

    code, out, _ = run(capsys, "net", "rm", name, "-H", f"second={node2.docker_host}", "--json")
    assert code == 0
    assert json.loads(out) == {"removed": [name]}


@pytest.mark.lab
def test_the_ls_table_shows_json_fields_in_their_order(
    lab: Lab, prefix: str, cleanup: Tracker, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue "new user" 13: the table said DRIVER before SCOPE and SUBNETS for ipam."""
    name = f"{prefix}tbl"
    host = ["-H", lab.nodes[0].docker_host]
    assert run(capsys, "net", "create", name, "--subnet", "10.212.0.0/24", *host)[0] == 0

    code, out, _ = run(capsys, "net", "ls", "--name", name, *host, "--json")
    assert code == 0
    (listed,) = json.loads(out)
    code, out, _ = run(capsys, "net", "ls", "--name", name, *host)
    assert code == 0
    header, row = out.splitlines()
    columns = [c.lower() for c in header.split()]
    assert columns == [key for key in listed if key in columns]
    assert columns == ["id", "name", "scope", "driver", "ipam"]
    assert row.split() == [listed["id"][:12], name, "local", "bridge", "10.212.0.0/24"]


@pytest.mark.lab
def test_a_drifted_network_names_the_on_drift_flag(
    lab: Lab, prefix: str, cleanup: Tracker, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{prefix}drift"
    target = ["-H", lab.nodes[0].docker_host]
    assert run(capsys, "net", "ensure", name, "-d", "bridge", "--label", "a=1", *target)[0] == 0

    code, _, err = run(capsys, "net", "ensure", name, "-d", "bridge", "--label", "a=2", *target)
    assert code == 1
    assert "labels.a: wanted '2', found '1'" in err
    assert "add --on-drift recreate to replace it, or --on-drift leave to keep it" in err
    assert not PYTHON_WORDS.search(err), err

    code, out, _ = run(
        capsys, "net", "ensure", name, "-d", "bridge", "--label", "a=2", "--on-drift", "recreate",
        *target,
    )  # fmt: skip
    assert code == 0
    assert out.startswith(f"{name}: recreated")


@pytest.mark.lab
def test_a_network_in_use_names_the_force_flag(
    lab: Lab, prefix: str, cleanup: Tracker, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{prefix}used"
    host = lab.nodes[0].docker_host
    assert run(capsys, "net", "create", name, "-d", "bridge", "-H", host)[0] == 0

    async def attach() -> None:
        async with lab.nodes[0].engine() as engine:
            await cleanup.run(engine, f"{prefix}c", network=name)

    anyio.run(attach)
    code, _, err = run(capsys, "net", "rm", name, "-H", host)
    assert code == 1
    assert f"{prefix}c" in err
    assert "remove it with -f/--force" in err
    assert not PYTHON_WORDS.search(err), err

    assert run(capsys, "net", "rm", "-f", name, "-H", host)[0] == 0


@pytest.mark.lab
def test_swarm_status_and_form_take_every_node_of_a_lab(
    lab: Lab, swarm_cluster: swarmnet.Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [node.name for node in lab.nodes]
    code, out, _ = run(capsys, "swarm", "status", "--lab", lab.name, "--json")
    assert code == 0
    statuses = json.loads(out)
    assert list(statuses) == names
    assert statuses["node1"]["control_available"] is True
    assert statuses["node2"]["local_node_state"] == "active"

    # The text shows the same fields under the same names, in the same order.
    code, out, _ = run(capsys, "swarm", "status", "--lab", lab.name, "--node", "node1")
    assert code == 0
    keys = [line.split(":")[0].strip() for line in out.splitlines()[1:]]
    assert keys == list(statuses["node1"])

    # The fixture's swarm is what form asks for: a second run changes nothing.
    hosts = [arg for node in lab.nodes[:3] for arg in ("-H", f"{node.name}={node.docker_host}")]
    addrs = [arg for node in lab.nodes[:3] for arg in ("--advertise-addr", node.address)]
    code, out, _ = run(capsys, "swarm", "form", *hosts, *addrs, "--json")
    assert code == 0
    cluster = json.loads(out)
    assert [(m["engine"], m["role"], m["action"]) for m in cluster["members"]] == [
        ("node1", "manager", "unchanged"),
        ("node2", "worker", "unchanged"),
        ("node3", "worker", "unchanged"),
    ]


@pytest.mark.lab
def test_doctor_checks_every_node_of_a_lab(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "doctor", "--lab", lab.name, "--no-ports", "--json")
    assert code in (0, 3), out
    report = json.loads(out)
    assert report["engines"] == [node.name for node in lab.nodes]
    assert (code == 3) == any(f["severity"] in ("warning", "error") for f in report["findings"])


@pytest.mark.lab
@pytest.mark.anyio
async def test_watch_follows_a_lab_node_by_its_name(
    lab: Lab, prefix: str, cleanup: Tracker, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{prefix}w"
    argv = ["watch", "--lab", lab.name, "--node", "2", "--json", "--count", "2", "--network", name]
    codes: list[int] = []

    async def watch() -> None:
        # main() runs its own event loop: give it a thread of its own, abandoned (and
        # the test failed by fail_after) if it never ends.
        codes.append(await anyio.to_thread.run_sync(main, argv, abandon_on_cancel=True))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            async with lab.nodes[1].engine() as engine:
                said = ""
                while "swarmnet: watching node2" not in said and not codes:
                    await anyio.sleep(0.05)  # main() in its thread tells nothing else
                    said += capsys.readouterr().err
                assert not codes, said  # it ended before watching
                network = await engine.networks.create(swarmnet.BridgeSpec(name=name))
                await engine.networks.remove(network.id)
    assert codes == [0]
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["action"], e["name"], e["node"]) for e in events] == [
        ("create", name, "node2"),
        ("destroy", name, "node2"),
    ]


@pytest.mark.lab
@pytest.mark.anyio
async def test_watch_prints_container_events_of_the_types_asked(
    lab: Lab, prefix: str, cleanup: Tracker, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{prefix}c"
    argv = ["watch", "--lab", lab.name, "--node", "3", "--type", "container", "--json"]
    argv += ["--action", "create", "--action", "destroy", "--count", "2"]
    codes: list[int] = []

    async def watch() -> None:
        codes.append(await anyio.to_thread.run_sync(main, argv, abandon_on_cancel=True))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            async with lab.nodes[2].engine() as engine:
                said = ""
                while "swarmnet: watching node3" not in said and not codes:
                    await anyio.sleep(0.05)  # main() in its thread tells nothing else
                    said += capsys.readouterr().err
                assert not codes, said  # it ended before watching
                container = await engine.containers.run(
                    swarmnet.lab.LAB_IMAGE, ["true"], name=name, start=False
                )
                await engine.containers.remove(container.id)
    assert codes == [0]
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["type"], e["action"], e["name"], e["node"]) for e in events] == [
        ("container", "create", name, "node3"),
        ("container", "destroy", name, "node3"),
    ]
    assert events[0]["container_id"] == container.id
