"""A stateful simulator of the WooCommerce REST API v3 (the parts omnisync uses).

Same paths, fields, pagination headers, batch semantics, error shapes and webhook signature
as WooCommerce (see the WooCommerce REST API docs, wp-api-v3 orders, products,
product-variations, order-notes and webhooks, and the Shipment Tracking extension's API):

- ``GET /wp-json/wc/v3/orders`` with ``page``, ``per_page`` (at most 100),
  ``modified_after`` with ``dates_are_gmt``, ``orderby`` (date, id), ``order``; totals in
  ``X-WP-Total`` and ``X-WP-TotalPages`` and a ``Link`` header; ``GET|PUT .../orders/{id}``;
  ``GET|POST .../orders/{id}/notes``;
- ``GET .../products`` (``sku``, paging), ``GET .../products/{id}/variations``,
  ``POST .../products/batch`` and ``POST .../products/{id}/variations/batch`` (at most 100
  items, else 413 ``woocommerce_rest_request_entity_too_large``; an item the store refuses
  comes back as ``{"id", "error": {"code", "message", "data": {"status"}}}``);
- ``POST /wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings``.

Authentication is HTTP Basic with the consumer key and secret, or the same as the
``consumer_key`` / ``consumer_secret`` query parameters. Errors are WordPress-shaped:
``{"code", "message", "data": {"status"}}``. Dates are site-local with ``_gmt`` twins; this
site's clock is UTC+2, so the two differ.
"""

from __future__ import annotations

import base64
import copy
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from omnisync.sim import Faults, SimApp
from omnisync.sim._app import SimError, dumps, json_response, read_json
from omnisync.webhooks import hmac_sha256_base64

__all__ = ["WooCommerceSimulator"]

API = "/wp-json/wc/v3"
BATCH_LIMIT = 100
SITE_OFFSET = timedelta(hours=2)


