"""Shipments a back office made, turned into fulfilments for the orders' own channels."""

from __future__ import annotations

from datetime import datetime

from omnisync.adapters import Capability
from omnisync.config import ResolvedChannel
from omnisync.engine._context import EngineContext
from omnisync.engine._report import ChannelReport
from omnisync.errors import RecordError
from omnisync.models import Fulfilment, FulfilmentLine, Order, Shipment, ShipmentLine
from omnisync.store import Transaction

__all__ = ["apply_shipments", "fulfilment_lines"]


def apply_shipments(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    shipments: list[Shipment],
    now: datetime,
    report: ChannelReport,
) -> datetime | None:
    """Queue each shipment, once, as a fulfilment for its order's channel (its push step
    sends it); returns the newest shipment time among them.

    A shipment for no order omnisync knows, or for more units than its order has open, is
    quarantined; one for an order whose channel takes no fulfilments is only counted.
    """
    newest: datetime | None = None
    locations = dict(ctx.loaded.source_locations(channel.name))
    for shipment in shipments:
        if shipment.shipped_at is not None:
            newest = shipment.shipped_at if newest is None else max(newest, shipment.shipped_at)
        try:
            outcome, fulfilment = _fulfilment(tx, ctx, channel, shipment, locations)
        except RecordError as exc:
            payload = shipment.model_dump(mode="json")
            tx.quarantine(channel.name, "shipment", shipment.source_id, str(exc), payload, now)
            report.counts["shipments_quarantined"] += 1
            continue
        if fulfilment is not None and not tx.add_fulfilment(fulfilment, now):
            outcome = "shipments_known"
        report.counts[outcome] += 1
    return newest


def _fulfilment(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    shipment: Shipment,
    locations: dict[str, str],
) -> tuple[str, Fulfilment | None]:
    """What to record for ``shipment``, and the count it goes under."""
    stored = tx.find_order(shipment.reference)
    if stored is None:
        raise RecordError(
            f"shipment {shipment.source_id} is for {shipment.reference!r}, which names no "
            "order omnisync imported",
            hint="check the reference on the back office's document",
        )
    order = stored.order
    origin = ctx.channels.get(order.channel)
    if origin is None or not origin.can(Capability.PUSH_FULFILMENTS):
        return "shipments_not_for_a_channel", None
    key = f"{channel.name}:{shipment.source_id}"
    if tx.has_fulfilment(order.channel, key):
        # Read again (a cursor's overlap): recorded already, and its lines may be closed now.
        return "shipments_known", None
    return "shipments", Fulfilment(
        channel=order.channel,
        order_id=order.external_id,
        lines=fulfilment_lines(order, shipment.lines),
        location=locations.get(shipment.location or ""),
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        tracking_url=shipment.tracking_url,
        shipped_at=shipment.shipped_at,
        idempotency_key=key,
    )


def fulfilment_lines(order: Order, shipped: tuple[ShipmentLine, ...]) -> tuple[FulfilmentLine, ...]:
    """The order's lines that ``shipped`` covers: each SKU's units go to its lines in order,
    up to what each still has open. `RecordError` for a SKU the order does not have open."""
    open_units = {line.line_id: line.open_quantity for line in order.lines}
    taken: dict[str, int] = {}
    for item in shipped:
        left = item.quantity
        for line in order.lines:
            if line.sku != item.sku or not left:
                continue
            take = min(left, open_units[line.line_id])
            if take:
                open_units[line.line_id] -= take
                taken[line.line_id] = taken.get(line.line_id, 0) + take
                left -= take
        if left:
            raise RecordError(
                f"the shipment sends {item.quantity} of {item.sku} but order "
                f"{order.reference} has only {item.quantity - left} of it open",
                sku=item.sku,
                order=order.external_id,
            )
    lines = [
        FulfilmentLine(line_id=line.line_id, quantity=taken[line.line_id])
        for line in order.lines
        if line.line_id in taken
    ]
    return tuple(lines)
