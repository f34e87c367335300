"""Reading a Shopify bulk export: put together as it is read, against through the on-disk
index every export went through before (the way an export whose items do not all follow
their order still goes). Not a scenario: one step of the ingest, which the ingest scenario
measures whole.

    .venv/bin/python -m bench.bulkfile [ORDERS]

The export comes from the Shopify simulator (``ORDERS`` orders, default 5,000, of 1 to 5
lines). Each way reads it five times, taking turns to go first, with what start-up made
frozen as in a sync (`freeze_started`); the median wall time per order of each is printed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from bench._harness import served
from bench.ingest import _bare_client
from omnisync._heap import freeze_started
from omnisync_shopify._bulkfile import BulkFile


def main(orders: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "export.jsonl"
        with served("bench._shops:shopify", 0.0, skus=500, orders=orders) as shop:
            shop.set("storage_url", f"http://localhost:{shop.port}")
            _bare_client(shop.url, str(export))
        content = export.read_bytes()
    freeze_started()
    times: dict[str, list[float]] = {"as read": [], "indexed": []}
    for turn in range(5):
        for way in sorted(times, reverse=turn % 2 == 1):
            times[way].append(_read(content, indexed=way == "indexed"))
    for way, taken in times.items():
        print(f"{way}: {median(taken):.0f} µs an order (of {', '.join(f'{t:.0f}' for t in taken)})")
    print(f"as read / indexed: {median(times['as read']) / median(times['indexed']):.2f}")


def _read(content: bytes, *, indexed: bool) -> float:
    with BulkFile() as bulk:
        bulk.file.write(content)
        if indexed:
            bulk._grouped = lambda: False  # type: ignore[method-assign]
        start, read = time.perf_counter(), 0
        for orders, rejects in bulk.orders(250):
            read += len(orders) + len(rejects)
        return (time.perf_counter() - start) / read * 1e6


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000)
