"""Reservations: bring the stock an order holds in line with what the order now says.

Run on every import of an order, inside the import's transaction, and idempotent: the same
order state always ends with the same reservations, however often it is applied. Per order
line and SKU (a bundle line reserves each component):

- units not yet fulfilled or cancelled are *reserved*, at locations that serve the channel;
- fulfilled units are *shipped*: they keep holding stock until a count taken after the
  shipment arrives (it alone can reflect that the goods left), then they are *settled*. At a
  location omnisync counts itself there is no such count to wait for: the on-hand count is
  reduced at once;
- a cancelled order releases what it reserved; shipped units stay until counted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from omnisync import plugins
from omnisync._hookdata import OrderEvent, OrderEventKind
from omnisync._logging import log_context
from omnisync.config import ResolvedChannel
from omnisync.engine._context import EngineContext
from omnisync.engine._page import PageStock
from omnisync.models import Order
from omnisync.store import (
    Holder,
    Incident,
    ReservationRow,
    StockCell,
    StoredOrder,
    Transaction,
)

__all__ = ["Reconciled", "lock_for_import", "order_skus", "reconcile"]

log = logging.getLogger("omnisync.engine")

Key = tuple[str, str]  # (line id, SKU)


@dataclass
class Reconciled:
    """What reconciling an order found: oversells recorded, and lines whose SKU is unknown."""

    incidents: list[Incident] = field(default_factory=list)
    unknown: list[Key] = field(default_factory=list)


@dataclass(frozen=True)
class _Target:
    open: int
    fulfilled: int


def _targets(order: Order, bundles: dict[str, dict[str, int]]) -> dict[Key, _Target]:
    targets: dict[Key, _Target] = {}
    for line in order.lines:
        if line.sku is None:
            continue
        open_units = 0 if order.is_cancelled else line.open_quantity
        for sku, per in bundles.get(line.sku, {line.sku: 1}).items():
            targets[(line.line_id, sku)] = _Target(open_units * per, line.fulfilled_quantity * per)
    return targets


def order_skus(order: Order, bundles: dict[str, dict[str, int]]) -> set[str]:
    """Every SKU whose stock ``order`` can move (a bundle's components for a bundle)."""
    return {sku for _, sku in _targets(order, bundles)}


def lock_for_import(tx: Transaction, orders: Sequence[Order], ctx: EngineContext) -> None:
    """Lock the orders, then every SKU they (or their stored versions) touch, each kind in
    sorted order, before any of them is imported: writers that lock the same way never wait
    on each other in a cycle, so pages of orders from several channels import side by side
    without deadlocks."""
    if tx.serialised:  # nothing to lock: and reading the stored orders costs a parse each
        return
    for channel, external_id in sorted({(o.channel, o.external_id) for o in orders}):
        tx.lock_order(channel, external_id)
    skus: set[str] = set()
    for order in orders:
        skus |= order_skus(order, ctx.bundles)
        stored = tx.get_order(order.channel, order.external_id)
        if stored is not None:
            skus |= order_skus(stored.order, ctx.bundles)
    tx.lock_skus(skus)


def reconcile(
    tx: Transaction,
    stored: StoredOrder,
    channel: ResolvedChannel,
    ctx: EngineContext,
    now: datetime,
    page: PageStock | None = None,
) -> Reconciled:
    """Make ``stored``'s reservations match the order; see the module docstring.

    With ``page``, ``stored`` is an order new to the store, imported with the rest of a page:
    its stock is read from and written to ``page`` (see `PageStock`).
    """
    return _Reconciler(tx, stored, channel, ctx, now, page).run()


class _Reconciler:
    def __init__(
        self,
        tx: Transaction,
        stored: StoredOrder,
        channel: ResolvedChannel,
        ctx: EngineContext,
        now: datetime,
        page: PageStock | None,
    ) -> None:
        self.tx = tx
        self.page = page
        self.stored = stored
        self.order = stored.order
        self.channel = channel
        self.ctx = ctx
        self.now = now
        self.result = Reconciled()
        self.rows: dict[Key, list[ReservationRow]] = defaultdict(list)
        self.next_seq = 0
        self.lines = {line.line_id: line for line in self.order.lines}
        self.ref = f"{self.order.channel}:{self.order.external_id}"
        self.cells: dict[str, dict[str, StockCell]] = {}
        """Stock cells read for this order, dropped for a SKU as soon as it is written."""
        self.entries: list[dict[str, Any]] = []
        """Ledger entries, written together when the order is reconciled."""
        self.new_rows: list[ReservationRow] = []
        """Reservation rows created for this order, inserted together at the end."""

    def run(self) -> Reconciled:
        # Lock every SKU the order touches before reading its rows: a count settling one of
        # them in another transaction then either finished first or waits for this one.
        targets = _targets(self.order, self.ctx.bundles)
        if self.page is not None:
            return self._run_new(targets, self.page)
        touched = {sku for _, sku in targets}
        existing = self.tx.reservations_for_order(self.stored.id)
        touched |= {row.sku for row in existing}
        self.tx.lock_skus(touched)
        # Read again under the locks: another writer may have changed them meanwhile.
        if existing:
            existing = self.tx.reservations_for_order(self.stored.id)
        for row in existing:
            self.rows[(row.line_id, row.sku)].append(row)
            self.next_seq = max(self.next_seq, row.seq + 1)
        known = self.tx.known_skus({sku for _, sku in targets})
        for key in list(targets):
            if key[1] not in known and key not in self.rows:
                self.result.unknown.append(key)
                del targets[key]
        for key, rows in self.rows.items():
            if key not in targets:  # the line left the order: release it, keep what shipped
                targets[key] = _Target(0, sum(row.shipped + row.settled for row in rows))
        self.cells = self.tx.stock_cells({sku for _, sku in targets})
        for key, target in targets.items():
            self._fulfil(key, target.fulfilled)
            self._reserve(key, target.open)
        self._flush()
        self.tx.append_ledger_many(self.entries)
        return self.result

    def _run_new(self, targets: dict[Key, _Target], page: PageStock) -> Reconciled:
        """`run` for an order new to the store: nothing reserved yet, its SKUs locked and
        read by the page."""
        page.load({sku for _, sku in targets})
        for key, target in targets.items():
            if key[1] not in page.known:
                self.result.unknown.append(key)
                continue
            self._fulfil(key, target.fulfilled)
            self._reserve(key, target.open)
        self._flush()
        return self.result

    def _save(self, row: ReservationRow) -> None:
        if row.id is None:
            if not any(row is new for new in self.new_rows):
                self.new_rows.append(row)
        else:
            self.tx.save_reservation(row)
        if self.page is None:
            self.cells.pop(row.sku, None)

    def _flush(self) -> None:
        """Insert the new rows, before anything reads reservations from the store (with a
        page: hand them to the page, which inserts them with the rest)."""
        if self.page is not None:
            self.page.rows.extend(self.new_rows)
        else:
            self.tx.save_reservations(self.new_rows)
        self.new_rows.clear()

    def _adjust(self, row: ReservationRow, delta: int) -> None:
        # The delta itself reaches the page's cells with the ledger entry that goes with it.
        if self.page is not None:
            self.page.adjusted(row.sku, row.location)
            return
        self.tx.adjust_stock(row.sku, row.location, delta, source="omnisync")
        self.cells.pop(row.sku, None)

    def _level(self, sku: str, location: str) -> tuple[int, datetime] | None:
        if self.page is not None:
            return self.page.level(sku, location)
        return self.tx.stock_level(sku, location)

    # Shipments -------------------------------------------------------------------------------

    def _fulfil(self, key: Key, fulfilled: int) -> None:
        rows = self.rows[key]
        recorded = sum(row.shipped + row.settled for row in rows)
        if fulfilled > recorded:
            self._ship(key, fulfilled - recorded)
        elif fulfilled < recorded:
            self._unship(key, recorded - fulfilled)

    def _ship(self, key: Key, units: int) -> None:
        shipped_at = self.order.updated_at
        for row in self.rows[key]:
            take = min(row.reserved, units)
            if take:
                row.reserved -= take
                self._shipped(row, take, shipped_at, from_reserved=True)
                units -= take
        if units:
            # Shipped with nothing reserved (first seen already fulfilled, say). The goods
            # left, so if omnisync thought them taken, other orders were sold them too.
            plan, shortfall = self._plan(key, units)
            for location, count in plan.items():
                self._shipped(self._row(key, location), count, shipped_at, from_reserved=False)
            if shortfall:
                self._oversold(key[1], shortfall)

    def _shipped(
        self, row: ReservationRow, units: int, shipped_at: datetime, *, from_reserved: bool
    ) -> None:
        was_held = units if from_reserved else 0
        level = self._level(row.sku, row.location)
        if level is not None and level[1] > shipped_at:
            row.settled += units
            self._ledger("ship", row, held=-was_held, note="already in the last count")
        elif row.location in self.ctx.local_locations:
            self._adjust(row, -units)
            row.settled += units
            self._ledger("ship", row, on_hand=-units, held=-was_held, note="on hand reduced")
        else:
            row.shipped += units
            row.shipped_at = max(row.shipped_at or shipped_at, shipped_at)
            self._ledger("ship", row, held=units - was_held, note="held until counted")
        self._save(row)

    def _unship(self, key: Key, units: int) -> None:
        """The channel took a fulfilment back: the goods did not leave after all.

        Units awaiting a count go back to reserved. Where omnisync counts the location itself,
        settled units go back on the shelf and reserved too. Elsewhere a settled unit is in the
        source's hands: its next count shows whether the goods are back.
        """
        for row in reversed(self.rows[key]):
            take = min(row.shipped, units)
            if take:
                row.shipped -= take
                row.reserved += take
                units -= take
                self._ledger("unship", row, note=f"{take} units back to reserved")
                self._save(row)
            back = min(row.settled, units) if row.location in self.ctx.local_locations else 0
            if back:
                row.settled -= back
                row.reserved += back
                units -= back
                self._adjust(row, back)
                self._ledger("unship", row, on_hand=back, held=back, note="back on the shelf")
                self._save(row)

    # Reservations ----------------------------------------------------------------------------

    def _reserve(self, key: Key, wanted: int) -> None:
        rows = self.rows[key]
        current = sum(row.reserved for row in rows)
        if wanted < current:
            excess = current - wanted
            for row in reversed(rows):
                take = min(row.reserved, excess)
                if take:
                    row.reserved -= take
                    excess -= take
                    self._ledger("release", row, held=-take)
                    self._save(row)
        elif wanted > current:
            plan, shortfall = self._plan(key, wanted - current)
            for location, count in plan.items():
                row = self._row(key, location)
                row.reserved += count
                self._ledger("reserve", row, held=count)
                self._save(row)
            if shortfall:
                self._oversold(key[1], shortfall)

    def _plan(self, key: Key, units: int) -> tuple[dict[str, int], int]:
        """Where ``units`` of the key's SKU come from, and how many of them are not there."""
        sku = key[1]
        candidates = self.channel.locations
        if self.page is not None:
            cells = self.page.cells[sku]
        else:
            if sku not in self.cells:
                self._flush()
                self.cells.update(self.tx.stock_cells([sku]))
            cells = self.cells.get(sku, {})
        free = {loc: cells[loc].free if loc in cells else 0 for loc in candidates}
        shortfall = max(units - sum(max(value, 0) for value in free.values()), 0)
        line = self.lines.get(key[0])
        if line is not None:
            chosen = plugins.choose_location(self.order, line, sku, units, free)
            if chosen is not None:
                return {chosen: units}, shortfall
        plan: dict[str, int] = defaultdict(int)
        left = units
        for location in candidates:
            take = min(left, max(free[location], 0))
            if take:
                plan[location] += take
                left -= take
        if left:
            plan[max(candidates, key=lambda loc: free[loc])] += left
        return dict(plan), shortfall

    def _row(self, key: Key, location: str) -> ReservationRow:
        for row in self.rows[key]:
            if row.location == location:
                return row
        row = ReservationRow(
            id=None,
            order_id=self.stored.id,
            line_id=key[0],
            sku=key[1],
            location=location,
            seq=self.next_seq,
        )
        self.next_seq += 1
        self.rows[key].append(row)
        return row

    # Oversells -------------------------------------------------------------------------------

    def _oversold(self, sku: str, shortfall: int) -> None:
        """Record an oversell and hold the latest-created orders until they cover it.

        Stock goes to orders in the order they were placed, whatever order they are imported
        in: so the orders held are the newest still waiting to ship (one already shipped is
        past holding), and the same ones after any rerun.
        """
        self._flush()
        if self.page is not None:
            self.page.flush()
        holders = self.tx.holders(sku, self.channel.locations)
        competing = [h.ref for h in holders if h.order_id != self.stored.id]
        held: list[str] = []
        uncovered = shortfall
        for holder in holders:
            if uncovered <= 0:
                break
            if holder.reserved <= 0 or (
                holder.hold_reason is not None and holder.order_id != self.stored.id
            ):
                continue
            share = min(holder.reserved, uncovered)
            uncovered -= share
            if self.ctx.hold_oversold:
                self._hold(holder, f"oversold: {sku} short by {share}")
                held.append(holder.ref)
        incident = Incident(
            id=0,
            kind="oversell",
            sku=sku,
            shortfall=shortfall,
            channel=self.order.channel,
            order_id=self.order.external_id,
            competing=competing[:10],
            held=held,
        )
        incident_id = self.tx.add_incident(incident, self.now)
        self.result.incidents.append(
            Incident(**{**incident.__dict__, "id": incident_id, "created_at": self.now})
        )
        detail = f"{sku} short by {shortfall}; competing orders: {', '.join(competing) or 'none'}"
        with log_context(sku=sku):
            log.warning(
                "oversold %s by %d importing %s; held: %s",
                sku,
                shortfall,
                self.ref,
                ", ".join(held) or "nothing",
            )
        self.tx.add_event(
            OrderEvent(kind=OrderEventKind.OVERSOLD, order=self.order, detail=detail), self.now
        )

    def _hold(self, holder: Holder, reason: str) -> None:
        if holder.hold_reason is not None:
            return
        target = self.tx.get_order_by_id(holder.order_id)
        if target.hold_reason is None:
            self.tx.set_hold(target.id, reason)
            self.tx.add_event(
                OrderEvent(kind=OrderEventKind.HELD, order=target.order, detail=reason), self.now
            )

    def _ledger(
        self, kind: str, row: ReservationRow, *, on_hand: int = 0, held: int = 0, note: str = ""
    ) -> None:
        entry = {
            "kind": kind,
            "sku": row.sku,
            "at": self.now,
            "location": row.location,
            "channel": self.order.channel,
            "on_hand_delta": on_hand,
            "held_delta": held,
            "order_ref": f"{self.ref}/{row.line_id}",
            "note": note or None,
        }
        if self.page is None:
            self.entries.append(entry)
        else:
            self.page.record(entry)
