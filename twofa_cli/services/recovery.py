"""Recovery codes: ten single-use codes that complete a login when the phone is lost.

Shown once; the store keeps only an HMAC-SHA256 of each, keyed by a random key of the
set (``recovery_code.recovery_key``, a Fernet token under the secret key). The
HMAC key is not the secret key: a keyed hash cannot follow a key rotation, and this
one must outlive ``key rotate`` and ``key prune`` (services/keys.py); the random key
is re-encrypted by the rotation like any stored secret, so the hashes never change.
A code is spent by one conditional UPDATE, so two concurrent uses succeed at most once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from twofa_cli.errors import Rejected
from twofa_cli.runtime import Runtime
from twofa_cli.services import audit, notifications
from twofa_cli.store.core import Prepared
from twofa_cli.store.models import Entry, RecoveryCode

COUNT = 10
LENGTH = 10  # 31 symbols: about 50 bits each
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i to misread
WARN_AT = 2  # the result of a use warns when this many or fewer remain
_IGNORED = str.maketrans("", "", " -\t")

_code, _entry = RecoveryCode.__table__, Entry.__table__
_INSERT_SET = Prepared(insert(_code).values([
    {"account_id": bindparam("account_id"), "code_hmac": bindparam(f"hmac{n}"),
     "recovery_key": bindparam("token"), "created_at": bindparam("now")} for n in range(COUNT)]))
_DELETE_SET = Prepared(delete(_code).where(_code.c.account_id == bindparam("account_id")))
_USE = Prepared(update(_code)
                .where(_code.c.account_id == bindparam("account_id"),
                       _code.c.code_hmac == bindparam("hmac"), _code.c.used_at.is_(None))
                .values(used_at=bindparam("now")))
_REMAINING = Prepared(select(func.count()).select_from(_code)
                      .where(_code.c.account_id == bindparam("account_id"),
                             _code.c.used_at.is_(None)))
_ANY_ENTRY = Prepared(select(_entry.c.id).where(_entry.c.account_id == bindparam("account_id"))
                      .limit(1))


def normalise(text: str) -> str:
    """A code as typed, without its grouping: spaces and hyphens go, case does not matter."""
    return text.translate(_IGNORED).lower()


def issue(connection: Connection, rt: Runtime, account, *, replacing: bool) -> list[str]:
    """A new set for the account (a ``find_account`` row), under a new HMAC key; the old
    set (if any) dies."""
    account_id = account.id
    key = secrets.token_bytes(32)
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    if replacing:
        _DELETE_SET.run(connection, {"account_id": account_id})
    _INSERT_SET.run(connection, {"account_id": account_id, "now": rt.now(),
                                 "token": rt.current_key(connection, row=account).encrypt_json(
                                     {"recovery": key.hex()}),
                                 **{f"hmac{n}": _hmac(key, code) for n, code in enumerate(codes)}})
    if replacing:  # a first set is audited with its entry ("entry.verified")
        audit.record(connection, rt, "recovery_codes.generate", account_id=account_id,
                     detail=f"{COUNT} codes; the old set no longer works")
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def use(connection: Connection, rt: Runtime, account, typed: str) -> bool:
    """Spend one of the account's codes (``account``: a ``find_account`` row)."""
    code = normalise(typed)
    if not account.recovery_key or len(code) != LENGTH:
        return False
    opening = rt.current_key(connection, row=account)  # a pruned key reloaded first
    key = bytes.fromhex(opening.decrypt_json(account.recovery_key)["recovery"])
    used = _USE.run(connection, {"account_id": account.id, "hmac": _hmac(key, code),
                                 "now": rt.now()}).rowcount == 1
    if used:
        audit.record(connection, rt, "recovery_code.used", account_id=account.id)
    return used


def remaining(connection: Connection, account_id: int) -> int:
    return int(_REMAINING.scalar(connection, {"account_id": account_id}) or 0)


def forget(connection: Connection, account_id: int) -> None:
    """The account's last entry is gone: so are its recovery codes."""
    _DELETE_SET.run(connection, {"account_id": account_id})


def generate(rt: Runtime, account: str) -> dict:
    from twofa_cli.services.account_state import find_account

    with rt.connection() as connection:
        row = find_account(connection, account)
        if _ANY_ENTRY.first(connection, {"account_id": row.id}) is None:
            raise Rejected("this account has no 2FA entry: recovery codes come with the first one",
                           reason="no_entry")
        codes = issue(connection, rt, row, replacing=True)
    notifications.notify(rt, row.id, "recovery_codes_replaced")
    return {"recovery_codes": codes}


def status(rt: Runtime, account: str) -> dict:
    from twofa_cli.services.account_state import find_account

    with rt.connection() as connection:
        row = find_account(connection, account)
        return {"remaining": remaining(connection, row.id)}


def _hmac(key: bytes, code: str) -> str:
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()
