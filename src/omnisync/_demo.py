"""``omnisync demo``: a whole story on simulated channels, on the embedded SQLite store.

Three simulated sales channels and a simulated ERP: the ERP counts the warehouse, shoppers buy
on every channel, omnisync imports and reserves, records sales in the ERP and pushes what each
channel may still sell; two channels race for the last lamp; the warehouse ships. Adapter
plugins that ship a simulator (Shopify, WooCommerce) join the story as more channels.
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from rich.console import Console
from rich.markup import escape

from omnisync import plugins
from omnisync._api import AsyncOmnisync
from omnisync.cli import _render
from omnisync.config import load_config
from omnisync.engine import SyncReport
from omnisync.models import Fulfilment, FulfilmentLine, OrderStatus
from omnisync.sim import SimMarket, SimulatorOptions, SimWarehouse, register

__all__ = ["run_demo"]

CHANNELS = ("shop", "marketplace", "pos")
_RETRY = "retry = { initial_wait = 0.05, jitter = 0.05 }"
# Adapter plugins that join the demo when installed: their channel, and its settings. They
# talk to their simulators in this process, so the config left behind leaves them out.
PLUGIN_CHANNELS = {
    "woocommerce": (
        "woo",
        'base_url = "https://woo.demo.invalid", consumer_key = "ck_simulated", '
        'consumer_secret = "sim-token"',
    ),
    "shopify": (
        "shopify",
        'shop = "demo", access_token = "sim-token", bulk_poll_seconds = 0.05',
    ),
}
CATALOGUE = {
    "MUG-BLUE": "12.00",
    "TEA-GREEN": "6.50",
    "BAG-CANVAS": "24.00",
    "CANDLE-FIG": "18.00",
    "LAMP-BRASS": "89.00",
    "GIFT-SET": "29.00",
}
STOCK = {"MUG-BLUE": 40, "TEA-GREEN": 80, "BAG-CANVAS": 25, "CANDLE-FIG": 20}

DEMO_CONFIG = """\
# Written by `omnisync demo`. The simulators keep their state in the sim-*.json files,
# so `omnisync --config THIS_FILE sync --once` carries on where the demo stopped.

[store]
url = "sqlite:///omnisync.db"

[engine]
overlap_seconds = 60
hold_oversold = true

[locations.warehouse]
source = "erp"
source_id = "WH1"

[bundles]
"GIFT-SET" = { "MUG-BLUE" = 1, "TEA-GREEN" = 2 }

[channels.erp]
adapter = "sim-inventory"
retry = { initial_wait = 0.05, jitter = 0.05 }
settings = { state_file = "sim-erp.json" }

[channels.shop]
adapter = "sim"
retry = { initial_wait = 0.05, jitter = 0.05 }
settings = { state_file = "sim-shop.json" }

[channels.marketplace]
adapter = "sim"
max_quantity = 5
retry = { initial_wait = 0.05, jitter = 0.05 }
settings = { state_file = "sim-marketplace.json" }

