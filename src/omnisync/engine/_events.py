"""Delivering queued order events to plugins, after the changes they describe are committed."""

from __future__ import annotations

from datetime import timedelta

from omnisync import plugins
from omnisync._time import utcnow
from omnisync.store import Store

__all__ = ["EVENT_RETENTION", "deliver_events", "prune_events"]

EVENT_RETENTION = timedelta(days=7)
"""How long events stay in the outbox, delivered or not."""


def deliver_events(store: Store) -> int:
    """Hand every undelivered event to the plugins, oldest first; returns how many.

    Events wait in the store's outbox, written in the same transaction as the change, so an
    event is never announced for a change that rolled back, and one a crash left undelivered
    goes out on the next run: delivery is at least once. A batch is claimed, delivered and
    marked in one transaction; on PostgreSQL, events another process is delivering are
    skipped, so several workers do not announce the same event.
    """
    if not plugins.has_impls("order_event"):
        return 0  # left for a process whose plugins listen; pruned once old
    delivered = 0
    while True:
        with store.transaction() as tx:
            pending = tx.claim_events(limit=100)
            for event_id, event in pending:
                plugins.emit_order_event(event)
                tx.mark_event_delivered(event_id, utcnow())
        if not pending:
            return delivered
        delivered += len(pending)


def prune_events(store: Store) -> None:
    """Drop events older than `EVENT_RETENTION`."""
    with store.transaction() as tx:
        tx.prune_events(utcnow() - EVENT_RETENTION)
