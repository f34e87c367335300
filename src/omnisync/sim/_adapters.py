"""The ``sim`` and ``sim-inventory`` adapters: real HTTP adapters for the simulators.

They are written the way any adapter is, against the simulators' HTTP APIs. Without a
``base_url`` they talk to an in-process simulator (kept per channel for the life of the
process, and in ``state_file`` between runs if one is set); with one, to a simulator served
by ``omnisync simulate``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import Field, JsonValue, SecretStr

from omnisync.adapters import (
    Capability,
    HeaderAuth,
    HTTPAdapter,
    HTTPSettings,
    Limits,
    Offer,
    Page,
    RateLimit,
    WebhookEvent,
    map_records,
    resend_after_stale,
    secret,
)
from omnisync.errors import InvalidPayloadError, PermanentError
from omnisync.http import cursor_pages, json_loads
from omnisync.models import (
    Address,
    Customer,
    Discount,
    DocumentReceipt,
    FinancialStatus,
    Fulfilment,
    Listing,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    RefundStatus,
    Return,
    ReturnDisposition,
    ReturnLine,
    ReturnStatus,
    SalesDocument,
    Shipment,
    ShipmentLine,
    ShippingLine,
    StockLevel,
    StockPushResult,
    StockUpdate,
    TaxLine,
)
from omnisync.sim import _registry
from omnisync.sim._app import SimApp
from omnisync.sim._market import SimMarket
from omnisync.sim._warehouse import SimWarehouse
from omnisync.webhooks import verify_hmac_sha256_base64

__all__ = ["SimInventoryAdapter", "SimMarketAdapter"]

_IN_PROCESS = "http://sim.invalid"
_STATUS = {
    "pending": OrderStatus.PENDING,
    "open": OrderStatus.OPEN,
    "closed": OrderStatus.CLOSED,
    "cancelled": OrderStatus.CANCELLED,
}
_PAYMENT = {
    "pending": FinancialStatus.PENDING,
    "authorized": FinancialStatus.AUTHORIZED,
    "paid": FinancialStatus.PAID,
    "partially_refunded": FinancialStatus.PARTIALLY_REFUNDED,
    "refunded": FinancialStatus.REFUNDED,
    "voided": FinancialStatus.VOIDED,
}


def _obj(payload: JsonValue) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidPayloadError(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _key(payload: JsonValue) -> str:
    return str(payload.get("id", "unknown")) if isinstance(payload, dict) else "unknown"


class _SimSettings(HTTPSettings):
    token: SecretStr = secret(env="OMNISYNC_SIM_TOKEN", default="sim-token")
    page_size: int = Field(default=100, ge=1, le=250)
    state_file: str | None = None
    latency: float = Field(default=0.0, ge=0)


class _SimAdapter(HTTPAdapter):
    """What both simulator adapters share: bearer auth and the in-process simulator."""

    settings: _SimSettings
    default_base_url: ClassVar[str | None] = _IN_PROCESS

    def auth(self) -> httpx.Auth:
        return HeaderAuth("Authorization", self.settings.token, prefix="Bearer ")

    @property
    def simulator(self) -> SimApp | None:
        """The in-process simulator, when there is no ``base_url``."""
        if self.settings.base_url or self.context.transport is not None:
            return None
        return _registry.get(self.channel, self._new_simulator)

    def _new_simulator(self) -> SimApp:
        raise NotImplementedError

    def transport(self) -> httpx.AsyncBaseTransport | None:
        simulator = self.simulator
        return simulator.transport() if simulator is not None else self.context.transport

    def _state_file(self) -> Path | None:
        return self.context.path(self.settings.state_file) if self.settings.state_file else None

    async def aclose(self) -> None:
        simulator, path = self.simulator, self._state_file()
        if path is not None and isinstance(simulator, SimMarket | SimWarehouse):
            simulator.save(path)
        await super().aclose()


class SimMarketSettings(_SimSettings):
    """Settings of the ``sim`` adapter.

    For an in-process simulator: ``products`` (SKU → quantity shown) seeds a new one, and
    ``shoppers`` buy that many times each time a process first opens it (so a scheduled
    ``omnisync sync`` always has something new to import).
    """

    webhook_secret: SecretStr = secret(
        env="OMNISYNC_SIM_WEBHOOK_SECRET", default="sim-webhook-secret"
    )
    currency: str = "EUR"
    products: dict[str, int] = Field(default_factory=dict)
    shoppers: int = Field(default=0, ge=0)
    seed: int = 0


class SimMarketAdapter(_SimAdapter):
    """A simulated marketplace channel: orders in, stock out, fulfilments, returns, refunds."""

    name = "sim"
    description = "Simulated marketplace (built in): for the demo, tests and trying omnisync out"
    capabilities = frozenset(
        {
            Capability.PULL_ORDERS,
            Capability.PULL_LISTINGS,
            Capability.PUSH_STOCK,
            Capability.PUSH_FULFILMENTS,
            Capability.PULL_RETURNS,
            Capability.PUSH_REFUNDS,
            Capability.WEBHOOKS,
        }
    )
    limits = Limits(stock_batch_size=50, rate_limit=RateLimit(rate=20, burst=20))
    Settings = SimMarketSettings
    settings: SimMarketSettings

    def _new_simulator(self) -> SimApp:
        market = SimMarket(
            self.channel,
            token=self.settings.token.get_secret_value(),
            webhook_secret=self.settings.webhook_secret.get_secret_value(),
            currency=self.settings.currency,
            seed=self.settings.seed,
        )
        market.faults.latency = self.settings.latency
        path = self._state_file()
        if path is not None and path.exists():
            market.load(path)
            # Each run's shoppers choose anew, reproducibly from the saved state.
            market.rng.seed(self.settings.seed + market.next_number())
        else:
            for sku, quantity in self.settings.products.items():
                market.add_product(sku, quantity=quantity)
        market.shoppers(self.settings.shoppers)
        return market

    # Orders -----------------------------------------------------------------------------------

    async def pull_orders(self, since: datetime | None) -> AsyncIterator[Page[Order]]:
        params: dict[str, Any] = {"limit": self.settings.page_size}
        if since is not None:
            params["updated_since"] = since.isoformat()
        async for payloads in cursor_pages(self.http, "/orders", items="orders", params=params):
            orders, rejects = map_records(payloads, self.map_order, kind="order", key=_key)
            # Pages come in update order, so everything before the last one is delivered.
            checkpoint = max((o.updated_at for o in orders), default=None)
            yield Page(orders, rejects, checkpoint)

    def map_order(self, payload: JsonValue) -> Order:
        data = _obj(payload)
        currency = data["currency"]
        shipping = data.get("shipping")
        customer = data.get("customer")
        return Order(
            channel=self.channel,
            external_id=str(data["id"]),
            number=str(data.get("number") or ""),
            status=_STATUS[data["status"]],
            financial_status=_PAYMENT[data.get("payment_status") or "pending"],
            currency=currency,
            lines=tuple(self._line(line, currency) for line in data["lines"]),
            shipping_lines=(
                (
                    ShippingLine(
                        title=shipping.get("title", ""), price=Money.of(shipping["price"], currency)
                    ),
                )
                if shipping
                else ()
            ),
            customer=Customer(
                external_id=customer.get("id"),
                email=customer.get("email"),
                first_name=customer.get("first_name"),
                last_name=customer.get("last_name"),
            )
            if customer
            else None,
            shipping_address=self._address(data.get("shipping_address")),
            total=Money.of(data["total"], currency),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            cancelled_at=data.get("cancelled_at"),
            raw=data,
        )

    @staticmethod
    def _line(line: dict[str, Any], currency: str) -> OrderLine:
        discount = Money.of(line.get("discount") or 0, currency)
        tax = Money.of(line.get("tax") or 0, currency)
        return OrderLine(
            line_id=str(line["id"]),
            sku=line.get("sku"),
            title=line.get("title") or "",
            quantity=line["quantity"],
            unit_price=Money.of(line["price"], currency),
            discounts=(Discount(title="discount", amount=discount),) if discount else (),
            taxes=(TaxLine(title="VAT", amount=tax),) if tax else (),
            fulfilled_quantity=line.get("fulfilled", 0),
            cancelled_quantity=line.get("cancelled", 0),
        )

    @staticmethod
    def _address(data: dict[str, Any] | None) -> Address | None:
        if not data:
            return None
        return Address(
            name=data.get("name"),
            line1=data.get("line1"),
            city=data.get("city"),
            postal_code=data.get("postal_code"),
            country_code=data.get("country"),
        )

    # Stock ------------------------------------------------------------------------------------

    async def pull_listings(self) -> AsyncIterator[Page[Listing]]:
        body = await self.http.request_json("GET", "/listings")

        def listing(payload: JsonValue) -> Listing:
            data = _obj(payload)
            return Listing(
                channel=self.channel,
                sku=data["sku"],
                product_id=data.get("product_id"),
                variant_id=data.get("variant_id"),
            )

        found, rejects = map_records(
            _obj(body).get("listings", []),
            listing,
            kind="listing",
            key=lambda p: str(p.get("sku")) if isinstance(p, dict) else "unknown",
        )
        yield Page(found, rejects)

    async def push_stock(self, updates: Sequence[StockUpdate]) -> list[StockPushResult]:
        items = [
            {"sku": u.sku, "quantity": u.quantity}
            | ({"expected": u.previous} if u.previous is not None else {})
            for u in updates
        ]
        answers = await self._set_quantities(items)
        stale = {a["sku"]: a["current"] for a in answers if a.get("error") == "stale"}
        if stale:
            # The channel sold units since our last push: what shows no more than omnisync
            # wants stays as it is, the rest goes again against the channel's number.
            taken = {sku: {"sku": sku, "quantity": current} for sku, current in stale.items()}
            resend = [
                again
                for u in updates
                if u.sku in stale and (again := resend_after_stale(u, stale[u.sku])) is not None
            ]
            if resend:
                retry = [
                    {"sku": u.sku, "quantity": u.quantity, "expected": u.previous} for u in resend
                ]
                taken.update({a["sku"]: a for a in await self._set_quantities(retry)})
            answers = [taken.get(a["sku"], a) for a in answers]
        return [self._result(answer) for answer in answers]

    async def _set_quantities(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Setting absolute quantities is idempotent; a compare-and-set retried after a lost
        # answer comes back "stale" and is resolved like any other stale compare.
        body = await self.http.request_json(
            "POST", "/inventory/batch", json={"items": items}, idempotent=True
        )
        results = _obj(body).get("results")
        if not isinstance(results, list) or len(results) != len(items):
            raise InvalidPayloadError(
                "inventory batch answered without one result per item", channel=self.channel
            )
        return [_obj(result) for result in results]

    @staticmethod
    def _result(answer: dict[str, Any]) -> StockPushResult:
        error = answer.get("error")
        if error is None:
            return StockPushResult(sku=answer["sku"], ok=True, quantity=answer["quantity"])
        return StockPushResult(
            sku=answer["sku"], ok=False, error=str(error), retryable=error == "stale"
        )

    # After the sale ---------------------------------------------------------------------------

    async def push_fulfilment(self, fulfilment: Fulfilment) -> Fulfilment:
        body = {
            "lines": [
                {"line_id": line.line_id, "quantity": line.quantity} for line in fulfilment.lines
            ],
            "carrier": fulfilment.carrier,
            "tracking_number": fulfilment.tracking_number,
            "tracking_url": fulfilment.tracking_url,
            "notify": fulfilment.notify_customer,
        }
        created = await self.http.request_json(
            "POST",
            f"/orders/{fulfilment.order_id}/fulfilments",
            json=body,
            **self._once(fulfilment.idempotency_key),
        )
        return fulfilment.model_copy(update={"fulfilment_id": str(_obj(created)["id"])})

    async def push_refund(self, refund: Refund) -> Refund:
        body = {
            "amount": str(refund.amount.amount),
            "currency": refund.amount.currency,
            "reason": refund.reason,
            "lines": [
                {"line_id": line.line_id, "quantity": line.quantity} for line in refund.lines
            ],
        }
        created = _obj(
            await self.http.request_json(
                "POST",
                f"/orders/{refund.order_id}/refunds",
                json=body,
                **self._once(refund.idempotency_key),
            )
        )
        status = (
            RefundStatus.SUCCEEDED
            if created.get("status") == "succeeded"
            else (RefundStatus.PENDING)
        )
        return refund.model_copy(update={"refund_id": str(created["id"]), "status": status})

    @staticmethod
    def _once(key: str | None) -> dict[str, Any]:
        """Request options that make a POST safe to retry, when there is a key."""
        if key is None:
            return {"idempotent": False}
        return {"idempotent": True, "headers": {"Idempotency-Key": key}}

    async def pull_returns(self, since: datetime | None) -> AsyncIterator[Page[Return]]:
        params: dict[str, Any] = {"limit": self.settings.page_size}
        if since is not None:
            params["updated_since"] = since.isoformat()
        async for payloads in cursor_pages(self.http, "/returns", items="returns", params=params):
            found, rejects = map_records(payloads, self.map_return, kind="return", key=_key)
            yield Page(found, rejects, max((r.updated_at for r in found), default=None))

    def map_return(self, payload: JsonValue) -> Return:
        """Map one of the simulator's return payloads."""
        data = _obj(payload)
        return Return(
            channel=self.channel,
            order_id=str(data["order_id"]),
            return_id=str(data["id"]),
            status=ReturnStatus(data["status"]),
            reason=data.get("reason"),
            lines=tuple(
                ReturnLine(
                    line_id=str(line["line_id"]),
                    sku=line.get("sku"),
                    quantity=line["quantity"],
                    disposition=ReturnDisposition.RESTOCK
                    if line.get("restock", True)
                    else ReturnDisposition.DISCARD,
                )
                for line in data["lines"]
            ),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            raw=data,
        )

    # Webhooks ---------------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        verify_hmac_sha256_base64(
            self.settings.webhook_secret,
            body,
            headers.get("X-Sim-Hmac-Sha256"),
            channel=self.channel,
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        topic = headers.get("X-Sim-Topic", "")
        event_id = headers.get("X-Sim-Event-Id")
        if not event_id:
            raise InvalidPayloadError("webhook has no X-Sim-Event-Id", channel=self.channel)
        try:
            payload = json_loads(body)
        except ValueError:
            raise InvalidPayloadError("webhook body is not JSON", channel=self.channel) from None
        if topic.startswith("orders/") and topic != "orders/delete":
            orders, rejects = map_records([payload], self.map_order, kind="order", key=_key)
            return WebhookEvent(event_id, topic, orders=tuple(orders), rejects=tuple(rejects))
        if topic == "orders/delete":
            return WebhookEvent(event_id, topic, deleted_orders=(str(_obj(payload)["id"]),))
        if topic.startswith("returns/"):
            found, rejects = map_records([payload], self.map_return, kind="return", key=_key)
            return WebhookEvent(event_id, topic, returns=tuple(found), rejects=tuple(rejects))
        if topic == "inventory/update":
            data = _obj(payload)
            return WebhookEvent(event_id, topic, offered=(Offer(data["sku"], data["quantity"]),))
        return WebhookEvent(event_id, topic)


