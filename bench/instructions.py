"""Instructions the import of one order costs, counted by Valgrind: a figure that, unlike
CPU time, does not move with the machine's speed, so two versions of omnisync compare on a
machine whose CPU time moves by a fifth from run to run. Not a scenario: the work the ingest
scenario's CPU figure measures, less the HTTP.

    .venv/bin/python -m bench.instructions [ORDERS]

The export comes from the Shopify simulator (``ORDERS`` orders, default 1,000, of 1 to 5
lines, plus `_BASE` more). Its first `_BASE` orders, then all of it, are imported in a fresh
process each under ``valgrind --tool=cachegrind``: the export read a page at a time, each
page mapped by the Shopify adapter and imported into a fresh SQLite store as a sync does it
(`apply_orders`), start-up made frozen first (`freeze_started`). What the larger import
counted over the smaller, divided by ``ORDERS``, is printed: start-up and the store's
creation count alike in both and drop out.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._harness import served
from bench._omnisync import configured, started, stock_everything
from bench._shops import TOKEN, sku_names
from bench.ingest import _bare_client
from omnisync._time import utcnow
from omnisync.engine._pull import apply_orders
from omnisync.engine._report import ChannelReport
from omnisync_shopify._bulkfile import BulkFile
from omnisync_shopify._mapping import map_graphql_order

_BASE = 200
_SKUS = 500
_PAGE = 250  # as the Shopify adapter reads an export
_COUNTED = re.compile(r"I\s+refs:\s+([\d,]+)")


class InstructionsError(RuntimeError):
    """Valgrind is missing, or did not count."""


def main(orders: int) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise InstructionsError(
            "valgrind is not installed: install it (Debian and Ubuntu: apt-get install valgrind)"
        )
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "export.jsonl"
        with served("bench._shops:shopify", 0.0, skus=_SKUS, orders=_BASE + orders) as shop:
            shop.set("storage_url", f"http://localhost:{shop.port}")
            _bare_client(shop.url, str(export))
        base = counted(valgrind, export, _BASE)
        whole = counted(valgrind, export, _BASE + orders)
    print(f"{_BASE:,} orders: {base:,} instructions; {_BASE + orders:,} orders: {whole:,}")
    print(f"instructions an order: {(whole - base) / orders:,.0f}")


def counted(valgrind: str, export: Path, orders: int) -> int:
    """Instructions a fresh process importing the first ``orders`` orders of ``export`` ran."""
    command = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command += [sys.executable, "-m", "bench.instructions", "--import", str(export), str(orders)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = _COUNTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise InstructionsError(f"valgrind did not count the import:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def first_orders(content: bytes, orders: int) -> bytes:
    """The lines of a bulk export (each item after its order) up to its ``orders``-th order."""
    kept: list[bytes] = []
    seen = 0
    for line in content.splitlines(keepends=True):
        if b'"__parentId"' not in line:
            seen += 1
            if seen > orders:
                break
        kept.append(line)
    return b"".join(kept)


async def imported(export: bytes, orders: int, folder: Path) -> int:
    """Import the first ``orders`` orders of the bulk export ``export`` into a fresh store in
    ``folder``; how many were imported."""
    channel = (
        f'adapter = "shopify"\n'
        f'settings = {{ base_url = "http://shop.invalid", access_token = "{TOKEN}" }}'
    )
    async with started(configured(folder, {"shopify": channel})) as om:
        stock_everything(om, sku_names(_SKUS), 10**6)
        ctx = om.engine.ctx
        shopify = ctx.channels["shopify"]
        report = ChannelReport("shopify", "shopify")
        with BulkFile() as bulk:
            bulk.file.write(first_orders(export, orders))
            for payloads, _ in bulk.orders(_PAGE):
                page = [map_graphql_order(payload, "shopify") for payload in payloads]
                with om.store.transaction() as tx:
                    apply_orders(tx, ctx, shopify, page, utcnow(), report, [])
    return report.counts["orders_imported"]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--import"]:
        with tempfile.TemporaryDirectory() as store:
            content = Path(sys.argv[2]).read_bytes()
            print(asyncio.run(imported(content, int(sys.argv[3]), Path(store))))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000)
