"""pytest fixtures for a real Tryton: import them into a conftest.py.

from omnisync_tryton.testing.fixtures import tryton, tryton_ready  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnisync_tryton.testing._fixtures import prepared_or_skip
from omnisync_tryton.testing._server import TrytonServer

__all__ = ["tryton", "tryton_ready"]


@pytest.fixture(scope="session")
def tryton_ready() -> None:
    """Tryton installed and its database built (cached between runs)."""
    prepared_or_skip()


@pytest.fixture
def tryton(tryton_ready: None) -> Iterator[TrytonServer]:
    """A fresh Tryton server (a copy of the seeded database), stopped after the test."""
    server = TrytonServer()
    server.start()
    yield server
    server.close()
