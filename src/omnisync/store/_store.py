"""Opening a store and running transactions on it."""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import QueuePool

from omnisync.errors import ConfigError, StoreConflictError, StoreError
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
    """A store on an SQL database through SQLAlchemy Core: SQLite (WAL mode) by default,
    PostgreSQL when several processes or machines share the work."""

    def __init__(self, engine: Engine, url: str, *, writers: str | None = None) -> None:
        """``writers``: the database file whose writers this process queues (SQLite)."""
        self.engine = engine
        self.url = url
        self._database = writers
        self._writers = _writers_of(writers) if writers is not None else None
        self._inherited = False
        try:
            with self.transaction() as tx:
                tx.lock_key("schema", "migrate")  # two processes starting at once migrate once
                self.schema_version = migrate(tx.conn)
        except BaseException:
            engine.dispose()
            raise
        _OPEN.add(self)

    def __repr__(self) -> str:
        return f"<SQLStore {self.url}>"

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        self._check_process()
        with self._queued(), self._errors(), self.engine.begin() as conn:
            yield Transaction(conn)

    def _check_process(self) -> None:
        if self._inherited:
            raise _forked_sqlite(self.url)

    @contextmanager
    def _queued(self) -> Iterator[None]:
        """This process's turn to write, where the database lets one writer in at a time.

        SQLite makes a writer that finds the database locked sleep and retry, up to 100 ms a
        time: a write of a few milliseconds could cost the next one tens of milliseconds (and
        an event loop writing on its own thread that long a stall). Writers of one process
        queue here instead and go the moment the one before is done; other processes still
        meet SQLite's own wait.
        """
        if self._writers is None:
            yield
            return
        if not self._writers.acquire(timeout=SQLITE_WAIT):
            raise StoreError(
                f"the store at {self.url} stayed locked by another writer of this process "
                f"for {SQLITE_WAIT:.0f} s",
                hint="a write transaction is stuck (or one was opened inside another); "
                "the next sync redoes what this one could not commit",
            )
        try:
            yield
        finally:
            self._writers.release()

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        self._check_process()
        with self._errors(), self.engine.connect() as conn:
            # info lives with the pooled connection: the mark must not outlast this read.
            conn.info["read_only"] = True
            try:
                with conn.begin():
                    yield Transaction(conn)
            finally:
                conn.info.pop("read_only", None)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            if getattr(exc.orig, "sqlstate", None) in _CONFLICTS:
                raise StoreConflictError(
                    f"the store at {self.url} stopped a transaction that collided with "
                    f"another: {_first_line(exc.orig)}"
                ) from exc
            raise StoreError(
                f"the store at {self.url} failed: {_first_line(exc.orig)}",
                hint="check that the database is reachable and not locked by a stuck process; "
                "the next sync redoes what this one could not commit",
            ) from exc
        except DBAPIError as exc:  # the database refused a statement: nothing was committed
            raise StoreError(
                f"the store at {self.url} refused a write: {_first_line(exc.orig)}",
                hint="this is a bug in omnisync or an adapter; report it with the log",
            ) from exc

    def close(self) -> None:
        _OPEN.discard(self)
        self.engine.dispose()

    def _forked(self) -> None:
        """In a process just forked from the one that opened the store (see `_after_fork`)."""
        # The parent's connections are kept, neither used nor closed: they are the parent's.
        _INHERITED.append(self.engine.pool)
        self.engine.dispose(close=False)
        if self._database is not None:
            # SQLite keeps what this process's connections lock in the process's memory, so
            # the child inherits the parent's locks as its own, and they never change: a
            # write the parent had begun blocks the child's for good, and the child's
            # connections, this store's or any it opens on the file, would not hold the
            # locks that keep the parent from removing the write-ahead log under them
            # (sqlite.org/howtocorrupt.html, section 2.6).
            self._inherited = True
            _INHERITED_FILES.add(self._database)


SQLITE_WAIT = 30.0
"""Seconds a SQLite writer waits for the database before it gives up."""

_WRITERS: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_WRITERS_GUARD = threading.Lock()
_OPEN: weakref.WeakSet[SQLStore] = weakref.WeakSet()
_INHERITED: list[Any] = []
"""Connection pools a forked process inherited: kept so that they are never closed."""
_INHERITED_FILES: set[str] = set()
"""The SQLite files of the stores a forked process inherited open."""


def _forked_sqlite(url: str) -> StoreError:
    return StoreError(
        f"the SQLite store at {url} was open in the process this one was forked from, and "
        "SQLite cannot share an open database with a forked process",
        hint="close the store before the process forks, and open it in each process after "
        "(a pre-forking server's post-fork hook, a job runner's process-start signal); or "
        "start processes with multiprocessing's 'spawn' method",
    )


def _after_fork() -> None:
    """Deal with the stores a process inherits through ``os.fork`` (``multiprocessing``'s
    default on Linux, pre-forking servers, job runners).

    A connection shared by two processes is one both talk through at once. A PostgreSQL
    store opens connections of its own in the child as it needs them. A SQLite database open
    at the fork cannot be made safe there (see `SQLStore._forked`): the inherited store, and
    any opened on the same file in the child, refuse, saying what to do, instead of waiting
    for a lock that never comes or losing the parent's write-ahead log.
    """
    global _WRITERS_GUARD
    _WRITERS_GUARD = threading.Lock()  # held for good, if a thread of the parent held it
    _WRITERS.clear()
    for store in list(_OPEN):
        store._forked()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork)


