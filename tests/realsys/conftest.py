"""Real Tryton and Vendure servers, started by the tests (see each plugin's testing module).
Where they cannot be installed the tests skip, unless OMNISYNC_REQUIRE_REAL_SERVERS is set
(`.ci/run` sets it), where that is a failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnisync_tryton.testing.fixtures import tryton, tryton_ready  # noqa: F401 - fixtures
from omnisync_vendure.testing import VendureInstall, VendureServer, installed_or_skip


@pytest.fixture(scope="session")
def vendure_install() -> VendureInstall:
    return installed_or_skip()


@pytest.fixture
def vendure(vendure_install: VendureInstall) -> Iterator[VendureServer]:
    server = VendureServer(vendure_install).start()
    yield server
    server.stop()