def _woo_time(stamp: str) -> tuple[str, str]:
    """(site-local, GMT) in WooCommerce's format: ISO 8601 without offset, to the second."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    fmt = "%Y-%m-%dT%H:%M:%S"
    return (moment + SITE_OFFSET).strftime(fmt), moment.strftime(fmt)


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


class WooCommerceSimulator(SimApp):
    """A WooCommerce store, with products (simple and variable) and orders."""

    def __init__(
        self,
        name: str = "woocommerce",
        *,
        consumer_key: str = "ck_simulated",
        consumer_secret: str = "cs_simulated",
        webhook_secret: str = "woo-webhook-secret",
        currency: str = "EUR",
        tax_rate: Decimal = Decimal("0.19"),
        faults: Faults | None = None,
    ) -> None:
        super().__init__(name, token=consumer_secret, faults=faults)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.webhook_secret = webhook_secret
        self.currency = currency
        self.tax_rate = tax_rate
        self.products: dict[int, dict[str, Any]] = {}
        self.variations: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        self.trackings: dict[int, list[dict[str, Any]]] = {}
        self.batch_sizes: list[int] = []
        self._sequence = 100
        self._route_all()

    def _route_all(self) -> None:
        self.route("GET", f"{API}/orders", self._list_orders)
        self.route("GET", rf"{API}/orders/(?P<order_id>\d+)", self._get_order)
        self.route("PUT", rf"{API}/orders/(?P<order_id>\d+)", self._update_order)
        self.route("GET", rf"{API}/orders/(?P<order_id>\d+)/notes", self._list_notes)
        self.route("POST", rf"{API}/orders/(?P<order_id>\d+)/notes", self._add_note)
        self.route("GET", f"{API}/products", self._list_products)
        self.route("GET", rf"{API}/products/(?P<product_id>\d+)/variations", self._variations)
        self.route("POST", f"{API}/products/batch", self._batch_products)
        self.route(
            "POST", rf"{API}/products/(?P<product_id>\d+)/variations/batch", self._batch_variations
        )
        trackings = r"/wp-json/wc-shipment-tracking/v3/orders/(?P<order_id>\d+)/shipment-trackings"
        self.route("GET", trackings, self._list_trackings)
        self.route("POST", trackings, self._add_tracking)

    # WordPress conventions --------------------------------------------------------------

    def authorized(self, request: httpx.Request) -> bool:
        params = request.url.params
        if params.get("consumer_key") is not None:
            given = (params.get("consumer_key"), params.get("consumer_secret"))
            return bool(given == (self.consumer_key, self.consumer_secret))
        header = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode())
        return bool(header == f"Basic {expected.decode()}")

    def error_body(self, status: int, message: str, code: str | None) -> dict[str, Any]:
        default = {
            401: "woocommerce_rest_cannot_view",
            404: "rest_no_route",
            429: "woocommerce_rest_too_many_requests",
        }.get(status, "woocommerce_rest_error")
        return {"code": code or default, "message": message, "data": {"status": status}}

    def _paged(
        self, request: httpx.Request, items: list[dict[str, Any]], path: str
    ) -> httpx.Response:
        params = request.url.params
        try:
            page = int(params.get("page", "1"))
            per_page = int(params.get("per_page", "10"))
        except ValueError:
            raise SimError(
                400, "Invalid parameter(s): page, per_page", "rest_invalid_param"
            ) from None
        if not 1 <= per_page <= 100 or page < 1:
            raise SimError(400, "Invalid parameter(s): per_page", "rest_invalid_param")
        total = len(items)
        pages = max(math.ceil(total / per_page), 1) if total else 0
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        base = {k: v for k, v in params.items() if k not in ("consumer_key", "consumer_secret")}
        if page > 1:
            links.append(f'<{path}?{urlencode({**base, "page": page - 1})}>; rel="prev"')
        if page < pages:
            links.append(f'<{path}?{urlencode({**base, "page": page + 1})}>; rel="next"')
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        if links:
            headers["Link"] = ", ".join(links)
        return json_response(200, copy.deepcopy(chunk), headers)

    # Store set-up and shoppers ----------------------------------------------------------

    def _next(self) -> int:
        return self.next_number()

    def add_product(
        self, sku: str, *, quantity: int | None = 0, price: str = "10.00", name: str | None = None
    ) -> int:
        """A simple product; ``quantity=None`` leaves stock unmanaged."""
        with self.lock:
            product_id = self._next()
            self.products[product_id] = {
                "id": product_id,
                "name": name or sku,
                "type": "simple",
                "sku": sku,
                "price": price,
                "regular_price": price,
                "status": "publish",
                "manage_stock": quantity is not None,
                "stock_quantity": quantity,
                "stock_status": "instock" if quantity else "outofstock",
                "variations": [],
            }
            return product_id

    def add_variable_product(self, name: str, variants: Mapping[str, int]) -> int:
        """A variable product whose variations have ``variants`` (SKU → quantity)."""
        with self.lock:
            product_id = self._next()
            ids = []
            for sku, quantity in variants.items():
                variation_id = self._next()
                self.variations[variation_id] = {
                    "id": variation_id,
                    "parent_id": product_id,
                    "sku": sku,
                    "price": "15.00",
                    "regular_price": "15.00",
                    "manage_stock": True,
                    "stock_quantity": quantity,
                    "stock_status": "instock" if quantity else "outofstock",
                }
                ids.append(variation_id)
            self.products[product_id] = {
                "id": product_id,
                "name": name,
                "type": "variable",
                "sku": "",
                "price": "15.00",
                "status": "publish",
                "manage_stock": False,
                "stock_quantity": None,
                "stock_status": "instock",
                "variations": ids,
            }
            return product_id

    def _item(self, sku: str) -> dict[str, Any]:
        for item in (*self.products.values(), *self.variations.values()):
            if item["sku"] == sku:
                return item
        raise KeyError(sku)

    def shown(self, sku: str) -> int:
        """The stock quantity the store has for ``sku``."""
        with self.lock:
            return int(self._item(sku)["stock_quantity"] or 0)

    def buy(self, items: Mapping[str, int], *, status: str = "processing") -> dict[str, Any]:
        """A shopper checks out (stock is reduced, as WooCommerce does on payment)."""
        with self.lock:
            for sku, quantity in items.items():
                item = self._item(sku)
                if item["manage_stock"] and (item["stock_quantity"] or 0) < quantity:
                    raise SimError(400, f"{sku} is out of stock", "woocommerce_rest_out_of_stock")
            order_id = self._next()
            lines = [self._line(sku, quantity) for sku, quantity in items.items()]
            for sku, quantity in items.items():
                item = self._item(sku)
                if item["manage_stock"]:
                    item["stock_quantity"] -= quantity
            stamp = self.stamp()
            local, gmt = _woo_time(stamp)
            order = {
                "id": order_id,
                "parent_id": 0,
                "number": str(order_id),
                "status": status,
                "currency": self.currency,
                "prices_include_tax": False,
                "date_created": local,
                "date_created_gmt": gmt,
                "date_modified": local,
                "date_modified_gmt": gmt,
                "date_paid": local if status == "processing" else None,
                "date_paid_gmt": gmt if status == "processing" else None,
                "date_completed": None,
                "date_completed_gmt": None,
                "customer_id": 0,
                "customer_note": "",
                "billing": {
                    "first_name": "Zoë",
                    "last_name": "Ångström",
                    "company": "",
                    "address_1": "Hauptstraße 5",
                    "address_2": "",
                    "city": "Köln",
                    "state": "",
                    "postcode": "50667",
                    "country": "DE",
                    "email": f"buyer{order_id}@example.com",
                    "phone": "",
                },
                "shipping": {
                    "first_name": "Zoë",
                    "last_name": "Ångström",
                    "company": "",
                    "address_1": "Hauptstraße 5",
                    "address_2": "",
                    "city": "Köln",
                    "state": "",
                    "postcode": "50667",
                    "country": "DE",
                },
                "payment_method": "bacs",
                "line_items": lines,
                "tax_lines": [],
                "shipping_lines": [
                    {
                        "id": self._next(),
                        "method_title": "Flat rate",
                        "method_id": "flat_rate",
                        "total": "4.90",
                        "total_tax": "0.00",
                        "taxes": [],
                    }
                ],
                "fee_lines": [],
                "coupon_lines": [],
                "refunds": [],
                "meta_data": [],
            }
            self._totals(order)
            self.orders[order_id] = order
            self._webhook("order.created", order)
            return copy.deepcopy(order)

    def _line(self, sku: str, quantity: int) -> dict[str, Any]:
        item = self._item(sku)
        price = Decimal(item["price"])
        subtotal = price * quantity
        tax = subtotal * self.tax_rate
        parent = item.get("parent_id", item["id"])
        return {
            "id": self._next(),
            "name": self.products[parent]["name"],
            "product_id": parent,
            "variation_id": item["id"] if "parent_id" in item else 0,
            "quantity": quantity,
            "tax_class": "",
            "subtotal": _money(subtotal),
            "subtotal_tax": _money(tax),
            "total": _money(subtotal),
            "total_tax": _money(tax),
            "taxes": [],
            "meta_data": [],
            "sku": sku,
            "price": float(price),
        }

    @staticmethod
    def _totals(order: dict[str, Any]) -> None:
        lines = order["line_items"]
        zero = Decimal(0)
        shipping = sum((Decimal(s["total"]) for s in order["shipping_lines"]), zero)
        tax = sum((Decimal(line["total_tax"]) for line in lines), zero)
        discount = sum((Decimal(ln["subtotal"]) - Decimal(ln["total"]) for ln in lines), zero)
        net = sum((Decimal(line["total"]) for line in lines), zero)
        order["discount_total"] = _money(discount)
        order["discount_tax"] = "0.00"
        order["shipping_total"] = _money(shipping)
        order["shipping_tax"] = "0.00"
        order["cart_tax"] = _money(tax)
        order["total_tax"] = _money(tax)
        order["total"] = _money(net + shipping + tax)

    def set_status(self, order_id: int, status: str) -> dict[str, Any]:
        """The merchant changes an order's status (restocking it when cancelled)."""
        with self.lock:
            order = self.orders[order_id]
            if status == "cancelled" and order["status"] != "cancelled":
                for line in order["line_items"]:
                    item = self._item(line["sku"])
                    if item["manage_stock"]:
                        item["stock_quantity"] += line["quantity"]
            order["status"] = status
            self._modified(order)
            if status == "completed":
                order["date_completed"], order["date_completed_gmt"] = (
                    order["date_modified"],
                    order["date_modified_gmt"],
                )
            self._webhook("order.updated", order)
            return copy.deepcopy(order)

    def _modified(self, order: dict[str, Any]) -> None:
        order["date_modified"], order["date_modified_gmt"] = _woo_time(self.stamp())

    # Webhooks ---------------------------------------------------------------------------

    def _webhook(self, topic: str, payload: dict[str, Any]) -> None:
        body = dumps(payload)
        resource, _, event = topic.partition(".")
        headers = {
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": "https://shop.example/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-ID": "7",
            "X-WC-Webhook-Signature": hmac_sha256_base64(self.webhook_secret, body),
        }
        # WooCommerce makes a new delivery id for every attempt.
        self.deliver(headers, body, lambda: {"X-WC-Webhook-Delivery-ID": self._delivery_id()})

    def _delivery_id(self) -> str:
        return f"{self.next_number():032x}"

    # Orders API -------------------------------------------------------------------------

    def _order(self, order_id: str) -> dict[str, Any]:
        try:
            return self.orders[int(order_id)]
        except KeyError:
            raise SimError(404, "Invalid ID.", "woocommerce_rest_shop_order_invalid_id") from None

    def _list_orders(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        orders = [o for o in self.orders.values() if o["status"] != "trash"]
        after = params.get("modified_after")
        if after:
            gmt = params.get("dates_are_gmt") in ("true", "1")
            try:
                bound = datetime.fromisoformat(after.replace("Z", "+00:00")).replace(tzinfo=None)
            except ValueError:
                raise SimError(
                    400, "Invalid parameter(s): modified_after", "rest_invalid_param"
                ) from None
            field = "date_modified_gmt" if gmt else "date_modified"
            orders = [o for o in orders if datetime.fromisoformat(o[field]) > bound]
        key = "id" if params.get("orderby") == "id" else "date_created_gmt"
        orders.sort(key=lambda o: (o[key], o["id"]), reverse=params.get("order") != "asc")
        return self._paged(request, orders, f"{API}/orders")

    def _get_order(self, request: httpx.Request, order_id: str) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._order(order_id))

    def _update_order(self, request: httpx.Request, order_id: str) -> tuple[int, Any]:
        order = self._order(order_id)
        body = read_json(request)
        if not isinstance(body, dict):
            raise SimError(400, "Invalid JSON body", "rest_invalid_json")
        for entry in body.get("meta_data", []):
            order["meta_data"] = [m for m in order["meta_data"] if m["key"] != entry["key"]]
            order["meta_data"].append({"id": self._next(), **entry})
        if "status" in body:
            return 200, self.set_status(order["id"], body["status"])
        self._modified(order)
        self._webhook("order.updated", order)
        return 200, copy.deepcopy(order)

    def _list_notes(self, request: httpx.Request, order_id: str) -> tuple[int, Any]:
        self._order(order_id)
        return 200, copy.deepcopy(self.notes.get(int(order_id), []))

    def _add_note(self, request: httpx.Request, order_id: str) -> tuple[int, Any]:
        self._order(order_id)
        body = read_json(request)
        if not isinstance(body, dict) or not body.get("note"):
            raise SimError(400, "Missing parameter(s): note", "rest_missing_callback_param")
        local, gmt = _woo_time(self.stamp())
        note = {
            "id": self._next(),
            "author": "WooCommerce",
            "date_created": local,
            "date_created_gmt": gmt,
            "note": body["note"],
            "customer_note": bool(body.get("customer_note")),
        }
        self.notes.setdefault(int(order_id), []).append(note)
        return 201, note

    def _list_trackings(self, request: httpx.Request, order_id: str) -> tuple[int, Any]:
        self._order(order_id)
        return 200, copy.deepcopy(self.trackings.get(int(order_id), []))

    def _add_tracking(self, request: httpx.Request, order_id: str) -> tuple[int, Any]:
        self._order(order_id)
        body = read_json(request)
        if not isinstance(body, dict) or not body.get("tracking_number"):
            raise SimError(
                400, "Missing parameter(s): tracking_number", "rest_missing_callback_param"
            )
        tracking = {"tracking_id": f"{self._next():x}", **body}
        self.trackings.setdefault(int(order_id), []).append(tracking)
        return 201, tracking

    # Products API -----------------------------------------------------------------------

    def _list_products(self, request: httpx.Request) -> httpx.Response:
        sku = request.url.params.get("sku")
        products = sorted(self.products.values(), key=lambda p: p["id"])
        if sku is not None:  # a SKU lookup finds variations too
            found = [*products, *({**v, "type": "variation"} for v in self.variations.values())]
            products = [p for p in found if p["sku"] == sku]
        return self._paged(request, products, f"{API}/products")

    def _variations(self, request: httpx.Request, product_id: str) -> httpx.Response:
        product = self.products.get(int(product_id))
        if product is None:
            raise SimError(404, "Invalid ID.", "woocommerce_rest_product_invalid_id")
        found = [self.variations[v] for v in product["variations"]]
        return self._paged(request, found, f"{API}/products/{product_id}/variations")

    def _batch(self, request: httpx.Request, pool: dict[int, dict[str, Any]]) -> tuple[int, Any]:
        body = read_json(request)
        if not isinstance(body, dict):
            raise SimError(400, "Invalid JSON body", "rest_invalid_json")
        updates = body.get("update", [])
        size = sum(len(body.get(k, [])) for k in ("create", "update", "delete"))
        self.batch_sizes.append(size)
        if size > BATCH_LIMIT:
            raise SimError(
                413,
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
                "woocommerce_rest_request_entity_too_large",
            )
        return 200, {"update": [self._apply_update(pool, update) for update in updates]}

    def _apply_update(self, pool: dict[int, dict[str, Any]], update: Any) -> dict[str, Any]:
        item_id = update.get("id") if isinstance(update, dict) else None
        item = pool.get(item_id) if isinstance(item_id, int) else None
        if item is None:
            return {
                "id": item_id or 0,
                "error": {
                    "code": "woocommerce_rest_product_invalid_id",
                    "message": "Invalid ID.",
                    "data": {"status": 400},
                },
            }
        quantity = update.get("stock_quantity")
        if quantity is not None and (not isinstance(quantity, int) or quantity < 0):
            return {
                "id": item_id,
                "error": {
                    "code": "rest_invalid_param",
                    "message": "Invalid parameter(s): stock_quantity",
                    "data": {"status": 400},
                },
            }
        if "manage_stock" in update:
            item["manage_stock"] = bool(update["manage_stock"])
        if quantity is not None:
            item["stock_quantity"] = quantity
            item["stock_status"] = "instock" if quantity > 0 else "outofstock"
        return copy.deepcopy(item)

    def _batch_products(self, request: httpx.Request) -> tuple[int, Any]:
        return self._batch(request, self.products)

    def _batch_variations(self, request: httpx.Request, product_id: str) -> tuple[int, Any]:
        product = self.products.get(int(product_id))
        if product is None:
            raise SimError(404, "Invalid ID.", "woocommerce_rest_product_invalid_id")
        own = {vid: self.variations[vid] for vid in product["variations"]}
        return self._batch(request, own)

    # What the adapter contract kit drives -------------------------------------------------

    def add_listing(self, sku: str, quantity: int) -> None:
        """A simple product with managed stock."""
        self.add_product(sku, quantity=quantity)

    def place_order(self, sku: str, quantity: int) -> str:
        """A shopper buys; returns the order id."""
        return str(self.buy({sku: quantity})["id"])

    def touch_order(self, order_id: str) -> None:
        """The merchant puts the order on hold, so it is modified."""
        self.set_status(int(order_id), "on-hold")

    def break_order(self, order_id: str) -> None:
        """Damage a stored order (a negative line quantity), as a faulty extension might."""
        with self.lock:
            self.orders[int(order_id)]["line_items"][0]["quantity"] = -1

    def stock_batches(self) -> list[int]:
        """How many items each batch call carried."""
        return list(self.batch_sizes)

    def order_webhook(self) -> tuple[dict[str, str], bytes]:
        """A genuine signed ``order.created`` delivery."""
        with self.lock:
            if not any(p["sku"] == "KIT-WEBHOOK" for p in self.products.values()):
                self.add_product("KIT-WEBHOOK", quantity=100)
            self.drain_webhooks()
            self.buy({"KIT-WEBHOOK": 1})
            return self.drain_webhooks()[0]

    def ping(self) -> tuple[dict[str, str], bytes]:
        """The unsigned form-encoded ping WooCommerce sends when a webhook is activated."""
        return {"Content-Type": "application/x-www-form-urlencoded"}, b"webhook_id=7"

    def state(self) -> dict[str, Any]:
        return {
            "products": list(self.products.values()),
            "variations": list(self.variations.values()),
            "orders": list(self.orders.values()),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.products = {p["id"]: p for p in state["products"]}
        self.variations = {v["id"]: v for v in state["variations"]}
        self.orders = {o["id"]: o for o in state["orders"]}
