"""Tryton for pytest fixtures: ready, or the test skipped (failed where it must run)."""

from __future__ import annotations

import subprocess

from omnisync_tryton.testing._server import TrytonServer

__all__ = ["prepared_or_skip"]


def prepared_or_skip() -> None:
    """Install Tryton and build its database unless cached; when that cannot be done here,
    skip the test (fail it where ``$OMNISYNC_REQUIRE_REAL_SERVERS`` is set)."""
    from omnisync.testing import server_unavailable  # only tests call this (it needs pytest)

    try:
        TrytonServer().prepare()
    except (subprocess.CalledProcessError, OSError) as exc:
        server_unavailable("Tryton", exc)
