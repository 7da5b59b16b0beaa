"""twofa as a library: the one public API the shop's web app (and ``twofa serve``) calls.

    from twofa_cli import TwoFactor

    with TwoFactor.open(home) as twofa:
        sent = twofa.login("alice@example.com", password, device_token=cookie)

Every result is a frozen dataclass with real types (``datetime`` in UTC, never an ISO
string). Every failure is an exception of the one tree in ``twofa_cli.errors``; its
``exit_code`` is the CLI's exit code for the same failure:

=====================  ====  ==================================================
``Rejected``            1    wrong code or password, nothing pending, 2FA off
``Conflict``            1    a title or account that already exists
``PasswordRequired``    1    a sensitive change wants the password again (step-up)
``NotInitialised``      1    the home was never set up (``TwoFactor.initialise``)
``DatabaseUnavailable`` 1    the store cannot be reached
``BadInput``            2    malformed email, phone, code, password, option
``NotFound``            3    unknown account, provider, method, entry, device
``Throttled``           4    too many tries or sends; ``retry_after`` seconds
``DeliveryFailed``      5    the provider refused or could not be reached
=====================  ====  ==================================================

One ``TwoFactor`` may be shared by the threads of a web server: it holds one engine
(a pool of connections) and each call runs in a session of its own. The services it
wraps return JSON-ready dicts today; each is reached through one small private
function below, so a change of a service's signature is mended in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from twofa_cli.errors import (
    BadInput,
    Conflict,
    DatabaseUnavailable,
    DeliveryFailed,
    NotFound,
    NotInitialised,
    PasswordRequired,
    Rejected,
    SchemaOutOfDate,
    Throttled,
    TwofaError,
)

if TYPE_CHECKING:  # the store's packages load when a home is opened, not on import
    from twofa_cli.runtime import Runtime

Audience = Literal["customer", "admin"]
AccountRef = str | int  # an account's id or email; providers and methods: id or title

__all__ = [
    "Account", "AccountDetails", "AccountRef", "AccountRemoved", "Applied", "Audience",
    "AuditEvent", "BadInput", "Change", "CodeRequired", "CodeSent", "Conflict", "Configuration",
    "DatabaseUnavailable", "Delivery", "DeliveryFailed", "DeliveryStats", "Entry", "EntryRemoved", "Home", "Imported",
    "Instructions", "LoginResult", "Method", "MethodRef", "MethodRemoved",
    "NotFound", "NotInitialised", "OutboxMessage", "PasskeyRegistered", "PasswordRequired",
    "PendingCode", "Policy",
    "Provider", "ProviderRemoved", "ProviderUsage", "Rejected", "Session", "SchemaOutOfDate", "SchemaStatus",
    "SecretIssued", "Setting", "StatusReport", "TestReceipt", "Throttled", "TrustedDevice", "TwoFactor", "TwofaError",
    "Verification",
]


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Home:
    """A home made (or found complete) by ``TwoFactor.initialise``."""

    path: Path
    config_file: Path
    database: str  # the URL, password masked
    schema_revision: str
    created: tuple[str, ...]  # what this call created: "home", "config", "key", "schema"
    key: str = ""  # where the secret key comes from: the key file's path or "environment"
    upgraded_from: str | None = None  # the schema revision before, if this call upgraded it


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str
    audience: Audience
    created_at: datetime


@dataclass(frozen=True)
class Provider:
    id: int
    kind: str  # "configio" | "custom"
    channel: str  # "smtp" | "twilio" | "cdyne"
    medium: str  # "sms" | "email"
    title: str
    options: Mapping[str, Any]  # secret options masked ("…abcd")
    secondary_auth: tuple[str, ...]  # titles of the methods it sends for (first or fallback)
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Method:
    """A Secondary Authentication Provider: a 2FA method customers pick by its title."""

    id: int
    # a code sent through the provider | an authenticator app | passkeys (WebAuthn)
    kind: Literal["code", "totp", "passkey"]
    title: str
    provider_id: int | None  # None for an authenticator app or passkeys
    provider: str | None  # the provider's title
    channel: str | None  # the provider's: "smtp" | "twilio" | "cdyne"
    # "sms": ask for a phone number; "email": for an email address; "app", "passkey":
    # nothing to ask
    medium: str
    # Provider titles that send the code, in order, when the provider fails or is over
    # its hourly cap.
    fallbacks: tuple[str, ...]
    entries: int  # the customers' verified entries that use it
    created_at: datetime


@dataclass(frozen=True)
class Policy:
    """The "Allowed: Active/Inactive" switch of one audience."""

    audience: Audience
    active: bool
    methods: int  # how many secondary auth methods exist to enrol with


@dataclass(frozen=True)
class CodeSent:
    challenge_id: int
    expires_at: datetime
    destination: str  # masked: "+1••••••0199", "a•••@example.com"
    sent_at: datetime  # when its code was sent last
    # True when a login sent nothing new: a code may not be sent yet, and the one sent at
    # ``sent_at`` (from another browser, say) still works. Tell the customer so.
    reused: bool = False


@dataclass(frozen=True)
class SecretIssued:
    """An authenticator app's enrolment: show the URI as a QR code; ``verify`` completes it."""

    challenge_id: int
    otpauth_uri: str = field(repr=False)
    secret: str = field(repr=False)  # base32, for apps that take it typed

    def qr_text(self) -> str:
        """The URI as a QR code drawn with text, for a terminal."""
        from twofa_cli.services.totp import qr_text

        return qr_text(self.otpauth_uri)

    def qr_png(self) -> bytes:
        """The URI as a QR code, a PNG image."""
        from twofa_cli.services.totp import qr_png

        return qr_png(self.otpauth_uri)

    def qr_svg(self) -> str:
        """The URI as a QR code, an inline SVG element (for a page: no image request)."""
        from twofa_cli.services.totp import qr_svg

        return qr_svg(self.otpauth_uri)


@dataclass(frozen=True)
class CodeRequired:
    """A login to an authenticator-app entry: nothing was sent; ask for the app's code."""

    challenge_id: int
    method: str  # the method's title


@dataclass(frozen=True)
class LoginResult:
    # "passkey_required": the preferred entry is a passkey; nothing was sent: run
    # ``begin_passkey_login(session_token)`` / ``finish_passkey_login`` (or a recovery code)
    status: Literal["code_sent", "code_required", "passkey_required", "authenticated"]
    account: Account
    code: CodeSent | None  # set when status == "code_sent": ask for the code
    reason: str | None = None  # why no code was needed: "trusted device", "no 2FA entry", …
    required: CodeRequired | None = None  # set when status == "code_required"
    # The new session's token, shown this once: "pending" until ``verify`` completes the
    # login (pass it there), "signed_in" when status == "authenticated". The store keeps
    # only its SHA-256.
    session_token: str | None = field(default=None, repr=False)

    @property
    def authenticated(self) -> bool:
        return self.status == "authenticated"


