"""Shopify orders to the omnisync model: GraphQL nodes (pulls) and REST JSON (webhooks).

Both describe the same order; both map through the same rules. Money is the shop currency's
money bag (``shopMoney`` / ``shop_money``); what the buyer saw in another currency becomes
``presentment_total``. Ids become the numeric ids Shopify's REST API and webhooks use, so an
order pulled over GraphQL and the same order from a webhook share one key.

Line quantities (Shopify Admin GraphQL, LineItem): ``quantity`` counts every unit ordered,
``currentQuantity`` leaves out those removed or refunded, ``unfulfilledQuantity`` those still
to ship. Units shipped come from the order's fulfilments when they are known (a unit shipped
and later returned stays shipped: its return is a return, not a cancellation); the rest of
the removed units were cancelled before shipping.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from pydantic import JsonValue

from omnisync.errors import InvalidPayloadError
from omnisync.models import (
    Address,
    Customer,
    Discount,
    FinancialStatus,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Return,
    ReturnDisposition,
    ReturnLine,
    ReturnStatus,
    RiskLevel,
    ShippingLine,
    TaxLine,
)

__all__ = ["map_graphql_order", "map_refund", "map_rest_order", "numeric_id"]

_FINANCIAL = {
    "pending": FinancialStatus.PENDING,
    "authorized": FinancialStatus.AUTHORIZED,
    "partially_paid": FinancialStatus.PARTIALLY_PAID,
    "paid": FinancialStatus.PAID,
    "partially_refunded": FinancialStatus.PARTIALLY_REFUNDED,
    "refunded": FinancialStatus.REFUNDED,
    "voided": FinancialStatus.VOIDED,
    "expired": FinancialStatus.VOIDED,  # the authorisation lapsed: no money moved
}
_RISK = {"low": RiskLevel.LOW, "medium": RiskLevel.MEDIUM, "high": RiskLevel.HIGH}


def numeric_id(value: Any) -> str:
    """``gid://shopify/Order/450789469`` (or ``450789469``) as ``"450789469"``."""
    text = str(value)
    return text.rsplit("/", 1)[-1].split("?", 1)[0] if text.startswith("gid://") else text


