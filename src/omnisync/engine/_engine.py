"""The engine: one sync over the configured channels, each isolated from the others' failures."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence

import httpx

from omnisync._logging import log_context
from omnisync._time import utcnow
from omnisync.adapters import Adapter, Capability, ChannelContext, HTTPAdapter
from omnisync.config import LoadedConfig, ResolvedChannel
from omnisync.engine._context import EngineContext
from omnisync.engine._events import deliver_events
from omnisync.engine._export import export_customers, export_documents, push_fulfilments
from omnisync.engine._pull import Progress, pull_listings, pull_orders, pull_returns, pull_stock
from omnisync.engine._push import push_stock
from omnisync.engine._report import ChannelReport, SyncReport
from omnisync.errors import ConfigError, OmnisyncError
from omnisync.store import Store

__all__ = ["Engine"]

log = logging.getLogger("omnisync.engine")

Step = Callable[[ResolvedChannel, Adapter, ChannelReport], Awaitable[None]]


def _dead_here(owner: str) -> bool:
    """Whether a lock owner (``host:pid:suffix``) is a process on this host that has exited."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


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
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

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
    ) -> SyncReport:
        """Sync ``channels`` (default: all) once and report what happened to each.

        A channel another sync is working on is skipped and marked busy, unless ``wait``,
        which queues behind it.
        """
        names = self.channel_names(channels)
        report = SyncReport(started_at=utcnow())
        for name in names:
            adapter_name = self.ctx.channels[name].adapter_class.name
            report.channels[name] = ChannelReport(name, adapter_name)
        held = await self._lock(names, report, wait=wait)
        before = self._http_stats(held)
        heartbeat = asyncio.create_task(self._heartbeat(held))
        try:
            await self._steps(held, report, progress)
            deliver_events(self.ctx.store)
        finally:
            heartbeat.cancel()
            self._unlock(held)
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

    async def run_step(self, channel: str, capability: Capability) -> ChannelReport:
        """Run one step (push fulfilments, say) for one channel, outside a full sync.

        If another sync holds the channel, nothing runs and the report says it is busy: the
        work stays queued for that sync.
        """
        report = SyncReport(started_at=utcnow())
        name = self.channel_names([channel])[0]
        report.channels[name] = ChannelReport(name, self.ctx.channels[name].adapter_class.name)
        held = await self._lock([name], report, wait=False)
        try:
            if held:
                await self._steps(held, report, None, only=capability)
                deliver_events(self.ctx.store)
        finally:
            self._unlock(held)
        return report.channels[name]

    async def _steps(
        self,
        names: list[str],
        report: SyncReport,
        progress: Progress | None,
        only: Capability | None = None,
    ) -> None:
        ctx = self.ctx

        async def orders(ch: ResolvedChannel, ad: Adapter, rep: ChannelReport) -> None:
            await pull_orders(ctx, ch, ad, rep, report.incidents, progress)

        async def stock(ch: ResolvedChannel, ad: Adapter, rep: ChannelReport) -> None:
            await pull_stock(ctx, ch, ad, rep, progress)

        async def returns(ch: ResolvedChannel, ad: Adapter, rep: ChannelReport) -> None:
            await pull_returns(ctx, ch, ad, rep, progress)

        async def bound(
            step: Callable[..., Awaitable[None]],
            ch: ResolvedChannel,
            ad: Adapter,
            rep: ChannelReport,
        ) -> None:
            await step(ctx, ch, ad, rep)

        plan: list[tuple[Capability, Step]] = [
            (Capability.PULL_STOCK, stock),
            (Capability.PULL_LISTINGS, lambda c, a, r: bound(pull_listings, c, a, r)),
            (Capability.PULL_ORDERS, orders),
            (Capability.PULL_RETURNS, returns),
            (Capability.PUSH_DOCUMENTS, lambda c, a, r: bound(export_documents, c, a, r)),
            (Capability.PUSH_CUSTOMERS, lambda c, a, r: bound(export_customers, c, a, r)),
            (Capability.PUSH_FULFILMENTS, lambda c, a, r: bound(push_fulfilments, c, a, r)),
            (Capability.PUSH_STOCK, lambda c, a, r: bound(push_stock, c, a, r)),
        ]
        for capability, step in plan:
            if only is not None and capability is not only:
                continue
            runs = [
                self._guard(report.channels[name], capability, step)
                for name in names
                if self.ctx.channels[name].can(capability)
            ]
            await asyncio.gather(*runs)

    async def _guard(self, report: ChannelReport, capability: Capability, step: Step) -> None:
        """Run one step for one channel; a failure is reported, never raised to the others.

        A channel that already failed in this sync skips its later steps.
        """
        if report.errors:
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

    # Locks -------------------------------------------------------------------------------------

    def _ttl(self) -> float:
        return self.ctx.loaded.config.engine.lock_ttl_seconds

    async def _lock(self, names: list[str], report: SyncReport, *, wait: bool) -> list[str]:
        held: list[str] = []
        pending = list(names)
        while True:
            for name in list(pending):
                with self.ctx.store.transaction() as tx:
                    holder = tx.acquire_lock(f"channel:{name}", self.owner, self._ttl(), utcnow())
                    if holder is not None and _dead_here(holder.owner):
                        log.warning(
                            "taking over %s from %s, which is no longer running", name, holder.owner
                        )
                        holder = tx.acquire_lock(
                            f"channel:{name}",
                            self.owner,
                            self._ttl(),
                            utcnow(),
                            take_from=holder.owner,
                        )
                if holder is None:
                    held.append(name)
                    pending.remove(name)
                    report.channels[name].busy = None
                else:
                    report.channels[name].busy = (
                        f"another sync ({holder.owner}) has held it since "
                        f"{holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC"
                    )
            if not pending or not wait:
                return held
            await asyncio.sleep(min(1.0, self._ttl() / 10))

    async def _heartbeat(self, names: list[str]) -> None:
        while True:
            await asyncio.sleep(self._ttl() / 3)
            with self.ctx.store.transaction() as tx:
                for name in names:
                    tx.acquire_lock(f"channel:{name}", self.owner, self._ttl(), utcnow())

    def _unlock(self, names: list[str]) -> None:
        with self.ctx.store.transaction() as tx:
            for name in names:
                tx.release_lock(f"channel:{name}", self.owner)

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
