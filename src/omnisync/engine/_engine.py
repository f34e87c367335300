"""The engine: one sync over the configured channels, each isolated from the others' failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial

import httpx

from omnisync._logging import log_context
from omnisync._tasks import settle
from omnisync._time import utcnow
from omnisync.adapters import Adapter, Capability, ChannelContext, HTTPAdapter
from omnisync.config import LoadedConfig, ResolvedChannel
from omnisync.engine._conflicts import retry_conflicts
from omnisync.engine._context import EngineContext
from omnisync.engine._events import deliver_events, prune_events
from omnisync.engine._export import export_customers, export_documents, push_fulfilments
from omnisync.engine._locks import ChannelLocks, default_owner
from omnisync.engine._pull import (
    Progress,
    pull_listings,
    pull_orders,
    pull_returns,
    pull_shipments,
    pull_stock,
)
from omnisync.engine._push import PushLooks, push_stock
from omnisync.engine._report import ChannelReport, SyncReport
from omnisync.errors import ConfigError, OmnisyncError
from omnisync.store import Store

__all__ = ["Engine"]

log = logging.getLogger("omnisync.engine")

PRUNE_EVERY = 600.0
"""Seconds between two prunings of old events by one engine."""

Step = Callable[[ResolvedChannel, Adapter, ChannelReport], Awaitable[None]]


class Engine:
    """Runs syncs: counts in, orders in, documents and fulfilments out, stock out.

    ``transports`` replaces the network for named channels (simulators, tests). ``owner``
    names this process in channel locks; by default host, pid and a random suffix.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        store: Store,
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        owner: str | None = None,
    ) -> None:
        self.ctx = EngineContext(loaded, store)
        self._transports = dict(transports or {})
        self._adapters: dict[str, Adapter] = {}
        self.owner = owner or default_owner()
        self._tidied = False
        self._pruned_at: float | None = None

    def adapter(self, name: str) -> Adapter:
        """The adapter instance serving channel ``name``, created on first use."""
        if name not in self._adapters:
            channel = self.ctx.channels[name]
            context = ChannelContext(
                name=name,
                transport=self._transports.get(name),
                retry=channel.config.retry.policy(),
                base_dir=self.ctx.loaded.base_dir,
            )
            self._adapters[name] = channel.adapter_class(channel.settings, context)
        return self._adapters[name]

    async def aclose(self) -> None:
        """Close every adapter's connections."""
        adapters, self._adapters = list(self._adapters.values()), {}
        for adapter in adapters:
            await adapter.aclose()

    def channel_names(self, names: Sequence[str] | None) -> list[str]:
        """``names`` checked against the configuration (all channels when ``None``)."""
        if not names:
            return list(self.ctx.channels)
        unknown = [name for name in names if name not in self.ctx.channels]
        if unknown:
            known = ", ".join(self.ctx.channels) or "none"
            raise ConfigError(
                f"no channel named {', '.join(map(repr, unknown))} (configured: {known})"
            )
        return list(names)

    async def sync(
        self,
        channels: Sequence[str] | None = None,
        *,
        wait: bool = False,
        progress: Progress | None = None,
        only: Collection[Capability] | None = None,
    ) -> SyncReport:
        """Sync ``channels`` (default: all) once and report what happened to each.

        A channel another sync is working on is skipped and marked busy, unless ``wait``,
        which queues behind it. ``only`` limits the sync to those steps (a worker's job pulls
        or pushes one channel, say). Several syncs of different channels may run at once.
        """
        names = self.channel_names(channels)
        if not self._tidied:
            # Channels removed from the configuration, or no longer pushing stock, stop
            # collecting pending changes nobody will push.
            pushing = [n for n, ch in self.ctx.channels.items() if ch.can(Capability.PUSH_STOCK)]
            await retry_conflicts(
                partial(self._forget_push_plans, pushing), "forgetting old push plans"
            )
            self._tidied = True
        report = SyncReport(started_at=utcnow())
        for name in names:
            adapter_name = self.ctx.channels[name].adapter_class.name
            report.channels[name] = ChannelReport(name, adapter_name)
        async with self._locked(names, report, wait=wait) as locks:
            held = list(locks.held)
            before = self._http_stats(held)
            await self._steps(held, report, progress, locks, only)
            deliver_events(self.ctx.store)
        # Events are kept for days: pruning once in a while is plenty, and a sync a second
        # (a push as soon as a webhook changed something) need not pay a delete each time.
        if self._pruned_at is None or time.monotonic() - self._pruned_at >= PRUNE_EVERY:
            prune_events(self.ctx.store)
            self._pruned_at = time.monotonic()
        with self.ctx.store.reading() as tx:
            report.quarantined = tx.count_dead_letters()
        for name, (requests, retries, limited) in before.items():
            stats = self._http_stats([name])[name]
            counts = report.channels[name].counts
            counts["http_requests"] = stats[0] - requests
            counts["http_retries"] = stats[1] - retries
            counts["http_rate_limited"] = stats[2] - limited
        report.finished_at = utcnow()
        return report

    def _forget_push_plans(self, keep: list[str]) -> None:
        with self.ctx.store.transaction() as tx:
            tx.forget_push_plans(keep)

    async def run_step(self, channel: str, capability: Capability) -> ChannelReport:
        """Run one step (push fulfilments, say) for one channel, outside a full sync.

        If another sync holds the channel, nothing runs and the report says it is busy: the
        work stays queued for that sync.
        """
        report = SyncReport(started_at=utcnow())
        name = self.channel_names([channel])[0]
        report.channels[name] = ChannelReport(name, self.ctx.channels[name].adapter_class.name)
        async with self._locked([name], report, wait=False) as locks:
            if locks.held:
                await self._steps([name], report, None, locks, {capability})
                deliver_events(self.ctx.store)
        return report.channels[name]

    @asynccontextmanager
    async def _locked(
        self, names: list[str], report: SyncReport, *, wait: bool
    ) -> AsyncIterator[ChannelLocks]:
        """Hold the channels' locks for the block (see `ChannelLocks`); yields them (``held``
        names those this sync got)."""
        # An owner of its own: two syncs of one process are as distinct as two processes.
        owner = f"{self.owner}:{uuid.uuid4().hex[:6]}"
        locks = ChannelLocks(self.ctx.store, owner, self.ctx.loaded.config.engine.lock_ttl_seconds)
        busy = await locks.acquire(names, wait=wait)
        for name, holder in busy.items():
            report.channels[name].busy = (
                f"another sync ({holder.owner}) has held it since "
                f"{holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC"
            )
        keep_alive = asyncio.create_task(locks.keep_alive())
        try:
            yield locks
        finally:
            keep_alive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keep_alive
            locks.release()

    async def _steps(
        self,
        names: list[str],
        report: SyncReport,
        progress: Progress | None,
        locks: ChannelLocks,
        only: Collection[Capability] | None,
    ) -> None:
        ctx = self.ctx

        async def orders(ch: ResolvedChannel, ad: Adapter, rep: ChannelReport) -> None:
            await pull_orders(ctx, ch, ad, rep, report.incidents, progress)

        async def stock(ch: ResolvedChannel, ad: Adapter, rep: ChannelReport) -> None:
            await pull_stock(ctx, ch, ad, rep, progress)

        async def returns(ch: ResolvedChannel, ad: Adapter, rep: ChannelReport) -> None:
            await pull_returns(ctx, ch, ad, rep, progress)

        async def shipments(ch: ResolvedChannel, ad: Adapter, rep: ChannelReport) -> None:
            await pull_shipments(ctx, ch, ad, rep, progress)

        async def bound(
            step: Callable[..., Awaitable[None]],
            ch: ResolvedChannel,
            ad: Adapter,
            rep: ChannelReport,
        ) -> None:
            await step(ctx, ch, ad, rep)

        looks = PushLooks(ctx)  # pushes ready at once read their changes' stock once
        plan: list[tuple[Capability, Step]] = [
            (Capability.PULL_STOCK, stock),
            (Capability.PULL_LISTINGS, lambda c, a, r: bound(pull_listings, c, a, r)),
            (Capability.PULL_ORDERS, orders),
            (Capability.PULL_RETURNS, returns),
            (Capability.PULL_SHIPMENTS, shipments),
            (Capability.PUSH_DOCUMENTS, lambda c, a, r: bound(export_documents, c, a, r)),
            (Capability.PUSH_CUSTOMERS, lambda c, a, r: bound(export_customers, c, a, r)),
            (Capability.PUSH_FULFILMENTS, lambda c, a, r: bound(push_fulfilments, c, a, r)),
            (Capability.PUSH_STOCK, lambda c, a, r: push_stock(ctx, c, a, r, looks)),
        ]
        for capability, step in plan:
            if only is not None and capability not in only:
                continue
            runs = [
                asyncio.ensure_future(self._guard(report.channels[name], capability, step, locks))
                for name in names
                if self.ctx.channels[name].can(capability)
            ]
            await settle(runs)

    async def _guard(
        self, report: ChannelReport, capability: Capability, step: Step, locks: ChannelLocks
    ) -> None:
        """Run one step for one channel; a failure is reported, never raised to the others.

        A channel that already failed in this sync skips its later steps.
        """
        if report.errors:
            return
        lost_to = locks.lost.get(report.channel)
        if lost_to is not None:
            report.fail(capability.label, f"skipped: another sync ({lost_to}) took the channel")
            return
        channel = self.ctx.channels[report.channel]
        with log_context(channel=report.channel):
            try:
                await step(channel, self.adapter(report.channel), report)
            except OmnisyncError as exc:
                log.error("%s failed: %s", capability.label, exc)
                report.fail(capability.label, exc)
            except Exception as exc:  # a bug in one adapter must not take the others down
                log.exception("%s failed unexpectedly", capability.label)
                report.fail(capability.label, f"unexpected {type(exc).__name__}: {exc}")

    def _http_stats(self, names: list[str]) -> dict[str, tuple[int, int, int]]:
        stats = {}
        for name in names:
            adapter = self._adapters.get(name)
            if isinstance(adapter, HTTPAdapter):
                http = adapter.http.stats
                stats[name] = (http.requests, http.retries, http.rate_limited)
            else:
                stats[name] = (0, 0, 0)
        return stats
