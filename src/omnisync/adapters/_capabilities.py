"""What an adapter can do and how hard it may be driven, declared as typed data."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from omnisync.models._base import Frozen

__all__ = ["CAPABILITY_METHODS", "Capability", "Limits", "RateLimit"]


class Capability(StrEnum):
    """One thing an adapter can do. Channels enable a subset of their adapter's capabilities.

    - ``pull_orders``: read orders incrementally (a marketplace, shop or POS).
    - ``pull_stock``: read on-hand stock per SKU and location (an inventory source: ERP, WMS).
    - ``pull_listings``: discover which SKUs the channel lists and under which ids.
    - ``push_stock``: set the quantity a channel offers for sale.
    - ``push_fulfilments``: tell the channel an order shipped, with tracking.
    - ``pull_returns``: read returns the channel has recorded.
    - ``pull_shipments``: read what a back office shipped for the orders it was sent, so
      each order's own channel hears of it as a fulfilment.
    - ``push_refunds``: refund a buyer through the channel.
    - ``push_documents``: record orders as sales orders, invoices or receipts (ERP, accounting).
    - ``push_customers``: create or update customers (CRM).
    - ``webhooks``: verify and parse the channel's webhook deliveries.
    """

    PULL_ORDERS = "pull_orders"
    PULL_STOCK = "pull_stock"
    PULL_LISTINGS = "pull_listings"
    PUSH_STOCK = "push_stock"
    PUSH_FULFILMENTS = "push_fulfilments"
    PULL_RETURNS = "pull_returns"
    PULL_SHIPMENTS = "pull_shipments"
    PUSH_REFUNDS = "push_refunds"
    PUSH_DOCUMENTS = "push_documents"
    PUSH_CUSTOMERS = "push_customers"
    WEBHOOKS = "webhooks"

    @property
    def label(self) -> str:
        """Words for messages: ``push stock``."""
        return self.value.replace("_", " ")


CAPABILITY_METHODS: dict[Capability, tuple[str, ...]] = {
    Capability.PULL_ORDERS: ("pull_orders", "map_order"),
    Capability.PULL_STOCK: ("pull_stock",),
    Capability.PULL_LISTINGS: ("pull_listings",),
    Capability.PUSH_STOCK: ("push_stock",),
    Capability.PUSH_FULFILMENTS: ("push_fulfilment",),
    Capability.PULL_RETURNS: ("pull_returns",),
    Capability.PULL_SHIPMENTS: ("pull_shipments",),
    Capability.PUSH_REFUNDS: ("push_refund",),
    Capability.PUSH_DOCUMENTS: ("push_document",),
    Capability.PUSH_CUSTOMERS: ("push_customer",),
    Capability.WEBHOOKS: ("verify_webhook", "parse_webhook"),
}
"""The adapter methods that each capability promises."""


class RateLimit(Frozen):
    """A channel's documented rate limit as a token bucket: ``rate`` a second, ``burst`` at once."""

    rate: float = Field(gt=0)
    burst: float = Field(gt=0)


class Limits(Frozen):
    """How hard a channel may be driven.

    ``stock_batch_size`` is the most items one stock-push call may carry;
    ``push_concurrency`` how many such calls may be out at once (more than one only where the
    channel takes concurrent writes of different items); ``rate_limit`` the request (or cost)
    budget the client paces itself to. ``None`` means the channel sets none.
    """

    stock_batch_size: int = Field(default=1, ge=1)
    push_concurrency: int = Field(default=1, ge=1)
    rate_limit: RateLimit | None = None
