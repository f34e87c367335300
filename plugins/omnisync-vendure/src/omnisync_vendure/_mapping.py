"""Vendure orders (Admin API ``Order`` objects, as `_queries.ORDER_FIELDS` asks for them) in
omnisync's model.

Money. Vendure keeps every amount as an integer, and its MoneyStrategy's ``precision`` (one
number for the whole server, 2 unless the shop changed it) says how many of its digits are
decimals, whatever the currency (docs.vendure.io, "MoneyStrategy"; its dashboard's currency
pipe and input and its MCP SDK's ``toDecimalString`` all scale by 10^precision). So an
amount is the integer scaled by the precision, in the order's ``currencyCode``: 1999 is
19.99 USD, and with the default precision 150000 is the ¥1500.00 a merchant entered (with
precision 0, 1500 is ¥1500). That is the currency's ISO minor unit only where the two
agree. A non-integer is a malformed payload, never rounded.

Tax. Every price comes in two forms, without tax and with it (``linePrice`` /
``linePriceWithTax``). One of the two is what the merchant entered and is exact; the other is
derived per line and rounded, so unit price × quantity need not equal the line price on that
side (OrderLine.linePrice in @vendure/core 3.7 rounds the unrounded unit price × quantity).
The order is mapped on the exact side: with tax (``taxes_included``) when its channel's
prices include tax, without otherwise, falling back to the other side when a line is not
exact on the preferred one.

Totals are Vendure's own: ``total`` is ``totalWithTax`` and ``tax_total`` is
``totalWithTax - total``, so the lines' discounts, taxes and the shipping add up to what the
buyer paid. Shipping discounts are taken off the shipping price (``discountedPrice``), and
surcharges become lines without a SKU.

Quantities. ``orderPlacedQuantity`` is what was ordered (a line added by a modification
keeps 0 there, so the larger of it and ``quantity`` counts), ``quantity`` what is left after
cancellations, and the order's fulfillments (all but cancelled ones: Vendure moves the stock
out when a fulfillment is created) say what shipped.

Times. Vendure does not move ``Order.updatedAt`` for most changes (placing, settling,
fulfilling; see the README), so ``updated_at`` is the latest of ``updatedAt``,
``orderPlacedAt`` and the order's newest history entry, which every change writes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import JsonValue

from omnisync.errors import InvalidPayloadError
from omnisync.models import (
    Address,
    Customer,
    Discount,
    FinancialStatus,
    Listing,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    ShippingLine,
    TaxLine,
)

__all__ = ["map_listing", "map_order", "order_key"]

# Order states of Vendure's default order process (OrderState in @vendure/core 3.7).
_CANCELLED = "Cancelled"
_CLOSED = frozenset({"Delivered"})
# Payment and refund states (PaymentState, RefundState in @vendure/core 3.7).
_SETTLED, _AUTHORIZED = "Settled", "Authorized"


def order_key(payload: JsonValue) -> str:
    """The Vendure id of an order payload, even a malformed one, for quarantining it."""
    if isinstance(payload, dict) and payload.get("id") is not None:
        return str(payload["id"])
    return "unknown"


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayloadError(f"{what} is not an object")
    return value


def _integer(value: Any, what: str) -> int:
    """A money amount as Vendure sends it: an integer, nothing else."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPayloadError(f"{what} is {value!r}, not an integer amount of money")
    return value


class _Prices:
    """Reads an order's amounts on one side: with tax (``gross``) or without."""

    def __init__(self, currency: str, gross: bool, precision: int) -> None:
        self.currency = currency
        self.gross = gross
        self.precision = precision

    def money(self, amount: int) -> Money:
        return Money.of(Decimal(amount).scaleb(-self.precision), self.currency)

    def pick(self, data: dict[str, Any], field: str) -> int:
        """``field`` on this side: ``fieldWithTax`` when gross."""
        name = f"{field}WithTax" if self.gross else field
        return _integer(data[name], name)

    def tax(self, data: dict[str, Any], field: str) -> int:
        """The tax in ``field``: its amount with tax less its amount without."""
        return _integer(data[f"{field}WithTax"], f"{field}WithTax") - _integer(data[field], field)


def _exact_side(data: dict[str, Any], gross: bool) -> bool:
    """Whether unit price × quantity is the line price on the side ``gross`` names."""
    suffix = "WithTax" if gross else ""
    return all(
        _integer(line[f"unitPrice{suffix}"], "unitPrice") * int(line["quantity"])
        == _integer(line[f"linePrice{suffix}"], "linePrice")
        for line in data["lines"]
    )


def _prices_include_tax(data: dict[str, Any]) -> bool:
    channels = data.get("channels") or []
    preferred = any(bool(c.get("pricesIncludeTax")) for c in channels if isinstance(c, dict))
    if _exact_side(data, preferred) or not _exact_side(data, not preferred):
        return preferred
    return not preferred


def _tax_rate(value: Any) -> float | None:
    """Vendure's percentage (``20``) as the model's fraction (``0.2``)."""
    if value is None:
        return None
    return float(Decimal(str(value)) / 100)


