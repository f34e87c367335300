from datetime import datetime

import pytest
from pydantic import ValidationError

from omnisync.models import FulfilmentStatus, Money, Order, OrderLine, TaxLine
from tests.helpers import T0, line, order


def test_totals_left_out_are_derived_from_lines_and_shipping():
    taxed = line(
        "1",
        quantity=2,
        price="10.00",
        taxes=(TaxLine(title="VAT", amount=Money.of("4.00", "EUR")),),
    )
    built = order("1", taxed, shipping_lines=[{"price": {"amount": "5", "currency": "EUR"}}])
    assert built.subtotal == Money.of("20.00", "EUR")
    assert built.tax_total == Money.of("4.00", "EUR")
    assert built.total == Money.of("29.00", "EUR")


def test_totals_the_channel_reports_are_kept():
    built = order("1", total=Money.of("99.99", "EUR"))
    assert built.total == Money.of("99.99", "EUR")


def test_a_total_left_out_is_derived_from_those_given_and_the_lines():
    # The channel gives its tax and shipping (rounded its own way), not the subtotal.
    built = order(
        "1",
        line("1", quantity=3, price="10.00"),
        tax_total=Money.of("5.70", "EUR"),
        shipping_total=Money.of("4.90", "EUR"),
    )
    assert built.subtotal == Money.of("30.00", "EUR")
    assert built.discount_total == Money.of("0", "EUR")
    assert (built.tax_total, built.shipping_total) == (
        Money.of("5.70", "EUR"),
        Money.of("4.90", "EUR"),
    )
    assert built.total == Money.of("40.60", "EUR")


def test_a_shipping_tax_in_another_currency_is_refused_even_with_the_totals_given():
    with pytest.raises(ValidationError, match="'VAT' is in USD, the charge in EUR"):
        order(
            "1",
            line("1", quantity=1, price="10.00"),
            shipping_lines=[
                {
                    "title": "Standard",
                    "price": Money.of("5.00", "EUR"),
                    "taxes": [{"title": "VAT", "amount": Money.of("1.00", "USD")}],
                }
            ],
            tax_total=Money.of("1.00", "EUR"),
            shipping_total=Money.of("5.00", "EUR"),
        )


def test_naive_timestamps_are_refused():
    with pytest.raises(ValidationError, match="timezone"):
        Order(
            channel="s",
            external_id="1",
            currency="EUR",
            created_at=datetime(2026, 1, 1),
            updated_at=datetime(2026, 1, 1),
        )


def test_timestamps_are_normalised_to_utc():
    built = Order(
        channel="s",
        external_id="1",
        currency="EUR",
        created_at="2026-01-01T12:00:00+02:00",
        updated_at=T0,
    )
    assert built.created_at == datetime.fromisoformat("2026-01-01T10:00:00+00:00")


def test_amounts_in_another_currency_are_refused():
    with pytest.raises(ValidationError, match="presentment_total"):
        Order(
            channel="s",
            external_id="1",
            currency="USD",
            lines=[line()],
            created_at=T0,
            updated_at=T0,
        )


def test_line_ids_are_unique():
    with pytest.raises(ValidationError, match="appears twice"):
        order("1", line("1"), line("1"))


def test_blank_sku_means_not_a_stock_line():
    assert line(sku="   ").sku is None
    assert line(sku=" SKU-1 ").sku == "SKU-1"


def test_shipped_plus_cancelled_cannot_exceed_ordered():
    with pytest.raises(ValidationError, match="exceeds the quantity ordered"):
        OrderLine(
            line_id="1",
            quantity=2,
            unit_price=Money.of(1, "EUR"),
            fulfilled_quantity=2,
            cancelled_quantity=1,
        )
    assert line(quantity=5, fulfilled_quantity=2, cancelled_quantity=1).open_quantity == 2


def test_fulfilment_status_is_derived_when_left_out():
    assert order("1", line("1", quantity=2)).fulfilment_status is FulfilmentStatus.UNFULFILLED
    partial = order("1", line("1", quantity=2, fulfilled_quantity=1))
    assert partial.fulfilment_status is FulfilmentStatus.PARTIAL
    full = order("1", line("1", quantity=2, fulfilled_quantity=2))
    assert full.fulfilment_status is FulfilmentStatus.FULFILLED


def test_orders_are_immutable():
    built = order("1")
    with pytest.raises(ValidationError):
        built.number = "x"  # type: ignore[misc]
    assert built.model_copy(update={"number": "x"}).number == "x"


def test_unknown_fields_are_an_error_not_silently_dropped():
    with pytest.raises(ValidationError, match="extra"):
        OrderLine(line_id="1", quantity=1, unit_price=Money.of(1, "EUR"), colour="red")


def test_malformed_input_gets_field_errors_not_a_crash():
    with pytest.raises(ValidationError) as info:
        Order.model_validate(
            {
                "channel": "s",
                "external_id": "1",
                "currency": "EUR",
                "lines": [{"line_id": "1", "quantity": "many"}],
                "created_at": T0,
                "updated_at": T0,
            }
        )
    assert "lines" in str(info.value)
