"""What adapters hand back to the engine: pages of records, rejects, webhook events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import JsonValue

from omnisync.models import Order, Return, StockLevel

__all__ = ["Offer", "Page", "RejectedRecord", "WebhookEvent"]

T = TypeVar("T")


@dataclass(frozen=True)
class RejectedRecord:
    """A payload an adapter could not map. The engine quarantines it; the rest of the page goes on.

    ``key`` identifies the record on its channel (an order id), ``reason`` says what is wrong,
    and ``payload`` keeps the channel's data untouched so a retry can map it again.
    """

    kind: str
    key: str
    reason: str
    payload: JsonValue


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of records read from a channel.

    ``checkpoint``, when set, promises that every record updated before it has now been
    delivered: the engine may save it as the cursor once the page is committed, so a long first
    sync that stops half-way resumes there instead of starting over. A stream read to the end
    leaves its cursor at its last checkpoint (a cursor never moves back); one that gave none,
    at the newest change among its records, which is right only when pages run in order of
    change. Records delivered after the last checkpoint and changed later than it are read
    again by the next pull.
    """

    items: list[T]
    rejects: list[RejectedRecord] = field(default_factory=list)
    checkpoint: datetime | None = None


@dataclass(frozen=True)
class Offer:
    """The quantity a sales channel now shows for one of our SKUs."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook delivery, parsed into what it changes.

    ``event_id`` is the channel's id for the event, the same on every redelivery: the engine
    ignores an id it has seen before. ``orders`` are imported like pulled orders; ``stock``
    are counts (used when the channel is an inventory source); ``offered`` are quantities the
    channel now shows (one that differs from what it acknowledged is pushed again);
    ``deleted_orders`` are ids of orders the channel deleted (treated as cancelled).
    """

    event_id: str
    topic: str
    orders: tuple[Order, ...] = ()
    stock: tuple[StockLevel, ...] = ()
    offered: tuple[Offer, ...] = ()
    returns: tuple[Return, ...] = ()
    deleted_orders: tuple[str, ...] = ()
    rejects: tuple[RejectedRecord, ...] = ()
