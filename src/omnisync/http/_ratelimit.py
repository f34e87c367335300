"""A client-side rate limiter, so omnisync stays under a channel's limit instead of hitting it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """A token bucket: ``rate`` tokens a second refill a bucket of ``burst`` tokens.

    Each call takes ``cost`` tokens (1 for a request-counted API, the query cost for a
    cost-counted one) and waits, in arrival order, until they are there. When the channel
    says to back off, `pause` holds every caller until then.

    ``spare`` tokens of the bucket are never used: requests reach the channel a little
    closer together or further apart than they left (a slow first connection, a busy
    network), and a channel whose own bucket is as big as this one answers 429 to one that
    arrives early while it is empty. One spare token absorbs that jitter, at no cost to the
    rate.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        spare: float = 0.0,
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self.spare = spare
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.waited = 0.0
        """Seconds callers spent waiting in total: how hard the limit binds."""

    @property
    def capacity(self) -> float:
        """What the bucket may hold: ``burst`` less the spare tokens (at least one token)."""
        return max(self.burst - self.spare, min(self.burst, 1.0))

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, cost: float = 1.0) -> None:
        """Wait until ``cost`` tokens are free, then take them."""
        await self._wait(cost, take=True)

    async def ready(self, cost: float = 1.0) -> None:
        """Wait until ``cost`` tokens are free, without taking them: for a caller that
        decides what to send only once it could be sent (see `Adapter.ready`)."""
        await self._wait(cost, take=False)

    async def _wait(self, cost: float, *, take: bool) -> None:
        cost = min(cost, self.capacity)
        async with self._lock:
            while True:
                self._refill()
                delay = max(self._paused_until - self._clock(), 0.0)
                # The tolerance: refills add up in floating point, and a wait of a rounding
                # error would not move the clock on.
                if delay == 0.0 and self._tokens >= cost - 1e-9:
                    if take:
                        self._tokens = max(self._tokens - cost, 0.0)
                    return
                delay = max(delay, (cost - self._tokens) / self.rate)
                self.waited += delay
                await self._sleep(delay)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` and empty the bucket: the channel says we are over."""
        self._refill()
        self._tokens = 0.0
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def observe(self, available: float) -> None:
        """Align the bucket with what the channel reports is left of its budget."""
        self._refill()
        self._tokens = min(self._tokens, max(available, 0.0))
