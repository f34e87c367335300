"""What happens after a sale: fulfilments, returns, refunds, disputes and documents."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from omnisync.models._base import MAX_UNITS, SKU, Frozen, Identifier, Timestamp
from omnisync.models._enums import (
    DisputeStatus,
    DocumentKind,
    RefundStatus,
    ReturnDisposition,
    ReturnStatus,
)
from omnisync.models._money import Money
from omnisync.models._orders import Order

__all__ = [
    "Dispute",
    "DocumentReceipt",
    "Fulfilment",
    "FulfilmentLine",
    "Refund",
    "RefundLine",
    "Return",
    "ReturnLine",
    "SalesDocument",
    "Shipment",
    "ShipmentLine",
]


class FulfilmentLine(Frozen):
    """``quantity`` units of an order line that shipped."""

    line_id: Identifier
    quantity: int = Field(gt=0, le=MAX_UNITS)


class Fulfilment(Frozen):
    """A shipment of some or all of an order's lines from one location.

    ``fulfilment_id`` is the channel's id for it, known once the channel has accepted it.
    ``idempotency_key`` (set by omnisync when the fulfilment is recorded) lets an adapter
    send it again safely: the channel creates it once.
    """

    channel: Identifier
    order_id: Identifier
    lines: tuple[FulfilmentLine, ...] = Field(min_length=1)
    location: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: Timestamp | None = None
    notify_customer: bool = False
    fulfilment_id: str | None = None
    idempotency_key: str | None = None


class ShipmentLine(Frozen):
    """``quantity`` units of ``sku`` that left in a shipment."""

    sku: SKU
    quantity: int = Field(gt=0, le=MAX_UNITS)


class Shipment(Frozen):
    """Goods a back office (an ERP, a warehouse) shipped for an order it received as a
    document: ``reference`` is that document's (`SalesDocument.reference`), ``source_id`` the
    back office's id for the shipment. omnisync turns it into a `Fulfilment` of the order's
    channel, resolving the SKUs to the order's lines."""

    source_id: Identifier
    reference: Annotated[str, StringConstraints(min_length=1, max_length=400)]
    lines: tuple[ShipmentLine, ...] = Field(min_length=1)
    location: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_at: Timestamp | None = None


class ReturnLine(Frozen):
    """Units of an order line coming back, why, and whether they go back on the shelf."""

    line_id: Identifier
    sku: str | None = None
    quantity: int = Field(gt=0, le=MAX_UNITS)
    reason: str | None = None
    disposition: ReturnDisposition = ReturnDisposition.RESTOCK


class Return(Frozen):
    """A buyer's return of some of an order's lines, received at ``location``."""

    channel: Identifier
    order_id: Identifier
    return_id: Identifier
    status: ReturnStatus = ReturnStatus.REQUESTED
    lines: tuple[ReturnLine, ...] = Field(min_length=1)
    location: str | None = None
    reason: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class RefundLine(Frozen):
    """Units of an order line that a refund covers."""

    line_id: Identifier
    quantity: int = Field(gt=0, le=MAX_UNITS)


class Refund(Frozen):
    """Money given back to the buyer for an order, in the order's currency.

    ``idempotency_key`` (set by omnisync when the refund is requested) makes a retried
    request refund once.
    """

    channel: Identifier
    order_id: Identifier
    amount: Money
    lines: tuple[RefundLine, ...] = ()
    reason: str | None = None
    status: RefundStatus = RefundStatus.PENDING
    refund_id: str | None = None
    created_at: Timestamp | None = None
    idempotency_key: str | None = None


class Dispute(Frozen):
    """A buyer's bank contesting a payment (a chargeback)."""

    channel: Identifier
    order_id: Identifier
    dispute_id: str = Field(min_length=1)
    amount: Money
    reason: str | None = None
    status: DisputeStatus = DisputeStatus.OPEN
    opened_at: Timestamp
    evidence_due_by: Timestamp | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class SalesDocument(Frozen):
    """An order to record in a back office (ERP or accounting) as a ``kind`` of document.

    ``reference`` is unique per order and stable across retries: the back-office adapter looks
    it up before creating anything, so a retried push never creates the document twice.
    """

    kind: DocumentKind
    reference: str = Field(min_length=1)
    order: Order


class DocumentReceipt(Frozen):
    """What a back office answered to a pushed document: its id there, and whether it is new."""

    reference: str
    external_id: str
    created: bool
