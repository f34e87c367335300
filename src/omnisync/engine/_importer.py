"""Importing one order: idempotent, keyed by (channel, external id), newest version wins."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from omnisync import plugins
from omnisync._hookdata import OrderEvent, OrderEventKind, RiskAssessment
from omnisync.config import ResolvedChannel
from omnisync.engine._context import EngineContext
from omnisync.engine._reservations import reconcile
from omnisync.models import FulfilmentStatus, Order, RiskLevel
from omnisync.store import Incident, StoredOrder, Transaction

__all__ = ["ImportOutcome", "ImportResult", "import_order", "order_digest"]


class ImportOutcome(StrEnum):
    """What importing an order did: ``imported`` (new), ``changed``, ``unchanged`` (the same
    content again) or ``stale`` (older than the stored version, ignored)."""

    IMPORTED = "imported"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    STALE = "stale"


@dataclass
class ImportResult:
    """The outcome, any oversells the import caused, and how many lines named unknown SKUs."""

    outcome: ImportOutcome
    incidents: list[Incident] = field(default_factory=list)
    unknown_skus: int = 0


def order_digest(order: Order) -> str:
    """A fingerprint of what the order says (its raw payload aside)."""
    return hashlib.sha256(order.model_dump_json(exclude={"raw"}).encode()).hexdigest()


def import_order(
    tx: Transaction, order: Order, channel: ResolvedChannel, ctx: EngineContext, now: datetime
) -> ImportResult:
    """Store ``order`` and reconcile its reservations, inside the caller's transaction."""
    tx.lock_order(order.channel, order.external_id)
    stored = tx.get_order(order.channel, order.external_id)
    if stored is not None and order.updated_at < stored.order.updated_at:
        return ImportResult(ImportOutcome.STALE)
    digest = order_digest(order)
    if stored is not None and stored.content_hash == digest:
        return ImportResult(ImportOutcome.UNCHANGED)
    current = tx.save_order(order, digest, now)
    sold = _newly_sold(stored.order if stored else None, order)
    if sold:
        tx.mark_moved(order.channel, sold)
    for event in _events(stored, current):
        tx.add_event(event, now)
    if stored is None:
        _assess(tx, current, now)
    reconciled = reconcile(tx, current, channel, ctx, now)
    for line_id, sku in reconciled.unknown:
        tx.quarantine(
            order.channel,
            "unknown_sku",
            f"{order.external_id}:{line_id}:{sku}",
            f"order {order.number or order.external_id} line {line_id} names SKU {sku!r}, which "
            "omnisync does not know; no stock was reserved for it",
            {"order": order.external_id, "line": line_id, "sku": sku},
            now,
        )
    outcome = ImportOutcome.IMPORTED if stored is None else ImportOutcome.CHANGED
    return ImportResult(outcome, reconciled.incidents, len(reconciled.unknown))


def _ordered(order: Order) -> dict[str, int]:
    units: dict[str, int] = {}
    for line in order.lines:
        if line.sku is not None:
            units[line.sku] = units.get(line.sku, 0) + line.quantity
    return units


def _newly_sold(before: Order | None, after: Order) -> set[str]:
    """The listed SKUs of which the channel sold more since the version omnisync last saw."""
    old = _ordered(before) if before is not None else {}
    return {sku for sku, units in _ordered(after).items() if units > old.get(sku, 0)}


def _events(before: StoredOrder | None, after: StoredOrder) -> list[OrderEvent]:
    order = after.order
    kinds = [OrderEventKind.IMPORTED if before is None else OrderEventKind.CHANGED]
    if order.is_cancelled and (before is None or not before.order.is_cancelled):
        kinds.append(OrderEventKind.CANCELLED)
    fulfilled = FulfilmentStatus.FULFILLED
    if order.fulfilment_status is fulfilled and (
        before is None or before.order.fulfilment_status is not fulfilled
    ):
        kinds.append(OrderEventKind.FULFILLED)
    return [OrderEvent(kind=kind, order=order) for kind in kinds]


def _assess(tx: Transaction, stored: StoredOrder, now: datetime) -> None:
    order = stored.order
    verdicts = [plugins.assess_risk(order)]
    if order.risk is not None:
        verdicts.append(RiskAssessment(level=order.risk, source=order.channel))
    known = [verdict for verdict in verdicts if verdict is not None]
    if not known:
        return
    worst = max(known, key=lambda verdict: verdict.level.rank)
    tx.set_risk(stored.id, worst.level)
    if worst.level is RiskLevel.HIGH:
        reason = f"high risk ({worst.source or 'plugin'}): {worst.reason or 'no reason given'}"
        tx.set_hold(stored.id, reason)
        tx.add_event(OrderEvent(kind=OrderEventKind.HELD, order=order, detail=reason), now)
