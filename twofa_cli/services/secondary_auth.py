"""Secondary Authentication Providers: the 2FA methods customers choose from."""

from __future__ import annotations

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from twofa_cli import validate
from twofa_cli.errors import BadInput
from twofa_cli.runtime import Runtime
from twofa_cli.services import audit, notifications
from twofa_cli.services.common import ensure_title_free, find, flush_titled, iso
from twofa_cli.services.entries import delete_entry
from twofa_cli.channels import channel_class
from twofa_cli.store.models import Challenge, Entry, Provider, SecondaryAuth, SecondaryAuthFallback


KINDS = ("code", "totp", "passkey")


def add_secondary_auth(rt: Runtime, *, provider: str | None, title: str, kind: str = "code",
                       exist_ok: bool = False, fallbacks: list[str] | None = None) -> dict:
    """Offer a provider as a method (kind "code"), or an authenticator app (kind "totp",
    no provider), or passkeys (kind "passkey", no provider); with ``exist_ok`` the same
    title on the same provider (or of the same kind) is returned as it is, while the title
    on another is a Conflict. ``fallbacks`` (provider ids or titles, same medium) send the
    code, in order, when the provider fails or is over its hourly cap."""
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
                and existing.kind == kind and (fallbacks is None or [
                    p.id for p in _fallback_providers(session, existing.id)] == [
                    p.id for p in _checked_fallbacks(session, provider_row, fallbacks)])):
            return secondary_auth_public(existing, provider_row, session)
        ensure_title_free(session, SecondaryAuth, title, what="secondary auth provider")
        chosen = _checked_fallbacks(session, provider_row, fallbacks or [])
        method = SecondaryAuth(provider_id=provider_id, kind=kind, title=title,
                               created_at=rt.now())
        session.add(method)
        flush_titled(session, title, what="secondary auth provider")
        _store_fallbacks(session, method, chosen)
        audit.record(session, rt, "secondary_auth.add", target=f"{method.id}:{title}",
                     detail=_fallbacks_detail(chosen))
        return secondary_auth_public(method, provider_row, session)


def update_secondary_auth(rt: Runtime, ident: str, *, fallbacks: list[str]) -> dict:
    """Replace a method's fallback providers (an empty list: none)."""
    with rt.transaction() as session:
        method = find(session, SecondaryAuth, ident, by="title", what="secondary auth provider")
        provider = session.get(Provider, method.provider_id) if method.provider_id else None
        chosen = _checked_fallbacks(session, provider, fallbacks)
        set_fallbacks(session, rt, method, chosen)
        return secondary_auth_public(method, provider, session)


def set_fallbacks(session: Session, rt: Runtime, method: SecondaryAuth,
                  chosen: list[Provider]) -> None:
    session.execute(delete(SecondaryAuthFallback)
                    .where(col(SecondaryAuthFallback.secondary_auth_id) == method.id))
    _store_fallbacks(session, method, chosen)
    audit.record(session, rt, "secondary_auth.update", target=f"{method.id}:{method.title}",
                 detail=_fallbacks_detail(chosen) or "no fallbacks")


def _checked_fallbacks(session: Session, provider: Provider | None,
                       fallbacks: list[str]) -> list[Provider]:
    """The fallback providers named, in order: each once, never the method's own, and
    sending by the same medium (an entry holds a phone number or an email address)."""
    if not fallbacks:
        return []
    if provider is None:
        raise BadInput("an authenticator app (totp) sends nothing: it takes no --fallback")
    medium = channel_class(provider.channel).medium
    chosen: list[Provider] = []
    for ident in fallbacks:
        fallback = find(session, Provider, ident, by="title", what="provider")
        if fallback.id == provider.id or fallback.id in {p.id for p in chosen}:
            raise BadInput(f"provider {fallback.title!r} is named twice (as the provider or "
                           "a fallback)")
        if channel_class(fallback.channel).medium != medium:
            raise BadInput(f"fallback {fallback.title!r} sends {channel_class(fallback.channel).medium}"
                           f", the method's provider {provider.title!r} sends {medium}")
        chosen.append(fallback)
    return chosen


def _store_fallbacks(session: Session, method: SecondaryAuth, chosen: list[Provider]) -> None:
    for position, fallback in enumerate(chosen):
        session.add(SecondaryAuthFallback(secondary_auth_id=method.id, position=position,
                                          provider_id=fallback.id))
    session.flush()


def _fallbacks_detail(chosen: list[Provider]) -> str:
    return "fallbacks: " + ", ".join(f"{p.id}:{p.title}" for p in chosen) if chosen else ""


def _fallback_providers(session: Session, method_id: int | None) -> list[Provider]:
    return list(session.exec(
        select(Provider).join(SecondaryAuthFallback,
                              col(SecondaryAuthFallback.provider_id) == Provider.id)
        .where(SecondaryAuthFallback.secondary_auth_id == method_id)
        .order_by(col(SecondaryAuthFallback.position))).all())


def drop_fallback_provider(session: Session, provider_id: int) -> None:
    """A provider being removed stops being anyone's fallback."""
    session.execute(delete(SecondaryAuthFallback)
                    .where(col(SecondaryAuthFallback.provider_id) == provider_id))


def list_secondary_auth(rt: Runtime) -> list[dict]:
    with rt.transaction() as session:
        rows = session.exec(
            select(SecondaryAuth, Provider)
            .join(Provider, col(Provider.id) == SecondaryAuth.provider_id, isouter=True)
            .order_by(col(SecondaryAuth.id))
        ).all()
        return [secondary_auth_public(method, provider, session) for method, provider in rows]


def show_secondary_auth(rt: Runtime, ident: str) -> dict:
    with rt.transaction() as session:
        method = find(session, SecondaryAuth, ident, by="title", what="secondary auth provider")
        provider = session.get(Provider, method.provider_id) if method.provider_id else None
        return secondary_auth_public(method, provider, session)


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
    session.execute(delete(SecondaryAuthFallback)
                    .where(col(SecondaryAuthFallback.secondary_auth_id) == method.id))
    session.delete(method)
    audit.record(
        session, rt, "secondary_auth.remove",
        target=f"{method.id}:{method.title}", detail=f"{len(entries)} entries removed",
    )
    return {"id": method.id, "title": method.title, "entries_removed": len(entries)}


def secondary_auth_public(method: SecondaryAuth, provider: Provider | None,
                          session: Session) -> dict:
    entries = session.exec(select(func.count()).select_from(Entry)
                           .where(Entry.secondary_auth_id == method.id)).one()
    return {
        "id": method.id,
        "kind": method.kind,
        "title": method.title,
        "provider_id": method.provider_id,
        "provider": provider.title if provider is not None else None,
        "channel": provider.channel if provider is not None else None,
        "fallbacks": [fallback.title for fallback in _fallback_providers(session, method.id)],
        "entries": entries,
        "created_at": iso(method.created_at),
    }
