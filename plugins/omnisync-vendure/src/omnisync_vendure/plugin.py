"""Registers the ``vendure`` adapter through omnisync's plugin hooks."""

from __future__ import annotations

from collections.abc import Callable

from omnisync import hookimpl
from omnisync.adapters import Adapter
from omnisync_vendure._adapter import VendureAdapter


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the ``vendure`` adapter."""
    register(VendureAdapter)