def _obj(payload: JsonValue) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidPayloadError(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _amount(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise InvalidPayloadError(f"{value!r} is not an amount of money") from None


def _shop_money(bag: Any, currency: str) -> Money | None:
    """The shop-currency side of a MoneyBag (GraphQL ``shopMoney``, REST ``shop_money``)."""
    if not isinstance(bag, dict):
        return None
    side = bag.get("shopMoney") or bag.get("shop_money")
    if not isinstance(side, dict):
        return None
    code = side.get("currencyCode") or side.get("currency_code") or currency
    return Money.of(_amount(side["amount"]), code)


def _presentment(bag: Any) -> Money | None:
    side = bag.get("presentmentMoney") or bag.get("presentment_money") if bag else None
    if not isinstance(side, dict):
        return None
    return Money.of(_amount(side["amount"]), side.get("currencyCode") or side["currency_code"])


def _nodes(connection: Any) -> list[dict[str, Any]]:
    """The items of a GraphQL connection (``nodes`` or ``edges``), or of a plain list."""
    if isinstance(connection, list):
        return connection
    if not isinstance(connection, dict):
        return []
    if "nodes" in connection:
        return list(connection["nodes"])
    return [edge["node"] for edge in connection.get("edges", [])]


def _quantities(
    quantity: int, current: int, unfulfilled: int, shipped: int | None
) -> tuple[int, int]:
    """(fulfilled, cancelled) units of a line; see the module docstring."""
    open_units = max(0, min(unfulfilled, current))
    if shipped is None:  # no fulfilment records (a bulk export): units kept and not open
        shipped = current - open_units
    fulfilled = min(max(shipped, 0), quantity - open_units)
    return fulfilled, quantity - fulfilled - open_units


def _status(cancelled: Any, closed: bool, financial: FinancialStatus) -> OrderStatus:
    if cancelled:
        return OrderStatus.CANCELLED
    if closed:
        return OrderStatus.CLOSED
    return OrderStatus.PENDING if financial is FinancialStatus.PENDING else OrderStatus.OPEN


def _address(data: Any) -> Address | None:
    if not isinstance(data, dict):
        return None
    name = data.get("name") or " ".join(
        p
        for p in (
            data.get("firstName") or data.get("first_name"),
            data.get("lastName") or data.get("last_name"),
        )
        if p
    )
    return Address(
        name=name or None,
        company=data.get("company") or None,
        line1=data.get("address1") or None,
        line2=data.get("address2") or None,
        city=data.get("city") or None,
        region=data.get("province") or None,
        region_code=data.get("provinceCode") or data.get("province_code") or None,
        postal_code=data.get("zip") or None,
        country_code=data.get("countryCodeV2") or data.get("country_code") or None,
        phone=data.get("phone") or None,
    )


def _taxes(lines: Iterable[dict[str, Any]], currency: str) -> tuple[TaxLine, ...]:
    taxes = []
    for tax in lines:
        amount = _shop_money(tax.get("priceSet") or tax.get("price_set"), currency)
        if amount is None:
            amount = Money.of(_amount(tax.get("price", "0")), currency)
        rate = tax.get("rate")
        taxes.append(
            TaxLine(
                title=tax.get("title") or "tax",
                amount=amount,
                rate=float(rate) if rate is not None else None,
            )
        )
    return tuple(taxes)


def _shipping(line: dict[str, Any], currency: str) -> ShippingLine:
    price = _shop_money(line.get("originalPriceSet") or line.get("price_set"), currency)
    if price is None:
        price = Money.of(_amount(line.get("price", "0")), currency)
    return ShippingLine(
        title=line.get("title") or "",
        code=line.get("code"),
        price=price,
        taxes=_taxes(line.get("taxLines") or line.get("tax_lines") or [], currency),
    )


def _customer(data: dict[str, Any], buyer: Any) -> Customer | None:
    email = data.get("email") or None
    if isinstance(buyer, dict):
        default = buyer.get("defaultEmailAddress") or {}
        return Customer(
            external_id=numeric_id(buyer["id"]) if buyer.get("id") else None,
            email=email or default.get("emailAddress") or buyer.get("email") or None,
            first_name=buyer.get("firstName") or buyer.get("first_name") or None,
            last_name=buyer.get("lastName") or buyer.get("last_name") or None,
            phone=data.get("phone") or None,
        )
    return Customer(email=email, phone=data.get("phone") or None) if email else None


def _order(
    data: dict[str, Any],
    channel: str,
    *,
    currency: str,
    lines: list[OrderLine],
    shipping: list[ShippingLine],
    financial: FinancialStatus,
    closed: bool,
    totals: dict[str, Any],
    presentment: Money | None,
    risk: RiskLevel | None,
    tags: tuple[str, ...],
    customer: Customer | None,
) -> Order:
    cancelled = data.get("cancelledAt") or data.get("cancelled_at")
    reason = data.get("cancelReason") or data.get("cancel_reason")
    amounts = {name: value for name, value in totals.items() if value is not None}
    return Order(
        channel=channel,
        external_id=numeric_id(data.get("legacyResourceId") or data["id"]),
        number=str(data.get("name") or ""),
        status=_status(cancelled, closed, financial),
        financial_status=financial,
        currency=currency,
        lines=tuple(lines),
        shipping_lines=tuple(shipping),
        customer=customer,
        billing_address=_address(data.get("billingAddress") or data.get("billing_address")),
        shipping_address=_address(data.get("shippingAddress") or data.get("shipping_address")),
        taxes_included=bool(data.get("taxesIncluded") or data.get("taxes_included")),
        presentment_total=presentment if presentment and presentment.currency != currency else None,
        created_at=data.get("createdAt") or data["created_at"],
        updated_at=data.get("updatedAt") or data["updated_at"],
        cancelled_at=cancelled,
        cancel_reason=str(reason).lower() if reason else None,
        risk=risk,
        note=data.get("note") or None,
        tags=tags,
        raw=data,
        **amounts,
    )


# GraphQL ---------------------------------------------------------------------------------------


def _shipped_by_line(fulfillments: Any) -> dict[str, int] | None:
    if fulfillments is None:
        return None
    shipped: dict[str, int] = {}
    for fulfillment in fulfillments:
        if str(fulfillment.get("status", "")).upper() != "SUCCESS":
            continue
        for item in _nodes(fulfillment.get("fulfillmentLineItems")):
            key = numeric_id(item["lineItem"]["id"])
            shipped[key] = shipped.get(key, 0) + int(item["quantity"])
    return shipped


def _graphql_line(line: dict[str, Any], currency: str, shipped: dict[str, int] | None) -> OrderLine:
    line_id = numeric_id(line["id"])
    quantity = int(line["quantity"])
    current = int(line.get("currentQuantity", quantity))
    unfulfilled = int(line.get("unfulfilledQuantity", current))
    fulfilled, cancelled = _quantities(
        quantity, current, unfulfilled, None if shipped is None else shipped.get(line_id, 0)
    )
    price = _shop_money(line["originalUnitPriceSet"], currency)
    assert price is not None
    discounts = []
    for allocation in line.get("discountAllocations") or []:
        amount = _shop_money(allocation["allocatedAmountSet"], currency)
        application = allocation.get("discountApplication") or {}
        title = application.get("code") or application.get("title") or "discount"
        if amount:
            discounts.append(Discount(title=title, amount=amount))
    return OrderLine(
        line_id=line_id,
        sku=line.get("sku"),
        title=line.get("name") or line.get("title") or "",
        quantity=quantity,
        unit_price=price,
        discounts=tuple(discounts),
        taxes=_taxes(line.get("taxLines") or [], currency),
        fulfilled_quantity=fulfilled,
        cancelled_quantity=cancelled,
    )


def map_graphql_order(payload: JsonValue, channel: str) -> Order:
    """Map an ``Order`` node of the Admin GraphQL API (a page's or a bulk export's)."""
    data = _obj(payload)
    currency = data["currencyCode"]
    shipped = _shipped_by_line(data.get("fulfillments"))
    financial_name = str(data.get("displayFinancialStatus") or "pending").lower()
    risks = [
        _RISK.get(str(a.get("riskLevel", "")).lower())
        for a in (data.get("risk") or {}).get("assessments") or []
    ]
    known = [r for r in risks if r is not None]
    return _order(
        data,
        channel,
        currency=currency,
        lines=[_graphql_line(line, currency, shipped) for line in _nodes(data["lineItems"])],
        shipping=[_shipping(s, currency) for s in _nodes(data.get("shippingLines"))],
        financial=_financial(financial_name),
        closed=bool(data.get("closed")),
        totals={
            "discount_total": _shop_money(data.get("totalDiscountsSet"), currency),
            "shipping_total": _shop_money(data.get("totalShippingPriceSet"), currency),
            "tax_total": _shop_money(data.get("totalTaxSet"), currency),
            "total": _shop_money(data.get("totalPriceSet"), currency),
        },
        presentment=_presentment(data.get("totalPriceSet")),
        risk=max(known, key=lambda r: r.rank) if known else None,
        tags=tuple(data.get("tags") or ()),
        customer=_customer(data, data.get("customer")),
    )


def _financial(name: str) -> FinancialStatus:
    if name not in _FINANCIAL:
        raise InvalidPayloadError(f"unknown financial status {name!r}")
    return _FINANCIAL[name]


# REST (webhooks) -----------------------------------------------------------------------------


def _rest_line(
    line: dict[str, Any],
    currency: str,
    shipped: dict[str, int],
    applications: list[dict[str, Any]],
) -> OrderLine:
    line_id = numeric_id(line["id"])
    quantity = int(line["quantity"])
    current = int(line.get("current_quantity", quantity))
    unfulfilled = int(line.get("fulfillable_quantity", current))
    fulfilled, cancelled = _quantities(quantity, current, unfulfilled, shipped.get(line_id, 0))
    price = _shop_money(line.get("price_set"), currency) or Money.of(
        _amount(line["price"]), currency
    )
    discounts = []
    for allocation in line.get("discount_allocations") or []:
        amount = _shop_money(allocation.get("amount_set"), currency) or Money.of(
            _amount(allocation.get("amount", "0")), currency
        )
        index = allocation.get("discount_application_index")
        application = (
            applications[index] if isinstance(index, int) and index < len(applications) else {}
        )
        title = application.get("code") or application.get("title") or "discount"
        if amount:
            discounts.append(Discount(title=title, amount=amount))
    return OrderLine(
        line_id=line_id,
        sku=line.get("sku"),
        title=line.get("name") or line.get("title") or "",
        quantity=quantity,
        unit_price=price,
        discounts=tuple(discounts),
        taxes=_taxes(line.get("tax_lines") or [], currency),
        fulfilled_quantity=fulfilled,
        cancelled_quantity=cancelled,
    )


def map_rest_order(payload: JsonValue, channel: str) -> Order:
    """Map an order as Shopify's REST API and order webhooks send it."""
    data = _obj(payload)
    currency = data["currency"]
    shipped: dict[str, int] = {}
    for fulfillment in data.get("fulfillments") or []:
        if fulfillment.get("status") not in ("success", None):
            continue
        for item in fulfillment.get("line_items") or []:
            key = numeric_id(item["id"])
            shipped[key] = shipped.get(key, 0) + int(item["quantity"])
    applications = list(data.get("discount_applications") or [])
    tags = tuple(t.strip() for t in str(data.get("tags") or "").split(",") if t.strip())
    return _order(
        data,
        channel,
        currency=currency,
        lines=[_rest_line(line, currency, shipped, applications) for line in data["line_items"]],
        shipping=[_shipping(s, currency) for s in data.get("shipping_lines") or []],
        financial=_financial(str(data.get("financial_status") or "pending")),
        closed=bool(data.get("closed_at")),
        totals={
            "discount_total": _shop_money(data.get("total_discounts_set"), currency),
            "shipping_total": _shop_money(data.get("total_shipping_price_set"), currency),
            "tax_total": _shop_money(data.get("total_tax_set"), currency),
            "total": _shop_money(data.get("total_price_set"), currency),
        },
        presentment=_presentment(data.get("total_price_set")),
        risk=None,
        tags=tags,
        customer=_customer(data, data.get("customer")),
    )


def map_refund(payload: JsonValue, channel: str) -> Return | None:
    """A ``refunds/create`` delivery as a received return, if goods came back with it.

    Units refunded with restock type ``return`` (or the legacy ``legacy_restock``) are back
    on the shelf; ``no_restock`` ones are written off; ``cancel`` ones never shipped, and
    the order's own update releases them.
    """
    data = _obj(payload)
    lines = []
    for item in data.get("refund_line_items") or []:
        restock = item.get("restock_type")
        if restock not in ("return", "legacy_restock", "no_restock"):
            continue
        line = item.get("line_item") or {}
        disposition = (
            ReturnDisposition.DISCARD if restock == "no_restock" else ReturnDisposition.RESTOCK
        )
        lines.append(
            ReturnLine(
                line_id=numeric_id(item["line_item_id"]),
                sku=line.get("sku"),
                quantity=int(item["quantity"]),
                disposition=disposition,
            )
        )
    if not lines:
        return None
    created = data["created_at"]
    return Return(
        channel=channel,
        order_id=numeric_id(data["order_id"]),
        return_id=f"refund-{numeric_id(data['id'])}",
        status=ReturnStatus.RECEIVED,
        lines=tuple(lines),
        reason=data.get("note") or None,
        created_at=created,
        updated_at=data.get("processed_at") or created,
        raw=data,
    )
