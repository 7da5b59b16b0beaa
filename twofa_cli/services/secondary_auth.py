"""Secondary Authentication Providers: the 2FA methods customers choose from."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, col, select

from twofa_cli import validate
from twofa_cli.errors import BadInput
from twofa_cli.runtime import Runtime
from twofa_cli.services import audit, notifications
from twofa_cli.services.common import ensure_title_free, find, flush_titled, iso
from twofa_cli.services.entries import delete_entry
from twofa_cli.store.models import Challenge, Entry, Provider, SecondaryAuth


KINDS = ("code", "totp", "passkey")


def add_secondary_auth(rt: Runtime, *, provider: str | None, title: str, kind: str = "code",
                       exist_ok: bool = False) -> dict:
    """Offer a provider as a method (kind "code"), or an authenticator app (kind "totp",
    no provider), or passkeys (kind "passkey", no provider); with ``exist_ok`` the same title on the same provider (or of the same
    kind) is returned as it is, while the title on another is a Conflict."""
    title = validate.text(title)
    if kind not in KINDS:
        raise BadInput(f"kind is 'code', 'totp' or 'passkey', not {kind[:20]!r}")
    if (kind == "code") != (provider is not None):
        raise BadInput("a code method needs --provider; an authenticator app (totp) and "
                       "passkeys take none")
    with rt.transaction() as session:
        provider_row = (find(session, Provider, provider, by="title", what="provider")
                        if provider is not None else None)
        provider_id = provider_row.id if provider_row is not None else None
        existing = session.exec(select(SecondaryAuth).where(SecondaryAuth.title == title)).first()
        if (exist_ok and existing is not None and existing.provider_id == provider_id
                and existing.kind == kind):
            return secondary_auth_public(existing, provider_row)
        ensure_title_free(session, SecondaryAuth, title, what="secondary auth provider")
        method = SecondaryAuth(provider_id=provider_id, kind=kind, title=title,
                               created_at=rt.now())
        session.add(method)
        flush_titled(session, title, what="secondary auth provider")
        audit.record(session, rt, "secondary_auth.add", target=f"{method.id}:{title}")
        return secondary_auth_public(method, provider_row)


def list_secondary_auth(rt: Runtime) -> list[dict]:
    with rt.transaction() as session:
        rows = session.exec(
            select(SecondaryAuth, Provider)
            .join(Provider, col(Provider.id) == SecondaryAuth.provider_id, isouter=True)
            .order_by(col(SecondaryAuth.id))
        ).all()
        return [secondary_auth_public(method, provider) for method, provider in rows]


def show_secondary_auth(rt: Runtime, ident: str) -> dict:
    with rt.transaction() as session:
        method = find(session, SecondaryAuth, ident, by="title", what="secondary auth provider")
        provider = session.get(Provider, method.provider_id) if method.provider_id else None
        entries = session.exec(select(Entry.id).where(Entry.secondary_auth_id == method.id)).all()
        return {**secondary_auth_public(method, provider), "entries": len(entries)}


def entries_using(rt: Runtime, ident: str) -> int:
    with rt.transaction() as session:
        method = find(session, SecondaryAuth, ident, by="title", what="secondary auth provider")
        return len(session.exec(select(Entry.id).where(Entry.secondary_auth_id == method.id)).all())


def remove_secondary_auth(rt: Runtime, ident: str) -> dict:
    with rt.transaction() as session:
        method = find(session, SecondaryAuth, ident, by="title", what="secondary auth provider")
        lost = session.exec(select(Entry.account_id, Entry.destination)
                            .where(Entry.secondary_auth_id == method.id)).all()
        result = delete_secondary_auth(session, rt, method)
    for account_id, destination in lost:  # once committed (rule 27)
        notifications.notify(rt, account_id, "entry_deleted", destination=destination)
    return result


def delete_secondary_auth(session: Session, rt: Runtime, method: SecondaryAuth) -> dict:
    """Delete a method with the entries and pending codes that use it."""
    entries = session.exec(select(Entry).where(Entry.secondary_auth_id == method.id)).all()
    for entry in entries:
        delete_entry(session.connection(), rt, entry)
    session.execute(delete(Challenge).where(col(Challenge.secondary_auth_id) == method.id))
    session.delete(method)
    audit.record(
        session, rt, "secondary_auth.remove",
        target=f"{method.id}:{method.title}", detail=f"{len(entries)} entries removed",
    )
    return {"id": method.id, "title": method.title, "entries_removed": len(entries)}


def secondary_auth_public(method: SecondaryAuth, provider: Provider | None) -> dict:
    return {
        "id": method.id,
        "kind": method.kind,
        "provider_id": method.provider_id,
        "title": method.title,
        "provider": provider.title if provider is not None else None,
        "channel": provider.channel if provider is not None else None,
        "created_at": iso(method.created_at),
    }
