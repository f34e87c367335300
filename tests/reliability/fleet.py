"""A shop under load: simulated channels on real ports, shoppers in threads, worker processes
sharing one PostgreSQL store, and the books checked afterwards."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from omnisync import AsyncOmnisync
from omnisync.config import load_config
from omnisync.sim import SimApp, SimMarket, SimWarehouse, SoldOut, serve

CHANNELS = ("shop", "market", "pos")

CONFIG = """\
[store]
url = "{store}"

[engine]
lock_ttl_seconds = 5
overlap_seconds = 30

[worker]
schedule = "* * * * * *"
concurrency = 3
heartbeat_seconds = 0.5
stalled_seconds = 3
poll_seconds = 0.2

[locations.shelf]

[channels.erp]
adapter = "sim-inventory"
enable = ["push_documents", "push_customers"]
retry = {{ initial_wait = 0.05, max_wait = 0.5, jitter = 0.05, max_attempts = 8 }}
settings = {{ base_url = "{erp}", timeout = 2, rate_limit = {{ rate = 1000, burst = 1000 }} }}
{channels}
"""

CHANNEL = """
[channels.{name}]
adapter = "sim"
retry = {{ initial_wait = 0.05, max_wait = 0.5, jitter = 0.05, max_attempts = 8 }}
settings = {{ base_url = "{url}", timeout = 2, rate_limit = {{ rate = 1000, burst = 1000 }} }}
"""


@dataclass
class Shop:
    """The simulated systems, each on a loopback port, and the configuration that reaches
    them from other processes."""

    directory: Path
    store_url: str
    stock: dict[str, int]
    erp: SimWarehouse = field(default_factory=lambda: SimWarehouse("erp"))
    markets: dict[str, SimMarket] = field(default_factory=dict)
    servers: list[ThreadingHTTPServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in CHANNELS:
            market = SimMarket(name)
            for sku in self.stock:
                market.add_product(sku)
            self.markets[name] = market
        urls = {name: self._serve(app) for name, app in self.apps().items()}
        channels = "".join(CHANNEL.format(name=name, url=urls[name]) for name in CHANNELS)
        self.config = self.directory / "omnisync.toml"
        self.config.write_text(
            CONFIG.format(store=self.store_url, erp=urls["erp"], channels=channels)
        )

    def apps(self) -> dict[str, SimApp]:
        return {"erp": self.erp, **self.markets}

    def _serve(self, app: SimApp) -> str:
        server = serve(app)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def client(self) -> AsyncOmnisync:
        return AsyncOmnisync(load_config(self.config))

    def run(self, work: Any) -> Any:
        """Run ``work(client)`` with a fresh client of the shop's store."""

        async def go() -> Any:
            async with self.client() as client:
                return await work(client)

        return asyncio.run(go())

    def open_stock(self) -> None:
        async def set_all(client: AsyncOmnisync) -> None:
            for sku, quantity in self.stock.items():
                await client.set_stock(sku, quantity, "shelf")

        self.run(set_all)


class Fleet:
    """``omnisync worker`` processes on the shop's configuration."""

    def __init__(self, shop: Shop, count: int) -> None:
        self.shop = shop
        self.started = 0
        self._logs: list[Any] = []
        self.processes: list[subprocess.Popen[bytes]] = [self._start() for _ in range(count)]

    def _start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.shop.directory / f"worker-{self.started}.log").open("wb")
        self._logs.append(log)
        command = [sys.executable, "-m", "omnisync.cli", "--config", str(self.shop.config)]
        command += ["--log-level", "INFO", "worker", "--name", f"w{self.started}"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a worker wherever it is, and start another in its place."""
        victim = rng.randrange(len(self.processes))
        self.processes[victim].send_signal(signal.SIGKILL)
        self.processes[victim].wait()
        self.processes[victim] = self._start()

    def revive(self) -> None:
        """Start a worker in the place of each that exited, as a supervisor would."""
        for index, process in enumerate(self.processes):
            if process.poll() is not None:
                self.processes[index] = self._start()

    def stop(self) -> None:
        """SIGTERM every worker: each finishes its running jobs, then exits."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.shop.directory.glob("*.log"))
        )


class Shoppers:
    """Threads buying one unit at a time on every channel, and merchants shipping some."""

    def __init__(self, shop: Shop, seed: int = 7) -> None:
        self.shop = shop
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.bought = Counter[str]()
        self.sold_out = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._shop_on, args=(name,), daemon=True) for name in CHANNELS
        ]

    def _shop_on(self, name: str) -> None:
        market = self.shop.markets[name]
        while not self._stop.is_set():
            with self.lock:
                sku = self.rng.choice(list(self.shop.stock))
                ship = self.rng.random() < 0.3
            try:
                placed = market.buy({sku: 1})
            except SoldOut:
                with self.lock:
                    self.sold_out += 1
            else:
                with self.lock:
                    self.bought[sku] += 1
                if ship:
                    market.ship(placed["id"])
            time.sleep(0.05)

    @contextmanager
    def shopping(self) -> Iterator[Shoppers]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()


