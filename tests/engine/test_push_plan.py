"""Planning a push from the changes since the last one, not from the whole catalogue."""

from __future__ import annotations

import pytest

from omnisync._time import utcnow
from omnisync.adapters import Capability
from omnisync.engine import _push
from omnisync.engine._counts import apply_count
from omnisync.engine._push import plan_push, plan_pushes
from omnisync.errors import StoreError
from omnisync.store import Transaction
from omnisync.store import _schema as t
from tests.helpers import T0, world

pytestmark = pytest.mark.anyio

STOCK = {"A": 10, "B": 10, "C": 10, "D": 10}


def plan(om, channel="shop"):
    return plan_push(om.engine.ctx, om.engine.ctx.channels[channel])


async def test_after_a_full_push_only_changed_skus_are_looked_at(tmp_path):
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        await om.engine.run_step("shop", Capability.PULL_LISTINGS)
        first = plan(om)
        assert first.full is not None  # never pushed: every sellable SKU
        assert {u.sku for u in first.updates} == set(STOCK)
        await om.sync()
        assert plan(om).updates == [] and plan(om).seen == {}
        w.erp.set("B", 7, "WH1")
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        second = plan(om)
    assert second.full is None
    assert set(second.seen) == {"B"}  # A, C and D were not even read
    assert [(u.sku, u.quantity, u.previous) for u in second.updates] == [("B", 7, 10)]


async def test_a_component_change_plans_the_bundles_made_of_it(tmp_path):
    w = world(tmp_path, stock=STOCK, bundles={"KIT": {"A": 1, "C": 2}})
    async with w.client as om:
        await om.sync()
        w.market().buy({"A": 3})
        await om.sync()  # imports the sale (A reserved) and pushes A and KIT
        assert w.market().shown("KIT") == 5
        assert w.market().shown("A") == 7
        w.erp.set("C", 2, "WH1")
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        planned = plan(om)
    assert {u.sku: u.quantity for u in planned.updates} == {"C": 2, "KIT": 1}


async def test_a_change_of_rules_plans_every_sku_again(tmp_path):
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        await om.sync()
        with om.store.transaction() as tx:  # as if pushed from other rules
            tx.set_push_plan("shop", "0" * 64, T0, complete=True)
        planned = plan(om)
    assert planned.full is not None
    assert planned.updates == []  # looked at everything, and nothing differs


async def test_a_full_push_cut_short_is_planned_in_full_again(tmp_path):
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        planned = plan(om)
        with om.store.transaction() as tx:  # started (written before reading stock), not done
            tx.set_push_plan("shop", planned.full, T0, complete=False)
        assert plan(om).full is not None


async def test_a_change_while_the_push_is_out_stays_pending(tmp_path):
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        await om.sync()
        w.erp.set("A", 8, "WH1")
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        market = w.market()
        original = market._inventory_batch

        def count_lands_meanwhile(request, **groups):
            answer = original(request, **groups)
            if market.shown("A") == 8:  # the push of 8 is in; a new count lands in omnisync
                now = utcnow()
                with om.store.transaction() as tx:
                    apply_count(tx, "A", "main", 5, now, source="erp", now=now)
            return answer

        market._routes = [
            (m, p, count_lands_meanwhile if h == original else h) for m, p, h in market._routes
        ]
        await om.engine.run_step("shop", Capability.PUSH_STOCK)
        assert market.shown("A") == 8
        assert "A" in plan(om).seen  # the push did not clear the change it never saw
        await om.engine.run_step("shop", Capability.PUSH_STOCK)
    assert market.shown("A") == 5


