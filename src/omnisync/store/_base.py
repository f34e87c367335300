"""The base of a store transaction: the connection and portable helpers."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Connection,
    Dialect,
    Integer,
    String,
    Table,
    TypeDecorator,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine

from omnisync.store import _schema as t

__all__ = ["PLAN_CHANNELS", "TransactionBase", "list_param", "one_of"]

# Below 2**30: a version of a SKU that changes a billion times more still fits PostgreSQL's
# 32-bit INTEGER.
_VERSION_START = 2**30

_BUILT: dict[tuple[str, Hashable], Any] = {}
"""Statements made once per backend and kept (see `TransactionBase._built`)."""
_DRIVER_FORMS: dict[tuple[str, Any, tuple[str, ...]], _DriverForm | None] = {}
"""Statements as SQLite's driver runs them, per set of parameter names (see
`TransactionBase._run`); ``None`` where SQLAlchemy must fill in defaults. Keyed by the
statement object itself (statements compare and hash by identity), which the key keeps
alive."""
_ADVISORY_LOCK = select(
    func.pg_advisory_xact_lock(func.hashtextextended(bindparam("name", type_=String), 0))
)
_ADVISORY_LOCK_SHARED = select(
    func.pg_advisory_xact_lock_shared(func.hashtextextended(bindparam("name", type_=String), 0))
)
PLAN_CHANNELS = select(t.push_plans.c.channel)
"""The channels with a push plan: those whose pushes note changes (see `mark_pending`)."""


class _Listed(TypeDecorator[Collection[Any]]):
    """A list of strings (or of ``numbers``) bound as one value: a JSON array on SQLite, an
    array on PostgreSQL."""

    impl = String
    cache_ok = True

    def __init__(self, *, numbers: bool = False) -> None:
        super().__init__()
        self.numbers = numbers

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(Integer if self.numbers else String))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Collection[Any] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return list(value) if dialect.name == "postgresql" else json.dumps(list(value))


def list_param(name: str, *, numbers: bool = False) -> BindParameter[Collection[Any]]:
    """A parameter holding a list of strings (of integers with ``numbers``), for `one_of`."""
    return bindparam(name, type_=_Listed(numbers=numbers))


class _OneOf(ColumnElement[bool]):
    """``column`` equals one of the values of a `list_param`."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a predicate: no "= 1" appended where booleans are ints
    _traverse_internals = [  # noqa: RUF012 (declared by SQLAlchemy as it is here)
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], values: BindParameter[Collection[Any]]):
        self.column = column
        self.values = values


def one_of(
    column: ColumnElement[Any], values: BindParameter[Collection[Any]]
) -> ColumnElement[bool]:
    """``column IN values``, with the list bound as one parameter.

    SQLAlchemy's expanding ``IN`` renders a placeholder for each value at every execution,
    and with thousands of SKUs (a push planning what 1,000 orders changed) that rendering
    cost more than the index lookups themselves. One parameter keeps the statement's text,
    and its compiled form, the same whatever the number of values.
    """
    return _OneOf(column, values)


@compiles(_OneOf)
def _one_of_default(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    # Other dialects (a statement printed while debugging, say): the list as one value.
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN ({values})"


@compiles(_OneOf, "sqlite")
def _one_of_sqlite(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    # json_each: SQLite's JSON functions, built in since 3.38 (and in Python's own builds,
    # and Debian's and Ubuntu's, long before): https://sqlite.org/json1.html#jeach
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"


@compiles(_OneOf, "postgresql")
def _one_of_postgresql(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} = ANY({values})"  # psycopg's dialect casts the array to its type


def _largest_id(table: Table) -> Any:
    return select(func.max(table.c.id))


def _ids_above(table: Table) -> Any:
    """The ids of ``table`` above the parameter ``before``, in order."""
    return select(table.c.id).where(table.c.id > bindparam("before")).order_by(table.c.id)


@dataclass(frozen=True)
class _DriverForm:
    """A statement compiled for the driver: its text, and how a row of parameters becomes
    the driver's: each value's name in order, with the type's conversion, if any."""

    sql: str
    names: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    constants: dict[str, Any]

    @classmethod
    def of(cls, stmt: Any, names: tuple[str, ...], dialect: Dialect) -> _DriverForm | None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(names))
        if (
            compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.post_compile_params
            or not compiled.positional
        ):
            # Python-side defaults, values rendered at each run, or a named paramstyle:
            # SQLAlchemy's own path.
            return None
        order = tuple(compiled.positiontup)
        constants = {name: compiled.binds[name].value for name in order if name not in names}
        if any(
            compiled.binds[name].required or compiled.binds[name].callable for name in constants
        ):
            return None  # a value to be given, or one worked out at each run
        converters = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in order
        )
        return cls(compiled.string, order, converters, constants)

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """``rows`` as the driver's parameters: a tuple each, in the statement's order."""
        names, converters = self.names, self.converters
        if self.constants:
            rows = [{**self.constants, **row} for row in rows]
        if not any(converters):
            return [tuple([row[name] for name in names]) for row in rows]
        # Each distinct value converted once: a page's rows share their times (when it was
        # imported), and converting a time is the dearest part of a row here.
        done: list[dict[Any, Any]] = [{} for _ in names]
        pairs = tuple(zip(names, converters, done, strict=True))
        return [
            tuple(
                [
                    row[name]
                    if convert is None
                    else (
                        seen[value] if (value := row[name]) in seen else _kept(seen, value, convert)
                    )
                    for name, convert, seen in pairs
                ]
            )
            for row in rows
        ]


