"""Running a transaction again when the database stopped it for colliding with another."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import TypeVar

from omnisync._tasks import in_thread
from omnisync.errors import StoreConflictError

__all__ = ["CONFLICT_ATTEMPTS", "retry_conflicts"]

log = logging.getLogger("omnisync.engine")
T = TypeVar("T")

CONFLICT_ATTEMPTS = 5
"""How many times work is tried before a collision with other writers fails it."""


async def retry_conflicts(work: Callable[[], T], what: str, *, threaded: bool = False) -> T:
    """Run ``work`` (which opens its own transaction and resets any state it fills) and,
    when the database stopped it as a deadlock victim, run it again after a short random
    pause: nothing of the stopped transaction was kept. Only PostgreSQL stops writers so;
    SQLite queues them.

    With ``threaded``, ``work`` runs in a thread (see `in_thread`), so that the event loop
    serves channels meanwhile.
    """
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return await in_thread(work) if threaded else work()
        except StoreConflictError:
            if attempt == CONFLICT_ATTEMPTS:
                raise
            log.info("%s collided with another writer; trying again", what)
            await asyncio.sleep(random.uniform(0, 0.05 * attempt))
    raise AssertionError("unreachable")
