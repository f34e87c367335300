"""Versioned schema changes.

A new store gets the current schema at once (`_schema`) and is stamped with `SCHEMA_VERSION`.
An older store is brought forward by the migrations after its version. To change the schema:
edit `_schema`, then append to `MIGRATIONS` the function that makes the same change to an
existing store. Never edit a released migration.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Table, func, select, text

from omnisync.errors import SchemaVersionError
from omnisync.store import _schema

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "current_version", "migrate"]


def _fulfilment_keys(conn: Connection) -> None:
    """2: fulfilments carry their idempotency key in a column of its own, unique per channel,
    so a shipment a back office reports twice is recorded once."""
    conn.execute(text("ALTER TABLE fulfilments ADD COLUMN idempotency_key VARCHAR(200)"))
    for index in _schema.fulfilments.indexes:
        if index.name == "uq_fulfilments_key":
            index.create(conn)


def _pending_pushes(conn: Connection) -> None:
    """3: the SKUs each channel's next push must look at, and what its last complete push
    planned from, so a push reads the changes rather than the whole catalogue. Existing
    channels have no plan yet: their next push is planned in full."""
    _schema.pending_pushes.create(conn)
    _schema.push_plans.create(conn)


def _held_units(conn: Connection) -> None:
    """4: units held per SKU and location are kept in a table of their own, filled here
    from the reservations, instead of being added up from them at every read; and the
    reservations whose shipped units no count has confirmed yet are indexed, so counts find
    them without reading a whole order history."""
    _schema.stock_held.create(conn)
    res = _schema.reservations
    held = res.c.reserved + res.c.shipped
    totals = (
        select(res.c.sku, res.c.location, func.sum(held))
        .where(held > 0)
        .group_by(res.c.sku, res.c.location)
    )
    conn.execute(_schema.stock_held.insert().from_select(["sku", "location", "held"], totals))
    for index in res.indexes:
        if index.name == "ix_reservations_shipped":
            index.create(conn)


def _without_rowid(conn: Connection) -> None:
    """5: on SQLite, the tables looked up by SKU keep their rows in their key's order
    (``WITHOUT ROWID``): each is rebuilt, its rows copied in key order. PostgreSQL has no such
    choice, and nothing changes there."""
    if conn.dialect.name != "sqlite":
        return
    for table in (
        _schema.skus,
        _schema.stock_levels,
        _schema.stock_held,
        _schema.acknowledged,
        _schema.pending_pushes,
    ):
        _rebuild(conn, table)


def _acknowledged_by_sku(conn: Connection) -> None:
    """6: what channels acknowledged is keyed by SKU, then channel, so every channel's row of a
    SKU lies side by side (pushes looking together read them at once)."""
    if conn.dialect.name == "sqlite":
        _rebuild(conn, _schema.acknowledged)
        return
    conn.execute(
        text(
            "ALTER TABLE acknowledged DROP CONSTRAINT acknowledged_pkey,"
            " ADD CONSTRAINT acknowledged_pkey PRIMARY KEY (sku, channel)"
        )
    )


def _events_by_age(conn: Connection) -> None:
    """7: events are indexed by when they were created, so pruning the old ones reads those
    alone, not the whole outbox with an order's JSON in every row. An operator may have made
    it by hand already."""
    for index in _schema.events.indexes:
        if index.name == "ix_events_created":
            index.create(conn, checkfirst=True)


def _rebuild(conn: Connection, table: Table) -> None:
    """Rebuild ``table`` (SQLite) as `_schema` defines it, its rows copied in key order."""
    old = f"{table.name}_before"
    columns = ", ".join(column.name for column in table.columns)
    key = ", ".join(column.name for column in table.primary_key)
    conn.execute(text(f"ALTER TABLE {table.name} RENAME TO {old}"))
    table.create(conn)
    conn.execute(
        text(f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {old} ORDER BY {key}")
    )
    conn.execute(text(f"DROP TABLE {old}"))


MIGRATIONS: list[Callable[[Connection], None]] = [
    _fulfilment_keys,
    _pending_pushes,
    _held_units,
    _without_rowid,
    _acknowledged_by_sku,
    _events_by_age,
]
"""Migration ``i`` takes a store from schema version ``i + 1`` to ``i + 2``."""

SCHEMA_VERSION = 1 + len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    """The schema version the store is at (0 for an empty database)."""
    if not conn.dialect.has_table(conn, _schema.meta.name):
        return 0
    row = conn.execute(
        select(_schema.meta.c.value).where(_schema.meta.c.key == "schema_version")
    ).first()
    return int(row[0]) if row else 0


def migrate(conn: Connection) -> int:
    """Bring the store to `SCHEMA_VERSION` inside the caller's transaction; returns it."""
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the store is at schema version {version}; this omnisync knows up to {SCHEMA_VERSION}"
        )
    if version == SCHEMA_VERSION:
        return version
    if version == 0:
        _schema.metadata.create_all(conn)
    else:
        for migration in MIGRATIONS[version - 1 :]:
            migration(conn)
    table = _schema.meta
    conn.execute(table.delete().where(table.c.key == "schema_version"))
    conn.execute(table.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
    return SCHEMA_VERSION