def _discounts(line: dict[str, Any], prices: _Prices, total: int) -> tuple[Discount, ...]:
    """The line's discounts on the order's side, adding up to ``total`` exactly.

    Vendure rounds each promotion's share of a line on its own, while the line's discounted
    price is rounded once; a cent that rounding leaves between the two goes on the largest
    discount, so the line still adds up.
    """
    amounts: list[tuple[str, int]] = []
    for entry in line.get("discounts") or []:
        signed = _integer(entry["amountWithTax" if prices.gross else "amount"], "discount amount")
        title = str(entry.get("description") or entry.get("adjustmentSource") or "discount")
        amounts.append((title, -signed))
    remainder = total - sum(amount for _, amount in amounts)
    if remainder:
        if amounts:
            largest = max(range(len(amounts)), key=lambda i: amounts[i][1])
            title, amount = amounts[largest]
            amounts[largest] = (title, amount + remainder)
        else:
            amounts.append(("discount", remainder))
    return tuple(
        Discount(title=title, amount=prices.money(amount)) for title, amount in amounts if amount
    )


def _line_taxes(line: dict[str, Any], prices: _Prices) -> tuple[TaxLine, ...]:
    amount = prices.tax(line, "proratedLinePrice")
    rate = _tax_rate(line.get("taxRate"))
    if not amount and not rate:
        return ()
    # Vendure gives a line's tax as one amount; with several tax lines they share it.
    titles = [str(t.get("description")) for t in line.get("taxLines") or [] if t.get("description")]
    return (TaxLine(title=" + ".join(titles) or "tax", amount=prices.money(amount), rate=rate),)


def _fulfilled_by_line(data: dict[str, Any]) -> dict[str, int]:
    live = {str(f["id"]) for f in data.get("fulfillments") or [] if f.get("state") != _CANCELLED}
    shipped: dict[str, int] = {}
    for line in data["lines"]:
        for part in line.get("fulfillmentLines") or []:
            if str(part["fulfillmentId"]) in live:
                shipped[str(line["id"])] = shipped.get(str(line["id"]), 0) + int(part["quantity"])
    return shipped


def _line(line: dict[str, Any], prices: _Prices, shipped: dict[str, int]) -> OrderLine:
    current = int(line["quantity"])
    ordered = max(int(line.get("orderPlacedQuantity") or 0), current)
    line_price = prices.pick(line, "linePrice")
    variant = _obj(line["productVariant"], "productVariant")
    return OrderLine(
        line_id=str(line["id"]),
        sku=variant.get("sku"),
        title=str(variant.get("name") or ""),
        quantity=ordered,
        unit_price=prices.money(prices.pick(line, "unitPrice")),
        discounts=_discounts(line, prices, line_price - prices.pick(line, "proratedLinePrice")),
        taxes=_line_taxes(line, prices),
        fulfilled_quantity=shipped.get(str(line["id"]), 0),
        cancelled_quantity=ordered - current,
    )


def _surcharge(surcharge: dict[str, Any], prices: _Prices) -> OrderLine:
    # A surcharge is money, not goods: no SKU, so it never reserves stock.
    tax = prices.tax(surcharge, "price")
    taxes = (
        (TaxLine(title="tax", amount=prices.money(tax), rate=_tax_rate(surcharge.get("taxRate"))),)
        if tax
        else ()
    )
    return OrderLine(
        line_id=f"surcharge-{surcharge['id']}",
        title=str(surcharge.get("description") or "surcharge"),
        quantity=1,
        unit_price=prices.money(prices.pick(surcharge, "price")),
        taxes=taxes,
    )


def _shipping(line: dict[str, Any], prices: _Prices) -> ShippingLine:
    method = line.get("shippingMethod") or {}
    tax = prices.tax(line, "discountedPrice")
    return ShippingLine(
        title=str(method.get("name") or ""),
        code=method.get("code"),
        price=prices.money(prices.pick(line, "discountedPrice")),
        taxes=(TaxLine(title="shipping tax", amount=prices.money(tax)),) if tax else (),
    )


def _address(data: Any) -> Address | None:
    if not isinstance(data, dict):
        return None
    fields = {
        "name": data.get("fullName"),
        "company": data.get("company"),
        "line1": data.get("streetLine1"),
        "line2": data.get("streetLine2"),
        "city": data.get("city"),
        "region": data.get("province"),
        "postal_code": data.get("postalCode"),
        "country_code": data.get("countryCode"),
        "phone": data.get("phoneNumber"),
    }
    present = {name: value for name, value in fields.items() if value}
    return Address(**present) if present else None


def _customer(data: Any) -> Customer | None:
    if not isinstance(data, dict):
        return None
    return Customer(
        external_id=str(data["id"]) if data.get("id") is not None else None,
        email=data.get("emailAddress") or None,
        first_name=data.get("firstName") or None,
        last_name=data.get("lastName") or None,
        phone=data.get("phoneNumber") or None,
    )


