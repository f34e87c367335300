"""A simulated back office: an ERP that counts stock per location and records sales.

API (JSON, ``Authorization: Bearer <token>``):
``GET /stock?updated_since=&limit=&cursor=`` (counts per SKU and location, with the time each
last changed), ``GET /sales?reference=``, ``POST /sales`` (409 on a reference it has),
``PUT /sales/{id}``, ``GET /shipments?updated_since=&limit=&cursor=`` (shipments made for
sales, with the sale's reference and the SKUs shipped), ``GET /customers?email=``,
``POST /customers``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from omnisync._time import utcnow
from omnisync.sim._app import (
    Faults,
    SimApp,
    SimError,
    read_json,
)

__all__ = ["SimWarehouse"]


def _by_change(row: dict[str, Any]) -> tuple[str, ...]:
    return (row["updated_at"], row["sku"], row["location"])


class SimWarehouse(SimApp):
    """A stateful simulated ERP. See the module docstring for its API."""

    def __init__(
        self,
        name: str = "erp",
        *,
        token: str = "sim-token",
        faults: Faults | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(name, token=token, faults=faults, clock=clock)
        self.stock: dict[tuple[str, str], dict[str, Any]] = {}
        self.sales: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.shipments: dict[str, dict[str, Any]] = {}
        self.route("GET", r"/stock", self._list_stock)
        self.route("GET", r"/shipments", self._list_shipments)
        self.route("GET", r"/sales", self._find_sales)
        self.route("POST", r"/sales", self._create_sale)
        self.route("PUT", r"/sales/(?P<sale_id>[^/]+)", self._update_sale)
        self.route("GET", r"/customers", self._find_customers)
        self.route("POST", r"/customers", self._create_customer)

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{self.next_number()}"

    # Warehouse actions ------------------------------------------------------------------------

    def set(self, sku: str, quantity: int, location: str = "WH1") -> None:
        """Count ``quantity`` units of ``sku`` at ``location``."""
        with self.lock:
            self.stock[(sku, location)] = {
                "sku": sku,
                "location": location,
                "on_hand": quantity,
                "updated_at": self.stamp(),
            }

    def set_count(self, sku: str, quantity: int) -> None:
        """Count ``quantity`` at WH1 (what the adapter contract kit drives)."""
        self.set(sku, quantity)

    def receive(self, sku: str, quantity: int, location: str = "WH1") -> None:
        """Goods arrive: the count goes up."""
        with self.lock:
            self.set(sku, self.on_hand(sku, location) + quantity, location)

    def ship(self, sku: str, quantity: int, location: str = "WH1") -> None:
        """Goods leave: the count goes down."""
        with self.lock:
            self.set(sku, self.on_hand(sku, location) - quantity, location)

    def ship_sale(
        self, reference: str, *, tracking: str | None = None, location: str = "WH1"
    ) -> dict[str, Any]:
        """The warehouse ships every line of the sale with ``reference``: the goods leave the
        count, the sale is done, and a shipment is recorded."""
        with self.lock:
            sale = next(s for s in self.sales.values() if s["reference"] == reference)
            lines = [{"sku": ln["sku"], "quantity": ln["quantity"]} for ln in sale["lines"]]
            for line in lines:
                self.ship(line["sku"], line["quantity"], location)
            sale["state"] = "done"
            shipment_id = self._next_id("SH")
            shipment: dict[str, Any] = {
                "id": shipment_id,
                "reference": reference,
                "location": location,
                "lines": lines,
                "carrier": "DHL" if tracking else None,
                "tracking_number": tracking,
                "updated_at": self.stamp(),
            }
            self.shipments[shipment_id] = shipment
            return copy.deepcopy(shipment)

    def ship_document(self, reference: str) -> str:
        """Ship the sale with ``reference`` (what the adapter contract kit drives)."""
        return str(self.ship_sale(reference)["id"])

    def on_hand(self, sku: str, location: str = "WH1") -> int:
        """The current count of ``sku`` at ``location``."""
        with self.lock:
            row = self.stock.get((sku, location))
            return int(row["on_hand"]) if row else 0

    # API --------------------------------------------------------------------------------------

    def _list_stock(self, request: httpx.Request) -> tuple[int, Any]:
        page, cursor = self.page(list(self.stock.values()), request, key=_by_change)
        return 200, {"levels": page, "next_cursor": cursor}

    def _list_shipments(self, request: httpx.Request) -> tuple[int, Any]:
        shipments = list(self.shipments.values())
        page, cursor = self.page(shipments, request, key=lambda s: (s["updated_at"], s["id"]))
        return 200, {"shipments": page, "next_cursor": cursor}

    def _find_sales(self, request: httpx.Request) -> tuple[int, Any]:
        reference = request.url.params.get("reference")
        found = [sale for sale in self.sales.values() if sale["reference"] == reference]
        return 200, {"sales": copy.deepcopy(found)}

    def _create_sale(self, request: httpx.Request) -> tuple[int, Any]:
        body = read_json(request)
        reference = body.get("reference")
        if not isinstance(reference, str) or not reference:
            raise SimError(422, "reference is required")
        if any(sale["reference"] == reference for sale in self.sales.values()):
            raise SimError(409, f"a sale with reference {reference!r} exists")
        if not body.get("lines"):
            raise SimError(422, "a sale needs at least one line")
        sale = {**body, "id": self._next_id("S"), "state": body.get("state", "confirmed")}
        self.sales[sale["id"]] = sale
        return 201, sale

    def _update_sale(self, request: httpx.Request, sale_id: str) -> tuple[int, Any]:
        if sale_id not in self.sales:
            raise SimError(404, f"no sale {sale_id}")
        body = read_json(request)
        sale = self.sales[sale_id]
        if sale["state"] == "done" and body.get("state") == "cancelled":
            raise SimError(409, "a sale already shipped cannot be cancelled")
        sale.update({key: value for key, value in body.items() if key != "id"})
        return 200, sale

    def _find_customers(self, request: httpx.Request) -> tuple[int, Any]:
        email = request.url.params.get("email")
        return 200, {"customers": [c for c in self.customers.values() if c.get("email") == email]}

    def _create_customer(self, request: httpx.Request) -> tuple[int, Any]:
        body = read_json(request)
        customer = {**body, "id": self._next_id("CU")}
        self.customers[customer["id"]] = customer
        return 201, customer

    # Persistence ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "stock": list(self.stock.values()),
            "sales": self.sales,
            "customers": self.customers,
            "shipments": self.shipments,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.stock = {(r["sku"], r["location"]): r for r in state["stock"]}
        self.sales = state["sales"]
        self.customers = state["customers"]
        self.shipments = state.get("shipments", {})
