"""Every code block of the README and of the documentation site runs here.

So no page can drift from the code: a block that no longer runs, or whose shown output
no longer matches, fails its page's test. How a page's blocks run:

- ``python`` blocks run in order, in one namespace per page (a later block may use what
  an earlier one defined), with the page's own empty working directory.
- A block titled ``Output`` (```` ```text title="Output" ````) is what the block before it
  prints, compared as doctest does (``...`` matches anything, whitespace is loose).
- A block titled with a file name (```` ```yaml title="stack.yaml" ````) is written to
  that file in the working directory before the next blocks run.
- ``sh`` and ``console`` blocks: each ``swarmnet …`` command runs in-process
  (``swarmnet._cli.main``) and must exit 0, or with the code its comment names
  (``# exit 3``). Any other command must be listed in :data:`NOT_RUN` with the reason,
  or the test fails; that list is kept short.
- The error tree drawn in a ``text`` block titled ``swarmnet.errors`` is checked against
  the classes themselves.
- ``text`` blocks with no title are diagrams and tables, not programs.

Pages marked ``<!-- docs-test: lab -->`` run against the test lab, in page order, on
one swarm shared by all of them (the plugin's ``swarm_cluster``: node1 manager, node2
and node3 workers): pages address a lab named ``demo`` and the tests point that name at
the session's lab. ``DOCKER_HOST`` is node1. Every other page runs with no engine at all
(``swarmnet.testing``, files, specs): its ``DOCKER_HOST`` is a closed port on
127.0.0.1, so a page that reaches for an engine fails.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import logging
import re
import shlex
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog

import swarmnet
import swarmnet.errors
from swarmnet._cli import main as cli_main
from swarmnet.lab import Lab
from swarmnet.models import NetworkScope

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
LAB_MARK = "<!-- docs-test: lab -->"

#: Commands shown in the pages that the tests do not run, each with the reason. Keep it
#: short: every other command is run.
NOT_RUN: dict[str, str] = {
    "make demo": "brings up its own lab and runs examples/quickstart.py (tests/test_quickstart.py)",
    "make test": "the whole test suite; CI runs exactly this command",
    "swarmnet lab up --name demo --nodes 3 --tls": (
        "the session's lab is already up (with TLS); tests/test_lab.py brings labs up"
    ),
    "swarmnet lab down --name demo": "would take the session's lab down (tests/test_lab.py)",
    "swarmnet swarm form --lab demo --managers 1": (
        "takes every node of the lab into the swarm, and the pages share a swarm of three "
        "on a lab of five in CI (tests/test_cli.py forms a lab's swarm)"
    ),
    "pip install swarmnet": "reaches the package index; CI installs the built wheel (.ci/package)",
    "sudo systemctl restart docker": "restarts the host's own dockerd, which tests never touch",
}

KNOWN_LANGUAGES = {"python", "sh", "console", "text", "yaml", "json", "toml"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`]*)$")
TITLE = re.compile(r'title="(?P<title>[^"]*)"')
CLOSED_PORT = "tcp://127.0.0.1:9"


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int
    lang: str
    title: str | None
    body: str

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order."""
    blocks: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        info = opening["info"].strip()
        lang = info.split(" ", 1)[0] if info else ""
        title = TITLE.search(info)
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][indent:])
            i += 1
        blocks.append(
            Block(page, i - len(body), lang, title["title"] if title else None, "\n".join(body))
        )
        i += 1
    return blocks


def for_lab(text: str, lab_name: str) -> str:
    """Point the pages' lab ``demo`` at the test session's lab."""
    return (
        text.replace("swarmnet-lab/demo/", f"swarmnet-lab/{lab_name}/")
        .replace('Lab.existing("demo")', f'Lab.existing("{lab_name}")')
        .replace("--lab demo", f"--lab {lab_name}")
        .replace("--name demo", f"--name {lab_name}")
    )


