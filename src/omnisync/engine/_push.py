"""Pushing stock: only what changed since the channel last acknowledged, batched, isolated."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

from omnisync import plugins
from omnisync._logging import log_context
from omnisync._tasks import in_thread, settle
from omnisync._time import utcnow
from omnisync.adapters import Adapter, Capability
from omnisync.config import ResolvedChannel
from omnisync.engine._conflicts import retry_conflicts
from omnisync.engine._context import EngineContext
from omnisync.engine._report import ChannelReport
from omnisync.engine._stockview import Cells, quantities, sellable_skus, with_components
from omnisync.errors import InvalidPayloadError, PermanentError, RecordError
from omnisync.models import StockPushResult, StockUpdate
from omnisync.store import Acknowledged, Transaction

__all__ = ["PushLooks", "PushPlan", "plan_fingerprint", "plan_push", "plan_pushes", "push_stock"]

log = logging.getLogger("omnisync.engine")

Outcome = tuple[StockUpdate, StockPushResult]


@dataclass
class PushPlan:
    """A channel's next push: the ``updates``; the pending changes it read (``seen``: SKU →
    version); and the fingerprint it was planned from in full, if it was."""

    updates: list[StockUpdate]
    seen: dict[str, int] = field(default_factory=dict)
    full: str | None = None


def plan_fingerprint(ctx: EngineContext, channel: ResolvedChannel) -> str:
    """What a channel's quantities derive from besides stock: its rules, locations, bundles
    and whether it sells only what it lists. A push plans in full when this changes."""
    # Once per channel for the context's configuration, which does not change: hashing a
    # thousand bundles took longer than a small push's planning.
    found = ctx.fingerprints.get(channel.name)
    if found is None:
        found = ctx.fingerprints[channel.name] = _fingerprint(ctx, channel)
    return found


def _fingerprint(ctx: EngineContext, channel: ResolvedChannel) -> str:
    # The hash of {"bundles", "listed", "locations", "rules"} as JSON with sorted keys (stores
    # keep it: tests pin it), the bundles, first and largest, written once for every channel.
    rest = {
        "listed": channel.can(Capability.PULL_LISTINGS),
        "locations": list(channel.locations),
        "rules": dataclasses.asdict(ctx.rules(channel)),
    }
    basis = '{"bundles": ' + ctx.bundles_json + ", " + json.dumps(rest, sort_keys=True)[1:]
    return hashlib.sha256(basis.encode()).hexdigest()


# A long push is planned this many SKUs at a time (the first slice one batch's worth), in a
# thread, while the batches planned before are out: its first request leaves once one small
# slice is planned, not the whole plan.
_SLICE = 1_000


# Channels looking at their changes together share one read of those SKUs' stock, up to this
# many SKUs (a push after a few thousand orders); past it, each plans a slice at a time.
_SHARED = 20_000
# A slice is planned from the shared read only this soon after it: a long push's later
# slices read stock again, as fresh as a push planned a few batches ahead of the channel.
_FRESH_SECONDS = 1.0


@dataclass
class _Scope:
    """What a push looks at: the SKUs to plan, in order; the pending changes it read (SKU →
    version); the SKUs whose push is quarantined; the fingerprint it plans from in full, if it
    does; and, when it looked together with others, the stock of its SKUs and what its
    channel acknowledged of them, read with its changes (at ``read_at``, on the monotonic
    clock)."""

    skus: list[str]
    seen: dict[str, int]
    blocked: set[str]
    full: str | None
    shared: tuple[Cells, dict[str, Acknowledged]] | None = None
    read_at: float = 0.0

    def fresh(self) -> tuple[Cells, dict[str, Acknowledged]] | None:
        """The shared read, while it is fresh enough to plan from."""
        if self.shared is not None and time.monotonic() - self.read_at <= _FRESH_SECONDS:
            return self.shared
        return None

    def settled(self, planned: Collection[str]) -> dict[str, int]:
        """The pending changes that need nothing sent, once ``planned`` are the SKUs that
        got an update. Quarantined SKUs stay pending until retried, updates until
        acknowledged."""
        keep = self.blocked | set(planned)
        return {sku: version for sku, version in self.seen.items() if sku not in keep}


def plan_push(ctx: EngineContext, channel: ResolvedChannel) -> PushPlan:
    """The updates ``channel`` needs: SKUs whose quantity differs from what it acknowledged,
    or that it sold itself since (its own number moved).

    Only SKUs whose stock changed since the channel's last push are looked at (and bundles
    made of them), unless the channel was never pushed in full from its current rules,
    locations and bundles, or a plugin caps quantities (a rule omnisync cannot see change):
    then every sellable SKU is. A channel that discovers listings gets only the SKUs it
    lists; a SKU whose push is quarantined waits until an operator retries it.
    """
    return plan_pushes(ctx, [channel])[channel.name]


def plan_pushes(ctx: EngineContext, channels: Sequence[ResolvedChannel]) -> dict[str, PushPlan]:
    """Each channel's `plan_push`, the channels looking at their changes together: one read
    of the changed SKUs' stock serves them all, as when one sync pushes them at once."""
    scopes = _look(ctx, channels)
    plans = {}
    with ctx.store.reading() as tx:
        for channel in channels:
            scope = scopes[channel.name]
            whole = scope.full is not None
            updates = _plan(tx, ctx, channel, scope, scope.skus, whole=whole)
            plans[channel.name] = PushPlan(updates, scope.seen, scope.full)
    return plans


