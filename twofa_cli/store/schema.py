"""Schema versions: Alembic migrations shipped in the package.

Every command checks the database's revision against ``HEAD_REVISION`` with one
query, so Alembic itself is imported only by ``init`` and ``db upgrade``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from twofa_cli.errors import NotInitialised, SchemaOutOfDate
from twofa_cli.store.engine import connect

# The newest script in migrations/versions; tests/test_migrations.py keeps them in step.
HEAD_REVISION = "0010"
VERSION_TABLE = "alembic_version"


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when it has no twofa schema yet."""
    with connect(engine) as connection:  # an unreachable database is an error, not "no schema"
        try:
            return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        except (OperationalError, ProgrammingError):  # no version table
            return None


def check_schema(engine: Engine) -> None:
    revision = current_revision(engine)
    if revision is None:
        raise NotInitialised("the database has no twofa schema: run `twofa init`")
    _refuse_newer(revision)
    if revision != HEAD_REVISION:
        raise SchemaOutOfDate(
            f"the database schema is at revision {revision}, this twofa needs {HEAD_REVISION}: "
            "run `twofa db upgrade`"
        )


def _refuse_newer(revision: str) -> None:
    """Another host with a newer twofa upgraded the schema: this one must be upgraded too.

    Revision ids are zero-padded numbers in one line (tests/test_migrations.py
    checks), so comparing them as strings orders them.
    """
    if revision > HEAD_REVISION:
        raise SchemaOutOfDate(
            f"the database schema is at revision {revision}, newer than this twofa knows "
            f"({HEAD_REVISION}): install the newer twofa on this host"
        )


def _alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "twofa_cli.store:migrations")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision`` in one transaction; returns (before, after)."""
    from alembic import command

    with _migrating(engine) as connection:
        before = _revision_in(connection)
        if before is not None:
            _refuse_newer(before)  # alembic would fail on a revision it has no script for
        command.upgrade(_alembic_config(connection), revision)
        return before, _revision_in(connection) or ""


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    """Take the schema back to ``revision`` ("base": no tables); for operators and tests."""
    from alembic import command

    with _migrating(engine) as connection:
        before = _revision_in(connection)
        command.downgrade(_alembic_config(connection), revision)
        return before, _revision_in(connection)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction that only one migrating process holds at a time.

    All revisions of one upgrade run in this transaction (both stores have
    transactional DDL), so a failure leaves the schema where it was.
    """
    with connect(engine) as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite's recipe for rebuilding a table (batch mode does): foreign keys
            # off, or dropping a referenced table would fail or cascade. The pragma
            # is ignored inside a transaction, so it goes to the driver before BEGIN.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                # Two `twofa init` at once must not both create the tables. On SQLite
                # the transaction's BEGIN IMMEDIATE (engine.py) already sees to that.
                if not sqlite:
                    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('twofa-schema'))"))
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left {len(broken)} rows with dangling foreign keys")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def _revision_in(connection: Connection) -> str | None:
    # Probe with the inspector: a failed SELECT would abort a PostgreSQL transaction.
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def head_revision_from_scripts() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()
