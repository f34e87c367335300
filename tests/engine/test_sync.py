"""Whole syncs against the simulators, over the real HTTP client."""

import asyncio

import pytest

from omnisync._hookdata import OrderEvent, OrderEventKind
from omnisync.adapters import Capability
from omnisync.engine import _engine
from omnisync.engine._events import EVENT_RETENTION
from omnisync.errors import SignatureError
from omnisync.models import Fulfilment, FulfilmentLine, Money, Refund
from omnisync.sim import SoldOut
from omnisync.store import _schema as t
from tests.helpers import T0, order, refusing, world

pytestmark = pytest.mark.anyio


async def test_a_sync_pushes_counts_out_and_brings_orders_in(tmp_path):
    w = world(tmp_path, stock={"A": 5, "B": 2})
    async with w.client as om:
        report = await om.sync()
        assert report.ok
        assert (w.market().shown("A"), w.market().shown("B")) == (5, 2)
        w.market().buy({"A": 2})
        report = await om.sync()
        assert report.channels["shop"].counts["orders_imported"] == 1
        assert w.market().shown("A") == 3
        assert w.erp.sales  # the order became a sale in the ERP


async def test_a_second_sync_with_nothing_new_pushes_nothing(tmp_path):
    w = world(tmp_path, stock={"A": 5})
    async with w.client as om:
        await om.sync()
        report = await om.sync()
    counts = report.channels["shop"].counts
    assert counts["pushed"] == 0 and counts["push_calls"] == 0


async def test_two_channels_selling_the_last_unit_is_an_incident_and_the_later_is_held(tmp_path):
    w = world(tmp_path, stock={"LAST": 1}, markets=("shop", "market"))
    async with w.client as om:
        await om.sync()
        w.market("shop").buy({"LAST": 1})
        w.market("market").buy({"LAST": 1})
        report = await om.sync()
        [incident] = report.incidents
        assert incident.held == ["market:1001"]  # the later order, whichever came in first
        # The incident is the second import's; the channels' pages commit side by side.
        found_by = f"{incident.channel}:{incident.order_id}"
        assert {found_by, *incident.competing} == {"shop:1001", "market:1001"}
        held = await om.orders(held=True)
        assert [s.order.key for s in held] == [("market", "1001")]
        assert len(w.erp.sales) == 1  # the held order is not sent to the ERP
        assert (w.market("shop").shown("LAST"), w.market("market").shown("LAST")) == (0, 0)


async def test_pushes_respect_the_adapters_batch_limit(tmp_path):
    stock = {f"SKU-{n:03}": n for n in range(120)}
    w = world(tmp_path, stock=stock)
    async with w.client as om:
        report = await om.sync()
    assert report.channels["shop"].counts["pushed"] == 120
    assert w.market().calls["POST /inventory/batch"] == 3  # 50 + 50 + 20


async def test_a_bad_item_is_quarantined_and_the_rest_of_its_batch_lands(tmp_path):
    w = world(tmp_path, stock={"A": 5, "B": 3, "C": 1})
    w.market().refused["B"] = "listing is under review"
    async with w.client as om:
        report = await om.sync()
        assert report.channels["shop"].counts["pushed"] == 2
        letters = await om.dead_letters()
    assert [(d.kind, d.key) for d in letters] == [("stock_push", "B")]
    assert "listing is under review" in letters[0].reason
    assert w.market().shown("A") == 5 and w.market().shown("C") == 1


async def test_a_whole_batch_refused_is_split_until_the_bad_item_stands_alone(tmp_path):
    w = world(tmp_path, stock={f"S{n}": 1 for n in range(8)})
    with refusing(
        w.market(),
        "_inventory_batch",
        "S5 is locked",
        when=lambda request: b'"S5"' in request.content,
    ):
        async with w.client as om:
            report = await om.sync()
            letters = await om.dead_letters()
    assert report.channels["shop"].counts["pushed"] == 7
    assert [d.key for d in letters] == ["S5"]


