"""WooCommerce REST v3 payloads to the omnisync model.

Field meanings follow the WooCommerce REST API docs (wp-api-v3, orders): line ``subtotal`` is
the line before discounts and ``total`` after, both without tax; ``total_tax`` is the line's
tax; order dates are site-local with ``*_gmt`` twins, and only the GMT ones are used.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
    ShippingLine,
    TaxLine,
)

__all__ = ["map_order", "woo_time"]

# WooCommerce order statuses (wp-api-v3 orders: status): what each means for stock.
_STATUS = {
    "pending": OrderStatus.PENDING,  # awaiting payment
    "on-hold": OrderStatus.PENDING,  # awaiting payment confirmation (bank transfer, say)
    "processing": OrderStatus.OPEN,  # paid, to be shipped
    "completed": OrderStatus.CLOSED,  # shipped
    "cancelled": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,  # payment failed; WooCommerce restores the stock
    "trash": OrderStatus.CANCELLED,
    "checkout-draft": OrderStatus.PENDING,
}


def woo_time(value: Any) -> datetime | None:
    """A ``*_gmt`` date (ISO 8601 without offset, in UTC) as an aware datetime."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidPayloadError(f"{value!r} is not a date")
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _obj(payload: JsonValue) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidPayloadError(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value or "0"))
    except ArithmeticError:
        raise InvalidPayloadError(f"{value!r} is not an amount of money") from None


def _money(value: Any, currency: str) -> Money:
    return Money.of(_decimal(value), currency)


def _unit_price(subtotal: Decimal, quantity: int) -> Decimal:
    # The REST API gives line totals; a unit price is exact to 6 places at worst (10 / 3).
    if quantity <= 0:
        return subtotal
    unit = subtotal / quantity
    return unit if unit * quantity == subtotal else unit.quantize(Decimal("0.000001"))


def _line(line: dict[str, Any], currency: str, shipped: bool) -> OrderLine:
    quantity = int(line["quantity"])
    subtotal = _decimal(line.get("subtotal"))
    total = _decimal(line.get("total"))
    tax = _money(line.get("total_tax"), currency)
    discount = subtotal - total
    return OrderLine(
        line_id=str(line["id"]),
        sku=line.get("sku"),
        title=line.get("name") or "",
        quantity=quantity,
        unit_price=Money.of(_unit_price(subtotal, quantity), currency),
        discounts=(Discount(title="coupons", amount=Money.of(discount, currency)),)
        if discount
        else (),
        taxes=(TaxLine(title="tax", amount=tax),) if tax else (),
        fulfilled_quantity=quantity if shipped else 0,
    )


def _fee(fee: dict[str, Any], currency: str) -> OrderLine:
    tax = _money(fee.get("total_tax"), currency)
    return OrderLine(
        line_id=f"fee-{fee['id']}",
        sku=None,
        title=fee.get("name") or "fee",
        quantity=1,
        unit_price=_money(fee.get("total"), currency),
        taxes=(TaxLine(title="tax", amount=tax),) if tax else (),
    )


def _shipping(line: dict[str, Any], currency: str) -> ShippingLine:
    tax = _money(line.get("total_tax"), currency)
    return ShippingLine(
        title=line.get("method_title") or "",
        code=line.get("method_id"),
        price=_money(line.get("total"), currency),
        taxes=(TaxLine(title="tax", amount=tax),) if tax else (),
    )


def _address(data: Any) -> Address | None:
    if not isinstance(data, dict) or not any(data.values()):
        return None
    name = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p)
    return Address(
        name=name or None,
        company=data.get("company") or None,
        line1=data.get("address_1") or None,
        line2=data.get("address_2") or None,
        city=data.get("city") or None,
        region_code=data.get("state") or None,
        postal_code=data.get("postcode") or None,
        country_code=data.get("country") or None,
        phone=data.get("phone") or None,
    )


def _customer(data: dict[str, Any]) -> Customer | None:
    billing = data.get("billing") or {}
    customer_id = data.get("customer_id") or 0
    if not billing.get("email") and not customer_id:
        return None
    return Customer(
        external_id=str(customer_id) if customer_id else None,
        email=billing.get("email") or None,
        first_name=billing.get("first_name") or None,
        last_name=billing.get("last_name") or None,
        company=billing.get("company") or None,
        phone=billing.get("phone") or None,
        address=_address(billing),
    )


def _financial(data: dict[str, Any], total: Money) -> FinancialStatus:
    refunded = sum(-_decimal(r.get("total")) for r in data.get("refunds") or [])
    if refunded and refunded >= total.amount:
        return FinancialStatus.REFUNDED
    if refunded:
        return FinancialStatus.PARTIALLY_REFUNDED
    if data.get("status") == "refunded":
        return FinancialStatus.REFUNDED
    return FinancialStatus.PAID if data.get("date_paid_gmt") else FinancialStatus.PENDING


def _status(data: dict[str, Any]) -> OrderStatus:
    status = data["status"]
    if status == "refunded":
        # Refunded after shipping: closed, its goods gone. Before shipping: as cancelled.
        return OrderStatus.CLOSED if data.get("date_completed_gmt") else OrderStatus.CANCELLED
    if status not in _STATUS:
        raise InvalidPayloadError(f"unknown order status {status!r}")
    return _STATUS[status]


def map_order(payload: JsonValue, channel: str) -> Order:
    """Map one WooCommerce order (as ``GET /orders`` or an order webhook sends it)."""
    data = _obj(payload)
    currency = data["currency"]
    status = _status(data)
    shipped = status is OrderStatus.CLOSED
    lines = [_line(line, currency, shipped) for line in data["line_items"]]
    lines += [_fee(fee, currency) for fee in data.get("fee_lines") or []]
    total = _money(data["total"], currency)
    subtotal = sum(
        (_decimal(line.get("subtotal")) for line in data["line_items"]), Decimal(0)
    ) + sum((_decimal(fee.get("total")) for fee in data.get("fee_lines") or []), Decimal(0))
    modified = woo_time(data.get("date_modified_gmt")) or woo_time(data["date_created_gmt"])
    codes = [c.get("code") for c in data.get("coupon_lines") or [] if c.get("code")]
    return Order(
        channel=channel,
        external_id=str(data["id"]),
        number=str(data.get("number") or data["id"]),
        status=status,
        financial_status=_financial(data, total),
        currency=currency,
        lines=tuple(lines),
        shipping_lines=tuple(_shipping(s, currency) for s in data.get("shipping_lines") or []),
        customer=_customer(data),
        billing_address=_address(data.get("billing")),
        shipping_address=_address(data.get("shipping")),
        taxes_included=False,
        subtotal=Money.of(subtotal, currency),
        discount_total=_money(data.get("discount_total"), currency),
        shipping_total=_money(data.get("shipping_total"), currency),
        tax_total=_money(data.get("total_tax"), currency),
        total=total,
        created_at=woo_time(data["date_created_gmt"]),
        updated_at=modified,
        cancelled_at=modified if status is OrderStatus.CANCELLED else None,
        note=data.get("customer_note") or None,
        tags=tuple(f"coupon:{code}" for code in codes),
        raw=data,
    )
