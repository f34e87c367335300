"""The store: SQLite by default, behind the `Store` interface other backends implement."""

from omnisync.store._migrations import SCHEMA_VERSION
from omnisync.store._records import (
    Acknowledged,
    DeadLetter,
    Holder,
    Incident,
    LedgerEntry,
    LockHolder,
    NewOrder,
    ReservationRow,
    StockCell,
    StoredOrder,
)
from omnisync.store._store import SQLStore, Store, Transaction, open_store

__all__ = [
    "SCHEMA_VERSION",
    "Acknowledged",
    "DeadLetter",
    "Holder",
    "Incident",
    "LedgerEntry",
    "LockHolder",
    "NewOrder",
    "ReservationRow",
    "SQLStore",
    "StockCell",
    "Store",
    "StoredOrder",
    "Transaction",
    "open_store",
]
