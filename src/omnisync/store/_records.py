"""What the store hands back: plain records of what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import JsonValue

from omnisync.models import Order, RiskLevel

__all__ = [
    "Acknowledged",
    "DeadLetter",
    "Holder",
    "Incident",
    "LedgerEntry",
    "LockHolder",
    "NewOrder",
    "ReservationRow",
    "StockCell",
    "StoredOrder",
]


@dataclass(frozen=True)
class StoredOrder:
    """An order as omnisync holds it: the channel's order plus omnisync's own view of it.

    ``version`` goes up each time the order changes; ``hold_reason`` is set while it is on hold
    (oversold or high risk) and it is then not exported to back offices.
    """

    id: int
    order: Order
    version: int
    content_hash: str
    hold_reason: str | None
    risk: RiskLevel | None
    imported_at: datetime
    changed_at: datetime


@dataclass
class ReservationRow:
    """Units of one order line's SKU held at one location.

    ``reserved`` units are waiting to ship; ``shipped`` units left but no stock count since has
    confirmed it (they still count against stock); ``settled`` units left and are accounted for.
    """

    id: int | None
    order_id: int
    line_id: str
    sku: str
    location: str
    seq: int
    reserved: int = 0
    shipped: int = 0
    settled: int = 0
    shipped_at: datetime | None = None

    @property
    def held(self) -> int:
        """Units this row keeps off the shelf: reserved plus shipped-but-unconfirmed."""
        return self.reserved + self.shipped


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """What a channel last confirmed for a SKU, and whether what it shows has moved since."""

    quantity: int
    moved: bool = False


@dataclass(frozen=True)
class Holder:
    """An order holding units of one SKU: who, since when, whether on hold, and how many
    units it holds: ``reserved`` waiting to ship, ``held`` with the shipped ones too."""

    order_id: int
    channel: str
    external_id: str
    created_at: datetime
    hold_reason: str | None
    reserved: int
    held: int

    @property
    def ref(self) -> str:
        """``channel:external_id``."""
        return f"{self.channel}:{self.external_id}"


@dataclass(frozen=True)
class NewOrder:
    """An order to insert with `OrdersMixin.insert_orders`: its JSON and content fingerprint,
    and what risk assessment decided before it was stored."""

    order: Order
    payload: str
    content_hash: str
    risk: RiskLevel | None = None
    hold_reason: str | None = None


@dataclass(frozen=True, slots=True)
class StockCell:
    """One SKU at one location: on hand, and what orders hold of it."""

    on_hand: int = 0
    held: int = 0
    as_of: datetime | None = None

    @property
    def free(self) -> int:
        """On hand minus held; negative when the location is oversold."""
        return self.on_hand - self.held


@dataclass(frozen=True)
class LedgerEntry:
    """One line of the stock ledger.

    ``on_hand_delta`` and ``held_delta`` change the SKU's on-hand and held units at
    ``location``: summed over the ledger they give today's numbers, so any quantity can be
    replayed. ``value`` is an absolute quantity where the entry has one (a count, a push).
    """

    id: int
    at: datetime
    kind: str
    sku: str
    location: str | None
    channel: str | None
    on_hand_delta: int
    held_delta: int
    value: int | None
    order_ref: str | None
    note: str | None


@dataclass(frozen=True)
class DeadLetter:
    """A quarantined record: what it is, why it failed, and its payload kept for a retry."""

    id: int
    channel: str
    kind: str
    key: str
    reason: str
    payload: JsonValue
    created_at: datetime
    updated_at: datetime
    attempts: int
    resolved_at: datetime | None


@dataclass(frozen=True)
class Incident:
    """An oversell: importing ``order_id`` on ``channel`` found ``shortfall`` units of ``sku``
    sold that are not there. ``competing`` names the other orders holding that SKU; ``held``
    the orders put on hold for it: the latest-created ones, until they cover the shortfall."""

    id: int
    kind: str
    sku: str
    shortfall: int
    channel: str
    order_id: str
    competing: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock and until when it stays valid without renewal."""

    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime
