"""Turning reports and records into tables for people.

What came from outside (SKUs, names, ids, error messages) is escaped: rich reads ``[...]``
as markup, and would drop ``[store]`` from a hint or fail on a ``[/]`` in a channel's
error."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from omnisync.engine import Availability, SyncReport
from omnisync.models import FulfilmentStatus
from omnisync.store import DeadLetter, Incident, StoredOrder

__all__ = [
    "dead_letter_table",
    "explain",
    "incident_table",
    "order_table",
    "report_table",
    "stock_table",
]

# What each report count means, in the order a reader wants them.
_COUNTS = [
    ("stock_counts", "counts in"),
    ("orders_imported", "new orders"),
    ("orders_changed", "changed"),
    ("documents", "docs out"),
    ("customers", "customers out"),
    ("fulfilments", "fulfilments out"),
    ("returns", "returns"),
    ("pushed", "stock pushed"),
    ("push_calls", "push calls"),
    ("http_retries", "retries"),
    ("quarantined", "quarantined"),
]


def report_table(report: SyncReport, title: str = "Sync") -> Table:
    """One row per channel: whether it failed, and what it did.

    What it did is one cell of ``name count`` pairs rather than a column per count: a report
    from cron is written 80 columns wide, too narrow for a column per count."""
    table = Table(title=title, title_justify="left")
    table.add_column("channel", no_wrap=True)
    table.add_column("status", min_width=len("status"))
    table.add_column("done")
    for channel in report.channels.values():
        if channel.busy:
            status = f"[yellow]busy[/]: {escape(channel.busy)}"
        elif channel.errors:
            status = "[red]failed[/]: " + escape("; ".join(channel.errors))
        elif channel.problems:
            status = f"[yellow]{channel.problems} record(s) quarantined[/]"
        else:
            status = "[green]ok[/]"
        done = ", ".join(
            f"{label} {channel.counts[key]}" for key, label in _COUNTS if channel.counts.get(key)
        )
        table.add_row(escape(channel.channel), status, done or "[dim]nothing[/]")
    return table


def stock_table(
    rows: dict[str, dict[str, int]], on_hand: dict[str, int], held: dict[str, int]
) -> RenderableType:
    """Per SKU: on hand, held by orders, and what each channel may sell: a column per
    channel where the terminal is wide enough for them, else each SKU's channels in one
    wrapping cell (a quantity cut short would be read as another)."""
    channels = sorted({channel for per in rows.values() for channel in per})
    wide, narrow = Table(title_justify="left"), Table(title_justify="left")
    for table in (wide, narrow):
        table.add_column("SKU", overflow="fold")
        for name in ("on hand", "held"):
            table.add_column(name, justify="right", no_wrap=True)
    for channel in channels:
        wide.add_column(escape(channel), justify="right", no_wrap=True)
    narrow.add_column("may sell")
    for sku in sorted(rows):
        counted = (str(on_hand.get(sku, "-")), str(held.get(sku, "-")))
        shown = [str(rows[sku].get(channel, "-")) for channel in channels]
        wide.add_row(escape(sku), *counted, *shown)
        sells = ", ".join(map(" ".join, zip(channels, shown, strict=True)))
        narrow.add_row(escape(sku), *counted, escape(sells))
    return _Fitting(wide, narrow)


_UNBOUNDED = 1_000_000


class _Fitting:
    """The first of ``layouts`` whose natural width fits where it is printed, else the last."""

    def __init__(self, *layouts: Table) -> None:
        self.layouts = layouts

    def _chosen(self, console: Console, options: ConsoleOptions) -> Table:
        unbounded = options.update_width(_UNBOUNDED)  # a measure is clipped to its width
        for layout in self.layouts[:-1]:
            if Measurement.get(console, unbounded, layout).maximum <= options.max_width:
                return layout
        return self.layouts[-1]

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType]:
        yield self._chosen(console, options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self._chosen(console, options))


def explain(item: Availability) -> list[str]:
    """Lines that show how one channel's quantity for one SKU was derived."""
    lines = [f"[bold]{escape(item.channel)}[/]: {item.quantity}"]
    if item.is_bundle:
        parts = escape(", ".join(f"{qty} x {sku}" for sku, qty in item.components.items()))
        lines.append(f"  bundle of {parts}; whole bundles the components make:")
    for sku, cells in item.cells.items():
        prefix = f"  {escape(sku)} " if item.is_bundle else "  "
        if not cells:
            lines.append(f"{prefix}no stock at the channel's locations")
        for location, cell in cells.items():
            lines.append(
                f"{prefix}{escape(location)}: on hand {cell.on_hand} - held {cell.held} = "
                f"{cell.free}"
            )
    lines.append(f"  free to sell: {item.base}")
    for step in item.steps:
        lines.append(f"  {escape(step.rule)}: {step.before} -> {step.after}")
    return lines


_SHIPPED = {
    FulfilmentStatus.UNFULFILLED: "no",
    FulfilmentStatus.PARTIAL: "partly",
    FulfilmentStatus.FULFILLED: "yes",
}


def order_table(orders: list[StoredOrder]) -> Table:
    """One row per order."""
    table = Table(title_justify="left")
    for name in ("order", "id", "status", "shipped", "total", "created", "hold"):
        table.add_column(
            name,
            no_wrap=name in ("status", "shipped", "total", "created"),
            overflow="fold",
            min_width=len(name),
        )
    for stored in orders:
        order = stored.order
        table.add_row(
            escape(f"{order.channel}:{order.number}" if order.number else order.channel),
            escape(order.external_id),
            order.status.value,
            _SHIPPED[order.fulfilment_status],
            str(order.total),
            f"{order.created_at:%m-%d %H:%M}",
            escape(stored.hold_reason or ""),
        )
    return table


def incident_table(incidents: list[Incident]) -> Table:
    """One row per oversell incident."""
    table = Table(title_justify="left")
    for name in ("id", "SKU", "short", "order", "competing", "held", "when"):
        # Cut short, a SKU or an order id names nothing: a narrow terminal wraps them.
        table.add_column(
            name, no_wrap=name in ("id", "short", "when"), overflow="fold", min_width=len(name)
        )
    for incident in incidents:
        table.add_row(
            str(incident.id),
            escape(incident.sku),
            str(incident.shortfall),
            escape(f"{incident.channel}:{incident.order_id}"),
            escape(", ".join(incident.competing) or "-"),
            escape(", ".join(incident.held) or "-"),
            f"{incident.created_at:%H:%M:%S}" if incident.created_at else "",
        )
    return table


def dead_letter_table(letters: list[DeadLetter]) -> Table:
    """One row per quarantined record."""
    table = Table(title_justify="left")
    for name in ("id", "channel", "kind", "key", "attempts", "reason", "state"):
        table.add_column(name, overflow="fold")
    for letter in letters:
        table.add_row(
            str(letter.id),
            escape(letter.channel),
            escape(letter.kind),
            escape(letter.key),
            str(letter.attempts),
            escape(letter.reason),
            "resolved" if letter.resolved_at else "open",
        )
    return table
