"""omnisync: one truth for a seller's orders and stock across every channel and back office.

Import what you need from here; the submodules behind it are private unless documented
(``omnisync.models``, ``omnisync.adapters``, ``omnisync.errors``, ``omnisync.hookspecs``,
``omnisync.http``, ``omnisync.sim``, ``omnisync.webhooks``).
"""

from importlib.metadata import PackageNotFoundError, version

from omnisync._api import AsyncOmnisync, Omnisync, RetryOutcome, WebhookResult
from omnisync._hookdata import LocationCandidate, OrderEvent, OrderEventKind, RiskAssessment
from omnisync._logging import configure_logging, log_context
from omnisync.adapters import (
    Adapter,
    AdapterSettings,
    Capability,
    ChannelContext,
    HTTPAdapter,
    HTTPSettings,
    Limits,
    Page,
    RateLimit,
    RejectedRecord,
    WebhookEvent,
)
from omnisync.config import Config, LoadedConfig, load_config, parse_config
from omnisync.engine import Availability, ChannelReport, ChannelRules, Engine, SyncReport
from omnisync.errors import OmnisyncError
from omnisync.hookspecs import hookimpl
from omnisync.models import (
    Address,
    Customer,
    Dispute,
    Fulfilment,
    FulfilmentLine,
    Listing,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    Return,
    StockLevel,
)
from omnisync.store import (
    DeadLetter,
    Incident,
    LedgerEntry,
    StockCell,
    Store,
    StoredOrder,
    open_store,
)

try:
    __version__ = version("omnisync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Adapter",
    "AdapterSettings",
    "Address",
    "AsyncOmnisync",
    "Availability",
    "Capability",
    "ChannelContext",
    "ChannelReport",
    "ChannelRules",
    "Config",
    "Customer",
    "DeadLetter",
    "Dispute",
    "Engine",
    "Fulfilment",
    "FulfilmentLine",
    "HTTPAdapter",
    "HTTPSettings",
    "Incident",
    "LedgerEntry",
    "Limits",
    "Listing",
    "LoadedConfig",
    "LocationCandidate",
    "Money",
    "Omnisync",
    "OmnisyncError",
    "Order",
    "OrderEvent",
    "OrderEventKind",
    "OrderLine",
    "OrderStatus",
    "Page",
    "RateLimit",
    "Refund",
    "RejectedRecord",
    "RetryOutcome",
    "Return",
    "RiskAssessment",
    "StockCell",
    "StockLevel",
    "Store",
    "StoredOrder",
    "SyncReport",
    "WebhookEvent",
    "WebhookResult",
    "__version__",
    "configure_logging",
    "hookimpl",
    "load_config",
    "log_context",
    "open_store",
    "parse_config",
]