async def test_one_channel_down_does_not_stop_the_others(tmp_path):
    w = world(tmp_path, stock={"A": 5}, markets=("shop", "market"))
    w.market("market").token = "rotated"  # our credentials no longer work there
    async with w.client as om:
        report = await om.sync()
    assert not report.ok
    assert report.failed == ["market"]
    assert "credentials" in report.channels["market"].errors[0]
    assert report.channels["shop"].ok
    assert w.market("shop").shown("A") == 5


async def test_rate_limits_and_server_errors_are_ridden_out(tmp_path):
    w = world(tmp_path, stock={"A": 5})
    w.market().faults.inject(429, 503, 500, "reset")
    async with w.client as om:
        report = await om.sync()
    assert report.ok
    assert report.channels["shop"].counts["http_retries"] == 4
    assert w.market().shown("A") == 5


async def test_truncated_json_from_the_channel_is_retried(tmp_path):
    w = world(tmp_path, stock={"A": 5})
    async with w.client as om:
        await om.sync()
        w.market().buy({"A": 1})
        w.market().faults.inject("truncate")
        report = await om.sync()
    assert report.ok
    assert report.channels["shop"].counts["orders_imported"] == 1


async def test_duplicate_and_out_of_order_reads_create_no_duplicates(tmp_path):
    w = world(tmp_path, stock={"A": 50})
    market = w.market()
    async with w.client as om:
        await om.sync()
        placed = [market.buy({"A": 1})["id"] for _ in range(5)]
        market.ship(placed[0])
        market.cancel(placed[1])
        market.stale_reads = market.duplicate_reads = True
        for _ in range(3):
            await om.sync()
        market.stale_reads = market.duplicate_reads = False
        await om.sync()
        orders = await om.orders()
        cells = await om.stock_levels(["A"])
    assert sorted(s.order.external_id for s in orders) == sorted(placed)
    assert cells["A"]["main"].held == 4  # 3 open + 1 shipped awaiting a count
    assert market.shown("A") == 46


