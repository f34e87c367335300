from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnisync import sim


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_simulators() -> Iterator[None]:
    """In-process simulators live per process; each test starts without any."""
    sim.clear_registry()
    yield
    sim.clear_registry()


pytest_plugins = ["pytester"]
