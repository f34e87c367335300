"""Scenario 3, order to every channel: how long after an order arrives on one channel every
other channel shows the new quantity — the window in which the same unit can be sold twice.

``channels`` simulated marketplaces each list ``skus`` SKUs, behind a rate limit of ``rate``
requests a second (``burst`` at once) and ``latency`` a request; ``orders`` orders of 1 to 3
SKUs arrive across them, ``per_second`` on average, at random moments. Two ways omnisync can
learn of them, each run on its own:

- ``webhooks``: each channel posts its order webhooks to a receiver that hands them to
  `AsyncOmnisync.handle_webhook`, while a loop pushes what changed;
- ``polling``: a loop syncs (pull every channel's new orders, push what changed), as
  `omnisync sync` run back to back or a worker would.

The floor: an order must be read (one request) and the new quantity sent (another), so no
tool closes the window in less than two latencies; the goal is a p99 within one rate-limit
interval (1 / ``rate``) of that.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench._harness import Figure, Remote, ScenarioResult, beside, isolated, served, timed
from bench._omnisync import LOCATION, configured, started
from bench._shops import TOKEN, shelf, sku_names
from omnisync._time import utcnow
from omnisync.adapters import Capability
from omnisync.engine._push import plan_fingerprint
from omnisync.errors import OmnisyncError
from omnisync.store import _schema as t

__all__ = ["DEFAULTS", "SMALL", "run"]

DEFAULTS = {
    "skus": 100_000,
    "channels": 5,
    "orders": 2_000,
    "per_second": 20.0,
    "latency": 0.020,
    "rate": 10.0,
    "burst": 10.0,
}
SMALL = {**DEFAULTS, "skus": 10_000, "orders": 300}
SETTLE = 5.0
"""Seconds the loop runs on after the last order, for the last pushes to land."""


def run(
    skus: int,
    channels: int,
    orders: int,
    per_second: float,
    latency: float,
    rate: float,
    burst: float,
) -> ScenarioResult:
    result = ScenarioResult(
        "fanout",
        "3. Order to every channel (SQLite)",
        {
            "skus": skus,
            "channels": channels,
            "orders": orders,
            "orders/s": per_second,
            "latency_ms": latency * 1000,
            "rate": rate,
        },
    )
    floor, interval = 2 * latency, 1 / rate
    for mode in ("webhooks", "polling"):
        windows, ours = _measure(mode, skus, channels, orders, per_second, latency, rate, burst)
        result.add(
            Figure(f"{mode}: window p50", _percentile(windows, 50) * 1000, "ms"),
            Figure(
                f"{mode}: window p99",
                _percentile(windows, 99) * 1000,
                "ms",
                (floor + interval) * 1000,
                "floor + 1 rate-limit interval",
                goal=1.0,
            ),
            Figure(f"{mode}: window max", windows[-1] * 1000, "ms"),
            Figure(f"{mode}: CPU per order", ours["cpu"] / orders * 1000, "ms"),
            Figure(f"{mode}: 429s", ours["limited"], ""),
        )
        result.notes.append(
            f"{mode}: {len(windows):,} orders measured; {ours['syncs']:,} pushes or syncs, "
            f"one every {ours['wall'] / max(ours['syncs'], 1) * 1000:.0f} ms; "
            f"{ours['errors']} webhook errors; peak memory {ours['rss_mb']:.0f} MiB"
        )
    result.notes.append(
        f"floor: {floor * 1000:.0f} ms (an order read, a quantity sent); rate-limit interval "
        f"{interval * 1000:.0f} ms"
    )
    return result


def _measure(
    mode: str,
    skus: int,
    channels: int,
    orders: int,
    per_second: float,
    latency: float,
    rate: float,
    burst: float,
) -> tuple[list[float], dict[str, Any]]:
    """One run: fresh channels and store, the stream, and each order's window, sorted."""
    names = [f"m{number + 1}" for number in range(channels)]
    moments = _moments(orders, per_second)
    duration = moments[-1] + SETTLE
    hook_port = _free_port() if mode == "webhooks" else None
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        shops = [
            stack.enter_context(
                served("bench._shops:market", latency, name=name, skus=skus, rate=rate, burst=burst)
            )
            for name in names
        ]
        urls = [shop.url for shop in shops]
        if hook_port is not None:
            for name, shop in zip(names, shops, strict=True):
                shop.set("webhook_url", f"http://127.0.0.1:{hook_port}/hooks/{name}")
        isolated(_load, folder, urls, skus, rate, burst)
        start = time.time() + 3.0  # the loop is running when the first order arrives
        with beside(_loop, folder, urls, rate, burst, start + duration, hook_port) as loop:
            _stream(shops, skus, [start + moment for moment in moments])
            ours = loop.result()
        return sorted(_windows(shops)), ours


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _channels(urls: list[str], rate: float, burst: float) -> dict[str, str]:
    return {
        f"m{number + 1}": (
            'adapter = "sim"\nenable = ["pull_orders", "push_stock", "webhooks"]\n'
            f'settings = {{ base_url = "{url}", token = "{TOKEN}", '
            f"rate_limit = {{ rate = {rate}, burst = {burst} }} }}"
        )
        for number, url in enumerate(urls)
    }


def _omnisync(folder: str, urls: list[str], rate: float, burst: float) -> Any:
    # A short overlap: the loop polls every fraction of a second, and each poll re-reads the
    # orders changed within the overlap.
    extra = "\n[engine]\noverlap_seconds = 1\n"
    return configured(Path(folder) / "omnisync", _channels(urls, rate, burst), extra=extra)