async def test_an_overlapping_reread_imports_nothing_twice(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    async with w.client as om:
        await om.sync()
        w.market().buy({"A": 1})
        first = await om.sync()
        second = await om.sync()
    assert first.channels["shop"].counts["orders_imported"] == 1
    assert second.channels["shop"].counts["orders_imported"] == 0
    assert second.channels["shop"].counts["orders_unchanged"] == 1


async def test_a_malformed_order_is_quarantined_and_the_rest_of_the_page_imports(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    market = w.market()
    async with w.client as om:
        await om.sync()
        good = market.buy({"A": 1})
        bad = market.buy({"A": 1})
        market.orders[bad["id"]]["lines"][0]["quantity"] = -3
        market.orders[bad["id"]]["currency"] = "EURO"
        report = await om.sync()
        letters = await om.dead_letters()
        orders = await om.orders()
    assert not report.ok  # a partial failure: one record needs an operator
    assert report.channels["shop"].problems == 1
    assert report.channels["shop"].errors == []
    assert [s.order.external_id for s in orders] == [good["id"]]
    assert [(d.kind, d.key) for d in letters] == [("order", bad["id"])]
    assert "currency" in letters[0].reason
    assert letters[0].payload["id"] == bad["id"]  # kept whole for a retry


async def test_a_fixed_order_retried_from_dead_letters_imports(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    async with w.client as om:
        await om.sync()
        bad = w.market().buy({"A": 1})
        w.market().orders[bad["id"]]["lines"][0]["sku"] = "NEW"
        await om.sync()
        [letter] = await om.dead_letters()
        assert letter.kind == "unknown_sku"
        [outcome] = await om.retry_dead_letters()
        assert not outcome.ok and "still unknown" in outcome.message
        await om.set_stock("NEW", 4, "main", force=True)
        [outcome] = await om.retry_dead_letters()
        assert outcome.ok
        assert (await om.stock_levels(["NEW"]))["NEW"]["main"].held == 1
        assert await om.dead_letters() == []


async def test_fulfilments_reach_the_channel_once(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    async with w.client as om:
        await om.sync()
        placed = w.market().buy({"A": 2})
        await om.sync()
        w.market().faults.inject(503)  # the first attempt fails; the retry must not duplicate
        await om.fulfil(
            Fulfilment(
                channel="shop",
                order_id=placed["id"],
                lines=(FulfilmentLine(line_id="1", quantity=2),),
                carrier="DHL",
                tracking_number="123",
            )
        )
        await om.sync()
        held = (await om.stock_levels(["A"]))["A"]["main"].held
    assert len(w.market().fulfilments) == 1
    assert w.market().orders[placed["id"]]["lines"][0]["fulfilled"] == 2
    assert held == 2  # shipped, awaiting the ERP's count
    w.erp.ship("A", 2)
    async with world_client(w) as om:
        await om.sync()
        cell = (await om.stock_levels(["A"]))["A"]["main"]
    assert (cell.on_hand, cell.held) == (8, 0)


def world_client(w):
    from omnisync import AsyncOmnisync

    transports = {"erp": w.erp.transport(), **{n: m.transport() for n, m in w.markets.items()}}
    return AsyncOmnisync(w.client.config, transports=transports)


async def test_fulfilling_more_than_is_open_is_refused(tmp_path):
    from omnisync.errors import RecordError

    w = world(tmp_path, stock={"A": 10})
    async with w.client as om:
        await om.sync()
        placed = w.market().buy({"A": 1})
        await om.sync()
        with pytest.raises(RecordError, match="1 units left to ship"):
            await om.fulfil(
                Fulfilment(
                    channel="shop",
                    order_id=placed["id"],
                    lines=(FulfilmentLine(line_id="1", quantity=5),),
                )
            )


async def test_refunds_go_through_the_channel_once(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    async with w.client as om:
        await om.sync()
        placed = w.market().buy({"A": 1})
        await om.sync()
        w.market().faults.inject(500)
        done = await om.refund(
            Refund(
                channel="shop",
                order_id=placed["id"],
                amount=Money.of("5.00", "EUR"),
                reason="damaged",
            )
        )
    assert done.refund_id is not None
    assert len(w.market().refunds) == 1


async def test_returns_received_are_applied_once(tmp_path):
    from omnisync import AsyncOmnisync
    from omnisync.sim import SimMarket
    from tests.helpers import config

    market = SimMarket("shop")
    market.add_product("A")
    loaded = config(tmp_path, {"shop": {"adapter": "sim"}}, locations={"shelf": {}})
    async with AsyncOmnisync(loaded, transports={"shop": market.transport()}) as om:
        await om.set_stock("A", 5)
        await om.sync()
        placed = market.buy({"A": 2})
        market.ship(placed["id"])
        await om.sync()
        assert (await om.stock_levels(["A"]))["A"]["shelf"].on_hand == 3
        ret = market.request_return(placed["id"], "1", 1)
        await om.sync()
        assert (await om.stock_levels(["A"]))["A"]["shelf"].on_hand == 3
        market.receive_return(ret["id"])
        await om.sync()
        await om.sync()
        assert (await om.stock_levels(["A"]))["A"]["shelf"].on_hand == 4


async def test_webhooks_are_verified_deduplicated_and_applied(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    market = w.market()
    market.duplicate_webhooks = True
    async with w.client as om:
        await om.sync()
        market.drain_webhooks()
        market.buy({"A": 3})
        first, again = market.drain_webhooks()
        result = await om.handle_webhook("shop", *first)
        assert result.status == "accepted"
        assert (await om.handle_webhook("shop", *again)).status == "duplicate"
        assert (await om.stock_levels(["A"]))["A"]["main"].held == 3
        headers, body = first
        with pytest.raises(SignatureError):
            await om.handle_webhook(
                "shop", headers, body.replace(b'"quantity": 3', b'"quantity": 1')
            )
        forged = {**headers, "X-Sim-Hmac-Sha256": "AAAA"}
        with pytest.raises(SignatureError):
            await om.handle_webhook("shop", forged, body)


async def test_buying_more_than_a_channel_shows_is_impossible(tmp_path):
    w = world(tmp_path, stock={"A": 1}, channel_options={"shop": {"buffer": 1}})
    async with w.client as om:
        await om.sync()
    with pytest.raises(SoldOut):
        w.market().buy({"A": 1})


async def test_channel_rules_shape_what_each_channel_shows(tmp_path):
    w = world(
        tmp_path,
        stock={"A": 20},
        markets=("shop", "market", "pos"),
        channel_options={
            "shop": {"buffer": 2},
            "market": {"percentage": 50, "max_quantity": 8},
            "pos": {"zero_below": 25},
        },
    )
    async with w.client as om:
        await om.sync()
        explained = await om.availability("A")
    assert [w.market(n).shown("A") for n in ("shop", "market", "pos")] == [18, 8, 0]
    assert [s.rule for s in explained["market"].steps] == ["50% of available", "at most 8"]


async def test_bundles_derive_from_components_everywhere(tmp_path):
    w = world(tmp_path, stock={"A": 5, "B": 6}, bundles={"KIT": {"A": 1, "B": 2}})
    async with w.client as om:
        await om.sync()
        assert w.market().shown("KIT") == 3
        w.market().buy({"KIT": 2})
        await om.sync()
    assert (w.market().shown("A"), w.market().shown("B"), w.market().shown("KIT")) == (3, 2, 1)


async def test_webhooks_arriving_out_of_order_leave_the_newest_state(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    market = w.market()
    async with w.client as om:
        await om.sync()
        market.drain_webhooks()
        placed = market.buy({"A": 2})
        market.cancel(placed["id"])
        created, cancelled = market.drain_webhooks()
        assert (await om.handle_webhook("shop", *cancelled)).status == "accepted"
        result = await om.handle_webhook("shop", *created)
        assert result.counts == {"orders_stale": 1}
        [stored] = await om.orders()
        assert stored.order.is_cancelled
        assert (await om.stock_levels(["A"]))["A"]["main"].held == 0


async def test_a_sale_made_before_a_push_is_not_taken_off_twice(tmp_path):
    w = world(tmp_path, stock={"A": 5})
    async with w.client as om:
        await om.sync()
        w.erp.set("A", 4)  # a damaged unit written off
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        w.market().buy({"A": 1})  # sold after omnisync read the orders, before it pushed
        await om.engine.run_step("shop", Capability.PUSH_STOCK)
        await om.sync()  # imports the sale
        await om.sync()
        sellable = (await om.availability("A"))["shop"].quantity
    assert sellable == 3
    assert w.market().shown("A") == 3


async def test_a_channels_own_sale_costs_its_next_push_no_second_request(tmp_path):
    # The channel took the units off itself: its compare-and-set answers stale, showing what
    # omnisync now wants anyway, so nothing is sent again.
    w = world(tmp_path, stock={"A": 5, "B": 3})
    async with w.client as om:
        await om.sync()
        w.market().buy({"A": 1, "B": 2})
        before = len(w.market().stock_batches())
        report = await om.sync()
        assert len(w.market().stock_batches()) == before + 1
        assert (w.market().shown("A"), w.market().shown("B")) == (4, 1)
        assert report.channels["shop"].counts["pushed"] == 2
        again = await om.sync()  # what the channel shows is what omnisync wants: settled
    assert again.channels["shop"].counts["push_calls"] == 0


async def test_a_sale_a_stale_push_took_in_never_lets_a_later_push_overwrite_one(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    async with w.client as om:
        await om.sync()
        w.erp.set("A", 12)
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        w.market().buy({"A": 1})  # sold after omnisync read the orders, before it pushed
        await om.engine.run_step("shop", Capability.PUSH_STOCK)  # meets it: stale, sets 11
        await om.engine.run_step("shop", Capability.PULL_ORDERS)
        w.market().buy({"A": 1})  # not imported yet when the next push goes
        await om.engine.run_step("shop", Capability.PUSH_STOCK)
    assert w.market().shown("A") <= 10  # 12 counted, 2 sold


async def test_an_order_first_seen_cancelled_never_lets_a_push_overwrite_a_sale(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    async with w.client as om:
        await om.sync()
        placed = w.market().buy({"A": 2})
        w.market().cancel(placed["id"])  # the channel puts the units back
        await om.engine.run_step("shop", Capability.PULL_ORDERS)
        w.market().buy({"A": 2})  # not imported yet when the push goes
        await om.engine.run_step("shop", Capability.PUSH_STOCK)
    assert w.market().shown("A") <= 8


async def test_a_channel_capped_below_stock_shows_the_cap_again_after_a_sale(tmp_path):
    w = world(tmp_path, stock={"A": 20}, channel_options={"shop": {"max_quantity": 5}})
    async with w.client as om:
        await om.sync()
        w.market().buy({"A": 2})
        for _ in range(2):
            await om.sync()
    assert w.market().shown("A") == 5


async def test_a_shipment_the_source_counted_before_the_channel_reported_it_settles(tmp_path):
    w = world(tmp_path, stock={"A": 5}, engine={"count_lag_seconds": 0})
    async with w.client as om:
        await om.sync()
        placed = w.market().buy({"A": 1})
        await om.sync()
        w.erp.ship("A", 1)  # the warehouse ships and the ERP counts 4 ...
        w.market().ship(placed["id"])  # ... then the merchant marks the order shipped
        for _ in range(2):
            await om.sync()
        cell = (await om.stock_levels(["A"]))["A"]["main"]
    assert (cell.on_hand, cell.held) == (4, 0)
    assert w.market().shown("A") == 4


async def test_until_the_source_lag_has_passed_a_shipment_keeps_holding_stock(tmp_path):
    w = world(tmp_path, stock={"A": 5}, engine={"count_lag_seconds": 3600})
    async with w.client as om:
        await om.sync()
        placed = w.market().buy({"A": 1})
        await om.sync()
        w.market().ship(placed["id"])  # reported shipped; the ERP has not counted it yet
        await om.sync()
        cell = (await om.stock_levels(["A"]))["A"]["main"]
    assert (cell.on_hand, cell.held) == (5, 1)


async def test_many_quarantined_documents_do_not_stop_later_orders_reaching_the_erp(tmp_path):
    w = world(tmp_path, stock={"A": 500})
    async with w.client as om:
        await om.sync()
        for _ in range(105):
            w.market().buy({"A": 1})
        with refusing(w.erp, "_find_sales", "the sales ledger is locked"):
            await om.sync()
        assert len(await om.dead_letters()) == 105
        last = w.market().buy({"A": 1})
        report = await om.sync()
    assert report.channels["erp"].counts["documents"] == 1
    assert [s["reference"] for s in w.erp.sales.values()] == [f"shop:#{last['id']}"]


async def test_a_quarantined_customer_is_pushed_again_after_a_retry(tmp_path):
    w = world(tmp_path, stock={"A": 5})
    async with w.client as om:
        await om.sync()
        w.market().buy({"A": 1})
        with refusing(w.erp, "_find_customers", "customer service is down"):
            await om.sync()
        [letter] = await om.dead_letters()
        assert letter.kind == "customer"
        assert not w.erp.customers
        await om.retry_dead_letters()
        await om.sync()
    assert len(w.erp.customers) == 1


async def test_a_lock_another_sync_takes_is_noticed_and_its_channel_left_alone(tmp_path):
    from omnisync._time import utcnow
    from omnisync.engine._locks import ChannelLocks

    w = world(tmp_path, stock={"A": 5})
    async with w.client as om:
        locks = ChannelLocks(om.store, "me", ttl=60)
        await locks.acquire(["shop", "erp"], wait=False)
        with om.store.transaction() as tx:  # our lock expired while we stalled; another took it
            tx.acquire_lock("channel:shop", "other", 60, utcnow(), take_from="me")
        locks.renew()
        assert locks.lost == {"shop": "other"}
        assert locks.held == ["erp"]
        locks.release()


async def test_a_quantity_edited_in_the_channel_is_pushed_back(tmp_path):
    w = world(tmp_path, stock={"A": 7})
    market = w.market()
    async with w.client as om:
        await om.sync()
        market.drain_webhooks()
        market.edit_quantity("A", 40)  # someone typed a number into the channel's admin
        [delivery] = market.drain_webhooks()
        await om.handle_webhook("shop", *delivery)
        report = await om.sync()
    assert report.channels["shop"].counts["pushed"] == 1
    assert market.shown("A") == 7


async def test_an_order_deleted_on_the_channel_releases_its_stock(tmp_path):
    w = world(tmp_path, stock={"A": 7})
    market = w.market()
    async with w.client as om:
        await om.sync()
        placed = market.buy({"A": 3})
        await om.sync()
        market.drain_webhooks()
        market.delete(placed["id"])
        [delivery] = market.drain_webhooks()
        await om.handle_webhook("shop", *delivery)
        [stored] = await om.orders()
        held = (await om.stock_levels(["A"]))["A"]["main"].held
    assert stored.order.is_cancelled
    assert stored.order.cancel_reason == "deleted on the channel"
    assert held == 0


async def test_a_shipment_made_in_the_erp_reaches_the_orders_channel_once(tmp_path):
    # The ERP counts its own shipments at once: no lag to wait out before settling them.
    w = world(
        tmp_path,
        stock={"A": 10, "B": 5},
        markets=("shop", "market"),
        engine={"count_lag_seconds": 0},
    )
    async with w.client as om:
        await om.sync()
        first = w.market().buy({"A": 2, "B": 1})
        other = w.market("market").buy({"A": 1})
        await om.sync()  # imported, and recorded as sales in the ERP
        reference = f"shop:{first['number']}"
        w.erp.ship_sale(reference, tracking="JD0001")
        report = await om.sync()
        assert report.channels["erp"].counts["shipments"] == 1, report.to_dict()
        again = await om.sync()
        assert not again.channels["erp"].counts["shipments"]
        shipped = w.market().orders[first["id"]]
        assert [line["fulfilled"] for line in shipped["lines"]] == [2, 1]
        assert [f["tracking_number"] for f in w.market().fulfilments.values()] == ["JD0001"]
        assert w.market("market").orders[other["id"]]["lines"][0]["fulfilled"] == 0
        await om.sync()  # the ERP's counts, confirmed after the shipment: nothing holds it now
        cells = await om.stock_levels(["A", "B"])
    assert (cells["A"]["main"].on_hand, cells["A"]["main"].held) == (8, 1)
    assert (cells["B"]["main"].on_hand, cells["B"]["main"].held) == (4, 0)


async def test_a_shipment_for_no_known_order_is_quarantined(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    async with w.client as om:
        await om.sync()
        lines = [{"sku": "A", "quantity": 1}]
        w.erp.sales["S9"] = {"id": "S9", "reference": "shop:#404", "lines": lines}
        shipment = w.erp.ship_sale("shop:#404")
        report = await om.sync()
        letters = await om.dead_letters()
    assert report.channels["erp"].counts["shipments_quarantined"] == 1
    assert [(d.kind, d.key) for d in letters] == [("shipment", shipment["id"])]
    assert "names no order omnisync imported" in letters[0].reason


async def test_two_syncs_of_one_process_never_work_a_channel_at_once(tmp_path):
    w = world(tmp_path, stock={"A": 10})
    w.market().faults.latency = 0.2
    async with w.client as om:
        first, second = await asyncio.gather(om.sync(["shop"]), om.sync(["shop"]))
    busy = [report.channels["shop"].busy for report in (first, second)]
    assert sum(reason is not None for reason in busy) == 1, busy


async def test_events_older_than_their_retention_are_pruned_now_and_then(tmp_path, monkeypatch):
    w = world(tmp_path, stock={"A": 5})

    def events(om):
        with om.store.reading() as tx:
            return len(tx.conn.execute(t.events.select()).all())

    def old_event(om):
        stale = T0 - EVENT_RETENTION  # T0 is in the past already
        with om.store.transaction() as tx:
            tx.add_event(OrderEvent(kind=OrderEventKind.IMPORTED, order=order("x")), stale)

    async with w.client as om:
        old_event(om)
        await om.sync()
        assert events(om) == 0
        old_event(om)
        await om.sync()  # pruned a moment ago: not yet again
        assert events(om) == 1
        monkeypatch.setattr(_engine, "PRUNE_EVERY", 0.0)
        await om.sync()
        assert events(om) == 0