def _look(ctx: EngineContext, channels: Sequence[ResolvedChannel]) -> dict[str, _Scope]:
    """Read the channels' pending changes and decide what each push looks at (see
    `plan_push`), in one read for them all (two, and a write between, when a push starts a
    full plan or owes bundles not pending yet)."""
    with ctx.store.reading() as tx:
        changed = {channel.name: tx.pending(channel.name) for channel in channels}
        needs = {ch.name: _needs(tx, ctx, ch, changed[ch.name]) for ch in channels}
        if not any(full or bundles for full, bundles in needs.values()):  # the usual push
            return _scopes(tx, ctx, channels, changed, {})
    fulls = {name: full for name, (full, _) in needs.items() if full}
    with ctx.store.transaction() as tx:
        for name, fingerprint in fulls.items():
            # Before stock is read: any change from now on is pending here too.
            tx.set_push_plan(name, fingerprint, utcnow(), complete=False)
        for name, (_, bundles) in needs.items():
            tx.mark_pending(bundles, [name])
    with ctx.store.reading() as tx:
        seen = {}
        for channel in channels:
            name = channel.name
            if name in fulls:
                seen[name] = tx.pending(name)
            else:
                # The changes as the first look read them, and the bundles just marked: what
                # changed since waits for the next push. A change meanwhile moved its SKU's
                # version past the one read, so this push does not clear it.
                seen[name] = {**changed[name], **tx.pending(name, needs[name][1])}
        return _scopes(tx, ctx, channels, seen, fulls)


def _needs(
    tx: Transaction, ctx: EngineContext, channel: ResolvedChannel, changed: dict[str, int]
) -> tuple[str | None, set[str]]:
    """The fingerprint ``channel``'s push plans from in full, if it does (it was never pushed
    in full from its current rules, locations and bundles, or a plugin caps quantities), and
    else the bundles made of its ``changed`` SKUs that are not pending yet."""
    fingerprint = plan_fingerprint(ctx, channel)
    plan = tx.push_plan(channel.name)
    if plan != (fingerprint, True) or plugins.has_impls("channel_quantity"):
        return fingerprint, set()
    # Bundles made of changed components become pending themselves, so a push cut short
    # before their batch still owes them, whatever happens to their components' rows.
    return None, _with_bundles(ctx, changed) - changed.keys()


