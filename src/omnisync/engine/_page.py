"""The stock a page of new orders reserves from, held in memory while the page imports.

Importing orders one at a time reads each order's SKUs from the store and writes its
reservations, ledger entries and events before the next order starts: about a dozen
statements an order. A page of new orders instead reads the stock of every SKU it touches
once, keeps it current in memory as each order reserves (every change of stock goes through
a ledger entry, whose deltas are exactly what the change does to on-hand and held units), and
writes what all its orders changed together.

This is sound only while nobody else changes those SKUs meanwhile: on SQLite writers take
turns anyway, and on PostgreSQL `lock_for_import` has locked every SKU of the page first.
Anything that writes to the store directly while a page is open must `flush` it first.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import Any

from omnisync.store import ReservationRow, StockCell, Transaction
from omnisync.store._stock import NEVER_COUNTED

__all__ = ["PageStock"]


class PageStock:
    """Stock cells of a page's SKUs, and the writes its orders have not made yet."""

    def __init__(self, tx: Transaction, channel: str, now: datetime) -> None:
        self.tx = tx
        self.channel = channel
        self.now = now
        self.cells: dict[str, dict[str, StockCell]] = {}
        """On hand and held per SKU and location, as the page's writes leave them."""
        self.known: set[str] = set()
        self.rows: list[ReservationRow] = []
        self.entries: list[dict[str, Any]] = []
        self.events: list[str] = []
        """Events to queue, as JSON (`event_json`)."""
        self.moved: set[str] = set()
        """SKUs the channel sold since it last acknowledged them (`Transaction.mark_moved`)."""
        self.levels: set[tuple[str, str]] = set()
        """(SKU, location) whose on-hand count the page changed."""

    def load(self, skus: Collection[str]) -> None:
        """Read the stock of those of ``skus`` not read yet."""
        missing = [sku for sku in skus if sku not in self.cells]
        if missing:
            self.cells.update(self.tx.stock_cells(missing))
            self.known |= self.tx.known_skus(missing)

    def level(self, sku: str, location: str) -> tuple[int, datetime] | None:
        """``(on_hand, as_of)`` as `Transaction.stock_level` would read it after a flush."""
        cell = self.cells[sku].get(location)
        if cell is None or cell.as_of is None:
            return None
        return cell.on_hand, cell.as_of

    def adjusted(self, sku: str, location: str) -> None:
        """Note that the on-hand count changes (by the ledger entry that goes with it),
        keeping the time of the last real count as `Transaction.adjust_stock` does."""
        cell = self.cells[sku].get(location, StockCell())
        if cell.as_of is None:
            self.cells[sku][location] = replace(cell, as_of=NEVER_COUNTED)
        self.levels.add((sku, location))

    def record(self, entry: dict[str, Any]) -> None:
        """Queue a ledger entry and apply its deltas to the cell it names."""
        self.entries.append(entry)
        on_hand, held = entry["on_hand_delta"], entry["held_delta"]
        if on_hand or held:
            cells = self.cells.setdefault(entry["sku"], {})
            cell = cells.get(entry["location"], StockCell())
            cells[entry["location"]] = replace(
                cell, on_hand=cell.on_hand + on_hand, held=cell.held + held
            )

    def flush(self) -> None:
        """Write what the page changed so far; the cells stay valid."""
        tx = self.tx
        if self.rows:
            tx.save_reservations(self.rows)
        tx.append_ledger_many(self.entries)
        for sku, location in sorted(self.levels):
            cell = self.cells[sku][location]
            assert cell.as_of is not None  # set by `adjusted`
            tx.write_stock_level(sku, location, cell.on_hand, cell.as_of, source="omnisync")
        tx.add_events(self.events, self.now)
        if self.moved:
            tx.mark_moved(self.channel, self.moved)
        self.rows, self.entries, self.events = [], [], []
        self.moved, self.levels = set(), set()

    def forget(self) -> None:
        """Flush, and drop the cells: the store is about to be written around the page."""
        self.flush()
        self.cells.clear()
        self.known.clear()