async def test_what_a_channel_did_not_take_stays_pending(tmp_path):
    w = world(tmp_path, stock=STOCK, channel_options={"shop": {"max_quantity": 5}})
    async with w.client as om:
        await om.sync()
        w.erp.set("A", 4)
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        w.market().buy({"A": 2})  # the channel shows 3 of its 5; omnisync has not seen it
        await om.engine.run_step("shop", Capability.PUSH_STOCK)
        assert w.market().shown("A") == 3  # found 3 left there and set no more than that
        assert "A" in plan(om).seen
        await om.sync()
    assert w.market().shown("A") == 2  # 4 counted, 2 sold


async def test_a_product_omnisync_does_not_know_is_left_as_the_channel_shows_it(tmp_path):
    w = world(tmp_path, stock=STOCK, products=(*STOCK, "THEIRS"))
    async with w.client as om:
        w.market().products["THEIRS"].quantity = 5  # the channel's own stock, not omnisync's
        await om.sync()
        w.market().buy({"THEIRS": 1, "A": 1})
        await om.sync()
        await om.sync()
    assert w.market().shown("THEIRS") == 4
    assert w.market().shown("A") == 9


async def test_bundles_of_a_changed_component_stay_owed_until_pushed(tmp_path):
    w = world(tmp_path, stock=STOCK, bundles={"KIT": {"A": 1, "C": 2}})
    async with w.client as om:
        await om.sync()
        w.erp.set("A", 3, "WH1")
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        planned = plan(om)
        with om.store.reading() as tx:
            pending = tx.pending("shop")
    assert {u.sku for u in planned.updates} == {"A", "KIT"}
    assert {"A", "KIT"} <= pending.keys()  # the bundle is owed on its own account


async def test_a_change_while_the_bundles_are_marked_is_not_lost(tmp_path, monkeypatch):
    # The push's first look finds KIT owed (A changed) and marks it pending; counts of A and
    # B land in that very transaction, after the look read A. The push sends A and KIT from
    # the stock it reads next; B, which it never looked at, stays pending for the next push.
    w = world(tmp_path, stock=STOCK, bundles={"KIT": {"A": 1, "C": 2}})
    async with w.client as om:
        await om.sync()
        w.erp.set("A", 3, "WH1")
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        marking, landed = Transaction.mark_pending, []

        def counts_land_meanwhile(tx, skus, channels=None):
            marking(tx, skus, channels)
            if set(skus) == {"KIT"} and not landed:
                landed.append(True)
                now = utcnow()
                for sku, quantity in (("A", 4), ("B", 6)):
                    apply_count(tx, sku, "main", quantity, now, source="erp", now=now)

        monkeypatch.setattr(Transaction, "mark_pending", counts_land_meanwhile)
        await om.engine.run_step("shop", Capability.PUSH_STOCK)
        monkeypatch.undo()
        assert landed
        assert (w.market().shown("A"), w.market().shown("KIT")) == (4, 4)
        assert w.market().shown("B") == 10
        with om.store.reading() as tx:
            # B was never looked at; A's change came after the version the look read, so the
            # next push looks at A again (and finds it shown as it should be).
            assert tx.pending("shop").keys() == {"A", "B"}
        await om.engine.run_step("shop", Capability.PUSH_STOCK)
        assert w.market().shown("B") == 6
        with om.store.reading() as tx:
            assert tx.pending("shop") == {}


async def test_retrying_a_quarantined_push_makes_the_next_push_look_at_it(tmp_path):
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        await om.sync()
        with om.store.transaction() as tx:  # quarantined by an earlier omnisync, say
            tx.quarantine("shop", "stock_push", "B", "refused", {"sku": "B"}, T0)
            tx.conn.execute(t.acknowledged.update().values(quantity=99))
        assert "B" not in plan(om).seen
        [outcome] = await om.retry_dead_letters()
        assert outcome.ok
        await om.engine.run_step("shop", Capability.PUSH_STOCK)
    assert w.market().shown("B") == 10


