"""omnisync's Vendure adapter (Admin GraphQL API); `omnisync_vendure.testing` runs a real
Vendure for tests."""

from omnisync_vendure._adapter import VendureAdapter, VendureSettings
from omnisync_vendure._mapping import map_order

__all__ = ["VendureAdapter", "VendureSettings", "map_order"]