def commands_of(block: Block) -> Iterator[tuple[str, int]]:
    """Each command of a shell block, with the exit code its comment expects."""
    lines = block.body.splitlines()
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    joined = "\n".join(lines).replace("\\\n", " ")
    for line in joined.splitlines():
        command, _, comment = line.partition(" #")
        command = command.strip()
        if not command or command.startswith("#"):
            continue
        code = re.search(r"\bexit (\d+)", comment)
        yield command, int(code[1]) if code else 0


def run_command(command: str, expected: int, block: Block, lab_name: str | None) -> str:
    """Run one ``swarmnet`` command in-process; return what it printed."""
    argv = shlex.split(for_lab(command, lab_name) if lab_name else command)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(argv[1:])
    assert status == expected, (
        f"{block.where}: `{command}` exited {status}, the page says {expected}\n"
        f"{out.getvalue()}{err.getvalue()}"
    )
    return out.getvalue()


def check_output(block: Block, got: str, lab_name: str | None) -> None:
    """Compare what a block printed with the ``Output`` block that follows it."""
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    want = (for_lab(block.body, lab_name) if lab_name else block.body) + "\n"
    assert checker.check_output(want, got, flags), (
        f"{block.where}: the output shown is not what the code printed:\n"
        f"--- shown\n{want}--- printed\n{got}"
    )


def check_error_tree(block: Block) -> None:
    """Every class in the drawn tree exists in swarmnet.errors under the parent drawn.

    A ``*`` after a name says the class is at the top level too (``swarmnet.NotFound``);
    a name without it must not be.
    """
    parents: list[tuple[int, type[BaseException]]] = []
    seen = 0
    misplaced: list[str] = []
    for line in block.body.splitlines():
        found = re.match(r"^(?P<lead>[\s│├└─]*)(?P<name>[A-Z]\w+)(?P<top>\*?)", line)
        if found is None:
            continue
        if bool(found["top"]) != (found["name"] in swarmnet.__all__):
            misplaced.append(found["name"] + found["top"])
        depth = len(found["lead"])
        cls = getattr(swarmnet.errors, found["name"], None)
        assert isinstance(cls, type), f"{block.where}: {found['name']} is not in swarmnet.errors"
        while parents and parents[-1][0] >= depth:
            parents.pop()
        if parents:
            assert parents[-1][1] in cls.__bases__, (
                f"{block.where}: {cls.__name__} is drawn under {parents[-1][1].__name__}, "
                f"but its bases are {[b.__name__ for b in cls.__bases__]}"
            )
        parents.append((depth, cls))
        seen += 1
    assert not misplaced, f"{block.where}: top level drawn wrong (* = swarmnet.X): {misplaced}"
    documented = {
        name
        for name in swarmnet.errors.__all__
        if isinstance(getattr(swarmnet.errors, name), type)
        and issubclass(getattr(swarmnet.errors, name), swarmnet.SwarmnetError)
    }
    drawn = set(re.findall(r"\b([A-Z]\w+)\b", block.body)) & documented
    assert drawn == documented, f"{block.where}: not drawn: {sorted(documented - drawn)}"
    assert seen


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    """Run a page as a reader's program runs: logging as nobody configured it.

    structlog starts unconfigured (swarmnet is silent then). Earlier tests may leave it
    "configured" (``structlog.testing.capture_logs`` restores the processors it found
    but leaves ``is_configured()`` true), and then swarmnet's debug lines would be
    printed into the page's output. What a page does (``logging.basicConfig``,
    ``structlog.configure``) is undone afterwards.
    """
    structlog_was = structlog.get_config() if structlog.is_configured() else None
    structlog.reset_defaults()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        for name, logger in logging.Logger.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                logger.setLevel(levels.get(name, logging.NOTSET))
        structlog.reset_defaults()
        if structlog_was is not None:
            structlog.configure(**structlog_was)


def run_page(page: Path, workdir: Path, lab_name: str | None) -> None:
    """Run every block of one page, in order (see the module docstring)."""
    with logging_restored():
        _run_blocks(page, workdir, lab_name)


