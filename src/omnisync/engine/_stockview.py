"""Reading availability out of the store: per channel, per SKU, with its derivation."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

from omnisync import plugins
from omnisync.config import ResolvedChannel
from omnisync.engine._availability import (
    Availability,
    Step,
    apply_rules,
    base_quantity,
    bundle_base,
)
from omnisync.engine._context import EngineContext
from omnisync.store import StockCell, Transaction

__all__ = [
    "Cells",
    "availability",
    "quantities",
    "quantities_by_channel",
    "sellable_skus",
    "with_components",
]

_SLICE = 20_000
"""SKUs whose stock is read at once."""

Cells = dict[str, dict[str, StockCell]]
"""Stock per SKU and location, as `Transaction.stock_cells` reads it."""


def sellable_skus(tx: Transaction, ctx: EngineContext) -> list[str]:
    """Every SKU a channel could be offered: known items and configured bundles."""
    return sorted(set(tx.all_skus()) | set(ctx.bundles))


def availability(
    tx: Transaction, ctx: EngineContext, channel: ResolvedChannel, skus: Collection[str]
) -> dict[str, Availability]:
    """What ``channel`` may sell of each of ``skus``, with how it was derived."""
    result: dict[str, Availability] = {}
    for _, sku, base, scope, (quantity, steps) in _derive(tx, ctx, [channel], skus, explain=True):
        shown = {
            item: {loc: cell for loc, cell in per.items() if loc in channel.locations}
            for item, per in scope.items()
        }
        result[sku] = Availability(
            channel=channel.name,
            sku=sku,
            quantity=quantity,
            base=base,
            cells=shown,
            steps=steps,
            components=dict(ctx.bundles.get(sku, {})),
        )
    return result


def quantities(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    skus: Collection[str],
    cells: Cells | None = None,
) -> dict[str, int]:
    """What ``channel`` may sell of each of ``skus``: `availability`'s numbers alone, for a
    push planning thousands of SKUs. ``cells``: their stock (and their bundles' components'),
    if it was read already."""
    return quantities_by_channel(tx, ctx, [channel], skus, cells)[channel.name]


def quantities_by_channel(
    tx: Transaction,
    ctx: EngineContext,
    channels: Sequence[ResolvedChannel],
    skus: Collection[str],
    cells: Cells | None = None,
) -> dict[str, dict[str, int]]:
    """What each of ``channels`` may sell of each of ``skus`` (channel → SKU → quantity),
    reading each SKU's stock once for all of them (not at all if ``cells`` hold it)."""
    table: dict[str, dict[str, int]] = {channel.name: {} for channel in channels}
    derived = _derive(tx, ctx, channels, skus, explain=False, cells=cells)
    for channel, sku, _, _, (quantity, _) in derived:
        table[channel.name][sku] = quantity
    return table


def with_components(ctx: EngineContext, skus: Collection[str]) -> set[str]:
    """``skus`` and the components of those that are bundles: whose stock they derive from."""
    wanted = set(skus)
    for sku in skus:
        wanted.update(ctx.bundles.get(sku, ()))
    return wanted


Derived = tuple[ResolvedChannel, str, int, Cells, tuple[int, tuple[Step, ...]]]


def _derive(
    tx: Transaction,
    ctx: EngineContext,
    channels: Sequence[ResolvedChannel],
    skus: Collection[str],
    *,
    explain: bool,
    cells: Cells | None = None,
) -> Iterator[Derived]:
    """Each channel and SKU, its base, the stock cells it came from, and the rules applied to
    it (if ``explain``, with when the cells were counted and each rule's step; without, the
    numbers alone); stock is read a slice of the SKUs at a time, so a whole catalogue is never
    held at once, unless ``cells`` hold it already."""
    rules = [(channel, ctx.rules(channel)) for channel in channels]
    capped = plugins.has_impls("channel_quantity")
    ordered = list(skus)
    for start in range(0, len(ordered), _SLICE):
        chunk = ordered[start : start + _SLICE]
        if cells is None:
            stock = tx.stock_cells(with_components(ctx, chunk), times=explain)
        else:
            stock = cells
        for sku in chunk:
            components = ctx.bundles.get(sku, {})
            scope = {item: stock.get(item, {}) for item in (components or (sku,))}
            for channel, channel_rules in rules:
                if components:
                    bases = {c: base_quantity(cs, channel.locations) for c, cs in scope.items()}
                    base = bundle_base(bases, components)
                else:
                    base = base_quantity(scope[sku], channel.locations)

                def cap(quantity: int, sku: str = sku, channel: str = channel.name) -> int:
                    return plugins.channel_quantity_cap(channel, sku, quantity)

                derived = apply_rules(base, channel_rules, cap if capped else None, explain=explain)
                yield channel, sku, base, scope, derived
