"""The public surface is exactly what each public module's ``__all__`` says, sorted.

Top level: what users call, build and catch (about 70 names). ``swarmnet.models``: the
views, enums and statistics calls return. ``swarmnet.daemon``: the host side
(``daemon.json``, probes). ``swarmnet.lab``: real engines for tests and demos.
"""

from __future__ import annotations

import importlib
import types

import pytest

import swarmnet

PUBLIC_MODULES = [
    "swarmnet",
    "swarmnet.models",
    "swarmnet.daemon",
    "swarmnet.errors",
    "swarmnet.lab",
    "swarmnet.metrics",
    "swarmnet.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_unique_and_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert list(module.__all__) == sorted(set(module.__all__))
    for member_name in module.__all__:
        member = getattr(module, member_name)
        assert member.__doc__, f"{name}.{member_name} has no docstring"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_nothing_public_hides_outside_all(name: str) -> None:
    module = importlib.import_module(name)
    # The package re-exports only; other public modules may import helpers, but every
    # class or function they define without an underscore is in __all__.
    stray = {
        attr
        for attr in dir(module)
        if not attr.startswith("_")
        and attr not in module.__all__
        and not isinstance(getattr(module, attr), types.ModuleType)
        and (
            name == "swarmnet"
            or getattr(getattr(module, attr), "__module__", None) == module.__name__
        )
        and attr != "annotations"  # from __future__
    }
    assert stray == set()


def test_the_top_level_stays_small() -> None:
    # What users call, build and catch (issue #10): clients, verbs, specs, settings,
    # the common errors and the main results. Views, enums and event types go to
    # swarmnet.models, the finer errors stay in swarmnet.errors.
    assert len(swarmnet.__all__) <= 75, "move views and enums to swarmnet.models"


def test_no_two_public_names_mean_different_things() -> None:
    seen: dict[str, tuple[str, object]] = {}
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for member_name in module.__all__:
            member = getattr(module, member_name)
            if member_name in seen:
                where, other = seen[member_name]
                assert other is member, f"{name}.{member_name} is not {where}.{member_name}"
            seen[member_name] = (name, member)


def test_submodules_are_the_public_ones() -> None:
    submodules = {
        attr
        for attr in dir(swarmnet)
        if not attr.startswith("_") and isinstance(getattr(swarmnet, attr), types.ModuleType)
    }
    assert submodules <= {"daemon", "errors", "lab", "metrics", "models", "testing"}
