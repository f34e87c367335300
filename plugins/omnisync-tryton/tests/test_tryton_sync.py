"""omnisync with a real Tryton as inventory source and books, and a simulated shop."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import SecretStr

from omnisync import AsyncOmnisync
from omnisync.adapters import ChannelContext
from omnisync.config import parse_config
from omnisync.sim import SimMarket
from omnisync_tryton import TrytonAdapter
from omnisync_tryton.testing import TrytonServer

pytestmark = pytest.mark.anyio
FAST = {"initial_wait": 0, "max_wait": 0, "jitter": 0, "max_attempts": 2}


def client(tmp_path, tryton: TrytonServer, shop: SimMarket) -> AsyncOmnisync:
    loaded = parse_config(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'omnisync.db'}"},
            # Tryton counts a shipment as it is done: nothing to wait for before settling.
            "engine": {"count_lag_seconds": 0},
            "locations": {"warehouse": {"source": "erp", "source_id": "WH"}},
            "channels": {
                "erp": {"adapter": "tryton", "settings": tryton.settings(), "retry": FAST},
                "shop": {"adapter": "sim", "retry": FAST},
            },
        },
        base_dir=tmp_path,
    )
    return AsyncOmnisync(loaded, transports={"shop": shop.transport()})


def shop_with(*skus: str) -> SimMarket:
    shop = SimMarket("shop")
    for sku in skus:
        shop.add_product(sku)
    return shop


async def test_counts_out_sales_in_and_shipments_back(tmp_path, tryton):
    tryton.add_product("LAMP", 10, price="49.00")
    shop = shop_with("LAMP")
    async with client(tmp_path, tryton, shop) as om:
        await om.sync()
        assert shop.shown("LAMP") == 10
        placed = shop.buy({"LAMP": 3})
        report = await om.sync()
        assert report.ok, (report.to_dict(), await om.dead_letters())
        reference = f"shop:{placed['number']}"
        sale = tryton.sale(reference)
        assert sale["state"] in ("confirmed", "processing")
        assert sale["currency."]["code"] == "EUR"
        assert sale["untaxed_amount"] == sum(
            Decimal(str(line["quantity"])) * line["unit_price"] for line in sale["line_values"]
        )
        # The shop charged 20 % on goods and none on shipping, as Tryton's categories do.
        assert sale["tax_amount"] == sum(Decimal(line["tax"]) for line in placed["lines"])
        assert sale["total_amount"] == Decimal(placed["total"])
        assert shop.shown("LAMP") == 7
        tryton.ship_sale(reference)
        await om.sync()  # Tryton's shipment reaches the shop as a fulfilment
        assert shop.orders[placed["id"]]["lines"][0]["fulfilled"] == 3
        await om.sync()  # the shop reports it shipped; Tryton's count shows the goods gone
        await om.sync()
        cell = (await om.stock_levels(["LAMP"]))["LAMP"]["warehouse"]
        again = await om.sync()
        letters = await om.dead_letters()
    assert not letters, letters
    assert (cell.on_hand, cell.held) == (7, 0)
    assert shop.shown("LAMP") == 7
    assert [s["reference"] for s in tryton.sales()] == [reference]  # recorded once
    assert len(shop.fulfilments) == 1
    assert again.ok and not again.channels["erp"].counts["documents"]


async def test_a_cancelled_order_cancels_its_sale_while_tryton_allows_it(tmp_path, tryton):
    tryton.add_product("LAMP", 10)  # a confirmed sale waits for the queue (see TrytonServer)
    shop = shop_with("LAMP")
    async with client(tmp_path, tryton, shop) as om:
        await om.sync()
        placed = shop.buy({"LAMP": 2})
        await om.sync()
        reference = f"shop:{placed['number']}"
        assert tryton.sale(reference)["state"] == "confirmed"
        shop.cancel(placed["id"])
        report = await om.sync()
        cell = (await om.stock_levels(["LAMP"]))["LAMP"]["warehouse"]
    assert report.ok, report.to_dict()
    assert tryton.sale(reference)["state"] == "cancelled"
    assert cell.held == 0
    assert shop.shown("LAMP") == 10


async def test_a_cancellation_tryton_no_longer_allows_is_reported(tmp_path, tryton):
    tryton.add_product("LAMP", 10)
    shop = shop_with("LAMP")
    async with client(tmp_path, tryton, shop) as om:
        await om.sync()
        placed = shop.buy({"LAMP": 2})
        await om.sync()
        reference = f"shop:{placed['number']}"
        tryton.process_sale(reference)  # shipments and invoice exist: too late to cancel
        shop.cancel(placed["id"])
        report = await om.sync()
        letters = await om.dead_letters()
    assert not report.ok
    assert [(d.kind, d.key) for d in letters] == [("document", f"shop:{placed['id']}")]
    assert "already processing" in letters[0].reason
    assert tryton.sale(reference)["state"] == "processing"


async def test_an_order_edited_on_the_shop_is_booked_again_and_holds_what_it_now_orders(
    tmp_path, tryton
):
    tryton.add_product("LAMP", 10)
    tryton.add_product("BULB", 10)
    shop = shop_with("LAMP", "BULB")
    async with client(tmp_path, tryton, shop) as om:
        await om.sync()
        placed = shop.buy({"LAMP": 3})
        await om.sync()
        reference = f"shop:{placed['number']}"
        booked = tryton.sale(reference)
        # The merchant takes two lamps off and adds two bulbs before anything ships.
        edited = shop.edit_order(placed["id"], {"LAMP": 1, "BULB": 2})
        report = await om.sync()
        cells = await om.stock_levels(["LAMP", "BULB"])
        letters = await om.dead_letters()
    assert report.ok and not letters, (report.to_dict(), letters)
    sale = tryton.sale(reference)
    assert (sale["id"], sale["state"]) == (booked["id"], "confirmed")
    lines = [(line["product."]["code"], line["quantity"]) for line in sale["line_values"]]
    assert sorted(lines) == [("BULB", 2.0), ("LAMP", 1.0), ("SHIPPING", 1.0)]
    assert sale["total_amount"] == Decimal(edited["total"])
    assert [s["reference"] for s in tryton.sales()] == [reference]
    assert (cells["LAMP"]["warehouse"].held, cells["BULB"]["warehouse"].held) == (1, 2)
    assert (shop.shown("LAMP"), shop.shown("BULB")) == (9, 8)


async def test_tryton_down_fails_its_channel_only_and_the_next_sync_converges(tmp_path, tryton):
    tryton.add_product("LAMP", 10)
    shop = shop_with("LAMP")
    async with client(tmp_path, tryton, shop) as om:
        await om.sync()
        placed = shop.buy({"LAMP": 1})
        tryton.stop()
        down = await om.sync()
        assert down.channels["erp"].errors
        assert not down.channels["shop"].errors
        assert down.channels["shop"].counts["orders_imported"] == 1
        tryton.start()
        await om.sync()
        await om.sync()
    assert [s["reference"] for s in tryton.sales()] == [f"shop:{placed['number']}"]
    assert shop.shown("LAMP") == 9


async def test_counts_after_the_first_are_read_for_the_products_that_moved(tryton):
    tryton.add_product("LAMP", 10)
    tryton.add_product("MUG", 4)
    adapter = TrytonAdapter(
        TrytonAdapter.Settings.model_validate(tryton.settings()), ChannelContext(name="erp")
    )
    first = [page async for page in adapter.pull_stock(None)]
    cursor = first[-1].checkpoint
    assert {(lv.sku, lv.on_hand) for p in first for lv in p.items} >= {("LAMP", 10), ("MUG", 4)}
    tryton.set_count("MUG", 6)
    later = [lv async for page in adapter.pull_stock(cursor) for lv in page.items]
    await adapter.aclose()
    assert [(lv.sku, lv.location, lv.on_hand) for lv in later] == [("MUG", "WH", 6)]


async def test_a_session_tryton_no_longer_knows_is_renewed(tryton):
    tryton.add_product("LAMP", 3)
    adapter = TrytonAdapter(
        TrytonAdapter.Settings.model_validate(tryton.settings()), ChannelContext(name="erp")
    )
    assert [lv async for page in adapter.pull_stock(None) for lv in page.items]
    adapter.rpc._session = SecretStr("YWRtaW46MTpleHBpcmVk")  # admin:1:expired
    levels = [lv async for page in adapter.pull_stock(None) for lv in page.items]
    await adapter.aclose()
    assert [(lv.sku, lv.on_hand) for lv in levels] == [("LAMP", 3)]
