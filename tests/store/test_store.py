import multiprocessing
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, timedelta, timezone

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateTable

from omnisync._hookdata import OrderEvent, OrderEventKind
from omnisync.errors import ConfigError, SchemaVersionError, StoreError
from omnisync.models import Fulfilment, FulfilmentLine
from omnisync.store import SCHEMA_VERSION, Acknowledged, _store, open_store
from omnisync.store import _schema as t
from tests.helpers import T0, order, stores


@pytest.fixture
def url(backend, tmp_path):
    return stores.url(tmp_path)


@pytest.fixture
def store(url):
    opened = open_store(url)
    yield opened
    opened.close()


def test_a_new_store_is_created_at_the_current_schema(store):
    assert store.schema_version == SCHEMA_VERSION


def test_sqlite_runs_in_wal_mode(tmp_path):
    open_store(f"sqlite:///{tmp_path / 'x.db'}").close()
    with sqlite3.connect(tmp_path / "x.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_relative_path_is_next_to_the_configuration(tmp_path):
    open_store("sqlite:///data/state.db", base_dir=tmp_path).close()
    assert (tmp_path / "data" / "state.db").exists()


def test_a_store_from_a_newer_omnisync_is_refused(store, url):
    with store.transaction() as tx:
        tx.conn.execute(text("UPDATE omnisync_meta SET value = '99' WHERE key = 'schema_version'"))
    store.close()
    with pytest.raises(SchemaVersionError, match="upgrade omnisync"):
        open_store(url)


def test_reopening_keeps_the_data(store, url):
    with store.transaction() as tx:
        tx.write_stock_level("A", "main", 3, T0, "test")
    store.close()
    again = open_store(url)
    with again.reading() as tx:
        assert tx.stock_level("A", "main") == (3, T0)
    again.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/x", "unsupported store 'mysql'"),
        ("postgresql+asyncpg://localhost/x", "through psycopg 3, not asyncpg"),
        ("::not a url::", "not a database URL"),
    ],
)
def test_an_unsupported_store_url_is_a_configuration_error(url, message):
    with pytest.raises(ConfigError, match=r"store\.url") as caught:
        open_store(url)
    assert message in str(caught.value)


def test_a_password_in_the_url_is_never_shown(pg_url):
    secret_url = pg_url.replace("postgres@", "postgres:hunter2@")
    store = open_store(secret_url.replace("postgresql+psycopg://", "postgres://"))
    assert "hunter2" not in repr(store) and "hunter2" not in store.url
    store.close()
    unreachable = "postgresql://postgres:hunter2@127.0.0.1:9/nowhere"
    with pytest.raises(StoreError) as caught:
        open_store(unreachable)
    assert "hunter2" not in str(caught.value)
    assert "reachable" in str(caught.value)


def test_a_failed_transaction_leaves_nothing_behind(store):
    def crash_mid_transaction():
        with store.transaction() as tx:
            tx.write_stock_level("A", "main", 3, T0, "test")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash_mid_transaction()
    with store.reading() as tx:
        assert tx.stock_level("A", "main") is None


def test_sqlite_writers_of_one_process_take_turns_on_one_file(tmp_path):
    # Two stores on one file (an app and a worker thread, say): the second writer waits for
    # the first to commit, then sees what it wrote; neither fails.
    first = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    second = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    writing, seen = threading.Event(), []

    def later_writer():
        writing.wait()
        with second.transaction() as tx:
            seen.append(tx.cursor("shop", "orders"))
            tx.set_cursor("shop", "orders", T0 + timedelta(hours=1), T0)

    thread = threading.Thread(target=later_writer)
    thread.start()
    with first.transaction() as tx:
        tx.set_cursor("shop", "orders", T0, T0)
        writing.set()
        thread.join(0.2)  # it queues behind this transaction
        assert thread.is_alive()
    thread.join()
    assert seen == [T0]
    with first.reading() as tx:
        assert tx.cursor("shop", "orders") == T0 + timedelta(hours=1)
    first.close()
    second.close()


