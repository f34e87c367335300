from __future__ import annotations

import pytest

from omnisync_tryton.testing.fixtures import tryton, tryton_ready  # noqa: F401 - fixtures


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
