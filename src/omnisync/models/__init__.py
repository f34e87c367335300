"""The common model: what every adapter maps its channel's data to and from.

All models are pydantic v2, validated on the way in and immutable (change one with
``model_copy(update=...)``). Money is exact; timestamps are timezone-aware UTC.
"""

from omnisync.models._after_sale import (
    Dispute,
    DocumentReceipt,
    Fulfilment,
    FulfilmentLine,
    Refund,
    RefundLine,
    Return,
    ReturnLine,
    SalesDocument,
    Shipment,
    ShipmentLine,
)
from omnisync.models._base import SKU, Timestamp
from omnisync.models._enums import (
    DisputeStatus,
    DocumentKind,
    FinancialStatus,
    FulfilmentStatus,
    OrderStatus,
    RefundStatus,
    ReturnDisposition,
    ReturnStatus,
    RiskLevel,
)
from omnisync.models._money import Currency, Money
from omnisync.models._orders import Discount, Order, OrderLine, ShippingLine, TaxLine
from omnisync.models._party import Address, CountryCode, Customer
from omnisync.models._stock import Listing, StockLevel, StockPushResult, StockUpdate

__all__ = [
    "SKU",
    "Address",
    "CountryCode",
    "Currency",
    "Customer",
    "Discount",
    "Dispute",
    "DisputeStatus",
    "DocumentKind",
    "DocumentReceipt",
    "FinancialStatus",
    "Fulfilment",
    "FulfilmentLine",
    "FulfilmentStatus",
    "Listing",
    "Money",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Refund",
    "RefundLine",
    "RefundStatus",
    "Return",
    "ReturnDisposition",
    "ReturnLine",
    "ReturnStatus",
    "RiskLevel",
    "SalesDocument",
    "Shipment",
    "ShipmentLine",
    "ShippingLine",
    "StockLevel",
    "StockPushResult",
    "StockUpdate",
    "TaxLine",
    "Timestamp",
]
