"""The Python API: `AsyncOmnisync` for async apps, `Omnisync` for everything else."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from omnisync._time import utcnow
from omnisync.adapters import Capability
from omnisync.adapters._mapping import MAPPING_ERRORS, map_records, mapping_failure
from omnisync.config import LoadedConfig, ResolvedChannel, load_config
from omnisync.engine import Availability, Engine, SyncReport
from omnisync.engine._conflicts import retry_conflicts
from omnisync.engine._counts import apply_count
from omnisync.engine._events import deliver_events
from omnisync.engine._importer import import_order
from omnisync.engine._pull import (
    Progress,
    apply_deletions,
    apply_orders,
    apply_returns,
    apply_stock,
)
from omnisync.engine._report import ChannelReport
from omnisync.engine._reservations import reconcile
from omnisync.engine._stockview import availability, quantities_by_channel, sellable_skus
from omnisync.errors import (
    CapabilityError,
    ConfigError,
    InvalidPayloadError,
    OmnisyncError,
    RecordError,
    UnknownSKUError,
)
from omnisync.models import Fulfilment, Order, OrderStatus, Refund
from omnisync.store import (
    DeadLetter,
    Incident,
    LedgerEntry,
    StockCell,
    Store,
    StoredOrder,
    Transaction,
    open_store,
)

__all__ = ["AsyncOmnisync", "Omnisync", "RetryOutcome", "WebhookResult"]

# Quarantined records pulled by a stream that a retry re-reads from the start.
_STREAM_OF_KIND = {
    "return": "returns",
    "stock_level": "stock",
    "listing": "listings",
    "shipment": "shipments",
}
# Quarantined pushes that the next sync attempts again once their dead letter is resolved.
_PUSH_KINDS = {"stock_push", "document", "customer", "fulfilment"}


@dataclass(frozen=True)
class WebhookResult:
    """What handling a webhook delivery did: ``accepted`` or ``duplicate`` (seen before)."""

    status: str
    event_id: str
    topic: str
    counts: dict[str, int]


@dataclass(frozen=True)
class RetryOutcome:
    """What retrying one quarantined record did."""

    dead_letter: DeadLetter
    ok: bool
    message: str


class AsyncOmnisync:
    """omnisync for async code: sync channels, read and set stock, handle webhooks.

    Build it with `from_file` (a TOML configuration) or from a checked `LoadedConfig`, and
    close it with ``await om.aclose()`` or ``async with``.
    """

    def __init__(
        self,
        config: LoadedConfig,
        *,
        store: Store | None = None,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.config = config
        self.store = store or open_store(config.config.store.url, base_dir=config.base_dir)
        self.engine = Engine(config, self.store, transports=transports)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> Self:
        """Load the configuration at ``path`` (see `load_config`) and open its store."""
        return cls(load_config(path), transports=transports)

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
        """Close adapters' connections and the store."""
        await self.engine.aclose()
        self.store.close()

    def _channel(self, name: str) -> ResolvedChannel:
        try:
            return self.config.channels[name]
        except KeyError:
            known = ", ".join(self.config.channels) or "none"
            raise ConfigError(f"no channel named {name!r} (configured: {known})") from None

    # Syncing -----------------------------------------------------------------------------------

    async def sync(
        self,
        channels: Sequence[str] | None = None,
        *,
        wait: bool = False,
        progress: Progress | None = None,
    ) -> SyncReport:
        """Run one sync over ``channels`` (default: all). See `Engine.sync`."""
        return await self.engine.sync(channels, wait=wait, progress=progress)

    # Stock ------------------------------------------------------------------------------------

    async def set_stock(
        self, sku: str, on_hand: int, location: str | None = None, *, force: bool = False
    ) -> None:
        """Count ``on_hand`` units of ``sku`` at ``location`` (optional with one location).

        A location an inventory source counts is refused unless ``force``: the source's next
        change to the SKU would replace the number anyway, and until then it would be wrong.
        """
        sku = sku.strip()
        locations = self.config.config.locations
        if location is None:
            if len(locations) != 1:
                raise ConfigError(
                    f"there are {len(locations)} locations; say which one ({', '.join(locations)})"
                )
            location = next(iter(locations))
        if location not in locations:
            raise ConfigError(
                f"no location named {location!r} (configured: {', '.join(locations)})"
            )
        if on_hand < 0:
            raise RecordError(f"on hand cannot be negative (got {on_hand})", sku=sku)
        if sku in self.config.config.bundles:
            raise RecordError(
                f"{sku} is a bundle: its stock derives from its components",
                hint="set the stock of its components instead",
                sku=sku,
            )
        source = locations[location].source
        if source is not None and not force:
            raise RecordError(
                f"location {location!r} is counted by {source!r}",
                hint="change the count there, or force it here until its next count",
                sku=sku,
            )
        now = utcnow()
        with self.store.transaction() as tx:
            apply_count(tx, sku, location, on_hand, now, source="manual", now=now)

    async def availability(self, sku: str) -> dict[str, Availability]:
        """What each selling channel may offer of ``sku``, with how it was derived."""
        result: dict[str, Availability] = {}
        with self.store.reading() as tx:
            for channel in self._selling_channels():
                result[channel.name] = availability(tx, self.engine.ctx, channel, [sku])[sku]
        return result

    async def availability_table(self) -> dict[str, dict[str, int]]:
        """Every SKU's quantity for every selling channel: ``{sku: {channel: quantity}}``."""
        table: dict[str, dict[str, int]] = {}
        with self.store.reading() as tx:
            skus = sellable_skus(tx, self.engine.ctx)
            channels = self._selling_channels()
            by_channel = quantities_by_channel(tx, self.engine.ctx, channels, skus)
        for channel, quantities in by_channel.items():
            for sku, quantity in quantities.items():
                table.setdefault(sku, {})[channel] = quantity
        return table

    def _selling_channels(self) -> list[ResolvedChannel]:
        selling = {Capability.PUSH_STOCK, Capability.PULL_ORDERS}
        return [ch for ch in self.config.channels.values() if ch.enabled & selling]

    async def stock_levels(
        self, skus: Sequence[str] | None = None
    ) -> dict[str, dict[str, StockCell]]:
        """On hand and held per SKU and location."""
        with self.store.reading() as tx:
            return tx.stock_cells(skus)

    async def ledger(self, sku: str, limit: int | None = 50) -> list[LedgerEntry]:
        """The stock ledger of ``sku``, oldest first (the latest ``limit`` entries)."""
        with self.store.reading() as tx:
            return tx.ledger_for(sku, limit)

    # Orders -----------------------------------------------------------------------------------

    async def orders(
        self,
        *,
        channel: str | None = None,
        status: OrderStatus | None = None,
        held: bool | None = None,
        limit: int = 100,
    ) -> list[StoredOrder]:
        """Imported orders, newest first."""
        with self.store.reading() as tx:
            return tx.list_orders(channel=channel, status=status, held=held, limit=limit)

    async def release_hold(self, channel: str, order_id: str) -> StoredOrder:
        """Take an order off hold, so it is exported to back offices on the next sync."""
        with self.store.transaction() as tx:
            stored = _stored_order(tx, channel, order_id)
            if stored.hold_reason is None:
                raise RecordError(f"order {order_id!r} on {channel!r} is not on hold")
            tx.set_hold(stored.id, None)
            return tx.get_order_by_id(stored.id)

    async def incidents(self, *, limit: int = 100) -> list[Incident]:
        """Oversell incidents, newest first."""
        with self.store.reading() as tx:
            return tx.incidents(limit=limit)

    async def fulfil(self, fulfilment: Fulfilment, *, push_now: bool = True) -> None:
        """Record a shipment and send it to the order's channel (now, or with the next sync)."""
        channel = self._channel(fulfilment.channel)
        if not channel.can(Capability.PUSH_FULFILMENTS):
            raise CapabilityError(f"channel {channel.name!r} does not push fulfilments")
        with self.store.transaction() as tx:
            stored = _stored_order(tx, fulfilment.channel, fulfilment.order_id)
            _check_fulfilment(stored.order, fulfilment)
            key = fulfilment.idempotency_key or f"omnisync-{uuid.uuid4()}"
            tx.add_fulfilment(fulfilment.model_copy(update={"idempotency_key": key}), utcnow())
        if push_now:
            report = await self.engine.run_step(channel.name, Capability.PUSH_FULFILMENTS)
            if report.errors:
                raise OmnisyncError(
                    f"the fulfilment is recorded but could not be sent yet: {report.errors[0]}",
                    hint="the next sync sends it",
                    channel=channel.name,
                )

    async def refund(self, refund: Refund) -> Refund:
        """Refund a buyer through the order's channel; returns the channel's record of it."""
        channel = self._channel(refund.channel)
        if not channel.can(Capability.PUSH_REFUNDS):
            raise CapabilityError(f"channel {channel.name!r} does not push refunds")
        with self.store.reading() as tx:
            stored = _stored_order(tx, refund.channel, refund.order_id)
        if refund.amount.currency != stored.order.currency:
            raise RecordError(
                f"refund is in {refund.amount.currency}, the order in {stored.order.currency}",
                order=refund.order_id,
            )
        key = refund.idempotency_key or f"omnisync-{uuid.uuid4()}"
        refund = refund.model_copy(update={"idempotency_key": key})
        done = await self.engine.adapter(channel.name).push_refund(refund)
        with self.store.transaction() as tx:
            tx.add_refund(done, utcnow())
        return done

    # Webhooks ---------------------------------------------------------------------------------

    async def handle_webhook(
        self, channel: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookResult:
        """Verify, de-duplicate and apply one webhook delivery.

        Raises `SignatureError` for a delivery not signed by the channel (answer it 401).
        A delivery whose event id was seen before is ignored and reported ``duplicate``.
        """
        resolved = self._channel(channel)
        if not resolved.can(Capability.WEBHOOKS):
            raise CapabilityError(f"channel {channel!r} does not take webhooks")
        adapter = self.engine.adapter(channel)
        case_blind = httpx.Headers(dict(headers))
        adapter.verify_webhook(case_blind, body)
        try:
            event = adapter.parse_webhook(case_blind, body)
        except MAPPING_ERRORS as exc:
            # Signed by the channel, yet unreadable: kept, with why, for an operator.
            error = (
                exc
                if isinstance(exc, InvalidPayloadError)
                else InvalidPayloadError(
                    f"the webhook body could not be read: {mapping_failure(exc)}",
                    channel=channel,
                )
            )
            with self.store.transaction() as tx:
                key = hashlib.sha256(body).hexdigest()[:32]
                tx.quarantine(
                    channel,
                    "webhook",
                    key,
                    str(error),
                    {"body": body.decode("utf-8", "replace")},
                    utcnow(),
                )
            if error is exc:
                raise
            raise error from exc
        ctx = self.engine.ctx

        def apply() -> WebhookResult:
            report = ChannelReport(channel, resolved.adapter_class.name)
            now = utcnow()
            with self.store.transaction() as tx:
                if not tx.remember_webhook(channel, event.event_id, now):
                    return WebhookResult("duplicate", event.event_id, event.topic, {})
                for reject in event.rejects:
                    tx.quarantine(
                        channel, reject.kind, reject.key, reject.reason, reject.payload, now
                    )
                apply_orders(tx, ctx, resolved, event.orders, now, report, [])
                apply_deletions(tx, ctx, resolved, event.deleted_orders, now, report, [])
                if event.stock and resolved.can(Capability.PULL_STOCK):
                    apply_stock(tx, ctx, resolved, event.stock, now, report, now)
                offered = {offer.sku: offer.quantity for offer in event.offered}
                tx.mark_moved_unless(channel, offered)
                apply_returns(tx, ctx, resolved, event.returns, now, report)
            return WebhookResult("accepted", event.event_id, event.topic, dict(report.counts))

        result = await retry_conflicts(apply, f"webhook {event.event_id} of {channel}")
        deliver_events(self.store)
        return result

    # Dead letters -----------------------------------------------------------------------------

    async def dead_letters(self, *, include_resolved: bool = False) -> list[DeadLetter]:
        """Quarantined records, oldest first."""
        with self.store.reading() as tx:
            return tx.dead_letters(include_resolved=include_resolved)

    async def retry_dead_letters(self, ids: Sequence[int] | None = None) -> list[RetryOutcome]:
        """Try quarantined records again (all unresolved ones when ``ids`` is ``None``)."""
        with self.store.reading() as tx:
            if ids is None:
                letters = tx.dead_letters()
            else:
                letters = [dl for i in ids if (dl := tx.dead_letter(i)) is not None]
        outcomes = [self._retry(letter) for letter in letters if letter.resolved_at is None]
        deliver_events(self.store)
        return outcomes

    def _retry(self, letter: DeadLetter) -> RetryOutcome:
        try:
            message = self._retry_one(letter)
        except (OmnisyncError, ValueError) as exc:
            now = utcnow()
            with self.store.transaction() as tx:
                tx.quarantine(
                    letter.channel, letter.kind, letter.key, str(exc), letter.payload, now
                )
            return RetryOutcome(letter, False, str(exc))
        with self.store.transaction() as tx:
            tx.resolve_dead_letters(letter.channel, letter.kind, letter.key, utcnow())
            if letter.kind == "stock_push":  # so the channel's next push looks at it again
                tx.mark_pending([letter.key], [letter.channel])
        return RetryOutcome(letter, True, message)

    def _retry_one(self, letter: DeadLetter) -> str:
        channel = self._channel(letter.channel)
        if letter.kind in _PUSH_KINDS:
            return "released: the next sync pushes it again"
        if letter.kind in _STREAM_OF_KIND:
            with self.store.transaction() as tx:
                tx.reset_cursor(channel.name, _STREAM_OF_KIND[letter.kind])
            return "the next sync re-reads this stream from the start"
        if letter.kind == "unknown_sku":
            return self._retry_reservation(channel, letter)
        if letter.kind == "order":
            mapped, rejected = map_records(
                [letter.payload],
                self.engine.adapter(channel.name).map_order,
                kind="order",
                key=lambda _: letter.key,
            )
            if rejected:
                raise InvalidPayloadError(
                    f"still malformed: {rejected[0].reason}",
                    channel=channel.name,
                    hint="correct the order on the channel: its next change imports it and "
                    "resolves this dead letter",
                )
            order = mapped[0]
        elif letter.kind == "order_import":
            order = Order.model_validate(letter.payload)
        else:
            raise RecordError(f"omnisync cannot retry records of kind {letter.kind!r}")
        if order.channel != channel.name:
            raise RecordError(
                f"the order belongs to channel {order.channel!r}, not {channel.name!r}"
            )
        now = utcnow()
        with self.store.transaction() as tx:
            outcome = import_order(tx, order, channel, self.engine.ctx, now).outcome
        return f"order {order.external_id} {outcome.value}"

    def _retry_reservation(self, channel: ResolvedChannel, letter: DeadLetter) -> str:
        payload = letter.payload
        assert isinstance(payload, dict)
        order_id, sku = str(payload["order"]), str(payload["sku"])
        with self.store.transaction() as tx:
            tx.lock_order(channel.name, order_id)
            stored = _stored_order(tx, channel.name, order_id)
            unknown = reconcile(tx, stored, channel, self.engine.ctx, utcnow()).unknown
        if any(key[1] == sku for key in unknown):
            raise UnknownSKUError(f"SKU {sku!r} is still unknown", sku=sku)
        return f"stock reserved for {sku} on order {order_id}"


def _stored_order(tx: Transaction, channel: str, order_id: str) -> StoredOrder:
    stored = tx.get_order(channel, order_id)
    if stored is None:
        raise RecordError(
            f"no order {order_id!r} on channel {channel!r}",
            hint="check the order id; `omnisync orders --channel NAME` lists imported orders",
            channel=channel,
            order=order_id,
        )
    return stored


def _check_fulfilment(order: Order, fulfilment: Fulfilment) -> None:
    lines = {line.line_id: line for line in order.lines}
    for item in fulfilment.lines:
        line = lines.get(item.line_id)
        if line is None:
            raise RecordError(
                f"order {order.external_id} has no line {item.line_id!r}", order=order.external_id
            )
        if item.quantity > line.open_quantity:
            raise RecordError(
                f"line {item.line_id} has {line.open_quantity} units left to ship, "
                f"not {item.quantity}",
                order=order.external_id,
            )


class Omnisync:
    """omnisync for synchronous code: the same operations as `AsyncOmnisync`, blocking.

    Keeps one event loop for its lifetime, so connections are reused between calls. Use it as
    a context manager, or call `close`.
    """

    def __init__(
        self,
        config: LoadedConfig,
        *,
        store: Store | None = None,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self._runner = asyncio.Runner()
        self.client = AsyncOmnisync(config, store=store, transports=transports)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> Omnisync:
        """Load the configuration at ``path`` and open its store."""
        return cls(load_config(path), transports=transports)

    @property
    def config(self) -> LoadedConfig:
        """The checked configuration."""
        return self.client.config

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close connections, the store and the event loop."""
        self._runner.run(self.client.aclose())
        self._runner.close()

    def _run(self, awaitable: Any) -> Any:
        return self._runner.run(awaitable)

    def sync(
        self,
        channels: Sequence[str] | None = None,
        *,
        wait: bool = False,
        progress: Progress | None = None,
    ) -> SyncReport:
        """See `AsyncOmnisync.sync`."""
        report: SyncReport = self._run(self.client.sync(channels, wait=wait, progress=progress))
        return report

    def set_stock(
        self, sku: str, on_hand: int, location: str | None = None, *, force: bool = False
    ) -> None:
        """See `AsyncOmnisync.set_stock`."""
        self._run(self.client.set_stock(sku, on_hand, location, force=force))

    def availability(self, sku: str) -> dict[str, Availability]:
        """See `AsyncOmnisync.availability`."""
        result: dict[str, Availability] = self._run(self.client.availability(sku))
        return result

    def availability_table(self) -> dict[str, dict[str, int]]:
        """See `AsyncOmnisync.availability_table`."""
        result: dict[str, dict[str, int]] = self._run(self.client.availability_table())
        return result

    def stock_levels(self, skus: Sequence[str] | None = None) -> dict[str, dict[str, StockCell]]:
        """See `AsyncOmnisync.stock_levels`."""
        result: dict[str, dict[str, StockCell]] = self._run(self.client.stock_levels(skus))
        return result

    def ledger(self, sku: str, limit: int | None = 50) -> list[LedgerEntry]:
        """See `AsyncOmnisync.ledger`."""
        result: list[LedgerEntry] = self._run(self.client.ledger(sku, limit))
        return result

    def orders(
        self,
        *,
        channel: str | None = None,
        status: OrderStatus | None = None,
        held: bool | None = None,
        limit: int = 100,
    ) -> list[StoredOrder]:
        """See `AsyncOmnisync.orders`."""
        result: list[StoredOrder] = self._run(
            self.client.orders(channel=channel, status=status, held=held, limit=limit)
        )
        return result

    def release_hold(self, channel: str, order_id: str) -> StoredOrder:
        """See `AsyncOmnisync.release_hold`."""
        result: StoredOrder = self._run(self.client.release_hold(channel, order_id))
        return result

    def incidents(self, *, limit: int = 100) -> list[Incident]:
        """See `AsyncOmnisync.incidents`."""
        result: list[Incident] = self._run(self.client.incidents(limit=limit))
        return result

    def fulfil(self, fulfilment: Fulfilment, *, push_now: bool = True) -> None:
        """See `AsyncOmnisync.fulfil`."""
        self._run(self.client.fulfil(fulfilment, push_now=push_now))

    def refund(self, refund: Refund) -> Refund:
        """See `AsyncOmnisync.refund`."""
        result: Refund = self._run(self.client.refund(refund))
        return result

    def handle_webhook(
        self, channel: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookResult:
        """See `AsyncOmnisync.handle_webhook`."""
        result: WebhookResult = self._run(self.client.handle_webhook(channel, headers, body))
        return result

    def dead_letters(self, *, include_resolved: bool = False) -> list[DeadLetter]:
        """See `AsyncOmnisync.dead_letters`."""
        result: list[DeadLetter] = self._run(
            self.client.dead_letters(include_resolved=include_resolved)
        )
        return result

    def retry_dead_letters(self, ids: Sequence[int] | None = None) -> list[RetryOutcome]:
        """See `AsyncOmnisync.retry_dead_letters`."""
        result: list[RetryOutcome] = self._run(self.client.retry_dead_letters(ids))
        return result
