"""Failed passwords, throttled before any hash is computed (SECURITY.md rule 30).

Each login attempt is counted against two rows of ``login_throttle``: its login name and
client, and its login name over every client (client ``*``). The count is taken BEFORE
the password is checked, in one upsert per row that refuses while the row is blocked, so
a storm of concurrent guesses cannot all slip past the check while the first of them is
still hashing: the budget bounds the hashes too, and the counts are exact on every store
(an upsert holds the row until its transaction ends). A right password gives its
attempt back: its client's row is cleared, the all-clients row counts one less.

In a window of an hour a client has ``[login] free_failures`` attempts that cost no
wait; each one after them blocks the client for a wait that doubles from
``BASE_WAIT_SECONDS`` up to ``[login] max_wait_seconds``. The all-clients row works
alike with ``account_free_failures`` (at least twice as many): one client's guesses
cannot lock the owner out at another client until that larger budget is spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import import_module

from sqlalchemy import bindparam, case, delete, func, literal, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement, Label

from twofa_cli.errors import BadInput, Throttled
from twofa_cli.runtime import Runtime
from twofa_cli.services import delivery
from twofa_cli.store.core import Prepared
from twofa_cli.store.models import LoginThrottle

ALL_CLIENTS = "*"
ANONYMOUS = ""  # a caller that names no client (the CLI): one client for all of them
BASE_WAIT_SECONDS = 30
WINDOW = timedelta(hours=1)

_throttle = LoginThrottle.__table__
_SUBJECT_MAX = _throttle.c.subject.type.length
_CLIENT_MAX = _throttle.c.client.type.length

_ROWS = Prepared(select(_throttle.c.client, _throttle.c.failures, _throttle.c.window_started_at,
                        _throttle.c.blocked_until)
                 .where(_throttle.c.subject == bindparam("subject"),
                        _throttle.c.client.in_([bindparam("client"), literal(ALL_CLIENTS)])))
_every = _throttle.alias("every_client")
_BLOCK = Prepared(update(_throttle)
                  .where(_throttle.c.subject == bindparam("subject"),
                         _throttle.c.client == bindparam("client"))
                  .values(blocked_until=bindparam("until")))
_CLEAR = Prepared(delete(_throttle).where(_throttle.c.subject == bindparam("subject"),
                                          _throttle.c.client == bindparam("client")))
_GIVE_BACK = Prepared(update(_throttle)
                      .where(_throttle.c.subject == bindparam("subject"),
                             _throttle.c.client == ALL_CLIENTS, _throttle.c.failures > 0)
                      .values(failures=_throttle.c.failures - 1))


@dataclass(frozen=True)
class Attempt:
    """A counted attempt: who, from where, and the wait a failure of it leaves (0: none)."""

    subject: str
    client: str
    wait: int


def client_key(client: str | None) -> str:
    """The stored form of a caller's client: None is the one anonymous client."""
    if client is None:
        return ANONYMOUS
    client = str(client)
    if client == ALL_CLIENTS:
        raise BadInput(f"client {ALL_CLIENTS!r} is reserved: it stands for every client")
    return client[:_CLIENT_MAX]


def subject_key(login_name: str) -> str:
    """The stored form of a canonical login name (a lower-case email, or the text given)."""
    return login_name.lower()[:_SUBJECT_MAX]


def begin(connection: Connection, rt: Runtime, subject: str, client: str) -> Attempt:
    """Count an attempt at both rows before its password is checked; Throttled (nothing
    counted: the caller rolls back) while either row is blocked."""
    now = rt.now()
    settings = rt.settings.login
    wait = 0
    for row_client, free in ((client, settings.free_failures),
                             (ALL_CLIENTS, settings.account_free_failures)):
        failures = _count(connection.dialect.name).scalar(connection, {
            "subject": subject, "client": row_client, "now": now, "since": now - WINDOW})
        if failures is None:  # blocked: the upsert changed nothing
            raise _refusal(connection, rt, subject, client)
        if failures > free:
            seconds = min(BASE_WAIT_SECONDS * 2 ** min(failures - free - 1, 32),
                          settings.max_wait_seconds)
            _BLOCK.run(connection, {"subject": subject, "client": row_client,
                                    "until": now + timedelta(seconds=seconds)})
            wait = max(wait, seconds)
    return Attempt(subject, client, wait)


def failed(attempt: Attempt) -> Throttled | None:
    """What a wrong password answers when its attempt started a wait: Throttled."""
    if not attempt.wait:
        return None
    return Throttled(f"too many failed passwords: try again in {attempt.wait} s",
                     retry_after=attempt.wait, reason="too_many_passwords")


def succeeded(connection: Connection, attempt: Attempt) -> None:
    """A right password: its client starts over; the account's count gives the attempt back."""
    _CLEAR.run(connection, {"subject": attempt.subject, "client": attempt.client})
    _GIVE_BACK.run(connection, {"subject": attempt.subject})


def state_columns(subject: ColumnElement) -> tuple[Label, ...]:
    """What ``state`` reads of a login name (``subject``: a column, such as the account's
    email, so that one statement reads it for many accounts)."""
    every_clients = (_throttle.c.subject == subject, _throttle.c.client == ALL_CLIENTS)
    return (
        select(_throttle.c.failures).where(*every_clients)
        .scalar_subquery().label("throttle_failures"),
        select(_throttle.c.window_started_at).where(*every_clients)
        .scalar_subquery().label("throttle_window_started_at"),
        select(func.max(_every.c.blocked_until)).where(_every.c.subject == subject)
        .scalar_subquery().label("throttle_blocked_until"),
    )


def state(rt: Runtime, row: Row) -> tuple[int, datetime | None]:
    """Failed passwords of the current window over every client, and when the longest
    wait of any client (the all-clients row included) ends: None unless one is blocked.
    ``row`` holds the ``state_columns``."""
    now = rt.now()
    started, until = row.throttle_window_started_at, row.throttle_blocked_until
    failures = row.throttle_failures if row.throttle_failures is not None and started > now - WINDOW \
        else 0
    return failures, until if until is not None and until > now else None


def _refusal(connection: Connection, rt: Runtime, subject: str, client: str) -> Throttled:
    now = rt.now()
    rows = _ROWS.run(connection, {"subject": subject, "client": client}).rows()
    until = max((row.blocked_until for row in rows if row.blocked_until is not None), default=now)
    wait = delivery.seconds_until(rt, until) if until > now else 1
    return Throttled(f"too many failed passwords: try again in {wait} s", retry_after=wait,
                     reason="too_many_passwords")


@cache
def _count(dialect_name: str) -> Prepared:
    """One attempt more at a row that is not blocked (a new window starts at 1); its new
    count, or no row when blocked. The dialect's INSERT … ON CONFLICT, like upsert_entry."""
    statement = import_module(f"sqlalchemy.dialects.{dialect_name}").insert(_throttle).values(
        subject=bindparam("subject"), client=bindparam("client"), failures=1,
        window_started_at=bindparam("now"), blocked_until=None)
    window_over = _throttle.c.window_started_at <= bindparam("since")
    return Prepared(statement.on_conflict_do_update(
        index_elements=[_throttle.c.subject, _throttle.c.client],
        set_={"failures": case((window_over, 1), else_=_throttle.c.failures + 1),
              "window_started_at": case((window_over, bindparam("now")),
                                        else_=_throttle.c.window_started_at)},
        where=or_(_throttle.c.blocked_until.is_(None),
                  _throttle.c.blocked_until <= bindparam("now")),
    ).returning(_throttle.c.failures))
