"""What the contract kit needs a simulator to do."""

from __future__ import annotations

from collections import Counter
from typing import Protocol, runtime_checkable

import httpx

from omnisync.sim import Faults

__all__ = ["ContractSimulator"]


@runtime_checkable
class ContractSimulator(Protocol):
    """A simulator the contract kit can drive.

    Every simulator has ``faults`` (see `omnisync.sim.Faults`), ``calls`` and `transport`.
    The rest is needed only by the checks of the capabilities the adapter declares:

    - pull orders: ``add_listing(sku, quantity)``, ``place_order(sku, quantity) -> id``
      (the id the adapter maps to ``Order.external_id``), ``touch_order(id)``
      (change an order so its update time moves) and ``break_order(id)`` (damage the
      stored order so the adapter cannot map it, as a real system's odd record would:
      a negative line quantity, say);
    - push stock: ``add_listing``, ``shown(sku) -> int`` and ``stock_batches() -> list[int]``
      (how many items each stock-setting call carried);
    - pull returns: ``return_order(id) -> return id`` (goods received back);
    - pull stock: ``set_count(sku, quantity)``;
    - pull shipments (with push documents): ``ship_document(reference) -> shipment id`` (the
      back office ships every line of the document it was sent under ``reference``);
    - webhooks: ``order_webhook() -> (headers, body)``, a genuine signed delivery.
    """

    faults: Faults
    calls: Counter[str]

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process transport to the simulator."""
        ...
