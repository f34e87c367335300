"""Reading availability out of the store: per channel, per SKU, with its derivation."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from functools import partial

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
    for sku, base, scope, (quantity, steps) in _derive(tx, ctx, channel, skus):
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
    # `_derive`'s numbers without what explains them, in a loop of their own: a push runs it
    # for thousands of SKUs and channels, and a full plan for millions. Channels selling from
    # the same locations share each SKU's base, worked out once.
    capped, bundles = plugins.has_impls("channel_quantity"), ctx.bundles
    table: dict[str, dict[str, int]] = {channel.name: {} for channel in channels}
    for chunk, stock in _stock_slices(tx, ctx, skus, cells, times=False):
        bases: dict[tuple[str, ...], dict[str, int]] = {}
        for channel in channels:
            locations = tuple(channel.locations)
            if locations not in bases:
                bases[locations] = {
                    sku: _base(stock, sku, bundles.get(sku), locations) for sku in chunk
                }
            rules, found = ctx.rules(channel), table[channel.name]
            for sku, base in bases[locations].items():
                cap = partial(plugins.channel_quantity_cap, channel.name, sku) if capped else None
                found[sku] = apply_rules(base, rules, cap, explain=False)[0]
    return table


def with_components(ctx: EngineContext, skus: Collection[str]) -> set[str]:
    """``skus`` and the components of those that are bundles: whose stock they derive from."""
    wanted = set(skus)
    for sku in skus:
        wanted.update(ctx.bundles.get(sku, ()))
    return wanted


Derived = tuple[str, int, Cells, tuple[int, tuple[Step, ...]]]


def _derive(
    tx: Transaction, ctx: EngineContext, channel: ResolvedChannel, skus: Collection[str]
) -> Iterator[Derived]:
    """Each SKU, its base on ``channel``, the stock cells it came from (with when they were
    counted), and the channel's rules applied to it, step by step; stock is read a slice of
    the SKUs at a time, so a whole catalogue is never held at once."""
    rules = ctx.rules(channel)
    capped = plugins.has_impls("channel_quantity")
    for chunk, stock in _stock_slices(tx, ctx, skus, None, times=True):
        for sku in chunk:
            components = ctx.bundles.get(sku)
            scope = {item: stock.get(item, {}) for item in (components or (sku,))}
            base = _base(stock, sku, components, channel.locations)
            cap = partial(plugins.channel_quantity_cap, channel.name, sku) if capped else None
            yield sku, base, scope, apply_rules(base, rules, cap)


def _stock_slices(
    tx: Transaction, ctx: EngineContext, skus: Collection[str], cells: Cells | None, times: bool
) -> Iterator[tuple[list[str], Cells]]:
    """``skus`` a slice at a time, with the stock of each slice (and of its bundles'
    components): read from the store, with when it was counted if ``times``, unless
    ``cells`` hold it already."""
    ordered = list(skus)
    for start in range(0, len(ordered), _SLICE):
        chunk = ordered[start : start + _SLICE]
        if cells is not None:
            yield chunk, cells
        else:
            yield chunk, tx.stock_cells(with_components(ctx, chunk), times=times)


def _base(
    stock: Cells, sku: str, components: Mapping[str, int] | None, locations: Sequence[str]
) -> int:
    """Free stock of ``sku`` over ``locations``; of a bundle (its ``components``), the whole
    bundles its components' free stock makes."""
    if not components:
        return base_quantity(stock.get(sku, _NOTHING), locations)
    bases = {item: base_quantity(stock.get(item, _NOTHING), locations) for item in components}
    return bundle_base(bases, components)


_NOTHING: dict[str, StockCell] = {}
"""The cells of a SKU with no stock anywhere (never written to)."""
