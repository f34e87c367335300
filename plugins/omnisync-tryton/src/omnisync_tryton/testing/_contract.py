"""A real Tryton standing where the adapter contract kit expects a simulator."""

from __future__ import annotations

from collections import Counter

import httpx

from omnisync.sim import Faults
from omnisync.testing import FaultProxy
from omnisync_tryton.testing._server import TrytonServer

__all__ = ["TrytonContractSystem"]


class TrytonContractSystem:
    """A running `TrytonServer` behind a `FaultProxy`, with what the kit drives: counts
    (``set_count``) and shipments of the sales it was sent (``ship_document``). The kit's
    documents sell ``KIT-SKU``, which is stocked here."""

    def __init__(self, server: TrytonServer) -> None:
        self.server = server
        self.proxy = FaultProxy(server.url)
        self.faults: Faults = self.proxy.faults
        self.calls: Counter[str] = self.proxy.calls
        server.add_product("KIT-SKU", 100)

    def transport(self) -> httpx.AsyncBaseTransport:
        return self.proxy.transport()

    def set_count(self, sku: str, quantity: int) -> None:
        """Count ``sku`` on the warehouse's shelf (creating the product the first time)."""
        found = self.server.call("model.product.product.search", [("code", "=", sku)], 0, 1, None)
        if not found:
            self.server.add_product(sku)
        self.server.set_count(sku, quantity)

    def ship_document(self, reference: str) -> str:
        """The warehouse ships the sale recorded under ``reference``."""
        return self.server.ship_sale(reference)
