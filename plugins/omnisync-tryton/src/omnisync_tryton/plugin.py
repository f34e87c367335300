"""Registers the Tryton adapter with omnisync (entry point group ``omnisync``)."""

from __future__ import annotations

from collections.abc import Callable

from omnisync import hookimpl
from omnisync.adapters import Adapter
from omnisync_tryton._adapter import TrytonAdapter

__all__ = ["register_adapters"]


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Offer the ``tryton`` adapter."""
    register(TrytonAdapter)
