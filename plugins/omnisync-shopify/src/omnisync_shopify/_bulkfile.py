"""A bulk export's JSONL file, put back together into orders a page at a time.

Each nested connection's items come on lines of their own, naming their parent with
``__parentId``; Shopify does not promise that they follow their parent
(shopify.dev/docs/api/usage/bulk-operations/queries: "avoid relying on a particular sequence
of lines"). So the file is indexed on disk first (a temporary SQLite database beside it),
then read back an order page at a time: an export of years of orders never sits in memory
whole, and a line before its parent is not lost.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Generator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

from omnisync.http import json_loads

__all__ = ["BulkFile"]

# The connections of BULK_ORDERS whose items come on lines of their own, by the kind of
# their global ids (gid://shopify/KIND/123).
_CHILDREN = {"LineItem": "lineItems", "ShippingLine": "shippingLines"}
_BATCH = 5_000
# Shopify writes a child's ``__parentId`` as the last key of its line (the JSONL examples of
# shopify.dev/docs/api/usage/bulk-operations/queries): read from there, a line is indexed
# without being parsed. A nested object cannot end the line this way (it would close with
# ``}}``), nor can a quoted string (its quotes are escaped).
_PARENT_AT_END = re.compile(r'"__parentId"\s*:\s*"([^"\\]*)"\s*}\s*$')


class BulkFile:
    """A temporary folder holding one downloaded export (`file`, written by the caller) and
    its index. Use it with ``with``; the folder goes when it ends."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="omnisync-bulk-")
        self.path = Path(self._folder.name) / "export.jsonl"
        self.file: BinaryIO = self.path.open("w+b")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.file.close()
        self._folder.cleanup()

    def orders(self, page: int) -> Generator[list[dict[str, Any]], None, None]:
        """The export's orders, ``page`` at a time, each with its ``lineItems`` and
        ``shippingLines`` as lists, in the file's order."""
        self.file.flush()
        # Read a page at a time from whichever worker thread the caller runs it in.
        index = sqlite3.connect(Path(self._folder.name) / "index.db", check_same_thread=False)
        try:
            self._index(index)
            roots = index.execute("SELECT line FROM rows WHERE parent IS NULL ORDER BY seq")
            while batch := roots.fetchmany(page):
                yield self._assemble(index, [json_loads(line) for (line,) in batch])
        finally:
            index.close()

    def _index(self, index: sqlite3.Connection) -> None:
        index.execute("CREATE TABLE rows (seq INTEGER PRIMARY KEY, parent TEXT, line TEXT)")
        rows: list[tuple[int, str | None, str]] = []
        with self.path.open("rb") as lines, index:
            for seq, raw in enumerate(lines):
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                rows.append((seq, _parent(line), line))
                if len(rows) >= _BATCH:
                    index.executemany("INSERT INTO rows VALUES (?, ?, ?)", rows)
                    rows.clear()
            index.executemany("INSERT INTO rows VALUES (?, ?, ?)", rows)
            index.execute("CREATE INDEX rows_parent ON rows (parent, seq)")

    @staticmethod
    def _assemble(index: sqlite3.Connection, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_id = {}
        for order in orders:
            for field in _CHILDREN.values():
                order.setdefault(field, [])
            by_id[order["id"]] = order
        marks = ", ".join("?" * len(by_id))
        children = index.execute(
            f"SELECT line FROM rows WHERE parent IN ({marks}) ORDER BY seq",
            list(by_id),
        )
        for (line,) in children:
            item = json_loads(line)
            parent = by_id[item.pop("__parentId")]
            kind = str(item.get("id", "")).split("/")
            target = _CHILDREN.get(kind[3]) if len(kind) >= 5 else None
            if target is not None:
                parent[target].append(item)
        return orders


def _parent(line: str) -> str | None:
    """The ``__parentId`` of one line of the export, if it has one."""
    if '"__parentId"' not in line:
        return None
    found = _PARENT_AT_END.search(line)
    if found is not None:
        return found.group(1)
    parent = json_loads(line).get("__parentId")  # somewhere else in the line: parse it
    return parent if isinstance(parent, str) else None
