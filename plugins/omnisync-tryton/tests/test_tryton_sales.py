"""Orders booked as Tryton sales: prices before tax, Tryton's own taxes, and a warning when
they are not what the channel charged."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from omnisync.adapters import ChannelContext
from omnisync.errors import PermanentError, UnknownSKUError
from omnisync.models import (
    Customer,
    DocumentKind,
    Money,
    Order,
    OrderLine,
    SalesDocument,
    ShippingLine,
    TaxLine,
)
from omnisync_tryton import TrytonAdapter
from omnisync_tryton.testing import TrytonServer

pytestmark = pytest.mark.anyio
WHEN = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def adapter(tryton: TrytonServer) -> AsyncIterator[TrytonAdapter]:
    tryton_adapter = TrytonAdapter(
        TrytonAdapter.Settings.model_validate(tryton.settings()), ChannelContext(name="erp")
    )
    yield tryton_adapter
    await tryton_adapter.aclose()


def _eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def _order(
    number: str,
    *,
    taxes_included: bool,
    tax: str,
    shipping_tax: str = "0",
    customer: Customer | None = None,
) -> Order:
    """Two lamps at 24.00 (tax ``tax`` on the line) and 6.00 of shipping."""
    line_tax = (TaxLine(title="VAT", amount=_eur(tax), rate=0.2),) if Decimal(tax) else ()
    carried = (
        (TaxLine(title="VAT", amount=_eur(shipping_tax), rate=0.2),)
        if Decimal(shipping_tax)
        else ()
    )
    return Order(
        channel="shop",
        external_id=number,
        number=number,
        currency="EUR",
        customer=customer,
        taxes_included=taxes_included,
        lines=(
            OrderLine(
                line_id="1", sku="LAMP", quantity=2, unit_price=_eur("24.00"), taxes=line_tax
            ),
        ),
        shipping_lines=(ShippingLine(title="Standard", price=_eur("6.00"), taxes=carried),),
        created_at=WHEN,
        updated_at=WHEN,
    )


def _amounts(sale: dict[str, Any]) -> tuple[str, str, str]:
    """A Tryton sale's amounts before tax, of tax and in all."""
    return (str(sale["untaxed_amount"]), str(sale["tax_amount"]), str(sale["total_amount"]))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "omnisync.tryton"]


async def _book(adapter: TrytonAdapter, order: Order) -> str:
    reference = f"shop:{order.number}"
    document = SalesDocument(kind=DocumentKind.SALES_ORDER, reference=reference, order=order)
    await adapter.push_document(document)
    return reference


async def test_prices_that_include_tax_are_booked_before_tax(
    adapter: TrytonAdapter, tryton: TrytonServer, caplog: pytest.LogCaptureFixture
) -> None:
    tryton.add_product("LAMP", 10)
    # 2 × 24.00 with 20 % tax in it: 40.00 before tax and 8.00 of tax.
    with caplog.at_level(logging.WARNING, logger="omnisync"):
        reference = await _book(adapter, _order("1001", taxes_included=True, tax="8.00"))
    sale = tryton.sale(reference)
    assert [(line["quantity"], line["unit_price"]) for line in sale["line_values"]] == [
        (2.0, Decimal("20.00")),
        (1.0, Decimal("6.00")),  # shipping, which the seeded Tryton does not tax
    ]
    assert _amounts(sale) == ("46.00", "8.00", "54.00")
    assert not _warnings(caplog)


async def test_prices_before_tax_carry_trytons_taxes(
    adapter: TrytonAdapter, tryton: TrytonServer, caplog: pytest.LogCaptureFixture
) -> None:
    tryton.add_product("LAMP", 10)
    with caplog.at_level(logging.WARNING, logger="omnisync"):
        reference = await _book(adapter, _order("1002", taxes_included=False, tax="9.60"))
    sale = tryton.sale(reference)
    assert _amounts(sale) == ("54.00", "9.60", "63.60")
    assert not _warnings(caplog)


async def test_taxes_other_than_the_channels_are_booked_and_a_warning_says_so(
    adapter: TrytonAdapter, tryton: TrytonServer, caplog: pytest.LogCaptureFixture
) -> None:
    tryton.add_product("LAMP", 10)
    # The shop charged tax on shipping too, which Tryton's shipping product does not carry.
    order = _order("1003", taxes_included=True, tax="8.00", shipping_tax="1.00")
    with caplog.at_level(logging.WARNING, logger="omnisync"):
        reference = await _book(adapter, order)
    sale = tryton.sale(reference)
    assert sale["line_values"][-1]["unit_price"] == Decimal("5.00")  # 6.00 less its tax
    assert sale["tax_amount"] == Decimal("8.00")
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.name == "omnisync.tryton"
    assert f"Tryton sale {sale['number']} of {reference} books 8.00 EUR of tax" in (
        warning.getMessage()
    )
    assert "the channel charged 9.00 EUR" in warning.getMessage()


