"""A simulated marketplace: products with the quantity it shows, shoppers, orders, returns.

It behaves like a real channel where it matters to omnisync: a shopper can only buy what the
channel shows, so two channels showing the same last unit can both sell it; orders page by
update time with opaque cursors; stock is set in batches with optional compare-and-set;
webhooks are signed; and faults (rate limits, 5xx, dropped connections, stale or duplicate
reads, duplicate webhooks) can be switched on.

API (JSON, ``Authorization: Bearer <token>``):
``GET /orders?updated_since=&limit=&cursor=``, ``GET /orders/{id}``,
``POST /orders/{id}/fulfilments``, ``POST /orders/{id}/refunds`` (both honour
``Idempotency-Key``), ``GET /returns?updated_since=&limit=&cursor=``, ``GET /listings``,
``GET /inventory?skus=``, ``POST /inventory/batch`` (``{"items": [{"sku", "quantity",
"expected"?}]}``, at most ``max_batch`` items).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from omnisync._time import utcnow
from omnisync.sim._app import (
    Faults,
    SimApp,
    SimError,
    dumps,
    read_json,
)
from omnisync.webhooks import hmac_sha256_base64

__all__ = ["SimMarket", "SimProduct", "SoldOut"]

_NAMES = [
    ("Zoë", "Ångström"),
    ("José", "Müller"),
    ("Aiko", "Tanaka"),
    ("Chidi", "Okafor"),
    ("Saoirse", "Ní Bhriain"),
    ("Łukasz", "Wójcik"),
    ("Mia", "Schmidt"),
    ("Omar", "Haddad"),
]
_CITIES = [
    ("Berlin", "10115", "DE"),
    ("Lyon", "69001", "FR"),
    ("Kraków", "30-001", "PL"),
    ("Dublin", "D02", "IE"),
    ("Malmö", "211 19", "SE"),
]


class SoldOut(Exception):
    """A shopper tried to buy more than the channel shows."""


@dataclass
class SimProduct:
    """A product as the channel lists it: the quantity here is what the channel shows."""

    sku: str
    title: str
    price: str
    quantity: int
    product_id: str
    variant_id: str


def _by_change(item: dict[str, Any]) -> tuple[str, ...]:
    return (item["updated_at"], item["id"])


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


class SimMarket(SimApp):
    """A stateful simulated marketplace. See the module docstring for its API."""

    def __init__(
        self,
        name: str = "sim",
        *,
        currency: str = "EUR",
        token: str = "sim-token",
        webhook_secret: str = "sim-webhook-secret",
        faults: Faults | None = None,
        max_batch: int = 50,
        tax_rate: Decimal = Decimal("0.20"),
        clock: Callable[[], datetime] = utcnow,
        seed: int = 0,
    ) -> None:
        super().__init__(name, token=token, faults=faults, clock=clock)
        self.currency = currency
        self.webhook_secret = webhook_secret
        self.max_batch = max_batch
        self.tax_rate = tax_rate
        self.rng = random.Random(seed)
        self.products: dict[str, SimProduct] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.returns: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.fulfilments: dict[str, dict[str, Any]] = {}
        self.stale_reads = False
        self.duplicate_reads = False
        self.refused: dict[str, str] = {}
        self.batch_sizes: list[int] = []
        """How many items each stock batch call carried, in order."""
        """SKUs whose stock updates the channel refuses, with the error it gives."""
        self._idempotent: dict[str, tuple[int, Any]] = {}
        self._sequence = 1000  # order numbers start at #1001
        self._events = 0
        self.route("GET", r"/orders", self._list_orders)
        self.route("GET", r"/orders/(?P<order_id>[^/]+)", self._get_order)
        self.route("POST", r"/orders/(?P<order_id>[^/]+)/fulfilments", self._fulfil)
        self.route("POST", r"/orders/(?P<order_id>[^/]+)/refunds", self._refund)
        self.route("GET", r"/returns", self._list_returns)
        self.route("GET", r"/listings", self._listings)
        self.route("GET", r"/inventory", self._inventory)
        self.route("POST", r"/inventory/batch", self._inventory_batch)

    # Set-up and merchant actions --------------------------------------------------------------

    def add_product(
        self, sku: str, *, quantity: int = 0, price: str = "10.00", title: str | None = None
    ) -> SimProduct:
        """List a product on the channel."""
        with self.lock:
            number = len(self.products) + 1
            product = SimProduct(
                sku,
                title or sku.replace("-", " ").title(),
                price,
                quantity,
                f"P{number}",
                f"V{number}",
            )
            self.products[sku] = product
            return product

    def shown(self, sku: str) -> int:
        """The quantity the channel currently shows for ``sku``."""
        with self.lock:
            return self.products[sku].quantity

    def _next_id(self) -> str:
        return str(self.next_number())

    def _next_event(self) -> int:
        self._events += 1
        return self._events

    # Shoppers ---------------------------------------------------------------------------------

    def buy(
        self,
        items: Mapping[str, int],
        *,
        customer: Mapping[str, Any] | None = None,
        shipping: str = "4.90",
    ) -> dict[str, Any]:
        """A shopper checks out ``items`` (SKU → quantity); `SoldOut` if the channel shows less."""
        with self.lock:
            for sku, quantity in items.items():
                if sku not in self.products or self.products[sku].quantity < quantity:
                    raise SoldOut(
                        f"{self.name}: {sku} shows "
                        f"{self.products[sku].quantity if sku in self.products else 0}"
                    )
            for sku, quantity in items.items():
                self.products[sku].quantity -= quantity
            order_id = self._next_id()
            now = self.stamp()
            lines = [
                self._line(str(n), sku, quantity)
                for n, (sku, quantity) in enumerate(items.items(), start=1)
            ]
            order: dict[str, Any] = {
                "id": order_id,
                "number": f"#{order_id}",
                "status": "open",
                "payment_status": "paid",
                "currency": self.currency,
                "created_at": now,
                "updated_at": now,
                "cancelled_at": None,
                "customer": dict(customer) if customer else self._shopper(),
                "lines": lines,
                "shipping": {"title": "Standard", "price": shipping},
            }
            order["shipping_address"] = self._address(dict(order["customer"] or {}))
            order["total"] = self._total(order)
            self._save(order, "orders/create")
            return copy.deepcopy(order)

    def _line(self, line_id: str, sku: str, quantity: int) -> dict[str, Any]:
        price = Decimal(self.products[sku].price)
        tax = price * quantity * self.tax_rate
        return {
            "id": line_id,
            "sku": sku,
            "title": self.products[sku].title,
            "quantity": quantity,
            "price": _money(price),
            "discount": "0.00",
            "tax": _money(tax),
            "fulfilled": 0,
            "cancelled": 0,
        }

    def _total(self, order: dict[str, Any]) -> str:
        total = Decimal(order["shipping"]["price"])
        for line in order["lines"]:
            total += Decimal(line["price"]) * line["quantity"] - Decimal(line["discount"])
            total += Decimal(line["tax"])
        return _money(total)

    def _shopper(self) -> dict[str, Any]:
        first, last = self.rng.choice(_NAMES)
        number = self.rng.randrange(10_000)
        return {
            "id": f"C{number}",
            "email": f"{first.lower()}.{number}@example.com",
            "first_name": first,
            "last_name": last,
        }

    def _address(self, customer: Mapping[str, Any]) -> dict[str, Any]:
        city, postal, country = self.rng.choice(_CITIES)
        name = f"{customer.get('first_name', '')} {customer.get('last_name', '')}".strip()
        return {
            "name": name,
            "line1": f"{self.rng.randrange(1, 200)} Main Street",
            "city": city,
            "postal_code": postal,
            "country": country,
        }

    def shoppers(self, count: int) -> list[dict[str, Any]]:
        """``count`` shoppers each try to buy one to three units of something in stock."""
        placed = []
        for _ in range(count):
            with self.lock:
                in_stock = [p.sku for p in self.products.values() if p.quantity > 0]
                if not in_stock:
                    break
                sku = self.rng.choice(in_stock)
                quantity = self.rng.randint(1, min(3, self.products[sku].quantity))
            placed.append(self.buy({sku: quantity}))
        return placed

    def cancel(self, order_id: str) -> dict[str, Any]:
        """The buyer or merchant cancels an order on the channel; the channel restocks it."""
        with self.lock:
            order = copy.deepcopy(self.orders[order_id])
            for line in order["lines"]:
                open_units = line["quantity"] - line["fulfilled"] - line["cancelled"]
                if line["sku"] in self.products:
                    self.products[line["sku"]].quantity += open_units
            order["status"] = "cancelled"
            order["cancelled_at"] = self.stamp()
            order["updated_at"] = order["cancelled_at"]
            self._save(order, "orders/cancelled")
            return copy.deepcopy(order)

    def edit_order(self, order_id: str, items: Mapping[str, int]) -> dict[str, Any]:
        """The merchant edits an order's lines in the channel's back office, as WooCommerce's
        order editor does: each SKU of ``items`` gets that quantity on its line (a new line if
        the order has none, no line at 0); the shelf gives or takes the difference (`SoldOut`
        if it shows too few)."""
        with self.lock:
            order = copy.deepcopy(self.orders[order_id])
            lines = {line["sku"]: line for line in order["lines"]}
            for sku, quantity in items.items():
                more = quantity - (lines[sku]["quantity"] if sku in lines else 0)
                if more > 0 and (sku not in self.products or self.products[sku].quantity < more):
                    raise SoldOut(f"{self.name}: {sku} shows too few to add {more}")
            numbers = [int(line["id"]) for line in order["lines"]]
            for sku, quantity in items.items():
                before = lines.get(sku)
                if sku in self.products:  # a product no longer listed has no shelf here
                    self.products[sku].quantity -= quantity - (before["quantity"] if before else 0)
                if not quantity:
                    lines.pop(sku, None)
                elif before is None:  # a new line, numbered after the order's others
                    numbers.append(max(numbers, default=0) + 1)
                    lines[sku] = self._line(str(numbers[-1]), sku, quantity)
                else:  # the same line, what it shipped or lost kept
                    kept = {key: before[key] for key in ("id", "fulfilled", "cancelled")}
                    lines[sku] = self._line(before["id"], sku, quantity) | kept
            order["lines"] = list(lines.values())
            order["total"] = self._total(order)
            order["updated_at"] = self.stamp()
            self._save(order, "orders/updated")
            return copy.deepcopy(order)

    def ship(self, order_id: str) -> dict[str, Any]:
        """The merchant marks every open unit of an order shipped, on the channel itself."""
        with self.lock:
            order = copy.deepcopy(self.orders[order_id])
            for line in order["lines"]:
                line["fulfilled"] = line["quantity"] - line["cancelled"]
            order["status"] = "closed"
            order["updated_at"] = self.stamp()
            self._save(order, "orders/updated")
            return copy.deepcopy(order)

    def request_return(
        self,
        order_id: str,
        line_id: str,
        quantity: int,
        *,
        restock: bool = True,
        reason: str = "changed mind",
    ) -> dict[str, Any]:
        """The buyer asks to return ``quantity`` units of a line."""
        with self.lock:
            order = self.orders[order_id]
            line = next(line for line in order["lines"] if line["id"] == line_id)
            now = self.stamp()
            ret: dict[str, Any] = {
                "id": f"RT{self._next_id()}",
                "order_id": order_id,
                "status": "requested",
                "created_at": now,
                "updated_at": now,
                "reason": reason,
                "lines": [
                    {
                        "line_id": line_id,
                        "sku": line["sku"],
                        "quantity": quantity,
                        "restock": restock,
                    }
                ],
            }
            self.returns[ret["id"]] = ret
            self._webhook("returns/create", ret)
            return copy.deepcopy(ret)

    def receive_return(self, return_id: str) -> dict[str, Any]:
        """The returned goods arrive back."""
        with self.lock:
            ret = self.returns[return_id]
            ret["status"] = "received"
            ret["updated_at"] = self.stamp()
            self._webhook("returns/update", ret)
            return copy.deepcopy(ret)

    def edit_quantity(self, sku: str, quantity: int) -> None:
        """The merchant changes the quantity shown in the channel's own back office."""
        with self.lock:
            self.products[sku].quantity = quantity
            self._webhook("inventory/update", {"sku": sku, "quantity": quantity})

    def delete(self, order_id: str) -> None:
        """The merchant deletes an order outright."""
        with self.lock:
            del self.orders[order_id]
            self._webhook("orders/delete", {"id": order_id})

    # What the adapter contract kit drives (see omnisync.testing.ContractSimulator) --------

    def add_listing(self, sku: str, quantity: int) -> None:
        """List ``sku``, showing ``quantity``."""
        self.add_product(sku, quantity=quantity)

    def place_order(self, sku: str, quantity: int) -> str:
        """A shopper buys; returns the order id."""
        return str(self.buy({sku: quantity})["id"])

    def touch_order(self, order_id: str) -> None:
        """The merchant edits an order (adds a note), so its update time moves."""
        with self.lock:
            order = copy.deepcopy(self.orders[order_id])
            order["note"] = f"edited at {self.stamp()}"
            order["updated_at"] = self.stamp()
            self._save(order, "orders/updated")

    def break_order(self, order_id: str) -> None:
        """Damage a stored order (a negative line quantity), as a buggy client might."""
        with self.lock:
            self.orders[order_id]["lines"][0]["quantity"] = -1

    def stock_batches(self) -> list[int]:
        """How many items each stock batch call carried."""
        return list(self.batch_sizes)

    def return_order(self, order_id: str) -> str:
        """The buyer returns one unit of the order's first line, and it arrives."""
        first = self.orders[order_id]["lines"][0]["id"]
        ret = self.request_return(order_id, first, 1)
        self.receive_return(ret["id"])
        return str(ret["id"])

    def order_webhook(self) -> tuple[dict[str, str], bytes]:
        """A genuine signed ``orders/create`` delivery."""
        with self.lock:
            if "KIT-WEBHOOK" not in self.products:
                self.add_product("KIT-WEBHOOK", quantity=100)
            self.drain_webhooks()
            self.buy({"KIT-WEBHOOK": 1})
            return self.drain_webhooks()[0]

    def _save(self, order: dict[str, Any], topic: str) -> None:
        self.orders[order["id"]] = order
        self.history.setdefault(order["id"], []).append(copy.deepcopy(order))
        self._webhook(topic, order)

    # Webhooks ---------------------------------------------------------------------------------

    def _webhook(self, topic: str, payload: dict[str, Any]) -> None:
        body = dumps(payload)
        headers = {
            "Content-Type": "application/json",
            "X-Sim-Topic": topic,
            "X-Sim-Event-Id": f"evt-{self._next_event()}",
            "X-Sim-Hmac-Sha256": hmac_sha256_base64(self.webhook_secret, body),
        }
        self.deliver(headers, body)

    # API --------------------------------------------------------------------------------------

    def _list_orders(self, request: httpx.Request) -> tuple[int, Any]:
        page, cursor = self.page(list(self.orders.values()), request, key=_by_change)
        if self.stale_reads:
            page = [self._stale(order) for order in page]
        if self.duplicate_reads and page:
            page.append(copy.deepcopy(page[0]))
        return 200, {"orders": page, "next_cursor": cursor}

    def _stale(self, order: dict[str, Any]) -> dict[str, Any]:
        versions = self.history.get(order["id"], [])
        return copy.deepcopy(self.rng.choice(versions)) if len(versions) > 1 else order

    def _get_order(self, request: httpx.Request, order_id: str) -> tuple[int, Any]:
        if order_id not in self.orders:
            raise SimError(404, f"no order {order_id}")
        return 200, self.orders[order_id]

    def _idempotent_call(
        self, request: httpx.Request, action: Callable[[], tuple[int, Any]]
    ) -> tuple[int, Any]:
        key = request.headers.get("Idempotency-Key")
        if key and key in self._idempotent:
            return self._idempotent[key]
        result = action()
        if key:
            self._idempotent[key] = result
        return result

    def _fulfil(self, request: httpx.Request, order_id: str) -> tuple[int, Any]:
        body = read_json(request)
        return self._idempotent_call(request, lambda: self._create_fulfilment(order_id, body))

    def _create_fulfilment(self, order_id: str, body: Any) -> tuple[int, Any]:
        if order_id not in self.orders:
            raise SimError(404, f"no order {order_id}")
        order = copy.deepcopy(self.orders[order_id])
        if order["status"] == "cancelled":
            raise SimError(422, "order is cancelled")
        lines = {line["id"]: line for line in order["lines"]}
        for item in body.get("lines", []):
            line = lines.get(str(item.get("line_id")))
            if line is None:
                raise SimError(422, f"no line {item.get('line_id')!r}")
            left = line["quantity"] - line["fulfilled"] - line["cancelled"]
            if not isinstance(item.get("quantity"), int) or not 0 < item["quantity"] <= left:
                raise SimError(422, f"line {line['id']} has {left} units to fulfil")
            line["fulfilled"] += item["quantity"]
        if all(
            line["fulfilled"] + line["cancelled"] == line["quantity"] for line in order["lines"]
        ):
            order["status"] = "closed"
        order["updated_at"] = self.stamp()
        self._save(order, "orders/updated")
        fulfilment = {"id": f"F{self._next_id()}", "order_id": order_id, **body}
        self.fulfilments[fulfilment["id"]] = fulfilment
        return 201, fulfilment

    def _refund(self, request: httpx.Request, order_id: str) -> tuple[int, Any]:
        body = read_json(request)
        return self._idempotent_call(request, lambda: self._create_refund(order_id, body))

    def _create_refund(self, order_id: str, body: Any) -> tuple[int, Any]:
        if order_id not in self.orders:
            raise SimError(404, f"no order {order_id}")
        order = copy.deepcopy(self.orders[order_id])
        if body.get("currency") != order["currency"]:
            raise SimError(422, f"refund currency must be {order['currency']}")
        try:
            amount = Decimal(str(body.get("amount")))
        except ArithmeticError:
            raise SimError(422, "amount is not a number") from None
        refunded = sum(
            (Decimal(r["amount"]) for r in self.refunds.values() if r["order_id"] == order_id),
            Decimal(0),
        )
        if amount <= 0 or refunded + amount > Decimal(order["total"]):
            raise SimError(
                422, f"refund exceeds what is left ({Decimal(order['total']) - refunded})"
            )
        refund = {
            "id": f"R{self._next_id()}",
            "order_id": order_id,
            "amount": _money(amount),
            "currency": order["currency"],
            "status": "succeeded",
            "reason": body.get("reason"),
        }
        self.refunds[refund["id"]] = refund
        full = refunded + amount == Decimal(order["total"])
        order["payment_status"] = "refunded" if full else "partially_refunded"
        order["updated_at"] = self.stamp()
        self._save(order, "orders/updated")
        return 201, refund

    def _list_returns(self, request: httpx.Request) -> tuple[int, Any]:
        page, cursor = self.page(list(self.returns.values()), request, key=_by_change)
        return 200, {"returns": page, "next_cursor": cursor}

    def _listings(self, request: httpx.Request) -> tuple[int, Any]:
        listings = [
            {"sku": p.sku, "product_id": p.product_id, "variant_id": p.variant_id}
            for p in self.products.values()
        ]
        return 200, {"listings": listings}

    def _inventory(self, request: httpx.Request) -> tuple[int, Any]:
        wanted = request.url.params.get("skus")
        skus = wanted.split(",") if wanted else list(self.products)
        return 200, {
            "items": [
                {"sku": sku, "quantity": self.products[sku].quantity}
                for sku in skus
                if sku in self.products
            ]
        }

    def _inventory_batch(self, request: httpx.Request) -> tuple[int, Any]:
        items = read_json(request).get("items")
        if not isinstance(items, list):
            raise SimError(400, "items must be a list")
        self.batch_sizes.append(len(items))
        if len(items) > self.max_batch:
            raise SimError(400, f"at most {self.max_batch} items per call, got {len(items)}")
        return 200, {"results": [self._set_quantity(item) for item in items]}

    def _set_quantity(self, item: Any) -> dict[str, Any]:
        sku = item.get("sku") if isinstance(item, dict) else None
        product = self.products.get(sku) if isinstance(sku, str) else None
        if product is None:
            return {"sku": sku, "error": "unknown sku"}
        if sku in self.refused:
            return {"sku": sku, "error": self.refused[sku]}
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            return {"sku": sku, "error": "quantity must be a whole number of at least 0"}
        if self.faults.take("stale"):
            product.quantity = max(product.quantity - 1, 0)  # a sale the writer has not seen
        expected = item.get("expected")
        if expected is not None and expected != product.quantity:
            return {"sku": sku, "error": "stale", "current": product.quantity}
        product.quantity = quantity
        return {"sku": sku, "quantity": quantity}

    # Persistence ------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "products": [asdict(p) for p in self.products.values()],
            "orders": self.orders,
            "returns": self.returns,
            "refunds": self.refunds,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.products = {p["sku"]: SimProduct(**p) for p in state["products"]}
        self.orders = state["orders"]
        self.history = {key: [copy.deepcopy(order)] for key, order in self.orders.items()}
        self.returns = state["returns"]
        self.refunds = state["refunds"]
