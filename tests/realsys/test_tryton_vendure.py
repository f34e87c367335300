"""Tryton (stock and books) and Vendure (the shop), both real, kept in one truth by omnisync:
each scenario is checked by reading both systems back."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import pytest

from omnisync import AsyncOmnisync
from omnisync.config import parse_config
from omnisync_tryton.testing import TrytonServer
from omnisync_vendure.testing import VendureAPIError, VendureServer

pytestmark = pytest.mark.anyio
RETRY = {"initial_wait": 0, "max_wait": 0, "jitter": 0, "max_attempts": 2}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def omnisync(tmp_path, tryton: TrytonServer, vendure: VendureServer, **shop) -> AsyncOmnisync:
    loaded = parse_config(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'omnisync.db'}"},
            # Tryton counts a shipment the moment it is done: no lag to wait out.
            "engine": {"count_lag_seconds": 0},
            "locations": {"warehouse": {"source": "erp", "source_id": "WH"}},
            "channels": {
                "erp": {"adapter": "tryton", "settings": tryton.settings(), "retry": RETRY},
                "vendure": {
                    "adapter": "vendure",
                    "settings": {
                        "base_url": vendure.url,
                        "username": "superadmin",
                        "password": "superadmin",
                    },
                    "retry": RETRY,
                    **shop,
                },
            },
        },
        base_dir=tmp_path,
    )
    return AsyncOmnisync(loaded)


def sold_in_tryton(tryton: TrytonServer, sku: str) -> int:
    """Units of ``sku`` on Tryton sales that are not cancelled."""
    units = 0
    for row in tryton.sales():
        if row["state"] == "cancelled":
            continue
        sale = tryton.sale(row["reference"])
        units += sum(
            int(line["quantity"]) for line in sale["line_values"] if line["product."]["code"] == sku
        )
    return units


async def test_tryton_stock_sells_on_vendure_and_vendure_sales_are_booked_in_tryton(
    tmp_path, tryton, vendure
):
    tryton.add_product("LAMP", 10, price="49.00")
    lamp = vendure.create_variant("LAMP", stock=0, price=4900)
    async with omnisync(tmp_path, tryton, vendure, buffer=1) as om:
        await om.sync()
        assert vendure.stock(lamp.variant_id).saleable == 9  # 10 in Tryton, less the buffer
        first = vendure.checkout([(lamp.variant_id, 2)], email="ann@example.com")
        second = vendure.checkout([(lamp.variant_id, 1)], email="bob@example.com")
        report = await om.sync()
        assert report.ok, report.to_dict()
        held = (await om.stock_levels(["LAMP"]))["LAMP"]["warehouse"].held
    assert held == 3
    sale = tryton.sale(f"vendure:{first.code}")
    assert sale["state"] in ("confirmed", "processing")
    assert sale["currency."]["code"] == "USD"
    lines = [(line["product."]["code"], line["quantity"]) for line in sale["line_values"]]
    assert ("LAMP", 2.0) in lines
    lamp_lines = [line for line in sale["line_values"] if line["product."]["code"] == "LAMP"]
    assert sum(Decimal(str(line["quantity"])) * line["unit_price"] for line in lamp_lines) == (
        Decimal("98.00")
    )
    # Tryton's taxes on the sale come to what Vendure charged the buyer.
    assert sale["total_amount"] == Decimal(first.total_with_tax).scaleb(-2)
    assert {row["reference"] for row in tryton.sales()} == {
        f"vendure:{first.code}",
        f"vendure:{second.code}",
    }
    assert tryton.quantity("LAMP") == 10  # nothing shipped yet
    assert vendure.stock(lamp.variant_id).saleable == 10 - 3 - 1


async def test_concurrent_checkouts_beyond_tryton_stock_are_incidents_and_never_booked(
    tmp_path, tryton, vendure
):
    tryton.add_product("LAMP", 3)
    lamp = vendure.create_variant("LAMP", stock=0)
    async with omnisync(tmp_path, tryton, vendure) as om:
        await om.sync()
        assert vendure.stock(lamp.variant_id).saleable == 3
        # Tryton receives 2 more units that Vendure has not been told of: shoppers race
        # for what Vendure still shows, and some are sold past it.
        placed: list[str] = []
        refused = Counter[str]()

        def buy(email: str) -> None:
            try:
                placed.append(vendure.checkout([(lamp.variant_id, 1)], email=email).code)
            except VendureAPIError as exc:
                refused[type(exc).__name__] += 1

        shoppers = [threading.Thread(target=buy, args=(f"s{n}@example.com",)) for n in range(6)]
        for shopper in shoppers:
            shopper.start()
        for shopper in shoppers:
            shopper.join()
        await om.sync()
        await om.sync()
        incidents = await om.incidents(limit=100)
        cell = (await om.stock_levels(["LAMP"]))["LAMP"]["warehouse"]
    sold = len(placed)
    assert sold >= 3
    assert cell.held == sold
    assert sum(i.shortfall for i in incidents) == max(0, sold - 3)
    # Orders beyond the shelf wait on hold: Tryton books no more than it holds.
    assert sold_in_tryton(tryton, "LAMP") <= 3
    assert vendure.stock(lamp.variant_id).saleable == 0


async def test_a_tryton_shipment_fulfils_the_vendure_order_and_a_cancellation_cancels_the_sale(
    tmp_path, tryton, vendure
):
    tryton.add_product("LAMP", 10)
    lamp = vendure.create_variant("LAMP", stock=0)
    async with omnisync(tmp_path, tryton, vendure) as om:
        await om.sync()
        shipped = vendure.checkout([(lamp.variant_id, 2)])
        cancelled = vendure.checkout([(lamp.variant_id, 3)])
        await om.sync()
        tryton.ship_sale(f"vendure:{shipped.code}")
        report = await om.sync()  # Tryton's shipment becomes the order's fulfilment
        assert report.channels["erp"].counts["shipments"] == 1, report.to_dict()
        assert report.channels["vendure"].counts["fulfilments"] == 1, report.to_dict()
        vendure.cancel_order(cancelled.id)
        await om.sync()
        await om.sync()
        cell = (await om.stock_levels(["LAMP"]))["LAMP"]["warehouse"]
        letters = await om.dead_letters()
    order = vendure.order(shipped.id)
    assert [f["state"] for f in order["fulfillments"]]
    assert tryton.sale(f"vendure:{cancelled.code}")["state"] == "cancelled"
    assert tryton.quantity("LAMP") == 8
    assert (cell.on_hand, cell.held) == (8, 0)
    assert not letters
    assert vendure.stock(lamp.variant_id).saleable == 8


async def test_a_server_stopped_mid_sync_fails_its_channel_only_and_nothing_is_doubled(
    tmp_path, tryton, vendure
):
    tryton.add_product("LAMP", 10)
    lamp = vendure.create_variant("LAMP", stock=0)
    async with omnisync(tmp_path, tryton, vendure) as om:
        await om.sync()
        first = vendure.checkout([(lamp.variant_id, 1)])
        tryton.stop()
        report = await om.sync()
        assert report.channels["erp"].errors
        assert not report.channels["vendure"].errors
        assert report.channels["vendure"].counts["orders_imported"] == 1
        tryton.start()
        second = vendure.checkout([(lamp.variant_id, 2)])
        vendure.halt()
        report = await om.sync()
        assert report.channels["vendure"].errors
        assert not report.channels["erp"].errors
        vendure.resume()
        await om.sync()
        await om.sync()
        stored = await om.orders(limit=10)
    assert sorted(s.order.number for s in stored) == sorted([first.code, second.code])
    references = [row["reference"] for row in tryton.sales()]
    assert sorted(references) == sorted([f"vendure:{first.code}", f"vendure:{second.code}"])
    assert vendure.stock(lamp.variant_id).saleable == 7