def _load(folder: str, urls: list[str], skus: int, rate: float, burst: float) -> dict[str, Any]:
    """Set-up: the shelf counted, every channel acknowledging what it shows, as after a
    complete push, and each channel's order cursor at now."""
    om = _omnisync(folder, urls, rate, burst)
    ctx = om.engine.ctx
    now = utcnow()
    stock = shelf(skus)
    with om.store.transaction() as tx:
        tx.conn.execute(t.skus.insert(), [{"sku": s, "created_at": now} for s in stock])
        tx.conn.execute(
            t.stock_levels.insert(),
            [
                {"sku": s, "location": LOCATION, "on_hand": q, "as_of": now, "source": "bench"}
                for s, q in stock.items()
            ],
        )
        for channel in ctx.channels.values():
            tx.acknowledge(channel.name, stock, now)
            tx.set_push_plan(channel.name, plan_fingerprint(ctx, channel), now, complete=True)
            tx.set_cursor(channel.name, "orders", now, now)
    om.store.close()
    return {}


def _loop(
    folder: str, urls: list[str], rate: float, burst: float, until: float, hook_port: int | None
) -> dict[str, Any]:
    return asyncio.run(_run_loop(folder, urls, rate, burst, until, hook_port))


async def _run_loop(
    folder: str, urls: list[str], rate: float, burst: float, until: float, hook_port: int | None
) -> dict[str, Any]:
    """Until ``until``: whole syncs back to back when polling. With a webhook receiver on
    ``hook_port``, webhooks are applied as they come, and each channel has a loop of its own
    that pushes as soon as a webhook changed something (its rate limit permitting), as one
    worker job per channel would."""
    syncs, errors, limited = 0, 0, 0
    async with started(_omnisync(folder, urls, rate, burst)) as om:
        names = list(om.config.channels)
        inbox: asyncio.Queue[tuple[str, dict[str, str], bytes]] = asyncio.Queue()
        changed = {name: asyncio.Event() for name in names}

        async def apply_webhooks() -> None:
            nonlocal errors
            while True:
                channel, headers, body = await inbox.get()
                try:
                    await om.handle_webhook(channel, headers, body)
                except OmnisyncError:
                    errors += 1
                for event in changed.values():
                    event.set()

        async def push_loop(name: str) -> None:
            nonlocal syncs, limited
            while time.time() < until:
                try:
                    await asyncio.wait_for(changed[name].wait(), timeout=0.5)
                except TimeoutError:
                    continue
                changed[name].clear()
                limited += _check(await om.engine.sync([name], only={Capability.PUSH_STOCK}))
                syncs += 1

        with timed() as clock:
            if hook_port is None:
                while time.time() < until:
                    limited += _check(await om.sync())
                    syncs += 1
            else:
                with _receiver(hook_port, asyncio.get_running_loop(), inbox):
                    applying = asyncio.create_task(apply_webhooks())
                    await asyncio.gather(*(push_loop(name) for name in names))
                    applying.cancel()
    return {
        "cpu": clock.cpu,
        "wall": clock.wall,
        "syncs": syncs,
        "errors": errors,
        "limited": limited,
    }


def _check(report: Any) -> int:
    """Raise if a channel failed; returns the 429s the sync met."""
    failed = {name: c.errors for name, c in report.channels.items() if c.errors}
    if failed:
        raise RuntimeError(f"a sync failed: {failed}")
    return sum(c.counts["http_rate_limited"] for c in report.channels.values())


@contextmanager
def _receiver(
    port: int,
    loop: asyncio.AbstractEventLoop,
    inbox: asyncio.Queue[tuple[str, dict[str, str], bytes]],
) -> Iterator[None]:
    """An HTTP endpoint on ``port`` taking ``POST /hooks/CHANNEL`` into ``inbox``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see serve()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            channel = self.path.rsplit("/", 1)[-1]
            delivery = (channel, dict(self.headers.items()), body)
            loop.call_soon_threadsafe(inbox.put_nowait, delivery)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _moments(orders: int, per_second: float) -> list[float]:
    """When each order arrives, in seconds from the first: ``per_second`` on average, each at
    a random moment (a Poisson stream, as shoppers come). Evenly spaced orders would keep one
    phase to the channels' rate-limit intervals for a whole run, and each run would measure
    the window at whichever phase it happened to start with."""
    rng = random.Random(5)
    moments = [0.0]
    for _ in range(orders - 1):
        moments.append(moments[-1] + rng.expovariate(per_second))
    return moments


def _stream(shops: list[Remote], skus: int, moments: list[float]) -> None:
    """An order of 1 to 3 SKUs on a random channel at each of ``moments`` (clock times)."""
    rng = random.Random(11)
    names = sku_names(skus)
    for moment in moments:
        time.sleep(max(0.0, moment - time.time()))
        items = dict.fromkeys(rng.sample(names, rng.randint(1, 3)), 1)
        rng.choice(shops).call("arrive", items)


def _windows(shops: list[Remote]) -> list[float]:
    """For each order: the time until every other channel had its SKUs' quantities set."""
    updates = [shop.call("updates") for shop in shops]
    windows = []
    for index, shop in enumerate(shops):
        for arrived, skus in shop.call("arrivals"):
            last = 0.0
            for other, pushed in enumerate(updates):
                if other == index:
                    continue
                for sku in skus:
                    after = [moment for moment in pushed.get(sku, ()) if moment >= arrived]
                    last = max(last, (min(after) if after else math.inf) - arrived)
            windows.append(last)
    return windows


def _percentile(values: list[float], percent: float) -> float:
    """The ``percent`` th percentile of sorted ``values`` (nearest rank)."""
    rank = max(1, math.ceil(percent / 100 * len(values)))
    return values[rank - 1]
