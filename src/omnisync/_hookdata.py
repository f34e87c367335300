"""What plugin hooks receive and return."""

from __future__ import annotations

import json
from enum import StrEnum

from pydantic import Field

from omnisync.models import Order, RiskLevel
from omnisync.models._base import Frozen

__all__ = [
    "LocationCandidate",
    "OrderEvent",
    "OrderEventKind",
    "RiskAssessment",
    "event_json",
]


class OrderEventKind(StrEnum):
    """What happened to an order.

    - ``imported``: seen for the first time and its stock reserved.
    - ``changed``: a newer version replaced the stored one.
    - ``cancelled``: cancelled on its channel; its reservations were released.
    - ``fulfilled``: every line shipped.
    - ``oversold``: it reserved stock that was not there; ``detail`` names the competing orders.
    - ``held``: put on hold (oversold or assessed high risk); ``detail`` says why.
    """

    IMPORTED = "imported"
    CHANGED = "changed"
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"
    OVERSOLD = "oversold"
    HELD = "held"


class OrderEvent(Frozen):
    """An order lifecycle event, delivered to plugins after the change is committed."""

    kind: OrderEventKind
    order: Order
    detail: str = ""


def event_json(kind: OrderEventKind, order_json: str, detail: str = "") -> str:
    """``OrderEvent(kind=kind, order=order, detail=detail).model_dump_json()``, given the
    order's JSON already: an event of a new order would otherwise serialise it once more."""
    return f'{{"kind":{json.dumps(kind.value)},"order":{order_json},"detail":{json.dumps(detail)}}}'


class RiskAssessment(Frozen):
    """A plugin's verdict on an order: a level and, for the operator, why."""

    level: RiskLevel
    reason: str = ""
    source: str = ""


class LocationCandidate(Frozen):
    """A location that could ship a line, and the units free there right now."""

    location: str = Field(min_length=1)
    free: int
