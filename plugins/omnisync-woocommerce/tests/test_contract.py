"""The adapter contract kit, against the WooCommerce simulator."""

from omnisync.testing import AdapterContract
from omnisync_woocommerce import WooCommerceAdapter, WooCommerceSimulator


class TestWooCommerceContract(AdapterContract):
    adapter = WooCommerceAdapter
    distribution = "omnisync-woocommerce"
    settings = {
        "base_url": "https://shop.example",
        "consumer_key": "ck_simulated",
        "consumer_secret": "cs_simulated",
        "webhook_secret": "woo-webhook-secret",
        "rate_limit": {"rate": 10_000, "burst": 10_000},
    }
    invalid_settings = {**settings, "per_page": 101}
    invalid_key = "per_page"
    page_size_setting = "per_page"

    def simulator(self) -> WooCommerceSimulator:
        return WooCommerceSimulator()
