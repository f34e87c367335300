"""Writers in several threads at once, each with its own store connection: what one decides
from what it read must still hold when it commits (on PostgreSQL, where writers do run side
by side, this is what the row and advisory locks are for)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from omnisync.engine._context import EngineContext
from omnisync.engine._counts import apply_count
from omnisync.engine._importer import import_order
from omnisync.engine._pull import apply_stock
from omnisync.engine._report import ChannelReport
from omnisync.models import Order, StockLevel
from omnisync.store import SQLStore, open_store
from tests.helpers import T0, config, line, order

CHANNELS = ("shop", "market", "pos")


def context(tmp_path) -> EngineContext:
    channels: dict[str, dict[str, object]] = {"erp": {"adapter": "sim-inventory"}}
    channels |= {name: {"adapter": "sim", "locations": ["main"]} for name in CHANNELS}
    loaded = config(tmp_path, channels, locations={"main": {"source": "erp"}})
    store = open_store(loaded.config.store.url)
    return EngineContext(loaded, store)


def at_once(ctx: EngineContext, jobs: list[Callable[[SQLStore], object]]) -> None:
    """Run each job in its own thread with its own store, released together."""
    start = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[SQLStore], object]) -> None:
        store = open_store(ctx.loaded.config.store.url)
        try:
            start.wait()
            job(store)
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def importing(ctx: EngineContext, built: Order) -> Callable[[SQLStore], object]:
    def job(store: SQLStore) -> object:
        with store.transaction() as tx:
            return import_order(tx, built, ctx.channels[built.channel], ctx, built.updated_at)

    return job


def test_orders_racing_for_the_last_units_are_all_counted_and_the_latest_held(tmp_path):
    ctx = context(tmp_path)
    with ctx.store.transaction() as tx:
        apply_count(tx, "A", "main", 4, T0, source="test", now=T0)
    orders = [
        order(f"{n}", line("1", "A", 1), channel=CHANNELS[n % 3], minutes=n) for n in range(10)
    ]
    at_once(ctx, [importing(ctx, built) for built in orders])
    with ctx.store.reading() as tx:
        cell = tx.stock_cells(["A"])["A"]["main"]
        incidents = tx.incidents()
        held = {f"{s.order.channel}:{s.order.external_id}" for s in tx.list_orders(held=True)}
    # Every unit sold is held against the shelf, whatever order the imports committed in.
    assert (cell.on_hand, cell.held) == (4, 10)
    assert sum(incident.shortfall for incident in incidents) == 6
    # The six orders created last wait; the four first get the four units.
    assert held == {f"{CHANNELS[n % 3]}:{n}" for n in range(4, 10)}
    ctx.store.close()


def test_the_same_order_imported_at_once_by_a_webhook_and_a_poll_is_stored_once(tmp_path):
    ctx = context(tmp_path)
    with ctx.store.transaction() as tx:
        apply_count(tx, "A", "main", 10, T0, source="test", now=T0)
    built = order("7", line("1", "A", 3))
    at_once(ctx, [importing(ctx, built) for _ in range(6)])
    with ctx.store.reading() as tx:
        assert tx.count_orders() == 1
        assert tx.stock_cells(["A"])["A"]["main"].held == 3
        assert tx.get_order("shop", "7").version == 1
    ctx.store.close()


def test_counts_and_sales_at_once_leave_the_ledger_and_the_shelf_agreeing(tmp_path):
    ctx = context(tmp_path)
    with ctx.store.transaction() as tx:
        apply_count(tx, "A", "main", 5, T0, source="test", now=T0)
        apply_count(tx, "B", "main", 5, T0, source="test", now=T0)

    def counting(minute: int) -> Callable[[SQLStore], object]:
        def job(store: SQLStore) -> object:
            moment = T0 + timedelta(minutes=minute)
            # B before A in the page, A before B in the orders: a deadlock, were the page's
            # SKUs not locked in order before any count is applied.
            levels = [
                StockLevel(sku=sku, location="main", on_hand=20 + minute, as_of=moment)
                for sku in ("B", "A")
            ]
            report = ChannelReport("erp", "sim-inventory")
            with store.transaction() as tx:
                apply_stock(tx, ctx, ctx.channels["erp"], levels, moment, report, moment)
            return None

        return job

    sales = [
        importing(ctx, order(f"{n}", line("1", "A", 1), line("2", "B", 1), minutes=n))
        for n in range(6)
    ]
    at_once(ctx, [*sales, counting(1), counting(2)])
    with ctx.store.reading() as tx:
        cells = tx.stock_cells(["A", "B"])
        ledger = tx.ledger_for("A", limit=None)
    assert cells["A"]["main"].held == 6 and cells["B"]["main"].held == 6
    assert cells["A"]["main"].on_hand == 22  # the later count wins, whichever committed last
    assert sum(entry.on_hand_delta for entry in ledger) == cells["A"]["main"].on_hand
    assert sum(entry.held_delta for entry in ledger) == cells["A"]["main"].held
    ctx.store.close()


def test_the_same_record_quarantined_at_once_counts_every_attempt(tmp_path):
    ctx = context(tmp_path)

    def quarantining(store: SQLStore) -> object:
        with store.transaction() as tx:
            tx.quarantine("shop", "webhook", "k1", "unreadable", {"body": "x"}, T0)
        return None

    at_once(ctx, [quarantining for _ in range(5)])
    with ctx.store.reading() as tx:
        [letter] = tx.dead_letters()
    assert letter.attempts == 5
    ctx.store.close()
