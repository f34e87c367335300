"""The base of the simulator's parts: the state they share, and the shop's clock."""

from __future__ import annotations

import random
from datetime import timedelta

import httpx
from graphql import GraphQLSchema

from omnisync.sim import SimApp
from omnisync_shopify._sim._values import Record, utc

__all__ = ["ShopBase"]


class ShopBase(SimApp):
    """The state every part of `ShopifySimulator` reads and writes; its ``__init__`` sets
    it (and documents it)."""

    access_token: str
    client_secret: str
    currency: str
    shop_domain: str
    webhook_version: str
    taxes_included: bool
    maximum_available: float
    restore_rate: float
    max_query_cost: int | None
    storage_url: str
    rng: random.Random
    products: dict[int, Record]
    variants: dict[int, Record]
    items: dict[int, Record]
    orders: dict[int, Record]
    adjustment_groups: dict[int, Record]
    bulk_operations: dict[int, Record]
    bulk_outputs: dict[int, str]
    idempotency: dict[str, Record]
    batch_sizes: list[int]
    topics: set[str]
    _available: float
    _refilled: float
    _order_number: int
    _schema: GraphQLSchema
    _root: Record

    @property
    def storage_host(self) -> str:
        """The host of ``storage_url``."""
        return httpx.URL(self.storage_url).host

    def stamp(self) -> str:
        """Now, to the second as Shopify's DateTime, and a second after any earlier stamp, so
        each change moves ``updatedAt`` (Shopify's own changes can share a second)."""
        moment = max(self.clock().replace(microsecond=0), self._last + timedelta(seconds=1))
        self._last = moment
        return utc(moment)
