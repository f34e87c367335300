"""Pulling from channels: orders, stock counts, returns and listings, incrementally."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from omnisync._logging import log_context
from omnisync._time import utcnow
from omnisync.adapters import Adapter, Page, RejectedRecord
from omnisync.config import ResolvedChannel
from omnisync.engine._conflicts import retry_conflicts
from omnisync.engine._context import EngineContext
from omnisync.engine._counts import apply_count, confirm_counts, restock
from omnisync.engine._events import deliver_events
from omnisync.engine._importer import ImportResult, NewOrders, import_order
from omnisync.engine._report import ChannelReport
from omnisync.engine._reservations import lock_for_import
from omnisync.engine._shipments import apply_shipments
from omnisync.models import (
    Order,
    OrderStatus,
    Return,
    ReturnDisposition,
    ReturnStatus,
    Shipment,
    StockLevel,
)
from omnisync.store import Incident, Transaction

__all__ = [
    "apply_deletions",
    "apply_orders",
    "apply_returns",
    "apply_stock",
    "pull_listings",
    "pull_orders",
    "pull_returns",
    "pull_shipments",
    "pull_stock",
]

log = logging.getLogger("omnisync.engine")

T = TypeVar("T")
Progress = Callable[[str, str, int], None]


def quarantine_rejects(
    tx: Transaction, channel: str, rejects: Iterable[RejectedRecord], now: datetime
) -> int:
    """Quarantine what an adapter could not map; returns how many."""
    count = 0
    for reject in rejects:
        tx.quarantine(channel, reject.kind, reject.key, reject.reason, reject.payload, now)
        count += 1
    return count


Apply = Callable[[Transaction, list[T], datetime, ChannelReport, list[Incident]], datetime | None]
"""Applies a page's records in a transaction, counting into the report and collecting the
incidents it is given; returns the newest change among them."""

Committed = tuple[datetime | None, Counter[str], list[Incident]]
"""What a committed page did: its newest change, its counts and the incidents it found."""


async def _pages(
    ctx: EngineContext,
    channel: ResolvedChannel,
    stream: str,
    pages: Callable[[datetime | None], AsyncIterator[Page[T]]],
    apply: Apply[T],
    report: ChannelReport,
    progress: Progress | None,
    incidents: list[Incident] | None = None,
) -> None:
    """Read ``stream`` from its cursor (less the overlap) to the end, committing page by page.

    Each page is committed in a thread while the next one is fetched, so the channel's round
    trips and omnisync's writes overlap; pages still commit one after another, in order. The
    cursor moves only after the records it covers are committed: to a page's checkpoint as
    it lands and, once the stream is read to the end, to its last checkpoint or, when it gave
    none, to the newest change seen (never back). ``apply`` adds the incidents it finds to
    ``incidents``.
    """
    with ctx.store.reading() as tx:
        cursor = tx.cursor(channel.name, stream)
    since = cursor - ctx.overlap(channel) if cursor is not None else None
    newest = cursor
    checkpointed = False
    stream_pages = pages(since)
    committing: asyncio.Task[Committed] | None = None
    records = 0

    def take(committed: Committed) -> None:
        nonlocal newest
        seen, counts, found = committed
        report.counts.update(counts)
        if incidents is not None:
            incidents.extend(found)
        if seen is not None and (newest is None or seen > newest):
            newest = seen

    async def landed() -> None:
        """Wait for the page being committed, and take in what it did."""
        nonlocal committing
        if committing is None:
            return
        task, committing = committing, None
        take(await task)
        deliver_events(ctx.store)
        if progress is not None:
            progress(channel.name, stream, records)

    try:
        async for page in stream_pages:
            await landed()
            checkpointed = checkpointed or page.checkpoint is not None
            committing = asyncio.ensure_future(_commit_page(ctx, channel, stream, page, apply))
            records = len(page.items) + len(page.rejects)
        await landed()
    finally:
        if committing is not None:  # the next page failed, or this was cancelled
            await asyncio.wait([committing])  # its thread holds a connection: let it end
            if committing.cancelled():
                pass
            elif (failed := committing.exception()) is not None:
                log.warning("a page of %s %s failed: %s", channel.name, stream, failed)
            else:
                take(committing.result())  # it committed: counted all the same
        # When a page fails to commit, the adapter's generator ends at once, releasing what
        # it holds (a downloaded export, say) now rather than whenever it is collected.
        close = getattr(stream_pages, "aclose", None)
        if close is not None:
            await close()
    # A checkpoint is the adapter's word for how far the stream is complete, saved as its
    # page committed; the newest change seen stands in only for a stream that gave none (it
    # is wrong when pages do not run in order of change, as in a bulk export).
    if not checkpointed and newest is not None:
        with ctx.store.transaction() as tx:
            tx.set_cursor(channel.name, stream, newest, utcnow())


async def _commit_page(
    ctx: EngineContext,
    channel: ResolvedChannel,
    stream: str,
    page: Page[T],
    apply: Apply[T],
) -> Committed:
    """Apply one page in one transaction, in a thread (again, if the database stopped it
    for colliding with another writer). Returns the newest change, what it counted and the
    incidents it found: an attempt that did not commit leaves nothing behind."""

    def attempt() -> Committed:
        scratch = ChannelReport(channel.name, channel.adapter_class.name)
        found: list[Incident] = []
        now = utcnow()
        with ctx.store.transaction() as tx:
            scratch.counts["quarantined"] += quarantine_rejects(tx, channel.name, page.rejects, now)
            seen = apply(tx, page.items, now, scratch, found)
            if page.checkpoint is not None:
                tx.set_cursor(channel.name, stream, page.checkpoint, now)
        return seen, scratch.counts, found

    return await retry_conflicts(attempt, f"a page of {channel.name} {stream}", threaded=True)


# Orders ----------------------------------------------------------------------------------------


def apply_orders(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    orders: Iterable[Order],
    now: datetime,
    report: ChannelReport,
    incidents: list[Incident],
) -> datetime | None:
    """Import orders, oldest first, so that one bad order cannot spoil the rest.

    Orders new to the store are imported together (`NewOrders`), the others each in a
    savepoint. Should anything in the new orders fail, the page is imported again one order at
    a time, each in its own savepoint, and only the failing order is quarantined.

    An order quarantined before (its payload could not be mapped, or its import failed) that
    now imports, fixed on the channel, has its dead letter resolved. Returns the newest
    ``updated_at`` among them.
    """
    ordered = sorted(orders, key=lambda o: (o.created_at, o.external_id))
    if not ordered:  # a webhook of another kind, a page of deletions only
        return None
    lock_for_import(tx, [o for o in ordered if o.channel == channel.name], ctx)
    # Read before the page: a letter this page writes is not one a good import here resolves.
    quarantined = {kind: tx.unresolved_keys(channel.name, kind) for kind in _ORDER_LETTERS}
    try:
        with tx.conn.begin_nested():
            outcomes = _import_together(tx, ctx, channel, ordered, now)
    except (OperationalError, InterfaceError):
        raise  # the database, not an order: the whole page is tried again
    except Exception as exc:  # found again, and pinned to its order, one order at a time
        log.info("importing %d orders one at a time: %s", len(ordered), exc)
        outcomes = [_import_isolated(tx, ctx, channel, order, now) for order in ordered]
    newest: datetime | None = None
    for order, outcome in zip(ordered, outcomes, strict=True):
        newest = order.updated_at if newest is None else max(newest, order.updated_at)
        if isinstance(outcome, str):
            report.counts["orders_quarantined"] += 1
            continue
        report.counts[f"orders_{outcome.outcome}"] += 1
        incidents.extend(outcome.incidents)
        if outcome.unknown_skus:
            report.counts["unknown_skus"] += outcome.unknown_skus
        for kind, keys in quarantined.items():
            if order.external_id in keys:
                tx.resolve_dead_letters(channel.name, kind, order.external_id, now)
                report.counts["orders_unquarantined"] += 1
    return newest


# Dead letters of an order that its next good import resolves.
_ORDER_LETTERS = ("order", "order_import")


def _import_together(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    ordered: list[Order],
    now: datetime,
) -> list[ImportResult | str]:
    """Import ``ordered``: the new orders together, any other one in a savepoint of its own."""
    new = NewOrders(tx, ordered, channel, ctx, now)
    outcomes: list[ImportResult | str] = []
    for order in ordered:
        if new.takes(order):
            with log_context(order=order.external_id):
                outcomes.append(new.import_order(order))
        else:
            new.pause()
            outcomes.append(_import_isolated(tx, ctx, channel, order, now))
    new.finish()
    return outcomes


def _import_isolated(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    order: Order,
    now: datetime,
) -> ImportResult | str:
    """Import one order in a savepoint: its result, or why it was quarantined instead."""
    reason = None
    if order.channel != channel.name:
        reason = f"adapter returned an order of channel {order.channel!r} on {channel.name!r}"
    else:
        try:
            with log_context(order=order.external_id), tx.conn.begin_nested():
                return import_order(tx, order, channel, ctx, now)
        except (OperationalError, InterfaceError):
            raise  # the database, not the order: the whole page is tried again
        except Exception as exc:  # one order's failure (even a plugin's bug) must not stop a sync
            log.warning("order %s quarantined: %s", order.external_id, exc, exc_info=True)
            reason = f"import failed: {exc}"
    payload = order.model_dump(mode="json")
    tx.quarantine(channel.name, "order_import", order.external_id, reason, payload, now)
    return reason


async def pull_orders(
    ctx: EngineContext,
    channel: ResolvedChannel,
    adapter: Adapter,
    report: ChannelReport,
    incidents: list[Incident],
    progress: Progress | None = None,
) -> None:
    """Import the channel's orders changed since its cursor."""

    def apply(
        tx: Transaction,
        orders: list[Order],
        now: datetime,
        counted: ChannelReport,
        found: list[Incident],
    ) -> datetime | None:
        return apply_orders(tx, ctx, channel, orders, now, counted, found)

    await _pages(ctx, channel, "orders", adapter.pull_orders, apply, report, progress, incidents)