def _scopes(
    tx: Transaction,
    ctx: EngineContext,
    channels: Sequence[ResolvedChannel],
    seen: dict[str, dict[str, int]],
    fulls: dict[str, str],
) -> dict[str, _Scope]:
    """Each push's scope from ``seen``, the pending changes read in ``tx``: every sellable SKU
    for the pushes planning in full (``fulls``: the fingerprint each plans from), else the
    SKUs of its changes. When several pushes look at their changes, their SKUs' stock and what
    each channel acknowledged of them are read here, once for all of them."""
    partial = [channel.name for channel in channels if channel.name not in fulls]
    ours = _ours(tx, ctx, set().union(*(seen[name].keys() for name in partial)))
    cells, acked = None, {}
    read_at = time.monotonic()  # before the reads: what they find is at least this fresh
    if len(partial) > 1 and len(ours) <= _SHARED:
        cells = tx.stock_cells(with_components(ctx, ours), times=False)
        acked = tx.acknowledged_by(partial, ours)
    sellable = sellable_skus(tx, ctx) if fulls else []
    scopes = {}
    for channel in channels:
        name, changes = channel.name, seen[channel.name]
        blocked = tx.unresolved_keys(name, "stock_push")
        if name in fulls:
            scopes[name] = _Scope(sellable, changes, blocked, fulls[name])
        else:
            skus = sorted(ours & changes.keys())
            shared = (cells, acked[name]) if cells is not None else None
            scopes[name] = _Scope(skus, changes, blocked, None, shared, read_at)
    return scopes


def _ours(tx: Transaction, ctx: EngineContext, skus: Collection[str]) -> set[str]:
    """Which of ``skus`` a push may set: a SKU omnisync does not know (a channel's own
    product) is not its to set."""
    return tx.known_skus(skus) | (skus & ctx.bundles.keys())


def _plan(
    tx: Transaction,
    ctx: EngineContext,
    channel: ResolvedChannel,
    scope: _Scope,
    skus: list[str],
    *,
    whole: bool = False,
) -> list[StockUpdate]:
    """The updates ``skus`` (a slice of ``scope.skus``; all of a full scope's when ``whole``:
    then every row is read, not looked up) need, in their order."""
    subset = None if whole else skus
    listings = tx.listings(channel.name, subset) if channel.can(Capability.PULL_LISTINGS) else None
    if listings is not None:
        skus = [sku for sku in skus if sku in listings]
    shared = scope.fresh()
    cells, acked = shared if shared else (None, tx.acknowledged(channel.name, subset))
    open_skus = [sku for sku in skus if sku not in scope.blocked]
    wanted = quantities(tx, ctx, channel, open_skus, cells)
    updates = []
    for sku, quantity in wanted.items():
        known = acked.get(sku)
        if known is not None and known.quantity == quantity and not known.moved:
            continue
        updates.append(
            StockUpdate(
                sku=sku,
                quantity=quantity,
                previous=known.quantity if known is not None else None,
                listing=listings.get(sku) if listings is not None else None,
            )
        )
    return updates


def _slices(skus: list[str], first: int) -> Iterator[list[str]]:
    """``skus`` in slices of `_SLICE`, after a first one of ``first``."""
    if skus:
        yield skus[:first]
    for at in range(first, len(skus), _SLICE):
        yield skus[at : at + _SLICE]


def _last(waiting: list[StockUpdate], senders: int) -> list[list[StockUpdate] | None]:
    """What is queued after the last full batch: the short one, if any, and an end for
    each sender."""
    return [*([waiting] if waiting else []), *([None] * senders)]


def _with_bundles(ctx: EngineContext, skus: Collection[str]) -> set[str]:
    """``skus`` and the bundles made of any of them."""
    found = set(skus)
    found.update(bundle for bundle, parts in ctx.bundles.items() if not found.isdisjoint(parts))
    return found


