"""What adapter authors build on: the base classes, capabilities, limits and results."""

from omnisync._tasks import cancel_and_wait, in_thread
from omnisync.adapters._base import Adapter, AdapterSettings, ChannelContext, secret
from omnisync.adapters._capabilities import CAPABILITY_METHODS, Capability, Limits, RateLimit
from omnisync.adapters._http import BasicAuth, HeaderAuth, HTTPAdapter, HTTPSettings, QueryAuth
from omnisync.adapters._mapping import map_records
from omnisync.adapters._results import Offer, Page, RejectedRecord, WebhookEvent
from omnisync.adapters._stale import resend_after_stale

__all__ = [
    "CAPABILITY_METHODS",
    "Adapter",
    "AdapterSettings",
    "BasicAuth",
    "Capability",
    "ChannelContext",
    "HTTPAdapter",
    "HTTPSettings",
    "HeaderAuth",
    "Limits",
    "Offer",
    "Page",
    "QueryAuth",
    "RateLimit",
    "RejectedRecord",
    "WebhookEvent",
    "cancel_and_wait",
    "in_thread",
    "map_records",
    "resend_after_stale",
    "secret",
]
