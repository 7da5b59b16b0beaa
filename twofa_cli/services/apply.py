"""The Services Manager's set-up as one TOML document: ``export`` it, ``apply`` it.

The document names the company, the providers (secret options only as references,
``"env:NAME"`` or ``"file:PATH"``), the secondary-auth methods, the Allowed switch of
each audience and the settings config.toml sets. ``apply`` checks the whole document
first, plans the changes object by object, then makes them in one transaction and
writes config.toml last, so a bad document changes nothing. Applying the same
document twice changes nothing the second time.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from twofa_cli import validate
from twofa_cli.channels import CHANNELS, channel_class
from twofa_cli.config import load_layers
from twofa_cli.errors import BadInput
from twofa_cli.files import read_regular
from twofa_cli.runtime import Runtime
from twofa_cli.security import mask_secret
from twofa_cli.services import audit, configuration, provider_channels, providers, secondary_auth, system
from twofa_cli.store.models import Provider, SecondaryAuth, SecondaryAuthFallback

AUDIENCES = ("customer", "admin")
TOP_LEVEL = ("company_name", "audiences", "providers", "secondary_auth", "settings")
MAX_SECRET_FILE = 64 * 1024
MAX_DOCUMENT = 1024 * 1024
_REFERENCE = re.compile(r"(env|file):(.+)", re.S)


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    kind: str  # company_name | audience | provider | secondary_auth | setting
    name: str
    detail: str = ""  # what changes; secrets masked


@dataclass
class Desired:
    """A checked document: what the store and config.toml should hold."""

    company_name: str | None = None
    audiences: dict[str, bool] = field(default_factory=dict)
    providers: dict[str, tuple[str, dict]] = field(default_factory=dict)  # title -> channel, options
    # title -> (kind, provider title); an authenticator app ("totp") and passkeys have no provider
    methods: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    fallbacks: dict[str, list[str]] = field(default_factory=dict)  # method title -> providers
    settings: dict[str, Any] = field(default_factory=dict)  # dotted key -> value


# -- export ---------------------------------------------------------------------------


def export_document(rt: Runtime) -> dict:
    """The configuration as plain data (what ``export`` writes as TOML)."""
    document: dict[str, Any] = {}
    with rt.transaction() as session:
        if name := system.company_name(session):  # "" means not set yet; apply refuses it
            document["company_name"] = name
        document["audiences"] = {a: system.is_allowed(session, a) for a in AUDIENCES}
        rows = session.exec(select(Provider).order_by(col(Provider.id))).all()
        names: set[str] = set()
        document["providers"] = [_exported_provider(p, names) for p in rows]
        fallbacks = _stored_fallbacks(session)
        document["secondary_auth"] = [
            ({"title": title, "provider": provider}  # as before kinds came
             | ({"fallbacks": fallbacks[title]} if fallbacks.get(title) else {}))
            if kind == "code" else {"title": title, "kind": kind}
            for title, (kind, provider) in _stored_methods(session).items()
        ]
    document["settings"] = _exported_settings(rt)
    return document


def _stored_methods(session: Session) -> dict[str, tuple[str, str | None]]:
    """Every method, as ``Desired.methods`` holds them: title -> (kind, provider title)."""
    rows = session.exec(
        select(SecondaryAuth.title, SecondaryAuth.kind, Provider.title)
        .join(Provider, col(Provider.id) == SecondaryAuth.provider_id, isouter=True)
        .order_by(col(SecondaryAuth.id)))
    return {title: (kind, provider) for title, kind, provider in rows}


def _stored_fallbacks(session: Session) -> dict[str, list[str]]:
    """Each method's fallback provider titles, in order."""
    rows = session.exec(
        select(SecondaryAuth.title, Provider.title)
        .join(SecondaryAuthFallback, col(SecondaryAuthFallback.secondary_auth_id) == SecondaryAuth.id)
        .join(Provider, col(Provider.id) == SecondaryAuthFallback.provider_id)
        .order_by(col(SecondaryAuth.id), col(SecondaryAuthFallback.position)))
    stored: dict[str, list[str]] = {}
    for method, provider in rows:
        stored.setdefault(method, []).append(provider)
    return stored