async def test_a_channel_no_longer_configured_stops_collecting_changes(tmp_path):
    w = world(tmp_path, stock=STOCK)
    async with w.client as om:
        with om.store.transaction() as tx:
            tx.set_push_plan("gone", "0" * 64, T0, complete=True)
            tx.mark_pending(["A"])
        await om.sync()
        with om.store.reading() as tx:
            assert tx.push_plan("gone") is None
            assert tx.pending("gone") == {}


RULES = {"shop": {"buffer": 2}, "market": {"percentage": 50}, "pos": {"max_quantity": 6}}


def together(tmp_path):
    """Three channels with rules of their own, selling a bundle too."""
    return world(
        tmp_path,
        stock=STOCK,
        markets=tuple(RULES),
        channel_options=RULES,
        bundles={"KIT": {"A": 1, "C": 2}},
    )


def reads(monkeypatch):
    """The store's reads of stock and of what channels acknowledged, from now on, by name."""
    found = {"stock_cells": 0, "acknowledged": 0, "acknowledged_by": 0}

    def counting(name):
        original = getattr(Transaction, name)

        def counted(self, *args, **kwargs):
            found[name] += 1
            return original(self, *args, **kwargs)

        return counted

    for name in found:
        monkeypatch.setattr(Transaction, name, counting(name))
    return found


def shown(w):
    return {name: {sku: w.market(name).shown(sku) for sku in (*STOCK, "KIT")} for name in RULES}


async def counted(w, om, **counts):
    """Every channel pushed once, then ``counts`` counted at the ERP and pulled."""
    await om.sync()
    for sku, quantity in counts.items():
        w.erp.set(sku, quantity, "WH1")
    await om.engine.run_step("erp", Capability.PULL_STOCK)


def after_the_look(monkeypatch, om, write):
    """``write(tx)`` lands just after the next pushes have looked at their changes."""
    looked = _push._look

    def lands_after_the_look(ctx, channels):
        scopes = looked(ctx, channels)
        with om.store.transaction() as tx:
            write(tx)
        return scopes

    monkeypatch.setattr(_push, "_look", lands_after_the_look)


def count_after_the_look(monkeypatch, om, sku, quantity):
    """A count of ``sku`` lands just after the next pushes have looked at their changes."""
    now = utcnow()

    def count(tx):
        apply_count(tx, sku, "main", quantity, now, source="erp", now=now)

    after_the_look(monkeypatch, om, count)


async def push_all(om):
    report = await om.engine.sync(list(RULES), only={Capability.PUSH_STOCK})
    assert not any(channel.errors for channel in report.channels.values())


async def test_what_a_channel_is_planned_from_reads_the_same_across_versions(tmp_path):
    # Stores keep the fingerprint each channel was last pushed in full from. Should the same
    # configuration give another one, every channel's next push would plan the whole
    # catalogue again after an upgrade: change it only on purpose, and say so.
    w = together(tmp_path)
    async with w.client as om:
        ctx = om.engine.ctx
        found = {name: _push.plan_fingerprint(ctx, ctx.channels[name]) for name in RULES}
    assert found == {
        "shop": "aec1bd6c03805e889e5c6ab1a2f3e284696bbcacd077984cdb8d14708bfdf28d",
        "market": "bc8f8216277973f52eb9a3e9aee94d66314507c684d3929e3395eafd6f630ea2",
        "pos": "ed3a8a7f5e19001997c01376db2efa44ff6fcc985fe7247f4a9c3269e4dad8cf",
    }


async def test_channels_planned_together_get_what_each_would_alone(tmp_path, monkeypatch):
    w = together(tmp_path)
    async with w.client as om:
        await om.sync()
        w.erp.set("A", 4, "WH1")
        w.erp.set("D", 1, "WH1")
        w.market("market").buy({"C": 3})
        await om.engine.run_step("erp", Capability.PULL_STOCK)
        await om.engine.run_step("market", Capability.PULL_ORDERS)
        channels = [om.engine.ctx.channels[name] for name in RULES]
        alone = {channel.name: plan(om, channel.name) for channel in channels}
        read = reads(monkeypatch)
        planned = plan_pushes(om.engine.ctx, channels)
    # One read of the changed SKUs' stock, and of what the channels acknowledged, for them all.
    assert read == {"stock_cells": 1, "acknowledged": 0, "acknowledged_by": 1}
    assert {name: p.seen for name, p in planned.items()} == {n: p.seen for n, p in alone.items()}
    assert planned == alone
    assert {u.sku: u.quantity for u in planned["shop"].updates} == {
        "A": 2,
        "C": 5,
        "D": 0,
        "KIT": 1,
    }


