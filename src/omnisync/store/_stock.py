"""Store operations on stock: SKUs, on-hand levels, the ledger, and what channels acknowledged."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, null, select

from omnisync.models import Listing
from omnisync.store import _schema as t
from omnisync.store._base import PLAN_CHANNELS, TransactionBase, list_param, one_of
from omnisync.store._records import Acknowledged, LedgerEntry, StockCell

__all__ = ["NEVER_COUNTED", "StockMixin"]

NEVER_COUNTED = datetime(1970, 1, 1, tzinfo=UTC)
"""The ``as_of`` of a level that no count has ever set, only adjustments."""

_FETCH = 5_000
"""Rows fetched from the driver at once."""

# Queries an import runs for every order, built once with the SKUs as one list parameter:
# SQLAlchemy then reuses their compiled form instead of rebuilding them each time.
_SKUS = list_param("skus")
_KNOWN = select(t.skus.c.sku).where(one_of(t.skus.c.sku, _SKUS))
_LOCK = _KNOWN.order_by(t.skus.c.sku).with_for_update()
_LEVELS = select(
    t.stock_levels.c.sku,
    t.stock_levels.c.location,
    t.stock_levels.c.on_hand,
    t.stock_levels.c.as_of,
)
_HELD = select(t.stock_held.c.sku, t.stock_held.c.location, t.stock_held.c.held).where(
    t.stock_held.c.held > 0
)
_LEVELS_OF = _LEVELS.where(one_of(t.stock_levels.c.sku, _SKUS))
# The same without the time of the count: reading it back (a string on SQLite) costs more
# than the rest of the row, and quantities alone do not need it.
_COUNTS_OF = select(
    t.stock_levels.c.sku, t.stock_levels.c.location, t.stock_levels.c.on_hand, null()
).where(one_of(t.stock_levels.c.sku, _SKUS))
_HELD_OF = _HELD.where(one_of(t.stock_held.c.sku, _SKUS))
# What each push reads of its channel, built once as well.
_CHANNEL: BindParameter[str] = bindparam("ch")
_ACKED = select(t.acknowledged.c.sku, t.acknowledged.c.quantity, t.acknowledged.c.moved).where(
    t.acknowledged.c.channel == _CHANNEL
)
_ACKED_OF = _ACKED.where(one_of(t.acknowledged.c.sku, _SKUS))
_ACKED_BY = select(
    t.acknowledged.c.channel,
    t.acknowledged.c.sku,
    t.acknowledged.c.quantity,
    t.acknowledged.c.moved,
).where(one_of(t.acknowledged.c.channel, list_param("chs")), one_of(t.acknowledged.c.sku, _SKUS))
_PENDING = select(t.pending_pushes.c.sku, t.pending_pushes.c.version).where(
    t.pending_pushes.c.channel == _CHANNEL
)
_PENDING_OF = _PENDING.where(one_of(t.pending_pushes.c.sku, _SKUS))
_LISTINGS = select(t.listings.c.sku, t.listings.c.payload).where(t.listings.c.channel == _CHANNEL)
_LISTINGS_OF = _LISTINGS.where(one_of(t.listings.c.sku, _SKUS))
_PUSH_PLAN = select(t.push_plans.c.fingerprint, t.push_plans.c.complete).where(
    t.push_plans.c.channel == _CHANNEL
)
_LEVEL = select(t.stock_levels.c.on_hand, t.stock_levels.c.as_of).where(
    t.stock_levels.c.sku == bindparam("sku"), t.stock_levels.c.location == bindparam("loc")
)
_MOVED_UNLESS = (
    t.acknowledged.update()
    .where(
        t.acknowledged.c.channel == bindparam("ch"),
        t.acknowledged.c.sku == bindparam("s"),
        t.acknowledged.c.quantity != bindparam("q"),
    )
    .values(moved=True)
)
_CLEAR = t.pending_pushes.delete().where(
    t.pending_pushes.c.channel == bindparam("ch"),
    t.pending_pushes.c.sku == bindparam("s"),
    t.pending_pushes.c.version == bindparam("v"),
)
_MOVED = (
    t.acknowledged.update()
    .where(t.acknowledged.c.channel == _CHANNEL, one_of(t.acknowledged.c.sku, _SKUS))
    .values(moved=True)
)


class StockMixin(TransactionBase):
    """On-hand stock per SKU and location, and the ledger that explains every change."""

    def ensure_skus(self, skus: Iterable[str], now: datetime) -> None:
        """Make the SKUs known to omnisync (a no-op for those already known)."""
        for sku in sorted(set(skus)):  # in order: concurrent inserters cannot deadlock
            self._insert_ignore(t.skus, {"sku": sku, "created_at": now}, keys=("sku",))

    def known_skus(self, skus: Collection[str]) -> set[str]:
        """Which of ``skus`` omnisync knows."""
        return set(self.conn.execute(_KNOWN, {"skus": list(skus)}).scalars())

    def all_skus(self) -> list[str]:
        """Every SKU omnisync knows, sorted."""
        return list(self.conn.execute(select(t.skus.c.sku).order_by(t.skus.c.sku)).scalars())

    def lock_skus(self, skus: Collection[str]) -> None:
        """Lock the SKUs' rows until the transaction ends, so concurrent writers queue.

        SQLite already serialises writers for the whole transaction; PostgreSQL takes row locks,
        in SKU order so two writers cannot deadlock.
        """
        if self.serialised or not skus:
            return
        self.conn.execute(_LOCK, {"skus": sorted(skus)}).all()

    def stock_level(self, sku: str, location: str) -> tuple[int, datetime] | None:
        """``(on_hand, as_of)`` of ``sku`` at ``location``, or ``None`` if never counted."""
        row = self.conn.execute(_LEVEL, {"sku": sku, "loc": location}).first()
        return (row[0], row[1]) if row else None

    def write_stock_level(
        self, sku: str, location: str, on_hand: int, as_of: datetime, source: str
    ) -> None:
        """Store the on-hand count of ``sku`` at ``location``, as true at ``as_of``."""
        self._upsert(
            t.stock_levels,
            {
                "sku": sku,
                "location": location,
                "on_hand": on_hand,
                "as_of": as_of,
                "source": source,
            },
            keys=("sku", "location"),
            update=("on_hand", "as_of", "source"),
        )
        self.mark_pending([sku])

    def adjust_stock(self, sku: str, location: str, delta: int, source: str) -> int:
        """Add ``delta`` to the on-hand count, keeping the time of the last real count.

        A location never counted starts from zero, as of `NEVER_COUNTED`. Returns the new count.
        """
        current = self.stock_level(sku, location)
        if current is None:
            self.write_stock_level(sku, location, delta, NEVER_COUNTED, source)
            return delta
        on_hand, as_of = current
        self.write_stock_level(sku, location, on_hand + delta, as_of, source)
        return on_hand + delta

    def stock_cells(
        self, skus: Collection[str] | None = None, *, times: bool = True
    ) -> dict[str, dict[str, StockCell]]:
        """On hand and held per SKU and location; every known SKU when ``skus`` is ``None``.
        Without ``times``, cells of given SKUs leave out when they were counted (``as_of``)."""
        held = {
            (sku, location): int(units)
            for sku, location, units in self._rows(_HELD, _HELD_OF, skus)
        }
        cells: dict[str, dict[str, StockCell]] = {}
        for sku, location, quantity, as_of in self._rows(
            _LEVELS, _LEVELS_OF if times else _COUNTS_OF, skus
        ):
            units = held.pop((sku, location), 0)
            cells.setdefault(sku, {})[location] = StockCell(quantity, units, as_of)
        for (sku, location), units in held.items():  # held where nothing was ever counted
            cells.setdefault(sku, {})[location] = StockCell(0, units)
        for sku in skus or ():
            cells.setdefault(sku, {})
        return cells

    # Ledger -------------------------------------------------------------------------------

    def append_ledger(
        self,
        kind: str,
        sku: str,
        at: datetime,
        *,
        on_hand_delta: int = 0,
        held_delta: int = 0,
        value: int | None = None,
        location: str | None = None,
        channel: str | None = None,
        order_ref: str | None = None,
        note: str | None = None,
    ) -> None:
        """Append one entry to the stock ledger."""
        self.conn.execute(
            self._insert(t.ledger),
            {
                "at": at,
                "kind": kind,
                "sku": sku,
                "location": location,
                "channel": channel,
                "on_hand_delta": on_hand_delta,
                "held_delta": held_delta,
                "value": value,
                "order_ref": order_ref,
                "note": note,
            },
        )

    def append_ledger_many(self, entries: list[dict[str, Any]]) -> None:
        """Append many ledger entries at once (a stock push of thousands of SKUs)."""
        if entries:
            defaults = {
                "location": None,
                "channel": None,
                "on_hand_delta": 0,
                "held_delta": 0,
                "value": None,
                "order_ref": None,
                "note": None,
            }
            self._run(self._insert(t.ledger), [{**defaults, **entry} for entry in entries])

    def ledger_for(self, sku: str, limit: int | None = 50) -> list[LedgerEntry]:
        """The latest ``limit`` ledger entries for ``sku`` (all when ``None``), oldest first."""
        rows = self.conn.execute(
            select(t.ledger)
            .where(t.ledger.c.sku == sku)
            .order_by(t.ledger.c.id.desc())
            .limit(limit)
        ).all()
        return [
            LedgerEntry(
                id=row.id,
                at=row.at,
                kind=row.kind,
                sku=row.sku,
                location=row.location,
                channel=row.channel,
                on_hand_delta=row.on_hand_delta,
                held_delta=row.held_delta,
                value=row.value,
                order_ref=row.order_ref,
                note=row.note,
            )
            for row in reversed(rows)
        ]

    # What channels acknowledged -------------------------------------------------------------

    def acknowledged(
        self, channel: str, skus: Collection[str] | None = None
    ) -> dict[str, Acknowledged]:
        """What ``channel`` last confirmed for each SKU pushed to it (of ``skus`` only, if
        given)."""
        rows = self._rows(_ACKED, _ACKED_OF, skus, ch=channel)
        return {row[0]: Acknowledged(row[1], bool(row[2])) for row in rows}

    def acknowledged_by(
        self, channels: Collection[str], skus: Collection[str]
    ) -> dict[str, dict[str, Acknowledged]]:
        """What each of ``channels`` last confirmed of each of ``skus`` (channel → SKU →
        acknowledgement), in one query."""
        found: dict[str, dict[str, Acknowledged]] = {channel: {} for channel in channels}
        for channel, sku, quantity, moved in self._rows(
            None, _ACKED_BY, skus, chs=sorted(channels)
        ):
            found[channel][sku] = Acknowledged(quantity, bool(moved))
        return found

    def acknowledge(self, channel: str, quantities: dict[str, int], now: datetime) -> None:
        """Record the quantities ``channel`` confirmed."""
        self._upsert(
            t.acknowledged,
            [
                {"channel": channel, "sku": sku, "quantity": quantity, "at": now, "moved": False}
                for sku, quantity in sorted(quantities.items())  # rows locked in one order
            ],
            keys=("channel", "sku"),
            update=("quantity", "at", "moved"),
        )

    def mark_moved(self, channel: str, skus: Collection[str]) -> None:
        """Note that what ``channel`` shows for these SKUs moved since it acknowledged them.

        Channels take units they sell off their own quantity, and merchants edit quantities in
        channels' back offices; either way the channel no longer shows what it acknowledged,
        so the next push sends the SKUs again even if omnisync's number for them did not
        change (a channel capped at a maximum, say).
        """
        self.conn.execute(_MOVED, {"ch": channel, "skus": list(skus)})
        self.mark_pending(skus, [channel])

    def mark_moved_unless(self, channel: str, shown: dict[str, int]) -> None:
        """Mark SKUs moved where ``channel`` now shows other than it acknowledged."""
        if shown:
            self.conn.execute(
                _MOVED_UNLESS,
                [{"ch": channel, "s": sku, "q": q} for sku, q in sorted(shown.items())],
            )
        self.mark_pending(shown, [channel])

    # What the next push of each channel must look at ----------------------------------------

    def pending(self, channel: str, skus: Collection[str] | None = None) -> dict[str, int]:
        """The SKUs pending for ``channel``'s next push (of ``skus`` only, if given), with the
        version of their last change."""
        return dict(self._rows(_PENDING, _PENDING_OF, skus, ch=channel))

    def clear_pending(self, channel: str, seen: dict[str, int]) -> None:
        """Clear the pending SKUs a push dealt with, unless they changed again since it read
        them (their version moved on)."""
        if not seen:
            return
        self.conn.execute(
            _CLEAR,
            [{"ch": channel, "s": sku, "v": version} for sku, version in sorted(seen.items())],
        )

    def forget_push_plans(self, keep: Collection[str]) -> None:
        """Drop the plans and pending SKUs of channels other than ``keep`` (removed from the
        configuration, or no longer pushing stock), so changes stop being noted for them."""
        plans, pending = t.push_plans, t.pending_pushes
        stale = [name for name in self.conn.execute(PLAN_CHANNELS).scalars() if name not in keep]
        if stale:
            self.lock_key("push_plans", "rows")
            gone = list_param("stale")
            for table in (plans, pending):
                self.conn.execute(
                    table.delete().where(one_of(table.c.channel, gone)), {"stale": stale}
                )

    def push_plan(self, channel: str) -> tuple[str, bool] | None:
        """What ``channel``'s pushes plan from: (fingerprint, whether its full push finished)."""
        row = self.conn.execute(_PUSH_PLAN, {"ch": channel}).first()
        return (row[0], bool(row[1])) if row else None

    def set_push_plan(
        self, channel: str, fingerprint: str, now: datetime, *, complete: bool
    ) -> None:
        """Record what ``channel``'s pushes plan from, and whether its full push finished."""
        if not complete:
            self.lock_key("push_plans", "rows")  # waits out writers marking changes pending
        self._upsert(
            t.push_plans,
            {"channel": channel, "fingerprint": fingerprint, "complete": complete, "at": now},
            keys=("channel",),
            update=("fingerprint", "complete", "at"),
        )

    def replace_listings(self, channel: str, listings: Iterable[Listing], now: datetime) -> None:
        """Replace what omnisync knows of ``channel``'s listings with a fresh discovery. When
        they changed, the channel's next push is planned in full, for what it lists now."""
        rows = [
            {
                "channel": channel,
                "sku": item.sku,
                "payload": item.model_dump_json(),
                "updated_at": now,
            }
            for item in {item.sku: item for item in listings}.values()
        ]
        found = {row["sku"]: row["payload"] for row in rows}
        before = self.conn.execute(
            select(t.listings.c.sku, t.listings.c.payload).where(t.listings.c.channel == channel)
        )
        if dict(before.all()) == found:
            return
        self.conn.execute(t.listings.delete().where(t.listings.c.channel == channel))
        # Kept (so changes stay pending for the channel), but its next push plans in full.
        plans = t.push_plans
        self.conn.execute(plans.update().where(plans.c.channel == channel).values(complete=False))
        if rows:
            self.conn.execute(t.listings.insert(), rows)

    def listings(self, channel: str, skus: Collection[str] | None = None) -> dict[str, Listing]:
        """The channel's listings by SKU, as last discovered (of ``skus`` only, if given)."""
        rows = self._rows(_LISTINGS, _LISTINGS_OF, skus, ch=channel)
        return {sku: Listing.model_validate_json(payload) for sku, payload in rows}

    def _rows(
        self, every: Any, of_skus: Any, skus: Collection[str] | None, **params: Any
    ) -> Iterator[Any]:
        """The rows of ``every``; with ``skus``, those of ``of_skus`` (the same query limited
        to the ``skus`` parameter)."""
        # In lists of rows, not row by row: SQLAlchemy then fetches each list in one call to
        # the driver, rather than one call a row (a push planning thousands of SKUs).
        if skus is None:
            for part in self.conn.execute(every, params).partitions(_FETCH):
                yield from part
            return
        for part in self.conn.execute(of_skus, {**params, "skus": list(skus)}).partitions(_FETCH):
            yield from part
