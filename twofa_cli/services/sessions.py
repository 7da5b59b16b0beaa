"""Login sessions in the store (SECURITY.md rules 29 and 31).

The client holds an opaque random token; the store keeps only its SHA-256, in
``login_session``. ``_alive`` is the one place that decides whether a session lives: its
account still has the password it checked (``password_epoch``), it is younger than
``[session] max_hours`` and was used in the last ``idle_minutes``. A session is
``pending`` between the password and the code, ``signed_in`` after; each step hands the
client a new token (fixation). Logout, a password change, account deletion and
revocation delete the rows, so a copied token finds nothing.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

from twofa_cli.errors import NotFound, PasswordRequired, Rejected
from twofa_cli.runtime import Runtime
from twofa_cli.security import sha256_hex
from twofa_cli.services import audit
from twofa_cli.services.common import find_row, iso, lookup_keys
from twofa_cli.store.core import Prepared, Row
from twofa_cli.store.models import Account, Challenge, LoginSession

ENDED = "your session has ended: log in again"
# A session's last use is written at most this often: a page view is a read, not a write.
TOUCH_EVERY = timedelta(seconds=60)
# With [session] reauth_minutes = 0 a password given for a step-up serves the one change
# it was asked for, if that change comes within this time.
STEP_UP_GRACE = timedelta(minutes=5)
MAX_TOKEN = 128  # what new_token hands out is 43 characters; longer is no token of ours

_session, _account, _challenge = LoginSession.__table__, Account.__table__, Challenge.__table__

_INSERT = Prepared(insert(_session).returning(_session.c.id), keys=(
    "token_sha256", "account_id", "state", "password_epoch", "device", "client", "password_at",
    "created_at", "last_seen_at", "expires_at"))
_BY_TOKEN = Prepared(
    select(_session, _account.c.password_epoch.label("account_epoch"), _account.c.email)
    .join(_account, _account.c.id == _session.c.account_id)
    .where(_session.c.token_sha256 == bindparam("token_sha256")))
_OF_ACCOUNT = Prepared(
    select(_session, _account.c.password_epoch.label("account_epoch"))
    .join(_account, _account.c.id == _session.c.account_id)
    .where(_session.c.account_id == bindparam("account_id")).order_by(_session.c.id))
_TOUCH = Prepared(update(_session).where(_session.c.id == bindparam("session_id"))
                  .values(last_seen_at=bindparam("now")))
# The next step of a login: only the token the client holds now, only from ``pending``.
_SIGN_IN = Prepared(update(_session)
                    .where(_session.c.id == bindparam("session_id"),
                           _session.c.token_sha256 == bindparam("old"),
                           _session.c.state == "pending")
                    .values(token_sha256=bindparam("new"), state="signed_in",
                            last_seen_at=bindparam("now")))
_STEPPED_UP = Prepared(update(_session).where(_session.c.id == bindparam("session_id"))
                       .values(password_at=bindparam("at"), last_seen_at=bindparam("now")))
_END = Prepared(delete(_session).where(_session.c.token_sha256 == bindparam("token_sha256")))
_END_ONE = Prepared(delete(_session).where(_session.c.account_id == bindparam("account_id"),
                                           _session.c.id == bindparam("session_id")))
_END_ALL = Prepared(delete(_session).where(_session.c.account_id == bindparam("account_id"),
                                           _session.c.token_sha256 != bindparam("keep")))
_VOID_LOGIN_CODES = Prepared(update(_challenge)
                             .where(_challenge.c.account_id == bindparam("account_id"),
                                    _challenge.c.purpose == "login",
                                    _challenge.c.status == "pending")
                             .values(status="superseded"))


def new_token() -> str:
    """256 random bits, URL-safe: the client's only proof of its session."""
    return secrets.token_urlsafe(32)


def _hash(token: str | None) -> str | None:
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN or not token.isascii():
        return None
    return sha256_hex(token)


