"""Pushing stock: only what changed since the channel last acknowledged, batched, isolated."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from omnisync._logging import log_context
from omnisync._time import utcnow
from omnisync.adapters import Adapter, Capability
from omnisync.config import ResolvedChannel
from omnisync.engine._conflicts import retry_conflicts
from omnisync.engine._context import EngineContext
from omnisync.engine._report import ChannelReport
from omnisync.engine._stockview import quantities, sellable_skus
from omnisync.errors import InvalidPayloadError, PermanentError, RecordError
from omnisync.models import StockPushResult, StockUpdate

__all__ = ["plan_push", "push_stock"]

log = logging.getLogger("omnisync.engine")

Outcome = tuple[StockUpdate, StockPushResult]


def plan_push(ctx: EngineContext, channel: ResolvedChannel) -> list[StockUpdate]:
    """The updates ``channel`` needs: SKUs whose quantity differs from what it acknowledged,
    or that it sold itself since (its own number moved).

    A channel that discovers listings gets only the SKUs it lists; a SKU whose push is
    quarantined waits until an operator retries it.
    """
    with ctx.store.reading() as tx:
        skus = sellable_skus(tx, ctx)
        listings = tx.listings(channel.name) if channel.can(Capability.PULL_LISTINGS) else None
        if listings is not None:
            skus = [sku for sku in skus if sku in listings]
        blocked = tx.unresolved_keys(channel.name, "stock_push")
        acked = tx.acknowledged(channel.name)
        wanted = quantities(tx, ctx, channel, [sku for sku in skus if sku not in blocked])
    updates = []
    for sku, quantity in wanted.items():
        known = acked.get(sku)
        if known is not None and known.quantity == quantity and not known.moved:
            continue
        updates.append(
            StockUpdate(
                sku=sku,
                quantity=quantity,
                previous=known.quantity if known is not None else None,
                listing=listings.get(sku) if listings is not None else None,
            )
        )
    return updates


async def push_stock(
    ctx: EngineContext, channel: ResolvedChannel, adapter: Adapter, report: ChannelReport
) -> None:
    """Push every changed quantity to ``channel`` in batches of its declared size."""
    updates = plan_push(ctx, channel)
    size = adapter.limits.stock_batch_size
    for start in range(0, len(updates), size):
        outcomes = await _push_isolated(adapter, updates[start : start + size], report)
        counts = report.counts.copy()

        def record(outcomes: list[Outcome] = outcomes, counts: Counter[str] = counts) -> None:
            report.counts = counts.copy()  # a collision's attempt counted nothing
            _record(ctx, channel, outcomes, report)

        await retry_conflicts(record, f"recording a push to {channel.name}")


async def _push_isolated(
    adapter: Adapter, batch: Sequence[StockUpdate], report: ChannelReport
) -> list[Outcome]:
    """Push a batch; if the channel refuses it whole, split it until the bad items stand alone."""
    report.counts["push_calls"] += 1
    try:
        results = await adapter.push_stock(batch)
        _check(adapter, batch, results)
    except (PermanentError, RecordError) as exc:
        if len(batch) == 1:
            failed = StockPushResult(sku=batch[0].sku, ok=False, error=str(exc))
            return [(batch[0], failed)]
        middle = len(batch) // 2
        first = await _push_isolated(adapter, batch[:middle], report)
        return first + await _push_isolated(adapter, batch[middle:], report)
    return list(zip(batch, results, strict=True))


def _check(adapter: Adapter, batch: Sequence[StockUpdate], results: list[StockPushResult]) -> None:
    if [r.sku for r in results] != [u.sku for u in batch]:
        raise InvalidPayloadError(
            f"adapter {adapter.name!r} answered a push of {len(batch)} items with "
            f"{len(results)} results not in the same order",
            hint="adapters must return one result per update, in order",
        )


def _record(
    ctx: EngineContext, channel: ResolvedChannel, outcomes: list[Outcome], report: ChannelReport
) -> None:
    now = utcnow()
    accepted: dict[str, int] = {}
    with ctx.store.transaction() as tx:
        for update, result in outcomes:
            if result.ok:
                quantity = result.quantity if result.quantity is not None else update.quantity
                accepted[update.sku] = quantity
            elif result.retryable:
                report.counts["push_deferred"] += 1
            else:
                with log_context(sku=update.sku):
                    log.warning("%s refused %s: %s", channel.name, update.sku, result.error)
                tx.quarantine(
                    channel.name,
                    "stock_push",
                    update.sku,
                    f"channel refused quantity {update.quantity} for {update.sku}: {result.error}",
                    {"sku": update.sku, "quantity": update.quantity},
                    now,
                )
                report.counts["push_failed"] += 1
        tx.acknowledge(channel.name, accepted, now)
        tx.append_ledger_many(
            [
                {"kind": "push", "sku": sku, "at": now, "channel": channel.name, "value": qty}
                for sku, qty in accepted.items()
            ]
        )
    report.counts["pushed"] += len(accepted)
