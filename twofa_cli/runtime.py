"""What every service needs: settings, the store, the secret key, a clock, an actor.

``twofa_cli.api.TwoFactor`` opens one and passes it to the functions of
``twofa_cli.services``; the API's callers (the shop's web app, ``twofa serve``, the
CLI) never see it.
"""

from __future__ import annotations

import getpass
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from twofa_cli.config import Settings, load_initialised_settings
from twofa_cli.errors import NotInitialised
from twofa_cli.security import SecretKey, load_secret_key
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
    _joined: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def now(self) -> datetime:
        return self.clock()

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
    require_database(settings.database_url)
    engine = make_engine(settings.database_url)
    check_schema(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        key=key,
        actor=actor or default_actor(),
        clock=clock or utcnow,
    )