class PushLooks:
    """Pushes that look at their changes on the same turn of the event loop (one sync's
    pushes, when their channels' rate limits let them through together) share one `_look`,
    and with it one read of the changed SKUs' stock."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx
        self._waiting: list[tuple[ResolvedChannel, asyncio.Future[_Scope | None]]] = []

    async def scope(self, channel: ResolvedChannel) -> _Scope:
        """What ``channel``'s push looks at, read together with the pushes that ask on the
        same turn of the loop."""
        loop = asyncio.get_running_loop()
        if not self._waiting:  # the look runs once the pushes asking on this turn have asked
            # In a context of its own: not the log context of whichever push asked first.
            loop.call_soon(self._look, context=contextvars.Context())
        future: asyncio.Future[_Scope | None] = loop.create_future()
        self._waiting.append((channel, future))
        scope = await future
        # Without one, the shared look failed: each push looks alone, and meets its own error.
        return scope if scope is not None else _look(self._ctx, [channel])[channel.name]

    def _look(self) -> None:
        looking = [(ch, future) for ch, future in self._waiting if not future.cancelled()]
        self._waiting = []
        scopes: dict[str, _Scope] = {}
        if looking:
            try:
                scopes = _look(self._ctx, [channel for channel, _ in looking])
            except Exception:  # whatever it was, no push may wait for ever on this look
                log.warning("a shared look failed; each push looks alone", exc_info=True)
            except BaseException as exc:  # the process is going down: so is every push
                for _, future in looking:
                    future.set_exception(exc)
                return
        for channel, future in looking:
            future.set_result(scopes.get(channel.name))


async def push_stock(
    ctx: EngineContext,
    channel: ResolvedChannel,
    adapter: Adapter,
    report: ChannelReport,
    looks: PushLooks | None = None,
) -> None:
    """Push every changed quantity to ``channel`` in batches of its declared size (see
    `plan_push` for what changed).

    A long push is planned a slice of SKUs at a time, and each batch goes out as soon as it
    is full, so the channel's round trips and the rest of the planning overlap; only the
    last batch can be short. The first slice, one batch's worth, is planned at once (the
    whole of the usual push, a few SKUs a webhook changed); the others in a thread. Pushes
    sharing ``looks`` that look at their changes together read them once (see `PushLooks`).
    """
    await adapter.ready()  # what changes while the channel's rate limit holds us goes too
    scope = await looks.scope(channel) if looks else _look(ctx, [channel])[channel.name]
    size = adapter.limits.stock_batch_size
    senders = adapter.limits.push_concurrency
    # Planning stays a few batches ahead of the channel, not a whole catalogue ahead.
    batches: asyncio.Queue[list[StockUpdate] | None] = asyncio.Queue(maxsize=2 * senders)
    planned: list[str] = []
    recording = asyncio.Lock()
    loop = asyncio.get_running_loop()

    def plan(skus: list[str]) -> list[StockUpdate]:
        with ctx.store.reading() as tx:
            return _plan(tx, ctx, channel, scope, skus)

    slices = _slices(scope.skus, first=size)
    waiting = plan(next(slices, []))  # at once: the whole of the usual push
    planned.extend(update.sku for update in waiting)

    async def feed() -> None:
        """Plan the rest of a long push, queueing each batch as soon as it is full."""
        while True:
            while len(waiting) >= size:
                await batches.put(waiting[:size])
                del waiting[:size]
            part = next(slices, None)
            if part is None:
                break
            updates = await in_thread(partial(plan, part))
            planned.extend(update.sku for update in updates)
            waiting.extend(updates)
        for batch in _last(waiting, senders):
            await batches.put(batch)

    def record(outcomes: list[Outcome]) -> None:
        counts = _record(ctx, channel, outcomes, scope.seen)
        # Counted on the loop's thread, and even when the push is cancelled meanwhile (another
        # batch failed): this batch is recorded all the same.
        loop.call_soon_threadsafe(report.counts.update, counts)

    async def send() -> None:
        while (batch := await batches.get()) is not None:
            outcomes = await _push_isolated(adapter, batch, report)
            # Recorded in a thread, one batch at a time, while the next batches go out: the
            # channel's round trips and omnisync's writes overlap rather than add up.
            async with recording:
                await retry_conflicts(
                    partial(record, outcomes), f"recording a push to {channel.name}", threaded=True
                )

    if len(scope.skus) > size:
        work = [feed(), *(send() for _ in range(senders))]
    else:  # planned whole: queued now, so its batch leaves at the senders' first turn
        for batch in _last(waiting, senders):
            batches.put_nowait(batch)
        work = [send() for _ in range(senders)]
    await settle([asyncio.ensure_future(step) for step in work])
    settled = scope.settled(planned)

    def clear_settled() -> None:
        with ctx.store.transaction() as tx:
            tx.clear_pending(channel.name, settled)

    if settled:  # most pushes settle nothing: no write to wait for
        await retry_conflicts(clear_settled, f"settling a push to {channel.name}")
    if scope.full is not None:
        full = scope.full

        def complete() -> None:
            with ctx.store.transaction() as tx:
                tx.set_push_plan(channel.name, full, utcnow(), complete=True)

        await retry_conflicts(complete, f"finishing a push to {channel.name}")


async def _push_isolated(
    adapter: Adapter, batch: Sequence[StockUpdate], report: ChannelReport
) -> list[Outcome]:
    """Push a batch; if the channel refuses it whole, split it until the bad items stand alone."""
    report.counts["push_calls"] += 1
    try:
        results = await adapter.push_stock(batch)
        _check(adapter, batch, results)
    except (PermanentError, RecordError) as exc:
        if len(batch) == 1:
            failed = StockPushResult(sku=batch[0].sku, ok=False, error=str(exc))
            return [(batch[0], failed)]
        middle = len(batch) // 2
        first = await _push_isolated(adapter, batch[:middle], report)
        return first + await _push_isolated(adapter, batch[middle:], report)
    return list(zip(batch, results, strict=True))


def _check(adapter: Adapter, batch: Sequence[StockUpdate], results: list[StockPushResult]) -> None:
    if [r.sku for r in results] != [u.sku for u in batch]:
        raise InvalidPayloadError(
            f"adapter {adapter.name!r} answered a push of {len(batch)} items with "
            f"{len(results)} results not in the same order",
            hint="adapters must return one result per update, in order",
        )


def _record(
    ctx: EngineContext, channel: ResolvedChannel, outcomes: list[Outcome], seen: dict[str, int]
) -> Counter[str]:
    """Acknowledge what the channel took; what it did not stays pending for the next push.
    Returns what it counted (nothing is counted twice when a collision reruns it)."""
    counts: Counter[str] = Counter()
    now = utcnow()
    accepted: dict[str, int] = {}
    refused: list[str] = []
    """What the channel did not take as planned: pending again."""
    with ctx.store.transaction() as tx:
        for update, result in outcomes:
            if result.ok:
                quantity = result.quantity if result.quantity is not None else update.quantity
                accepted[update.sku] = quantity
                if quantity != update.quantity:  # it took less (sold meanwhile): look again
                    refused.append(update.sku)
            elif result.retryable:
                counts["push_deferred"] += 1
                refused.append(update.sku)
            else:
                refused.append(update.sku)
                with log_context(sku=update.sku):
                    log.warning("%s refused %s: %s", channel.name, update.sku, result.error)
                tx.quarantine(
                    channel.name,
                    "stock_push",
                    update.sku,
                    f"channel refused quantity {update.quantity} for {update.sku}: {result.error}",
                    {"sku": update.sku, "quantity": update.quantity},
                    now,
                )
                counts["push_failed"] += 1
        tx.acknowledge(channel.name, accepted, now)
        done = {sku: seen[sku] for sku in accepted if sku in seen and sku not in refused}
        tx.clear_pending(channel.name, done)
        tx.mark_pending(refused, [channel.name])
        tx.append_ledger_many(
            [
                {"kind": "push", "sku": sku, "at": now, "channel": channel.name, "value": qty}
                for sku, qty in accepted.items()
            ]
        )
    counts["pushed"] += len(accepted)
    return counts