def start(connection: Connection, rt: Runtime, account_id: int, password_epoch: int, *,
          signed_in: bool, device: str = "", client: str = "", password_given: bool = True) -> str:
    """A new session of an account whose password (of ``password_epoch``) was just right;
    its token, to hand to the client once. Sessions of the account that died are swept.
    A passwordless sign-in (``password_given`` False) owes a step-up before any sensitive
    change."""
    now = rt.now()
    settings = rt.settings.session
    _sweep(connection, rt, account_id)
    token = new_token()
    _INSERT.run(connection, {
        "token_sha256": sha256_hex(token), "account_id": account_id,
        "state": "signed_in" if signed_in else "pending", "password_epoch": password_epoch,
        "device": device[:200], "client": client[:200],
        "password_at": now if settings.reauth_minutes and password_given else None,
        "created_at": now, "last_seen_at": now,
        "expires_at": now + timedelta(hours=settings.max_hours),
    })
    return token


def alive(connection: Connection, rt: Runtime, token: str | None, *,
          account_id: int | None = None, state: str | None = None) -> Row:
    """The live session of ``token``, touched; else Rejected. ``account_id`` and ``state``
    narrow what counts: another account's session, or a pending one where a signed-in one
    is needed, is refused the same way as no session at all."""
    digest = _hash(token)
    row = _BY_TOKEN.first(connection, {"token_sha256": digest}) if digest else None
    if row is None or not _alive(rt, row) or (account_id is not None and row.account_id != account_id) \
            or (state is not None and row.state != state):
        raise Rejected(ENDED, reason="session_ended")
    now = rt.now()
    if now - row.last_seen_at >= TOUCH_EVERY:
        _TOUCH.run(connection, {"session_id": row.id, "now": now})
        row = row._replace(last_seen_at=now)
    return row


def _alive(rt: Runtime, row: Row) -> bool:
    now = rt.now()
    return (row.password_epoch == row.account_epoch and row.expires_at > now
            and row.last_seen_at + timedelta(minutes=rt.settings.session.idle_minutes) > now)


def sign_in(connection: Connection, rt: Runtime, session: Row, token: str) -> str:
    """Complete the login of a pending session: it becomes ``signed_in`` under a new token."""
    new = new_token()
    if _SIGN_IN.run(connection, {"session_id": session.id, "old": sha256_hex(token),
                                 "new": sha256_hex(new), "now": rt.now()}).rowcount != 1:
        # a concurrent verification completed it first
        raise Rejected(ENDED, reason="session_ended")
    return new


def stepped_up(connection: Connection, rt: Runtime, session: Row) -> None:
    """The password was given again just now (after the caller checked it)."""
    now = rt.now()
    _STEPPED_UP.run(connection, {"session_id": session.id, "at": now, "now": now})


def step_up_due(rt: Runtime, session: Row) -> bool:
    """Whether a sensitive change must ask for the password first (rule 31)."""
    if session.password_at is None:
        return True
    minutes = rt.settings.session.reauth_minutes
    window = timedelta(minutes=minutes) if minutes else STEP_UP_GRACE
    return session.password_at + window <= rt.now()


def require_step_up(connection: Connection, rt: Runtime, token: str, account: str) -> Row:
    """The signed-in session of ``token``, which must be ``account``'s (id or email) and have
    had its password given recently; else Rejected, or PasswordRequired (rule 31)."""
    session = alive(connection, rt, token, state="signed_in")
    _, number, email = lookup_keys(account, "email")
    if session.account_id != number and session.email != email:
        raise Rejected(ENDED, reason="session_ended")
    if step_up_due(rt, session):
        raise PasswordRequired("confirm your password to make this change",
                               reason="password_required")
    return session


def spend_step_up(connection: Connection, rt: Runtime, session: Row) -> None:
    """A sensitive change was made: with reauth_minutes = 0 the next one asks again."""
    if not rt.settings.session.reauth_minutes:
        _STEPPED_UP.run(connection, {"session_id": session.id, "at": None, "now": rt.now()})


