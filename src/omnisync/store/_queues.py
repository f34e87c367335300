"""Store operations on what waits for someone: dead letters, incidents, events, webhooks,
fulfilments, returns and refunds."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import JsonValue
from sqlalchemy import bindparam, func, select

from omnisync._hookdata import OrderEvent
from omnisync.models import Fulfilment, Refund, Return
from omnisync.store import _schema as t
from omnisync.store._base import TransactionBase
from omnisync.store._records import DeadLetter, Incident

__all__ = ["QueuesMixin"]

# Read by every push and every page imported: built once, so SQLAlchemy reuses the compiled
# form instead of building the query again each time.
_UNRESOLVED = select(t.deadletters.c.key).where(
    t.deadletters.c.channel == bindparam("ch"),
    t.deadletters.c.kind == bindparam("kind"),
    t.deadletters.c.resolved_at.is_(None),
)
_UNRESOLVED_COUNT = (
    select(func.count()).select_from(t.deadletters).where(t.deadletters.c.resolved_at.is_(None))
)


def _dead_letter(row: Any) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        channel=row.channel,
        kind=row.kind,
        key=row.key,
        reason=row.reason,
        payload=json.loads(row.payload),
        created_at=row.created_at,
        updated_at=row.updated_at,
        attempts=row.attempts,
        resolved_at=row.resolved_at,
    )


def _fit(value: str, size: int) -> str:
    """``value`` as it fits a column of ``size`` characters: a longer one keeps its start
    and ends with a hash of the whole, so distinct values stay distinct."""
    if len(value) <= size:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    return f"{value[: size - 18]}~{digest}"


def _quarantining(dialect: Any) -> Any:
    """Quarantine a record, or count one more attempt of one quarantined before."""
    dl = t.deadletters
    stmt = dialect.insert(dl)
    return stmt.on_conflict_do_update(
        index_elements=["channel", "kind", "key"],
        set_={
            "reason": stmt.excluded.reason,
            "payload": stmt.excluded.payload,
            "updated_at": stmt.excluded.updated_at,
            "attempts": dl.c.attempts + 1,
            "resolved_at": None,
        },
    )


class QueuesMixin(TransactionBase):
    """Records that wait for an operator, a plugin or a later step of the sync."""

    def quarantine(
        self, channel: str, kind: str, key: str, reason: str, payload: JsonValue, now: datetime
    ) -> None:
        """Quarantine a record. The same record quarantined again counts one more attempt (in
        one statement: two writers quarantining it at once count two)."""
        values = {
            "channel": channel,
            "kind": kind,
            "key": _fit(key, 400),
            "reason": reason,
            "payload": json.dumps(payload, default=str),
            "created_at": now,
            "updated_at": now,
            "attempts": 1,
        }
        self.conn.execute(self._built("quarantine", _quarantining), values)

    def resolve_dead_letters(self, channel: str, kind: str, key: str, now: datetime) -> None:
        """Mark a record's dead letter resolved (it went through after all)."""
        dl = t.deadletters
        self.conn.execute(
            dl.update()
            .where(
                dl.c.channel == channel,
                dl.c.kind == kind,
                dl.c.key == _fit(key, 400),
                dl.c.resolved_at.is_(None),
            )
            .values(resolved_at=now)
        )

    def dead_letters(
        self, *, include_resolved: bool = False, limit: int = 1000
    ) -> list[DeadLetter]:
        """Quarantined records, oldest first."""
        query = select(t.deadletters).order_by(t.deadletters.c.id).limit(limit)
        if not include_resolved:
            query = query.where(t.deadletters.c.resolved_at.is_(None))
        return [_dead_letter(row) for row in self.conn.execute(query).all()]

    def dead_letter(self, dead_letter_id: int) -> DeadLetter | None:
        """One quarantined record by id."""
        row = self.conn.execute(
            select(t.deadletters).where(t.deadletters.c.id == dead_letter_id)
        ).first()
        return _dead_letter(row) if row else None

    def count_dead_letters(self) -> int:
        """How many quarantined records are unresolved."""
        return int(self.conn.execute(_UNRESOLVED_COUNT).scalar_one())

    # Incidents ------------------------------------------------------------------------------

    def add_incident(self, incident: Incident, now: datetime) -> int:
        """Record an incident; returns its id."""
        return self._insert_id(
            t.incidents,
            {
                "kind": incident.kind,
                "sku": incident.sku,
                "shortfall": incident.shortfall,
                "channel": incident.channel,
                "order_id": incident.order_id,
                "held": json.dumps(incident.held),
                "competing": json.dumps(incident.competing),
                "created_at": now,
            },
        )

    def incidents(self, *, limit: int = 100) -> list[Incident]:
        """Recorded incidents, newest first."""
        rows = self.conn.execute(
            select(t.incidents).order_by(t.incidents.c.id.desc()).limit(limit)
        ).all()
        return [
            Incident(
                id=row.id,
                kind=row.kind,
                sku=row.sku,
                shortfall=row.shortfall,
                channel=row.channel,
                order_id=row.order_id,
                competing=json.loads(row.competing),
                held=json.loads(row.held),
                created_at=row.created_at,
                resolved_at=row.resolved_at,
            )
            for row in rows
        ]

    # Event outbox ---------------------------------------------------------------------------

    def add_event(self, event: OrderEvent, now: datetime) -> None:
        """Queue an event; it is delivered to plugins after the transaction commits."""
        self.conn.execute(
            self._insert(t.events), {"payload": event.model_dump_json(), "created_at": now}
        )

    def add_events(self, events: Sequence[str], now: datetime) -> None:
        """Queue several events, each as its JSON (see `event_json`), in one statement."""
        if events:
            rows = [{"payload": event, "created_at": now} for event in events]
            self._run(self._insert(t.events), rows)

    def claim_events(self, limit: int = 500) -> list[tuple[int, OrderEvent]]:
        """Events not yet delivered, oldest first, locked until the transaction ends
        (PostgreSQL skips those another transaction holds)."""
        query = (
            select(t.events.c.id, t.events.c.payload)
            .where(t.events.c.delivered_at.is_(None))
            .order_by(t.events.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = self.conn.execute(query).all()
        return [(row[0], OrderEvent.model_validate_json(row[1])) for row in rows]

    def mark_event_delivered(self, event_id: int, now: datetime) -> bool:
        """Claim an event for delivery; False if another process delivered it first."""
        result = self.conn.execute(
            t.events.update()
            .where(t.events.c.id == event_id, t.events.c.delivered_at.is_(None))
            .values(delivered_at=now)
        )
        return bool(result.rowcount)

    def prune_events(self, before: datetime) -> None:
        """Delete events created before ``before``, delivered or not."""
        self.conn.execute(t.events.delete().where(t.events.c.created_at < before))

    def unresolved_keys(self, channel: str, kind: str) -> set[str]:
        """Keys of ``channel``'s unresolved dead letters of ``kind``: records to leave alone
        until an operator retries them."""
        rows = self.conn.execute(_UNRESOLVED, {"ch": channel, "kind": kind})
        return {row[0] for row in rows}

    # Webhooks, fulfilments, returns, refunds ----------------------------------------------

    def remember_webhook(self, channel: str, event_id: str, now: datetime) -> bool:
        """Record a webhook event id; False if it was seen before (a redelivery)."""
        return self._insert_ignore(
            t.webhook_events,
            {"channel": channel, "event_id": _fit(event_id, 255), "received_at": now},
            keys=("channel", "event_id"),
        )

    def add_fulfilment(self, fulfilment: Fulfilment, now: datetime) -> bool:
        """Queue a fulfilment to push to its channel; False if one with its idempotency key
        is queued or sent already."""
        return self._insert_ignore(
            t.fulfilments,
            {
                "channel": fulfilment.channel,
                "order_id": fulfilment.order_id,
                "payload": fulfilment.model_dump_json(),
                "created_at": now,
                "idempotency_key": fulfilment.idempotency_key,
            },
            keys=("channel", "idempotency_key"),
        )

    def has_fulfilment(self, channel: str, idempotency_key: str) -> bool:
        """Whether a fulfilment with this idempotency key was recorded for ``channel``."""
        found = self.conn.execute(
            select(t.fulfilments.c.id).where(
                t.fulfilments.c.channel == channel,
                t.fulfilments.c.idempotency_key == idempotency_key,
            )
        ).first()
        return found is not None

    def pending_fulfilments(self, channel: str) -> list[tuple[int, Fulfilment]]:
        """Fulfilments for ``channel`` not yet accepted by it, oldest first."""
        rows = self.conn.execute(
            select(t.fulfilments.c.id, t.fulfilments.c.payload)
            .where(t.fulfilments.c.channel == channel, t.fulfilments.c.pushed_at.is_(None))
            .order_by(t.fulfilments.c.id)
        ).all()
        return [(row[0], Fulfilment.model_validate_json(row[1])) for row in rows]

    def mark_fulfilment_pushed(self, fulfilment_id: int, pushed: Fulfilment, now: datetime) -> None:
        """Record that the channel accepted a fulfilment, under its id."""
        self.conn.execute(
            t.fulfilments.update()
            .where(t.fulfilments.c.id == fulfilment_id)
            .values(
                pushed_at=now,
                external_id=pushed.fulfilment_id,
                payload=pushed.model_dump_json(),
            )
        )

    def return_applied(self, channel: str, return_id: str) -> bool:
        """Whether a return's restock has already been applied to stock."""
        applied = self.conn.execute(
            select(t.returns.c.applied_at).where(
                t.returns.c.channel == channel, t.returns.c.return_id == return_id
            )
        ).scalar_one_or_none()
        return applied is not None

    def save_return(self, ret: Return) -> None:
        """Store the latest state of a return."""
        self._upsert(
            t.returns,
            {
                "channel": ret.channel,
                "return_id": ret.return_id,
                "order_id": ret.order_id,
                "status": ret.status.value,
                "payload": ret.model_dump_json(),
                "updated_at": ret.updated_at,
            },
            keys=("channel", "return_id"),
            update=("status", "payload", "updated_at"),
        )

    def mark_return_applied(self, channel: str, return_id: str, now: datetime) -> None:
        """Record that a return's restock has been applied to stock."""
        self.conn.execute(
            t.returns.update()
            .where(t.returns.c.channel == channel, t.returns.c.return_id == return_id)
            .values(applied_at=now)
        )

    def add_refund(self, refund: Refund, now: datetime) -> None:
        """Record a refund issued through a channel."""
        self.conn.execute(
            t.refunds.insert().values(
                channel=refund.channel,
                order_id=refund.order_id,
                payload=refund.model_dump_json(),
                created_at=now,
            )
        )
