"""Secondary Authentication Entries: a customer's verified methods (the Managing list)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, col, select

from twofa_cli.errors import NotFound
from twofa_cli.runtime import Runtime
from twofa_cli.security import mask_destination
from twofa_cli.services import audit, devices
from twofa_cli.services.common import find, iso
from twofa_cli.store.models import Account, Challenge, Entry, SecondaryAuth


def list_entries(rt: Runtime, account: str) -> list[dict]:
    with rt.transaction() as session:
        row = find(session, Account, account, by="email", what="account")
        return [entry_public(entry, method) for entry, method in _entries(session, row.id)]


def _entries(session: Session, account_id: int) -> list[tuple[Entry, SecondaryAuth]]:
    return list(
        session.exec(
            select(Entry, SecondaryAuth)
            .join(SecondaryAuth, col(SecondaryAuth.id) == Entry.secondary_auth_id)
            .where(Entry.account_id == account_id)
            .order_by(col(Entry.id))
        ).all()
    )


def remove_entry(rt: Runtime, account: str, entry: str) -> dict:
    with rt.transaction() as session:
        row = find(session, Account, account, by="email", what="account")
        text = str(entry).strip()
        matches = [
            (e, m) for e, m in _entries(session, row.id)
            if (text.isdigit() and e.id == int(text)) or m.title == text or e.destination == text
        ]
        if len(matches) != 1:
            what = "no" if not matches else "more than one"
            raise NotFound(f"{what} 2FA entry {text[:60]!r} for this account: use its id")
        found, method = matches[0]
        data = entry_public(found, method)
        data["trusted_devices_revoked"] = delete_entry(session, rt, found)
        return data


def delete_entry(session: Session, rt: Runtime, entry: Entry) -> int:
    """Delete an entry; deleting an account's last one revokes its trusted devices."""
    session.execute(delete(Challenge).where(col(Challenge.entry_id) == entry.id))
    session.delete(entry)
    session.flush()
    audit.record(session, rt, "entry.delete", account_id=entry.account_id, target=str(entry.id))
    remaining = session.exec(select(Entry.id).where(Entry.account_id == entry.account_id)).first()
    if remaining is None:
        return devices.revoke_all(session, rt, entry.account_id, "last 2FA entry deleted")
    return 0


def entry_public(entry: Entry, method: SecondaryAuth) -> dict:
    return {
        "id": entry.id,
        "method": method.title,
        "destination": mask_destination(entry.destination),
        "verified": True,
        "created_at": iso(entry.created_at),
    }