def _run_blocks(page: Path, workdir: Path, lab_name: str | None) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    printed: str | None = None
    for block in blocks_of(page):
        assert block.lang in KNOWN_LANGUAGES, (
            f"{block.where}: a ```{block.lang} block: give it a language from "
            f"{sorted(KNOWN_LANGUAGES)} so the tests know what to do with it"
        )
        if block.title == "Output":
            assert printed is not None, f"{block.where}: an Output block after no program"
            check_output(block, printed, lab_name)
            printed = None
            continue
        printed = None
        if block.title == "swarmnet.errors":
            check_error_tree(block)
        elif block.title:
            (workdir / block.title).write_text(block.body + "\n")
        elif block.lang == "python":
            source = for_lab(block.body, lab_name) if lab_name else block.body
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(source, block.where, "exec"), namespace)
            printed = out.getvalue()
        elif block.lang in ("sh", "console"):
            printed = ""
            for command, expected in commands_of(block):
                if command in NOT_RUN:
                    continue
                assert command.startswith("swarmnet "), (
                    f"{block.where}: `{command}` is neither a swarmnet command nor in "
                    "NOT_RUN (with the reason it cannot run)"
                )
                printed += run_command(command, expected, block, lab_name)


def is_lab_page(page: Path) -> bool:
    """A page whose source has the lab mark on a line of its own."""
    return any(line.strip() == LAB_MARK for line in page.read_text().splitlines())


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


#: Lab pages that change the shared swarm for good run last: after ``ingress`` is
#: re-created, workers have none until a service publishing a port lands on them.
RUN_LAST = ("docs/how-to/recreate-ingress.md",)


def lab_order(page: Path) -> tuple[int, str]:
    """The README, then the tutorials in their order, then the rest; RUN_LAST at the end."""
    name = page_id(page)
    rank = 0 if name == "README.md" else 1 if name.startswith("docs/tutorials/") else 2
    return (3 if name in RUN_LAST else rank, name)


ENGINE_FREE = [page for page in PAGES if not is_lab_page(page)]
ON_THE_LAB = sorted((page for page in PAGES if is_lab_page(page)), key=lab_order)