class SimInventorySettings(_SimSettings):
    """Settings of the ``sim-inventory`` adapter. ``stock`` (location → SKU → count) seeds a
    new in-process simulator."""

    stock: dict[str, dict[str, int]] = Field(default_factory=dict)


class SimInventoryAdapter(_SimAdapter):
    """A simulated ERP: counts stock per location and records orders as sales."""

    name = "sim-inventory"
    description = "Simulated ERP (built in): stock counts in, sales and customers out"
    capabilities = frozenset(
        {
            Capability.PULL_STOCK,
            Capability.PULL_SHIPMENTS,
            Capability.PUSH_DOCUMENTS,
            Capability.PUSH_CUSTOMERS,
        }
    )
    limits = Limits(rate_limit=RateLimit(rate=20, burst=20))
    Settings = SimInventorySettings
    settings: SimInventorySettings

    def _new_simulator(self) -> SimApp:
        warehouse = SimWarehouse(self.channel, token=self.settings.token.get_secret_value())
        warehouse.faults.latency = self.settings.latency
        path = self._state_file()
        if path is not None and path.exists():
            warehouse.load(path)
        else:
            for location, counts in self.settings.stock.items():
                for sku, quantity in counts.items():
                    warehouse.set(sku, quantity, location)
        return warehouse

    async def pull_stock(self, since: datetime | None) -> AsyncIterator[Page[StockLevel]]:
        params: dict[str, Any] = {"limit": self.settings.page_size}
        if since is not None:
            params["updated_since"] = since.isoformat()
        async for payloads in cursor_pages(self.http, "/stock", items="levels", params=params):
            levels, rejects = map_records(
                payloads,
                self.map_level,
                kind="stock_level",
                key=lambda p: (
                    f"{p.get('sku')}@{p.get('location')}" if isinstance(p, dict) else "unknown"
                ),
            )
            yield Page(levels, rejects, max((lv.as_of for lv in levels if lv.as_of), default=None))

    @staticmethod
    def map_level(payload: JsonValue) -> StockLevel:
        """Map one of the simulator's stock rows."""
        data = _obj(payload)
        return StockLevel(
            sku=data["sku"],
            location=data["location"],
            on_hand=data["on_hand"],
            as_of=data["updated_at"],
        )

    async def pull_shipments(self, since: datetime | None) -> AsyncIterator[Page[Shipment]]:
        params: dict[str, Any] = {"limit": self.settings.page_size}
        if since is not None:
            params["updated_since"] = since.isoformat()
        pages = cursor_pages(self.http, "/shipments", items="shipments", params=params)
        async for payloads in pages:
            found, rejects = map_records(payloads, self.map_shipment, kind="shipment", key=_key)
            newest = max((s.shipped_at for s in found if s.shipped_at), default=None)
            yield Page(found, rejects, newest)

    @staticmethod
    def map_shipment(payload: JsonValue) -> Shipment:
        """Map one of the simulator's shipments."""
        data = _obj(payload)
        return Shipment(
            source_id=data["id"],
            reference=data["reference"],
            location=data.get("location"),
            lines=tuple(
                ShipmentLine(sku=line["sku"], quantity=line["quantity"]) for line in data["lines"]
            ),
            carrier=data.get("carrier"),
            tracking_number=data.get("tracking_number"),
            shipped_at=data["updated_at"],
        )

    async def push_document(self, document: SalesDocument) -> DocumentReceipt:
        order = document.order
        state = "cancelled" if order.is_cancelled else "confirmed"
        body = {
            "reference": document.reference,
            "kind": document.kind.value,
            "state": state,
            "currency": order.currency,
            "total": str(order.total.amount),
            "customer": order.customer.email if order.customer else None,
            "lines": [
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": str(line.unit_price.amount),
                }
                for line in order.lines
            ],
        }
        existing = await self._find_sale(document.reference)
        if existing is None:
            try:
                created = await self.http.request_json("POST", "/sales", json=body)
            except PermanentError as exc:
                # 409: an earlier attempt created it but its answer was lost. Update that one.
                if exc.status_code != 409:
                    raise
            else:
                return DocumentReceipt(
                    reference=document.reference, external_id=str(_obj(created)["id"]), created=True
                )
            existing = await self._find_sale(document.reference)
            if existing is None:
                raise InvalidPayloadError(
                    f"sale {document.reference} exists but cannot be found", channel=self.channel
                )
        await self.http.request("PUT", f"/sales/{existing['id']}", json=body)
        return DocumentReceipt(
            reference=document.reference, external_id=str(existing["id"]), created=False
        )

    async def _find_sale(self, reference: str) -> dict[str, Any] | None:
        body = await self.http.request_json("GET", "/sales", params={"reference": reference})
        sales = _obj(body).get("sales") or []
        return _obj(sales[0]) if sales else None

    async def push_customer(self, customer: Customer) -> str:
        if customer.email:
            body = await self.http.request_json(
                "GET", "/customers", params={"email": customer.email}
            )
            found = _obj(body).get("customers") or []
            if found:
                return str(_obj(found[0])["id"])
        created = await self.http.request_json(
            "POST", "/customers", json=customer.model_dump(mode="json", exclude_none=True)
        )
        return str(_obj(created)["id"])