def _financial(data: dict[str, Any], total: int) -> FinancialStatus:
    """What the order's payments add up to (Payment.state, Refund.state)."""
    settled = authorized = refunded = 0
    voided = False
    for payment in data.get("payments") or []:
        amount = _integer(payment["amount"], "payment amount")
        state = payment.get("state")
        if state == _SETTLED:
            settled += amount
        elif state == _AUTHORIZED:
            authorized += amount
        voided = voided or state == "Cancelled"
        for refund in payment.get("refunds") or []:
            if refund.get("state") == _SETTLED:
                refunded += _integer(refund["total"], "refund total")
    if refunded:
        return (
            FinancialStatus.REFUNDED if refunded >= settled else FinancialStatus.PARTIALLY_REFUNDED
        )
    if settled:
        return FinancialStatus.PAID if settled >= total else FinancialStatus.PARTIALLY_PAID
    if authorized:
        return FinancialStatus.AUTHORIZED
    return FinancialStatus.VOIDED if voided else FinancialStatus.PENDING


def _status(state: str, financial: FinancialStatus) -> OrderStatus:
    if state == _CANCELLED:
        return OrderStatus.CANCELLED
    if state in _CLOSED:
        return OrderStatus.CLOSED
    # Placed orders in any other state (custom states of a customised order process too)
    # still have goods to ship: they reserve stock.
    return OrderStatus.PENDING if financial is FinancialStatus.PENDING else OrderStatus.OPEN


def _history(data: dict[str, Any], alias: str) -> dict[str, Any] | None:
    """The one entry a history alias of `_queries.ORDER_FIELDS` asked for, if any."""
    items = (data.get(alias) or {}).get("items") or []
    return _obj(items[0], alias) if items else None


def _when(value: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidPayloadError(f"{what} is {value!r}, not a date and time") from None
    if moment.tzinfo is None:
        raise InvalidPayloadError(f"{what} is {value!r}, without a time zone")
    return moment


def _updated_at(data: dict[str, Any]) -> datetime:
    moments = [_when(data["updatedAt"], "updatedAt"), _when(data["orderPlacedAt"], "orderPlacedAt")]
    event = _history(data, "lastEvent")
    if event is not None:
        moments.append(_when(event["createdAt"], "history createdAt"))
    return max(moments)


def map_order(payload: JsonValue, channel: str, *, precision: int = 2) -> Order:
    """Map a placed Vendure order (see the module docstring for the rules); ``precision`` is
    the server's MoneyStrategy precision."""
    data = _obj(payload, "order")
    if not data.get("orderPlacedAt"):
        raise InvalidPayloadError(f"order {order_key(data)} has not been placed (a cart)")
    currency = str(data["currencyCode"])
    gross = _prices_include_tax(data)
    prices = _Prices(currency, gross, precision)
    shipped = _fulfilled_by_line(data)
    lines = [_line(line, prices, shipped) for line in data["lines"]]
    lines += [_surcharge(s, prices) for s in data.get("surcharges") or []]
    total = _integer(data["totalWithTax"], "totalWithTax")
    financial = _financial(data, total)
    state = str(data["state"])
    cancellation = _history(data, "cancellation") if state == _CANCELLED else None
    note = _history(data, "lastNote")
    subtotal = sum(prices.pick(line, "linePrice") for line in data["lines"])
    subtotal += sum(prices.pick(s, "price") for s in data.get("surcharges") or [])
    discount = sum(
        prices.pick(line, "linePrice") - prices.pick(line, "proratedLinePrice")
        for line in data["lines"]
    )
    return Order(
        channel=channel,
        external_id=str(data["id"]),
        number=str(data.get("code") or ""),
        status=_status(state, financial),
        financial_status=financial,
        currency=currency,
        lines=tuple(lines),
        shipping_lines=tuple(_shipping(s, prices) for s in data.get("shippingLines") or []),
        customer=_customer(data.get("customer")),
        billing_address=_address(data.get("billingAddress")),
        shipping_address=_address(data.get("shippingAddress")),
        taxes_included=gross,
        subtotal=prices.money(subtotal),
        discount_total=prices.money(discount),
        shipping_total=prices.money(prices.pick(data, "shipping")),
        tax_total=prices.money(total - _integer(data["total"], "total")),
        total=prices.money(total),
        # The sale happened when the order was placed; the cart may be days older.
        created_at=data["orderPlacedAt"],
        updated_at=_updated_at(data),
        cancelled_at=(cancellation or {}).get("createdAt")
        or (data["updatedAt"] if state == _CANCELLED else None),
        cancel_reason=((cancellation or {}).get("data") or {}).get("reason") or None,
        note=((note or {}).get("data") or {}).get("note") or None,
        raw=data,
    )


def map_listing(variant: dict[str, Any], channel: str) -> Listing:
    """A ``ProductVariant`` (id, sku, productId) as the channel's listing of its SKU."""
    return Listing(
        channel=channel,
        sku=variant["sku"],
        product_id=str(variant["productId"]),
        variant_id=str(variant["id"]),
    )
