"""Stock counts and corrections: what changes on-hand quantities."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from omnisync.store import ReservationRow, Transaction

__all__ = ["apply_count", "confirm_counts", "restock", "settle"]


def apply_count(
    tx: Transaction,
    sku: str,
    location: str,
    on_hand: int,
    as_of: datetime,
    *,
    source: str,
    now: datetime,
) -> bool:
    """Record that ``location`` holds ``on_hand`` of ``sku`` as of ``as_of``.

    A count older than the one stored (it arrived out of order), or the same count read again,
    changes nothing; returns whether the count was applied. Shipments from before ``as_of``
    are now reflected in the count, so the stock they held is released ("settled").
    """
    tx.ensure_skus([sku], now)
    tx.lock_skus([sku])
    current = tx.stock_level(sku, location)
    if current is not None and (as_of < current[1] or (as_of, on_hand) == (current[1], current[0])):
        return False  # out of order, or a re-read of the count already applied
    before = current[0] if current is not None else 0
    tx.write_stock_level(sku, location, on_hand, as_of, source)
    tx.append_ledger(
        "count",
        sku,
        now,
        location=location,
        channel=source,
        on_hand_delta=on_hand - before,
        value=on_hand,
    )
    settle(
        tx,
        tx.shipped_rows(sku, [location], before=as_of),
        source=source,
        now=now,
        note="a later count shows the shipment",
    )
    return True


def confirm_counts(
    tx: Transaction, locations: Collection[str], before: datetime, *, source: str, now: datetime
) -> int:
    """Settle shipments from before ``before`` at ``locations``: their counts were confirmed
    unchanged since then, so the goods are no longer in them. Returns how many rows settled.

    Needed when the inventory source recorded a shipment before the channel reported it: the
    count that shows the goods gone is then older than the shipment, and would never settle.
    """
    locked: set[str] = set()
    while True:
        # Lock the rows' SKUs, then read the rows again: one that shipped meanwhile brings a
        # SKU not yet locked, and another turn.
        rows = tx.shipped_rows(None, locations, before=before)
        skus = {row.sku for row in rows}
        if skus <= locked:
            break
        tx.lock_skus(skus)
        locked |= skus
    settle(tx, rows, source=source, now=now, note="counts confirmed after the source's lag")
    return len(rows)


def settle(
    tx: Transaction, rows: list[ReservationRow], *, source: str, now: datetime, note: str
) -> None:
    """Release the stock that shipped units held: a count no longer includes them."""
    for row in rows:
        units, row.settled, row.shipped = row.shipped, row.settled + row.shipped, 0
        tx.save_reservation(row)
        tx.append_ledger(
            "settle",
            row.sku,
            now,
            location=row.location,
            channel=source,
            held_delta=-units,
            order_ref=f"order#{row.order_id}/{row.line_id}",
            note=note,
        )


def restock(
    tx: Transaction,
    sku: str,
    location: str,
    units: int,
    *,
    local: bool,
    channel: str,
    order_ref: str,
    now: datetime,
) -> None:
    """Returned goods back on the shelf. Where omnisync keeps the count, it goes up now;
    where an inventory source counts, its next count will show them."""
    if local:
        tx.lock_skus([sku])
        tx.adjust_stock(sku, location, units, source="omnisync")
    tx.append_ledger(
        "restock",
        sku,
        now,
        location=location,
        channel=channel,
        on_hand_delta=units if local else 0,
        order_ref=order_ref,
        note=None if local else "awaiting the inventory source's count",
    )
