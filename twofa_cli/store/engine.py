"""Engines for SQLite (the embedded default) and PostgreSQL (shared by several hosts)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session, create_engine

from twofa_cli import files
from twofa_cli.errors import BadInput, DatabaseUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadInput("the database URL is not a valid SQLAlchemy URL") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise BadInput(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        _check_sqlite_files(Path(database))
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, issue BEGIN (see _begin_immediate below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    # Take the write lock up front: a deferred transaction that later writes cannot wait
    # on the busy timeout and fails with "database is locked". Issued by the dialect, not
    # by a "begin" event listener: any engine listener makes every execute dispatch events.
    engine.dialect.do_begin = _begin_immediate
    return engine


def _check_sqlite_files(database: Path) -> None:
    """The database, its -wal and -shm: the user's own, never symlinks, not writable by
    others (files.py). SQLite gives -wal and -shm the database's mode, so a database
    created owner-only from its first byte keeps all three owner-only."""
    for path in (database, database.with_name(database.name + "-wal"),
                 database.with_name(database.name + "-shm")):
        files.inspect(path)
    try:
        files.create_private_file(database)
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot create the database file {database}: {exc.strerror}") from None


def _begin_immediate(dbapi_connection) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
    finally:
        cursor.close()


@contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """A connection, or a one-line DatabaseUnavailable (never a driver traceback)."""
    try:
        connection = engine.connect()
    except OperationalError as exc:
        reason = (str(exc.orig).strip().splitlines() or ["unknown error"])[0][:300]
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"cannot open the database {where}: {reason}"
                                  f"{_how_to_create(engine.url, reason)}") from None
    with connection:
        yield connection


def _how_to_create(url: URL, reason: str) -> str:
    """A hint when the PostgreSQL server is there but the database is not: twofa creates
    tables, never databases (that takes a privilege the application should not hold)."""
    name = url.database
    if url.get_backend_name() != "postgresql" or not name \
            or f'database "{name}" does not exist' not in reason:
        return ""
    createdb = ["createdb", *(["-h", url.host] if url.host else []),
                *(["-p", str(url.port)] if url.port else []),
                *(["-U", url.username] if url.username else []), name]
    quoted = name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'
    return (f"; create it with `{shlex.join(createdb)}` (or `CREATE DATABASE {quoted};` in psql), "
            "then run `twofa init`")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls back on any exception."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def serialize_on(session: Session, key: str) -> None:
    """Serialise transactions that share ``key`` (e.g. sends to one destination).

    SQLite transactions already hold the database's single write lock
    (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
