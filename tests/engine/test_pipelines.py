"""Pushing batches side by side and recording them while the next go out; pulling the next
page while the last one commits."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from omnisync._tasks import cancel_and_wait, in_thread
from omnisync.adapters import Capability, Limits, Page, RateLimit
from omnisync.engine import _push
from omnisync.errors import StoreError, TransientError
from omnisync.sim._adapters import SimMarketAdapter
from tests.helpers import FAST, T0, refusing, world

pytestmark = pytest.mark.anyio

STOCK = {f"S{n}": 10 + n for n in range(9)}


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch):
    """Stock pushes of two items each, and the most the channel had out at once."""
    seen = {"now": 0, "most": 0}
    original = SimMarketAdapter.push_stock

    async def push_stock(self, updates):
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        try:
            await asyncio.sleep(0.01)  # a round trip: others may go out meanwhile
            if any(update.sku == seen.get("refuse") for update in updates):
                raise TransientError("the channel is down", channel=self.channel)
            return await original(self, updates)
        finally:
            seen["now"] -= 1

    monkeypatch.setattr(SimMarketAdapter, "push_stock", push_stock)
    return seen


def _limits(monkeypatch: pytest.MonkeyPatch, concurrency: int) -> None:
    limits = Limits(
        stock_batch_size=2,
        push_concurrency=concurrency,
        rate_limit=RateLimit(rate=1000, burst=1000),
    )
    monkeypatch.setattr(SimMarketAdapter, "limits", limits)


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_no_more_pushes_are_out_than_the_channel_allows_and_all_are_recorded(
    tmp_path, monkeypatch, in_flight, concurrency
):
    _limits(monkeypatch, concurrency)
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        report = await om.sync()
        with om.store.reading() as tx:
            acknowledged = {sku: ack.quantity for sku, ack in tx.acknowledged("shop").items()}
    assert report.channels["shop"].counts["push_calls"] == 5
    assert in_flight["most"] == concurrency
    assert acknowledged == STOCK
    assert {sku: w.market().shown(sku) for sku in STOCK} == STOCK


async def test_a_failed_batch_stops_the_push_and_leaves_nothing_running(
    tmp_path, monkeypatch, in_flight
):
    _limits(monkeypatch, 3)
    in_flight["refuse"] = "S4"
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        before = asyncio.all_tasks()
        report = (await om.sync()).channels["shop"]
        left = [repr(task) for task in asyncio.all_tasks() - before if not task.done()]
        with om.store.reading() as tx:
            acknowledged = set(tx.acknowledged("shop"))
        in_flight["refuse"] = None
        await om.sync()  # the next sync pushes what is left
    assert report.errors and "down" in report.errors[0]
    assert left == []
    assert in_flight["now"] == 0
    assert "S4" not in acknowledged
    assert {sku: w.market().shown(sku) for sku in STOCK} == STOCK


async def test_cancelled_work_in_a_thread_is_waited_for():
    ended = threading.Event()

    def work() -> None:
        time.sleep(0.2)
        ended.set()

    task = asyncio.ensure_future(in_thread(work))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ended.is_set()


async def test_a_task_stopped_is_waited_for_even_when_the_wait_is_cancelled():
    cleaned = []

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(0.05)  # letting go of what it holds takes a while
            cleaned.append(True)

    task = asyncio.ensure_future(work())
    await asyncio.sleep(0)
    stopping = asyncio.ensure_future(cancel_and_wait(task))
    await asyncio.sleep(0.01)
    stopping.cancel()  # the one waiting is cancelled meanwhile
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert cleaned == [True]
    assert task.cancelled()


async def test_a_change_made_while_the_rate_limit_holds_the_push_goes_out_with_it(
    tmp_path, monkeypatch
):
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        await om.sync()
        adapter = om.engine.adapter("shop")
        original = type(adapter).ready

        async def ready(self):
            await original(self)
            # The channel's limit let the push through only now; a count lands meanwhile.
            w.erp.set("S1", 3, "WH1")
            await om.engine.run_step("erp", Capability.PULL_STOCK)

        monkeypatch.setattr(type(adapter), "ready", ready)
        w.erp.set("S0", 1, "WH1")
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        report = await om.engine.run_step("shop", Capability.PUSH_STOCK)
    assert report.counts["push_calls"] == 1
    assert (w.market().shown("S0"), w.market().shown("S1")) == (1, 3)


async def test_batches_recorded_before_another_failed_are_counted(tmp_path, monkeypatch):
    _limits(monkeypatch, 3)
    original = _push._record
    original_push = SimMarketAdapter.push_stock

    async def slow_push(self, updates):
        await asyncio.sleep(0.02)
        return await original_push(self, updates)

    def record(ctx, channel, outcomes, seen):
        if any(update.sku == "S2" for update, _ in outcomes):
            raise StoreError("the disk is full")
        return original(ctx, channel, outcomes, seen)

    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        await om.sync()  # pushed in full once: the next push is planned from the changes
        for sku, quantity in STOCK.items():
            w.erp.set(sku, quantity - 5, "WH1")
        monkeypatch.setattr(SimMarketAdapter, "push_stock", slow_push)
        monkeypatch.setattr(_push, "_record", record)
        report = (await om.sync()).channels["shop"]
        checked_out = om.store.engine.pool.checkedout()
        with om.store.reading() as tx:
            pending = set(tx.pending("shop"))
    assert report.errors and "disk is full" in report.errors[0]
    assert checked_out == 0
    assert "S2" in pending
    assert report.counts["pushed"] == len(set(STOCK) - pending)


async def test_a_long_push_sends_its_first_batch_while_the_rest_is_still_planned(
    tmp_path, monkeypatch, in_flight
):
    _limits(monkeypatch, 1)
    monkeypatch.setattr(_push, "_SLICE", 3)
    original = _push._plan
    planned = []
    first_sent = threading.Event()

    def plan(*args, **kwargs):
        if planned:  # every slice after the first waits (in its thread) for the first batch
            planned.append(first_sent.wait(timeout=5))
        else:
            planned.append(True)
        return original(*args, **kwargs)

    original_push = SimMarketAdapter.push_stock

    async def push_stock(self, updates):
        first_sent.set()
        return await original_push(self, updates)

    monkeypatch.setattr(_push, "_plan", plan)
    monkeypatch.setattr(SimMarketAdapter, "push_stock", push_stock)
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        report = await om.sync()
    assert len(planned) == 4  # 2 SKUs (one batch), then 3, 3 and 1
    assert all(planned)  # none of the later slices had to wait long for the first batch
    assert report.channels["shop"].counts["push_calls"] == 5
    assert {sku: w.market().shown(sku) for sku in STOCK} == STOCK


async def test_a_slice_that_cannot_be_planned_stops_the_push_and_keeps_what_is_owed(
    tmp_path, monkeypatch, in_flight
):
    _limits(monkeypatch, 3)
    monkeypatch.setattr(_push, "_SLICE", 3)
    original = _push._plan

    def plan(tx, ctx, channel, scope, skus, **kwargs):
        if "S5" in skus:
            raise StoreError("the disk is full")
        return original(tx, ctx, channel, scope, skus, **kwargs)

    w = world(tmp_path, stock=STOCK)
    changed = {sku: quantity - 5 for sku, quantity in STOCK.items()}
    async with w.client as om:
        await om.sync()  # pushed in full once: the next push is planned from the changes
        for sku, quantity in changed.items():
            w.erp.set(sku, quantity, "WH1")
        monkeypatch.setattr(_push, "_plan", plan)
        before = asyncio.all_tasks()
        report = (await om.sync()).channels["shop"]
        left = [repr(task) for task in asyncio.all_tasks() - before if not task.done()]
        shown = {sku: w.market().shown(sku) for sku in STOCK}
        with om.store.reading() as tx:
            pending = set(tx.pending("shop"))
        monkeypatch.setattr(_push, "_plan", original)
        await om.sync()  # the next sync pushes what is left
    assert report.errors and "disk is full" in report.errors[0]
    assert left == [] and in_flight["now"] == 0
    assert {sku for sku in STOCK if shown[sku] != changed[sku]} <= pending
    assert {"S5", "S6", "S7", "S8"} <= pending  # never planned: still owed
    assert {sku: w.market().shown(sku) for sku in STOCK} == changed


async def test_batches_are_full_across_slices_whatever_a_slice_leaves_out(
    tmp_path, monkeypatch, in_flight
):
    _limits(monkeypatch, 1)
    monkeypatch.setattr(_push, "_SLICE", 3)
    sent = []
    original_push = SimMarketAdapter.push_stock

    async def push_stock(self, updates):
        sent.append([update.sku for update in updates])
        return await original_push(self, updates)

    monkeypatch.setattr(SimMarketAdapter, "push_stock", push_stock)
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        # The channel already shows every other SKU as omnisync would: nothing to send.
        with om.store.transaction() as tx:
            tx.acknowledge("shop", {sku: STOCK[sku] for sku in ("S1", "S3", "S5", "S7")}, T0)
        report = await om.sync()
    assert sent == [["S0", "S2"], ["S4", "S6"], ["S8"]]
    assert report.channels["shop"].counts["push_calls"] == 3


async def test_a_pull_ends_at_its_last_checkpoint_rather_than_the_newest_change_seen(
    tmp_path, monkeypatch
):
    """Pages that do not run in order of change (a bulk export, read over minutes) end with a
    checkpoint: the cursor goes there, not to the newest change among them."""
    original = SimMarketAdapter.pull_orders

    async def unordered(self, since):
        read = []
        async for page in original(self, since):
            read.extend(page.items)
            yield Page(page.items[::-1], page.rejects)
        if read:
            yield Page([], checkpoint=min(order.updated_at for order in read))

    w = world(tmp_path, stock={"A": 100})
    async with w.client as om:
        await om.sync()  # the channel shows the stock; no order yet, so no cursor
        for _ in range(3):
            w.market().buy({"A": 1})
        monkeypatch.setattr(SimMarketAdapter, "pull_orders", unordered)
        report = await om.sync()
        stored = sorted(s.order.updated_at for s in await om.orders())
        with om.engine.ctx.store.reading() as tx:
            cursor = tx.cursor("shop", "orders")
    assert report.ok, report.to_dict()
    assert len(stored) == 3 and stored[0] < stored[-1]
    assert cursor == stored[0]  # the checkpoint: the oldest order of the pull


async def test_a_page_committed_before_the_next_failed_is_kept_and_counted(tmp_path):
    w = world(
        tmp_path,
        stock={"A": 100},
        channel_options={"shop": {"settings": {**FAST, "page_size": 2}}},
    )
    second_page = lambda request: "cursor" in request.url.params  # noqa: E731
    async with w.client as om:
        await om.sync()  # the channel shows the stock
        for _ in range(5):
            w.market().buy({"A": 1})
        with refusing(
            w.market(), "_list_orders", "the listing broke", status=400, when=second_page
        ):
            before = asyncio.all_tasks()
            report = (await om.sync()).channels["shop"]
            left = [repr(task) for task in asyncio.all_tasks() - before if not task.done()]
        stored = await om.orders()
        again = (await om.sync()).channels["shop"]
    assert report.errors and "listing broke" in report.errors[0]
    assert left == []
    assert report.counts["orders_imported"] == 2 == len(stored)  # the first page, counted
    assert again.counts["orders_imported"] == 3  # the rest, once the channel answers again
