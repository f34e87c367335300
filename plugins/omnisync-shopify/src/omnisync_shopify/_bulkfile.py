"""A bulk export's JSONL file, put back together into orders a page at a time.

Each nested connection's items come on lines of their own, naming their parent with
``__parentId``; Shopify does not promise that they follow their parent
(shopify.dev/docs/api/usage/bulk-operations/queries: "avoid relying on a particular sequence
of lines"). The file is read an order page at a time, so an export of years of orders never
sits in memory whole. A first pass, which parses a line only where its ids cannot be read
off it, checks whether every item does follow its order, each order once; if so (as Shopify
writes them), the second pass puts each order together from the lines after it. If not, the
file is indexed on disk instead (a temporary SQLite database beside it) and read back from
there, so that a line before its parent is not lost.

A line that is not JSON (a truncated download, a storage fault) spoils only its order: the
order comes back rejected, with the line, for the engine to quarantine, and the rest of the
export imports. A line cut short before it names its order is taken to be one of the items
of the order before it (Shopify writes an order's items after it), as is an item that no
longer names its order; items whose order's own line is missing reject that order: an order
is never imported short of a line it was exported with.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

from pydantic import JsonValue

from omnisync.adapters import RejectedRecord
from omnisync.http import json_loads
from omnisync_shopify._mapping import numeric_id

__all__ = ["BulkFile"]

# The connections of bulk_orders() whose items come on lines of their own, by the kind of
# their global ids (gid://shopify/KIND/123).
_CHILDREN = {"LineItem": "lineItems", "ShippingLine": "shippingLines"}
_BATCH = 5_000
# One line of the export: its number, its order's id if it is an item, its own id if it is
# an order's own line, the line.
_Row = tuple[int, str | None, str | None, str]
# Shopify writes a child's ``__parentId`` as the last key of its line (the JSONL examples of
# shopify.dev/docs/api/usage/bulk-operations/queries): read from there, a line is indexed
# without being parsed. A nested object cannot end the line this way (it would close with
# ``}}``), nor can a quoted string (its quotes are escaped).
_PARENT_AT_END = re.compile(r'"__parentId"\s*:\s*"([^"\\]*)"\s*}\s*$')
# A line too broken to parse still names its parent this way, most likely.
_PARENT_ANYWHERE = re.compile(r'"__parentId"\s*:\s*"([^"\\]*)"')
# Shopify writes each line's own ``id`` first (the same JSONL examples).
_ID_AT_START = re.compile(r'^{\s*"id"\s*:\s*"([^"\\]*)"')


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

    def orders(
        self, page: int
    ) -> Generator[tuple[list[dict[str, Any]], list[RejectedRecord]], None, None]:
        """The export's orders, ``page`` at a time, each with its ``lineItems`` and
        ``shippingLines`` as lists, in the file's order; and the orders of the page that a
        line not JSON spoiled, rejected (after the last page, those whose own line is
        missing)."""
        self.file.flush()
        if self._grouped():
            yield from self._streamed(page)
        else:
            yield from self._indexed(page)

    def _rows(self) -> Iterator[_Row]:
        """Each line of the file that is not blank as ``(seq, parent, id, line)``: the id
        of an order's own line (no parent), or the id of the order an item belongs to."""
        last_order: str | None = None
        with self.path.open("rb") as lines:
            for seq, raw in enumerate(lines):
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                parent, own = _parent(line), None
                if parent is None:
                    own = _own_id(line)
                    if _is_order(own):
                        last_order = own
                    elif own is not None or not line.endswith("}"):
                        # An item that lost the name of its order, or a line cut short
                        # before its id: see the module's docstring.
                        parent, own = last_order, None
                yield seq, parent, own, line

    def _grouped(self) -> bool:
        """Whether each line is an order's own, or an item of the order just before it, and
        no order comes twice."""
        last: str | None = None
        seen: set[int] = set()  # hashes: a collision only sends the file to the index
        for _, parent, own, _ in self._rows():
            if parent is None:
                if not _is_order(own) or hash(own) in seen:
                    return False
                last = own
                seen.add(hash(own))
            elif parent != last:
                return False
        return True

    def _streamed(self, page: int) -> Iterator[tuple[list[dict[str, Any]], list[RejectedRecord]]]:
        """The orders of a file in which each item follows its order, put together as read."""
        roots: list[tuple[int, str, str]] = []
        children: list[tuple[int, str, str]] = []
        for seq, parent, own, line in self._rows():
            if parent is not None:
                children.append((seq, parent, line))
                continue
            assert own is not None  # `_grouped`: an order's own line
            if len(roots) == page:
                yield self._page(roots, children)
                roots, children = [], []
            roots.append((seq, own, line))
        if roots:
            yield self._page(roots, children)

    def _indexed(self, page: int) -> Iterator[tuple[list[dict[str, Any]], list[RejectedRecord]]]:
        """The orders of any file, through an index of its lines on disk."""
        # Read a page at a time from whichever worker thread the caller runs it in.
        index = sqlite3.connect(Path(self._folder.name) / "index.db", check_same_thread=False)
        try:
            self._index(index)
            roots = index.execute(
                "SELECT seq, id, line FROM rows WHERE parent IS NULL ORDER BY seq"
            )
            while batch := roots.fetchmany(page):
                ids = [own for _, own, _ in batch if own is not None]
                marks = ", ".join("?" * len(ids))
                children = index.execute(
                    f"SELECT seq, parent, line FROM rows WHERE parent IN ({marks}) ORDER BY seq",
                    ids,
                )
                yield self._page(batch, children)
            orphans = [_orphaned(parent, lines) for parent, lines in _orphans(index)]
            if orphans:
                yield [], orphans
        finally:
            index.close()

    def _index(self, index: sqlite3.Connection) -> None:
        index.execute(
            "CREATE TABLE rows (seq INTEGER PRIMARY KEY, parent TEXT, id TEXT, line TEXT)"
        )
        rows: list[_Row] = []
        with index:
            for row in self._rows():
                rows.append(row)
                if len(rows) >= _BATCH:
                    index.executemany("INSERT INTO rows VALUES (?, ?, ?, ?)", rows)
                    rows.clear()
            index.executemany("INSERT INTO rows VALUES (?, ?, ?, ?)", rows)
            index.execute("CREATE INDEX rows_parent ON rows (parent, seq)")

    @staticmethod
    def _page(
        roots: Iterable[tuple[int, str | None, str]], children: Iterable[tuple[int, str, str]]
    ) -> tuple[list[dict[str, Any]], list[RejectedRecord]]:
        """The orders whose own lines are ``roots``, with their items among ``children``
        (in file order); an order whose own line or one of whose items is not JSON goes to
        the rejects instead (imported without it, its stock and totals would be wrong)."""
        orders: list[dict[str, Any]] = []
        rejects: list[RejectedRecord] = []
        by_id: dict[str, dict[str, Any]] = {}
        for seq, own, line in roots:
            order = _record(line)
            if not isinstance(order.get("id"), str):
                key = numeric_id(own) if own else f"line-{seq + 1}"
                rejects.append(_broken(key, seq, line, None))
                continue
            for field in _CHILDREN.values():
                order.setdefault(field, [])
            orders.append(order)
            by_id[order["id"]] = order
        spoiled: dict[str, RejectedRecord] = {}
        for seq, parent_id, line in children:
            if parent_id not in by_id:  # its order's own line was rejected above
                continue
            item = _record(line)
            if not item:
                spoiled.setdefault(parent_id, _broken(parent_id, seq, line, by_id[parent_id]))
                continue
            item.pop("__parentId", None)
            kind = str(item.get("id", "")).split("/")
            target = _CHILDREN.get(kind[3]) if len(kind) >= 5 else None
            if target is not None:
                by_id[parent_id][target].append(item)
        rejects.extend(spoiled.values())
        return [order for order in orders if order["id"] not in spoiled], rejects


