"""Registers the ``shopify`` adapter and simulator through omnisync's plugin hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from omnisync import hookimpl
from omnisync.adapters import Adapter
from omnisync.sim import SimulatorFactory, SimulatorOptions
from omnisync_shopify._adapter import ShopifyAdapter

if TYPE_CHECKING:
    from omnisync_shopify._sim import ShopifySimulator


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the ``shopify`` adapter."""
    register(ShopifyAdapter)


def simulator(options: SimulatorOptions) -> ShopifySimulator:
    """A Shopify store: access token ``options.token``, client secret ``options.webhook_secret``.

    Imported here, not at the top: the simulator runs GraphQL (graphql-core), which a
    process that only syncs has no need to load.
    """
    from omnisync_shopify._sim import ShopifySimulator

    store = ShopifySimulator(
        access_token=options.token, client_secret=options.webhook_secret, seed=options.seed
    )
    if options.rate is not None:
        store.restore_rate = options.rate
    store.faults.latency = options.latency
    for sku, quantity in options.products.items():
        store.add_product(sku, quantity=quantity)
    return store


@hookimpl
def register_simulators(register: Callable[[str, SimulatorFactory], None]) -> None:
    """Register the ``shopify`` simulator."""
    register("shopify", simulator)
