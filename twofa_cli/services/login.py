"""Logging in: the password first, then a code unless 2FA is off or the device is trusted."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from twofa_cli.errors import BadInput, NotFound, Rejected, Throttled
from twofa_cli.runtime import Runtime
from twofa_cli.security import hash_password, password_needs_rehash, verify_password
from twofa_cli.services import audit, devices, sessions, system, throttle
from twofa_cli.services.challenges import (
    audited_send, find_account, method_with_provider, open_challenge, pending_login,
)
from twofa_cli.services.common import is_utf8, lookup_keys
from twofa_cli.store.core import Prepared
from twofa_cli.store.models import Account, Entry, SecondaryAuth

WRONG_CREDENTIALS = "wrong email or password"

_account, _entry = Account.__table__, Entry.__table__
_PASSWORD_BY_ID = Prepared(select(_account.c.id, _account.c.email, _account.c.password_hash,
                                  _account.c.password_epoch, _account.c.is_admin)
                           .where(_account.c.id == bindparam("id")))
_PASSWORD_BY_EMAIL = Prepared(select(_account.c.id, _account.c.email, _account.c.password_hash,
                                     _account.c.password_epoch, _account.c.is_admin)
                              .where(_account.c.email == bindparam("email")))
# A hash with other parameters than the configured ones, replaced by one with them; only
# while it is the hash that was checked (a concurrent password change wins). Not a
# password change: the password epoch stays.
_REHASH = Prepared(update(_account)
                   .where(_account.c.id == bindparam("id"),
                          _account.c.password_hash == bindparam("old"))
                   .values(password_hash=bindparam("new")))
# The account's 2FA entries with their methods and providers, the one a login uses first:
# the preferred entry, else the first verified.
_ENTRIES = Prepared(
    method_with_provider(_entry.c.id.label("entry_id"), _entry.c.destination)
    .join(_entry, _entry.c.secondary_auth_id == SecondaryAuth.__table__.c.id)
    .where(_entry.c.account_id == bindparam("account_id"))
    .order_by(_entry.c.preferred.desc(), _entry.c.id)
)


def login(
    rt: Runtime, account: str, password: str, *, device_token: str | None = None,
    cookie: Callable[[int], str | None] | None = None, method: str | None = None,
    device: str = "", client: str | None = None, email_only: bool = False,
    audience: str | None = None,
) -> dict:
    """Check the password; then authenticate, or send a code to the preferred 2FA entry
    (or to the entry of ``method``, a secondary auth id or title). For an authenticator
    app nothing is sent: ``code_required``.

    An unknown account and a wrong password fail alike, in message and in time: the
    same lookup, the same throttle statements, one argon2 verification, the same audit
    insert. Failed passwords are throttled per login name and ``client`` (the caller's
    notion of one, e.g. a peer address; None is one anonymous client) and per login name
    over every client, before any hash (services/throttle.py). With ``email_only`` a
    bare account id is looked up as an email, so it fails like any unknown one. A
    client that keeps trusted-device cookies per account passes ``cookie`` (account
    id -> token), read only once the password is right, instead of looking the account
    up beforehand. With ``audience`` ("admin" for the admin pages) an account of the
    other audience is not found: it fails like an unknown one, at the same cost.

    Every login that passes the password starts a session (``session_token``, shown
    once): ``pending`` until ``verify`` completes it, ``signed_in`` when no code is
    needed. It is bound to the password it checked (``password_epoch``): a password
    change before the code comes kills it.
    """
    if not is_utf8(str(account)):  # undecodable argv bytes: no account, nothing to audit
        raise BadInput("the account is not UTF-8 text")
    refused: Throttled | None = None
    try:
        with rt.connection() as connection:
            row, subject = _lookup(connection, account, email_only=email_only,
                                   audience=audience)
            attempt = throttle.begin(connection, rt, subject, throttle.client_key(client))
    except Throttled as exc:  # counted nothing (rolled back) and hashes nothing
        refused = exc
    if refused is not None:
        with rt.connection() as connection:
            audit.record(connection, rt, "login.throttled", account_id=row.id if row else None,
                         target=str(account)[:100], outcome="throttled",
                         detail=f"retry after {refused.retry_after} s")
        raise refused
    # argon2 runs outside any transaction: it must not hold the store's write lock.
    if not verify_password(row.password_hash if row else None, password):
        with rt.connection() as connection:  # audited either way, so both paths cost alike
            audit.record(connection, rt, "login.failed", account_id=row.id if row else None,
                         target=str(account)[:100], outcome="rejected")
        raise throttle.failed(attempt) or Rejected(WRONG_CREDENTIALS, reason="wrong_password")
    account_id, password_epoch = row.id, row.password_epoch
    # Equal cost (rule 32): an imported hash of other parameters is replaced at its first
    # right password, so its failed logins cost what every other one does from then on.
    rehashed = hash_password(password) if password_needs_rehash(row.password_hash) else None
    with rt.connection() as connection:
        throttle.succeeded(connection, attempt)
        if rehashed is not None:
            _REHASH.run(connection, {"id": account_id, "old": row.password_hash, "new": rehashed})
    if device_token is None and cookie is not None:
        device_token = cookie(account_id)

    def work() -> dict:
        with rt.connection() as connection:
            result = _next_step(connection, rt, account_id, device_token, method)
            result["session_token"] = sessions.start(
                connection, rt, account_id, password_epoch,
                signed_in=result["status"] == "authenticated", device=device,
                client=client or "")
            return result

    return audited_send(rt, account_id, "code.sent", work)


def _next_step(connection: Connection, rt: Runtime, account_id: int, device_token: str | None,
               method: str | None) -> dict:
    """After the right password: signed in, or a code to ask for (sent, or the app's)."""
    row = find_account(connection, account_id)
    if not system.is_active(row.allowed):
        return _authenticated(connection, rt, row, "2FA inactive")
    entries = _ENTRIES.run(connection, {"account_id": row.id}).rows()
    if not entries:
        return _authenticated(connection, rt, row, "no 2FA entry")
    chosen = _pick(entries, method)
    if devices.is_trusted(connection, rt, row, device_token):
        return _authenticated(connection, rt, row, "trusted device")
    if chosen.kind == "passkey":  # nothing to send: the browser signs (services/passkeys.py)
        audit.record(connection, rt, "passkey.required", account_id=row.id,
                     target=chosen.method_title)
        return {"status": "passkey_required", "method": chosen.method_title}
    try:
        return open_challenge(connection, rt, row, chosen, purpose="login",
                              destination=chosen.destination, entry_id=chosen.entry_id)
    except Throttled:
        # No new code may be sent yet (the interval, the hourly cap, a send cap): the
        # customer, whose password was right, still reaches the code step of the login
        # pending from another browser, if its code still works. A method asked for by
        # name must be the pending one's.
        reused = pending_login(connection, rt, row.id,
                               None if method is None else chosen.entry_id)
        if reused is None:
            raise
        audit.record(connection, rt, "code.reused", account_id=row.id,
                     detail=f"challenge {reused['challenge_id']}")
        return reused


def _pick(entries: list, method: str | None):
    if method is None:
        return entries[0]
    wanted = str(method).strip()
    for entry in entries:
        if wanted in (entry.method_title, str(entry.method_id)):
            return entry
    raise NotFound(f"no 2FA entry of method {wanted[:60]!r} for this account")


def _lookup(connection: Connection, account: str, *, email_only: bool,
            audience: str | None = None):
    """The account's id, email and password hash (or None), and the login name its
    failures count against: the account's email, else the text given (lower-cased when
    it could be an email). Text too long for any account finds nothing, like any unknown
    email; with ``email_only`` so does a bare account id, and with ``audience`` an
    account of the other audience."""
    text, number, email = lookup_keys(account, "email")
    if number is not None and not email_only:
        row = _PASSWORD_BY_ID.first(connection, {"id": number})
    else:
        row = None if email is None else _PASSWORD_BY_EMAIL.first(connection, {"email": email})
    if row is not None and audience is not None and row.is_admin != (audience == "admin"):
        row = None  # then the one dummy hash, as for an unknown email (rule 32)
    return row, throttle.subject_key(row.email if row else email or text)


def _authenticated(connection: Connection, rt: Runtime, account, reason: str) -> dict:
    audit.record(connection, rt, "login.authenticated", account_id=account.id, detail=reason)
    return {"status": "authenticated", "challenge_id": None, "expires_at": None,
            "destination": None, "reason": reason}


_PASSWORD_OF_SESSION = Prepared(select(_account.c.password_hash)
                                .where(_account.c.id == bindparam("id")))


def confirm_password(rt: Runtime, token: str, password: str) -> dict:
    """A step-up: the signed-in session's password, given again, makes sensitive changes
    possible for ``[session] reauth_minutes`` (rule 31). A wrong one is audited and
    Rejected; the session lives on."""
    with rt.connection() as connection:
        session = sessions.alive(connection, rt, token, state="signed_in")
        password_hash = _PASSWORD_OF_SESSION.scalar(connection, {"id": session.account_id})
    # A stolen cookie must not guess the password here faster than at the login form:
    # the same throttle, on the same login name, before the hash.
    try:
        with rt.connection() as connection:
            attempt = throttle.begin(connection, rt, throttle.subject_key(session.email),
                                     throttle.client_key(session.client or None))
    except Throttled:
        with rt.connection() as connection:
            audit.record(connection, rt, "login.throttled", account_id=session.account_id,
                         target=session.email, outcome="throttled", detail="step-up")
        raise
    if not verify_password(password_hash, password):  # outside the transaction, as login's
        with rt.connection() as connection:
            audit.record(connection, rt, "login.failed", account_id=session.account_id,
                         target=session.email, outcome="rejected", detail="step-up")
        raise throttle.failed(attempt) or Rejected("wrong password", reason="wrong_password")
    with rt.connection() as connection:
        throttle.succeeded(connection, attempt)
        session = sessions.alive(connection, rt, token, state="signed_in")
        sessions.stepped_up(connection, rt, session)
        audit.record(connection, rt, "session.step_up", account_id=session.account_id,
                     target=str(session.id))
        return sessions.public(rt, sessions.alive(connection, rt, token))
