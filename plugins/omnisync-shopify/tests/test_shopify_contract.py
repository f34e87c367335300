"""The adapter contract kit, against the Shopify simulator."""

from omnisync.testing import AdapterContract
from omnisync_shopify import ShopifyAdapter
from omnisync_shopify._sim import ShopifySimulator

SETTINGS = {
    "shop": "acme",
    "access_token": "shpat_simulated",
    "client_secret": "shopify-client-secret",
    # Pagination is checked page by page; the bulk export has its own tests.
    "bulk_first_sync": False,
    "rate_limit": {"rate": 10_000, "burst": 100_000},
}


class TestShopifyContract(AdapterContract):
    adapter = ShopifyAdapter
    distribution = "omnisync-shopify"
    settings = SETTINGS
    invalid_settings = {**SETTINGS, "api_version": "latest"}
    invalid_key = "api_version"

    def simulator(self) -> ShopifySimulator:
        return ShopifySimulator(maximum_available=1_000_000, restore_rate=1_000_000)
