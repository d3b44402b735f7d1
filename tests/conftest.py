"""Shared test setup. The lab fixtures come from the ``swarmnet.testing`` plugin."""

from __future__ import annotations

import pytest

# pytester runs pytest inside a test (to check what the lab fixture does when it fails).
pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """swarmnet runs on asyncio (aiodocker is built on aiohttp)."""
    return "asyncio"
