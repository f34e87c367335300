"""omnisync's WooCommerce adapter (REST API v3) and a simulator of that API."""

from omnisync_woocommerce._adapter import WooCommerceAdapter, WooCommerceSettings
from omnisync_woocommerce._mapping import map_order
from omnisync_woocommerce._simulator import WooCommerceSimulator

__all__ = ["WooCommerceAdapter", "WooCommerceSettings", "WooCommerceSimulator", "map_order"]
