"""Opening a store and running transactions on it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from omnisync.errors import ConfigError, StoreError
from omnisync.store._migrations import migrate
from omnisync.store._orders import OrdersMixin
from omnisync.store._queues import QueuesMixin
from omnisync.store._state import StateMixin
from omnisync.store._stock import StockMixin

__all__ = ["SQLStore", "Store", "Transaction", "open_store"]


class Transaction(OrdersMixin, StockMixin, QueuesMixin, StateMixin):
    """Every store operation, run inside one database transaction.

    Get one from `Store.transaction`: it commits when the ``with`` block ends and rolls back
    if it raises, so a crash anywhere leaves the store as it was before the block.
    """


class Store(ABC):
    """Where omnisync keeps its state. Backends implement this; the engine uses only this.

    Every operation runs on a `Transaction`, whose SQL is portable (SQLAlchemy Core); a backend
    provides the connections and their transaction semantics.
    """

    url: str

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """A `Transaction` that writes; writers are serialised, and it commits at the end of
        the ``with`` block or rolls back if the block raises."""

    @abstractmethod
    def reading(self) -> AbstractContextManager[Transaction]:
        """A `Transaction` for reads, which never waits on writers."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's connections."""


class SQLStore(Store):
    """A store on an SQL database through SQLAlchemy Core: SQLite (WAL mode) by default."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        with self.transaction() as tx:
            self.schema_version = migrate(tx.conn)

    def __repr__(self) -> str:
        return f"<SQLStore {self.url}>"

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._errors(), self.engine.begin() as conn:
            yield Transaction(conn)

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        with self._errors(), self.engine.connect() as conn:
            conn.info["read_only"] = True
            with conn.begin():
                yield Transaction(conn)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise StoreError(
                f"the store at {self.url} failed: {exc.orig}",
                hint="check that the database is reachable and not locked by a stuck process",
            ) from exc

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str) -> Engine:
    # NullPool: each transaction opens its own connection, so a store can be shared between
    # threads and processes without a connection outliving its use.
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front, so two writers queue instead of one failing
        # half-way with "database is locked"; readers in WAL mode never wait.
        conn.exec_driver_sql("BEGIN" if conn.info.get("read_only") else "BEGIN IMMEDIATE")

    return engine


def open_store(url: str, *, base_dir: Path | None = None) -> SQLStore:
    """Open (creating and migrating as needed) the store at ``url``.

    ``sqlite:///relative.db`` is resolved against ``base_dir`` (the configuration file's
    folder), so a scheduled job finds the same file whatever directory it starts in.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"{url!r} is not a database URL ({exc})", key="store.url") from None
    if parsed.get_backend_name() != "sqlite":
        raise ConfigError(
            f"unsupported store {parsed.get_backend_name()!r}",
            key="store.url",
            hint="use sqlite:///path/to/omnisync.db",
        )
    database = parsed.database or ""
    if database and database != ":memory:" and not Path(database).is_absolute() and base_dir:
        database = str((base_dir / database).resolve())
        parsed = parsed.set(database=database)
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    return SQLStore(
        _sqlite_engine(parsed.render_as_string(hide_password=False)),
        parsed.render_as_string(hide_password=True),
    )
