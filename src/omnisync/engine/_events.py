"""Delivering queued order events to plugins, after the changes they describe are committed."""

from __future__ import annotations

from omnisync import plugins
from omnisync._time import utcnow
from omnisync.store import Store

__all__ = ["deliver_events"]


def deliver_events(store: Store) -> int:
    """Hand every undelivered event to the plugins, oldest first; returns how many.

    Events wait in the store's outbox, written in the same transaction as the change, so an
    event is never announced for a change that rolled back, and one a crash left undelivered
    goes out on the next run: delivery is at least once.
    """
    if not plugins.has_impls("order_event"):
        with store.transaction() as tx:
            tx.mark_all_events_delivered(utcnow())
        return 0
    delivered = 0
    while True:
        with store.reading() as tx:
            pending = tx.pending_events()
        if not pending:
            return delivered
        for event_id, event in pending:
            plugins.emit_order_event(event)
            with store.transaction() as tx:
                tx.mark_event_delivered(event_id, utcnow())
            delivered += 1
