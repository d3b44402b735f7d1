"""The layers hold: programs reach the engine only through the capability APIs.

import-linter (``make lint``) checks what imports what. It cannot see an attribute: a
program that holds an ``Engine`` could still call ``engine._request(...)`` or
``engine._transport`` and skip the capability APIs. This test reads the source of every
program module (the layers above ``swarmnet._core.engine`` in pyproject's
``[tool.importlinter]``) and refuses both that and HTTP paths named outside the engine
and the capability APIs. It is part of ``make lint`` and of the fast tier.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # the dev extra brings tomli on 3.10
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "swarmnet"

#: What only the engine and the capability APIs may touch on an Engine.
SEAM_ATTRIBUTES = frozenset({"_request", "_stream", "_transport"})
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD"})


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (layered,) = [c for c in contracts if c["type"] == "layers"]
    return [[m.strip() for m in layer.replace("|", ":").split(":")] for layer in layered["layers"]]


def _files_of(module: str) -> list[Path]:
    base = ROOT / Path(*module.split("."))
    if base.is_dir():
        return sorted(base.rglob("*.py"))
    return [base.with_suffix(".py")]


def program_modules() -> list[Path]:
    """Every file in a layer above the engine."""
    files: list[Path] = []
    for layer in _layers():
        if "swarmnet._core.engine" in layer:
            break
        for module in layer:
            files.extend(_files_of(module))
    return files


def seam_violations(source: str, filename: str = "<source>") -> list[str]:
    """Where ``source`` reaches past the capability APIs: ``x._request``, HTTP verbs."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and node.attr in SEAM_ATTRIBUTES:
            # `self._transport` in a class of its own is not the engine's.
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id == "self"):
                found.append(f"{filename}:{node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in HTTP_METHODS
        ):
            found.append(f"{filename}:{node.lineno}: names an HTTP request ({node.args[0].value})")
    return found


def test_the_layers_name_real_modules() -> None:
    layers = _layers()
    assert any("swarmnet._core.engine" in layer for layer in layers)
    for layer in layers:
        for module in layer:
            assert _files_of(module)[0].exists(), f"{module} in [tool.importlinter] is not a module"


@pytest.mark.parametrize("path", program_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_programs_use_only_the_capability_apis(path: Path) -> None:
    assert seam_violations(path.read_text(), str(path.relative_to(ROOT))) == []


def test_the_check_catches_a_program_that_skips_the_apis() -> None:
    sneaky = (
        "async def count(engine):\n"
        "    info = await engine._transport.request('GET', 'info')\n"
        "    return await engine._request('GET', 'networks')\n"
    )
    found = seam_violations(sneaky)
    assert any("._transport" in line for line in found)
    assert any("._request" in line for line in found)
    assert sum("HTTP request" in line for line in found) == 2
