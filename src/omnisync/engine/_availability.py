"""Available to sell: the quantity each channel may offer, and how it was derived.

Pure arithmetic on stock cells, so it can be checked exhaustively and explained line by line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from omnisync.store import StockCell

__all__ = ["Availability", "ChannelRules", "Step", "apply_rules", "base_quantity", "bundle_base"]


@dataclass(frozen=True)
class ChannelRules:
    """A channel's quantity rules, applied in this order after reservations are subtracted.

    ``buffer`` units are held back; ``percentage`` % of the rest is offered (rounded down);
    below ``zero_below`` the channel shows 0; it never shows more than ``max_quantity``.
    """

    buffer: int = 0
    percentage: int = 100
    zero_below: int = 0
    max_quantity: int | None = None


@dataclass(frozen=True)
class Step:
    """One step of the derivation: which rule, the quantity before and after it."""

    rule: str
    before: int
    after: int


@dataclass(frozen=True)
class Availability:
    """What ``channel`` may sell of ``sku``, and everything that number came from.

    ``cells`` is on hand and held per location the channel sells from (for a bundle: per
    component, see ``components``); ``base`` is free stock before the channel's rules;
    ``steps`` apply the rules; ``quantity`` is the result.
    """

    channel: str
    sku: str
    quantity: int
    base: int
    cells: Mapping[str, Mapping[str, StockCell]]
    steps: tuple[Step, ...] = ()
    components: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_bundle(self) -> bool:
        """Whether ``sku`` is a bundle whose availability derives from its components."""
        return bool(self.components)


def base_quantity(cells: Mapping[str, StockCell], locations: Sequence[str]) -> int:
    """Free stock over the channel's locations: on hand minus held, summed (may be negative)."""
    base = 0
    for location in locations:
        cell = cells.get(location)
        if cell is not None:
            base += cell.free
    return base


def bundle_base(component_bases: Mapping[str, int], components: Mapping[str, int]) -> int:
    """Whole bundles the components make: the scarcest component decides."""
    return min(max(component_bases.get(sku, 0), 0) // per for sku, per in components.items())


def apply_rules(
    base: int,
    rules: ChannelRules,
    cap: Callable[[int], int] | None = None,
    *,
    explain: bool = True,
) -> tuple[int, tuple[Step, ...]]:
    """Apply a channel's rules (and plugin caps) to ``base``; never returns below zero.
    Without ``explain`` no steps are recorded: a push planning a million SKUs needs the
    numbers alone, and recording the steps took most of the time."""
    # Written out rule by rule, each step recorded only when explaining: this runs for every
    # SKU and channel a push plans, and a closure or a step's name made per call cost more
    # than the arithmetic.
    steps: list[Step] | None = [] if explain else None
    quantity = base
    if rules.buffer:
        after = quantity - rules.buffer
        if steps is not None:
            steps.append(Step(f"safety buffer {rules.buffer}", quantity, after))
        quantity = after
    if rules.percentage < 100:
        after = max(quantity, 0) * rules.percentage // 100
        if steps is not None:
            steps.append(Step(f"{rules.percentage}% of available", quantity, after))
        quantity = after
    if rules.zero_below and quantity < rules.zero_below:
        if steps is not None:
            steps.append(Step(f"show 0 below {rules.zero_below}", quantity, 0))
        quantity = 0
    if rules.max_quantity is not None and quantity > rules.max_quantity:
        if steps is not None:
            steps.append(Step(f"at most {rules.max_quantity}", quantity, rules.max_quantity))
        quantity = rules.max_quantity
    if cap is not None:
        capped = cap(max(quantity, 0))
        if capped < quantity:
            if steps is not None:
                steps.append(Step("plugin rule", quantity, capped))
            quantity = capped
    if quantity < 0:
        if steps is not None:
            steps.append(Step("never negative", quantity, 0))
        quantity = 0
    return quantity, tuple(steps) if steps else ()