@dataclass(frozen=True)
class Verification:
    status: Literal["verified", "authenticated"]  # an enrolment completed | a login completed
    account_id: int
    entry_id: int | None
    # The "Trust this device" token, handed over this once: set it as the client's cookie.
    # The store keeps only its SHA-256; it never shows in a repr.
    device_token: str | None = field(default=None, repr=False)
    # The account's first entry brings its recovery codes, shown this once.
    recovery_codes: tuple[str, ...] = field(default=(), repr=False)
    recovery_codes_remaining: int | None = None  # set when a recovery code was used
    # A completed login's signed-in session token (when ``verify`` was given the pending
    # one): a new token, shown this once; the pending one is dead.
    session_token: str | None = field(default=None, repr=False)

    @property
    def trusted_device(self) -> bool:
        return self.device_token is not None


@dataclass(frozen=True)
class Session:
    """A login session in the store (``TwoFactor.session``); its token is never kept."""

    id: int
    account_id: int
    state: Literal["pending", "signed_in"]
    device: str  # the CLI's --device, or what the caller named the client's device
    client: str  # the caller's notion of the client (``twofa serve``: the peer address)
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # when it ends if not used again (idle or absolute, the sooner)
    password_at: datetime | None  # when the password was last given (login or step-up)
    step_up_due: bool  # a sensitive change must ask for the password first


@dataclass(frozen=True)
class PendingCode:
    """The code an account's pending enrolment or login waits for."""

    challenge_id: int
    purpose: Literal["enroll", "login"]
    method: str  # the method's title
    kind: Literal["code", "totp"]  # "totp": nothing is sent, the app shows the code
    destination: str  # masked
    sent_at: datetime | None  # when its code was last sent (None for an app)
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class Entry:
    """A verified Secondary Authentication Entry of an account."""

    id: int
    method: str
    destination: str  # masked
    verified: bool = True  # always: an enrolment becomes an entry when its code is verified
    preferred: bool = False  # the entry a login uses (``prefer_entry``)
    created_at: datetime
    kind: Literal["code", "totp", "passkey"] = "code"
    name: str | None = None  # a passkey's name (its ``destination`` too)
    last_used_at: datetime | None = None  # a passkey's last sign-in


@dataclass(frozen=True)
class PasskeyRegistered:
    """``finish_passkey_registration``: the new entry; the account's first one brings its
    ten recovery codes, shown this once."""

    entry: Entry
    recovery_codes: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class EntryRemoved:
    entry: Entry
    trusted_devices_revoked: int  # deleting the last entry revokes every trusted device


@dataclass(frozen=True)
class TrustedDevice:
    id: int
    name: str  # the browser's (the CLI's --device)
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class OutboxMessage:
    """A message "sent" in simulate mode (the default of a new home)."""

    id: int
    to: str
    # The provider's channel it would have gone through ("smtp" | "twilio" | "cdyne"); None
    # for a message written before twofa kept it.
    channel: str | None
    medium: str  # "email" | "sms"
    subject: str
    body: str
    code: str | None
    created_at: datetime


@dataclass(frozen=True)
class AccountDetails:
    """An account with its 2FA state (``accounts``, ``account_details``)."""

    id: int
    email: str
    name: str
    audience: Audience
    entries: int
    trusted_devices: int  # active ones
    failed_verifications: int  # wrong codes in a row
    failed_logins: int  # failed passwords in the current hour's window, every client
    created_at: datetime
    lock_ends_at: datetime | None  # set while 2FA verification is locked
    login_block_ends_at: datetime | None  # set while every client must wait to log in


@dataclass(frozen=True)
class AccountRemoved:
    account: Account
    entries_removed: int


@dataclass(frozen=True)
class Imported:
    imported: int
    skipped: int  # rows of accounts that existed (``skip_existing``)
    file: Path


@dataclass(frozen=True)
class MethodRef:
    id: int
    title: str


@dataclass(frozen=True)
class MethodRemoved:
    id: int
    title: str
    entries_removed: int


@dataclass(frozen=True)
class ProviderUsage:
    """A provider and the methods that use it: what removing it would also remove."""

    provider: Provider
    secondary_auth: tuple[MethodRef, ...]


@dataclass(frozen=True)
class ProviderRemoved:
    provider: Provider
    secondary_auth_removed: tuple[MethodRemoved, ...]


DeliveryStatus = Literal["queued", "sent", "delivered", "undelivered", "failed"]


@dataclass(frozen=True)
class Delivery:
    """One message a provider took, and what it reported of it since."""

    id: int
    provider_id: int | None  # None once the provider was removed
    provider: str | None  # its title
    destination: str  # masked
    status: DeliveryStatus
    error_code: str | None  # the provider's, e.g. Twilio's "30003"
    provider_message_id: str
    sent_at: datetime
    updated_at: datetime | None  # when a status report last moved it


@dataclass(frozen=True)
class DeliveryStats:
    """One provider's deliveries over a period: ``sent`` counts them all."""

    provider: str | None
    sent: int
    delivered: int
    undelivered: int
    failed: int


@dataclass(frozen=True)
class StatusReport:
    """A provider's signed status report, applied: ``changed`` is False for a repeat, a
    report that would move the status backwards, or a message twofa did not send."""

    provider_id: int
    message_id: str
    status: DeliveryStatus | None  # None: a status twofa does not track
    changed: bool


@dataclass(frozen=True)
class TestReceipt:
    """The receipt of ``test_provider``'s message."""

    __test__ = False  # not a pytest test class

    provider_id: int
    mode: Literal["simulate", "live"]  # "simulate": it is in the outbox
    channel: str  # the provider's: "smtp" | "twilio" | "cdyne"
    to: str  # masked
    message_id: str
    status: str


@dataclass(frozen=True)
class Instructions:
    channel: str
    kind: str
    instructions: str  # the steps to take at the vendor, as text


@dataclass(frozen=True)
class AuditEvent:
    id: int
    actor: str
    action: str
    account_id: int | None
    target: str
    outcome: str
    detail: str
    created_at: datetime


@dataclass(frozen=True)
class Setting:
    """A config.toml setting's effective value and where it comes from."""

    key: str  # dotted: "delivery.mode"
    value: Any  # secrets masked
    source: str  # "default", "config.toml", "environment TWOFA_…"


@dataclass(frozen=True)
class Configuration:
    """The whole configuration: what the store keeps and every setting."""

    company_name: str
    customer: Policy
    admin: Policy
    settings: Mapping[str, Mapping[str, Any]]  # by section, secrets masked
    sources: tuple[Setting, ...]


@dataclass(frozen=True)
class Change:
    action: Literal["create", "update", "delete"]
    kind: str  # company_name | audience | provider | secondary_auth | setting
    name: str
    detail: str  # secrets masked


@dataclass(frozen=True)
class Applied:
    changes: tuple[Change, ...]  # empty: nothing to do
    applied: bool  # False for a dry run or nothing to do


@dataclass(frozen=True)
class SchemaStatus:
    """``schema_status`` and ``upgrade_schema``: where the store's schema is."""

    database: str  # the URL, password masked
    schema_revision: str | None  # None: no schema yet
    head_revision: str  # the newest this twofa knows
    up_to_date: bool
    upgraded_from: str | None = None  # set when this call upgraded it


@dataclass(frozen=True)
class KeyRotation:
    key_file: Path
    keys: int  # in the key file now, the new one first
    reencrypted: Mapping[str, int]  # stored values re-encrypted, by table.column
    pending_codes_invalidated: int