async def test_a_cent_a_line_of_rounding_is_not_warned_of(
    adapter: TrytonAdapter, tryton: TrytonServer, caplog: pytest.LogCaptureFixture
) -> None:
    tryton.add_product("LAMP", 10)
    # Tryton books 9.60 of tax on the sale's two lines (the lamps, shipping).
    with caplog.at_level(logging.WARNING, logger="omnisync"):
        await _book(adapter, _order("1004", taxes_included=False, tax="9.62"))
        assert not _warnings(caplog)
        await _book(adapter, _order("1005", taxes_included=False, tax="9.63"))
    [warning] = _warnings(caplog)
    assert "books 9.60 EUR of tax, the channel charged 9.63 EUR" in warning


async def test_the_partys_customer_tax_rule_maps_the_taxes_as_in_trytons_client(
    adapter: TrytonAdapter, tryton: TrytonServer, caplog: pytest.LogCaptureFixture
) -> None:
    tryton.add_product("LAMP", 10)
    # A buyer abroad: Tryton's rule for them turns the 20 % tax into an untaxed export.
    [vat] = tryton.call("model.account.tax.search", [("rate", "=", Decimal("0.2"))], 0, 1, None)
    [export] = tryton.call(
        "model.account.tax.copy", [vat], {"name": "Export", "rate": Decimal("0")}
    )
    [company] = tryton.call("model.company.company.search", [], 0, 1, None)
    [rule] = tryton.call(
        "model.account.tax.rule.create",
        [
            {
                "name": "Export",
                "kind": "sale",
                "company": company,
                "lines": [["create", [{"origin_tax": vat, "tax": export}]]],
            }
        ],
    )
    email = "abroad@example.com"
    contact = {"type": "email", "value": email}
    tryton.call(
        "model.party.party.create",
        [
            {
                "name": "Abroad",
                "customer_tax_rule": rule,
                "contact_mechanisms": [["create", [contact]]],
            }
        ],
    )
    order = _order("1006", taxes_included=False, tax="0", customer=Customer(email=email))
    with caplog.at_level(logging.WARNING, logger="omnisync"):
        reference = await _book(adapter, order)
    sale = tryton.sale(reference)
    assert (sale["untaxed_amount"], sale["tax_amount"]) == (Decimal("54.00"), Decimal("0.00"))
    assert not caplog.records


async def test_a_sale_an_earlier_attempt_left_unquoted_is_quoted_and_its_taxes_checked(
    adapter: TrytonAdapter, tryton: TrytonServer, caplog: pytest.LogCaptureFixture
) -> None:
    tryton.add_product("LAMP", 10)
    order = _order("1007", taxes_included=False, tax="1.00")
    document = SalesDocument(kind=DocumentKind.SALES_ORDER, reference="shop:1007", order=order)
    await adapter.book._create(document)  # the attempt stopped before quoting the sale
    assert tryton.sale("shop:1007")["state"] == "draft"
    with caplog.at_level(logging.WARNING, logger="omnisync"):
        receipt = await adapter.push_document(document)
    sale = tryton.sale("shop:1007")
    assert not receipt.created and sale["state"] in ("confirmed", "processing")
    [warning] = _warnings(caplog)
    assert f"Tryton sale {sale['number']} of shop:1007 books 9.60 EUR" in warning


async def test_a_line_without_a_sku_is_booked_without_a_product_and_the_totals_agree(
    adapter: TrytonAdapter, tryton: TrytonServer, caplog: pytest.LogCaptureFixture
) -> None:
    tryton.add_product("LAMP", 10)
    order = _order("1008", taxes_included=False, tax="9.60")
    tip = OrderLine(line_id="2", sku=None, title="Tip", quantity=1, unit_price=_eur("5.00"))
    order = Order.model_validate(
        {**order.model_dump(exclude={"total", "subtotal"}), "lines": [*order.lines, tip]}
    )
    with caplog.at_level(logging.WARNING, logger="omnisync"):
        reference = await _book(adapter, order)
    sale = tryton.sale(reference)
    booked = [
        ((line["product."] or {}).get("code"), line["unit_price"]) for line in sale["line_values"]
    ]
    assert booked == [
        ("LAMP", Decimal("24.00")),
        (None, Decimal("5.00")),
        ("SHIPPING", Decimal("6.00")),
    ]
    assert _amounts(sale) == ("59.00", "9.60", "68.60")
    assert sale["total_amount"] == order.total.amount
    assert not _warnings(caplog)
    tryton.process_sale(reference)  # invoiced: the tip's revenue account is the default one
    assert tryton.sale(reference)["state"] == "processing"


def _edited(order: Order, *lines: OrderLine) -> Order:
    """``order`` as its channel shows it after an edit: ``lines`` instead of its own."""
    later = order.updated_at.replace(hour=order.updated_at.hour + 1)
    derived = {"subtotal", "discount_total", "shipping_total", "tax_total", "total"}
    values = order.model_dump(exclude=derived | {"fulfilment_status"})
    return Order.model_validate({**values, "lines": lines, "updated_at": later})


