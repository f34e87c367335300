"""Statuses, each with one documented meaning that every adapter maps its channel's statuses to."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DisputeStatus",
    "DocumentKind",
    "FinancialStatus",
    "FulfilmentStatus",
    "OrderStatus",
    "RefundStatus",
    "ReturnDisposition",
    "ReturnStatus",
    "RiskLevel",
]


class OrderStatus(StrEnum):
    """Where an order stands on its channel.

    - ``pending``: placed but not yet confirmed (awaiting payment, say). Reserves stock.
    - ``open``: confirmed. Every line quantity not yet fulfilled or cancelled reserves stock.
    - ``closed``: finished or archived by the channel. Lines not marked fulfilled still reserve
      stock until they are: a closed order can still be waiting to ship.
    - ``cancelled``: cancelled. Releases the stock its unfulfilled lines reserved.
    """

    PENDING = "pending"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class FinancialStatus(StrEnum):
    """Where the buyer's payment stands.

    - ``pending``: no payment yet.
    - ``authorized``: payment authorised, not captured.
    - ``partially_paid`` / ``paid``: part or all of the total captured.
    - ``partially_refunded`` / ``refunded``: part or all of the captured money returned.
    - ``voided``: the authorisation was cancelled; no money moved.
    """

    PENDING = "pending"
    AUTHORIZED = "authorized"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"


class FulfilmentStatus(StrEnum):
    """How much of an order has shipped: ``unfulfilled``, ``partial`` or ``fulfilled``."""

    UNFULFILLED = "unfulfilled"
    PARTIAL = "partial"
    FULFILLED = "fulfilled"


class RiskLevel(StrEnum):
    """How likely an order is to be fraudulent. Orders assessed ``high`` are put on hold."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """0 for low, 1 for medium, 2 for high: for comparing levels."""
        return _RISK_RANKS[self]


_RISK_RANKS = {level: rank for rank, level in enumerate(RiskLevel)}


class ReturnDisposition(StrEnum):
    """What happens to returned goods: ``restock`` adds them back to stock, ``discard`` does not."""

    RESTOCK = "restock"
    DISCARD = "discard"


class ReturnStatus(StrEnum):
    """Where a return stands.

    - ``requested``: the buyer asked to return; nothing is back yet, stock is unchanged.
    - ``received``: the goods are back; lines marked ``restock`` add stock at the return's location.
    - ``cancelled``: the return will not happen.
    """

    REQUESTED = "requested"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class RefundStatus(StrEnum):
    """Where a refund stands: ``pending`` (sent, not settled), ``succeeded`` or ``failed``."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DisputeStatus(StrEnum):
    """Where a payment dispute (chargeback) stands.

    - ``open``: raised by the buyer's bank; the merchant must respond before the due date.
    - ``under_review``: evidence submitted; the bank is deciding.
    - ``won`` / ``lost``: decided for or against the merchant.
    - ``accepted``: the merchant accepted the chargeback without contesting it.
    """

    OPEN = "open"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    ACCEPTED = "accepted"


class DocumentKind(StrEnum):
    """Which accounting or ERP document an order becomes when it is pushed to a back office.

    - ``sales_order``: an order still to be delivered (an ERP sale).
    - ``invoice``: a bill for the order, paid or not.
    - ``sales_receipt``: a bill already paid at the time of sale.
    """

    SALES_ORDER = "sales_order"
    INVOICE = "invoice"
    SALES_RECEIPT = "sales_receipt"