@dataclass(frozen=True)
class KeyPrune:
    key_file: Path
    removed: int
    keys: int


# -- the API ----------------------------------------------------------------------------


def _guarded(cls: type) -> type:
    """Guard every public method of ``cls`` in one place (SECURITY.md rule 34).

    Its arguments are checked against its annotations, strictly: ``"no"`` is not a bool
    and ``5`` is not a str, so a caller's mistake is BadInput, never a silent "yes" or an
    obscure failure deep inside. A method of an open home also refuses to run once
    ``close()`` was called (Rejected), instead of quietly opening new connections.
    """
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or name == "close" or isinstance(member, property):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            setattr(cls, name, type(member)(_checked(member.__func__, open_only=False)))
        elif callable(member):
            setattr(cls, name, _checked(member, open_only=True))
    return cls


def _checked(func: Callable[..., Any], *, open_only: bool) -> Callable[..., Any]:
    import functools
    import inspect

    signature = inspect.signature(func)
    adapters: dict[str, Any] = {}  # built on first call: pydantic loads with the store

    def check(bound: inspect.BoundArguments) -> None:
        from typing import get_type_hints

        from pydantic import TypeAdapter, ValidationError

        if not adapters:
            hints = get_type_hints(func)
            adapters.update({name: TypeAdapter(hints[name]) for name in signature.parameters
                             if name in hints})
        for name, value in bound.arguments.items():
            if name not in adapters:
                continue
            try:
                adapters[name].validate_python(value, strict=True)
            except ValidationError as exc:
                problem = exc.errors()[0]["msg"]
                raise BadInput(f"{func.__name__}(): {name} is {type(value).__name__}, "
                               f"not what it takes ({problem})") from None

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        if open_only and args and isinstance(args[0], TwoFactor) and args[0]._closed:
            raise Rejected(f"{func.__name__}(): this TwoFactor was closed; open the home again "
                           "(TwoFactor.open)")
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:  # a missing or unknown argument
            raise BadInput(f"{func.__name__}(): {exc}") from None
        check(bound)
        return func(*args, **kwargs)

    return call


