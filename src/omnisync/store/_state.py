"""Store operations on sync state: cursors and locks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select

from omnisync.store import _schema as t
from omnisync.store._base import TransactionBase
from omnisync.store._records import LockHolder

__all__ = ["StateMixin"]

# Every sync takes and gives up its channels' locks: built once, compiled once.
_LOCK = select(t.locks).where(t.locks.c.name == bindparam("name"))
_CURSOR = select(t.cursors.c.value).where(
    t.cursors.c.channel == bindparam("ch"), t.cursors.c.stream == bindparam("stream")
)
_RENEW = t.locks.update().where(t.locks.c.name == bindparam("lock"))  # columns as parameters
_UNLOCK = t.locks.delete().where(
    t.locks.c.name == bindparam("name"), t.locks.c.owner == bindparam("owner")
)


def _moving_cursor(dialect: Any) -> Any:
    """The statement of `StateMixin.set_cursor`."""
    cursors = t.cursors
    stmt = dialect.insert(cursors)
    return stmt.on_conflict_do_update(
        index_elements=["channel", "stream"],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        where=cursors.c.value < stmt.excluded.value,
    )


class StateMixin(TransactionBase):
    """Where each channel's incremental pulls stand, and who is working which channel."""

    def cursor(self, channel: str, stream: str) -> datetime | None:
        """Up to when ``stream`` (orders, stock, returns) of ``channel`` has been read."""
        return self.conn.execute(_CURSOR, {"ch": channel, "stream": stream}).scalar_one_or_none()

    def set_cursor(self, channel: str, stream: str, value: datetime, now: datetime) -> None:
        """Move a cursor forward; a value behind the stored one is ignored (in the statement
        itself, so two writers at once cannot move it back)."""
        values = {"channel": channel, "stream": stream, "value": value, "updated_at": now}
        self.conn.execute(self._built("cursor", _moving_cursor), values)

    def reset_cursor(self, channel: str, stream: str) -> None:
        """Forget a cursor, so the next pull of ``stream`` reads everything again."""
        self.conn.execute(
            t.cursors.delete().where(t.cursors.c.channel == channel, t.cursors.c.stream == stream)
        )

    def acquire_lock(
        self, name: str, owner: str, ttl: float, now: datetime, *, take_from: str | None = None
    ) -> LockHolder | None:
        """Take or renew the lock ``name`` for ``owner``.

        Returns ``None`` when ``owner`` now holds it, else the holder that has it. A lock whose
        holder stopped renewing it expires after ``ttl`` seconds, so a crashed sync cannot
        block the channel for ever; ``take_from`` names a holder known to be dead, whose lock
        is taken at once.
        """
        self.lock_key("channel-lock", name)
        row = self.conn.execute(_LOCK, {"name": name}).first()
        expires = now + timedelta(seconds=ttl)
        if row is not None and row.owner not in (owner, take_from) and row.expires_at > now:
            return LockHolder(name, row.owner, row.acquired_at, row.expires_at)
        if row is None:
            self.conn.execute(
                self._insert(t.locks),
                {"name": name, "owner": owner, "acquired_at": now, "expires_at": expires},
            )
        else:
            acquired = row.acquired_at if row.owner == owner else now
            self.conn.execute(
                _RENEW,
                {"lock": name, "owner": owner, "acquired_at": acquired, "expires_at": expires},
            )
        return None

    def release_lock(self, name: str, owner: str) -> None:
        """Give the lock up, if ``owner`` holds it."""
        self.conn.execute(_UNLOCK, {"name": name, "owner": owner})