def apply_deletions(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    order_ids: Iterable[str],
    now: datetime,
    report: ChannelReport,
    incidents: list[Incident],
) -> None:
    """Treat orders the channel deleted as cancelled, so their stock is released."""
    cancelled = []
    for order_id in order_ids:
        tx.lock_order(channel.name, order_id)  # read what no one else is changing
        stored = tx.get_order(channel.name, order_id)
        if stored is None or stored.order.is_cancelled:
            continue
        after = max(now, stored.order.updated_at + timedelta(microseconds=1))
        update = {
            "status": OrderStatus.CANCELLED,
            "updated_at": after,
            "cancelled_at": after,
            "cancel_reason": "deleted on the channel",
        }
        cancelled.append(stored.order.model_copy(update=update))
    apply_orders(tx, ctx, channel, cancelled, now, report, incidents)


# Stock counts ----------------------------------------------------------------------------------


def apply_stock(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    levels: Iterable[StockLevel],
    now: datetime,
    report: ChannelReport,
    read_at: datetime,
) -> datetime | None:
    """Apply counts from an inventory source; returns the newest count time among them."""
    mapping = ctx.loaded.source_locations(channel.name)
    newest: datetime | None = None
    levels = list(levels)
    # Lock the page's SKUs at once, in order, so that a reservation taking them in the same
    # order can never deadlock with this transaction.
    counted = {level.sku for level in levels if level.location in mapping}
    tx.ensure_skus(counted, now)
    tx.lock_skus(counted)
    for level in levels:
        location = mapping.get(level.location)
        if location is None:
            report.counts["stock_unmapped"] += 1
            continue
        as_of = level.as_of or read_at
        if level.as_of is not None:
            newest = as_of if newest is None else max(newest, as_of)
        if apply_count(tx, level.sku, location, level.on_hand, as_of, source=channel.name, now=now):
            report.counts["stock_counts"] += 1
        else:
            report.counts["stock_unchanged"] += 1
    return newest


