"""Tables for people: what must stay readable in an 80-column terminal."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from omnisync.cli._render import incident_table
from omnisync.store import Incident


def test_an_incident_in_80_columns_wraps_what_does_not_fit_and_cuts_nothing() -> None:
    incident = Incident(
        id=1,
        kind="oversell",
        sku="LAMP-BRASS-LARGE",
        shortfall=1,
        channel="marketplace",
        order_id="1007",
        competing=["shop:1004", "woo:1005", "pos:1006"],
        held=["marketplace:1007"],
        created_at=datetime(2026, 11, 27, 7, 36, 16, tzinfo=UTC),
    )
    console = Console(width=80, record=True)
    console.print(incident_table([incident]))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert not any("…" in line for line in lines)
    assert "07:36:16" in lines[3]
    cells = [line.split("│") for line in lines[3:-1]]  # the row's lines, border to border
    for column, value in [(2, incident.sku), (5, ", ".join(incident.competing))]:
        assert "".join(cell[column].strip() for cell in cells).replace(",", ", ") == value
