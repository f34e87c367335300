"""WooCommerce payloads, as the docs and real stores send them, mapped to the model."""

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from omnisync.adapters import map_records
from omnisync.models import FinancialStatus, FulfilmentStatus, Money, OrderStatus
from omnisync_woocommerce import map_order

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(), parse_float=Decimal)


def test_the_documented_order_maps_with_exact_money_and_gmt_dates():
    order = map_order(payload("order_727.json"), "woo")
    assert (order.external_id, order.number, order.currency) == ("727", "727", "USD")
    assert order.status is OrderStatus.OPEN
    assert order.financial_status is FinancialStatus.PAID
    assert order.total == Money.of("29.35", "USD")
    assert order.tax_total == Money.of("1.35", "USD")
    assert order.shipping_total == Money.of("10.00", "USD")
    assert order.created_at.isoformat() == "2017-03-22T19:28:02+00:00"  # the _gmt twin
    first, second = order.lines
    assert first.sku is None  # a blank SKU is not a stock line
    assert (second.sku, second.quantity, second.unit_price) == ("Bar3", 1, Money.of(12, "USD"))
    assert second.tax_total == Money.of("0.90", "USD")
    assert order.shipping_lines[0].code == "flat_rate"
    assert order.customer.email == "john.doe@example.com"
    assert order.shipping_address.region_code == "CA"


def test_a_completed_order_is_shipped_and_its_refunds_show_in_the_payment_status():
    order = map_order(payload("order_723_refunded.json"), "woo")
    assert order.status is OrderStatus.CLOSED
    assert order.fulfilment_status is FulfilmentStatus.FULFILLED
    assert all(line.fulfilled_quantity == line.quantity for line in order.lines)
    assert order.financial_status is FinancialStatus.PARTIALLY_REFUNDED
    assert order.billing_address.name == "João Silva"


def test_refunded_before_shipping_releases_stock_like_a_cancellation():
    data = payload("order_727.json")
    data.update(status="refunded", refunds=[{"id": 1, "refund": "", "total": "-29.35"}])
    order = map_order(data, "woo")
    assert order.status is OrderStatus.CANCELLED
    assert order.financial_status is FinancialStatus.REFUNDED


def test_discounts_fees_and_zero_quantity_lines():
    data = payload("order_727.json")
    free = data["line_items"][1]
    free.update(total="0.00", total_tax="0.00")  # a 100% coupon
    data["line_items"].append(
        {
            **copy.deepcopy(free),
            "id": 999,
            "quantity": 0,
            "subtotal": "0.00",
            "total": "0.00",
            "sku": "Bar4",
        }
    )
    data["fee_lines"] = [{"id": 5, "name": "Gift wrap", "total": "2.50", "total_tax": "0.19"}]
    data["coupon_lines"] = [{"id": 6, "code": "free100", "discount": "12.00"}]
    order = map_order(data, "woo")
    discounted = order.lines[1]
    assert discounted.discount_total == Money.of("12.00", "USD")
    assert discounted.subtotal - discounted.discount_total == Money.of(0, "USD")
    assert order.lines[2].quantity == 0
    fee = order.lines[3]
    assert (fee.sku, fee.title, fee.unit_price) == (None, "Gift wrap", Money.of("2.50", "USD"))
    assert "coupon:free100" in order.tags


def test_missing_optional_fields_are_fine():
    data = payload("order_727.json")
    for optional in (
        "billing",
        "shipping",
        "fee_lines",
        "coupon_lines",
        "refunds",
        "customer_note",
        "shipping_lines",
        "date_paid_gmt",
    ):
        data.pop(optional)
    order = map_order(data, "woo")
    assert order.customer is None
    assert order.shipping_address is None
    assert order.financial_status is FinancialStatus.PENDING


def test_a_live_webhook_payload_maps():
    order = map_order(payload("webhook_order_created.body"), "woo")
    assert order.status is OrderStatus.PENDING
    assert [line.sku for line in order.lines] == ["XXXTEST"]
    assert order.shipping_address is None  # every field of it empty


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "lost-in-space"}, "unknown order status"),
        ({"total": "a lot"}, "'a lot' is not an amount of money"),
        ({"currency": "EURO"}, "ISO 4217"),
        ({"line_items": [{"id": 1, "quantity": -2, "subtotal": "1", "sku": "X"}]}, "quantity"),
        ({"date_created_gmt": "yesterday"}, "yesterday"),
    ],
)
def test_a_payload_that_cannot_be_mapped_is_rejected_with_the_reason(change, reason):
    good = payload("order_727.json")
    bad = {**payload("order_727.json"), **change, "id": 1}
    orders, rejects = map_records(
        [good, bad], lambda p: map_order(p, "woo"), kind="order", key=lambda p: str(p["id"])
    )
    assert [o.external_id for o in orders] == ["727"]
    [reject] = rejects
    assert reject.key == "1"
    assert reason in reject.reason
