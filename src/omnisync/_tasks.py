"""Running work side by side without leaving any of it behind."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["cancel_and_wait", "in_thread", "settle"]

T = TypeVar("T")


async def settle(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Wait for every one of ``tasks`` to end. If one fails, or the wait is cancelled, the
    others are cancelled and still waited for before the error goes on: none of them is left
    running on its own, holding a store connection or a channel's lock."""
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has ended, even if this wait is itself cancelled
    meanwhile (that cancellation goes on once the task has ended): what the task holds is
    released before the caller goes on. An error the task ended with stays on the task."""
    task.cancel()
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def in_thread(work: Callable[[], T]) -> T:
    """Run blocking work (store writes, reading a large file) in a thread, with the caller's
    log context. Cancelled, it still waits for the thread to end before it gives up: what the
    thread uses (a store connection and, on PostgreSQL, its locks; an adapter's temporary
    file) must not be released or reused while it runs."""
    context = contextvars.copy_context()  # the log context goes along
    future = asyncio.get_running_loop().run_in_executor(None, context.run, work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        raise
