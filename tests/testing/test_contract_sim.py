"""The contract kit run against the built-in simulator adapters: the kit's own proof."""

from omnisync.sim import SimInventoryAdapter, SimMarket, SimMarketAdapter, SimWarehouse
from omnisync.testing import AdapterContract


class TestSimMarketplace(AdapterContract):
    adapter = SimMarketAdapter
    settings = {"rate_limit": {"rate": 10_000, "burst": 10_000}}
    invalid_settings = {"page_size": 0}
    invalid_key = "page_size"

    def simulator(self) -> SimMarket:
        return SimMarket("contract")


class TestSimInventory(AdapterContract):
    adapter = SimInventoryAdapter
    settings = {"rate_limit": {"rate": 10_000, "burst": 10_000}}
    invalid_settings = {"latency": -1}
    invalid_key = "latency"

    def simulator(self) -> SimWarehouse:
        return SimWarehouse("contract")
