"""Real Vendure servers for the tests: skipped where Vendure cannot be installed, unless
OMNISYNC_REQUIRE_REAL_SERVERS is set (CI sets it), where that is a failure."""

from collections.abc import Iterator

import pytest

from omnisync_vendure.testing import (
    VendureInstall,
    VendureServer,
    VendureServerPool,
    installed_or_skip,
)


@pytest.fixture(scope="session")
def vendure_install() -> VendureInstall:
    """Vendure installed in its cache (the first run installs it: about two minutes)."""
    return installed_or_skip()


@pytest.fixture(scope="session")
def vendure_pool(vendure_install: VendureInstall) -> Iterator[VendureServerPool]:
    """Fresh servers, two booting ahead while the tests before them run."""
    pool = VendureServerPool(vendure_install, spares=2)
    yield pool
    pool.close()


@pytest.fixture
def vendure(vendure_pool: VendureServerPool) -> Iterator[VendureServer]:
    """A fresh Vendure with nothing in it but its initial data."""
    server = vendure_pool.take()
    yield server
    server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
