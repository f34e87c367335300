"""Sync work as jobs in PostgreSQL, run by any number of worker processes (procrastinate)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from omnisync._time import utcnow
from omnisync.adapters import Capability
from omnisync.errors import ConfigError, OmnisyncError, StoreError
from omnisync.store import SQLStore

if TYPE_CHECKING:
    from procrastinate import App, JobContext

    from omnisync._api import AsyncOmnisync

__all__ = ["PHASES", "Workers"]

log = logging.getLogger("omnisync.worker")

PHASES: dict[str, frozenset[Capability]] = {
    "pull": frozenset(
        {
            Capability.PULL_STOCK,
            Capability.PULL_LISTINGS,
            Capability.PULL_ORDERS,
            Capability.PULL_RETURNS,
            Capability.PULL_SHIPMENTS,
        }
    ),
    "export": frozenset({Capability.PUSH_DOCUMENTS, Capability.PUSH_CUSTOMERS}),
    "push": frozenset({Capability.PUSH_FULFILMENTS, Capability.PUSH_STOCK}),
}
"""The jobs a channel's sync splits into: read it, write documents to it, write stock and
fulfilments to it. A job runs the steps of its phase that the channel can do."""

# A pull that saw any of these may have moved stock or queued a fulfilment: every channel's
# push should follow.
_MOVING = ("orders_imported", "orders_changed", "stock_counts", "returns_restocked", "shipments")

JOB = "omnisync.sync_channel"
TICK = "omnisync.tick"


class Workers:
    """The job queue of one omnisync configuration, in its PostgreSQL store.

    ``enqueue`` adds sync jobs; ``run`` works them off. A job pulls, exports or pushes one
    channel; jobs of one channel never run at once (a procrastinate job lock per channel),
    and at most one of each kind waits per channel (a queueing lock), so enqueueing is
    cheap to repeat. A pull that moved stock enqueues every channel's push. Every worker
    runs the periodic tick (``[worker] schedule``, deduplicated across workers): it
    enqueues a round of every channel and sends the jobs of workers that died (no
    heartbeat for ``stalled_seconds``) back to the queue, where another worker finishes
    them; everything a job does is idempotent, so running it again is safe.
    """

    def __init__(self, client: AsyncOmnisync) -> None:
        try:
            import procrastinate
        except ImportError:
            raise ConfigError(
                "workers need the PostgreSQL extra, which is not installed",
                hint="pip install 'omnisync[postgres]'",
            ) from None
        store = client.store
        if not isinstance(store, SQLStore) or store.dialect != "postgresql":
            raise ConfigError(
                "workers share their jobs through PostgreSQL; this store is "
                f"{getattr(store, 'url', store)!r}",
                key="store.url",
                hint="set [store] url to postgresql://user@host/database",
            )
        self.client = client
        self.settings = client.config.config.worker
        url = make_url(store.engine.url.render_as_string(hide_password=False))
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connector = procrastinate.PsycopgConnector(
            conninfo=self._conninfo,
            kwargs={"application_name": "omnisync-worker"},
            min_size=1,
            max_size=max(4, self.settings.concurrency + 2),
        )
        self.app: App = procrastinate.App(connector=connector)
        self._register()

    # Set-up -------------------------------------------------------------------------------

    def _register(self) -> None:
        @self.app.task(name=JOB, pass_context=True)
        async def sync_channel(context: JobContext, channel: str, phase: str) -> None:
            await self._run_job(context, channel, phase)

        @self.app.periodic(cron=self.settings.schedule)
        @self.app.task(name=TICK, queueing_lock=TICK)
        async def tick(timestamp: int) -> None:
            await self.recover_stalled()
            await self.enqueue()

        del sync_channel, tick  # registered with the app, which calls them by name

    async def __aenter__(self) -> Workers:
        with _queue_errors():
            await self.app.open_async()
            try:
                await self._ensure_schema()
            except BaseException:
                await self.app.close_async()
                raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.close_async()

    async def _ensure_schema(self) -> None:
        """Create procrastinate's tables beside omnisync's, once, whoever starts first."""
        import psycopg

        connect = psycopg.AsyncConnection.connect
        async with await connect(self._conninfo) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (JOB,))
            cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs')")
            found = await cursor.fetchone()
            if found is None or found[0] is None:
                log.info("creating the job tables")
                await conn.execute(self.app.schema_manager.get_schema().encode())

    # Work ---------------------------------------------------------------------------------

    async def enqueue(
        self, channels: Sequence[str] | None = None, phases: Iterable[str] = tuple(PHASES)
    ) -> list[int]:
        """Queue sync jobs for ``channels`` (default: all), in ``phases``; returns the ids of
        the jobs queued (a job of the same channel and phase already waiting is kept)."""
        from procrastinate.exceptions import AlreadyEnqueued

        engine = self.client.engine
        ids = []
        with _queue_errors():
            for channel in engine.channel_names(channels):
                resolved = engine.ctx.channels[channel]
                for phase in phases:
                    if not any(resolved.can(capability) for capability in PHASES[phase]):
                        continue
                    job = self.app.configure_task(
                        JOB,
                        lock=f"omnisync:{channel}",
                        queueing_lock=f"omnisync:{channel}:{phase}",
                    )
                    with contextlib.suppress(AlreadyEnqueued):  # one waits already: enough
                        ids.append(await job.defer_async(channel=channel, phase=phase))
        return ids

    async def _run_job(self, context: JobContext, channel: str, phase: str) -> None:
        if phase not in PHASES:
            raise ConfigError(f"unknown job phase {phase!r} (known: {', '.join(PHASES)})")
        engine = self.client.engine
        report = await engine.sync([channel], wait=True, only=PHASES[phase])
        result = report.channels[channel]
        log.info(
            "%s %s: %s",
            phase,
            channel,
            ", ".join(f"{k}={v}" for k, v in sorted(result.counts.items()) if v) or "nothing",
            extra={"job": context.job.id, "worker": context.worker_name},
        )
        if phase == "pull" and any(result.counts[name] for name in _MOVING):
            await self.enqueue(phases=("export", "push"))
        if result.errors:
            # The job shows as failed; the next tick queues the channel again.
            raise OmnisyncError(f"{phase} {channel} failed: {'; '.join(result.errors)}")

    async def recover_stalled(self) -> int:
        """Send the jobs of workers that stopped sending heartbeats back to the queue;
        returns how many. A dead job whose twin already waits (same channel and kind) is
        closed as failed instead: the twin does its work, and the channel's job lock is
        free again either way."""
        from procrastinate.exceptions import ConnectorException, UniqueViolation
        from procrastinate.jobs import Status

        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            seconds_since_heartbeat=self.settings.stalled_seconds
        )
        count = 0
        for job in stalled:
            try:
                try:
                    await manager.retry_job(job)
                except UniqueViolation:  # the queueing lock: its twin is waiting
                    await manager.finish_job(job, Status.FAILED, delete_job=False)
                    log.warning("job %s lost its worker; a job like it waits already", job.id)
                else:
                    log.warning("job %s (%s) lost its worker; queued again", job.id, job.task_name)
            except ConnectorException:
                # Another worker recovered it first (it is no longer "doing"): nothing to do.
                continue
            count += 1
        return count

    async def run(self, *, wait: bool = True, name: str | None = None) -> None:
        """Work off jobs until stopped (SIGINT or SIGTERM finish the running jobs first);
        with ``wait=False``, until no job is due, those the last jobs queued included."""
        with _queue_errors():
            await self._run(wait, name)

    async def _run(self, wait: bool, name: str | None) -> None:
        await self.recover_stalled()
        if wait:
            await self._run_worker(True, name)
            return
        while await self.due():
            await self._run_worker(False, name)
            # Jobs may wait on a channel another worker (or a dead one) holds: give it time,
            # and its jobs back to the queue once it is known dead.
            if await self.due():
                await asyncio.sleep(self.settings.poll_seconds)
                await self.recover_stalled()

    async def _run_worker(self, wait: bool, name: str | None) -> None:
        await self.app.run_worker_async(
            wait=wait,
            name=name or f"{socket.gethostname()}:{os.getpid()}",
            concurrency=self.settings.concurrency,
            update_heartbeat_interval=self.settings.heartbeat_seconds,
            stalled_worker_timeout=self.settings.stalled_seconds,
            install_signal_handlers=wait,
            listen_notify=True,
            fetch_job_polling_interval=self.settings.poll_seconds,
        )

    async def due(self) -> int:
        """How many jobs wait to run now."""
        waiting = await self.app.job_manager.list_jobs_async(status="todo")
        now = utcnow()
        return sum(1 for job in waiting if job.scheduled_at is None or job.scheduled_at <= now)


@contextlib.contextmanager
def _queue_errors() -> Iterator[None]:
    """The job queue's own failures as omnisync's `StoreError` (it lives in the store)."""
    from procrastinate.exceptions import ProcrastinateException

    try:
        yield
    except ProcrastinateException as exc:
        raise StoreError(
            f"the job queue in the store failed: {exc}",
            hint="check that PostgreSQL is reachable; queued jobs are kept and run later",
        ) from exc
