"""The ``omnisync`` command line."""

from omnisync.cli import _worker  # noqa: F401  (registers worker and enqueue)
from omnisync.cli._main import EXIT_BUSY, EXIT_CONFIG, EXIT_OK, EXIT_PARTIAL, cli, main

__all__ = ["EXIT_BUSY", "EXIT_CONFIG", "EXIT_OK", "EXIT_PARTIAL", "cli", "main"]