def test_a_stuck_sqlite_writer_fails_the_next_one_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(_store, "SQLITE_WAIT", 0.1)
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    failures = []

    def next_writer():
        try:
            with store.transaction() as tx:
                tx.set_cursor("shop", "orders", T0, T0)
        except StoreError as exc:
            failures.append(exc)

    with store.transaction():
        thread = threading.Thread(target=next_writer)
        thread.start()
        thread.join()
    assert len(failures) == 1
    assert "stayed locked by another writer of this process" in str(failures[0])
    assert "the next sync redoes" in str(failures[0])
    with store.transaction() as tx:  # the queue is free again
        tx.set_cursor("shop", "orders", T0, T0)
    store.close()


def _write_in_child(store, path, url=None):
    try:
        with store.transaction() as tx:
            tx.set_cursor("shop", "returns", T0 + timedelta(hours=2), T0)
        path.write_text("written")
    except StoreError as exc:
        path.write_text(str(exc))
    if url is not None:  # the same database opened anew in the child
        try:
            open_store(url).close()
        except StoreError as exc:
            path.write_text(path.read_text() + "\nopened anew: " + str(exc))


def test_a_store_inherited_by_a_forked_process(store, url, tmp_path):
    # A pre-forking server, a job runner or multiprocessing on Linux forks the process while
    # one of its threads writes. PostgreSQL: the child writes through connections of its
    # own. SQLite: the child is told to close the store before forking and open it after,
    # rather than waiting for the parent's write for good, or sharing its file locks, through
    # the inherited store or one opened anew (see `SQLStore._forked`).
    with store.transaction() as tx:  # a connection left in the pool before the fork
        tx.set_cursor("shop", "orders", T0, T0)
    writing, done = threading.Event(), threading.Event()

    def parent_writer():
        with store.transaction() as tx:
            tx.set_cursor("shop", "refunds", T0, T0)
            writing.set()
            done.wait()

    thread = threading.Thread(target=parent_writer)
    thread.start()
    writing.wait()
    said = tmp_path / "child.txt"
    child = multiprocessing.get_context("fork").Process(
        target=_write_in_child, args=(store, said, url)
    )
    child.start()
    done.set()
    thread.join()
    child.join(30)
    assert child.exitcode == 0
    with store.reading() as tx:  # the parent's store goes on
        assert tx.cursor("shop", "refunds") == T0
        written = tx.cursor("shop", "returns")
    if store.dialect == "postgresql":
        assert said.read_text() == "written"
        assert written == T0 + timedelta(hours=2)
    else:
        inherited, anew = said.read_text().split("\nopened anew: ")
        for told in (inherited, anew):
            assert "was open in the process this one was forked from" in told
            assert "close the store before the process forks" in told
        assert written is None