def _writers_of(database: str) -> threading.Lock:
    """The one queue of writers of this process for the SQLite file ``database``, shared by
    every store opened on it."""
    with _WRITERS_GUARD:
        lock = _WRITERS.get(database)
        if lock is None:
            lock = _WRITERS[database] = threading.Lock()
        return lock


_CONFLICTS = frozenset({"40P01", "40001"})
"""PostgreSQL's deadlock_detected and serialization_failure: safe to run again."""


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _sqlite_engine(url: str) -> Engine:
    # A small pool of connections, each handed to one thread at a time: opening a connection
    # (and setting it up below) costs more than most transactions, and a sync runs dozens.
    # hide_parameters: a failed statement's message must not carry the values (buyers'
    # details, payloads) into logs.
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=5,
        max_overflow=10,
        connect_args={"timeout": SQLITE_WAIT, "check_same_thread": False},
        hide_parameters=True,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_WAIT * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front, so two writers queue instead of one failing
        # half-way with "database is locked"; readers in WAL mode never wait.
        conn.exec_driver_sql("BEGIN" if conn.info.get("read_only") else "BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: str) -> Engine:
    # Writers run at READ COMMITTED and take row or advisory locks on what they change (the
    # SKUs whose stock moves, the order being imported, the channel lock being taken), so
    # writers on different SKUs and channels run side by side. pre_ping: a connection the
    # server dropped (a restart) is replaced, not handed out.
    engine = create_engine(
        url,
        pool_pre_ping=True,
        hide_parameters=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 10, "application_name": "omnisync"},
    )

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.info.get("read_only"):
            # One consistent snapshot for a whole read, as SQLite's WAL readers get.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    return engine


def open_store(url: str, *, base_dir: Path | None = None) -> SQLStore:
    """Open (creating and migrating as needed) the store at ``url``.

    ``sqlite:///relative.db`` is resolved against ``base_dir`` (the configuration file's
    folder), so a scheduled job finds the same file whatever directory it starts in.
    ``postgresql://user:password@host/database`` opens a PostgreSQL store (psycopg 3, from
    ``pip install 'omnisync[postgres]'``).
    """
    parsed = _parse(url)
    if parsed.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "a PostgreSQL store needs psycopg 3, which is not installed",
                key="store.url",
                hint="pip install 'omnisync[postgres]'",
            ) from None
        parsed = parsed.set(drivername="postgresql+psycopg")
        return SQLStore(
            _postgres_engine(parsed.render_as_string(hide_password=False)),
            parsed.render_as_string(hide_password=True),
        )
    database = parsed.database or ""
    if database in ("", ":memory:"):
        raise ConfigError(
            "an in-memory SQLite store is not supported: each of its connections would hold "
            "a database of its own",
            key="store.url",
            hint="name a file (sqlite:///omnisync.db); for a throwaway store, one in a "
            "temporary folder",
        )
    _require_sqlite_json()
    if not Path(database).is_absolute() and base_dir:
        database = str((base_dir / database).resolve())
        parsed = parsed.set(database=database)
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    resolved = str(Path(database).resolve())
    if resolved in _INHERITED_FILES:
        raise _forked_sqlite(parsed.render_as_string(hide_password=True))
    return SQLStore(
        _sqlite_engine(parsed.render_as_string(hide_password=False)),
        parsed.render_as_string(hide_password=True),
        writers=resolved,
    )


def _require_sqlite_json() -> None:
    """Refuse an SQLite built without its JSON functions: lookups by SKU pass their lists
    through ``json_each`` (see `one_of`)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("SELECT value FROM json_each('[]')")
    except sqlite3.OperationalError:
        raise StoreError(
            f"this Python's SQLite ({sqlite3.sqlite_version}) was built without the JSON "
            "functions omnisync's SQLite store uses",
            hint="use a Python whose SQLite is 3.38 or later (they are built in from then "
            "on), or a PostgreSQL store",
        ) from None
    finally:
        probe.close()


def _parse(url: str) -> URL:
    """``url`` as an SQLAlchemy URL of a supported backend, or a `ConfigError`."""
    if url.startswith("postgres://"):  # the form Heroku and others hand out
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"{_redacted(url)!r} is not a database URL ({exc})", key="store.url"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported store {backend!r}",
            key="store.url",
            hint="use sqlite:///path/to/omnisync.db or postgresql://user@host/database",
        )
    driver = parsed.get_driver_name()
    if backend == "postgresql" and "+" in parsed.drivername and driver != "psycopg":
        raise ConfigError(
            f"omnisync talks to PostgreSQL through psycopg 3, not {driver}",
            key="store.url",
            hint="write the URL as postgresql://user@host/database",
        )
    return parsed


def _redacted(url: str) -> str:
    # A URL too malformed to parse may still hold a password: show only its scheme.
    return url.split("://", 1)[0] + "://..." if "://" in url else "..."
