"""Instructions the import of one order costs, counted by Valgrind: a figure that, unlike
CPU time, does not move with the machine's speed, so two versions of omnisync compare on a
machine whose CPU time moves by a fifth from run to run. Not a scenario: the work the ingest
scenario's CPU figure measures, less the HTTP, beside the same scenario's minimal work.

    .venv/bin/python -m bench.instructions [ORDERS]

The export comes from the Shopify simulator (``ORDERS`` orders, default 1,000, of 1 to 5
lines, plus `_BASE` more). Each work below runs on its first `_BASE` orders, then on all of
it, in a fresh process each under ``valgrind --tool=cachegrind``; what the larger run counted
over the smaller, divided by ``ORDERS``, is printed: start-up counts alike in both and drops
out.

- ``omnisync``: the export read a page at a time, each page mapped by the Shopify adapter and
  imported into a fresh SQLite store as a sync does it (`apply_orders`), start-up made frozen
  first (`freeze_started`);
- ``mapped``: the same, up to the mapping: the export read and each order mapped into the
  common model, nothing stored;
- ``minimal``: the ingest scenario's limit (b), parsing the export and inserting its orders
  and lines with ``sqlite3.executemany``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from bench._harness import served
from bench._omnisync import configured, started, stock_everything
from bench._shops import TOKEN, sku_names
from bench.ingest import _bare_client, _parse_and_insert
from omnisync._heap import freeze_started
from omnisync._time import utcnow
from omnisync.engine._pull import apply_orders
from omnisync.engine._report import ChannelReport
from omnisync.models import Order
from omnisync_shopify._adapter import BULK_PAGE
from omnisync_shopify._bulkfile import BulkFile
from omnisync_shopify._mapping import map_graphql_order

_BASE = 200
_SKUS = 500
_COUNTED = re.compile(r"I\s+refs:\s+([\d,]+)")


class InstructionsError(RuntimeError):
    """Valgrind is missing, or did not count."""


WORKS = ("omnisync", "mapped", "minimal")


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
        each = {}
        for work in WORKS:
            base = counted(valgrind, export, _BASE, work)
            whole = counted(valgrind, export, _BASE + orders, work)
            each[work] = (whole - base) / orders
    minimal = each["minimal"]
    for work, count in each.items():
        print(f"{work}: {count:,.0f} instructions an order, {count / minimal:.2f}× the minimal")


def counted(valgrind: str, export: Path, orders: int, work: str = "omnisync") -> int:
    """Instructions a fresh process doing ``work`` (one of `WORKS`) on the first ``orders``
    orders of ``export`` ran."""
    command = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command += [sys.executable, "-m", "bench.instructions", "--run", work, str(export), str(orders)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    found = _COUNTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise InstructionsError(f"valgrind did not count {work}:\n{done.stderr[-2000:]}")
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


async def imported(export: bytes, folder: Path) -> int:
    """Import the orders of the bulk export ``export`` into a fresh store in ``folder``; how
    many were imported."""
    channel = (
        f'adapter = "shopify"\n'
        f'settings = {{ base_url = "http://shop.invalid", access_token = "{TOKEN}" }}'
    )
    async with started(configured(folder, {"shopify": channel})) as om:
        stock_everything(om, sku_names(_SKUS), 10**6)
        ctx = om.engine.ctx
        shopify = ctx.channels["shopify"]
        report = ChannelReport("shopify", "shopify")
        for page in mapped_pages(export):
            with om.store.transaction() as tx:
                apply_orders(tx, ctx, shopify, page, utcnow(), report, [])
    return report.counts["orders_imported"]


def mapped_pages(export: bytes) -> Iterator[list[Order]]:
    """The orders of the bulk export ``export``, read and mapped a page at a time as the
    Shopify adapter reads them."""
    with BulkFile() as bulk:
        bulk.file.write(export)
        for payloads, _ in bulk.orders(BULK_PAGE):
            yield [map_graphql_order(payload, "shopify") for payload in payloads]


def run(work: str, export: Path, orders: int) -> int:
    """Do ``work`` on the first ``orders`` orders of ``export``; how many orders it took."""
    content = first_orders(export.read_bytes(), orders)
    with tempfile.TemporaryDirectory() as folder:
        if work == "omnisync":
            return asyncio.run(imported(content, Path(folder)))
        if work == "mapped":
            freeze_started()  # as the import is
            return sum(len(page) for page in mapped_pages(content))
        if work == "minimal":
            database = Path(folder) / "minimal.db"
            _parse_and_insert(content.decode(), database)
            with closing(sqlite3.connect(database)) as db:
                return int(db.execute("SELECT count(*) FROM orders").fetchone()[0])
    raise ValueError(f"no work {work!r}: one of {', '.join(WORKS)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        print(run(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000)