def _kept(seen: dict[Any, Any], value: Any, convert: Callable[[Any], Any]) -> Any:
    seen[value] = converted = convert(value)
    return converted


class TransactionBase:
    """Holds the connection of one open transaction. Every operation runs inside it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.conn.dialect.name

    @property
    def serialised(self) -> bool:
        """Whether writers take turns for the whole transaction (SQLite), so the row and key
        locks of `lock_key` and `lock_skus` have nothing to do."""
        return self.dialect == "sqlite"

    def lock_key(self, namespace: str, key: str) -> None:
        """Hold a lock on ``key`` in ``namespace`` until the transaction ends, so writers that
        read, decide and write the same thing (an order, a channel lock) take turns.

        SQLite serialises every writer already; PostgreSQL takes a transaction-scoped advisory
        lock on a 64-bit hash of the name (a collision only makes two writers take turns).
        """
        if self.dialect != "postgresql":
            return
        self.conn.execute(_ADVISORY_LOCK, {"name": f"omnisync:{namespace}:{key}"})

    def lock_key_shared(self, namespace: str, key: str) -> None:
        """Like `lock_key`, shared: many holders at once, none while `lock_key` holds it."""
        if self.dialect != "postgresql":
            return
        self.conn.execute(_ADVISORY_LOCK_SHARED, {"name": f"omnisync:{namespace}:{key}"})

    def _upsert(
        self,
        table: Table,
        rows: dict[str, Any] | list[dict[str, Any]],
        keys: Sequence[str],
        update: Sequence[str],
    ) -> None:
        """Insert ``rows``, or update the ``update`` columns of rows with the same ``keys``."""
        if not rows:
            return

        def build(dialect: Any) -> Any:
            stmt = dialect.insert(table)
            return stmt.on_conflict_do_update(
                index_elements=list(keys), set_={name: stmt.excluded[name] for name in update}
            )

        self._run(self._built(("upsert", table, *keys, "set", *update), build), rows)

    def _run(self, stmt: Any, rows: dict[str, Any] | Sequence[dict[str, Any]]) -> None:
        """Run ``stmt`` with one row of parameters, or once for each of ``rows``, all with
        the same names. ``stmt`` must be one the store keeps (`_built`, or a module's
        constant): its driver form is kept with it."""
        if isinstance(rows, dict) or len(rows) < 2 or not self.serialised:
            self.conn.execute(stmt, rows)
            return
        names = tuple(rows[0])
        key = (self.dialect, stmt, names)
        try:
            form = _DRIVER_FORMS[key]
        except KeyError:
            form = _DRIVER_FORMS[key] = _DriverForm.of(stmt, names, self.conn.dialect)
        if form is None:
            self.conn.execute(stmt, rows)
            return
        # SQLAlchemy's executemany builds and checks each row's parameters in several steps,
        # and for a page's orders, reservations and ledger entries that took longer than
        # SQLite's inserting them: the driver gets each row as a tuple in the statement's
        # order instead, each value converted by its column's type as SQLAlchemy would.
        self.conn.exec_driver_sql(form.sql, form.parameters(rows))

    def _insert(self, table: Table) -> Any:
        """``table``'s INSERT, the columns given by the parameters (made once: see `_built`)."""
        return self._built(("insert", table), lambda _: table.insert())

    def _built(self, key: Hashable, build: Callable[[Any], Any]) -> Any:
        """The statement ``build`` makes, made once per backend and kept under ``key``.
        ``build`` is given the backend's dialect module, for the INSERT with ON CONFLICT
        clauses that both backends spell alike; the statements that do not need it are
        simply made once for each backend.

        SQLAlchemy compiles a statement once whatever object states it, but making the object
        and working out its cache key again at each call cost nearly as much as running it: a
        webhook's import runs some twenty statements.
        """
        dialect = self.dialect
        found = _BUILT.get((dialect, key))
        if found is None:  # two threads may both make it: the same statement either way
            module: ModuleType = postgresql if dialect == "postgresql" else sqlite
            found = _BUILT[dialect, key] = build(module)
        return found

    def _insert_id(self, table: Table, values: dict[str, Any]) -> int:
        """Insert one row and return its generated id."""
        # Values as parameters, not baked into the statement: SQLAlchemy then compiles the
        # table's INSERT once and reuses it (an import inserts thousands of rows).
        key = self.conn.execute(self._insert(table), values).inserted_primary_key
        assert key is not None
        return int(key[0])

    def _insert_ids(self, table: Table, rows: list[dict[str, Any]]) -> list[int]:
        """Insert ``rows`` and return their generated ids, in order, in a few statements."""
        if len(rows) < 2:
            return [self._insert_id(table, row) for row in rows]
        if self.serialised:
            # SQLite does not promise RETURNING in insertion order, so SQLAlchemy would insert
            # row by row. No one else writes meanwhile: each row takes the next id (one above
            # the largest, or the sequence's next), so the new rows are those above the
            # largest id before, in id order.
            largest = self._built(("largest id", table), lambda _: _largest_id(table))
            before = self.conn.execute(largest).scalar() or 0
            self._run(self._insert(table), rows)
            new = self._built(("ids above", table), lambda _: _ids_above(table))
            ids = [int(row_id) for row_id in self.conn.execute(new, {"before": before}).scalars()]
            assert len(ids) == len(rows), "rows inserted by another writer meanwhile"
            return ids
        stmt = self._built(
            ("insert returning ids", table),
            lambda _: table.insert().returning(table.c.id, sort_by_parameter_order=True),
        )
        return [int(row[0]) for row in self.conn.execute(stmt, rows)]

    def _insert_ignore(self, table: Table, values: dict[str, Any], keys: Sequence[str]) -> bool:
        """Insert ``values`` unless a row with the same ``keys`` exists; True if inserted."""
        stmt = self._built(
            ("insert unless", table, *keys),
            # RETURNING, not rowcount: psycopg reports no row count for a skipped insert.
            lambda dialect: (
                dialect.insert(table)
                .on_conflict_do_nothing(index_elements=keys)
                .returning(table.c[keys[0]])
            ),
        )
        return self.conn.execute(stmt, values).first() is not None

    def mark_pending(self, skus: Collection[str], channels: Collection[str] | None = None) -> None:
        """Note that what ``channels`` (default: every channel with a push plan) may sell of
        ``skus`` may have changed. A channel without a plan is planned in full anyway."""
        if channels is None:
            # Shared with other writers, exclusive with a channel starting a full plan (see
            # `set_push_plan`): a change either sees its plan row, or commits before the
            # plan reads stock.
            self.lock_key_shared("push_plans", "rows")
            channels = list(self.conn.execute(PLAN_CHANNELS).scalars())
        # A SKU newly pending starts from a random version, not from 1: after a push cleared
        # it, a later change must not come back as the version an overlapping push read (one
        # that outlived its lock), which would clear that change in its stead.
        start = secrets.randbelow(_VERSION_START)
        rows = [
            {"channel": channel, "sku": sku, "version": start}
            for channel in sorted(channels)
            for sku in sorted(set(skus))  # rows locked in one order: writers cannot deadlock
        ]
        if not rows:
            return
        pending = t.pending_pushes
        stmt = self._built(
            "pending",
            lambda dialect: dialect.insert(pending).on_conflict_do_update(
                index_elements=["channel", "sku"], set_={"version": pending.c.version + 1}
            ),
        )
        self._run(stmt, rows)
