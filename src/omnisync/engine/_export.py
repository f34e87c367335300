"""Pushing records out: orders as back-office documents, customers, and fulfilments."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from pydantic import JsonValue

from omnisync._time import utcnow
from omnisync.adapters import Adapter
from omnisync.config import ResolvedChannel
from omnisync.engine._context import EngineContext
from omnisync.engine._report import ChannelReport
from omnisync.errors import PermanentError, RecordError
from omnisync.models import Customer, SalesDocument
from omnisync.store import StoredOrder

__all__ = ["customer_key", "export_customers", "export_documents", "push_fulfilments"]

log = logging.getLogger("omnisync.engine")

# What a single record can fail with and be quarantined for, without failing the channel.
_RECORD_FAILURES = (PermanentError, RecordError)


def _order_key(stored: StoredOrder) -> str:
    return f"{stored.order.channel}:{stored.order.external_id}"


async def _each_pending(
    ctx: EngineContext, marker: str, target: str, kind: str
) -> AsyncIterator[StoredOrder]:
    """Every order whose current version ``marker`` has not had, in store order, except those
    whose last attempt is quarantined (they wait for an operator's retry)."""
    after = 0
    while True:
        with ctx.store.reading() as tx:
            blocked = tx.unresolved_keys(target, kind)
            batch = tx.orders_to_export(marker, after_id=after)
        if not batch:
            return
        after = batch[-1].id
        for stored in batch:
            if _order_key(stored) not in blocked:
                yield stored


async def export_documents(
    ctx: EngineContext, channel: ResolvedChannel, adapter: Adapter, report: ChannelReport
) -> None:
    """Send every order not on hold, and every later change to it, to a back office.

    An order cancelled before it was ever sent is not sent. The document's reference is
    stable, and the adapter looks it up before creating, so a retry never duplicates it.
    """
    async for stored in _each_pending(ctx, channel.name, channel.name, "document"):
        order = stored.order
        document = SalesDocument(
            kind=channel.config.document_kind, reference=order.reference, order=order
        )
        try:
            receipt = await adapter.push_document(document)
        except _RECORD_FAILURES as exc:
            payload = order.model_dump(mode="json", exclude={"raw"})
            _quarantine(ctx, channel.name, "document", _order_key(stored), exc, payload)
            report.counts["documents_failed"] += 1
            continue
        with ctx.store.transaction() as tx:
            tx.mark_exported(channel.name, stored.id, stored.version, receipt.external_id, utcnow())
        report.counts["documents"] += 1


def customer_key(order_channel: str, customer: Customer) -> str:
    """What identifies a customer across orders: their e-mail, else the channel's id."""
    if customer.email:
        return customer.email.strip().lower()
    return f"{order_channel}:{customer.external_id or ''}"


async def export_customers(
    ctx: EngineContext, channel: ResolvedChannel, adapter: Adapter, report: ChannelReport
) -> None:
    """Create each new buyer once in a CRM or back office."""
    marker = f"{channel.name}#customers"
    async for stored in _each_pending(ctx, marker, channel.name, "customer"):
        if await _export_customer(ctx, channel, adapter, stored, report):
            with ctx.store.transaction() as tx:
                tx.mark_exported(marker, stored.id, stored.version, "-", utcnow())


async def _export_customer(
    ctx: EngineContext,
    channel: ResolvedChannel,
    adapter: Adapter,
    stored: StoredOrder,
    report: ChannelReport,
) -> bool:
    """Push the order's buyer unless already there; False if the push was quarantined."""
    customer = stored.order.customer
    if customer is None or not (customer.email or customer.external_id):
        return True
    key = customer_key(stored.order.channel, customer)
    with ctx.store.reading() as tx:
        known = tx.customer_link(channel.name, key)
    if known is not None:
        return True
    try:
        external = await adapter.push_customer(customer)
    except _RECORD_FAILURES as exc:
        payload = customer.model_dump(mode="json")
        _quarantine(ctx, channel.name, "customer", _order_key(stored), exc, payload)
        report.counts["customers_failed"] += 1
        return False
    with ctx.store.transaction() as tx:
        tx.link_customer(channel.name, key, external, utcnow())
    report.counts["customers"] += 1
    return True


async def push_fulfilments(
    ctx: EngineContext, channel: ResolvedChannel, adapter: Adapter, report: ChannelReport
) -> None:
    """Send the channel every fulfilment recorded for its orders and not yet accepted."""
    with ctx.store.reading() as tx:
        blocked = tx.unresolved_keys(channel.name, "fulfilment")
        pending = [
            item for item in tx.pending_fulfilments(channel.name) if str(item[0]) not in blocked
        ]
    for fulfilment_id, fulfilment in pending:
        try:
            pushed = await adapter.push_fulfilment(fulfilment)
        except _RECORD_FAILURES as exc:
            _quarantine(
                ctx,
                channel.name,
                "fulfilment",
                str(fulfilment_id),
                exc,
                fulfilment.model_dump(mode="json"),
            )
            report.counts["fulfilments_failed"] += 1
            continue
        with ctx.store.transaction() as tx:
            tx.mark_fulfilment_pushed(fulfilment_id, pushed, utcnow())
        report.counts["fulfilments"] += 1


def _quarantine(
    ctx: EngineContext, channel: str, kind: str, key: str, error: Exception, payload: JsonValue
) -> None:
    log.warning("%s %s quarantined: %s", kind, key, error)
    with ctx.store.transaction() as tx:
        tx.quarantine(channel, kind, key, str(error), payload, utcnow())
