"""The public surface is exactly what swarmnet/__init__.py's __all__ says, sorted."""

import swarmnet


def test_all_is_sorted_and_unique() -> None:
    assert list(swarmnet.__all__) == sorted(set(swarmnet.__all__))


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in swarmnet.__all__:
        member = getattr(swarmnet, name)
        assert member.__doc__, f"swarmnet.{name} has no docstring"


def test_public_classes_live_in_private_modules_and_are_reexported() -> None:
    public_modules = [
        name for name in dir(swarmnet) if not name.startswith("_") and name not in swarmnet.__all__
    ]
    # Only submodules users import on purpose may show up besides __all__.
    assert set(public_modules) <= {"lab", "testing"}
