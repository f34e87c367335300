"""The ``woocommerce`` adapter: WooCommerce REST API v3.

Facts it relies on (WooCommerce REST API docs, wp-api-v3, and WooCommerce core's REST
controllers): keys as HTTP Basic credentials (or query parameters); ``GET /orders`` with
``modified_after`` and ``dates_are_gmt``, ``per_page`` at most 100 and ``X-WP-TotalPages``;
``POST /products/batch`` and ``/products/{id}/variations/batch``, at most 100 items, with an
``error`` object per refused item; webhooks signed base64(HMAC-SHA256(body, secret)) in
``X-WC-Webhook-Signature``, and an unsigned form-encoded ``webhook_id=N`` activation ping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
from pydantic import Field, JsonValue, SecretStr

from omnisync.adapters import (
    BasicAuth,
    Capability,
    HTTPAdapter,
    HTTPSettings,
    Limits,
    Offer,
    Page,
    QueryAuth,
    RateLimit,
    WebhookEvent,
    map_records,
    secret,
)
from omnisync.errors import InvalidPayloadError
from omnisync.http import json_loads, numbered_pages
from omnisync.models import Fulfilment, Listing, Order, StockPushResult, StockUpdate
from omnisync.webhooks import verify_hmac_sha256_base64
from omnisync_woocommerce._mapping import map_order

__all__ = ["WooCommerceAdapter", "WooCommerceSettings"]

API = "/wp-json/wc/v3"
TRACKING_API = "/wp-json/wc-shipment-tracking/v3"


class WooCommerceSettings(HTTPSettings):
    """Settings of the ``woocommerce`` adapter.

    ``base_url`` is the WordPress site (``https://shop.example``). ``query_auth`` sends the
    keys as query parameters, for servers that strip the Authorization header.
    ``shipment_tracking`` records tracking through the Shipment Tracking extension instead of
    a customer note.
    """

    consumer_key: SecretStr = secret(env="WOO_CONSUMER_KEY", description="ck_...")
    consumer_secret: SecretStr = secret(env="WOO_CONSUMER_SECRET", description="cs_...")
    webhook_secret: SecretStr = secret(env="WOO_WEBHOOK_SECRET", default="")
    per_page: int = Field(default=100, ge=1, le=100)
    query_auth: bool = False
    shipment_tracking: bool = False


def _key(payload: JsonValue) -> str:
    return str(payload.get("id", "unknown")) if isinstance(payload, dict) else "unknown"


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class WooCommerceAdapter(HTTPAdapter):
    """A WooCommerce store: orders in, stock out, fulfilments out, webhooks."""

    name = "woocommerce"
    description = "WooCommerce (REST API v3)"
    capabilities = frozenset(
        {
            Capability.PULL_ORDERS,
            Capability.PULL_LISTINGS,
            Capability.PUSH_STOCK,
            Capability.PUSH_FULFILMENTS,
            Capability.WEBHOOKS,
        }
    )
    # Core WooCommerce sets no rate limit; hosts do. Five a second spares a modest server.
    limits = Limits(stock_batch_size=100, rate_limit=RateLimit(rate=5, burst=10))
    Settings = WooCommerceSettings
    settings: WooCommerceSettings
    default_base_url: ClassVar[str | None] = None

    def auth(self) -> httpx.Auth:
        key, secret_value = self.settings.consumer_key, self.settings.consumer_secret
        if self.settings.query_auth:
            return QueryAuth(consumer_key=key, consumer_secret=secret_value)
        return BasicAuth(key, secret_value)

    # Orders -----------------------------------------------------------------------------

    async def pull_orders(self, since: datetime | None) -> AsyncIterator[Page[Order]]:
        params: dict[str, Any] = {
            "per_page": self.settings.per_page,
            "orderby": "id",
            "order": "asc",
        }
        if since is not None:
            params.update(modified_after=_gmt(since), dates_are_gmt="true")
        async for payloads in numbered_pages(self.http, f"{API}/orders", params=params):
            orders, rejects = map_records(payloads, self.map_order, kind="order", key=_key)
            # Pages run by id, not by change time: no page-by-page checkpoint is safe.
            yield Page(orders, rejects)

    def map_order(self, payload: JsonValue) -> Order:
        return map_order(payload, self.channel)

    # Products and stock ------------------------------------------------------------------

    async def pull_listings(self) -> AsyncIterator[Page[Listing]]:
        params = {"per_page": self.settings.per_page}
        async for products in numbered_pages(self.http, f"{API}/products", params=params):
            found: list[Listing] = []
            for product in products:
                if not isinstance(product, dict):
                    continue
                if product.get("type") == "variable":
                    found += await self._variations(product)
                elif product.get("sku"):
                    found.append(self._listing(product["sku"], product["id"], None))
            yield Page(found)

    async def _variations(self, product: dict[str, Any]) -> list[Listing]:
        path = f"{API}/products/{product['id']}/variations"
        found = []
        params = {"per_page": self.settings.per_page}
        async for variations in numbered_pages(self.http, path, params=params):
            for variation in variations:
                if isinstance(variation, dict) and variation.get("sku"):
                    found.append(self._listing(variation["sku"], product["id"], variation["id"]))
        return found

    def _listing(self, sku: str, product_id: Any, variation_id: Any) -> Listing:
        return Listing(
            channel=self.channel,
            sku=sku,
            product_id=str(product_id),
            variant_id=str(variation_id) if variation_id else None,
        )

    async def push_stock(self, updates: Sequence[StockUpdate]) -> list[StockPushResult]:
        listings = {u.sku: u.listing or await self._find(u.sku) for u in updates}
        groups: dict[str, list[StockUpdate]] = {}
        results: dict[str, StockPushResult] = {}
        for update in updates:
            listing = listings[update.sku]
            if listing is None or listing.product_id is None:
                results[update.sku] = StockPushResult(
                    sku=update.sku, ok=False, error="no product or variation has this SKU"
                )
                continue
            path = (
                f"{API}/products/{listing.product_id}/variations/batch"
                if listing.variant_id
                else f"{API}/products/batch"
            )
            groups.setdefault(path, []).append(update)
        for path, group in groups.items():
            results.update(await self._batch(path, group, listings))
        return [results[update.sku] for update in updates]

    async def _find(self, sku: str) -> Listing | None:
        # A SKU lookup on /products also finds variations (type "variation", with parent_id).
        body = await self.http.request_json("GET", f"{API}/products", params={"sku": sku})
        for item in body if isinstance(body, list) else []:
            if not isinstance(item, dict) or item.get("sku") != sku:
                continue
            if item.get("type") == "variation":
                return self._listing(sku, item.get("parent_id"), item["id"])
            return self._listing(sku, item["id"], None)
        return None

    async def _batch(
        self, path: str, group: list[StockUpdate], listings: Mapping[str, Listing | None]
    ) -> dict[str, StockPushResult]:
        by_id: dict[int, StockUpdate] = {}
        for update in group:
            listing = listings[update.sku]
            assert listing is not None  # push_stock left out SKUs without a listing
            by_id[int(listing.variant_id or listing.product_id or 0)] = update
        body = {
            "update": [
                {"id": item_id, "manage_stock": True, "stock_quantity": update.quantity}
                for item_id, update in by_id.items()
            ]
        }
        # Setting absolute quantities: sending it twice does no harm.
        answer = await self.http.request_json("POST", path, json=body, idempotent=True)
        answered = answer.get("update") if isinstance(answer, dict) else None
        if not isinstance(answered, list):
            raise InvalidPayloadError(
                f"POST {path} answered without an update list", channel=self.channel
            )
        results: dict[str, StockPushResult] = {}
        for item in answered:
            answered_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(answered_id, int) or answered_id not in by_id:
                continue
            update = by_id[answered_id]
            error = item.get("error")
            if error:
                message = error.get("message") if isinstance(error, dict) else str(error)
                results[update.sku] = StockPushResult(sku=update.sku, ok=False, error=message)
            else:
                quantity = item.get("stock_quantity")
                results[update.sku] = StockPushResult(
                    sku=update.sku,
                    ok=True,
                    quantity=quantity if isinstance(quantity, int) else update.quantity,
                )
        for update in group:
            results.setdefault(
                update.sku,
                StockPushResult(
                    sku=update.sku, ok=False, error="the store did not answer for this item"
                ),
            )
        return results

    # Fulfilments --------------------------------------------------------------------------

    async def push_fulfilment(self, fulfilment: Fulfilment) -> Fulfilment:
        """Record the shipment, then complete the order once every unit has shipped.

        Neither notes nor trackings take an idempotency key, so a retry first looks for the
        note or tracking number it would add: a shipment is recorded once however often the
        call is repeated.
        """
        order = await self.http.request_json("GET", f"{API}/orders/{fulfilment.order_id}")
        if self.settings.shipment_tracking and fulfilment.tracking_number:
            fulfilment_id = await self._tracking(fulfilment)
        else:
            fulfilment_id = await self._note(fulfilment)
        if self._completes(order, fulfilment) and order.get("status") != "completed":
            await self.http.request(
                "PUT", f"{API}/orders/{fulfilment.order_id}", json={"status": "completed"}
            )
        return fulfilment.model_copy(update={"fulfilment_id": fulfilment_id})

    async def _tracking(self, fulfilment: Fulfilment) -> str:
        path = f"{TRACKING_API}/orders/{fulfilment.order_id}/shipment-trackings"
        for known in await self.http.request_json("GET", path):
            if known.get("tracking_number") == fulfilment.tracking_number:
                return f"tracking-{known['tracking_id']}"
        body = {
            "tracking_number": fulfilment.tracking_number,
            "custom_tracking_provider": fulfilment.carrier or "",
            "custom_tracking_link": fulfilment.tracking_url or "",
        }
        created = await self.http.request_json("POST", path, json=body)
        return f"tracking-{created['tracking_id']}"

    async def _note(self, fulfilment: Fulfilment) -> str:
        text = "Your order has shipped"
        if fulfilment.carrier or fulfilment.tracking_number:
            text += f" with {fulfilment.carrier or 'the carrier'}"
            if fulfilment.tracking_number:
                text += f", tracking number {fulfilment.tracking_number}"
        if fulfilment.tracking_url:
            text += f": {fulfilment.tracking_url}"
        text += "."
        path = f"{API}/orders/{fulfilment.order_id}/notes"
        for known in await self.http.request_json("GET", path):
            if known.get("note") == text:
                return f"note-{known['id']}"
        body = {"note": text, "customer_note": fulfilment.notify_customer}
        note = await self.http.request_json("POST", path, json=body)
        return f"note-{note['id']}"

    @staticmethod
    def _completes(order: dict[str, Any], fulfilment: Fulfilment) -> bool:
        # WooCommerce ships whole orders: "completed" once every unit is covered.
        shipped = {line.line_id: line.quantity for line in fulfilment.lines}
        return all(
            shipped.get(str(line["id"]), 0) >= int(line["quantity"])
            for line in order.get("line_items") or []
        )

    # Webhooks -----------------------------------------------------------------------------

    @staticmethod
    def _ping_id(headers: Mapping[str, str], body: bytes) -> str | None:
        if "X-WC-Webhook-Topic" in headers or not body.startswith(b"webhook_id="):
            return None
        values = parse_qs(body.decode("ascii", "replace")).get("webhook_id", [""])
        return values[0] if values[0].isdigit() else None

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        if self._ping_id(headers, body) is not None:
            return  # the activation ping is unsigned and changes nothing
        secret_value = self.settings.webhook_secret
        if not secret_value.get_secret_value():
            raise InvalidPayloadError(
                "no webhook_secret is configured for this channel",
                hint="set channels.NAME.settings.webhook_secret",
                channel=self.channel,
            )
        verify_hmac_sha256_base64(
            secret_value, body, headers.get("X-WC-Webhook-Signature"), channel=self.channel
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        ping = self._ping_id(headers, body)
        if ping is not None:
            return WebhookEvent(f"ping-{ping}", "ping")
        topic = headers.get("X-WC-Webhook-Topic", "")
        delivery = headers.get("X-WC-Webhook-Delivery-ID")
        if not delivery:
            raise InvalidPayloadError(
                "webhook has no X-WC-Webhook-Delivery-ID", channel=self.channel
            )
        try:
            payload = json_loads(body)
        except ValueError:
            raise InvalidPayloadError("webhook body is not JSON", channel=self.channel) from None
        if topic == "order.deleted":
            return WebhookEvent(delivery, topic, deleted_orders=(_key(payload),))
        if topic.startswith("order."):
            orders, rejects = map_records([payload], self.map_order, kind="order", key=_key)
            return WebhookEvent(delivery, topic, orders=tuple(orders), rejects=tuple(rejects))
        stocked = isinstance(payload, dict) and payload.get("manage_stock") and payload.get("sku")
        if topic in ("product.created", "product.updated") and stocked:
            assert isinstance(payload, dict)
            offer = Offer(payload["sku"], int(payload.get("stock_quantity") or 0))
            return WebhookEvent(delivery, topic, offered=(offer,))
        return WebhookEvent(delivery, topic)
