from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnisync_tryton.testing import TrytonServer, prepared_or_skip


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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
