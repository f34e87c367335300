"""Simulated channels: a marketplace and an ERP, stateful, over real HTTP semantics."""

from omnisync.sim._adapters import (
    SimInventoryAdapter,
    SimInventorySettings,
    SimMarketAdapter,
    SimMarketSettings,
)
from omnisync.sim._app import (
    Faults,
    SimApp,
    SimTransport,
    SimulatorFactory,
    SimulatorOptions,
    serve,
)
from omnisync.sim._market import SimMarket, SimProduct, SoldOut
from omnisync.sim._registry import clear as clear_registry
from omnisync.sim._registry import register
from omnisync.sim._warehouse import SimWarehouse

__all__ = [
    "Faults",
    "SimApp",
    "SimInventoryAdapter",
    "SimInventorySettings",
    "SimMarket",
    "SimMarketAdapter",
    "SimMarketSettings",
    "SimProduct",
    "SimTransport",
    "SimWarehouse",
    "SimulatorFactory",
    "SimulatorOptions",
    "SoldOut",
    "clear_registry",
    "register",
    "serve",
]
