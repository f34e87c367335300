"""The ingest scenario's limit (c): the rows omnisync's import stored, and nothing else."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bench.ingest import _copy, _parse_and_store, _rows_stored


def test_only_the_rows_written_after_the_copy_are_taken_with_their_tables_schema(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store.db"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE held (sku TEXT PRIMARY KEY, units INTEGER) WITHOUT ROWID")
        db.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, sku TEXT)")
        db.execute("CREATE INDEX ledger_sku ON ledger (sku)")
        db.execute("CREATE TABLE skus (sku TEXT PRIMARY KEY)")
        db.executemany("INSERT INTO skus VALUES (?)", [("A",), ("B",)])
        db.execute("INSERT INTO held VALUES ('A', 1)")
        db.execute("INSERT INTO ledger VALUES (1, 'A')")
    with closing(sqlite3.connect(store)) as db, db:  # open, as the store is when copied
        _copy(store, tmp_path / "before.db")
        db.execute("UPDATE held SET units = 3 WHERE sku = 'A'")
        db.execute("INSERT INTO held VALUES ('B', 2)")
        db.execute("INSERT INTO ledger VALUES (2, 'B')")
        db.execute("CREATE TABLE made (id INTEGER PRIMARY KEY)")  # by the import
        db.execute("INSERT INTO made VALUES (1)")
        db.execute(
            "CREATE TRIGGER counted AFTER INSERT ON ledger BEGIN SELECT 1; END"
        )  # not a table's or an index's: left out
    rows, schema = _rows_stored(tmp_path / "before.db", store)
    assert rows == {"held": [("A", 3), ("B", 2)], "ledger": [(2, "B")], "made": [(1,)]}
    assert [statement.split("(")[0].strip() for statement in schema] == [
        "CREATE TABLE held",
        "CREATE TABLE ledger",
        "CREATE TABLE made",
        "CREATE INDEX ledger_sku ON ledger",
    ]
    _parse_and_store('{"id": 1}\n{"id": 2}', rows, schema, tmp_path / "minimal.db")
    with closing(sqlite3.connect(tmp_path / "minimal.db")) as db:
        assert db.execute("SELECT * FROM held ORDER BY sku").fetchall() == [("A", 3), ("B", 2)]
        assert db.execute("SELECT * FROM ledger").fetchall() == [(2, "B")]
