"""What a test does when the real server it needs cannot run on this machine."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["REQUIRE_REAL_SERVERS", "server_unavailable"]

REQUIRE_REAL_SERVERS = "OMNISYNC_REQUIRE_REAL_SERVERS"
"""Set (CI sets it) where tests against real servers must run: a missing one fails them."""


def server_unavailable(system: str, reason: object) -> NoReturn:
    """Skip the test, saying why ``system`` cannot run here; fail it instead where
    ``$OMNISYNC_REQUIRE_REAL_SERVERS`` is set."""
    if os.environ.get(REQUIRE_REAL_SERVERS):
        pytest.fail(f"{REQUIRE_REAL_SERVERS} is set, but {system} cannot run here: {reason}")
    pytest.skip(f"{system} cannot run here ({reason}); set {REQUIRE_REAL_SERVERS} to fail instead")