def _booked(sale: dict[str, Any]) -> list[tuple[str, float, Decimal]]:
    return [
        (line["product."]["code"], line["quantity"], line["unit_price"])
        for line in sale["line_values"]
    ]


async def test_an_order_edited_after_booking_is_booked_again_on_its_sale(
    adapter: TrytonAdapter, tryton: TrytonServer, caplog: pytest.LogCaptureFixture
) -> None:
    tryton.add_product("LAMP", 10)
    tryton.add_product("BULB", 10)
    order = _order("1009", taxes_included=False, tax="9.60")
    reference = await _book(adapter, order)
    first = tryton.sale(reference)
    assert first["state"] == "confirmed"
    # The shop's customer service takes a lamp off (the line's quantity lowered, as
    # WooCommerce shows an edited line) and adds three bulbs at 2.50.
    lamp = order.lines[0].model_copy(update={"quantity": 1})
    bulbs = OrderLine(line_id="2", sku="BULB", quantity=3, unit_price=_eur("2.50"))
    tax = TaxLine(title="VAT", amount=_eur("1.50"), rate=0.2)
    edited = _edited(
        order,
        lamp.model_copy(update={"taxes": (TaxLine(title="VAT", amount=_eur("4.80"), rate=0.2),)}),
        bulbs.model_copy(update={"taxes": (tax,)}),
    )
    document = SalesDocument(kind=DocumentKind.SALES_ORDER, reference=reference, order=edited)
    with caplog.at_level(logging.INFO, logger="omnisync"):
        receipt = await adapter.push_document(document)
    sale = tryton.sale(reference)
    assert (receipt.created, receipt.external_id) == (False, str(first["id"]))
    assert sale["state"] == "confirmed" and sale["number"] == first["number"]
    assert _booked(sale) == [
        ("LAMP", 1.0, Decimal("24.00")),
        ("BULB", 3.0, Decimal("2.50")),
        ("SHIPPING", 1.0, Decimal("6.00")),
    ]
    # 31.50 of goods and shipping, 20 % on the goods: what the edited order charges.
    assert _amounts(sale) == ("37.50", "6.30", "43.80")
    assert sale["total_amount"] == edited.total.amount
    assert [s["reference"] for s in tryton.sales()] == [reference]
    assert f"Tryton sale {sale['number']} of {reference} booked again" in caplog.text
    assert not _warnings(caplog)[1:]  # the one message is the line above, not a tax warning


async def _lamps_booked(
    adapter: TrytonAdapter, tryton: TrytonServer, number: str
) -> tuple[Order, str, dict[str, Any]]:
    """An order of two lamps booked: the order, its reference and its sale."""
    tryton.add_product("LAMP", 10)
    order = _order(number, taxes_included=False, tax="9.60")
    reference = await _book(adapter, order)
    return order, reference, tryton.sale(reference)


async def test_a_change_that_leaves_the_lines_alone_leaves_the_sale_alone(
    adapter: TrytonAdapter, tryton: TrytonServer
) -> None:
    order, reference, before = await _lamps_booked(adapter, tryton, "1010")
    paid = order.model_copy(update={"updated_at": order.updated_at.replace(hour=11)})
    await _book(adapter, paid)
    after = tryton.sale(reference)
    assert after["lines"] == before["lines"]  # the same line records: none replaced
    assert after["state"] == "confirmed"


async def test_an_edit_after_tryton_processed_the_sale_is_reported_and_the_sale_kept(
    adapter: TrytonAdapter, tryton: TrytonServer
) -> None:
    order, reference, _ = await _lamps_booked(adapter, tryton, "1011")
    tryton.process_sale(reference)  # shipments and invoice exist
    before = tryton.sale(reference)
    edited = _edited(order, order.lines[0].model_copy(update={"quantity": 1, "taxes": ()}))
    with pytest.raises(PermanentError, match="the sale is processing") as raised:
        await _book(adapter, edited)
    assert "book the change in Tryton by hand" in str(raised.value)
    after = tryton.sale(reference)
    assert (after["lines"], after["state"]) == (before["lines"], "processing")


async def test_an_edit_tryton_cannot_book_leaves_the_sale_as_it_was(
    adapter: TrytonAdapter, tryton: TrytonServer
) -> None:
    order, reference, before = await _lamps_booked(adapter, tryton, "1012")
    vase = OrderLine(line_id="2", sku="VASE", quantity=1, unit_price=_eur("30.00"))
    with pytest.raises(UnknownSKUError, match="VASE"):
        await _book(adapter, _edited(order, order.lines[0], vase))
    after = tryton.sale(reference)
    assert (after["lines"], after["state"]) == (before["lines"], "confirmed")