async def pull_stock(
    ctx: EngineContext,
    channel: ResolvedChannel,
    adapter: Adapter,
    report: ChannelReport,
    progress: Progress | None = None,
) -> None:
    """Apply the inventory source's counts changed since its cursor."""
    read_at = utcnow()

    def apply(
        tx: Transaction,
        levels: list[StockLevel],
        now: datetime,
        counted: ChannelReport,
        found: list[Incident],
    ) -> datetime | None:
        return apply_stock(tx, ctx, channel, levels, now, counted, read_at)

    await _pages(ctx, channel, "stock", adapter.pull_stock, apply, report, progress)
    # Read to the end: every count of this source is now confirmed as of read_at.
    lag = timedelta(seconds=ctx.loaded.config.engine.count_lag_seconds)
    locations = ctx.loaded.source_locations(channel.name).values()

    def confirm() -> int:
        with ctx.store.transaction() as tx:
            return confirm_counts(tx, locations, read_at - lag, source=channel.name, now=utcnow())

    settled = await retry_conflicts(confirm, f"confirming the counts of {channel.name}")
    report.counts["shipments_settled"] += settled
    if report.counts["stock_unmapped"]:
        log.warning(
            "%d counts were for locations no [locations] entry maps to %r; ignored",
            report.counts["stock_unmapped"],
            channel.name,
        )


