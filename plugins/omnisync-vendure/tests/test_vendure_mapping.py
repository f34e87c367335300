"""Vendure orders, as a real server sent them (tests/payloads), in omnisync's model."""

import copy
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from omnisync.adapters import map_records
from omnisync.errors import AuthError, PermanentError
from omnisync.http import json_loads
from omnisync.models import FinancialStatus, FulfilmentStatus, Money, Order, OrderStatus
from omnisync_vendure import map_order
from omnisync_vendure._adapter import graphql_error
from omnisync_vendure._mapping import map_listing, order_key

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    return json_loads((PAYLOADS / name).read_bytes())


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def mapped(data: dict) -> Order:
    return map_order(data, "vendure")


def rejected(data: dict) -> str:
    orders, rejects = map_records([data], mapped, kind="order", key=order_key)
    assert not orders
    [reject] = rejects
    assert reject.payload is data
    return reject.reason


def adds_up(order: Order) -> bool:
    """subtotal - discounts + shipping (+ tax unless included) is what the buyer pays."""
    total = order.subtotal - order.discount_total + order.shipping_total
    return (total if order.taxes_included else total + order.tax_total) == order.total


def test_discounts_taxes_and_a_partial_shipment():
    order = mapped(payload("order_discounts_partially_shipped.json"))
    assert (order.external_id, order.number) == ("1", "R1EZFSD69W7HT1NA")
    assert order.status is OrderStatus.OPEN
    assert order.financial_status is FinancialStatus.PAID
    assert order.fulfilment_status is FulfilmentStatus.PARTIAL
    assert not order.taxes_included
    assert (order.subtotal, order.discount_total, order.shipping_total) == (
        usd("79.28"),
        usd("12.79"),
        usd("5.00"),
    )
    assert (order.tax_total, order.total) == (usd("13.30"), usd("84.79"))
    assert adds_up(order)
    mug, tee, cap = order.lines
    assert (mug.sku, mug.quantity, mug.fulfilled_quantity, mug.open_quantity) == (
        "MUG-BLUE",
        3,
        2,
        1,
    )
    assert mug.unit_price == usd("11.99")
    assert [(d.title, d.amount) for d in mug.discounts] == [
        ("Mugs 15 % off", usd("5.40")),
        ("10 % off", usd("3.06")),
    ]
    [tax] = mug.taxes
    assert (tax.title, tax.amount, tax.rate) == ("Standard Tax Europe", usd("5.50"), 0.2)
    assert (tee.open_quantity, cap.unit_price) == (2, usd("3.33"))
    for line in order.lines:  # each line's discounts are what it lost, to the cent
        raw = next(r for r in order.raw["lines"] if r["id"] == line.line_id)
        lost = Money.from_minor(raw["linePrice"] - raw["proratedLinePrice"], "USD")
        assert line.discount_total == lost
    assert order.shipping_lines[0].code == "standard-shipping"
    assert order.customer.email == "buyer@example.com"
    assert order.customer.external_id == "1"
    assert order.shipping_address.country_code == "DE"
    assert order.shipping_address.line1 == "Hauptstraße 1"
    assert order.billing_address is None  # Vendure sends an address of nulls
    assert order.note == "Gift wrap the mugs, please"
    assert order.created_at.isoformat() == "2026-11-26T06:19:51.262000+00:00"


def test_money_is_exact_decimals_never_floats():
    order = mapped(payload("order_discounts_partially_shipped.json"))
    amounts = [order.total, order.tax_total, *(line.unit_price for line in order.lines)]
    assert all(type(money.amount) is Decimal for money in amounts)
    assert order.total.to_minor() == order.raw["totalWithTax"] == 8479


def test_a_cancelled_order():
    order = mapped(payload("order_cancelled.json"))
    assert order.status is OrderStatus.CANCELLED
    assert order.cancel_reason == "customer changed their mind"
    assert order.cancelled_at.isoformat() == "2026-11-26T06:19:51+00:00"
    [line] = order.lines
    assert (line.quantity, line.cancelled_quantity, line.open_quantity) == (1, 1, 0)
    # Vendure kept the authorisation and the shipping charge: so does the order.
    assert order.financial_status is FinancialStatus.AUTHORIZED
    assert (order.subtotal, order.total) == (usd("0.00"), usd("5.00"))
    assert adds_up(order)


def test_prices_with_tax_in_yen_on_a_server_without_decimal_places():
    order = map_order(payload("order_gross_jpy.json"), "vendure", precision=0)
    assert order.taxes_included
    [line] = order.lines
    assert line.unit_price == Money.of(1500, "JPY")
    assert (order.subtotal, order.tax_total, order.total) == (
        Money.of(4500, "JPY"),
        Money.of(750, "JPY"),
        Money.of(5000, "JPY"),
    )
    assert adds_up(order)


def test_the_servers_precision_not_the_currency_scales_the_integers():
    """With Vendure's default precision its dashboard shows 1500 as ¥15: so does omnisync."""
    order = map_order(payload("order_gross_jpy.json"), "vendure", precision=2)
    assert order.lines[0].unit_price == Money.of("15.00", "JPY")
    assert order.total == Money.of("50.00", "JPY")


