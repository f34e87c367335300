"""Importing one order: idempotent, keyed by (channel, external id), newest version wins."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic_core import to_json

from omnisync import plugins
from omnisync._hookdata import OrderEvent, OrderEventKind, RiskAssessment, event_json
from omnisync.config import ResolvedChannel
from omnisync.engine._context import EngineContext
from omnisync.engine._page import PageStock
from omnisync.engine._reservations import order_skus, reconcile
from omnisync.models import FulfilmentStatus, Order, RiskLevel
from omnisync.store import Incident, NewOrder, StoredOrder, Transaction

__all__ = ["ImportOutcome", "ImportResult", "NewOrders", "import_order", "order_json"]


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


def order_json(order: Order) -> tuple[str, str]:
    """The order's JSON, and a fingerprint of what it says (its raw payload aside)."""
    content = order.model_dump_json(exclude={"raw"})
    digest = hashlib.sha256(content.encode()).hexdigest()
    # The raw payload added to the rest rather than the whole order serialised again.
    raw = to_json(order.raw, inf_nan_mode="null").decode()  # as model_dump_json writes it
    return content[:-1] + ',"raw":' + raw + "}", digest


def import_order(
    tx: Transaction, order: Order, channel: ResolvedChannel, ctx: EngineContext, now: datetime
) -> ImportResult:
    """Store ``order`` and reconcile its reservations, inside the caller's transaction."""
    tx.lock_order(order.channel, order.external_id)
    stored = tx.get_order(order.channel, order.external_id)
    if stored is not None and order.updated_at < stored.order.updated_at:
        return ImportResult(ImportOutcome.STALE)
    payload, digest = order_json(order)
    if stored is not None and stored.content_hash == digest:
        return ImportResult(ImportOutcome.UNCHANGED)
    current = tx.save_order(order, digest, now, payload)
    sold = _newly_sold(stored.order if stored else None, order)
    if sold:
        tx.mark_moved(order.channel, sold)
    for kind in _event_kinds(stored, current):
        tx.add_event(OrderEvent(kind=kind, order=order), now)
    if stored is None:
        verdict = _verdict(order)
        if verdict is not None:
            tx.set_risk(current.id, verdict.level)
            reason = _hold_reason(verdict)
            if reason is not None:
                tx.set_hold(current.id, reason)
                tx.add_event(_held(order, reason), now)
    reconciled = reconcile(tx, current, channel, ctx, now)
    _quarantine_unknown(tx, order, reconciled.unknown, now)
    outcome = ImportOutcome.IMPORTED if stored is None else ImportOutcome.CHANGED
    return ImportResult(outcome, reconciled.incidents, len(reconciled.unknown))


class NewOrders:
    """The orders of a page that are new to the store, imported together.

    They are inserted in one statement up front (risk assessed and hold decided first), then
    imported one by one in the page's order against a `PageStock`, which writes their
    reservations, ledger entries and events together: a handful of statements a page instead
    of a dozen an order, with the same result as `import_order` on each. Any other write to
    the store between two of them (another order of the page imported by `import_order`)
    must be preceded by `pause`; `finish` writes what is left.
    """

    def __init__(
        self,
        tx: Transaction,
        orders: Sequence[Order],
        channel: ResolvedChannel,
        ctx: EngineContext,
        now: datetime,
    ) -> None:
        self.tx, self.channel, self.ctx, self.now = tx, channel, ctx, now
        ours = [order for order in orders if order.channel == channel.name]
        new_ids = tx.new_order_ids(channel.name, [order.external_id for order in ours])
        first: dict[str, Order] = {}
        for order in ours:  # an order twice in a page: its second copy is a change, if any
            if order.external_id in new_ids:
                first.setdefault(order.external_id, order)
        rows = []
        for order in first.values():
            verdict = _verdict(order)
            rows.append(
                NewOrder(
                    order,
                    *order_json(order),
                    verdict.level if verdict else None,
                    _hold_reason(verdict) if verdict else None,
                )
            )
        stored = tx.insert_orders(rows, now)
        self.new = {
            id(row.order): (one, row.payload) for row, one in zip(rows, stored, strict=True)
        }
        self.page = PageStock(tx, channel.name, now)
        self.page.load({sku for row in rows for sku in order_skus(row.order, ctx.bundles)})

    def takes(self, order: Order) -> bool:
        """Whether ``order`` (this very object) is one of the new orders."""
        return id(order) in self.new

    def import_order(self, order: Order) -> ImportResult:
        """Import one of the new orders; see `import_order`."""
        # Taken out: the same object again later in the page is a repeat, not new.
        stored, payload = self.new.pop(id(order))
        page = self.page
        page.moved |= _newly_sold(None, order)
        page.events.extend(event_json(kind, payload) for kind in _event_kinds(None, stored))
        if stored.hold_reason is not None:
            page.events.append(event_json(OrderEventKind.HELD, payload, stored.hold_reason))
        reconciled = reconcile(self.tx, stored, self.channel, self.ctx, self.now, page)
        _quarantine_unknown(self.tx, order, reconciled.unknown, self.now)
        return ImportResult(ImportOutcome.IMPORTED, reconciled.incidents, len(reconciled.unknown))

    def pause(self) -> None:
        """Write what the new orders changed so far, before something else writes stock."""
        self.page.forget()

    def finish(self) -> None:
        """Write what the new orders changed."""
        self.page.flush()


def _quarantine_unknown(
    tx: Transaction, order: Order, unknown: list[tuple[str, str]], now: datetime
) -> None:
    for line_id, sku in unknown:
        tx.quarantine(
            order.channel,
            "unknown_sku",
            f"{order.external_id}:{line_id}:{sku}",
            f"order {order.number or order.external_id} line {line_id} names SKU {sku!r}, which "
            "omnisync does not know; no stock was reserved for it",
            {"order": order.external_id, "line": line_id, "sku": sku},
            now,
        )


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


def _event_kinds(before: StoredOrder | None, after: StoredOrder) -> list[OrderEventKind]:
    order = after.order
    kinds = [OrderEventKind.IMPORTED if before is None else OrderEventKind.CHANGED]
    if order.is_cancelled and (before is None or not before.order.is_cancelled):
        kinds.append(OrderEventKind.CANCELLED)
    fulfilled = FulfilmentStatus.FULFILLED
    if order.fulfilment_status is fulfilled and (
        before is None or before.order.fulfilment_status is not fulfilled
    ):
        kinds.append(OrderEventKind.FULFILLED)
    return kinds


def _verdict(order: Order) -> RiskAssessment | None:
    """The worst risk plugins or the channel itself see in a new order, if any does."""
    verdicts = [plugins.assess_risk(order)]
    if order.risk is not None:
        verdicts.append(RiskAssessment(level=order.risk, source=order.channel))
    known = [verdict for verdict in verdicts if verdict is not None]
    if not known:
        return None
    return max(known, key=lambda verdict: verdict.level.rank)


def _hold_reason(verdict: RiskAssessment) -> str | None:
    if verdict.level is not RiskLevel.HIGH:
        return None
    return f"high risk ({verdict.source or 'plugin'}): {verdict.reason or 'no reason given'}"


def _held(order: Order, reason: str) -> OrderEvent:
    return OrderEvent(kind=OrderEventKind.HELD, order=order, detail=reason)
