"""omnisync as a scenario runs it: a fresh SQLite store and configuration in a folder, and
stock counted in before the measured part starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from omnisync import AsyncOmnisync
from omnisync._heap import freeze_started
from omnisync._time import utcnow
from omnisync.config import load_config
from omnisync.engine._counts import apply_count

__all__ = ["LOCATION", "configured", "started", "stock_everything"]

LOCATION = "shelf"


def configured(folder: Path, channels: Mapping[str, str], extra: str = "") -> AsyncOmnisync:
    """omnisync on the SQLite store in ``folder`` (new on first use), one location, and
    ``channels`` (name →
    the body of its ``[channels.NAME]`` section); use it with ``async with``."""
    folder.mkdir(parents=True, exist_ok=True)
    sections = "".join(f"\n[channels.{name}]\n{body}\n" for name, body in channels.items())
    config = folder / "omnisync.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///omnisync.db"\n\n[locations.{LOCATION}]\n{extra}{sections}'
    )
    return AsyncOmnisync(load_config(config))


@asynccontextmanager
async def started(om: AsyncOmnisync) -> AsyncIterator[AsyncOmnisync]:
    """``om`` open, and what starting it made frozen, as ``omnisync sync`` does (see
    `freeze_started`)."""
    async with om:
        freeze_started()
        yield om


def stock_everything(om: AsyncOmnisync, skus: Iterable[str], on_hand: int) -> None:
    """Count ``on_hand`` of every SKU on the shelf, in one transaction."""
    now = utcnow()
    with om.store.transaction() as tx:
        for sku in skus:
            apply_count(tx, sku, LOCATION, on_hand, now, source="manual", now=now)
