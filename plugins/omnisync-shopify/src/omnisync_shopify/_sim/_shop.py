"""`ShopifySimulator`: the parts of the simulated shop combined, with its state."""

from __future__ import annotations

import random
import time
from typing import Any

import graphql

from omnisync.sim import Faults
from omnisync_shopify._sim._cost import MAX_QUERY_COST
from omnisync_shopify._sim._fulfilment import FulfilmentMixin
from omnisync_shopify._sim._graphql import GraphQLMixin
from omnisync_shopify._sim._inventory import InventoryMixin
from omnisync_shopify._sim._orders import RATES
from omnisync_shopify._sim._schema import SCHEMA
from omnisync_shopify._sim._values import API_VERSIONS, STORAGE_HOST
from omnisync_shopify._sim._webhooks import TOPICS

__all__ = ["ShopifySimulator"]


class ShopifySimulator(GraphQLMixin, FulfilmentMixin, InventoryMixin):
    """A Shopify shop with products, one location, orders, fulfilments, refunds and bulk
    exports, behind the Admin GraphQL API (see the package docstring).

    Set-up and shoppers: `add_product`, `buy`; the merchant: `cancel`, `refund`,
    `edit_quantity`, `set_count`, `touch_order`; reading: `shown`. The contract kit's
    `add_listing`, `place_order`, `stock_batches` and `order_webhook`. Webhooks queue in
    ``webhooks`` (`drain_webhooks`); ``topics``, ``duplicate_webhooks`` and ``webhook_loss``
    shape their delivery. The cost bucket holds ``maximum_available`` points refilled at
    ``restore_rate`` a second (`drain_budget` empties it); ``max_query_cost`` is Shopify's
    single-query limit (None lifts it, to check a query's shape whatever its cost).

    Choices where Shopify's behaviour is not pinned down: every change takes its own second
    (see `stamp`); ``orders`` without ``status:`` lists every order, closed and cancelled
    ones too; search terms the simulator cannot evaluate are errors, not ignored.
    """

    def __init__(
        self,
        name: str = "shopify",
        *,
        access_token: str = "shpat_simulated",
        client_secret: str = "shopify-client-secret",
        currency: str = "EUR",
        maximum_available: float = 2000.0,
        restore_rate: float = 100.0,
        max_query_cost: int | None = MAX_QUERY_COST,
        faults: Faults | None = None,
        seed: int = 0,
        storage_url: str = f"https://{STORAGE_HOST}",
    ) -> None:
        if currency not in RATES:
            raise ValueError(f"the simulator has no exchange rate for {currency}")
        super().__init__(name, token=access_token, faults=faults)
        self.access_token = access_token
        self.client_secret = client_secret
        self.currency = currency
        self.shop_domain = f"{name}.myshopify.com"
        self.webhook_version = API_VERSIONS[-1]
        """The API version of the webhook subscriptions (sent as X-Shopify-API-Version)."""
        self.taxes_included = True
        """Whether prices include tax (VAT), as in most European shops."""
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.max_query_cost = max_query_cost
        """Shopify's single-query limit; None lifts it."""
        self.storage_url = storage_url.rstrip("/")
        """Where bulk results are downloaded from. Served on a loopback port, another name
        of the same machine (``http://localhost:PORT`` beside ``http://127.0.0.1:PORT``)
        keeps it apart from the Admin API."""
        self.rng = random.Random(seed)
        self.products = {}
        self.variants = {}
        self.items = {}
        self.orders = {}
        self.adjustment_groups = {}
        self.bulk_operations = {}
        self.bulk_outputs = {}
        self.idempotency = {}
        """Results of inventorySetQuantities calls by idempotency key."""
        self.batch_sizes = []
        """How many quantities each inventorySetQuantities call carried, in order (refused
        calls included)."""
        self.topics = set(TOPICS)
        """The topics the app subscribes to; other events are not delivered."""
        self._available = maximum_available
        self._refilled = time.monotonic()
        self._order_number = 1000
        self._sequence = 1_000_000_000_000  # ids as large as Shopify's (13 digits)
        self._schema = graphql.build_schema(SCHEMA)
        self._root = {
            "orders": self._orders,
            "order": self._order,
            "node": self._node,
            "nodes": self._nodes,
            "productVariants": self._product_variants,
            "locations": self._locations,
            "currentBulkOperation": self._current_bulk_operation,
            "inventorySetQuantities": self._inventory_set_quantities,
            "fulfillmentCreate": self._fulfillment_create,
            "bulkOperationRunQuery": self._bulk_operation_run_query,
            "bulkOperationCancel": self._bulk_operation_cancel,
        }
        self.route("POST", r"/admin/api/(?P<version>[^/]+)/graphql\.json", self._graphql)
        self.route("GET", r"/bulk-operation-outputs/(?P<number>\d+)\.jsonl", self._download)

    # What the adapter contract kit drives (omnisync.testing.ContractSimulator) -------------

    def add_listing(self, sku: str, quantity: int) -> None:
        """A product showing ``quantity`` available."""
        self.add_product(sku, quantity=quantity)

    def place_order(self, sku: str, quantity: int) -> str:
        """A shopper buys; returns the order's legacy id (GraphQL ``legacyResourceId``)."""
        return str(self.buy({sku: quantity})["id"])

    def break_order(self, order_id: str) -> None:
        """Damage a stored order (negative line quantities), for the contract kit."""
        with self.lock:
            line = self._order_record(order_id)["line_items"][0]
            for field in ("quantity", "current_quantity", "fulfillable_quantity"):
                line[field] = -1

    def stock_batches(self) -> list[int]:
        """How many quantities each inventorySetQuantities call carried."""
        return list(self.batch_sizes)

    def order_webhook(self) -> tuple[dict[str, str], bytes]:
        """A genuine signed orders/create delivery, for a new order."""
        with self.lock:
            if not any(v["sku"] == "KIT-WEBHOOK" for v in self.variants.values()):
                self.add_product("KIT-WEBHOOK", quantity=100)
            self.drain_webhooks()
            self.buy({"KIT-WEBHOOK": 1})
            deliveries = self.drain_webhooks()
            return next(d for d in deliveries if d[0]["X-Shopify-Topic"] == "orders/create")

    # Persistence ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything the shop holds, as JSON-ready data."""
        return {
            "products": list(self.products.values()),
            "variants": list(self.variants.values()),
            "items": list(self.items.values()),
            "orders": list(self.orders.values()),
            "adjustment_groups": list(self.adjustment_groups.values()),
            "bulk_operations": list(self.bulk_operations.values()),
            "bulk_outputs": {str(number): text for number, text in self.bulk_outputs.items()},
            "idempotency": self.idempotency,
            "batch_sizes": self.batch_sizes,
            "order_number": self._order_number,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what `state` returned."""
        for name in (
            "products",
            "variants",
            "items",
            "orders",
            "adjustment_groups",
            "bulk_operations",
        ):
            setattr(self, name, {record["id"]: record for record in state[name]})
        self.bulk_outputs = {int(number): text for number, text in state["bulk_outputs"].items()}
        self.idempotency = state["idempotency"]
        self.batch_sizes = state["batch_sizes"]
        self._order_number = state["order_number"]