def test_a_sqlite_store_opened_after_a_fork_is_the_child_s_own(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    open_store(url).close()  # opened and closed before the fork: nothing inherited
    said = tmp_path / "child.txt"

    def child_opens():
        opened = open_store(url)
        _write_in_child(opened, said)
        opened.close()

    child = multiprocessing.get_context("fork").Process(target=child_opens)
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert said.read_text() == "written"


def test_a_lock_is_exclusive_until_released_or_expired(store):
    with store.transaction() as tx:
        assert tx.acquire_lock("channel:shop", "one", 60, T0) is None
        holder = tx.acquire_lock("channel:shop", "two", 60, T0 + timedelta(seconds=1))
        assert holder is not None and holder.owner == "one"
        assert tx.acquire_lock("channel:shop", "two", 60, T0 + timedelta(seconds=61)) is None
        tx.release_lock("channel:shop", "two")
        assert tx.acquire_lock("channel:shop", "three", 60, T0) is None


def test_cursors_only_move_forward(store):
    with store.transaction() as tx:
        tx.set_cursor("shop", "orders", T0, T0)
        tx.set_cursor("shop", "orders", T0 - timedelta(hours=1), T0)
        assert tx.cursor("shop", "orders") == T0


def test_a_push_that_read_an_old_change_does_not_clear_a_new_one(store):
    # Two pushes of one channel overlap only when one outlived its lock: the later one
    # cleared the change both read, and a new change came; the earlier one must not clear it.
    with store.transaction() as tx:
        tx.set_push_plan("shop", "f" * 64, T0, complete=True)
        tx.mark_pending(["A", "B"])
        seen = tx.pending("shop")
        tx.clear_pending("shop", seen)
        tx.mark_pending(["A"])
        tx.clear_pending("shop", seen)
        assert tx.pending("shop").keys() == {"A"}


def test_pending_of_some_skus_reads_only_those(store):
    with store.transaction() as tx:
        tx.set_push_plan("shop", "f" * 64, T0, complete=True)
        tx.mark_pending(["A", "B", "C"])
        every = tx.pending("shop")
        assert tx.pending("shop", ["B", "C", "Z"]) == {"B": every["B"], "C": every["C"]}
        assert tx.pending("shop", []) == {}


def test_many_rows_at_once_are_stored_as_one_row_is(store):
    # On SQLite many rows go to the driver as they are, converted once (`_run`): the same
    # entries must come back as those written one at a time.
    local = timezone(timedelta(hours=-5))
    entries = [
        {"kind": "reserve", "sku": "A", "at": (T0 + timedelta(minutes=i)).astimezone(local)}
        for i in range(3)
    ]
    with store.transaction() as tx:
        tx.append_ledger_many([{**e, "held_delta": 1, "order_ref": "shop:1"} for e in entries])
        for entry in entries:
            tx.append_ledger(entry["kind"], "B", entry["at"], held_delta=1, order_ref="shop:1")
    with store.reading() as tx:
        many, single = tx.ledger_for("A"), tx.ledger_for("B")
        # As the database holds them (text on SQLite, which orders and compares them so).
        held = tx.conn.execute(text("SELECT sku, at FROM ledger ORDER BY id")).all()
    assert [at for sku, at in held if sku == "A"] == [at for sku, at in held if sku == "B"]
    assert [entry.at for entry in many] == [T0 + timedelta(minutes=i) for i in range(3)]
    assert [entry.at.tzinfo for entry in many] == [UTC] * 3
    assert [replace(entry, id=0, sku="") for entry in many] == [
        replace(entry, id=0, sku="") for entry in single
    ]


def test_many_rows_with_a_naive_time_are_refused_and_nothing_is_stored(store):
    naive = T0.replace(tzinfo=None)
    with pytest.raises(Exception, match="naive datetime"), store.transaction() as tx:
        tx.append_ledger_many([{"kind": "count", "sku": "A", "at": t} for t in (T0, naive)])
    with store.reading() as tx:
        assert tx.ledger_for("A") == []


def test_pending_many_times_over_counts_every_change(store):
    # The pending upsert adds a constant of its own statement to the version.
    with store.transaction() as tx:
        tx.set_push_plan("shop", "f" * 64, T0, complete=True)
        tx.mark_pending(["A", "B"])
        first = tx.pending("shop")
        tx.mark_pending(["A", "B"])
        assert tx.pending("shop") == {sku: version + 1 for sku, version in first.items()}


def test_lookups_by_sku_find_every_sku_as_written(store):
    # SKUs are looked up as one list parameter (a JSON array on SQLite, an array on
    # PostgreSQL): quotes, backslashes, commas, braces and accents must come back unchanged,
    # and a list of thousands must be read whole, as one parameter.
    odd = ['A"1', "B\\2", "C,3", "{D}", "É-4", "F 5", "[6]", "null", "'7'"]
    many = [f"SKU-{number:05d}" for number in range(6_000)]
    with store.transaction() as tx:
        tx.ensure_skus(odd + many, T0)
        tx.acknowledge("shop", dict.fromkeys(odd + many, 1), T0)
        for sku in odd:
            tx.write_stock_level(sku, "main", 2, T0, "test")
    with store.reading() as tx:
        assert tx.known_skus([*odd, "unknown", 'A"']) == set(odd)
        assert tx.known_skus(many) == set(many)
        assert tx.acknowledged("shop", [*odd, *many]).keys() == {*odd, *many}
        assert tx.acknowledged("shop", []) == {}
        cells = tx.stock_cells(odd, times=False)
        assert {sku: cells[sku]["main"].on_hand for sku in odd} == dict.fromkeys(odd, 2)


def test_a_database_restart_fails_one_transaction_and_the_next_reconnects(pg, pg_url):
    if pg.data is None:
        pytest.skip("the server is not one these tests started, so they cannot restart it")
    store = open_store(pg_url)
    with store.transaction() as tx:
        tx.write_stock_level("A", "main", 3, T0, "test")

    def write_across_a_restart():
        with store.transaction() as tx:
            pg.restart()  # the server goes away under an open transaction
            tx.write_stock_level("A", "main", 4, T0, "test")

    with pytest.raises(StoreError, match="reachable"):
        write_across_a_restart()
    with store.reading() as tx:
        assert tx.stock_level("A", "main") == (3, T0)
    store.close()


def test_a_store_at_schema_1_is_migrated(store, url, tmp_path):
    with store.transaction() as tx:
        tx.conn.execute(text("DROP INDEX uq_fulfilments_key"))
        tx.conn.execute(text("ALTER TABLE fulfilments DROP COLUMN idempotency_key"))
        tx.conn.execute(text("DROP TABLE pending_pushes"))
        tx.conn.execute(text("DROP TABLE push_plans"))
        tx.conn.execute(text("DROP TABLE stock_held"))
        tx.conn.execute(text("DROP INDEX ix_reservations_shipped"))
        _stamp(tx, 1)
    migrated = _migrated(store, url, tmp_path)
    assert SCHEMA_VERSION == 7
    with migrated.transaction() as tx:
        order = Fulfilment(
            channel="shop",
            order_id="1",
            lines=(FulfilmentLine(line_id="1", quantity=1),),
            idempotency_key="erp:SH1",
        )
        assert tx.add_fulfilment(order, T0)
        assert not tx.add_fulfilment(order, T0)  # the same shipment is recorded once
        # 3: no channel has a push plan yet, so each is planned in full next time.
        assert tx.push_plan("shop") is None
        tx.set_push_plan("shop", "f" * 64, T0, complete=True)
        tx.mark_pending(["A"])
        assert tx.pending("shop").keys() == {"A"}
    migrated.close()


def test_a_store_at_schema_4_keeps_its_rows_and_looks_skus_up_by_key(store, url, tmp_path):
    keyed = [t.skus, t.stock_levels, t.stock_held, t.acknowledged, t.pending_pushes]
    with store.transaction() as tx:
        tx.ensure_skus(["A", "B"], T0)
        tx.write_stock_level("A", "main", 3, T0, "test")
        tx.conn.execute(t.stock_held.insert().values(sku="A", location="main", held=1))
        tx.acknowledge("shop", {"A": 2, "B": 0}, T0)
        tx.set_push_plan("shop", "f" * 64, T0, complete=True)
        tx.mark_pending(["B"])
        before = {table.name: _rows(tx, table) for table in keyed}
        if store.dialect == "sqlite":  # the tables as schema 4 made them, with a rowid
            for table in keyed:
                _remade(tx, table, "WITHOUT ROWID", "")
            assert _with_rowid(tx, keyed) == {table.name for table in keyed}
        _stamp(tx, 4)
    migrated = _migrated(store, url, tmp_path)
    with migrated.transaction() as tx:
        assert {table.name: _rows(tx, table) for table in keyed} == before
        assert _with_rowid(tx, keyed) == set()
        tx.mark_pending(["A"])
        assert tx.pending("shop").keys() == {"A", "B"}
    migrated.close()


def test_a_store_at_schema_5_keeps_what_channels_acknowledged_keyed_by_sku(store, url, tmp_path):
    with store.transaction() as tx:
        tx.acknowledge("shop", {"A": 2, "B": 0}, T0)
        tx.acknowledge("web", {"A": 1}, T0)
        tx.mark_moved("web", ["A"])
        before = _rows(tx, t.acknowledged)
        # The table as schema 5 made it: keyed by channel, then SKU.
        _remade(tx, t.acknowledged, "PRIMARY KEY (sku, channel)", "PRIMARY KEY (channel, sku)")
        assert inspect(tx.conn).get_pk_constraint("acknowledged")["constrained_columns"] == [
            "channel",
            "sku",
        ]
        _stamp(tx, 5)
    migrated = _migrated(store, url, tmp_path)
    with migrated.transaction() as tx:
        assert _rows(tx, t.acknowledged) == before
        tx.acknowledge("shop", {"A": 7}, T0)  # the upsert finds its row under the new key
        assert tx.acknowledged_by(["shop", "web"], ["A", "B"]) == {
            "shop": {"A": Acknowledged(7), "B": Acknowledged(0)},
            "web": {"A": Acknowledged(1, moved=True)},
        }
    migrated.close()


def test_a_store_at_schema_6_prunes_its_old_events_by_their_index(store, url, tmp_path):
    with store.transaction() as tx:
        for age in (10, 8, 1):  # days
            event = OrderEvent(kind=OrderEventKind.IMPORTED, order=order(str(age)))
            tx.add_event(event, T0 - timedelta(days=age))
        tx.conn.execute(text("DROP INDEX ix_events_created"))
        _stamp(tx, 6)
    migrated = _migrated(store, url, tmp_path)
    with migrated.transaction() as tx:
        tx.prune_events(T0 - timedelta(days=7))
        left = [event.order.external_id for _, event in tx.claim_events()]
    assert left == ["1"]
    migrated.close()


def test_pruning_events_reads_only_the_old_ones(tmp_path):
    """Each event holds an order's JSON: a scan of the outbox would read every order again."""
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.transaction() as tx:
        statement = t.events.delete().where(t.events.c.created_at < T0)
        compiled = statement.compile(tx.conn)
        plan = tx.conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", tuple(compiled.params.values())
        ).all()
    store.close()
    assert any("USING INDEX ix_events_created" in row[-1] for row in plan), plan


