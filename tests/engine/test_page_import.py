"""A page of orders imported together ends exactly as the same orders imported one by one."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from omnisync import hookimpl, plugins
from omnisync._hookdata import OrderEvent, OrderEventKind, RiskAssessment, event_json
from omnisync.engine import _pull
from omnisync.engine._context import EngineContext
from omnisync.engine._counts import apply_count
from omnisync.engine._importer import import_order, order_json
from omnisync.engine._pull import apply_orders
from omnisync.engine._report import ChannelReport
from omnisync.models import Order, OrderStatus, RiskLevel
from omnisync.store import Incident, open_store
from omnisync.store import _schema as t
from tests.helpers import T0, config, line, order


class World:
    """A store with a location an ERP counts (main) and one omnisync counts (shelf)."""

    def __init__(self, place: Path) -> None:
        place.mkdir()
        loaded = config(
            place,
            {
                "erp": {"adapter": "sim-inventory"},
                "shop": {"adapter": "sim", "locations": ["main", "shelf"]},
            },
            locations={"main": {"source": "erp"}, "shelf": {}},
            bundles={"KIT": {"A": 1, "B": 2}},
        )
        self.store = open_store(loaded.config.store.url)
        self.ctx = EngineContext(loaded, self.store)
        self.channel = self.ctx.channels["shop"]
        with self.store.transaction() as tx:
            for sku, location, on_hand in [("A", "main", 6), ("B", "main", 9), ("A", "shelf", 2)]:
                apply_count(tx, sku, location, on_hand, T0, source="test", now=T0)
            apply_count(tx, "C", "shelf", 1, T0, source="test", now=T0)

    def page(self, orders: list[Order]) -> tuple[ChannelReport, list[Incident]]:
        report, incidents = ChannelReport("shop", "sim"), []
        with self.store.transaction() as tx:
            apply_orders(tx, self.ctx, self.channel, orders, T0, report, incidents)
        return report, incidents

    def one_by_one(self, orders: list[Order]) -> None:
        for built in sorted(orders, key=lambda o: (o.created_at, o.external_id)):
            with self.store.transaction() as tx:
                import_order(tx, built, self.channel, self.ctx, T0)

    def state(self) -> dict[str, Any]:
        """Everything an import writes, without the ids the store happened to give."""
        with self.store.transaction() as tx:
            conn = tx.conn
            ids = {row.id: row.external_id for row in conn.execute(t.orders.select())}
            return {
                "orders": sorted(
                    (
                        r.external_id,
                        r.version,
                        r.status,
                        r.hold_reason,
                        r.risk,
                        r.content_hash,
                        r.payload,
                    )
                    for r in conn.execute(t.orders.select())
                ),
                "reservations": sorted(
                    (
                        ids[r.order_id],
                        r.line_id,
                        r.sku,
                        r.location,
                        r.seq,
                        r.reserved,
                        r.shipped,
                        r.settled,
                        r.shipped_at,
                    )
                    for r in conn.execute(t.reservations.select())
                ),
                "levels": sorted(tuple(r) for r in conn.execute(t.stock_levels.select())),
                "held": sorted(tuple(r) for r in conn.execute(t.stock_held.select()) if r.held),
                "ledger": [
                    (r.kind, r.sku, r.location, r.on_hand_delta, r.held_delta, r.order_ref, r.note)
                    for r in conn.execute(t.ledger.select().order_by(t.ledger.c.id))
                ],
                "events": [
                    r.payload for r in conn.execute(t.events.select().order_by(t.events.c.id))
                ],
                "acknowledged": sorted(tuple(r) for r in conn.execute(t.acknowledged.select())),
                "incidents": [
                    (i.kind, i.sku, i.shortfall, i.order_id, i.held) for i in tx.incidents()
                ],
                "quarantined": sorted(letter.key for letter in tx.dead_letters()),
                "pending": sorted(tx.pending("shop")),  # versions count marks, not changes
            }

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def worlds(tmp_path: Path, backend: str):
    made = [World(tmp_path / "together"), World(tmp_path / "apart")]
    for world in made:
        # The channel has pushed before: changes are owed, and what it sells marks its
        # acknowledged numbers moved.
        with world.store.transaction() as tx:
            tx.set_push_plan("shop", "plan", complete=True, now=T0)
            tx.acknowledge("shop", {"A": 4, "B": 20, "C": 20, "KIT": 20}, T0)
    yield made
    for world in made:
        world.close()


def _page() -> list[Order]:
    """Orders of every kind an import treats differently, out of creation order."""
    return [
        order("late", line("1", "A", 2), minutes=9),
        order("kit", line("1", "KIT", 2), line("2", "A", 1), minutes=1),
        order("gone", line("1", "B", 1), minutes=2, status=OrderStatus.CANCELLED),
        order("shipped-main", line("1", "B", 2, fulfilled_quantity=2), minutes=3),
        order("shipped-shelf", line("1", "C", 1, fulfilled_quantity=1), minutes=3),
        order("part", line("1", "A", 3, fulfilled_quantity=1, cancelled_quantity=1), minutes=4),
        order("unknown", line("1", "NOPE", 1), line("2", "B", 1), minutes=5),
        order("risky", line("1", "B", 1), minutes=6, risk=RiskLevel.HIGH),
        order("no-sku", line("1", None, 1), minutes=6),
        order("oversold", line("1", "A", 5), line("2", "C", 2), minutes=7),
        order("twice", line("1", "B", 1), minutes=8),
        order("twice", line("1", "B", 2), minutes=8),
    ]


def test_a_page_ends_as_its_orders_imported_one_by_one(worlds: list[World], backend: str):
    together, apart = worlds
    report, incidents = together.page(_page())
    apart.one_by_one(_page())

    assert together.state() == apart.state()
    with together.store.reading() as tx:
        moved = {sku: ack.moved for sku, ack in tx.acknowledged("shop").items()}
    assert moved == {"A": True, "B": True, "C": True, "KIT": True}
    assert report.counts["orders_imported"] == 11
    assert report.counts["orders_changed"] == 1  # the second copy of "twice"
    assert report.counts["unknown_skus"] == 1
    assert {incident.sku for incident in incidents} == {"A", "B", "C"}


def test_new_orders_among_known_ones_end_as_one_by_one(worlds: list[World], backend: str):
    together, apart = worlds
    first = [order("a", line("1", "A", 2)), order("b", line("1", "B", 4), minutes=1)]
    for world in worlds:
        world.one_by_one(first)
    # Between new orders: one grows, one is cancelled, one is sent again unchanged.
    second = [
        order("new-1", line("1", "A", 3), minutes=2),
        order("a", line("1", "A", 5), minutes=3),
        order("new-2", line("1", "A", 2), minutes=4),
        order("b", line("1", "B", 4), minutes=5, status=OrderStatus.CANCELLED),
        order("new-3", line("1", "B", 8), minutes=6),
    ]
    report, _ = together.page(second)
    apart.one_by_one(second)

    assert together.state() == apart.state()
    assert (report.counts["orders_imported"], report.counts["orders_changed"]) == (3, 2)


class _Fails:
    def __init__(self, external_id: str) -> None:
        self.external_id = external_id

    @hookimpl
    def assess_risk(self, order: Order) -> RiskAssessment | None:
        if order.external_id == self.external_id:
            raise RuntimeError("the risk service is down")
        return None


def test_one_failing_order_is_quarantined_and_the_rest_of_the_page_imports(
    worlds: list[World], backend: str
):
    together = worlds[0]
    plugin = _Fails("b")
    plugins.plugin_manager().register(plugin)
    try:
        report, _ = together.page(
            [
                order("a", line("1", "A", 1)),
                order("b", line("1", "A", 1), minutes=1),
                order("c", line("1", "B", 1), minutes=2),
            ]
        )
    finally:
        plugins.plugin_manager().unregister(plugin)

    state = together.state()
    assert report.counts["orders_imported"] == 2
    assert report.counts["orders_quarantined"] == 1
    assert state["quarantined"] == ["b"]
    assert [ref for *_, ref, _ in state["ledger"] if ref and ref.startswith("shop:")] == [
        "shop:a/1",
        "shop:c/1",
    ]
    assert [o[0] for o in state["orders"]] == ["a", "c"]


def test_event_json_is_the_events_own_json():
    built = order("1", line("1", "A", 2), raw={"id": "gid://x/1", "note": 'a "quoted" é'})
    payload, _ = order_json(built)
    for kind, detail in [(OrderEventKind.IMPORTED, ""), (OrderEventKind.HELD, 'high "risk"')]:
        spliced = OrderEvent.model_validate_json(event_json(kind, payload, detail))
        assert spliced == OrderEvent(kind=kind, order=built, detail=detail)


def test_order_json_is_the_orders_json_and_its_fingerprint_ignores_raw():
    built = order("1", line("1", "A", 2), raw={"nested": {"list": [1, "two", None]}})
    payload, digest = order_json(built)
    assert json.loads(payload) == json.loads(built.model_dump_json())
    assert Order.model_validate_json(payload) == built
    same = order("1", line("1", "A", 2), raw={"other": True})
    assert order_json(same)[1] == digest
    assert order_json(order("1", line("1", "A", 3)))[1] != digest


def test_orders_are_numbered_in_page_order(tmp_path: Path):
    world = World(tmp_path / "w")
    try:
        world.page([order(str(n), line("1", "A", 1), minutes=n) for n in range(5)])
        with world.store.reading() as tx:
            rows = tx.conn.execute(t.orders.select().order_by(t.orders.c.id)).all()
        assert [row.external_id for row in rows] == ["0", "1", "2", "3", "4"]
        assert [Order.model_validate_json(row.payload).external_id for row in rows] == [
            row.external_id for row in rows
        ]
    finally:
        world.close()


def test_a_stored_order_keeps_its_created_time(tmp_path: Path):
    world = World(tmp_path / "w")
    try:
        world.page([order("1", line("1", "A", 1), created_at=T0)])
        with world.store.reading() as tx:
            stored = tx.get_order("shop", "1")
        assert stored is not None and stored.order.created_at == T0
    finally:
        world.close()


def test_the_same_order_twice_in_a_page_is_imported_once(worlds: list[World], backend: str):
    together, apart = worlds
    tip = order("tip", line("1", None, 1), minutes=1)  # reserves nothing
    gone = order("gone", line("1", "B", 1), minutes=2, status=OrderStatus.CANCELLED)
    page = [tip, tip, gone, gone]
    report, _ = together.page(page)
    apart.one_by_one(page)

    assert together.state() == apart.state()
    assert (report.counts["orders_imported"], report.counts["orders_unchanged"]) == (2, 2)


def test_a_letter_written_by_the_page_is_not_resolved_by_it(tmp_path: Path, backend: str):
    world = World(tmp_path / "w")
    try:
        report, _ = world.page(
            [
                order("X", line("1", "A", 1), minutes=1),
                order("X", line("1", "A", 1), minutes=2, channel="erp"),  # not this channel's
            ]
        )
        with world.store.reading() as tx:
            unresolved = tx.unresolved_keys("shop", "order_import")
    finally:
        world.close()
    assert unresolved == {"X"}
    assert report.counts["orders_unquarantined"] == 0


def test_an_order_is_stored_as_standard_json_whatever_its_raw_payload_holds():
    built = order("1", line("1", "A", 2), raw={"score": float("nan"), "limit": float("inf")})

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    payload, _ = order_json(built)
    assert json.loads(payload, parse_constant=refuse)["raw"] == {"score": None, "limit": None}


class _Picky:
    """Plugins both worlds consult alike: a location picked for some lines, a risk verdict
    for some orders."""

    @hookimpl
    def choose_location(self, order, line, sku, quantity, candidates):
        return candidates[-1].location if int(line.line_id) % 2 == 0 else None

    @hookimpl
    def assess_risk(self, order: Order) -> RiskAssessment | None:
        if order.external_id.endswith("7"):
            return RiskAssessment(level=RiskLevel.HIGH, reason="seven")
        return None


def _random_order(rng: random.Random, external_id: str, minutes: int) -> Order:
    lines = []
    for number in range(1, rng.randint(1, 3) + 1):
        quantity = rng.randint(1, 5)
        fulfilled = rng.randint(0, quantity) if rng.random() < 0.4 else 0
        cancelled = rng.randint(0, quantity - fulfilled) if rng.random() < 0.2 else 0
        sku = rng.choice(["A", "B", "C", "KIT", "NOPE", None])
        lines.append(
            line(
                str(number),
                sku,
                quantity,
                fulfilled_quantity=fulfilled,
                cancelled_quantity=cancelled,
            )
        )
    status = OrderStatus.CANCELLED if rng.random() < 0.1 else OrderStatus.OPEN
    return order(
        external_id,
        *lines,
        minutes=minutes,
        status=status,
        created_at=T0 + timedelta(minutes=minutes % 7),
    )


@pytest.mark.parametrize("seed", range(12))
def test_random_pages_end_as_their_orders_imported_one_by_one(
    worlds: list[World], backend: str, seed: int, monkeypatch: pytest.MonkeyPatch
):
    """Known and new orders, repeats, bundles, unknown SKUs, shipments (some counted after
    they left), cancellations, oversells, plugins choosing locations and holding orders."""
    together, apart = worlds

    def fell_back(message: str, *args: object) -> None:
        raise AssertionError("the page fell back to one order at a time: " + message % args)

    monkeypatch.setattr(_pull.log, "info", fell_back)
    rng = random.Random(seed)
    later = T0 + timedelta(minutes=30)
    for world in worlds:
        with world.store.transaction() as tx:
            if seed % 2:
                apply_count(tx, "B", "main", 4, later, source="test", now=T0)
            if seed % 3 == 0:
                apply_count(tx, "A", "shelf", 1, later, source="test", now=T0)
    ids = [str(number) for number in range(12)]
    known = [_random_order(rng, external_id, rng.randint(0, 5)) for external_id in ids[:3]]
    page = [
        _random_order(rng, rng.choice(ids), rng.randint(6, 20)) for _ in range(rng.randint(3, 12))
    ]
    picky = _Picky()
    plugins.plugin_manager().register(picky)
    try:
        for world in worlds:
            world.one_by_one(known)
        together.page(page)
        apart.one_by_one(page)
    finally:
        plugins.plugin_manager().unregister(picky)
    assert together.state() == apart.state()