def converge(shop: Shop, timeout: float = 60.0) -> dict[str, dict[str, int]]:
    """Wait until every channel shows what omnisync computes for it; returns that table."""
    deadline = time.monotonic() + timeout
    while True:
        table: dict[str, dict[str, int]] = shop.run(lambda client: client.availability_table())
        shown = {
            sku: {name: market.shown(sku) for name, market in shop.markets.items()}
            for sku in shop.stock
        }
        imported = shop.run(lambda client: client.orders(limit=10_000))
        placed = sum(len(market.orders) for market in shop.markets.values())
        exported = {sale["reference"] for sale in shop.erp.sales.values()}
        missing = {s.order.reference for s in imported if s.hold_reason is None} - exported
        if shown == table and len(imported) == placed and not missing:
            return table
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no convergence: shown {shown}, computed {table}, {len(imported)} of "
                f"{placed} orders imported, {len(missing)} not in the ERP"
            )
        time.sleep(0.5)


def check_books(shop: Shop) -> dict[str, Any]:
    """The invariants that say nothing was lost or sold twice; returns a summary."""

    async def read(client: AsyncOmnisync) -> dict[str, Any]:
        cells = await client.stock_levels(list(shop.stock))
        stored = await client.orders(limit=10_000)
        incidents = await client.incidents(limit=100_000)
        return {"cells": cells, "orders": stored, "incidents": incidents}

    books = shop.run(read)
    sold: Counter[str] = Counter()
    shipped: Counter[str] = Counter()
    for market in shop.markets.values():
        for order in market.orders.values():
            for line in order["lines"]:
                sold[line["sku"]] += line["quantity"]
                shipped[line["sku"]] += line["fulfilled"]
    keys = [(s.order.channel, s.order.external_id) for s in books["orders"]]
    assert len(keys) == len(set(keys)), "an order was stored twice"
    placed = {(name, oid) for name, m in shop.markets.items() for oid in m.orders}
    assert set(keys) == placed, "orders were lost or invented"
    shortfall: Counter[str] = Counter()
    for incident in books["incidents"]:
        shortfall[incident.sku] += incident.shortfall
    for sku, initial in shop.stock.items():
        cell = books["cells"][sku]["shelf"]
        # Shipped units left the shelf; open ones are held; nothing else moved.
        assert cell.on_hand + shipped[sku] == initial, (sku, cell, shipped[sku])
        assert cell.held == sold[sku] - shipped[sku], (sku, cell, sold[sku])
        assert cell.free + sold[sku] == initial, (sku, cell)
        # Every unit sold beyond the shelf is an oversell the engine recorded.
        assert shortfall[sku] == max(0, sold[sku] - initial), (sku, shortfall, sold)
    references = [sale["reference"] for sale in shop.erp.sales.values()]
    assert len(references) == len(set(references)), "a sale reached the ERP twice"
    # Orders held for an oversell wait for an operator before they reach the books (some
    # reached them before a later import put them on hold).
    released = {s.order.reference for s in books["orders"] if s.hold_reason is None}
    assert released <= set(references), "a sale never reached the ERP"
    assert set(references) <= {s.order.reference for s in books["orders"]}
    return {
        "orders": len(placed),
        "units_sold": sum(sold.values()),
        "oversold": sum(shortfall.values()),
        "incidents": len(books["incidents"]),
    }


class Chaos:
    """Faults on every channel at random moments: 429 storms, 5xx bursts, timeouts,
    connection resets, answers lost after the work was done, truncated JSON, and stock
    writes that find the quantity changed under them."""

    FAULTS = ("storm", "burst", "timeout", "reset", "drop", "truncate", "stale")

    def __init__(self, shop: Shop, seed: int = 11) -> None:
        self.shop = shop
        self.rng = random.Random(seed)
        self.sprung: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        apps = list(self.shop.apps().values())
        while not self._stop.wait(0.15):
            app = self.rng.choice(apps)
            fault = self.rng.choice(self.FAULTS)
            self.sprung[fault] += 1
            if fault == "storm":
                app.faults.inject(429, times=6)
            elif fault == "burst":
                app.faults.inject(500, 502, 503, 504)
            elif fault == "timeout":
                app.faults.latency = 2.5  # beyond the adapters' 2 s timeout
                self._stop.wait(0.3)
                app.faults.latency = 0.0
            elif fault == "stale":
                app.faults.arm("stale")
            else:
                app.faults.inject(fault)

    @contextmanager
    def running(self) -> Iterator[Chaos]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            for app in self.shop.apps().values():
                app.faults.queued.clear()
                app.faults.armed.clear()
                app.faults.latency = 0.0
