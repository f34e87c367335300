"""Tables for people: what must stay readable in an 80-column terminal."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from rich.console import Console

from omnisync.cli._render import incident_table, order_table, report_table, stock_table
from omnisync.engine import ChannelReport, SyncReport
from omnisync.models import Money, Order, OrderLine
from omnisync.store import Incident, StoredOrder

WHEN = datetime(2026, 11, 27, 7, 36, 16, tzinfo=UTC)


def _text(table: object, width: int = 80) -> list[str]:
    console = Console(width=width, record=True)
    console.print(table)
    return console.export_text().splitlines()


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
        created_at=WHEN,
    )
    lines = _text(incident_table([incident]))
    assert all(len(line) <= 80 for line in lines)
    assert not any("…" in line for line in lines)
    assert "07:36:16" in lines[3]
    cells = [line.split("│") for line in lines[3:-1]]  # the row's lines, border to border
    for column, value in [(2, incident.sku), (5, ", ".join(incident.competing))]:
        assert "".join(cell[column].strip() for cell in cells).replace(",", ", ") == value


def test_an_order_on_hold_in_80_columns_shows_its_whole_status_and_reason() -> None:
    order = Order(
        channel="marketplace",
        external_id="1000000000068",
        number="#1007",
        currency="EUR",
        lines=(OrderLine(line_id="1", sku="LAMP", quantity=1, unit_price=Money.of("9", "EUR")),),
        created_at=WHEN,
        updated_at=WHEN,
    )
    reason = "oversold: LAMP-BRASS short by 1"
    stored = StoredOrder(1, order, 1, "digest", reason, None, WHEN, WHEN)
    lines = _text(order_table([stored]))
    assert all(len(line) <= 80 for line in lines)
    assert not any("…" in line for line in lines)
    assert "open" in lines[3] and "9 EUR" in lines[3] and "11-27 07:36" in lines[3]
    cells = [line.split("│") for line in lines[3:-1]]
    assert " ".join(cell[7].strip() for cell in cells).strip() == reason


def test_a_sync_report_in_80_columns_shows_every_channel_and_count_whole() -> None:
    counts = Counter(
        stock_counts=3,
        orders_imported=2,
        orders_changed=1,
        documents=5,
        customers=5,
        fulfilments=2,
        pushed=3,
        push_calls=1,
        http_retries=1,
        quarantined=1,
    )
    report = SyncReport(started_at=WHEN)
    for name in ("erp", "marketplace"):
        report.channels[name] = ChannelReport(channel=name, adapter="sim", counts=counts)
    report.channels["pos"] = ChannelReport(channel="pos", adapter="sim")
    lines = _text(report_table(report))
    assert all(len(line) <= 80 for line in lines)
    assert not any("…" in line for line in lines)
    rows = "\n".join(lines)
    for name in ("erp", "marketplace", "pos"):
        assert f"│ {name} " in rows
    done = " ".join(line.split("│")[3].strip() for line in lines if line.startswith("│ "))
    for words in ("counts in 3", "new orders 2", "customers out 5", "quarantined 1"):
        assert words in done
    assert "nothing" in done


def test_stock_shows_a_column_per_channel_where_they_fit_else_each_skus_channels_in_one_cell() -> (
    None
):
    channels = ["amazon-de", "ebay-uk", "marketplace", "pos", "shopify-eu", "shopify-us", "woo"]
    rows = {"LAMP-BRASS-LARGE": dict.fromkeys(channels, 12345), "MUG": {"pos": 7}}
    table = stock_table(rows, {"LAMP-BRASS-LARGE": 99999, "MUG": 8}, {"MUG": 1})
    wide = _text(table, width=140)
    assert all(channel in wide[1] for channel in channels)
    assert wide[3].split() == [
        "│",
        "LAMP-BRASS-LARGE",
        "│",
        "99999",
        "│",
        "-",
        *["│", "12345"] * 7,
        "│",
    ]
    narrow = _text(table, width=80)
    assert all(len(line) <= 80 for line in narrow)
    assert not any("…" in line for line in narrow)
    cells = " ".join(line.split("│")[4].strip() for line in narrow[3:-1])
    assert ", ".join(f"{channel} 12345" for channel in channels) in cells
    assert "amazon-de -, ebay-uk -, marketplace -, pos 7," in cells


def test_what_came_from_a_channel_is_shown_as_it_is_not_read_as_markup() -> None:
    report = SyncReport(started_at=WHEN)
    error = "channel shop: 400 Bad Request: [/] is not a product id [bold]"
    report.channels["shop"] = ChannelReport(channel="shop", adapter="sim", errors=[error])
    lines = _text(report_table(report), width=200)
    assert any(error in line for line in lines)