# Returns ---------------------------------------------------------------------------------------


def apply_returns(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    returns: Iterable[Return],
    now: datetime,
    report: ChannelReport,
) -> datetime | None:
    """Store returns; restock the lines of those received, once each."""
    newest: datetime | None = None
    for ret in returns:
        newest = ret.updated_at if newest is None else max(newest, ret.updated_at)
        tx.save_return(ret)
        if ret.status is ReturnStatus.RECEIVED and not tx.return_applied(
            ret.channel, ret.return_id
        ):
            _restock(tx, ctx, channel, ret, now)
            tx.mark_return_applied(ret.channel, ret.return_id, now)
            report.counts["returns_restocked"] += 1
        report.counts["returns"] += 1
    return newest


def _restock(
    tx: Transaction, ctx: EngineContext, channel: ResolvedChannel, ret: Return, now: datetime
) -> None:
    stored = tx.get_order(ret.channel, ret.order_id)
    by_line = {line.line_id: line for line in stored.order.lines} if stored else {}
    for item in ret.lines:
        sku = item.sku or (by_line[item.line_id].sku if item.line_id in by_line else None)
        if item.disposition is not ReturnDisposition.RESTOCK or sku is None:
            continue
        location = ret.location if ret.location in ctx.loaded.config.locations else None
        location = location or channel.locations[0]
        for component, per in ctx.bundles.get(sku, {sku: 1}).items():
            restock(
                tx,
                component,
                location,
                item.quantity * per,
                local=location in ctx.local_locations,
                channel=channel.name,
                order_ref=f"{ret.channel}:{ret.order_id}/{item.line_id}",
                now=now,
            )


async def pull_returns(
    ctx: EngineContext,
    channel: ResolvedChannel,
    adapter: Adapter,
    report: ChannelReport,
    progress: Progress | None = None,
) -> None:
    """Import the channel's returns changed since its cursor."""

    def apply(
        tx: Transaction,
        returns: list[Return],
        now: datetime,
        counted: ChannelReport,
        found: list[Incident],
    ) -> datetime | None:
        return apply_returns(tx, ctx, channel, returns, now, counted)

    await _pages(ctx, channel, "returns", adapter.pull_returns, apply, report, progress)


async def pull_shipments(
    ctx: EngineContext,
    channel: ResolvedChannel,
    adapter: Adapter,
    report: ChannelReport,
    progress: Progress | None = None,
) -> None:
    """Read the back office's shipments since its cursor, as fulfilments to push."""

    def apply(
        tx: Transaction,
        shipments: list[Shipment],
        now: datetime,
        counted: ChannelReport,
        found: list[Incident],
    ) -> datetime | None:
        return apply_shipments(tx, ctx, channel, shipments, now, counted)

    await _pages(ctx, channel, "shipments", adapter.pull_shipments, apply, report, progress)


async def pull_listings(
    ctx: EngineContext, channel: ResolvedChannel, adapter: Adapter, report: ChannelReport
) -> None:
    """Rediscover which SKUs the channel lists, replacing what was known."""
    found: list[Any] = []
    rejects: list[RejectedRecord] = []
    async for page in adapter.pull_listings():
        found.extend(page.items)
        rejects.extend(page.rejects)
    now = utcnow()
    with ctx.store.transaction() as tx:
        report.counts["quarantined"] += quarantine_rejects(tx, channel.name, rejects, now)
        tx.replace_listings(channel.name, found, now)
    report.counts["listings"] = len(found)
