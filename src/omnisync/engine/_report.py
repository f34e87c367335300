"""What a sync did, per channel, for people and for scripts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from omnisync.store import Incident

__all__ = ["FAILURE_COUNTS", "ChannelReport", "SyncReport"]

FAILURE_COUNTS = (
    "quarantined",
    "orders_quarantined",
    "unknown_skus",
    "push_failed",
    "documents_failed",
    "customers_failed",
    "fulfilments_failed",
    "shipments_quarantined",
)
"""The counts of records that failed and were quarantined in a sync."""


@dataclass
class ChannelReport:
    """One channel's part of a sync.

    ``errors`` says which steps failed and why; ``busy`` which other sync held the channel,
    when this one had to leave it alone; `problems` how many records this sync quarantined.
    ``ok`` only when there is none of these.
    """

    channel: str
    adapter: str
    busy: str | None = None
    errors: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def problems(self) -> int:
        """Records quarantined in this sync: each needs an operator's look."""
        return sum(self.counts.get(name, 0) for name in FAILURE_COUNTS)

    @property
    def ok(self) -> bool:
        """Whether every step succeeded and every record went through."""
        return not self.errors and self.busy is None and not self.problems

    def fail(self, step: str, error: object) -> None:
        """Record that ``step`` failed with ``error``."""
        self.errors.append(f"{step}: {error}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "channel": self.channel,
            "adapter": self.adapter,
            "ok": self.ok,
            "busy": self.busy,
            "errors": list(self.errors),
            "problems": self.problems,
            "counts": dict(sorted(self.counts.items())),
        }


@dataclass
class SyncReport:
    """The outcome of one sync over some channels."""

    started_at: datetime
    finished_at: datetime | None = None
    channels: dict[str, ChannelReport] = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)
    quarantined: int = 0

    @property
    def ok(self) -> bool:
        """Whether every channel synced, and every record went through."""
        return all(report.ok for report in self.channels.values())

    @property
    def failed(self) -> list[str]:
        """Channels with a failed step."""
        return [name for name, report in self.channels.items() if report.errors]

    @property
    def busy(self) -> list[str]:
        """Channels skipped because another sync held them."""
        return [name for name, report in self.channels.items() if report.busy is not None]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary, as ``omnisync sync --json`` prints it."""
        return {
            "ok": self.ok,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "channels": [report.to_dict() for report in self.channels.values()],
            "incidents": [
                {
                    "id": incident.id,
                    "sku": incident.sku,
                    "shortfall": incident.shortfall,
                    "order": f"{incident.channel}:{incident.order_id}",
                    "competing": incident.competing,
                    "held": incident.held,
                }
                for incident in self.incidents
            ],
            "quarantined": self.quarantined,
        }
