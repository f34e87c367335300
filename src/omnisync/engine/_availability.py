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
    return sum(cells[location].free for location in locations if location in cells)


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
    steps: list[Step] = []
    quantity = base

    def step(rule: str, after: int) -> None:
        nonlocal quantity
        if explain:
            steps.append(Step(rule, quantity, after))
        quantity = after

    if rules.buffer:
        step(f"safety buffer {rules.buffer}", quantity - rules.buffer)
    if rules.percentage < 100:
        step(f"{rules.percentage}% of available", max(quantity, 0) * rules.percentage // 100)
    if rules.zero_below and quantity < rules.zero_below:
        step(f"show 0 below {rules.zero_below}", 0)
    if rules.max_quantity is not None and quantity > rules.max_quantity:
        step(f"at most {rules.max_quantity}", rules.max_quantity)
    if cap is not None:
        capped = cap(max(quantity, 0))
        if capped < quantity:
            step("plugin rule", capped)
    if quantity < 0:
        step("never negative", 0)
    return quantity, tuple(steps)
