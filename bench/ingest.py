"""Scenario 1, order ingest: a shop's whole order history imported by a first sync.

The Shopify simulator serves ``orders`` orders of 1 to 5 lines over loopback HTTP, with
``latency`` added to every request and the Standard plan's cost budget. A first sync reads
them by bulk export (shopify.dev/docs/api/usage/bulk-operations/queries), as the adapter
does for any first sync: five exports at once, each of a span of creation time, read back
oldest first.

Limits:

(a) the channel's floor: a bare client making the same requests (start the exports, poll
    each until it completes, download its file), parsing nothing: what any tool must wait
    for, the simulator's own work and the latency included;
(b) the minimal work: parse the same JSONL and insert the orders and their lines with
    ``sqlite3.executemany``, in one transaction.

Beside them, for information: (c) parse the same JSONL and insert, with
``sqlite3.executemany``, the very rows omnisync's import stored (orders, reservations,
units held, ledger entries, events, pending pushes, its cursor) into tables of omnisync's own
schema: what storing omnisync's records costs without omnisync, so the CPU left over it is
omnisync's own work (building the rows: mapping, validating, reserving).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench._harness import Figure, ScenarioResult, isolated, served, timed
from bench._omnisync import configured, started, stock_everything
from bench._shops import TOKEN, sku_names
from omnisync.adapters import Capability
from omnisync_shopify._adapter import ShopifySettings
from omnisync_shopify._exports import creation_spans, span_search
from omnisync_shopify._queries import BULK_POLL, BULK_RUN, ORDER_SPAN, bulk_orders

__all__ = ["DEFAULTS", "SMALL", "run"]

DEFAULTS = {"orders": 20_000, "skus": 500, "latency": 0.020}
SMALL = {"orders": 2_000, "skus": 200, "latency": 0.020}
API = "/admin/api/2026-10/graphql.json"


def run(orders: int, skus: int, latency: float) -> ScenarioResult:
    result = ScenarioResult(
        "ingest",
        "1. Order ingest (Shopify, first sync by bulk export)",
        {"orders": orders, "skus": skus, "latency_ms": latency * 1000},
    )
    with (
        tempfile.TemporaryDirectory() as folder,
        served("bench._shops:shopify", latency, skus=skus, orders=orders) as shop,
    ):
        shop.set("storage_url", f"http://localhost:{shop.port}")
        floor = isolated(_bare_client, shop.url, str(Path(folder) / "export.jsonl"))
        minimal = isolated(_minimal_work, str(Path(folder) / "export.jsonl"), folder)
        ours = isolated(_omnisync, shop.url, skus, folder)
        stored = isolated(_stored_rows_work, str(Path(folder) / "export.jsonl"), folder)
    imported = ours["imported"]
    if imported != orders:
        result.notes.append(f"omnisync imported {imported} of {orders} orders")
    result.add(
        Figure("wall time", ours["wall"], "s", floor["wall"], "channel floor (a)", goal=1.2),
        Figure("orders/s", imported / ours["wall"], "orders/s"),
        Figure(
            "CPU per order",
            ours["cpu"] / orders * 1e6,
            "µs",
            minimal["cpu"] / orders * 1e6,
            "parse + executemany (b)",
            goal=3.0,
            guard=True,
        ),
        Figure(
            "  the same CPU",
            ours["cpu"] / orders * 1e6,
            "µs",
            stored["cpu"] / orders * 1e6,
            "parse + omnisync's own rows, executemany (c)",
        ),
        Figure("peak memory", ours["rss_mb"], "MiB"),
        Figure("requests", ours["requests"], "", floor["requests"], "channel floor (a)"),
    )
    result.notes.append(
        f"floor (a): {floor['requests']} requests, {floor['bytes'] / 1e6:.1f} MB of JSONL in "
        f"{floor['wall']:.2f} s; minimal work (b): {minimal['cpu']:.2f} s CPU; omnisync's rows "
        f"(c): {stored['rows']:,} rows of {', '.join(stored['tables'])}, {stored['cpu']:.2f} s CPU"
    )
    return result


def _bare_client(url: str, output: str) -> dict[str, Any]:
    """The channel's floor: the export's requests and nothing else. Those the adapter makes:
    the oldest and newest orders' times, an export per span of creation time, started at
    once, each polled until it completes and downloaded, oldest first."""
    headers = {"X-Shopify-Access-Token": TOKEN}
    parts = ShopifySettings.model_fields["bulk_parts"].default
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client, timed() as time:

        def data(query: str, variables: dict[str, Any]) -> Any:
            return client.post(API, json={"query": query, "variables": variables}).json()["data"]

        ends = data(ORDER_SPAN, {})
        oldest, newest = (
            datetime.fromisoformat(ends[end]["nodes"][0]["createdAt"])
            for end in ("oldest", "newest")
        )
        operations = [
            data(BULK_RUN, {"query": bulk_orders(span_search(span))})["bulkOperationRunQuery"][
                "bulkOperation"
            ]
            for span in creation_spans(oldest, newest, parts)
        ]
        requests = 1 + len(operations)
        contents = []
        for operation in operations:
            while operation["status"] in ("CREATED", "RUNNING"):
                operation = data(BULK_POLL, {"id": operation["id"]})["node"]
                requests += 1
            contents.append(httpx.get(operation["url"], timeout=600).content)
            requests += 1
    content = b"".join(contents)
    Path(output).write_bytes(content)
    return {"wall": time.wall, "requests": requests, "bytes": len(content)}


def _minimal_work(export: str, folder: str) -> dict[str, Any]:
    """Parse the export and insert its orders and lines: the least any tool must do. Done
    three times (into fresh databases) and the fastest kept: the work is short enough for a
    hiccup of the machine to show, and the limit should not move with it."""
    text = Path(export).read_text()
    runs = [_parse_and_insert(text, Path(folder) / f"minimal-{n}.db") for n in range(3)]
    return min(runs, key=lambda run: run["cpu"])


def _parse_and_insert(text: str, path: Path) -> dict[str, Any]:
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE orders (id TEXT PRIMARY KEY, name TEXT, created TEXT, updated TEXT, "
        "currency TEXT, total TEXT, payload TEXT)"
    )
    db.execute("CREATE TABLE lines (order_id TEXT, sku TEXT, quantity INTEGER, price TEXT)")
    with timed() as time:
        orders, lines = [], []
        for row in text.splitlines():
            record = json.loads(row)
            if "__parentId" not in record:
                total = record["totalPriceSet"]["shopMoney"]
                orders.append(
                    (
                        record["id"],
                        record["name"],
                        record["createdAt"],
                        record["updatedAt"],
                        total["currencyCode"],
                        total["amount"],
                        row,
                    )
                )
            elif "sku" in record:
                price = record["originalUnitPriceSet"]["shopMoney"]["amount"]
                lines.append((record["__parentId"], record["sku"], record["quantity"], price))
        with db:
            db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?)", orders)
            db.executemany("INSERT INTO lines VALUES (?, ?, ?, ?)", lines)
    db.close()
    return {"cpu": time.cpu, "wall": time.wall}


def _stored_rows_work(export: str, folder: str) -> dict[str, Any]:
    """(c): parse the export and insert the rows omnisync's import stored (those its store
    holds after the sync and did not before it), ready-made, into tables made from the
    store's own schema, with the store's journal settings. A lower bound of storing them:
    each row is inserted once, as it ended, with no reads and no foreign keys checked (the
    rows they point at are not copied). The fastest of three, as (b)."""
    store = Path(folder) / "omnisync"
    rows, schema = _rows_stored(store / "before-import.db", store / "omnisync.db")
    text = Path(export).read_text()
    runs = [_parse_and_store(text, rows, schema, Path(folder) / f"stored-{n}.db") for n in range(3)]
    fastest = min(runs, key=lambda run: run["cpu"])
    return {**fastest, "rows": sum(map(len, rows.values())), "tables": sorted(rows)}


def _rows_stored(before: Path, after: Path) -> tuple[dict[str, list[tuple[Any, ...]]], list[str]]:
    """Each table's rows in ``after`` that are not in ``before``, and the statements that
    create those tables and their indexes."""
    with closing(sqlite3.connect(after)) as db:
        db.execute("ATTACH DATABASE ? AS before", (str(before),))
        tables = {
            schema: {
                name
                for (name,) in db.execute(
                    f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'"
                )
                if not name.startswith("sqlite_")
            }
            for schema in ("main", "before")
        }
        rows = {}
        for table in sorted(tables["main"]):
            query = f'SELECT * FROM main."{table}"'
            if table in tables["before"]:  # else the import made it: every row of it is new
                query += f' EXCEPT SELECT * FROM before."{table}"'
            found = db.execute(query).fetchall()
            if found:
                rows[table] = found
        marks = ", ".join("?" * len(rows))
        schema = [
            sql
            for (sql,) in db.execute(
                f"SELECT sql FROM main.sqlite_master WHERE tbl_name IN ({marks}) "
                "AND type IN ('table', 'index') AND sql IS NOT NULL "
                "ORDER BY type = 'index', name",  # tables before their indexes
                list(rows),
            )
        ]
    return rows, schema


def _parse_and_store(
    text: str, rows: dict[str, list[tuple[Any, ...]]], schema: list[str], path: Path
) -> dict[str, Any]:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")  # as the store opens its file
    db.execute("PRAGMA synchronous=NORMAL")
    for statement in schema:
        db.execute(statement)
    with timed() as time:
        for row in text.splitlines():
            json.loads(row)
        with db:
            for table, values in rows.items():
                marks = ", ".join("?" * len(values[0]))
                db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', values)
    db.close()
    return {"cpu": time.cpu, "wall": time.wall}


def _omnisync(url: str, skus: int, folder: str) -> dict[str, Any]:
    return asyncio.run(_ingest(url, skus, Path(folder) / "omnisync"))


async def _ingest(url: str, skus: int, folder: Path) -> dict[str, Any]:
    channel = (
        f'adapter = "shopify"\n'
        f'settings = {{ base_url = "{url}", access_token = "{TOKEN}", bulk_poll_seconds = 0 }}'
    )
    async with started(configured(folder, {"shopify": channel})) as om:
        stock_everything(om, sku_names(skus), 10**6)
        _copy(folder / "omnisync.db", folder / "before-import.db")  # for (c)
        with timed() as time:
            report = await om.engine.sync(["shopify"], only={Capability.PULL_ORDERS})
    channel_report = report.channels["shopify"]
    if channel_report.errors:
        raise RuntimeError(f"the sync failed: {channel_report.errors}")
    counts = channel_report.counts
    return {
        "wall": time.wall,
        "cpu": time.cpu,
        "imported": counts["orders_imported"],
        "requests": counts["http_requests"],
    }


def _copy(database: Path, copy: Path) -> None:
    """Copy an open SQLite database, what its write-ahead log holds included."""
    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(copy)) as target:
        source.backup(target)
