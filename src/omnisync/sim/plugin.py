"""The built-in plugin that registers the simulator adapters, through the public hook."""

from __future__ import annotations

from collections.abc import Callable

from omnisync.adapters import Adapter
from omnisync.hookspecs import hookimpl
from omnisync.sim._adapters import SimInventoryAdapter, SimMarketAdapter
from omnisync.sim._app import SimulatorFactory, SimulatorOptions
from omnisync.sim._market import SimMarket
from omnisync.sim._warehouse import SimWarehouse


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register ``sim`` and ``sim-inventory``."""
    register(SimMarketAdapter)
    register(SimInventoryAdapter)


def _market(options: SimulatorOptions) -> SimMarket:
    market = SimMarket(
        "sim", token=options.token, webhook_secret=options.webhook_secret, seed=options.seed
    )
    market.faults.latency = options.latency
    market.faults.rate = options.rate
    for sku, quantity in options.products.items():
        market.add_product(sku, quantity=quantity)
    return market


def _warehouse(options: SimulatorOptions) -> SimWarehouse:
    warehouse = SimWarehouse("sim-inventory", token=options.token)
    warehouse.faults.latency = options.latency
    for sku, quantity in options.products.items():
        warehouse.set(sku, quantity)
    return warehouse


@hookimpl
def register_simulators(register: Callable[[str, SimulatorFactory], None]) -> None:
    """Register the marketplace (``sim``) and ERP (``sim-inventory``) simulators."""
    register("sim", _market)
    register("sim-inventory", _warehouse)
