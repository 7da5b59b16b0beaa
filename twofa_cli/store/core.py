"""The customer flow's statements: built once, compiled once per dialect, run on the cursor.

The hot path (enrol, verify, login, Send New Code, the trusted-device check, entry
delete) builds its statements with SQLAlchemy Core at import and runs them in a
transaction of ``Runtime.connection``: plain rows, no Session, no unit of work.
``Prepared`` goes one step further for these fixed statements: SQLAlchemy compiles
each once per dialect, with its type processing, and still owns the pool and the
transaction; an execute is then the DB-API cursor's, without the per-call work of
``Connection.execute`` (cache key, parameter and result set-up), which cost several
times what SQLite itself spends on these statements.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from importlib import import_module
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from twofa_cli.store.models import Entry

_entry = Entry.__table__


# A row of a prepared statement: a named tuple of its columns (``row.id``, ``row.title``).
Row = tuple


class Prepared:
    """A fixed Core statement (bound only by name), run on the connection's DB-API cursor.

    ``keys`` names the columns an INSERT without ``values()`` is given. Rows are named
    tuples of the statement's columns, after the column types' result processing;
    parameters go through the types' bind processing, as ``Connection.execute`` does.
    """

    def __init__(self, statement: Executable, *, keys: Iterable[str] | None = None) -> None:
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self._compiled: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()
        self._last: _Compiled | None = None

    def run(self, connection: Connection | Session, params: Mapping[str, Any] | None = None):
        """Execute in the transaction of ``connection`` (or of a Session's connection)."""
        if isinstance(connection, Session):
            connection = connection.connection()
        dialect = connection.dialect
        compiled = self._last
        if compiled is None or compiled.dialect is not dialect:  # one store per process, as a rule
            compiled = self._compiled.get(dialect)
            if compiled is None:
                compiled = self._compiled[dialect] = _Compiled(self.statement, dialect, self.keys)
            self._last = compiled
        cursor = connection.connection.dbapi_connection.cursor()
        arguments = compiled.arguments(params or {})
        # The engine's trace hooks still see every statement (tests count them). With no
        # listener, as in production, this is the test SQLAlchemy's own execute makes.
        traced = connection._has_events or connection.engine._has_events
        if traced:
            connection.dispatch.before_cursor_execute(connection, cursor, compiled.sql, arguments,
                                                      None, False)
        try:
            cursor.execute(compiled.sql, arguments)
        except dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(compiled.sql, arguments, exc, dialect.loaded_dbapi.Error,
                                      dialect=dialect) from exc
        if traced:
            connection.dispatch.after_cursor_execute(connection, cursor, compiled.sql, arguments,
                                                     None, False)
        result = _Result(cursor, compiled)
        if compiled.row is None:  # nothing to fetch
            cursor.close()
        return result

    def first(self, connection: Connection, params: Mapping[str, Any] | None = None):
        return self.run(connection, params).first()

    def one(self, connection: Connection, params: Mapping[str, Any] | None = None):
        return self.run(connection, params).one()

    def scalar(self, connection: Connection, params: Mapping[str, Any] | None = None):
        row = self.first(connection, params)
        return None if row is None else row[0]


class _Compiled:
    """A statement compiled for one dialect: its SQL, bind order and type processors."""

    def __init__(self, statement: Executable, dialect: Dialect, keys: list[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.dialect = dialect
        self.sql = compiled.string
        binds = compiled.binds
        self.fixed = {name: bind.effective_value for name, bind in binds.items()
                      if not bind.required}
        # In the order the driver takes them (a name bound twice comes twice), with their
        # types' processors.
        self.positional = compiled.positional
        names = list(compiled.positiontup) if compiled.positional else list(binds)
        self.binds = [(name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                      for name in names]
        columns = list(getattr(statement, "exported_columns", ()))
        self.row = (namedtuple("Row", [str(column.key) for column in columns], rename=True)
                    if columns else None)
        self.results = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                        for column in columns]
        self.plain = not any(self.results)

    def arguments(self, params: Mapping[str, Any]):
        values = {**self.fixed, **params} if self.fixed else params
        if self.positional:
            return [process(values[name]) if process else values[name]
                    for name, process in self.binds]
        return {name: process(values[name]) if process else values[name]
                for name, process in self.binds}

    def make_row(self, values):
        if self.plain:
            return self.row._make(values)
        return self.row._make([process(value) if process else value
                               for process, value in zip(self.results, values)])


class _Result:
    def __init__(self, cursor, compiled: _Compiled) -> None:
        self.cursor = cursor
        self.compiled = compiled
        self.rowcount = cursor.rowcount

    def rows(self) -> list:
        values = self.cursor.fetchall()
        self.cursor.close()
        return [self.compiled.make_row(row) for row in values]

    def first(self):
        values = self.cursor.fetchone()
        self.cursor.close()
        return None if values is None else self.compiled.make_row(values)

    def one(self):
        rows = self.rows()
        if len(rows) != 1:
            raise (NoResultFound if not rows else MultipleResultsFound)(
                f"expected one row, got {len(rows)}")
        return rows[0]


_SAVEPOINT = Prepared(text("SAVEPOINT twofa_part"))
_ROLLBACK_TO_SAVEPOINT = Prepared(text("ROLLBACK TO SAVEPOINT twofa_part"))
_RELEASE_SAVEPOINT = Prepared(text("RELEASE SAVEPOINT twofa_part"))


@contextmanager
def savepoint(connection: Connection) -> Iterator[None]:
    """A part of the transaction that is undone alone if it raises; the error propagates.

    ``Connection.begin_nested`` compiles its SAVEPOINT and RELEASE on every call, which
    cost more than the few statements a hot-path part runs under it; these are prepared.
    SQLAlchemy never sees this savepoint: it is opened and closed within the block.
    """
    _SAVEPOINT.run(connection)
    try:
        yield
    except BaseException:
        # After ROLLBACK TO, the savepoint is still open (SQLite and PostgreSQL alike).
        _ROLLBACK_TO_SAVEPOINT.run(connection)
        _RELEASE_SAVEPOINT.run(connection)
        raise
    _RELEASE_SAVEPOINT.run(connection)


def lock(connection: Connection, *keys: str) -> None:
    """Serialise transactions that share any of ``keys``, taken in the order given.

    Like ``store.engine.serialize_on`` for a Core connection, several keys in one
    statement: SQLite transactions already hold the database's single write lock
    (BEGIN IMMEDIATE); PostgreSQL takes transaction-scoped advisory locks.
    """
    if keys and connection.dialect.name == "postgresql":
        _advisory_locks(len(keys)).first(connection, {f"key{n}": key for n, key in enumerate(keys)})


@cache
def _advisory_locks(count: int) -> Prepared:
    # PostgreSQL evaluates a select list left to right: the locks are taken in key order.
    return Prepared(select(*(func.pg_advisory_xact_lock(func.hashtext(bindparam(f"key{n}")))
                             for n in range(count))))


def upsert_entry(connection: Connection, account_id: int, secondary_auth_id: int,
                 destination: str, created_at, *, secret: str = "",
                 last_step: int | None = None) -> int:
    """``INSERT`` an entry, or find the one already there; its id either way (``RETURNING``).

    A TOTP entry comes with its secret (a Fernet token) and the step that proved it."""
    return _upsert_entry(connection.dialect.name).one(connection, {
        "account_id": account_id, "secondary_auth_id": secondary_auth_id,
        "destination": destination, "created_at": created_at, "secret": secret,
        "last_step": last_step, "preferred": False,
    }).id


@cache
def _upsert_entry(dialect_name: str) -> Prepared:
    # The dialect's own INSERT … ON CONFLICT, imported when first used (the module of the
    # store in use is loaded already; the other would cost every command its import).
    statement = import_module(f"sqlalchemy.dialects.{dialect_name}").insert(_entry)
    return Prepared(statement.on_conflict_do_update(
        index_elements=[_entry.c.account_id, _entry.c.secondary_auth_id, _entry.c.destination],
        # Rewrites the destination with itself: DO NOTHING would return no row for the one there.
        set_={"destination": statement.excluded.destination})
        .returning(_entry.c.id), keys=("account_id", "secondary_auth_id", "destination", "created_at",
                                       "secret", "last_step", "preferred"))
