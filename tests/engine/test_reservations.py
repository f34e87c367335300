"""Reservations and counts, driven directly through the engine's import and count steps."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from omnisync import hookimpl, plugins
from omnisync._hookdata import RiskAssessment
from omnisync.engine._context import EngineContext
from omnisync.engine._counts import apply_count
from omnisync.engine._importer import ImportOutcome, import_order
from omnisync.models import OrderStatus, RiskLevel
from omnisync.store import SCHEMA_VERSION, open_store
from omnisync.store import _schema as t
from tests.helpers import T0, config, line, order


class Harness:
    """A store with a source-counted location (main, for shop) and a local one (shelf, pos)."""

    opened: ClassVar[list[Harness]] = []

    def __init__(self, tmp_path, **engine):
        loaded = config(
            tmp_path,
            {
                "erp": {"adapter": "sim-inventory"},
                "shop": {"adapter": "sim", "locations": ["main"]},
                "pos": {"adapter": "sim", "locations": ["shelf"]},
                "both": {"adapter": "sim", "locations": ["main", "shelf"]},
            },
            locations={"main": {"source": "erp"}, "shelf": {}},
            bundles={"KIT": {"A": 1, "B": 2}},
            engine=engine,
        )
        self.store = open_store(loaded.config.store.url)
        self.ctx = EngineContext(loaded, self.store)
        Harness.opened.append(self)

    def imp(self, built):
        with self.store.transaction() as tx:
            return import_order(
                tx, built, self.ctx.channels[built.channel], self.ctx, built.updated_at
            )

    def count(self, sku, on_hand, location="main", at=T0):
        with self.store.transaction() as tx:
            return apply_count(tx, sku, location, on_hand, at, source="test", now=at)

    def cell(self, sku, location="main"):
        with self.store.reading() as tx:
            return tx.stock_cells([sku])[sku].get(location)

    def rows(self, channel, external_id):
        with self.store.reading() as tx:
            stored = tx.get_order(channel, external_id)
            return tx.reservations_for_order(stored.id)


@pytest.fixture(autouse=True)
def _close_stores():
    yield
    while Harness.opened:
        Harness.opened.pop().store.close()


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path)
    harness.count("A", 10)
    harness.count("B", 10)
    harness.count("A", 5, "shelf")
    return harness


def test_an_open_order_reserves_its_open_units(h):
    assert h.imp(order("1", line("1", "A", 3))).outcome is ImportOutcome.IMPORTED
    assert h.cell("A").held == 3


def test_importing_the_same_order_again_changes_nothing(h):
    h.imp(order("1", line("1", "A", 3)))
    assert h.imp(order("1", line("1", "A", 3))).outcome is ImportOutcome.UNCHANGED
    assert h.cell("A").held == 3


def test_an_update_older_than_the_stored_one_is_ignored(h):
    h.imp(order("1", line("1", "A", 3), minutes=5))
    stale = order("1", line("1", "A", 1), minutes=1)
    assert h.imp(stale).outcome is ImportOutcome.STALE
    assert h.cell("A").held == 3


def test_cancellation_releases_the_reservation(h):
    h.imp(order("1", line("1", "A", 3)))
    h.imp(order("1", line("1", "A", 3), minutes=1, status=OrderStatus.CANCELLED))
    assert h.cell("A").held == 0


def test_a_lower_quantity_releases_the_difference(h):
    h.imp(order("1", line("1", "A", 3)))
    h.imp(order("1", line("1", "A", 3, cancelled_quantity=2), minutes=1))
    assert h.cell("A").held == 1


def test_shipped_units_stay_held_until_a_count_taken_after_the_shipment(h):
    h.imp(order("1", line("1", "A", 3)))
    h.imp(order("1", line("1", "A", 3, fulfilled_quantity=3), minutes=10))
    assert h.cell("A").held == 3  # the goods left, but no count shows it yet
    h.count("A", 10, at=T0 + timedelta(minutes=5))  # a count from before the shipment
    assert h.cell("A").held == 3
    h.count("A", 7, at=T0 + timedelta(minutes=11))  # the ERP now counts 7
    cell = h.cell("A")
    assert (cell.on_hand, cell.held) == (7, 0)


def test_a_count_arriving_out_of_order_is_ignored(h):
    h.count("A", 4, at=T0 + timedelta(minutes=3))
    assert not h.count("A", 9, at=T0 + timedelta(minutes=2))
    assert h.cell("A").on_hand == 4


def test_at_a_location_omnisync_counts_shipping_reduces_on_hand_at_once(h):
    h.imp(order("1", line("1", "A", 2), channel="pos"))
    h.imp(order("1", line("1", "A", 2, fulfilled_quantity=2), channel="pos", minutes=1))
    cell = h.cell("A", "shelf")
    assert (cell.on_hand, cell.held) == (3, 0)


def test_an_order_first_seen_shipped_before_the_last_count_is_already_counted(h):
    h.count("A", 5, "shelf", at=T0 + timedelta(hours=1))
    h.imp(order("1", line("1", "A", 2, fulfilled_quantity=2), channel="pos"))
    cell = h.cell("A", "shelf")
    assert (cell.on_hand, cell.held) == (5, 0)


def test_a_bundle_order_reserves_its_components(h):
    h.imp(order("1", line("1", "KIT", 2)))
    assert (h.cell("A").held, h.cell("B").held) == (2, 4)


def test_a_line_split_across_locations_when_one_has_too_little(h):
    h.imp(order("1", line("1", "A", 12), channel="both"))
    assert {r.location: r.reserved for r in h.rows("both", "1")} == {"main": 10, "shelf": 2}


def test_unknown_skus_are_quarantined_and_reserve_nothing(h):
    h.imp(order("1", line("1", "NOPE", 1), line("2", "A", 1)))
    with h.store.reading() as tx:
        letters = tx.dead_letters()
    assert [(d.kind, d.key) for d in letters] == [("unknown_sku", "1:1:NOPE")]
    assert "does not know" in letters[0].reason
    assert h.cell("A").held == 1


def test_overselling_records_an_incident_naming_the_orders_and_holds_the_later_one(h):
    h.imp(order("1", line("1", "A", 8), minutes=0))
    result = h.imp(order("2", line("1", "A", 4), channel="both", minutes=1))
    assert result.incidents == []  # 2 from main, 2 from the shelf
    result = h.imp(order("3", line("1", "A", 3), minutes=2))
    [incident] = result.incidents
    assert (incident.sku, incident.shortfall) == ("A", 3)
    assert set(incident.competing) == {"shop:1", "both:2"}
    assert incident.held == ["shop:3"]
    with h.store.reading() as tx:
        assert tx.get_order("shop", "3").hold_reason == "oversold: A short by 3"
        assert tx.get_order("shop", "1").hold_reason is None


def test_an_oversell_holds_the_order_created_later_even_if_imported_first(h):
    h.count("A", 1)
    h.imp(order("late", line("1", "A", 1), minutes=9))
    [incident] = h.imp(order("early", line("1", "A", 1), channel="shop", minutes=1)).incidents
    assert incident.held == ["shop:late"]


def test_holding_is_optional(tmp_path):
    harness = Harness(tmp_path, hold_oversold=False)
    harness.count("A", 1)
    harness.imp(order("1", line("1", "A", 1)))
    assert harness.imp(order("2", line("1", "A", 1), minutes=1)).incidents
    with harness.store.reading() as tx:
        assert tx.get_order("shop", "2").hold_reason is None


class HighRisk:
    @hookimpl
    def assess_risk(self, order):
        return RiskAssessment(level=RiskLevel.HIGH, reason="card testing", source="fraudbot")


class ShelfFirst:
    @hookimpl
    def choose_location(self, order, line, sku, quantity, candidates):
        return "shelf"


def test_a_plugin_that_finds_high_risk_puts_the_order_on_hold(h):
    plugins.pm.register(HighRisk())
    try:
        h.imp(order("1", line("1", "A", 1)))
    finally:
        plugins.pm.unregister(
            name=plugins.pm.get_name(
                next(p for p in plugins.pm.get_plugins() if isinstance(p, HighRisk))
            )
        )
    with h.store.reading() as tx:
        stored = tx.get_order("shop", "1")
    assert stored.risk is RiskLevel.HIGH
    assert stored.hold_reason == "high risk (fraudbot): card testing"


def test_a_plugin_can_choose_the_fulfilment_location(h):
    plugin = ShelfFirst()
    plugins.pm.register(plugin)
    try:
        h.imp(order("1", line("1", "A", 1), channel="both"))
    finally:
        plugins.pm.unregister(plugin)
    assert [r.location for r in h.rows("both", "1")] == ["shelf"]


# Properties --------------------------------------------------------------------------------

operation = st.tuples(
    st.sampled_from(["order", "cancel", "ship", "shrink", "count", "stale"]),
    st.integers(0, 3),  # which order
    st.integers(1, 4),  # a quantity
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(operation, max_size=25))
def test_reservations_balance_and_the_ledger_replays_after_any_sequence(tmp_path_factory, ops):
    h = Harness(tmp_path_factory.mktemp("prop"))
    h.count("A", 6)
    h.count("A", 3, "shelf")
    current: dict[str, object] = {}
    minute = 0
    for kind, index, quantity in ops:
        minute += 1
        key = str(index)
        channel = ["shop", "pos", "both", "shop"][index]
        previous = current.get(key)
        if kind == "order" and previous is None:
            current[key] = order(key, line("1", "A", quantity), channel=channel, minutes=minute)
        elif previous is not None and kind in ("cancel", "ship", "shrink"):
            old = previous.lines[0]
            if kind == "cancel":
                changed = {"status": OrderStatus.CANCELLED}
            elif kind == "ship" and old.open_quantity:
                changed = {
                    "lines": (
                        old.model_copy(update={"fulfilled_quantity": old.fulfilled_quantity + 1}),
                    )
                }
            elif kind == "shrink" and old.open_quantity:
                changed = {
                    "lines": (
                        old.model_copy(update={"cancelled_quantity": old.cancelled_quantity + 1}),
                    )
                }
            else:
                continue
            current[key] = order(
                key,
                *changed.get("lines", previous.lines),
                channel=channel,
                minutes=minute,
                status=changed.get("status", previous.status),
            )
        elif kind == "count":
            h.count("A", quantity + 3, "main", at=T0 + timedelta(minutes=minute))
            continue
        elif kind == "stale" and previous is not None:
            h.imp(order(key, line("1", "A", 9), channel=channel, minutes=0))
            continue
        else:
            continue
        h.imp(current[key])
        h.imp(current[key])  # importing twice changes nothing
    _check_balances(h, current)


def _check_balances(h, current):
    with h.store.reading() as tx:
        cells = tx.stock_cells(["A"])["A"]
        ledger = tx.ledger_for("A", limit=None)
        reserved_by_order = defaultdict(int)
        for key, built in current.items():
            stored = tx.get_order(built.channel, key)
            for row in tx.reservations_for_order(stored.id):
                assert row.reserved >= 0 and row.shipped >= 0 and row.settled >= 0
                reserved_by_order[key] += row.reserved
    for key, built in current.items():
        wanted = 0 if built.is_cancelled else built.lines[0].open_quantity
        assert reserved_by_order[key] == wanted, key
    on_hand = defaultdict(int)
    held = defaultdict(int)
    for entry in ledger:
        on_hand[entry.location] += entry.on_hand_delta
        held[entry.location] += entry.held_delta
    for location, cell in cells.items():
        assert on_hand[location] == cell.on_hand, f"on hand at {location} does not replay"
        assert held[location] == cell.held, f"held at {location} does not replay"
    assert _held_kept(h) == _held_added_up(h)


def _held_kept(h):
    """The held units the store keeps per SKU and location."""
    with h.store.reading() as tx:
        rows = tx.conn.execute(t.stock_held.select()).all()
    return {(sku, location): held for sku, location, held in rows if held}


def _held_added_up(h):
    """The same, added up from the reservations."""
    totals = defaultdict(int)
    with h.store.reading() as tx:
        for row in tx.conn.execute(t.reservations.select()):
            totals[(row.sku, row.location)] += max(row.reserved + row.shipped, 0)
    return {key: held for key, held in totals.items() if held}


def test_a_store_from_before_held_units_were_kept_gets_them_from_its_reservations(h):
    h.imp(order("1", line("1", "A", 3), line("2", "B", 1)))
    h.imp(order("2", line("1", "A", 2, fulfilled_quantity=1), channel="pos"))
    h.imp(order("3", line("1", "KIT", 1), channel="both"))
    before = {(sku, at): h.cell(sku, at) for sku in "AB" for at in ("main", "shelf")}
    url = h.store.url
    with h.store.transaction() as tx:  # the store as schema 3 left it
        tx.conn.execute(text("DROP TABLE stock_held"))
        tx.conn.execute(text("DROP INDEX ix_reservations_shipped"))
        tx.conn.execute(text("UPDATE omnisync_meta SET value = '3' WHERE key = 'schema_version'"))
    h.store.close()
    h.store = open_store(url)
    assert h.store.schema_version == SCHEMA_VERSION
    assert {(sku, at): h.cell(sku, at) for sku, at in before} == before
    assert _held_kept(h) == _held_added_up(h) != {}
    h.imp(order("1", line("1", "A", 3, cancelled_quantity=3), line("2", "B", 1), minutes=1))
    assert h.cell("A").held == before[("A", "main")].held - 3


@pytest.mark.parametrize("shipped_first", [False, True])
def test_an_order_shipped_elsewhere_oversells_the_same_way_in_any_import_order(
    tmp_path, shipped_first
):
    h = Harness(tmp_path)
    h.count("A", 1, at=T0 - timedelta(hours=1))
    web = order("W1", line("1", "A", 1), minutes=1)  # older, waiting to ship
    pos = order("P1", line("1", "A", 1, fulfilled_quantity=1), minutes=2)  # newer, shipped
    incidents = []
    for built in [pos, web] if shipped_first else [web, pos]:
        incidents += h.imp(built).incidents
    assert [(i.sku, i.shortfall, i.held) for i in incidents] == [("A", 1, ["shop:W1"])]
    with h.store.reading() as tx:
        assert [s.order.external_id for s in tx.list_orders(held=True)] == ["W1"]


def test_a_fulfilment_taken_back_at_a_location_omnisync_counts_puts_stock_back(h):
    h.imp(order("1", line("1", "A", 2), channel="pos"))
    h.imp(order("1", line("1", "A", 2, fulfilled_quantity=2), channel="pos", minutes=1))
    assert h.cell("A", "shelf").on_hand == 3
    h.imp(order("1", line("1", "A", 2), channel="pos", minutes=2))
    cell = h.cell("A", "shelf")
    assert (cell.on_hand, cell.held) == (5, 2)


def test_two_lines_of_one_sku_in_one_order_see_each_others_reservations(h):
    # A has 10 at main: the first line takes 6, so the second finds 4 of its 7 and is short 3.
    result = h.imp(order("twice", line("1", "A", 6), line("2", "A", 7), channel="shop"))
    [incident] = result.incidents
    assert (incident.sku, incident.shortfall) == ("A", 3)
    assert h.cell("A").held == 13
    rows = h.rows("shop", "twice")
    assert [(r.line_id, r.reserved) for r in rows] == [("1", 6), ("2", 7)]
    assert all(r.id is not None for r in rows)
    # The same order again changes nothing: its rows were stored, not left pending.
    assert h.imp(order("twice", line("1", "A", 6), line("2", "A", 7), channel="shop")).outcome is (
        ImportOutcome.UNCHANGED
    )
    assert h.cell("A").held == 13