@pytest.mark.parametrize("page", ENGINE_FREE, ids=page_id)
def test_engine_free_page(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page that needs no engine runs with none reachable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", CLOSED_PORT)
    run_page(page, tmp_path, None)


#: Networks the engines make and remake themselves; a page may leave them changed.
BUILT_IN_NETWORKS = {"bridge", "host", "none", "ingress", "docker_gwbridge"}
#: The label swarm puts on its tasks' containers.
SWARM_TASK_LABEL = "com.docker.swarm.task.id"


async def inventory(lab: Lab) -> dict[str, str]:
    """What exists on the lab now: ``node/kind/id`` to a name, for what pages make."""
    found: dict[str, str] = {}
    for node in lab.nodes:
        async with node.engine() as engine:
            manager = (await engine.info()).swarm.control_available
            for container in await engine.containers.list(all=True):
                # A removed service's tasks are the swarm's to stop and remove.
                if SWARM_TASK_LABEL not in container.labels:
                    found[f"{node.name}/container/{container.id}"] = container.name
            for network in await engine.networks.list():
                # A swarm network counts in the swarm's own record (on a manager); the
                # copies nodes keep of a removed one go with their last endpoint.
                swarm_scoped = network.scope is NetworkScope.SWARM
                if network.name not in BUILT_IN_NETWORKS and (
                    not swarm_scoped or (manager and network.swarm_record)
                ):
                    found[f"{node.name}/network/{network.id}"] = network.name
            if manager:
                for service in await engine.services.list():
                    found[f"{node.name}/service/{service.id}"] = service.name
    return found


async def remove_all(lab: Lab, left: list[str]) -> None:
    """Remove what a page left: services, then containers, then networks."""
    order = {"service": 0, "container": 1, "network": 2}
    for key in sorted(left, key=lambda k: order[k.split("/")[1]]):
        node_name, kind, object_id = key.split("/")
        async with lab.node(node_name).engine() as engine:
            if kind == "service":
                await engine.services.remove(object_id, missing_ok=True)
            elif kind == "container":
                await engine.containers.remove(object_id, force=True, missing_ok=True)
            else:
                with anyio.fail_after(30):
                    while True:  # a removed service's tasks hold its networks a while
                        try:
                            await engine.networks.remove(object_id, force=True)
                            break
                        except swarmnet.NetworkInUse:
                            await anyio.sleep(0.5)
                        except swarmnet.EngineAPIError as exc:
                            # Gone meanwhile: 404, or 500 "not found" for a swarm network.
                            if "not found" in str(exc).lower():
                                break
                            raise


@pytest.mark.parametrize("page", ON_THE_LAB, ids=page_id)
def test_lab_page(
    page: Path,
    lab: Lab,
    swarm_cluster: swarmnet.Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page about real engines runs on the session's lab and its shared swarm.

    It must remove what it made, as a reader would want; whatever it leaves (also when
    it fails) is removed here, so that the next page starts clean.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKER_HOST", lab.nodes[0].docker_host)
    before = anyio.run(inventory, lab)
    ran = False
    try:
        run_page(page, tmp_path, lab.name)
        ran = True
    finally:
        after = anyio.run(inventory, lab)
        left = sorted(set(after) - set(before))
        if left:
            anyio.run(remove_all, lab, left)
    if ran:
        assert not left, f"{page_id(page)} left behind: {[after[key] for key in left]}"


def test_the_errors_docstring_draws_every_class() -> None:
    """The tree in ``swarmnet.errors``' docstring (the API reference shows it) is right too."""
    doc = swarmnet.errors.__doc__ or ""
    tree = textwrap.dedent(doc[doc.index("    SwarmnetError") :].split("\n\n")[0])
    check_error_tree(Block(Path(swarmnet.errors.__file__), 1, "text", "swarmnet.errors", tree))


def test_not_run_commands_are_few_and_shown() -> None:
    """Each command in NOT_RUN is still on some page, and there are few of them."""
    shown = {
        command
        for page in PAGES
        for block in blocks_of(page)
        if block.lang in ("sh", "console")
        for command, _ in commands_of(block)
    }
    assert set(NOT_RUN) <= shown, f"no page shows {sorted(set(NOT_RUN) - shown)}"
    assert len(NOT_RUN) <= 10


def test_the_harness_catches_wrong_output(tmp_path: Path) -> None:
    """A page whose shown output differs from what its code prints fails."""
    page = tmp_path / "page.md"
    page.write_text('```python\nprint("one")\n```\n\n```text title="Output"\ntwo\n```\n')
    with pytest.raises(AssertionError, match="not what the code printed"):
        run_page(page, tmp_path, None)


def test_the_harness_catches_a_wrong_error_tree(tmp_path: Path) -> None:
    """An error drawn under the wrong parent fails."""
    page = tmp_path / "page.md"
    page.write_text(
        '```text title="swarmnet.errors"\nSwarmnetError\n└── EngineError\n'
        "    └── InvalidSpec\n```\n"
    )
    with pytest.raises(AssertionError, match="drawn under EngineError"):
        run_page(page, tmp_path, None)


def test_the_harness_catches_where_an_error_lives(tmp_path: Path) -> None:
    """The tree's ``*`` must say which classes are at the top level, no more, no less."""
    page = tmp_path / "page.md"
    page.write_text(
        '```text title="swarmnet.errors"\nSwarmnetError*\n└── EngineError*\n'
        "    ├── EngineUnreachable\n    └── UnsupportedEngine*\n```\n"
    )
    with pytest.raises(AssertionError, match=r"\['EngineUnreachable', 'UnsupportedEngine\*'\]"):
        run_page(page, tmp_path, None)


def test_the_harness_refuses_an_unknown_command(tmp_path: Path) -> None:
    """A shell command that is neither swarmnet's nor explained in NOT_RUN fails."""
    page = tmp_path / "page.md"
    page.write_text("```sh\nrm -rf /tmp/nothing-here\n```\n")
    with pytest.raises(AssertionError, match="nor in NOT_RUN"):
        run_page(page, tmp_path, None)