@_guarded
class TwoFactor:
    """An open twofa home: its settings, secret key and store."""

    def __init__(self, runtime: Runtime, *, owner: TwoFactor | None = None) -> None:
        self._rt = runtime
        self._owner = owner  # set on an ``acting_as`` view: the TwoFactor whose engine it shares
        self._closed_here = False

    @property
    def _closed(self) -> bool:
        return self._closed_here or (self._owner is not None and self._owner._closed)

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        database_url: str | None = None,
        secret_key: str | None = None,
        *,
        actor: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> TwoFactor:
        """Open an initialised home (default: ``$TWOFA_HOME`` or the user data dir).

        ``database_url`` and ``secret_key`` override the home's config and key file;
        ``actor`` names who acts in the audit trail (default: the OS user); ``clock``
        returns the current aware UTC time (tests move it by hand).
        Raises NotInitialised, SchemaOutOfDate, DatabaseUnavailable, BadInput.
        """
        from twofa_cli.runtime import open_runtime

        return cls(open_runtime(home, database_url=database_url, actor=actor, clock=clock,
                                secret_key=secret_key))

    @staticmethod
    def initialise(home: str | Path | None = None, database_url: str | None = None) -> Home:
        """Create a home (0700), its secret key (0600), config.toml and the schema.

        Safe to run again: an existing home is kept and its schema upgraded.
        Raises BadInput (bad URL or config), DatabaseUnavailable.
        """
        from twofa_cli.services.setup import initialise

        data = initialise(home, database_url=database_url)
        return Home(path=Path(data["home"]), config_file=Path(data["config"]),
                    database=str(data["database"]), schema_revision=str(data["schema_revision"]),
                    created=tuple(data["created"]), key=str(data["key"]),
                    upgraded_from=data["upgraded_from"])

    @staticmethod
    def home_folder(home: str | Path | None = None) -> Path:
        """The folder a home lives in: ``home``, else ``$TWOFA_HOME``, else the user data dir."""
        from twofa_cli.config import resolve_home

        return resolve_home(home)

    @staticmethod
    def schema_status(home: str | Path | None = None,
                      database_url: str | None = None) -> SchemaStatus:
        """The store's schema revision and the one this twofa needs (no home is opened).

        Raises NotInitialised, DatabaseUnavailable, BadInput.
        """
        from twofa_cli.services.setup import db_status

        return _schema_status(db_status(home, database_url=database_url))

    @staticmethod
    def upgrade_schema(home: str | Path | None = None,
                       database_url: str | None = None) -> SchemaStatus:
        """Migrate the store's schema to the newest revision, keeping every row.

        Raises NotInitialised, DatabaseUnavailable, BadInput.
        """
        from twofa_cli.services.setup import db_upgrade

        return _schema_status(db_upgrade(home, database_url=database_url))

    @staticmethod
    def setting(key: str, home: str | Path | None = None) -> Setting:
        """One config.toml setting (dotted: ``delivery.mode``): its effective value.

        Read from the home's files and the environment; the store is not opened, so a
        broken ``database.url`` can be read and mended. Raises NotInitialised, BadInput.
        """
        from twofa_cli.services.configuration import get_setting

        return _setting(get_setting(home, key))

    @staticmethod
    def set_setting(key: str, value: str, home: str | Path | None = None) -> Setting:
        """Write a setting to config.toml (lists comma-separated), checked first.

        Raises NotInitialised, BadInput.
        """
        from twofa_cli.services.configuration import set_setting

        return _setting(set_setting(home, key, value))

    @staticmethod
    def unset_setting(key: str, home: str | Path | None = None) -> Setting:
        """Remove a setting from config.toml, so its default applies again.

        Raises NotInitialised, BadInput.
        """
        from twofa_cli.services.configuration import unset_setting

        return _setting(unset_setting(home, key))

    @staticmethod
    def instructions(channel: str) -> Instructions:
        """The setup steps to follow at the vendor (``twilio``, ``cdyne``, ``smtp``).

        Raises BadInput (an unknown channel).
        """
        from twofa_cli.services.providers import instructions

        data = instructions(channel)
        return Instructions(channel=str(data["channel"]), kind=str(data["kind"]),
                            instructions=str(data["instructions"]))

    def close(self) -> None:
        """Close the store's connections; the object is unusable afterwards. Closing an
        ``acting_as`` view closes only the view: the engine is its owner's."""
        if not self._closed:
            self._closed_here = True
            if self._owner is None:
                self._rt.engine.dispose()

    def acting_as(self, actor: str) -> TwoFactor:
        """A view of this open home whose changes the audit trail credits to ``actor``
        (an administrator's email, say), sharing this one's connections.

        Cheap enough to make per request; nothing is changed on this object, so threads
        serving other people keep their own actor. Raises BadInput (an empty actor).
        """
        import copy

        if not actor.strip():
            raise BadInput("the actor is empty: name who acts")
        runtime = copy.copy(self._rt)
        runtime.actor = actor
        return TwoFactor(runtime, owner=self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<TwoFactor {self._rt.settings.home} ({state})>"

    @property
    def home(self) -> Path:
        """The home's folder."""
        return self._rt.settings.home

    @property
    def trusted_device_lifetime(self) -> timedelta:
        """How long a "Trust this device" token lives: the cookie's Max-Age."""
        return timedelta(days=self._rt.settings.trusted_devices.ttl_days)

    @property
    def code_length(self) -> int:
        return self._rt.settings.codes.length

    @property
    def simulated(self) -> bool:
        """True in simulate delivery mode: codes go to the outbox, not to phones."""
        return self._rt.settings.delivery.mode == "simulate"

    # -- the customer's side --------------------------------------------------------

    def add_account(self, email: str, password: str, *, name: str = "",
                    admin: bool = False, exist_ok: bool = False) -> Account:
        """A Shopping Cart account. Raises BadInput (email, password < 8 chars), Conflict.

        With ``exist_ok`` an identical account (name, audience, password) is returned as
        it is; a different one under the email is still a Conflict.
        """
        from twofa_cli.services.accounts import add_account

        return _account(add_account(self._rt, email=email, password=password, name=name,
                                    is_admin=admin, exist_ok=exist_ok))

    def accounts(self, *, limit: int = 100, offset: int = 0) -> list[AccountDetails]:
        """Accounts with their 2FA state, oldest first."""
        from twofa_cli.services.accounts import list_accounts

        return [_account_details(a) for a in list_accounts(self._rt, limit=limit, offset=offset)]

    def account_details(self, account: AccountRef) -> AccountDetails:
        """An account with its 2FA state: entries, trusted devices, lock. Raises NotFound."""
        from twofa_cli.services.accounts import show_account

        return _account_details(show_account(self._rt, str(account)))

    def delete_account(self, account: AccountRef) -> AccountRemoved:
        """Delete an account with its entries, pending codes and trusted devices; the
        audit trail keeps its rows. Raises NotFound."""
        from twofa_cli.services.accounts import delete_account

        data = delete_account(self._rt, str(account))
        return AccountRemoved(account=_account(data), entries_removed=int(data["entries_removed"]))

    def import_accounts(self, path: str | Path, *, skip_existing: bool = False,
                        progress: Callable[[int, int], None] | None = None) -> Imported:
        """Import a CSV (email, name, and password or an argon2id password_hash).

        Every row is checked first: one bad row imports nothing (BadInput naming every
        bad line); rows of existing accounts are a Conflict unless ``skip_existing``.
        ``progress(imported, total)`` is called after each batch. Raises NotFound (no file).
        """
        from twofa_cli.services.accounts import import_accounts

        data = import_accounts(self._rt, path, skip_existing=skip_existing, progress=progress)
        return Imported(imported=int(data["imported"]), skipped=int(data["skipped"]),
                        file=Path(data["file"]))

    def account(self, account: AccountRef) -> Account:
        """Raises NotFound."""
        from twofa_cli.services.accounts import show_account

        return _account(show_account(self._rt, str(account)))

    def set_password(self, account: AccountRef, password: str) -> int:
        """Change a password; returns how many trusted devices it revoked (all of them).
        Every session of the account ends too, and its pending login codes die.

        Raises NotFound, BadInput.
        """
        from twofa_cli.services.accounts import set_password

        return int(set_password(self._rt, str(account), password)["trusted_devices_revoked"])

    def enroll(self, account: AccountRef, *, method: str | int, phone: str | None = None,
               email: str | None = None) -> CodeSent | SecretIssued:
        """Send Code: start enrolling ``method`` (id or title) with a phone or an email.

        Give ``phone`` for an SMS method, ``email`` for an email one, neither for an
        authenticator app (the result is then a SecretIssued); ``verify`` completes it.
        Raises NotFound, BadInput, Rejected (2FA Inactive), Conflict (already enrolled),
        Throttled (locked, send caps), DeliveryFailed.
        """
        from twofa_cli.services.enrollment import enroll

        data = enroll(self._rt, str(account), method=str(method), phone=phone, email=email)
        if data["status"] == "secret_issued":
            return SecretIssued(challenge_id=int(data["challenge_id"]),
                                otpauth_uri=str(data["otpauth_uri"]), secret=str(data["secret"]))
        return _code_sent(data)

    def resend(self, account: AccountRef) -> CodeSent:
        """Send New Code for the pending enrolment or login; the old code dies.

        Raises NotFound, Rejected (nothing pending), Throttled (too soon, too many),
        DeliveryFailed.
        """
        from twofa_cli.services.challenges import resend

        return _code_sent(resend(self._rt, str(account)))

    def login(self, account: AccountRef, password: str, *, device_token: str | None = None,
              cookie: Callable[[int], str | None] | None = None,
              method: str | int | None = None, client: str | None = None,
              device_name: str = "", email_only: bool = False,
              audience: Audience | None = None) -> LoginResult:
        """Log in as normal: the password, then a code unless 2FA is off or the device trusted.

        The code goes to the account's preferred entry (``prefer_entry``; else the first
        verified), or to its entry of ``method`` (id or title; NotFound if it has none).
        For an authenticator app nothing is sent: status "code_required"; for a passkey
        neither: status "passkey_required" (``begin_passkey_login``).
        ``device_token`` is the client's "Trust this device" cookie, if it has one. A
        client that keeps a cookie per account passes ``cookie`` (account id -> token)
        instead: it is read only once the password is right.
        A right password starts a session: ``session_token`` (shown once) is pending until
        ``verify(..., session_token=…)`` completes the login, or signed in at once;
        ``device_name`` labels it in ``sessions``.
        An unknown account and a wrong password raise the same Rejected.
        Failed passwords are throttled per login name and ``client`` (the caller's notion
        of one, e.g. the peer address; None is one anonymous client) and per login name
        over all clients, before any hash: Throttled with ``retry_after``. With
        ``email_only`` (a web form) a bare account id fails like an unknown email.
        A right password always reaches the code step when it can: if a new code may
        not be sent yet and the login pending from another browser still has a live
        code, that one is returned with ``code.reused`` True and its ``sent_at``.
        With ``audience`` ("admin": an administrators' sign-in page) an account of the
        other audience fails exactly like a wrong password: same Rejected, same cost.
        Also raises Throttled (2FA locked, caps with no live code) and DeliveryFailed.
        """
        from twofa_cli.services.login import login

        data = login(self._rt, str(account), password, device_token=device_token, cookie=cookie,
                     method=None if method is None else str(method), client=client,
                     device=device_name, email_only=email_only,
                     audience=None if audience is None else _audience(audience))
        who = self.account(account)
        token = data["session_token"]
        if data["status"] == "authenticated":
            return LoginResult(status="authenticated", account=who, code=None,
                               reason=str(data["reason"]), session_token=token)
        if data["status"] == "passkey_required":
            return LoginResult(status="passkey_required", account=who, code=None,
                               session_token=token)
        if data["status"] == "code_required":
            return LoginResult(status="code_required", account=who, code=None, required=CodeRequired(
                challenge_id=int(data["challenge_id"]), method=str(data["method"])),
                session_token=token)
        return LoginResult(status="code_sent", account=who, code=_code_sent(data),
                           session_token=token)

    def verify(self, account: AccountRef, code: str, *, session_token: str | None = None,
               trust_device: bool = False, device_token: str | None = None,
               device_name: str = "browser", keep_token: Callable[[int, str], None] | None = None,
               recovery_code: str | None = None) -> Verification:
        """Enter the code: completes the account's pending enrolment or login.

        The code is the one sent, or the one the authenticator app shows. A
        ``recovery_code`` (``code`` is then ignored) completes a pending login instead,
        once; the result says how many remain. Completing the account's first entry
        brings its ten recovery codes (``recovery_codes``), shown this once.
        ``session_token``, the pending session of ``login``, binds the code to it: the
        login completes only while that session lives (a password change or logout ends
        it), and the result's ``session_token`` is the signed-in session's new token.
        Without it a caller that keeps its own sessions completes the login as before.
        With ``trust_device`` the result carries a new device token (set it as a cookie);
        ``device_token``, the client's current one, is then revoked so a browser holds
        one live token. ``device_name`` labels the device in ``trusted_devices``.
        ``keep_token(account_id, token)`` hands the new token to the client before the
        store commits: if it raises, nothing changes (the code is not spent).
        Raises BadInput (not a code), Rejected (wrong, expired or used code; nothing
        pending; the session ended), Throttled (too many tries: Send New Code; account
        locked), NotFound.
        """
        from twofa_cli.services.challenges import verify

        result = verify(self._rt, str(account), code, trust_device=trust_device,
                        device=device_name, keep_token=keep_token, recovery_code=recovery_code,
                        session_token=session_token)
        if result.device_token and device_token:
            self._forget_token(result.account_id, device_token)
        status: Literal["verified", "authenticated"] = (
            "verified" if result.status == "verified" else "authenticated")
        return Verification(status=status, account_id=result.account_id,
                            entry_id=result.entry_id, device_token=result.device_token,
                            recovery_codes=tuple(result.recovery_codes),
                            recovery_codes_remaining=result.recovery_codes_remaining,
                            session_token=result.session_token)

    def pending_code(self, account: AccountRef) -> PendingCode | None:
        """The code the account's pending enrolment or login waits for, if any: what a code
        page shows when it is opened again. Raises NotFound."""
        from twofa_cli.services.challenges import pending

        data = pending(self._rt, str(account))
        if data is None:
            return None
        return PendingCode(challenge_id=int(data["challenge_id"]),
                           purpose="login" if data["purpose"] == "login" else "enroll",
                           method=str(data["method"]),
                           kind="totp" if data["kind"] == "totp" else "code",
                           destination=str(data["destination"]),
                           sent_at=_maybe_when(data["sent_at"]),
                           expires_at=_when(data["expires_at"]))

    # -- passkeys (WebAuthn) -----------------------------------------------------------

    @property
    def passwordless(self) -> bool:
        """``[webauthn] passwordless``: offer "Sign in with a passkey" without a password."""
        return self._rt.settings.webauthn.passwordless

    def begin_passkey_registration(self, session_token: str, name: str | None = None) -> str:
        """Start adding a passkey to the account of a signed-in session: the options for the
        browser's ``navigator.credentials.create`` (JSON; ``PublicKeyCredentialCreationOptions``).
        ``name`` labels it (default: the authenticator's make). The challenge is bound to the
        session, single use, and lives ``[webauthn] timeout_seconds``.

        Raises Rejected (no such session; 2FA Inactive), NotFound (no passkey method),
        BadInput (a bad name).
        """
        from twofa_cli.services.passkeys import begin_registration

        return begin_registration(self._rt, session_token, name)

    def finish_passkey_registration(self, session_token: str, response: str) -> PasskeyRegistered:
        """The browser's ``navigator.credentials.create`` response (JSON): keeps the passkey
        as an entry of the session's account. Its first entry brings recovery codes.

        Raises Rejected (no live challenge of this session, a replay, the wrong origin or RP
        ID, user verification missing when required, a passkey registered already),
        BadInput (not a response).
        """
        from twofa_cli.services.passkeys import finish_registration

        data = finish_registration(self._rt, session_token, response)
        return PasskeyRegistered(entry=_entry(data["entry"]),
                                 recovery_codes=tuple(data["recovery_codes"]))

    def begin_passkey_login(self, session_token: str | None = None) -> str:
        """The options for the browser's ``navigator.credentials.get`` (JSON). With the
        pending session of ``login``: the account's passkeys, as its second factor. Without:
        a passwordless sign-in with any passkey of this site (``passwordless`` must be on).

        Raises Rejected (no such session; the account has no passkey; passwordless off).
        """
        from twofa_cli.services.passkeys import begin_login

        return begin_login(self._rt, session_token)

    def finish_passkey_login(self, response: str, session_token: str | None = None, *,
                             device_name: str = "", client: str | None = None) -> Verification:
        """The browser's ``navigator.credentials.get`` response (JSON). With the pending
        session: completes its login like ``verify`` (``session_token`` of the result is the
        signed-in one). Without: a passwordless sign-in, a new signed-in session (named
        ``device_name``, of ``client``) that owes a step-up before sensitive changes.

        Raises Rejected (no live challenge or a replayed one, an unknown passkey or another
        account's, a bad signature, the wrong origin or RP ID, user verification missing
        when required (always, passwordless), a sign count that went backwards: audited
        ``passkey.cloned``), BadInput (not a response).
        """
        from twofa_cli.services.passkeys import finish_login

        data = finish_login(self._rt, response, session_token, device=device_name,
                            client=client or "")
        return Verification(status="authenticated", account_id=int(data["account_id"]),
                            entry_id=int(data["entry_id"]),
                            session_token=str(data["session_token"]))

    # -- sessions ---------------------------------------------------------------------

    def session(self, token: str) -> Session:
        """The live session of ``token`` (and a note that it was used). Raises Rejected when
        it is unknown, ended, idle too long, expired or revoked, or its account's password
        changed."""
        from twofa_cli.services.sessions import show

        return _session(show(self._rt, token))

    def logout(self, token: str) -> bool:
        """End the session of ``token`` in the store; False if there was none."""
        from twofa_cli.services.sessions import logout

        return logout(self._rt, token)

    def sessions(self, account: AccountRef) -> list[Session]:
        """The account's live sessions, oldest first. Raises NotFound."""
        from twofa_cli.services.sessions import list_sessions

        return [_session(row) for row in list_sessions(self._rt, str(account))]

    def revoke_sessions(self, account: AccountRef, *, keep_token: str | None = None) -> int:
        """End every session of the account but ``keep_token``'s, and void its pending
        login codes; returns how many ended. Raises NotFound."""
        from twofa_cli.services.sessions import revoke

        return revoke(self._rt, str(account), keep=keep_token)

    def revoke_session(self, account: AccountRef, session_id: int) -> int:
        """End one session of the account (by ``Session.id``). Raises NotFound."""
        from twofa_cli.services.sessions import revoke

        return revoke(self._rt, str(account), _id(session_id, "session"))

    def confirm_password(self, session_token: str, password: str) -> Session:
        """A step-up: give the signed-in session's password again, so sensitive changes
        (``delete_entry``, ``generate_recovery_codes``, ``revoke_device`` with the session's
        token) go through for ``[session] reauth_minutes``. Raises Rejected (wrong password,
        the session ended), Throttled."""
        from twofa_cli.services.login import confirm_password

        return _session(confirm_password(self._rt, session_token, password))

    @contextmanager
    def _step_up(self, account: AccountRef, session_token: str | None) -> Iterator[None]:
        """With a session's token, the change runs only if that session is the account's and
        gave its password recently (PasswordRequired otherwise), in one transaction."""
        if session_token is None:  # the operator's CLI, or a caller with its own step-up
            yield
            return
        from twofa_cli.services import sessions

        with self._rt.one_transaction() as transaction:
            connection = transaction.connection()
            session = sessions.require_step_up(connection, self._rt, session_token, str(account))
            yield
            sessions.spend_step_up(connection, self._rt, session)

    def _forget_token(self, account_id: int, token: str) -> None:
        from twofa_cli.services.devices import revoke_token

        with self._rt.transaction() as session:
            revoke_token(session, self._rt, account_id, token)

    def entries(self, account: AccountRef) -> list[Entry]:
        """The account's verified 2FA entries, oldest first. Raises NotFound."""
        from twofa_cli.services.entries import list_entries

        return [_entry(row) for row in list_entries(self._rt, str(account))]

    def delete_entry(self, account: AccountRef, entry: str | int, *,
                     session_token: str | None = None) -> EntryRemoved:
        """The delete icon: remove one entry (by id). With ``session_token`` only within a
        step-up (``confirm_password``). Raises NotFound, PasswordRequired."""
        from twofa_cli.services.entries import remove_entry

        with self._step_up(account, session_token):
            data = remove_entry(self._rt, str(account), str(entry))
        return EntryRemoved(entry=_entry(data),
                            trusted_devices_revoked=int(data["trusted_devices_revoked"]))

    def prefer_entry(self, account: AccountRef, entry: str | int) -> Entry:
        """Make ``entry`` (id or method title) the one a login uses. Raises NotFound."""
        from twofa_cli.services.entries import prefer_entry

        return _entry(prefer_entry(self._rt, str(account), str(entry)))

    def generate_recovery_codes(self, account: AccountRef, *,
                                session_token: str | None = None) -> tuple[str, ...]:
        """A new set of ten recovery codes, shown this once; the old set stops working.
        With ``session_token`` only within a step-up (``confirm_password``).

        Raises NotFound, Rejected (the account has no 2FA entry), PasswordRequired.
        """
        from twofa_cli.services.recovery import generate

        with self._step_up(account, session_token):
            return tuple(generate(self._rt, str(account))["recovery_codes"])

    def recovery_codes_remaining(self, account: AccountRef) -> int:
        """How many of the account's recovery codes are unused. Raises NotFound."""
        from twofa_cli.services.recovery import status

        return int(status(self._rt, str(account))["remaining"])

    def trusted_devices(self, account: AccountRef) -> list[TrustedDevice]:
        """Every device ever trusted by the account, with its state. Raises NotFound."""
        from twofa_cli.services.devices import list_devices

        return [
            TrustedDevice(id=int(d["id"]), name=str(d["name"]), state=d["state"],
                          created_at=_when(d["created_at"]), expires_at=_when(d["expires_at"]),
                          revoked_at=_maybe_when(d["revoked_at"]))
            for d in list_devices(self._rt, str(account))
        ]

    def revoke_device(self, account: AccountRef, device: str | int | None = None, *,
                      every: bool = False, session_token: str | None = None) -> int:
        """Revoke one trusted device (id or name) or, with ``every``, all; returns how many.
        With ``session_token`` only within a step-up (``confirm_password``).

        Raises NotFound, PasswordRequired.
        """
        from twofa_cli.services.devices import revoke

        target = None if device is None else str(device)
        with self._step_up(account, session_token):
            return int(revoke(self._rt, str(account), target, every=every)["revoked"])

    def outbox(self, *, to: str | None = None, limit: int = 20) -> list[OutboxMessage]:
        """Simulated messages, newest first, with their codes (simulate mode only)."""
        from twofa_cli.services.delivery import list_outbox

        return [
            OutboxMessage(id=int(m["id"]), to=str(m["to"]), channel=m["channel"],
                          medium=str(m["medium"]), subject=str(m["subject"]),
                          body=str(m["body"]), code=m["code"],
                          created_at=_when(m["created_at"]))
            for m in list_outbox(self._rt, to=to, limit=limit)
        ]

    def rotate_key(self) -> KeyRotation:
        """Put a new secret key first in the key file and re-encrypt every stored secret
        under it, in one transaction (a failure changes neither the store nor the file).
        Pending codes stop working. Restart other processes on this home, then prune.

        Raises Rejected (the key is in TWOFA_SECRET_KEY: the message says how to rotate it).
        """
        from twofa_cli.services.keys import rotate

        data = rotate(self._rt)
        return KeyRotation(key_file=Path(data["key_file"]), keys=int(data["keys"]),
                           reencrypted=dict(data["reencrypted"]),
                           pending_codes_invalidated=int(data["pending_codes_invalidated"]))

    def prune_keys(self) -> KeyPrune:
        """Remove every key but the first from the key file.

        Raises Rejected (a stored value still needs an old key: the message names it;
        or the key is in TWOFA_SECRET_KEY).
        """
        from twofa_cli.services.keys import prune

        data = prune(self._rt)
        return KeyPrune(key_file=Path(data["key_file"]), removed=int(data["removed"]),
                        keys=int(data["keys"]))

    def audit(self, *, account: AccountRef | None = None, action: str | None = None,
              limit: int = 50, offset: int = 0) -> list[AuditEvent]:
        """The audit trail, newest first: admin changes and customer events.

        ``action`` keeps one action's rows (``"provider.add"``); ``offset`` skips the
        newest N, for paging. Raises NotFound (an unknown ``account``), BadInput.
        """
        from twofa_cli.services.audit import list_events

        who = None if account is None else str(account)
        return [
            AuditEvent(id=int(e["id"]), actor=str(e["actor"]), action=str(e["action"]),
                       account_id=e["account_id"], target=str(e["target"]),
                       outcome=str(e["outcome"]), detail=str(e["detail"]),
                       created_at=_when(e["created_at"]))
            for e in list_events(self._rt, account=who, action=action, limit=limit,
                                 offset=offset)
        ]

    # -- the administrator's side ---------------------------------------------------

    def company_name(self) -> str:
        from twofa_cli.services.system import get_company_name

        return get_company_name(self._rt)

    def set_company_name(self, name: str) -> str:
        """The name in every code message. Raises BadInput."""
        from twofa_cli.services.system import set_company_name

        return set_company_name(self._rt, name)

    def configuration(self) -> Configuration:
        """The company name, both Allowed switches and every setting with its source."""
        from twofa_cli.config import load_layers
        from twofa_cli.services.configuration import describe

        settings = self._rt.settings
        sources = tuple(Setting(key=str(row["setting"]), value=row["value"],
                                source=str(row["source"]))
                        for row in describe(settings, load_layers(settings.home)))
        return Configuration(company_name=self.company_name(), customer=self.allowed("customer"),
                             admin=self.allowed("admin"), settings=settings.public(),
                             sources=sources)

    def allowed(self, audience: Audience = "customer") -> Policy:
        from twofa_cli.services.system import policy_status

        return _policy(policy_status(self._rt, _audience(audience)))

    def set_allowed(self, audience: Audience, active: bool) -> Policy:
        """Two Factor Auth → Allowed: Active (True) or Inactive (False)."""
        from twofa_cli.services.system import set_allowed

        return _policy(set_allowed(self._rt, _audience(audience), active))

    def add_provider(self, channel: str, *, title: str,
                     options: Mapping[str, Any] | None = None, exist_ok: bool = False) -> Provider:
        """A provider: ``smtp`` (the platform relay) or ``twilio`` / ``cdyne`` (custom).

        ``options`` are the channel's settings (twilio: account_sid, auth_token,
        from_number or messaging_service_sid; cdyne: license_key, from_number);
        secret ones are stored encrypted. With ``exist_ok`` an identical provider is
        returned as it is. Raises BadInput, Conflict (title taken).
        """
        from twofa_cli.services.providers import add_provider

        return _provider(add_provider(self._rt, channel=channel, title=title,
                                      options=dict(options or {}), exist_ok=exist_ok))

    def provider(self, provider: str | int) -> Provider:
        """One provider (credentials masked). Raises NotFound."""
        from twofa_cli.services.providers import show_provider

        return _provider(show_provider(self._rt, str(provider)))

    def provider_usage(self, provider: str | int) -> ProviderUsage:
        """A provider and the methods that use it (what removing it removes too).

        Raises NotFound.
        """
        from twofa_cli.services.providers import removal_plan

        data = removal_plan(self._rt, str(provider))
        return ProviderUsage(provider=_provider(data["provider"]), secondary_auth=tuple(
            MethodRef(id=int(m["id"]), title=str(m["title"])) for m in data["secondary_auth"]))

    def update_provider(self, provider: str | int, *, title: str | None = None,
                        options: Mapping[str, Any] | None = None) -> Provider:
        """Change a provider's title or options (None values are left as they are).

        Credentials are validated again and encrypted anew. Raises NotFound, BadInput
        (nothing to change, a bad option), Conflict (title taken).
        """
        from twofa_cli.services.providers import update_provider

        return _provider(update_provider(self._rt, str(provider), title=title,
                                         options=dict(options or {})))

    def test_provider(self, provider: str | int, *, to: str, live: bool = False) -> TestReceipt:
        """Send a test message through a provider (counted against the send caps).

        In simulate mode it goes to the outbox unless ``live``. Raises NotFound, BadInput
        (a destination the channel cannot reach), Throttled, DeliveryFailed.
        """
        from twofa_cli.services.delivery import send_test

        data = send_test(self._rt, str(provider), to=to, live=live)
        return TestReceipt(provider_id=int(data["provider_id"]),
                           mode="live" if data["mode"] == "live" else "simulate",
                           channel=str(data["channel"]), to=str(data["to"]),
                           message_id=str(data["message_id"]), status=str(data["status"]))

    def providers(self) -> list[Provider]:
        from twofa_cli.services.providers import list_providers

        return [_provider(p) for p in list_providers(self._rt)]

    def remove_provider(self, provider: str | int, *, cascade: bool = False) -> ProviderRemoved:
        """Remove a provider; with ``cascade`` also the methods (and entries) using it.

        Raises NotFound, Conflict (methods use it and ``cascade`` is False).
        """
        from twofa_cli.services.providers import remove_provider

        data = remove_provider(self._rt, str(provider), cascade=cascade)
        return ProviderRemoved(provider=_provider(data["removed"]), secondary_auth_removed=tuple(
            _method_removed(m) for m in data["secondary_auth_removed"]))

    def add_secondary_auth(self, *, provider: str | int | None = None, title: str,
                           kind: Literal["code", "totp", "passkey"] = "code",
                           exist_ok: bool = False,
                           fallbacks: tuple[str | int, ...] = ()) -> Method:
        """Secondary Auth → Add New: a method customers see by ``title``.

        Kind "code" sends codes through ``provider``; kind "totp" is an authenticator
        app and kind "passkey" passkeys (WebAuthn): neither takes a provider.
        ``fallbacks`` (providers of the same medium) send the same code, in order, when
        the provider fails or is over its hourly cap. With ``exist_ok`` the same title on
        the same provider is returned as it is.
        Raises NotFound (provider), BadInput, Conflict (title taken).
        """
        from twofa_cli.services.secondary_auth import add_secondary_auth

        return _method(add_secondary_auth(
            self._rt, provider=None if provider is None else str(provider), title=title,
            kind=kind, exist_ok=exist_ok, fallbacks=[str(f) for f in fallbacks] or None))

    def update_secondary_auth(self, method: str | int, *,
                              fallbacks: tuple[str | int, ...]) -> Method:
        """Replace a method's fallback providers, in order (empty: none).
        Raises NotFound, BadInput (another medium, named twice, an authenticator app)."""
        from twofa_cli.services.secondary_auth import update_secondary_auth

        return _method(update_secondary_auth(self._rt, str(method),
                                             fallbacks=[str(f) for f in fallbacks]))

    # -- deliveries -------------------------------------------------------------------

    def deliveries(self, *, status: DeliveryStatus | None = None,
                   provider: str | int | None = None, limit: int = 50) -> list[Delivery]:
        """Deliveries, newest first, optionally of one status or provider.
        Raises NotFound (provider), BadInput."""
        from twofa_cli.services.delivery import list_deliveries

        return [
            Delivery(id=int(d["id"]), provider_id=d["provider_id"], provider=d["provider"],
                     destination=str(d["destination"]), status=d["status"],
                     error_code=d["error_code"], provider_message_id=str(d["provider_message_id"]),
                     sent_at=_when(d["sent_at"]), updated_at=_maybe_when(d["updated_at"]))
            for d in list_deliveries(self._rt, status=status,
                                     provider=None if provider is None else str(provider),
                                     limit=limit)
        ]

    def delivery_stats(self, *, hours: int = 24) -> list[DeliveryStats]:
        """Per provider, the deliveries of the last ``hours``: sent, delivered,
        undelivered, failed. Raises BadInput."""
        from twofa_cli.services.delivery import delivery_stats

        return [DeliveryStats(provider=s["provider"], sent=int(s["sent"]),
                              delivered=int(s["delivered"]), undelivered=int(s["undelivered"]),
                              failed=int(s["failed"]))
                for s in delivery_stats(self._rt, hours=hours)]

    def record_twilio_status(self, form: Mapping[str, str], signature: str) -> StatusReport:
        """Apply a Twilio status callback: ``form`` is the POSTed fields, ``signature`` the
        ``X-Twilio-Signature`` header. The signature is checked against ``[web] public_url``
        + ``/hooks/twilio/status`` (never the request's own Host) with the auth token of the
        Twilio provider the form's AccountSid names. A status never moves backwards.

        Raises Rejected (a bad or missing signature, no public_url: nothing changed).
        """
        from twofa_cli.services.delivery import record_twilio_status

        data = record_twilio_status(self._rt, dict(form), signature)
        return StatusReport(provider_id=int(data["provider_id"]), message_id=str(data["message_id"]),
                            status=data["status"], changed=bool(data["changed"]))

    def secondary_auth(self, method: str | int) -> Method:
        """One method, with how many customer entries use it. Raises NotFound."""
        from twofa_cli.services.secondary_auth import show_secondary_auth

        return _method(show_secondary_auth(self._rt, str(method)))

    def secondary_auths(self) -> list[Method]:
        """The methods customers choose from ("Service Provider"), oldest first."""
        from twofa_cli.services.secondary_auth import list_secondary_auth

        return [_method(m) for m in list_secondary_auth(self._rt)]

    def remove_secondary_auth(self, method: str | int) -> MethodRemoved:
        """Remove a method with its customers' entries. Raises NotFound."""
        from twofa_cli.services.secondary_auth import remove_secondary_auth

        return _method_removed(remove_secondary_auth(self._rt, str(method)))

    # -- the configuration as a file --------------------------------------------------

    def export(self) -> dict[str, Any]:
        """The configuration as plain data: what ``export_toml`` writes (no secret values)."""
        from twofa_cli.services.apply import export_document

        return export_document(self._rt)

    def export_toml(self, output: str | Path | None = None) -> str:
        """The configuration as one TOML document; with ``output``, also written there
        (owner-only). Secret options are "env:NAME" references, never values."""
        from twofa_cli.services.apply import export_text

        text = export_text(self._rt)
        if output is not None:
            from twofa_cli.security import write_private_file

            write_private_file(Path(output), text)
        return text

    def apply(self, path: str | Path, *, dry_run: bool = False, prune: bool = False) -> Applied:
        """Make the store and config.toml match a TOML document, in one transaction.

        ``prune`` also deletes providers and methods the file does not name. Raises
        BadInput (no such file, a malformed document, an unset reference).
        """
        from twofa_cli.services.apply import apply_document

        data = apply_document(self._rt, path, dry_run=dry_run, prune=prune)
        return Applied(changes=tuple(
            Change(action=c["action"], kind=str(c["kind"]), name=str(c["name"]),
                   detail=str(c["detail"])) for c in data["changes"]),
            applied=bool(data["applied"]))


# -- the services' dicts into results -----------------------------------------------------


def _audience(audience: str) -> Audience:
    if audience == "customer":
        return "customer"
    if audience == "admin":
        return "admin"
    raise BadInput(f"audience is 'customer' or 'admin', not {audience[:40]!r}")


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _maybe_when(value: Any) -> datetime | None:
    return None if value is None else _when(value)


def _id(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInput(f"a {what} id is a whole number, not {str(value)[:40]!r}")
    return value


def _session(data: Mapping[str, Any]) -> Session:
    return Session(id=int(data["id"]), account_id=int(data["account_id"]),
                   state="signed_in" if data["state"] == "signed_in" else "pending",
                   device=str(data["device"]), client=str(data["client"]),
                   created_at=_when(data["created_at"]), last_seen_at=_when(data["last_seen_at"]),
                   expires_at=_when(data["expires_at"]),
                   password_at=_maybe_when(data["password_at"]),
                   step_up_due=bool(data["step_up_due"]))


def _account(data: Mapping[str, Any]) -> Account:
    audience: Audience = "admin" if data["audience"] == "admin" else "customer"
    return Account(id=int(data["id"]), email=str(data["email"]), name=str(data["name"]),
                   audience=audience, created_at=_when(data["created_at"]))


def _account_details(data: Mapping[str, Any]) -> AccountDetails:
    account = _account(data)
    return AccountDetails(id=account.id, email=account.email, name=account.name,
                          audience=account.audience, entries=int(data["entries"]),
                          trusted_devices=int(data["trusted_devices"]),
                          failed_verifications=int(data["failed_verifications"]),
                          failed_logins=int(data["failed_logins"]),
                          created_at=account.created_at,
                          lock_ends_at=_maybe_when(data["lock_ends_at"]),
                          login_block_ends_at=_maybe_when(data["login_block_ends_at"]))


def _schema_status(data: Mapping[str, Any]) -> SchemaStatus:
    return SchemaStatus(database=str(data["database"]), schema_revision=data["schema_revision"],
                        head_revision=str(data["head_revision"]),
                        up_to_date=bool(data["up_to_date"]),
                        upgraded_from=data.get("upgraded_from"))


def _code_sent(data: Mapping[str, Any]) -> CodeSent:
    return CodeSent(challenge_id=int(data["challenge_id"]), expires_at=_when(data["expires_at"]),
                    destination=str(data["destination"]), sent_at=_when(data["sent_at"]),
                    reused=bool(data.get("reused", False)))


def _entry(data: Mapping[str, Any]) -> Entry:
    kind = data.get("kind", "code")
    return Entry(id=int(data["id"]), method=str(data["method"]),
                 destination=str(data["destination"]), created_at=_when(data["created_at"]),
                 preferred=bool(data.get("preferred", False)),
                 kind="passkey" if kind == "passkey" else "totp" if kind == "totp" else "code",
                 name=data.get("name"), last_used_at=_maybe_when(data.get("last_used_at")))


def _policy(data: Mapping[str, Any]) -> Policy:
    audience: Audience = "admin" if data["audience"] == "admin" else "customer"
    return Policy(audience=audience, active=bool(data["active"]),
                  methods=int(data["secondary_auth_providers"]))


def _provider(data: Mapping[str, Any]) -> Provider:
    return Provider(id=int(data["id"]), kind=str(data["kind"]), channel=str(data["channel"]),
                    medium=str(data["medium"]), title=str(data["title"]),
                    options=dict(data["options"]),
                    secondary_auth=tuple(str(t) for t in data["secondary_auth"]),
                    created_at=_when(data["created_at"]),
                    updated_at=_when(data["updated_at"]))


def _method_removed(data: Mapping[str, Any]) -> MethodRemoved:
    return MethodRemoved(id=int(data["id"]), title=str(data["title"]),
                         entries_removed=int(data["entries_removed"]))


def _setting(data: Mapping[str, Any]) -> Setting:
    return Setting(key=str(data["key"]), value=data["value"], source=str(data["source"]))


def _method(data: Mapping[str, Any]) -> Method:
    from twofa_cli.channels import channel_class

    kind: Literal["code", "totp", "passkey"] = (
        "totp" if data["kind"] == "totp" else "passkey" if data["kind"] == "passkey" else "code")
    channel = None if kind != "code" else str(data["channel"])
    return Method(id=int(data["id"]), kind=kind, title=str(data["title"]),
                  provider_id=None if channel is None else int(data["provider_id"]),
                  provider=None if channel is None else str(data["provider"]), channel=channel,
                  medium={"totp": "app", "passkey": "passkey"}.get(kind)
                  or channel_class(str(channel)).medium,
                  fallbacks=tuple(str(f) for f in data.get("fallbacks", ())),
                  entries=int(data.get("entries", 0)), created_at=_when(data["created_at"]))