def _remade(tx, table, new, old):
    """``table`` made again, with its rows, as an older schema made it: with ``old`` where
    today's creates it with ``new``."""
    made = str(CreateTable(table).compile(tx.conn)).replace(new, old)
    tx.conn.execute(text(f"ALTER TABLE {table.name} RENAME TO old"))
    if tx.dialect == "postgresql":  # its key's name would stay taken
        tx.conn.execute(text(f"ALTER TABLE old RENAME CONSTRAINT {table.name}_pkey TO old_pkey"))
    tx.conn.execute(text(made))
    tx.conn.execute(text(f"INSERT INTO {table.name} SELECT * FROM old"))
    tx.conn.execute(text("DROP TABLE old"))


def _stamp(tx, version):
    """Mark the store as at schema ``version``."""
    tx.conn.execute(
        text("UPDATE omnisync_meta SET value = :v WHERE key = 'schema_version'"),
        {"v": str(version)},
    )


def _migrated(store, url, tmp_path):
    """``store`` closed and opened again: migrated to the current schema, shaped as a new
    store is."""
    store.close()
    migrated = open_store(url)
    assert migrated.schema_version == SCHEMA_VERSION
    assert _shape(migrated) == _shape_of_a_new_store(tmp_path)
    return migrated


def _rows(tx, table):
    return sorted(tuple(row) for row in tx.conn.execute(table.select()))


