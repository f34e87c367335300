"""Pushing records out: orders as back-office documents, customers, and fulfilments."""

from __future__ import annotations

import logging

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


def _pending(
    ctx: EngineContext, target: str, marker: str, kind: str, after: int
) -> list[StoredOrder]:
    with ctx.store.reading() as tx:
        blocked = tx.unresolved_keys(target, kind)
        return [
            stored
            for stored in tx.orders_to_export(marker, after_id=after)
            if f"{stored.order.channel}:{stored.order.external_id}" not in blocked
        ]


async def export_documents(
    ctx: EngineContext, channel: ResolvedChannel, adapter: Adapter, report: ChannelReport
) -> None:
    """Send every order not on hold, and every later change to it, to a back office.

    An order cancelled before it was ever sent is not sent. The document's reference is
    stable, and the adapter looks it up before creating, so a retry never duplicates it.
    """
    after = 0
    while batch := _pending(ctx, channel.name, channel.name, "document", after):
        for stored in batch:
            after = stored.id
            order = stored.order
            key = f"{order.channel}:{order.external_id}"
            document = SalesDocument(
                kind=channel.config.document_kind, reference=order.reference, order=order
            )
            try:
                receipt = await adapter.push_document(document)
            except _RECORD_FAILURES as exc:
                _quarantine(ctx, channel.name, "document", key, exc, order.model_dump(mode="json"))
                report.counts["documents_failed"] += 1
                continue
            with ctx.store.transaction() as tx:
                tx.mark_exported(
                    channel.name, stored.id, stored.version, receipt.external_id, utcnow()
                )
                tx.resolve_dead_letters(channel.name, "document", key, utcnow())
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
    after = 0
    while batch := _pending(ctx, channel.name, marker, "customer", after):
        for stored in batch:
            after = stored.id
            await _export_customer(ctx, channel, adapter, stored, report)
            with ctx.store.transaction() as tx:
                tx.mark_exported(marker, stored.id, stored.version, "-", utcnow())


async def _export_customer(
    ctx: EngineContext,
    channel: ResolvedChannel,
    adapter: Adapter,
    stored: StoredOrder,
    report: ChannelReport,
) -> None:
    customer = stored.order.customer
    if customer is None or not (customer.email or customer.external_id):
        return
    key = customer_key(stored.order.channel, customer)
    with ctx.store.reading() as tx:
        known = tx.customer_link(channel.name, key)
    if known is not None:
        return
    try:
        external = await adapter.push_customer(customer)
    except _RECORD_FAILURES as exc:
        _quarantine(ctx, channel.name, "customer", key, exc, customer.model_dump(mode="json"))
        report.counts["customers_failed"] += 1
        return
    with ctx.store.transaction() as tx:
        tx.link_customer(channel.name, key, external, utcnow())
    report.counts["customers"] += 1


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
