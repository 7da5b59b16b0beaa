"""Logging in: the password first, then a code unless 2FA is off or the device is trusted."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, select

from twofa_cli.errors import Rejected
from twofa_cli.runtime import Runtime
from twofa_cli.security import verify_password
from twofa_cli.services import audit, devices, system
from twofa_cli.services.accounts import audience_of
from twofa_cli.services.challenges import audited_send, ensure_not_locked, open_challenge, sent
from twofa_cli.store.models import Account, Entry, SecondaryAuth

WRONG_CREDENTIALS = "wrong email or password"


def login(
    rt: Runtime, account: str, password: str, *, device_token: str | None = None,
    cookie: Callable[[int], str | None] | None = None,
) -> dict:
    """Check the password; then authenticate, or send a code to the newest 2FA entry.

    An unknown account and a wrong password fail alike, in message and in time: the
    same lookup, one argon2 verification, the same audit insert. A client that keeps
    trusted-device cookies per account passes ``cookie`` (account id -> token), read
    only once the password is right, instead of looking the account up beforehand.
    """
    with rt.transaction() as session:
        row = _lookup(session, account)
    # argon2 runs outside any transaction: it must not hold the store's write lock.
    if not verify_password(row.password_hash if row else None, password):
        with rt.transaction() as session:  # audited either way, so both paths cost alike
            audit.record(session, rt, "login.failed", account_id=row.id if row else None,
                         target=str(account)[:100], outcome="rejected")
        raise Rejected(WRONG_CREDENTIALS)
    account_id = row.id
    if device_token is None and cookie is not None:
        device_token = cookie(account_id)

    def work() -> dict:
        with rt.transaction() as session:
            row = session.get(Account, account_id)
            if not system.is_allowed(session, audience_of(row)):
                return _authenticated(session, rt, row, "2FA inactive")
            newest = session.exec(
                select(Entry, SecondaryAuth)
                .join(SecondaryAuth, col(SecondaryAuth.id) == Entry.secondary_auth_id)
                .where(Entry.account_id == row.id)
                .order_by(col(Entry.id).desc())
            ).first()
            if newest is None:
                return _authenticated(session, rt, row, "no 2FA entry")
            if devices.is_trusted(session, rt, row, device_token):
                return _authenticated(session, rt, row, "trusted device")
            ensure_not_locked(rt, row)
            entry, method = newest
            challenge = open_challenge(session, rt, row, method, purpose="login",
                                       destination=entry.destination, entry_id=entry.id)
            return sent(challenge)

    return audited_send(rt, account_id, "code.sent", work)


def _lookup(session, account: str) -> Account | None:
    text = str(account).strip().lower()
    if text.isascii() and text.isdigit() and len(text) <= 18:  # a 64-bit id, as common.find
        return session.get(Account, int(text))
    return session.exec(select(Account).where(Account.email == text[:254])).first()


def _authenticated(session, rt: Runtime, account: Account, reason: str) -> dict:
    audit.record(session, rt, "login.authenticated", account_id=account.id, detail=reason)
    return {"status": "authenticated", "challenge_id": None, "expires_at": None,
            "destination": None, "reason": reason}
