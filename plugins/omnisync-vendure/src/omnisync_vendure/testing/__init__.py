"""A real Vendure for tests: installed, populated and started by the tests themselves.

`VendureServer` runs one Vendure 3.7 on SQLite on a loopback port, installed once into a
cache folder (`VendureInstall`) from the committed lockfile. `VendureSimulator` puts
omnisync's simulator faults in front of one, so the contract kit can drive a real Vendure.
"""

from omnisync_vendure.testing._client import GraphQLClient, VendureAPIError
from omnisync_vendure.testing._install import (
    CACHE_ENV,
    REQUIRE_ENV,
    VendureInstall,
    VendureUnavailable,
    installed_or_skip,
)
from omnisync_vendure.testing._server import PlacedOrder, StockReading, Variant, VendureServer
from omnisync_vendure.testing._simulator import VendureServerPool, VendureSimulator

__all__ = [
    "CACHE_ENV",
    "REQUIRE_ENV",
    "GraphQLClient",
    "PlacedOrder",
    "StockReading",
    "Variant",
    "VendureAPIError",
    "VendureInstall",
    "VendureServer",
    "VendureServerPool",
    "VendureSimulator",
    "VendureUnavailable",
    "installed_or_skip",
]
