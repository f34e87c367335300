"""Registers the ``woocommerce`` adapter and simulator through omnisync's plugin hooks."""

from __future__ import annotations

from collections.abc import Callable

from omnisync import hookimpl
from omnisync.adapters import Adapter
from omnisync.sim import SimulatorFactory, SimulatorOptions
from omnisync_woocommerce._adapter import WooCommerceAdapter
from omnisync_woocommerce._simulator import WooCommerceSimulator


@hookimpl
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register the ``woocommerce`` adapter."""
    register(WooCommerceAdapter)


def simulator(options: SimulatorOptions) -> WooCommerceSimulator:
    """A WooCommerce store: consumer key ``ck_simulated``, consumer secret ``options.token``."""
    store = WooCommerceSimulator(
        consumer_secret=options.token, webhook_secret=options.webhook_secret
    )
    store.faults.latency = options.latency
    for sku, quantity in options.products.items():
        store.add_product(sku, quantity=quantity)
    return store


@hookimpl
def register_simulators(register: Callable[[str, SimulatorFactory], None]) -> None:
    """Register the ``woocommerce`` simulator."""
    register("woocommerce", simulator)