def _exported_provider(provider: Provider, names: set[str]) -> dict:
    """Public options as they are; each secret option as an ``env:`` reference to fill in."""
    data = {"title": provider.title, "channel": provider.channel, **provider.options}
    for secret in sorted(channel_class(provider.channel).secret_fields):
        data[secret] = f"env:{_variable_name(provider, secret, names)}"
    return data


def _variable_name(provider: Provider, option: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Z0-9]+", "_", provider.title.upper()).strip("_")
    if not stem or stem[0].isdigit():
        stem = f"PROVIDER_{provider.id}"
    name = f"{stem}_{option.upper()}"
    if name in taken:
        name = f"{stem}_{provider.id}_{option.upper()}"
    taken.add(name)
    return name


def _exported_settings(rt: Runtime) -> dict:
    """The settings config.toml sets, by section: never the database URL (it may hold a
    password and belongs to the host), never a value from the environment."""
    sections: dict[str, dict] = {}
    for key, value in configuration.file_settings(load_layers(rt.settings.home)).items():
        section, name = key.split(".")
        if section != "database":
            sections.setdefault(section, {})[name] = value
    return sections


def export_text(rt: Runtime) -> str:
    import tomlkit

    document = export_document(rt)
    out = tomlkit.document()
    out.add(tomlkit.comment("twofa configuration, written by `twofa export`; load it with "
                            "`twofa apply FILE`."))
    out.add(tomlkit.comment("Secret options are references: before `twofa apply`, set each "
                            "environment variable named"))
    out.add(tomlkit.comment("by \"env:NAME\", or change the reference to \"file:PATH\" "
                            "(a file that holds only the value)."))
    if "company_name" in document:
        out.add("company_name", document["company_name"])
    out.add(tomlkit.nl())
    out.add("audiences", document["audiences"])
    for name in ("providers", "secondary_auth"):
        tables = tomlkit.aot()
        for item in document[name]:
            tables.append(tomlkit.item(item))
        out.add(name, tables)
    settings = tomlkit.table()
    for section, values in document["settings"].items():
        settings.add(section, values)
    out.add("settings", settings)
    return tomlkit.dumps(out)


# -- reading a document ---------------------------------------------------------------


