"""The simulated shops the scenarios serve, built in the simulator's own process through the
simulator factories the adapter plugins register (as any third party would reach them)."""

from __future__ import annotations

import random
from typing import Any

from omnisync import plugins
from omnisync.sim import Faults, SimApp, SimulatorOptions

__all__ = ["TOKEN", "shopify", "sku_names", "woocommerce"]

TOKEN = "bench-token"
SHOPIFY_STANDARD = {"maximum_available": 2000.0, "restore_rate": 100.0}
"""The cost budget of a store on Shopify's Standard plan: 100 points a second
(shopify.dev/docs/api/usage/rate-limits) in the 2,000-point bucket stores report."""


def sku_names(count: int) -> list[str]:
    return [f"SKU-{number:07d}" for number in range(count)]


def _factory(name: str) -> Any:
    return plugins.simulators()[name]


def shopify(skus: int, orders: int = 0, *, seed: int = 0, quantity: int = 10**6) -> SimApp:
    """A Standard-plan store with ``skus`` products and ``orders`` orders of 1 to 5 lines."""
    shop = _factory("shopify")(SimulatorOptions(token=TOKEN, seed=seed))
    shop.maximum_available = shop._available = SHOPIFY_STANDARD["maximum_available"]
    shop.restore_rate = SHOPIFY_STANDARD["restore_rate"]
    shop.topics = set()  # nobody listens for webhooks here: do not queue them
    names = sku_names(skus)
    for sku in names:
        shop.add_product(sku, quantity=quantity)
    rng = random.Random(seed)
    for _ in range(orders):
        picked = rng.sample(names, rng.randint(1, 5))
        shop.buy({sku: rng.randint(1, 3) for sku in picked})
    return shop  # type: ignore[no-any-return]


def woocommerce(skus: int, *, rate: float, burst: float, quantity: int = 10**6) -> SimApp:
    """A store with ``skus`` simple products behind a host that lets ``rate`` requests a
    second through (``burst`` at once), as hosts and firewalls do: core WooCommerce has no
    limit of its own."""
    store = _factory("woocommerce")(SimulatorOptions(token=TOKEN))  # key: ck_simulated
    store.faults = Faults(rate=rate, burst=burst)
    for sku in sku_names(skus):
        store.add_product(sku, quantity=quantity)
    return store  # type: ignore[no-any-return]
