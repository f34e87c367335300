"""The store's tables, portable across SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

__all__ = ["UTCDateTime", "metadata"]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

meta = Table(
    "omnisync_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(100), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("number", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("financial_status", String(30), nullable=False),
    Column("fulfilment_status", String(20), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", String(40), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("hold_reason", Text),
    Column("risk", String(10)),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel", "external_id", name="uq_orders_key"),
    Index("ix_orders_status", "status"),
    Index("ix_orders_channel_updated", "channel", "updated_at"),
)

_BY_KEY: dict[str, Any] = {"sqlite_with_rowid": False}
"""Tables looked up by a text key (a SKU), thousands of rows at a time: on SQLite their rows
are kept in the key's order (``WITHOUT ROWID``), so a lookup is one search rather than two
(the key's index, then the row) and the key is stored once. See
https://sqlite.org/withoutrowid.html; PostgreSQL ignores it."""

skus = Table(
    "skus",
    metadata,
    Column("sku", String(255), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    **_BY_KEY,
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", String(255), primary_key=True),
    Column("location", String(100), primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("as_of", UTCDateTime, nullable=False),
    Column("source", String(100), nullable=False),
    **_BY_KEY,
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False),
    Column("line_id", String(255), nullable=False),
    Column("sku", String(255), nullable=False),
    Column("location", String(100), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("reserved", Integer, nullable=False, default=0),
    Column("shipped", Integer, nullable=False, default=0),
    Column("settled", Integer, nullable=False, default=0),
    Column("shipped_at", UTCDateTime),
    UniqueConstraint("order_id", "line_id", "sku", "location", name="uq_reservation"),
    Index("ix_reservations_sku_location", "sku", "location"),
    # Only the rows whose shipped units no count has confirmed yet: a count, and the
    # confirmation of counts after a source's lag, look for those among a whole history.
    Index(
        "ix_reservations_shipped",
        "location",
        "sku",
        sqlite_where=text("shipped > 0"),
        postgresql_where=text("shipped > 0"),
    ),
)

# Units held per SKU and location: the sum of the reservations' held units (reserved plus
# shipped-but-unconfirmed), kept as they change, so that reading stock does not add up a
# shop's whole order history every time.
stock_held = Table(
    "stock_held",
    metadata,
    Column("sku", String(255), primary_key=True),
    Column("location", String(100), primary_key=True),
    Column("held", Integer, nullable=False),
    **_BY_KEY,
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("sku", String(255), nullable=False),
    Column("location", String(100)),
    Column("channel", String(100)),
    Column("on_hand_delta", Integer, nullable=False, default=0),
    Column("held_delta", Integer, nullable=False, default=0),
    Column("value", Integer),
    Column("order_ref", String(400)),
    Column("note", Text),
    Index("ix_ledger_sku", "sku", "id"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("channel", String(100), primary_key=True),
    Column("stream", String(40), primary_key=True),
    Column("value", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

acknowledged = Table(
    "acknowledged",
    metadata,
    Column("channel", String(100)),
    Column("sku", String(255)),
    Column("quantity", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # What the channel shows moved since it acknowledged ``quantity`` (it sold some, or a
    # merchant edited it): the next push must go out.
    Column("moved", Boolean, nullable=False, default=False),
    # By SKU first: the pushes that look together read every channel's row of a changed SKU,
    # and those rows lie side by side, so the searches for one SKU read the same pages.
    PrimaryKeyConstraint("sku", "channel", name="acknowledged_pkey"),
    **_BY_KEY,
)

# SKUs whose quantity may have changed for a channel since its last push: a push plans these
# alone (plus bundles made of them). ``version`` rises with each change, so a push clears only
# the changes it saw; one that lands while the push is out stays pending.
pending_pushes = Table(
    "pending_pushes",
    metadata,
    Column("channel", String(100), primary_key=True),
    Column("sku", String(255), primary_key=True),
    Column("version", Integer, nullable=False),
    **_BY_KEY,
)

# What a channel's pushes plan from (its rules, locations and bundles). Written before a full
# plan reads stock, so changes from then on are pending for the channel; ``complete`` once
# that push is done. A channel without a complete plan of the current fingerprint is planned
# in full (every sellable SKU).
push_plans = Table(
    "push_plans",
    metadata,
    Column("channel", String(100), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

listings = Table(
    "listings",
    metadata,
    Column("channel", String(100), primary_key=True),
    Column("sku", String(255), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

deadletters = Table(
    "deadletters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(100), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("key", String(400), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("resolved_at", UTCDateTime),
    UniqueConstraint("channel", "kind", "key", name="uq_deadletter"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("sku", String(255), nullable=False),
    Column("shortfall", Integer, nullable=False),
    Column("channel", String(100), nullable=False),
    Column("order_id", String(255), nullable=False),
    Column("held", Text, nullable=False),
    Column("competing", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_events_pending", "delivered_at", "id"),
    # Pruning reads the old events only: each row holds an order's JSON, and a scan of them
    # all reads the whole outbox.
    Index("ix_events_created", "created_at"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("channel", String(100), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
)

exports = Table(
    "exports",
    metadata,
    Column("target", String(100), primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id"), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("external_ref", String(255), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

customer_links = Table(
    "customer_links",
    metadata,
    Column("target", String(100), primary_key=True),
    Column("customer_key", String(400), primary_key=True),
    Column("external_ref", String(255), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

fulfilments = Table(
    "fulfilments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(100), nullable=False),
    Column("order_id", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("pushed_at", UTCDateTime),
    Column("external_id", String(255)),
    # The fulfilment's idempotency key: one from a back office's shipment is recorded once.
    Column("idempotency_key", String(200)),
    Index("uq_fulfilments_key", "channel", "idempotency_key", unique=True),
)

returns = Table(
    "returns",
    metadata,
    Column("channel", String(100), primary_key=True),
    Column("return_id", String(255), primary_key=True),
    Column("order_id", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("payload", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("applied_at", UTCDateTime),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(100), nullable=False),
    Column("order_id", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
