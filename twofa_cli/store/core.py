"""The customer flow's statements run on SQLAlchemy Core: what they share.

The hot path (enrol, verify, login, Send New Code) builds its statements once at
import and runs them on a ``Connection`` (``Runtime.connection``): plain rows, no
Session, no unit of work. SQL that differs between SQLite and PostgreSQL is built
once per dialect here.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from twofa_cli.store.models import Entry

_entry = Entry.__table__


def lock(connection: Connection, *keys: str) -> None:
    """Serialise transactions that share any of ``keys``, taken in the order given.

    Like ``store.engine.serialize_on`` for a Core connection, several keys in one
    statement: SQLite transactions already hold the database's single write lock
    (BEGIN IMMEDIATE); PostgreSQL takes transaction-scoped advisory locks.
    """
    if keys and connection.dialect.name == "postgresql":
        connection.execute(_advisory_locks(len(keys)), {f"key{n}": key for n, key in enumerate(keys)})


@cache
def _advisory_locks(count: int) -> Executable:
    # PostgreSQL evaluates a select list left to right: the locks are taken in key order.
    return select(*(func.pg_advisory_xact_lock(func.hashtext(bindparam(f"key{n}")))
                    for n in range(count)))


def upsert_entry(connection: Connection) -> Executable:
    """``INSERT`` an entry, or find the one already there, ``RETURNING`` its id either way."""
    return _UPSERT_ENTRY[connection.dialect.name]


def _upsert_entry(dialect) -> Executable:
    statement = dialect.insert(_entry)
    return (statement.on_conflict_do_update(
        index_elements=[_entry.c.account_id, _entry.c.secondary_auth_id, _entry.c.destination],
        # Rewrites the destination with itself: DO NOTHING would return no row for the one there.
        set_={"destination": statement.excluded.destination})
        .returning(_entry.c.id))


_UPSERT_ENTRY = {"sqlite": _upsert_entry(sqlite), "postgresql": _upsert_entry(postgresql)}
