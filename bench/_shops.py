"""The simulated shops the scenarios serve, built in the simulator's own process through the
simulator factories the adapter plugins register (as any third party would reach them)."""

from __future__ import annotations

import queue
import random
import threading
import time
from typing import Any

import httpx

from omnisync import plugins
from omnisync.sim import Faults, SimApp, SimMarket, SimulatorOptions

__all__ = [
    "TOKEN",
    "WatchedMarket",
    "market",
    "shelf",
    "shopify",
    "sku_names",
    "woocommerce",
]

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


def shelf(skus: int, seed: int = 7) -> dict[str, int]:
    """What each SKU has on hand in the fan-out scenario, the same in omnisync and on every
    channel at the start."""
    rng = random.Random(seed)
    return {sku: rng.randint(50, 200) for sku in sku_names(skus)}


class WatchedMarket(SimMarket):
    """A simulated marketplace that notes when each order arrived and when each SKU's
    quantity was set, by this machine's clock (``time.time()``, comparable across processes).

    With ``webhook_url`` set, its webhooks are posted there as they happen, one after another
    from a thread of their own, as a channel's delivery queue sends them.
    """

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__(name, **options)
        self.arrivals: list[tuple[float, list[str]]] = []
        self.updates: dict[str, list[float]] = {}
        self.webhook_url: str | None = None
        self._outbox: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        threading.Thread(target=self._send_webhooks, daemon=True).start()

    def arrive(self, items: dict[str, int]) -> None:
        """A shopper buys ``items`` now."""
        self.buy(items)
        self.arrivals.append((time.time(), list(items)))
        if self.webhook_url is not None:
            for delivery in self.drain_webhooks():
                self._outbox.put(delivery)

    def _send_webhooks(self) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                headers, body = self._outbox.get()
                if self.webhook_url is not None:
                    client.post(self.webhook_url, headers=headers, content=body)

    def _set_quantity(self, item: Any) -> dict[str, Any]:
        answer = super()._set_quantity(item)
        if "quantity" in answer:
            self.updates.setdefault(answer["sku"], []).append(time.time())
        return answer


def market(name: str, skus: int, rate: float, burst: float) -> SimApp:
    """A marketplace listing every SKU of `shelf` at its quantity, behind a rate limit of
    ``rate`` requests a second (``burst`` at once)."""
    watched = WatchedMarket(name, token=TOKEN, faults=Faults(rate=rate, burst=burst))
    for sku, quantity in shelf(skus).items():
        watched.add_product(sku, quantity=quantity)
    return watched
