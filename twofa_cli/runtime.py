"""What every service needs: settings, the store, the secret key, a clock, an actor.

``twofa_cli.api.TwoFactor`` opens one and passes it to the functions of
``twofa_cli.services``; the API's callers (the shop's web app, ``twofa serve``, the
CLI) never see it.
"""

from __future__ import annotations

import getpass
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from twofa_cli.config import Settings, load_initialised_settings
from twofa_cli.errors import NotInitialised, Rejected
from twofa_cli.security import SECRET_KEY_ENV, SecretKey, load_secret_key, read_key_file
from twofa_cli.store import current_key
from twofa_cli.store.core import lock
from twofa_cli.store.engine import make_engine, transaction
from twofa_cli.store.schema import check_schema


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    key: SecretKey
    actor: str = field(default_factory=default_actor)
    clock: Callable[[], datetime] = utcnow
    # Where ``key`` was read, to read again after a rotation; None: it was given
    # (TWOFA_SECRET_KEY, ``secret_key=``) and only a restart can change it.
    key_file: Path | None = None
    _joined: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def now(self) -> datetime:
        return self.clock()

    def current_key(self, connection: Connection | Session, *, row=None) -> SecretKey:
        """The key to encrypt with and to key new code HMACs with, checked inside the
        writing transaction against the one the store names current (store/current_key.py).

        A process opened before another one ran ``twofa key rotate`` still has the old
        first key, and what it wrote under it ``key prune`` would make unreadable: it reads
        its key file again, and is refused when that does not put the current key first.
        ``row``: a row this transaction read with the stored id as ``key_id`` (the customer
        flow's account read), which spares the query.
        """
        stored = row.key_id if row is not None else current_key.stored_id(connection)
        if stored is None or stored == self.key.key_id:
            return self.key
        return self._catch_up(connection.connection() if isinstance(connection, Session)
                              else connection)

    def _catch_up(self, connection: Connection) -> SecretKey:
        # PostgreSQL: a rotation committing meanwhile is seen once it is done.
        lock(connection, current_key.ROTATION_LOCK)
        stored = current_key.stored_id(connection)
        if stored is None or stored == self.key.key_id:
            return self.key
        if self.key_file is None:
            raise Rejected(
                "another process rotated the secret key (`twofa key rotate`) after this one "
                f"was given its key ({SECRET_KEY_ENV} or secret_key=), which cannot be read "
                "again: nothing was written. Restart it with the new key file's lines joined "
                f"by commas in {SECRET_KEY_ENV} (or secret_key=); see docs/key-rotation.md")
        reloaded = read_key_file(self.key_file)
        if reloaded.key_id != stored:
            raise Rejected(
                "another process rotated the secret key (`twofa key rotate`) and the key file "
                f"{self.key_file} does not hold the store's current key first (rotated on "
                "another host?): nothing was written. Copy the key file of the host that "
                f"rotated here (mode 0600), or set {SECRET_KEY_ENV} to its lines joined by "
                "commas, and restart; see docs/key-rotation.md")
        self.key = reloaded
        return reloaded

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work; inside ``one_transaction`` (same thread), that one."""
        joined = getattr(self._joined, "session", None)
        if joined is not None:
            yield joined
            return
        with transaction(self.engine) as session:
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A transaction on SQLAlchemy Core, for the customer flow's hot path: statements
        built once, plain rows, no unit of work. Commits when the block ends, rolls back on
        any exception; inside ``one_transaction`` (same thread), that one's connection."""
        joined = getattr(self._joined, "session", None)
        if joined is not None:
            yield joined.connection()
            return
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def one_transaction(self) -> Iterator[Session]:
        """Run several service calls as one unit of work: all of them commit, or none."""
        with transaction(self.engine) as session:
            self._joined.session = session
            try:
                yield session
            finally:
                self._joined.session = None


def require_database(url: str) -> None:
    """Only `init` and `db upgrade` create a database: opening an SQLite file that is not
    there would leave an empty one behind (and a store without a schema)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # make_engine says what is wrong with it
    path = parsed.database
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:" \
            and not Path(path).exists():
        raise NotInitialised(f"no database at {path}: run `twofa init` (or `twofa db upgrade`)")


def open_runtime(
    home: str | Path | None = None,
    *,
    database_url: str | None = None,
    actor: str | None = None,
    clock: Callable[[], datetime] | None = None,
    secret_key: str | None = None,
) -> Runtime:
    """Open an initialised home; fail with a hint to run `twofa init` otherwise.

    ``secret_key`` (the deployment's Fernet key) overrides TWOFA_SECRET_KEY and the key file.
    """
    settings = load_initialised_settings(home, database_url=database_url)
    key = SecretKey(secret_key) if secret_key else load_secret_key(settings.key_file)
    from_file = not secret_key and not os.environ.get(SECRET_KEY_ENV)
    require_database(settings.database_url)
    engine = make_engine(settings.database_url)
    check_schema(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        key=key,
        actor=actor or default_actor(),
        clock=clock or utcnow,
        key_file=settings.key_file if from_file else None,
    )
