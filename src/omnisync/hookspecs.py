"""The hooks a plugin can implement. Mark implementations with ``@omnisync.hookimpl``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    from omnisync._hookdata import LocationCandidate, OrderEvent, RiskAssessment
    from omnisync.adapters import Adapter
    from omnisync.models import Order, OrderLine
    from omnisync.sim import SimulatorFactory

__all__ = ["hookimpl", "hookspec"]

hookspec = HookspecMarker("omnisync")
hookimpl = HookimplMarker("omnisync")


@hookspec
def register_adapters(register: Callable[[type[Adapter]], None]) -> None:
    """Register adapter classes: call ``register(MyAdapter)`` once for each.

    A name registered twice is an error at load time that names both plugins.
    """


@hookspec
def register_simulators(register: Callable[[str, SimulatorFactory], None]) -> None:
    """Register channel simulators: call ``register("name", factory)`` for each.

    ``factory(options)`` returns a simulator (`omnisync.sim.SimApp`) started with
    `omnisync.sim.SimulatorOptions`. ``omnisync simulate NAME`` serves it on a port, and the
    adapter contract kit drives it. A name registered twice is an error at load time.
    """


@hookspec
def order_event(event: OrderEvent) -> None:
    """Called once for each order lifecycle event, after the change is committed.

    An exception here is logged and does not stop the sync.
    """


@hookspec
def assess_risk(order: Order) -> RiskAssessment | None:
    """Judge a newly imported order's risk; return ``None`` to abstain.

    Every plugin is asked; the highest level wins. An order assessed ``high`` is put on hold.
    """


@hookspec
def channel_quantity(channel: str, sku: str, quantity: int) -> int | None:
    """Cap the quantity ``channel`` will show for ``sku``; ``None`` leaves it alone.

    Every plugin is asked and the lowest answer wins, so a rule can only lower a quantity and
    no plugin can make omnisync offer stock it does not have. Answers below zero count as zero.
    """


@hookspec(firstresult=True)
def choose_location(
    order: Order, line: OrderLine, sku: str, quantity: int, candidates: Sequence[LocationCandidate]
) -> str | None:
    """Choose the location that ships ``quantity`` of ``sku`` for ``line``.

    The first plugin that returns a location name wins; it must be one of ``candidates``.
    With no answer, omnisync fills from the candidates in configured order, splitting the line
    across locations when one does not have enough.
    """
