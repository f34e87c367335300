"""When and how long to wait before calling a channel again."""

from __future__ import annotations

import random
from dataclasses import dataclass

from tenacity import RetryCallState

from omnisync.errors import RateLimitedError, RetryableError

__all__ = ["RetryPolicy", "should_retry"]


@dataclass(frozen=True)
class RetryPolicy:
    """How a channel's calls are retried.

    Waits grow exponentially from ``initial_wait`` to ``max_wait`` seconds with up to
    ``jitter`` seconds of random spread, so many workers do not retry in step. A ``Retry-After``
    from the channel replaces the computed wait (capped at ``max_retry_after``).
    """

    max_attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 300.0

    def wait(self, state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt (a tenacity ``wait`` callable)."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_retry_after)
        exponential = self.initial_wait * 2.0 ** (state.attempt_number - 1)
        return min(exponential, self.max_wait) + random.uniform(0, self.jitter)


def should_retry(error: BaseException, *, idempotent: bool) -> bool:
    """Whether a failed call may be sent again without risk of doing its work twice.

    A rate-limited call was refused before any work was done, and a call that never reached
    the channel did nothing: both are always safe. Any other transient failure is retried only
    when the call is idempotent (a read, a set-to-value, or a write with an idempotency key).
    """
    if not isinstance(error, RetryableError):
        return False
    if isinstance(error, RateLimitedError) or not error.request_sent:
        return True
    return idempotent
