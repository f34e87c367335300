"""Channel locks: one sync at a time works a channel, across processes and machines."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Collection

from omnisync._time import utcnow
from omnisync.errors import StoreError
from omnisync.store import LockHolder, Store

__all__ = ["ChannelLocks", "default_owner"]

log = logging.getLogger("omnisync.engine")


def _here() -> str:
    """This host, and this PID namespace where there are several (containers on one host)."""
    try:
        namespace = f"/{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}{namespace}"


def default_owner() -> str:
    """A lock owner name for this process: ``host[/pidns]:pid:random``."""
    return f"{_here()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(owner: str) -> bool:
    """Whether a lock owner is a process of this host (and PID namespace) that has exited."""
    place, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if place != _here() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


class ChannelLocks:
    """The channel locks one engine holds, kept alive while it works.

    A lock is a row with an expiry that its holder renews every third of ``ttl``; a holder that
    dies stops renewing, and its locks free themselves after ``ttl`` (at once, for a process of
    this host that is known to have exited). A lock lost anyway (this process stalled past
    ``ttl`` and another sync took the channel) is noted in `lost`, and the engine stops
    working that channel.
    """

    def __init__(self, store: Store, owner: str, ttl: float) -> None:
        self.store = store
        self.owner = owner
        self.ttl = ttl
        self.held: list[str] = []
        self.lost: dict[str, str] = {}

    @staticmethod
    def _name(channel: str) -> str:
        return f"channel:{channel}"

    def _take(self, channels: Collection[str]) -> dict[str, LockHolder]:
        """Take or renew each lock; returns the channels someone else holds, and who."""
        busy: dict[str, LockHolder] = {}
        if not channels:  # a sync's first renewal, before it holds anything
            return busy
        with self.store.transaction() as tx:
            # In name order: two syncs taking overlapping sets never wait on each other in turn.
            for channel in sorted(channels):
                name = self._name(channel)
                holder = tx.acquire_lock(name, self.owner, self.ttl, utcnow())
                if holder is not None and _dead_here(holder.owner):
                    log.warning(
                        "taking over %s from %s, which is no longer running", channel, holder.owner
                    )
                    holder = tx.acquire_lock(
                        name, self.owner, self.ttl, utcnow(), take_from=holder.owner
                    )
                if holder is not None:
                    busy[channel] = holder
        return busy

    async def acquire(self, channels: list[str], *, wait: bool) -> dict[str, LockHolder]:
        """Lock ``channels``; with ``wait``, until all are ours. Returns those left busy."""
        pending = list(channels)
        while True:
            self.renew()
            busy = self._take(pending)
            self.held += [channel for channel in pending if channel not in busy]
            pending = list(busy)
            if not pending or not wait:
                return busy
            await asyncio.sleep(min(1.0, self.ttl / 10))

    def renew(self) -> None:
        """Renew every lock held; one another sync has taken meanwhile moves to `lost`."""
        for channel, holder in self._take(self.held).items():
            log.error("lost the lock on %s to %s; leaving the channel to it", channel, holder.owner)
            self.lost[channel] = holder.owner
            self.held.remove(channel)

    async def keep_alive(self) -> None:
        """Renew the locks until cancelled. A renewal the store refuses (it is restarting,
        say) is tried again at the next turn; the locks last ``ttl`` meanwhile."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                self.renew()
            except StoreError as exc:
                log.warning("could not renew the channel locks: %s", exc)

    def release(self) -> None:
        """Give every lock back."""
        with self.store.transaction() as tx:
            for channel in self.held:
                tx.release_lock(self._name(channel), self.owner)
        self.held = []
