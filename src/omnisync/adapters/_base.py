"""The adapter base class: what every channel adapter is and promises."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SecretStr

from omnisync.adapters._capabilities import CAPABILITY_METHODS, Capability, Limits
from omnisync.adapters._results import Page, WebhookEvent
from omnisync.errors import CapabilityError, PluginError
from omnisync.http import RetryPolicy

if TYPE_CHECKING:
    import httpx

    from omnisync.models import (
        Customer,
        DocumentReceipt,
        Fulfilment,
        Listing,
        Order,
        Refund,
        Return,
        SalesDocument,
        Shipment,
        StockLevel,
        StockPushResult,
        StockUpdate,
    )

__all__ = ["Adapter", "AdapterSettings", "ChannelContext", "secret"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class AdapterSettings(BaseModel):
    """Base of every adapter's settings model (the ``[channels.NAME.settings]`` table).

    Declare credentials as ``SecretStr`` fields made with `secret`, so they never show in logs,
    errors or reprs and can come from an environment variable.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


def secret(*, env: str | None = None, default: str | None = None, description: str = "") -> Any:
    """A credential field (annotate it ``SecretStr``).

    ``env`` names the environment variable it is read from when the configuration leaves it
    out; ``default`` is for simulators and sandboxes only. Required when it has neither.
    """
    extra: dict[str, Any] | None = {"env": env} if env else None
    if default is None:
        return Field(description=description, json_schema_extra=extra)
    return Field(default=SecretStr(default), description=description, json_schema_extra=extra)


@dataclass(frozen=True)
class ChannelContext:
    """What the engine tells an adapter about the channel it serves.

    ``name`` is the channel's name in the configuration; ``transport`` replaces the network
    (simulators, tests); ``retry`` is the channel's retry policy; ``base_dir`` is the
    configuration file's folder, against which relative file paths in settings resolve.
    """

    name: str
    transport: httpx.AsyncBaseTransport | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    base_dir: Path = field(default_factory=Path.cwd)

    def path(self, value: str) -> Path:
        """A file path from the settings, resolved against ``base_dir``."""
        return self.base_dir / value


class Adapter:
    """Translates one system (marketplace, ERP, accounting, CRM) to and from the common model.

    A subclass sets ``name`` (what configurations refer to), ``capabilities``, ``limits`` and a
    ``Settings`` model, and implements the methods its capabilities promise (see
    `CAPABILITY_METHODS`). Methods it does not promise raise `CapabilityError`. A class that
    declares a capability without implementing its methods fails as soon as it is defined.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    limits: ClassVar[Limits] = Limits()
    Settings: ClassVar[type[AdapterSettings]] = AdapterSettings

    def __init__(self, settings: AdapterSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # an abstract intermediate class (e.g. HTTPAdapter)
        if not _NAME.match(cls.name):
            raise PluginError(
                f"adapter class {cls.__qualname__} has name {cls.name!r}; names are lower case "
                "letters, digits, '-' and '_', starting with a letter"
            )
        for capability in cls.capabilities:
            for method in CAPABILITY_METHODS[capability]:
                if getattr(cls, method) is getattr(Adapter, method):
                    raise PluginError(
                        f"adapter {cls.name!r} declares {capability.value!r} but does not "
                        f"implement {method}()"
                    )

    @property
    def channel(self) -> str:
        """The name of the channel this adapter serves."""
        return self.context.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} channel={self.channel!r}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release connections. Called once the engine is done with the adapter."""

    async def ready(self) -> None:
        """Return once a call made now would not wait for the channel's rate limit.

        The engine waits here before it decides what to push, so that what changes while the
        limit holds the push back goes out with it rather than a round later. The default
        returns at once; `HTTPAdapter` waits for its rate limiter.
        """

    def _unsupported(self, capability: Capability) -> CapabilityError:
        return CapabilityError(
            f"channel {self.channel!r}: adapter {self.name!r} cannot {capability.label}"
        )

    async def pull_orders(self, since: datetime | None) -> AsyncIterator[Page[Order]]:
        """Yield pages of orders updated at or after ``since`` (everything when ``None``)."""
        raise self._unsupported(Capability.PULL_ORDERS)
        yield  # pragma: no cover - makes this an async generator, as overrides are

    def map_order(self, payload: JsonValue) -> Order:
        """Map one of the channel's raw order payloads to an `Order`.

        `pull_orders` uses it for each order it reads; the engine uses it again when an operator
        retries an order that failed to map. Raise `InvalidPayloadError` for a payload that
        cannot be mapped.
        """
        raise self._unsupported(Capability.PULL_ORDERS)

    async def pull_stock(self, since: datetime | None) -> AsyncIterator[Page[StockLevel]]:
        """Yield pages of on-hand stock levels changed since ``since`` (all when ``None``)."""
        raise self._unsupported(Capability.PULL_STOCK)
        yield  # pragma: no cover

    async def pull_listings(self) -> AsyncIterator[Page[Listing]]:
        """Yield pages of the channel's listings: which SKUs it sells, under which ids."""
        raise self._unsupported(Capability.PULL_LISTINGS)
        yield  # pragma: no cover

    async def pull_returns(self, since: datetime | None) -> AsyncIterator[Page[Return]]:
        """Yield pages of returns updated at or after ``since``."""
        raise self._unsupported(Capability.PULL_RETURNS)
        yield  # pragma: no cover

    async def pull_shipments(self, since: datetime | None) -> AsyncIterator[Page[Shipment]]:
        """Yield pages of shipments made since ``since`` (all when ``None``) for orders this
        back office received as documents, each naming its document's reference."""
        raise self._unsupported(Capability.PULL_SHIPMENTS)
        yield  # pragma: no cover

    async def push_stock(self, updates: Sequence[StockUpdate]) -> list[StockPushResult]:
        """Set quantities for sale; one result per update, in order.

        The engine never sends more than ``limits.stock_batch_size`` updates at once. A bad item
        is reported in its result, not raised, so the rest of the batch still lands.
        """
        raise self._unsupported(Capability.PUSH_STOCK)

    async def push_fulfilment(self, fulfilment: Fulfilment) -> Fulfilment:
        """Record a shipment on the channel; returns it with the channel's ``fulfilment_id``."""
        raise self._unsupported(Capability.PUSH_FULFILMENTS)

    async def push_refund(self, refund: Refund) -> Refund:
        """Refund the buyer; returns the refund with the channel's id and status."""
        raise self._unsupported(Capability.PUSH_REFUNDS)

    async def push_document(self, document: SalesDocument) -> DocumentReceipt:
        """Create or update the back-office document for an order, at most once per reference."""
        raise self._unsupported(Capability.PUSH_DOCUMENTS)

    async def push_customer(self, customer: Customer) -> str:
        """Create or update a customer; returns the system's id for them."""
        raise self._unsupported(Capability.PUSH_CUSTOMERS)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise `SignatureError` unless the delivery is signed by the channel."""
        raise self._unsupported(Capability.WEBHOOKS)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Turn a verified delivery into a `WebhookEvent`."""
        raise self._unsupported(Capability.WEBHOOKS)
