"""Shopify orders, as the REST reference, webhooks and GraphQL present them, in the model."""

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from omnisync.adapters import map_records
from omnisync.models import (
    FinancialStatus,
    Money,
    OrderStatus,
    ReturnDisposition,
    RiskLevel,
)
from omnisync_shopify import map_graphql_order, map_rest_order
from omnisync_shopify._mapping import map_refund

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(), parse_float=Decimal)


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def test_the_reference_order_maps_from_rest():
    order = map_rest_order(payload("rest_order_1001.json"), "shop")
    assert (order.external_id, order.number) == ("450789469", "#1001")
    assert order.status is OrderStatus.OPEN
    assert order.financial_status is FinancialStatus.PARTIALLY_REFUNDED
    assert (order.total, order.tax_total, order.discount_total) == (
        usd("598.94"),
        usd("11.94"),
        usd("10.00"),
    )
    green, red, black = order.lines
    # Refunded with a restock before shipping (the one fulfilment failed): cancelled.
    assert (green.sku, green.cancelled_quantity, green.open_quantity) == ("IPOD2008GREEN", 1, 0)
    assert (red.open_quantity, red.fulfilled_quantity) == (1, 0)
    assert black.cancelled_quantity == 1
    assert red.discounts[0].title == "TENOFF"
    assert red.discounts[0].amount == usd("3.33")
    assert (red.taxes[0].amount, red.taxes[0].rate) == (usd("3.98"), 0.06)
    assert order.shipping_lines[0].title == "Free Shipping"
    assert order.customer.email == "bob.norman@mail.example.com"
    assert order.shipping_address.country_code == "US"
    assert order.created_at.isoformat() == "2008-01-10T16:00:00+00:00"


def test_graphql_and_rest_give_the_same_order():
    from_rest = map_rest_order(payload("rest_order_1001.json"), "shop")
    from_graphql = map_graphql_order(payload("graphql_order_1001.json"), "shop")
    assert from_graphql.key == from_rest.key
    assert from_graphql.total == from_rest.total
    assert [
        (
            line.line_id,
            line.sku,
            line.quantity,
            line.open_quantity,
            line.unit_price,
            line.discount_total,
            line.tax_total,
        )
        for line in from_graphql.lines
    ] == [
        (
            line.line_id,
            line.sku,
            line.quantity,
            line.open_quantity,
            line.unit_price,
            line.discount_total,
            line.tax_total,
        )
        for line in from_rest.lines
    ]
    assert from_graphql.risk is RiskLevel.LOW


def test_a_successful_fulfilment_ships_its_units():
    data = payload("graphql_order_1001.json")
    data["fulfillments"][0]["status"] = "SUCCESS"
    line = data["lineItems"]["nodes"][0]
    line["currentQuantity"], line["unfulfilledQuantity"] = 1, 0
    order = map_graphql_order(data, "shop")
    assert order.lines[0].fulfilled_quantity == 1
    assert order.lines[0].cancelled_quantity == 0


def test_units_returned_after_shipping_stay_shipped():
    data = payload("rest_order_1001.json")
    data["fulfillments"][0]["status"] = "success"  # green shipped, then came back (refunded)
    green = map_rest_order(data, "shop").lines[0]
    assert (green.fulfilled_quantity, green.cancelled_quantity) == (1, 0)


def test_presentment_currency_is_kept_beside_the_shop_currency():
    data = payload("rest_order_1001.json")
    data["presentment_currency"] = "EUR"
    data["total_price_set"]["presentment_money"] = {"amount": "551.02", "currency_code": "EUR"}
    order = map_rest_order(data, "shop")
    assert order.total == usd("598.94")
    assert order.presentment_total == Money.of("551.02", "EUR")


def test_a_fully_discounted_line_and_a_zero_quantity_line():
    data = payload("graphql_order_1001.json")
    red = data["lineItems"]["nodes"][1]
    red["discountAllocations"][0]["allocatedAmountSet"]["shopMoney"]["amount"] = "199.0"
    zero = copy.deepcopy(red)
    zero.update(
        id="gid://shopify/LineItem/1",
        quantity=0,
        currentQuantity=0,
        unfulfilledQuantity=0,
        discountAllocations=[],
    )
    data["lineItems"]["nodes"].append(zero)
    order = map_graphql_order(data, "shop")
    assert order.lines[1].subtotal - order.lines[1].discount_total == usd("0")
    assert order.lines[3].quantity == 0


def test_blank_skus_unicode_and_missing_optional_fields():
    data = payload("rest_order_1001.json")
    data["line_items"][1]["sku"] = ""
    data["shipping_address"]["first_name"], data["shipping_address"]["last_name"] = "Zoë", "Ørsted"
    data["shipping_address"]["name"] = ""
    for optional in (
        "customer",
        "billing_address",
        "shipping_lines",
        "discount_applications",
        "tags",
        "note",
        "total_discounts_set",
        "email",
        "phone",
    ):
        data.pop(optional, None)
    order = map_rest_order(data, "shop")
    assert order.lines[1].sku is None
    assert order.customer is None
    assert order.shipping_address.name == "Zoë Ørsted"
    assert order.lines[1].discounts[0].title == "discount"


def test_a_cancelled_order_and_a_pending_one():
    data = payload("graphql_order_1001.json")
    data.update(cancelledAt="2008-01-11T10:00:00Z", cancelReason="CUSTOMER")
    order = map_graphql_order(data, "shop")
    assert order.status is OrderStatus.CANCELLED
    assert order.cancel_reason == "customer"
    data.update(cancelledAt=None, displayFinancialStatus="PENDING")
    assert map_graphql_order(data, "shop").status is OrderStatus.PENDING


def test_a_refund_becomes_a_received_return_restocked_or_written_off():
    data = payload("rest_refund.json")
    ret = map_refund(data, "shop")
    assert (ret.order_id, ret.return_id, ret.reason) == (
        "450789469",
        "refund-929361472",
        "wrong size",
    )
    [line] = ret.lines
    assert (line.line_id, line.sku, line.quantity) == ("518995019", "IPOD2008RED", 1)
    assert line.disposition is ReturnDisposition.DISCARD  # restock_type "no_restock"
    data["refund_line_items"][0]["restock_type"] = "return"
    assert map_refund(data, "shop").lines[0].disposition is ReturnDisposition.RESTOCK
    data["refund_line_items"][0]["restock_type"] = "cancel"  # never shipped: not a return
    assert map_refund(data, "shop") is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"financial_status": "maybe"}, "unknown financial status"),
        ({"currency": "USDX"}, "ISO 4217"),
        (
            {"total_price_set": {"shop_money": {"amount": "lots", "currency_code": "USD"}}},
            "'lots' is not an amount of money",
        ),
        ({"created_at": "last tuesday"}, "created_at"),
    ],
)
def test_an_order_that_cannot_be_mapped_is_rejected_with_the_reason(change, reason):
    good = payload("rest_order_1001.json")
    bad = {**payload("rest_order_1001.json"), **change, "id": 1}
    orders, rejects = map_records(
        [good, bad], lambda p: map_rest_order(p, "shop"), kind="order", key=lambda p: str(p["id"])
    )
    assert [o.external_id for o in orders] == ["450789469"]
    [reject] = rejects
    assert reject.key == "1"
    assert reason in reject.reason