async def test_the_pushes_of_one_sync_read_their_changes_once(tmp_path, monkeypatch):
    w = together(tmp_path)
    async with w.client as om:
        await counted(w, om, A=4, C=9)
        read = reads(monkeypatch)
        await push_all(om)
    assert read == {"stock_cells": 1, "acknowledged": 0, "acknowledged_by": 1}
    assert shown(w) == {
        "shop": {"A": 2, "B": 8, "C": 7, "D": 8, "KIT": 2},  # 2 held back
        "market": {"A": 2, "B": 5, "C": 4, "D": 5, "KIT": 2},  # half
        "pos": {"A": 4, "B": 6, "C": 6, "D": 6, "KIT": 4},  # at most 6
    }


async def test_a_change_after_the_pushes_looked_stays_pending_for_each(tmp_path, monkeypatch):
    w = together(tmp_path)
    async with w.client as om:
        await counted(w, om, B=8)
        count_after_the_look(monkeypatch, om, "B", 6)
        await push_all(om)
        assert [w.market(name).shown("B") for name in RULES] == [6, 4, 6]  # from 8
        monkeypatch.undo()
        assert all("B" in plan(om, name).seen for name in RULES)
        await push_all(om)
    assert [w.market(name).shown("B") for name in RULES] == [4, 3, 6]  # from 6


async def test_a_sale_a_channel_reports_after_the_pushes_looked_is_pushed_next_time(
    tmp_path, monkeypatch
):
    w = together(tmp_path)
    async with w.client as om:
        await counted(w, om, B=8)
        # The market says it sold B: what it acknowledged moved, after the shared read of it.
        after_the_look(monkeypatch, om, lambda tx: tx.mark_moved("market", ["B"]))
        await push_all(om)
        monkeypatch.undo()
        # Looked at again by the market's next push; the push that went out after the sale
        # set what the market shows, so nothing is left to send.
        assert [name for name in RULES if "B" in plan(om, name).seen] == ["market"]
        assert plan(om, "market").updates == []
    assert [w.market(name).shown("B") for name in RULES] == [6, 4, 6]


async def test_a_slice_planned_once_the_shared_read_is_stale_reads_stock_again(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(_push, "_FRESH_SECONDS", 0.0)  # as for a long push's later slices
    w = together(tmp_path)
    async with w.client as om:
        await counted(w, om, B=8)
        count_after_the_look(monkeypatch, om, "B", 6)
        read = reads(monkeypatch)
        await push_all(om)
    assert [w.market(name).shown("B") for name in RULES] == [4, 3, 6]  # from 6, read again
    assert read == {"stock_cells": 4, "acknowledged": 3, "acknowledged_by": 1}


async def test_when_the_shared_look_fails_each_push_looks_alone(tmp_path, monkeypatch):
    w = together(tmp_path)
    async with w.client as om:
        await counted(w, om, D=3)
        looked = _push._look

        asked = []

        def failing_together(ctx, channels):
            asked.append(len(channels))
            if len(channels) > 1:
                raise StoreError("the store went away for a moment")
            return looked(ctx, channels)

        monkeypatch.setattr(_push, "_look", failing_together)
        await push_all(om)
    assert asked == [3, 1, 1, 1]  # together, then each alone
    assert [w.market(name).shown("D") for name in RULES] == [1, 1, 3]