def _parent(line: str) -> str | None:
    """The ``__parentId`` of one line of the export, if it has one."""
    if '"__parentId"' not in line:
        return None
    found = _PARENT_AT_END.search(line)
    if found is not None:
        return found.group(1)
    record = _record(line)  # somewhere else in the line: parse it
    if not record:  # not JSON: whose it is, as far as can be told
        found = _PARENT_ANYWHERE.search(line)
        return found.group(1) if found is not None else None
    parent = record.get("__parentId")
    return parent if isinstance(parent, str) else None


def _is_order(own: str | None) -> bool:
    """Whether ``own`` is an order's id (the export's only lines without a parent)."""
    return own is not None and own.startswith("gid://shopify/Order/")


def _own_id(line: str) -> str | None:
    """The ``id`` of one line of the export, if it can be read."""
    found = _ID_AT_START.match(line)
    if found is not None:
        return found.group(1)
    own = _record(line).get("id")
    return own if isinstance(own, str) else None


def _orphans(index: sqlite3.Connection) -> list[tuple[str, list[str]]]:
    """Items whose order's own line is not in the export (or could not be read), by order."""
    found: dict[str, list[str]] = {}
    rows = index.execute(
        "SELECT parent, line FROM rows WHERE parent IS NOT NULL AND parent NOT IN "
        "(SELECT id FROM rows WHERE parent IS NULL AND id IS NOT NULL) ORDER BY seq"
    )
    for parent, line in rows:
        found.setdefault(parent, []).append(line)
    return list(found.items())


def _orphaned(parent: str, lines: list[str]) -> RejectedRecord:
    items: list[JsonValue] = list(lines)
    return RejectedRecord(
        kind="order",
        key=numeric_id(parent),
        reason="the order's own line of the bulk export could not be read, only its items: "
        "it is left out until it is read again (a change to it on Shopify, or a new full sync)",
        payload={"items": items},
    )


def _record(line: str) -> dict[str, Any]:
    """One line of the export, parsed; empty if it is not a JSON object."""
    try:
        record = json_loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _broken(key: str, seq: int, line: str, order: dict[str, Any] | None) -> RejectedRecord:
    """The rejection of an order that line ``seq`` of the export spoiled (the order as far
    as it was read, if its own line was)."""
    reason = (
        f"line {seq + 1} of the bulk export is not a JSON object with an id"
        + ("" if order is None else ", and it belongs to this order")
        + ": the order is left out until it is read again (a change to it on Shopify, or "
        "a new full sync)"
    )
    payload: dict[str, Any] = {"bulk_line": seq + 1, "text": line}
    if order is not None:
        payload["order"] = order
        key = numeric_id(order.get("legacyResourceId") or key)
    return RejectedRecord(kind="order", key=key, reason=reason, payload=payload)
