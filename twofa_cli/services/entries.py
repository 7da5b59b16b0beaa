"""Secondary Authentication Entries: a customer's verified methods (the Managing list)."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from twofa_cli.errors import NotFound
from twofa_cli.runtime import Runtime
from twofa_cli.security import PASSKEY_PREFIX, mask_destination
from twofa_cli.services import audit, devices, notifications, recovery
from twofa_cli.services.account_state import find_account
from twofa_cli.services.common import find, iso
from twofa_cli.store.core import Prepared
from twofa_cli.store.models import Account, Challenge, Entry, Passkey, SecondaryAuth


def list_entries(rt: Runtime, account: str) -> list[dict]:
    with rt.transaction() as session:
        row = find(session, Account, account, by="email", what="account")
        passkeys = passkeys_of(session.connection(), row.id)
        return [entry_public(entry, method.title, kind=method.kind, passkey=passkeys.get(entry.id))
                for entry, method in _entries(session, row.id)]


def _entries(session: Session, account_id: int) -> list[tuple[Entry, SecondaryAuth]]:
    return list(
        session.exec(
            select(Entry, SecondaryAuth)
            .join(SecondaryAuth, col(SecondaryAuth.id) == Entry.secondary_auth_id)
            .where(Entry.account_id == account_id)
            .order_by(col(Entry.id))
        ).all()
    )


_entry, _challenge, _method = Entry.__table__, Challenge.__table__, SecondaryAuth.__table__
_passkey = Passkey.__table__
_ENTRIES = Prepared(select(_entry.c.id, _entry.c.account_id, _entry.c.destination, _entry.c.created_at,
                   _entry.c.preferred, _method.c.title, _method.c.kind)
            .join_from(_entry, _method, _method.c.id == _entry.c.secondary_auth_id)
            .where(_entry.c.account_id == bindparam("account_id"))
            .order_by(_entry.c.id))
_DELETE_CHALLENGES = Prepared(delete(_challenge).where(_challenge.c.entry_id == bindparam("entry_id")))
PASSKEYS_OF = Prepared(select(_passkey).where(_passkey.c.account_id == bindparam("account_id"))
                        .order_by(_passkey.c.id))
_DELETE_PASSKEY = Prepared(delete(_passkey).where(_passkey.c.entry_id == bindparam("entry_id")))
_DELETE = Prepared(delete(_entry).where(_entry.c.id == bindparam("entry_id")))
_PREFER = Prepared(update(_entry).where(_entry.c.account_id == bindparam("account_id"))
                   .values(preferred=_entry.c.id == bindparam("entry_id")))
_ANY_LEFT = Prepared(select(_entry.c.id).where(_entry.c.account_id == bindparam("account_id")).limit(1))


def remove_entry(rt: Runtime, account: str, entry: str) -> dict:
    with rt.connection() as connection:
        found = _find_entry(connection, account, entry)
        passkey = passkeys_of(connection, found.account_id).get(found.id)
        data = entry_public(found, found.title, kind=found.kind, passkey=passkey)
        data["trusted_devices_revoked"] = delete_entry(connection, rt, found)
    told = found.destination if passkey is None else PASSKEY_PREFIX + passkey.name
    notifications.notify(rt, found.account_id, "entry_deleted", destination=told)
    return data


def prefer_entry(rt: Runtime, account: str, entry: str) -> dict:
    """Make ``entry`` the one a login uses when the account has several."""
    with rt.connection() as connection:
        found = _find_entry(connection, account, entry)
        _PREFER.run(connection, {"account_id": found.account_id, "entry_id": found.id})
        audit.record(connection, rt, "entry.prefer", account_id=found.account_id,
                     target=str(found.id))
        passkey = passkeys_of(connection, found.account_id).get(found.id)
        return {**entry_public(found, found.title, kind=found.kind, passkey=passkey),
                "preferred": True}


def _find_entry(connection: Connection, account: str, entry: str):
    row = find_account(connection, account)
    text = str(entry).strip()
    names = {e: p.name for e, p in passkeys_of(connection, row.id).items()}
    matches = [
        e for e in _ENTRIES.run(connection, {"account_id": row.id}).rows()
        if (text.isdigit() and e.id == int(text)) or e.title == text or e.destination == text
        or names.get(e.id) == text
    ]
    if len(matches) != 1:
        what = "no" if not matches else "more than one"
        raise NotFound(f"{what} 2FA entry {text[:60]!r} for this account: use its id")
    return matches[0]


def delete_entry(connection: Connection, rt: Runtime, entry) -> int:
    """Delete an entry (an Entry, or a row with its ``id`` and ``account_id``); deleting an
    account's last one revokes its trusted devices and deletes its recovery codes."""
    _DELETE_CHALLENGES.run(connection, {"entry_id": entry.id})
    _DELETE_PASSKEY.run(connection, {"entry_id": entry.id})
    _DELETE.run(connection, {"entry_id": entry.id})
    audit.record(connection, rt, "entry.delete", account_id=entry.account_id, target=str(entry.id))
    if _ANY_LEFT.first(connection, {"account_id": entry.account_id}) is None:
        recovery.forget(connection, entry.account_id)
        return devices.revoke_all(connection, rt, entry.account_id, "last 2FA entry deleted")
    return 0


def passkeys_of(connection: Connection, account_id: int) -> dict:
    """The account's passkeys (``passkey`` rows) by their entry's id."""
    return {row.entry_id: row
            for row in PASSKEYS_OF.run(connection, {"account_id": account_id}).rows()}


def entry_public(entry, method_title: str, *, kind: str = "code", passkey=None) -> dict:
    """An entry as lists show it; a passkey's "destination" is its name (nothing to mask)."""
    return {
        "id": entry.id,
        "method": method_title,
        "kind": kind,
        "destination": passkey.name if passkey is not None else mask_destination(entry.destination),
        "name": passkey.name if passkey is not None else None,
        "verified": True,
        "preferred": bool(entry.preferred),
        "created_at": iso(entry.created_at),
        "last_used_at": iso(passkey.last_used_at) if passkey is not None else None,
    }