def end_all(connection: Connection, account_id: int, *, keep: str | None = None,
            void_codes: bool = True) -> int:
    """End every session of the account (but ``keep``'s); the account's pending login
    codes die with them, so no code completes a login that no session waits for."""
    ended = _END_ALL.run(connection, {"account_id": account_id,
                                      "keep": _hash(keep) or ""}).rowcount
    if void_codes:
        _VOID_LOGIN_CODES.run(connection, {"account_id": account_id})
    return ended


def end_one(connection: Connection, account_id: int, session_id: int) -> int:
    if _END_ONE.run(connection, {"account_id": account_id, "session_id": session_id}).rowcount:
        return 1
    raise NotFound(f"no session {session_id} of this account")


def of_account(connection: Connection, rt: Runtime, account_id: int) -> list[Row]:
    """The account's live sessions, oldest first."""
    return [row for row in _OF_ACCOUNT.run(connection, {"account_id": account_id}).rows()
            if _alive(rt, row)]


def _sweep(connection: Connection, rt: Runtime, account_id: int) -> None:
    """Delete the account's dead sessions: they can never serve again."""
    dead = [row.id for row in _OF_ACCOUNT.run(connection, {"account_id": account_id}).rows()
            if not _alive(rt, row)]
    if dead:
        connection.execute(delete(_session).where(_session.c.id.in_(dead)))


def expires_at(rt: Runtime, row: Row) -> datetime:
    """When the session dies if it is not used again."""
    idle = row.last_seen_at + timedelta(minutes=rt.settings.session.idle_minutes)
    return min(row.expires_at, idle)


def public(rt: Runtime, row: Row) -> dict:
    return {
        "id": row.id, "account_id": row.account_id, "state": row.state, "device": row.device,
        "client": row.client, "created_at": iso(row.created_at),
        "last_seen_at": iso(row.last_seen_at), "expires_at": iso(expires_at(rt, row)),
        "password_at": iso(row.password_at), "step_up_due": step_up_due(rt, row),
    }


# -- the library's calls -----------------------------------------------------------------

_ACCOUNT_ID = Prepared(select(_account.c.id).where(_account.c.id == bindparam("id")))
_ACCOUNT_ID_BY_EMAIL = Prepared(select(_account.c.id).where(_account.c.email == bindparam("value")))


def _account_id(connection: Connection, account: str) -> int:
    return find_row(connection, _ACCOUNT_ID, _ACCOUNT_ID_BY_EMAIL, account, by="email",
                    what="account").id


def show(rt: Runtime, token: str | None) -> dict:
    with rt.connection() as connection:
        return public(rt, alive(connection, rt, token))


def logout(rt: Runtime, token: str | None) -> bool:
    with rt.connection() as connection:
        digest = _hash(token)
        row = _BY_TOKEN.first(connection, {"token_sha256": digest}) if digest else None
        if row is None:
            return False
        _END.run(connection, {"token_sha256": digest})
        audit.record(connection, rt, "session.logout", account_id=row.account_id,
                     target=str(row.id))
        return True


def list_sessions(rt: Runtime, account: str) -> list[dict]:
    with rt.connection() as connection:
        return [public(rt, row) for row in of_account(connection, rt, _account_id(connection, account))]


def revoke(rt: Runtime, account: str, session_id: int | None = None, *,
           keep: str | None = None) -> int:
    """End one session of the account, or (``session_id`` None) all but ``keep``'s; ending
    them all also voids the account's pending login codes."""
    with rt.connection() as connection:
        account_id = _account_id(connection, account)
        if session_id is None:
            revoked = end_all(connection, account_id, keep=keep)
        else:
            revoked = end_one(connection, account_id, session_id)
        audit.record(connection, rt, "session.revoke", account_id=account_id,
                     target="all" if session_id is None else str(session_id),
                     detail=f"{revoked} ended")
        return revoked