def _with_rowid(tx, tables):
    """Which of ``tables`` (on SQLite) still have a rowid."""
    if tx.dialect != "sqlite":
        return set()
    found = set()
    for table in tables:
        try:
            tx.conn.execute(text(f"SELECT rowid FROM {table.name} LIMIT 1"))
            found.add(table.name)
        except OperationalError:
            pass
    return found


def test_an_sqlite_without_json_functions_is_refused_with_what_to_use(tmp_path, monkeypatch):
    class NoJson:
        def execute(self, sql):
            raise sqlite3.OperationalError("no such table: json_each")

        def close(self):
            pass

    monkeypatch.setattr(_store.sqlite3, "connect", lambda *args, **kwargs: NoJson())
    with pytest.raises(StoreError, match="JSON functions") as caught:
        open_store(f"sqlite:///{tmp_path / 'omnisync.db'}")
    assert "3.38" in str(caught.value.hint)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_store_is_refused_with_what_to_use_instead(url):
    with pytest.raises(ConfigError, match="in-memory") as caught:
        open_store(url)
    assert caught.value.key == "store.url"
    assert "sqlite:///omnisync.db" in str(caught.value.hint)


def _shape(store):
    """Each table's columns, key (in its order) and indexes, as the database reports them."""
    with store.reading() as tx:
        found = inspect(tx.conn)
        return {
            table: (
                sorted(column["name"] for column in found.get_columns(table)),
                found.get_pk_constraint(table)["constrained_columns"],
                sorted(index["name"] for index in found.get_indexes(table)),
            )
            for table in found.get_table_names()
        }


def _shape_of_a_new_store(tmp_path):
    (tmp_path / "fresh").mkdir()
    fresh = open_store(stores.url(tmp_path / "fresh"))
    try:
        return _shape(fresh)
    finally:
        fresh.close()
