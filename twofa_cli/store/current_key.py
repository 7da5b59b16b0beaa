"""Which secret key the store's encrypted values are under: its id, never the key.

A row of the ``setting`` table holds ``SecretKey.key_id`` of the first key (a one-way
fingerprint). ``twofa init`` records it for a fresh store, ``twofa key rotate`` and
``twofa key prune`` in their own transaction; ``Runtime.current_key`` checks a
process's keys against it before anything is encrypted. A store upgraded from a twofa
that kept no id has no row until its first rotate or prune: no process claims it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from twofa_cli.store.core import Prepared
from twofa_cli.store.models import Setting

SETTING = "secret_key_id"
ROTATION_LOCK = "twofa-secret-key"  # held by rotate and prune (PostgreSQL: an advisory lock)

_setting = Setting.__table__
# To read within another statement (the customer flow's account read): no query of its own.
STORED_ID = select(_setting.c.value).where(_setting.c.key == SETTING).scalar_subquery()
_READ = Prepared(select(_setting.c.value).where(_setting.c.key == SETTING))


def stored_id(connection: Connection | Session) -> str | None:
    """The id of the store's current key; None while none was recorded."""
    return _READ.scalar(connection)


def record(connection: Connection | Session, key_id: str) -> None:
    """Name the store's current key, in the caller's transaction."""
    if isinstance(connection, Session):
        connection = connection.connection()
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(_setting).values(key=SETTING, value=key_id)
    connection.execute(statement.on_conflict_do_update(index_elements=["key"],
                                                       set_={"value": key_id}))
