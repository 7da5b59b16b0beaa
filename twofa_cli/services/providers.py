"""Service providers: the platform's SMTP relay or a custom SMS provider.

Options a channel marks secret are stored only inside one Fernet token.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlmodel import Session, col, select

from twofa_cli import validate
from twofa_cli.channels import Channel, channel_class
from twofa_cli.errors import BadInput, Conflict, DeliveryFailed
from twofa_cli.runtime import Runtime
from twofa_cli.security import SecretKey, mask_secret
from twofa_cli.services import audit
from twofa_cli.services.common import ensure_title_free, find, flush_titled, iso
from twofa_cli.store.models import Provider, SecondaryAuth

KINDS = {"smtp": "configio", "twilio": "custom", "cdyne": "custom"}


def _validated(channel: type[Channel], options: dict):
    try:
        return channel.Options(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        reason = getattr(error.get("ctx", {}).get("error"), "reason", "")  # a BadInput's
        if error["type"] == "missing":
            message = f"{field} is required"
        elif error["type"] == "extra_forbidden":
            message = f"{field} is not an option of {channel.name}"
        elif field and not message.startswith(field):  # "account_sid: Account SID must be AC…"
            message = f"{field}: {message}"
        raise BadInput(message, reason=reason) from None


def _split(channel: type[Channel], options) -> tuple[dict, dict]:
    data = options.model_dump(exclude_none=True)
    secret = {k: v for k, v in data.items() if k in channel.secret_fields}
    public = {k: v for k, v in data.items() if k not in channel.secret_fields}
    return public, secret


def _options(provider: Provider, key: SecretKey) -> dict:
    secret = key.decrypt_json(provider.secrets) if provider.secrets else {}
    return {**provider.options, **secret}


def add_provider(rt: Runtime, *, channel: str, title: str, options: dict | None = None,
                 exist_ok: bool = False) -> dict:
    """Add a provider; with ``exist_ok`` an identical one (same title, channel and
    options) is returned as it is, while a different one under the title is a Conflict."""
    channel_cls = channel_class(channel)
    title = validate.text(title)
    public, secret = _split(channel_cls, _validated(channel_cls, options or {}))
    now = rt.now()
    with rt.transaction() as session:
        key = rt.current_key(session)
        existing = session.exec(select(Provider).where(Provider.title == title)).first()
        if exist_ok and existing is not None and existing.channel == channel \
                and _options(existing, key) == {**public, **secret}:
            return provider_public(session, existing, key)
        ensure_title_free(session, Provider, title, what="provider")
        provider = Provider(
            kind=KINDS[channel],
            channel=channel,
            title=title,
            options=public,
            secrets=key.encrypt_json(secret) if secret else "",
            created_at=now,
            updated_at=now,
        )
        session.add(provider)
        flush_titled(session, title, what="provider")
        audit.record(session, rt, "provider.add", target=f"{provider.id}:{title}", detail=channel)
        return provider_public(session, provider, key)


def list_providers(rt: Runtime) -> list[dict]:
    with rt.transaction() as session:
        providers = session.exec(select(Provider).order_by(col(Provider.id))).all()
        return [provider_public(session, p, rt.key) for p in providers]


def show_provider(rt: Runtime, ident: str) -> dict:
    with rt.transaction() as session:
        provider = find(session, Provider, ident, by="title", what="provider")
        return provider_public(session, provider, rt.key)


def update_provider(
    rt: Runtime, ident: str, *, title: str | None = None, options: dict | None = None
) -> dict:
    changes = {k: v for k, v in (options or {}).items() if v is not None}
    if title is None and not changes:
        raise BadInput("nothing to update: give --title or an option to change")
    if title is not None:
        title = validate.text(title)
    with rt.transaction() as session:
        provider = find(session, Provider, ident, by="title", what="provider")
        channel_cls = channel_class(provider.channel)
        if title is not None:
            # Check before assigning: the query would autoflush a duplicate title into
            # the unique index and fail with an IntegrityError instead of a Conflict.
            ensure_title_free(session, Provider, title, what="provider", own_id=provider.id)
            provider.title = title
        if changes:
            key = rt.current_key(session)  # before the old secrets are read: they may need it
            merged = channel_cls.Options.merge(_options(provider, key), changes)
            public, secret = _split(channel_cls, _validated(channel_cls, merged))
            provider.options = public
            provider.secrets = key.encrypt_json(secret) if secret else ""
        provider.updated_at = rt.now()
        session.add(provider)
        flush_titled(session, provider.title, what="provider")
        changed = sorted(changes) + (["title"] if title is not None else [])
        audit.record(
            session, rt, "provider.update",
            target=f"{provider.id}:{provider.title}", detail=",".join(changed),
        )
        return provider_public(session, provider, rt.key)


def _dependents(session: Session, provider: Provider) -> list[SecondaryAuth]:
    query = select(SecondaryAuth).where(SecondaryAuth.provider_id == provider.id)
    return list(session.exec(query.order_by(col(SecondaryAuth.id))))


def removal_plan(rt: Runtime, ident: str) -> dict:
    """What ``remove_provider`` would delete, so the caller can ask before cascading."""
    with rt.transaction() as session:
        provider = find(session, Provider, ident, by="title", what="provider")
        return {
            "provider": provider_public(session, provider, rt.key),
            "secondary_auth": [{"id": s.id, "title": s.title} for s in _dependents(session, provider)],
        }


def remove_provider(rt: Runtime, ident: str, *, cascade: bool = False) -> dict:
    from twofa_cli.services.secondary_auth import delete_secondary_auth, drop_fallback_provider

    with rt.transaction() as session:
        provider = find(session, Provider, ident, by="title", what="provider")
        dependents = _dependents(session, provider)
        if dependents and not cascade:
            titles = ", ".join(repr(s.title) for s in dependents)
            raise Conflict(
                f"provider {provider.title!r} is used by secondary auth {titles}: "
                "pass --yes to remove them too"
            )
        data = provider_public(session, provider, rt.key)
        removed = [delete_secondary_auth(session, rt, s) for s in dependents]
        drop_fallback_provider(session, provider.id)
        session.flush()  # delete the methods first: no ORM relationship orders these DELETEs
        session.delete(provider)
        audit.record(session, rt, "provider.remove", target=f"{provider.id}:{provider.title}")
        return {"removed": data, "secondary_auth_removed": removed}


def provider_public(session: Session, provider: Provider, key: SecretKey) -> dict:
    channel_cls = channel_class(provider.channel)
    options = dict(provider.options)
    if "api_base_url" in options:  # one stored before URLs were checked may hold a password
        options["api_base_url"] = validate.without_userinfo(options["api_base_url"])
    if provider.secrets:
        for name, value in key.decrypt_json(provider.secrets).items():
            options[name] = mask_secret(value)
    return {
        "id": provider.id,
        "kind": provider.kind,
        "channel": provider.channel,
        "medium": channel_cls.medium,
        "title": provider.title,
        "options": options,
        "secondary_auth": [s.title for s in _dependents(session, provider)],
        "created_at": iso(provider.created_at),
        "updated_at": iso(provider.updated_at),
    }


def open_channel(rt: Runtime, provider: Provider) -> Channel:
    channel_cls = channel_class(provider.channel)
    # Validated again: a provider stored before a rule existed (the URL policy) must meet it.
    try:
        options = _validated(channel_cls, _options(provider, rt.key))
    except BadInput as exc:
        raise DeliveryFailed(f"provider {provider.title!r} cannot be used: {exc.message} "
                             "(fix it with `twofa provider update`)") from None
    return channel_cls(options, rt.settings)


def instructions(channel: str) -> dict:
    channel_cls = channel_class(channel)
    return {"channel": channel, "kind": KINDS[channel], "instructions": channel_cls.instructions}
