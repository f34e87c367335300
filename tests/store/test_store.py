import sqlite3
from datetime import timedelta

import pytest

from omnisync.errors import ConfigError, SchemaVersionError
from omnisync.store import SCHEMA_VERSION, open_store
from tests.helpers import T0


def test_a_new_store_is_created_at_the_current_schema_in_wal_mode(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    assert store.schema_version == SCHEMA_VERSION
    with sqlite3.connect(tmp_path / "x.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_a_relative_path_is_next_to_the_configuration(tmp_path):
    open_store("sqlite:///data/state.db", base_dir=tmp_path).close()
    assert (tmp_path / "data" / "state.db").exists()


def test_a_store_from_a_newer_omnisync_is_refused(tmp_path):
    path = tmp_path / "x.db"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE omnisync_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="upgrade omnisync"):
        open_store(f"sqlite:///{path}")


def test_reopening_keeps_the_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    store = open_store(url)
    with store.transaction() as tx:
        tx.write_stock_level("A", "main", 3, T0, "test")
    store.close()
    with open_store(url).reading() as tx:
        assert tx.stock_level("A", "main") == (3, T0)


def test_an_unsupported_store_url_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigError, match=r"store\.url"):
        open_store("mysql://localhost/x")


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")

    def crash_mid_transaction():
        with store.transaction() as tx:
            tx.write_stock_level("A", "main", 3, T0, "test")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        crash_mid_transaction()
    with store.reading() as tx:
        assert tx.stock_level("A", "main") is None


def test_a_lock_is_exclusive_until_released_or_expired(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.transaction() as tx:
        assert tx.acquire_lock("channel:shop", "one", 60, T0) is None
        holder = tx.acquire_lock("channel:shop", "two", 60, T0 + timedelta(seconds=1))
        assert holder is not None and holder.owner == "one"
        assert tx.acquire_lock("channel:shop", "two", 60, T0 + timedelta(seconds=61)) is None
        tx.release_lock("channel:shop", "two")
        assert tx.acquire_lock("channel:shop", "three", 60, T0) is None


def test_cursors_only_move_forward(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.transaction() as tx:
        tx.set_cursor("shop", "orders", T0, T0)
        tx.set_cursor("shop", "orders", T0 - timedelta(hours=1), T0)
        assert tx.cursor("shop", "orders") == T0