[channels.pos]
adapter = "sim"
buffer = 1
zero_below = 2
retry = { initial_wait = 0.05, jitter = 0.05 }
settings = { state_file = "sim-pos.json" }
"""


def _plugin_channels() -> dict[str, tuple[str, Any]]:
    """Installed adapter plugins with simulators: {adapter: (channel, simulator)}."""
    adapters, factories = plugins.adapter_classes(), plugins.simulators()
    found = {}
    for adapter, (channel, _) in PLUGIN_CHANNELS.items():
        if adapter in adapters and adapter in factories:
            # Stores on a large plan (Shopify Plus refills 1000 points a second), so the
            # story runs in seconds.
            options = SimulatorOptions(latency=0.01, rate=1000.0)
            simulator: Any = factories[adapter](options)
            for sku in CATALOGUE:
                simulator.add_listing(sku, 0)
            found[adapter] = (channel, simulator)
    return found


def _config(extra: dict[str, tuple[str, Any]]) -> str:
    text = DEMO_CONFIG
    for adapter, (channel, _) in extra.items():
        settings = PLUGIN_CHANNELS[adapter][1]
        text += (
            f'\n[channels.{channel}]\nadapter = "{adapter}"\n{_RETRY}\n'
            f"settings = {{ {settings} }}\n"
        )
    return text


def _prepare(folder: Path) -> tuple[SimWarehouse, dict[str, SimMarket]]:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (
        "omnisync.db",
        "omnisync.db-wal",
        "omnisync.db-shm",
        *(f"sim-{name}.json" for name in ("erp", *CHANNELS)),
    ):
        (folder / stale).unlink(missing_ok=True)
    erp = SimWarehouse("erp")
    erp.faults.latency = 0.01
    for sku, count in STOCK.items():
        erp.set(sku, count, "WH1")
    register("erp", erp)
    markets = {}
    for seed, name in enumerate(CHANNELS):
        market = SimMarket(name, seed=seed)
        market.faults.latency = 0.01
        for sku, price in CATALOGUE.items():
            market.add_product(sku, price=price)
        register(name, market)
        markets[name] = market
    return erp, markets


async def _stock(console: Console, om: AsyncOmnisync) -> None:
    table = await om.availability_table()
    cells = await om.stock_levels()
    on_hand = {s: sum(c.on_hand for c in per.values()) for s, per in cells.items()}
    held = {s: sum(c.held for c in per.values()) for s, per in cells.items()}
    console.print(_render.stock_table(table, on_hand, held))


def _line(report: SyncReport) -> str:
    total: Counter[str] = Counter()
    for channel in report.channels.values():
        total.update(channel.counts)
    failed = f", [red]failed: {', '.join(report.failed)}[/]" if report.failed else ""
    return (
        f"{total['orders_imported']} new and {total['orders_changed']} changed orders, "
        f"pushed {total['pushed']} quantities "
        f"in {total['push_calls']} calls, {total['documents']} sales to the ERP, "
        f"{total['http_retries']} retries{failed}"
    )


async def run_demo(console: Console, directory: Path | None = None) -> int:
    """Run the demo story in ``directory`` (a new temporary folder by default)."""
    started = time.monotonic()
    folder = (directory or Path(mkdtemp(prefix="omnisync-demo-"))).resolve()
    erp, sims = _prepare(folder)
    markets: dict[str, Any] = dict(sims)
    extra = _plugin_channels()
    markets.update(dict(extra.values()))
    config = folder / "omnisync.toml"
    config.write_text(_config(extra), encoding="utf-8")
    console.rule("[bold]omnisync demo")
    joined = "".join(f", {channel} ({adapter})" for adapter, (channel, _) in extra.items())
    console.print(
        f"Store: SQLite at {escape(str(folder / 'omnisync.db'))}\n"
        "Channels: shop, marketplace (shows at most 5), pos (holds 1 back, shows 0 "
        f"below 2){joined}; ERP: erp, counting the warehouse.\n"
    )
    failures = 0
    transports = {channel: simulator.transport() for channel, simulator in extra.values()}
    async with AsyncOmnisync(load_config(config), transports=transports) as om:
        console.print(
            "[bold]1.[/] The ERP counts the warehouse; omnisync pushes what each "
            "channel may sell (GIFT-SET is a bundle of 1 mug and 2 teas):"
        )
        report = await om.sync()
        failures += len(report.failed)
        await _stock(console, om)

        console.print(
            "\n[bold]2.[/] Shoppers buy on every channel; omnisync syncs after each "
            "round (the marketplace throws a 429 and a 503 in round 2):"
        )
        shoppers = random.Random(7)
        for round_number in (1, 2, 3):
            placed = sum(_shop(shoppers, market, 2) for market in markets.values())
            if round_number == 2:
                markets["marketplace"].faults.inject(429, 503)
            report = await om.sync()
            failures += len(report.failed)
            console.print(f"  round {round_number}: {placed} orders placed -> {_line(report)}")

        console.print(
            "\n[bold]3.[/] One brass lamp arrives. Shop and marketplace both show it; "
            "both sell it before the next sync:"
        )
        erp.set("LAMP-BRASS", 1, "WH1")
        await om.sync()
        console.print(
            f"  shop shows {markets['shop'].shown('LAMP-BRASS')}, marketplace shows "
            f"{markets['marketplace'].shown('LAMP-BRASS')}"
        )
        markets["shop"].buy({"LAMP-BRASS": 1})
        markets["marketplace"].buy({"LAMP-BRASS": 1})
        report = await om.sync()
        failures += len(report.failed)
        console.print(
            "  omnisync records the oversell and holds the later order (it is not sent to the ERP):"
        )
        console.print(_render.incident_table(report.incidents))

        console.print(
            "\n[bold]4.[/] The warehouse ships the three oldest orders; omnisync tells "
            "their channels, and the ERP's next count releases their reservations:"
        )
        shipped = await _ship(om, erp, 3)
        report = await om.sync()
        failures += len(report.failed)
        console.print(f"  shipped {', '.join(shipped)} -> {_line(report)}")

        console.print("\n[bold]Summary[/]")
        await _stock(console, om)
        mismatches = [
            f"{name}/{sku}"
            for name, market in markets.items()
            for sku, row in (await om.availability_table()).items()
            if market.shown(sku) != row.get(name)
        ]
        incidents = await om.incidents()
        letters = await om.dead_letters()
        orders = await om.orders(limit=1000)
    # The plugin channels' simulators end with this process: leave a config without them.
    config.write_text(DEMO_CONFIG, encoding="utf-8")
    held = sum(1 for stored in orders if stored.hold_reason)
    console.print(
        f"{len(orders)} orders imported, {held} on hold, {len(incidents)} oversell incident(s), "
        f"{len(letters)} quarantined record(s), {len(erp.sales)} sales in the ERP.\n"
        + (
            "Every channel shows exactly what omnisync computed."
            if not mismatches
            else f"[red]Channels differ from omnisync: {escape(str(mismatches))}[/]"
        )
    )
    command = escape(f"{_executable()} --config {folder / 'omnisync.toml'}")
    console.print(
        f"Done in {time.monotonic() - started:.1f}s. Look around:\n"
        f"  {command} stock --explain LAMP-BRASS\n"
        f"  {command} orders --held\n"
        f"  {command} ledger MUG-BLUE",
        soft_wrap=True,
    )
    return 1 if failures or mismatches else 0


def _shop(rng: random.Random, channel: Any, count: int) -> int:
    """``count`` shoppers each buy one to three units of something the channel shows."""
    placed = 0
    for _ in range(count):
        offered = [sku for sku in CATALOGUE if channel.shown(sku) > 0]
        if not offered:
            break
        sku = rng.choice(sorted(offered))
        channel.place_order(sku, rng.randint(1, min(3, channel.shown(sku))))
        placed += 1
    return placed


def _executable() -> str:
    """How to call omnisync from here: by name if it is on PATH, else by its full path."""
    if shutil.which("omnisync"):
        return "omnisync"
    script = Path(sys.argv[0])
    return str(script.resolve()) if script.name == "omnisync" else "omnisync"


async def _ship(om: AsyncOmnisync, erp: SimWarehouse, count: int) -> list[str]:
    shipped = []
    candidates = await om.orders(status=OrderStatus.OPEN, held=False, limit=1000)
    for stored in sorted(candidates, key=lambda s: s.order.created_at)[:count]:
        order = stored.order
        lines = [
            FulfilmentLine(line_id=line.line_id, quantity=line.open_quantity)
            for line in order.lines
            if line.open_quantity
        ]
        await om.fulfil(
            Fulfilment(
                channel=order.channel,
                order_id=order.external_id,
                lines=tuple(lines),
                carrier="DHL",
                tracking_number=f"00340434{order.external_id}",
            )
        )
        for line in order.lines:
            if line.sku and line.open_quantity:
                for sku, per in om.config.config.bundles.get(line.sku, {line.sku: 1}).items():
                    erp.ship(sku, line.open_quantity * per, "WH1")
        shipped.append(f"{order.channel}:{order.number}")
    return shipped