def read_document(path: str | Path) -> dict:
    """The document at ``path``: a regular file of at most ``MAX_DOCUMENT`` (a FIFO or a
    device is refused, not waited on or read for ever)."""
    path = Path(path)
    data = read_regular(path, limit=MAX_DOCUMENT)
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadInput(f"{str(path)[:200]} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path.name} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses arrays and inline tables recursively
        raise BadInput(f"{path.name}: {validate.TOO_DEEP}") from None


def check_document(document: dict, *, layers, base: Path) -> Desired:
    """Every value checked as the commands check it; BadInput names the bad key's path."""
    desired = Desired()
    for key in document:
        if key not in TOP_LEVEL:
            raise BadInput(f"{key[:40]}: unknown key; expected {', '.join(TOP_LEVEL)}")
    if "company_name" in document:
        desired.company_name = _text(document["company_name"], "company_name", "company name")
    for audience, allowed in _table(document, "audiences").items():
        if audience not in AUDIENCES:
            raise BadInput(f"audiences.{audience[:40]}: unknown audience; expected customer or admin")
        desired.audiences[audience] = _typed(allowed, bool, f"audiences.{audience}")
    for index, item in enumerate(_tables(document, "providers")):
        title, channel, options = _checked_provider(item, f"providers[{index}]", base)
        if title in desired.providers:
            raise BadInput(f"providers[{index}].title: {title!r} is named twice")
        desired.providers[title] = (channel, options)
    for index, item in enumerate(_tables(document, "secondary_auth")):
        where = f"secondary_auth[{index}]"
        unknown = set(item) - {"title", "kind", "provider", "fallbacks"}
        if unknown:
            raise BadInput(f"{where}.{sorted(unknown)[0][:40]}: unknown key; "
                           "expected title, kind, provider, fallbacks")
        title = _text(item.get("title"), f"{where}.title")
        if title in desired.methods:
            raise BadInput(f"{where}.title: {title!r} is named twice")
        desired.methods[title] = _checked_method(item, where)
        fallbacks = item.get("fallbacks", [])
        if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
            raise BadInput(f"{where}.fallbacks: must be an array of provider titles")
        desired.fallbacks[title] = fallbacks
    settings = _table(document, "settings")
    if "database" in settings:
        raise BadInput("settings.database: the database URL belongs to each host, not to an "
                       "apply file: use `twofa init --database-url`")
    values = {}
    for section in settings:
        for name, value in _table(settings, section, f"settings.{section}").items():
            if f"{section}.{name}" not in configuration.setting_keys():
                raise BadInput(f"settings.{section}.{name[:40]}: unknown setting")
            values[f"{section}.{name}"] = value
    try:
        desired.settings = configuration.check_file_values(layers, values)
    except BadInput as exc:  # "codes.ttl_seconds: Input should be …"
        raise BadInput(f"settings.{exc.message}") from None
    return desired


def _checked(where: str, check):
    try:
        return check()
    except BadInput as exc:
        raise BadInput(f"{where}: {exc.message}") from None


def _text(value: Any, where: str, what: str = "title") -> str:
    """A label checked as the commands check it (validate.text)."""
    _typed(value, str, where)
    return _checked(where, lambda: validate.text(value, what))


def _typed(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        name = {str: "a string", bool: "true or false", dict: "a table"}.get(kind, kind.__name__)
        raise BadInput(f"{where}: must be {name}")
    return value


def _table(document: dict, key: str, where: str | None = None) -> dict:
    return _typed(document.get(key, {}), dict, where or key)


def _tables(document: dict, key: str) -> list[dict]:
    items = document.get(key, [])
    if not isinstance(items, list):
        raise BadInput(f"{key}: must be an array of tables ([[{key}]])")
    return [_typed(item, dict, f"{key}[{index}]") for index, item in enumerate(items)]


def _checked_method(item: dict, where: str) -> tuple[str, str | None]:
    kind = item.get("kind", "code")
    if kind not in ("code", "totp", "passkey"):
        raise BadInput(f'{where}.kind: must be "code", "totp" or "passkey"')
    if kind in ("totp", "passkey"):
        if "provider" in item:
            what = "an authenticator app (totp) names" if kind == "totp" else "passkeys name"
            raise BadInput(f"{where}.provider: {what} no provider")
        return kind, None
    if "provider" not in item:
        raise BadInput(f"{where}.provider: a code method names its provider")
    return kind, _typed(item["provider"], str, f"{where}.provider")


def _checked_provider(item: dict, where: str, base: Path) -> tuple[str, str, dict]:
    title = _text(item.get("title"), f"{where}.title")
    channel = item.get("channel")
    if channel not in CHANNELS:
        raise BadInput(f"{where}.channel: must be one of {', '.join(CHANNELS)}")
    channel_cls = CHANNELS[channel]
    options = {k: v for k, v in item.items() if k not in ("title", "channel")}
    for name in channel_cls.secret_fields & options.keys():
        options[name] = _resolved(options[name], f"{where}.{name}", base)
    try:
        checked = provider_channels.validated_options(channel_cls, options)
    except BadInput as exc:
        option = re.match(r"\w+", exc.message)
        joiner = "." if option and option[0] in channel_cls.Options.model_fields else ": "
        raise BadInput(f"{where}{joiner}{exc.message}") from None
    return title, channel, checked.model_dump(exclude_none=True)


def _resolved(reference: Any, where: str, base: Path) -> str:
    """The value behind ``env:NAME`` or ``file:PATH`` (relative to the document's folder)."""
    match = _REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
    if not match:
        raise BadInput(f'{where}: write a reference, "env:NAME" or "file:PATH", '
                       "not the secret itself")
    source, target = match.groups()
    if source == "env":
        value = os.environ.get(target)
        if not value:
            state = "is not set" if value is None else "is empty"
            raise BadInput(f"{where}: the environment variable {target[:60]} {state}")
        return value
    path = base / Path(target).expanduser()
    data = read_regular(path, limit=MAX_SECRET_FILE, what=f"{where}: {str(path)[:200]}")
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise BadInput(f"{where}: {str(path)[:200]} is not UTF-8 text") from None


# -- planning and applying ------------------------------------------------------------


def plan(session: Session, rt: Runtime, desired: Desired, file_values: dict, *,
         prune: bool) -> list[Change]:
    changes: list[Change] = []
    if desired.company_name is not None and desired.company_name != system.company_name(session):
        changes.append(Change("update", "company_name", "company_name", desired.company_name))
    for audience, allowed in desired.audiences.items():
        if allowed != system.is_allowed(session, audience):
            changes.append(Change("update", "audience", audience,
                                  "Active" if allowed else "Inactive"))

    current = {p.title: p for p in session.exec(select(Provider).order_by(col(Provider.id)))}
    for index, (title, (channel, options)) in enumerate(desired.providers.items()):
        existing = current.get(title)
        if existing is None:
            changes.append(Change("create", "provider", title, channel))
        elif existing.channel != channel:
            raise BadInput(f"providers[{index}].channel: provider {title!r} is {existing.channel}; "
                           "a provider's channel cannot change (give the new one another title)")
        else:
            differ = _option_changes(channel, provider_channels.stored_options(existing, rt.key), options)
            if differ:
                changes.append(Change("update", "provider", title, differ))

    methods = _stored_methods(session)
    stored_fallbacks = _stored_fallbacks(session)
    kept_providers = set(desired.providers) | (set() if prune else set(current))

    def medium(provider: str) -> str:
        channel = desired.providers[provider][0] if provider in desired.providers \
            else current[provider].channel
        return channel_class(channel).medium

    for index, (title, (kind, provider)) in enumerate(desired.methods.items()):
        where = f"secondary_auth[{index}]"
        if provider is not None and provider not in kept_providers:
            raise BadInput(f"{where}.provider: no provider {provider[:60]!r}"
                           + (" in the file" if prune and provider in current else ""))
        fallbacks = desired.fallbacks.get(title, [])
        for position, fallback in enumerate(fallbacks):
            if fallback not in kept_providers:
                raise BadInput(f"{where}.fallbacks[{position}]: no provider {fallback[:60]!r}")
            if provider is None or medium(fallback) != medium(provider) or fallback == provider \
                    or fallbacks.index(fallback) != position:
                raise BadInput(f"{where}.fallbacks[{position}]: {fallback[:60]!r} must be another "
                               "provider, named once, that sends like the method's own")
        if title not in methods:
            changes.append(Change("create", "secondary_auth", title,
                                  (f"provider {provider}" if provider else kind)
                                  + (f", fallbacks {', '.join(fallbacks)}" if fallbacks else "")))
            continue
        stored_kind, stored_provider = methods[title]
        if stored_kind != kind:
            # An entry holds an address or an app's key: neither serves the other kind.
            raise BadInput(f"{where}.kind: {title!r} is a {stored_kind} method; its customers' "
                           f"entries cannot become {kind} (give the new one another title)")
        if stored_provider != provider:
            old, new = medium(stored_provider), medium(provider)
            if old != new:
                raise BadInput(f"{where}.provider: {title!r} sends by {old}; "
                               f"its customers' entries cannot move to {new}")
        now = stored_fallbacks.get(title, [])
        differ = ([f"provider {stored_provider} -> {provider}"] if stored_provider != provider
                  else []) + ([f"fallbacks {', '.join(now) or '(none)'} -> "
                               f"{', '.join(fallbacks) or '(none)'}"] if now != fallbacks else [])
        if differ:
            changes.append(Change("update", "secondary_auth", title, "; ".join(differ)))

    for key, value in desired.settings.items():
        if key not in file_values:
            changes.append(Change("create", "setting", key, _shown(value)))
        elif file_values[key] != value:
            changes.append(Change("update", "setting", key,
                                  f"{_shown(file_values[key])} -> {_shown(value)}"))

    if prune:
        changes += [Change("delete", "secondary_auth", title) for title in methods
                    if title not in desired.methods]
        changes += [Change("delete", "provider", title) for title in current
                    if title not in desired.providers]
    return changes


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(empty)"
    return str(value)


def _option_changes(channel: str, current: dict, wanted: dict) -> str:
    secret = channel_class(channel).secret_fields
    shown = []
    for name in sorted(current.keys() | wanted.keys()):
        old, new = current.get(name), wanted.get(name)
        if old != new:
            if name in secret:
                old, new = mask_secret(old) or None, mask_secret(new) or None
            shown.append(f"{name}: {old or '(none)'} -> {new or '(none)'}")
    return "; ".join(shown)


def apply_document(rt: Runtime, path: str | Path, *, dry_run: bool = False,
                   prune: bool = False) -> dict:
    """Plan the changes that make the store and config.toml match the document, and
    (unless ``dry_run``) make them all in one transaction."""
    path = Path(path)
    layers = load_layers(rt.settings.home)
    desired = check_document(read_document(path), layers=layers, base=path.parent)
    file_values = configuration.file_settings(layers)
    with rt.one_transaction() as session:
        changes = plan(session, rt, desired, file_values, prune=prune)
        if dry_run or not changes:
            return {"changes": [asdict(c) for c in changes], "applied": False}
        for change in changes:
            _make(session, rt, change, desired)
        audit.record(session, rt, "config.apply", target=path.name[:200],
                     detail=f"{len(changes)} changes")
        settings = {c.name: desired.settings[c.name] for c in changes if c.kind == "setting"}
        if settings:  # last: a failure here rolls the store back too
            configuration.write_file_values(layers, settings)
    return {"changes": [asdict(c) for c in changes], "applied": True}


def _make(session: Session, rt: Runtime, change: Change, desired: Desired) -> None:
    # Rows are passed on by id: a title such as "2" would be taken for an id by the lookups.
    name = change.name
    if change.kind == "company_name":
        system.set_company_name(rt, desired.company_name)
    elif change.kind == "audience":
        system.set_allowed(rt, name, desired.audiences[name])
    elif change.kind == "provider" and change.action == "create":
        channel, options = desired.providers[name]
        providers.add_provider(rt, channel=channel, title=name, options=options)
    elif change.kind == "provider" and change.action == "update":
        _replace_options(session, rt, _by_title(session, Provider, name), *desired.providers[name])
    elif change.kind == "provider":
        providers.remove_provider(rt, str(_by_title(session, Provider, name).id), cascade=True)
    elif change.kind == "secondary_auth" and change.action == "create":
        kind, provider = desired.methods[name]
        target = _by_title(session, Provider, provider) if provider is not None else None
        secondary_auth.add_secondary_auth(
            rt, provider=target and str(target.id), title=name, kind=kind,
            fallbacks=[str(_by_title(session, Provider, f).id) for f in desired.fallbacks[name]])
    elif change.kind == "secondary_auth" and change.action == "update":
        method = _by_title(session, SecondaryAuth, name)
        target = _by_title(session, Provider, desired.methods[name][1])
        if method.provider_id != target.id:
            method.provider_id = target.id
            session.add(method)
            audit.record(session, rt, "secondary_auth.update", target=f"{method.id}:{name}",
                         detail=f"provider {target.id}:{target.title}")
        fallbacks = [_by_title(session, Provider, f) for f in desired.fallbacks[name]]
        if [f.title for f in fallbacks] != _stored_fallbacks(session).get(name, []):
            secondary_auth.set_fallbacks(session, rt, method, fallbacks)
    elif change.kind == "secondary_auth":
        secondary_auth.remove_secondary_auth(rt, str(_by_title(session, SecondaryAuth, name).id))


def _by_title(session: Session, model, title: str):
    return session.exec(select(model).where(model.title == title)).one()


def _replace_options(session: Session, rt: Runtime, provider: Provider, channel: str,
                     options: dict) -> None:
    """The document's options replace the stored ones (an option left out is removed)."""
    channel_cls = channel_class(channel)
    public, secret = providers._split(channel_cls, channel_cls.Options(**options))
    provider.options = public
    provider.secrets = rt.current_key(session).encrypt_json(secret) if secret else ""
    provider.updated_at = rt.now()
    session.add(provider)
    audit.record(session, rt, "provider.update", target=f"{provider.id}:{provider.title}",
                 detail="apply")
