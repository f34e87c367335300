"""The built-in plugin that registers the simulator adapters, through the public hook."""

from __future__ import annotations

from collections.abc import Callable

from omnisync.adapters import Adapter
from omnisync.hookspecs import hookimpl
from omnisync.sim._adapters import SimInventoryAdapter, SimMarketAdapter


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register ``sim`` and ``sim-inventory``."""
    register(SimMarketAdapter)
    register(SimInventoryAdapter)