def test_a_modified_order_with_a_surcharge():
    order = mapped(payload("order_modified_surcharge.json"))
    _, tee, wrap = order.lines
    # A line added by a modification keeps orderPlacedQuantity 0: it is ordered, not cancelled.
    assert (tee.sku, tee.quantity, tee.cancelled_quantity) == ("TEE-M", 1, 0)
    assert (wrap.line_id, wrap.sku, wrap.title) == ("surcharge-1", None, "Gift wrapping")
    assert (wrap.unit_price, wrap.tax_total) == (usd("2.50"), usd("0.50"))
    assert order.financial_status is FinancialStatus.PARTIALLY_PAID
    assert order.total == usd("38.00")
    assert adds_up(order)
    # A history entry dates the modification: Vendure's own updatedAt did not move.
    assert order.updated_at > order.created_at


def test_a_country_code_that_is_not_iso_is_quarantined_with_the_reason():
    reason = rejected(payload("order_country_not_iso.json"))
    assert "country_code" in reason
    assert "XKX" in reason


def test_the_exact_side_is_chosen_when_a_line_is_not_exact_on_the_channels_side():
    data = payload("order_gross_jpy.json")
    data["channels"][0]["pricesIncludeTax"] = False  # the net side is rounded here
    data["lines"][0]["linePrice"] += 1
    order = mapped(data)
    assert order.taxes_included
    assert adds_up(order)


def test_refunds_settled_and_cancelled_fulfillments():
    data = payload("order_discounts_partially_shipped.json")
    data["payments"][0]["refunds"] = [{"total": 1000, "state": "Settled"}]
    assert mapped(data).financial_status is FinancialStatus.PARTIALLY_REFUNDED
    data["payments"][0]["refunds"].append({"total": 7479, "state": "Settled"})
    assert mapped(data).financial_status is FinancialStatus.REFUNDED
    data["fulfillments"][0]["state"] = "Cancelled"
    assert mapped(data).lines[0].fulfilled_quantity == 0


def test_delivered_orders_are_closed():
    data = payload("order_discounts_partially_shipped.json")
    data["state"] = "Delivered"
    assert mapped(data).status is OrderStatus.CLOSED


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d.update(totalWithTax=Decimal("84.79")), "not an integer amount of money"),
        (lambda d: d["lines"][0].update(unitPrice=True), "not an integer amount of money"),
        (lambda d: d.update(currencyCode="HRK"), "ISO 4217"),
        (lambda d: d.update(orderPlacedAt=None), "has not been placed"),
        (lambda d: d.update(updatedAt="yesterday"), "not a date and time"),
        (lambda d: d.pop("lines"), "missing field 'lines'"),
        (lambda d: d["lines"][0].update(quantity=-1), "quantity"),
        (lambda d: d.update(customer="Bea"), None),  # not an object: no customer, not a reject
    ],
)
def test_a_malformed_order_is_rejected_with_the_reason(edit, reason):
    data = copy.deepcopy(payload("order_discounts_partially_shipped.json"))
    edit(data)
    if reason is None:
        assert mapped(data).customer is None
    else:
        assert reason in rejected(data)


def test_no_deleted_field_crashes_a_page():
    """Whatever Vendure leaves out, the order maps or is rejected: nothing else escapes."""
    original = payload("order_discounts_partially_shipped.json")
    for field in original:
        data = copy.deepcopy(original)
        del data[field]
        orders, rejects = map_records([data, original], mapped, kind="order", key=order_key)
        assert len(orders) + len(rejects) == 2
        assert orders[-1].external_id == "1"


def test_listings():
    listing = map_listing({"id": "7", "sku": "MUG", "productId": "3"}, "vendure")
    assert (listing.sku, listing.product_id, listing.variant_id) == ("MUG", "3", "7")


def _answer(body: dict, status: int = 200) -> httpx.Response:
    request = httpx.Request("POST", "http://vendure.test/admin-api")
    return httpx.Response(status, content=json.dumps(body).encode(), request=request)


def test_graphql_errors_sent_with_http_200_are_classified():
    forbidden = {
        "errors": [
            {
                "message": "You are not currently authorized to perform this action",
                "extensions": {"code": "FORBIDDEN"},
            }
        ],
        "data": None,
    }
    assert isinstance(graphql_error(_answer(forbidden), "vendure"), AuthError)
    missing = {
        "errors": [
            {
                "message": 'No ProductVariant with the id "999" could be found',
                "extensions": {"code": "ENTITY_NOT_FOUND"},
            }
        ],
        "data": None,
    }
    error = graphql_error(_answer(missing), "vendure")
    assert isinstance(error, PermanentError)
    assert "No ProductVariant" in str(error)
    assert graphql_error(_answer({"data": {"orders": []}}), "vendure") is None
    truncated = httpx.Response(200, content=b'{"errors": [', request=_answer({}).request)
    assert graphql_error(truncated, "vendure") is None  # retried as malformed JSON instead
