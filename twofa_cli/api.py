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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from twofa_cli.errors import (
    BadInput,
    Conflict,
    DatabaseUnavailable,
    DeliveryFailed,
    NotFound,
    NotInitialised,
    Rejected,
    SchemaOutOfDate,
    Throttled,
    TwofaError,
)
from twofa_cli.runtime import Runtime

Audience = Literal["customer", "admin"]
AccountRef = str | int  # an account's id or email; providers and methods: id or title

__all__ = [
    "Account", "AccountRef", "Audience", "BadInput", "CodeSent", "Conflict",
    "DatabaseUnavailable", "DeliveryFailed", "Entry", "EntryRemoved", "Home", "LoginResult",
    "Method", "NotFound", "NotInitialised", "OutboxMessage", "Policy", "Provider", "Rejected",
    "SchemaOutOfDate", "Throttled", "TrustedDevice", "TwoFactor", "TwofaError", "Verification",
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
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Method:
    """A Secondary Authentication Provider: a 2FA method customers pick by its title."""

    id: int
    title: str
    provider_id: int
    provider: str  # the provider's title
    channel: str
    medium: str  # "sms": ask for a phone number; "email": for an email address
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


@dataclass(frozen=True)
class LoginResult:
    status: Literal["code_sent", "authenticated"]
    account: Account
    code: CodeSent | None  # set when status == "code_sent": ask for the code
    reason: str | None = None  # why no code was needed: "trusted device", "no 2FA entry", …

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

    @property
    def trusted_device(self) -> bool:
        return self.device_token is not None


@dataclass(frozen=True)
class Entry:
    """A verified Secondary Authentication Entry of an account."""

    id: int
    method: str
    destination: str  # masked
    created_at: datetime


@dataclass(frozen=True)
class EntryRemoved:
    entry: Entry
    trusted_devices_revoked: int  # deleting the last entry revokes every trusted device


@dataclass(frozen=True)
class TrustedDevice:
    id: int
    name: str
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class OutboxMessage:
    """A message "sent" in simulate mode (the default of a new home)."""

    id: int
    to: str
    channel: str
    subject: str
    body: str
    code: str | None
    created_at: datetime


# -- the API ----------------------------------------------------------------------------


class TwoFactor:
    """An open twofa home: its settings, secret key and store."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._closed = False

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
                    created=tuple(data["created"]))

    def close(self) -> None:
        """Close the store's connections; the object is unusable afterwards."""
        if not self._closed:
            self._closed = True
            self._rt.engine.dispose()

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
                    admin: bool = False) -> Account:
        """A Shopping Cart account. Raises BadInput (email, password < 8 chars), Conflict."""
        from twofa_cli.services.accounts import add_account

        return _account(add_account(self._rt, email=email, password=password, name=name,
                                    is_admin=admin))

    def account(self, account: AccountRef) -> Account:
        """Raises NotFound."""
        from twofa_cli.services.accounts import show_account

        return _account(show_account(self._rt, str(account)))

    def set_password(self, account: AccountRef, password: str) -> int:
        """Change a password; returns how many trusted devices it revoked (all of them).

        Raises NotFound, BadInput.
        """
        from twofa_cli.services.accounts import set_password

        return int(set_password(self._rt, str(account), password)["trusted_devices_revoked"])

    def enroll(self, account: AccountRef, *, method: str | int, phone: str | None = None,
               email: str | None = None) -> CodeSent:
        """Send Code: start enrolling ``method`` (id or title) with a phone or an email.

        Give ``phone`` for an SMS method, ``email`` for an email one; ``verify`` completes it.
        Raises NotFound, BadInput, Rejected (2FA Inactive), Conflict (already enrolled),
        Throttled (locked, send caps), DeliveryFailed.
        """
        from twofa_cli.services.enrollment import enroll

        return _code_sent(enroll(self._rt, str(account), method=str(method), phone=phone,
                                 email=email))

    def resend(self, account: AccountRef) -> CodeSent:
        """Send New Code for the pending enrolment or login; the old code dies.

        Raises NotFound, Rejected (nothing pending), Throttled (too soon, too many),
        DeliveryFailed.
        """
        from twofa_cli.services.challenges import resend

        return _code_sent(resend(self._rt, str(account)))

    def login(self, account: AccountRef, password: str, *,
              device_token: str | None = None) -> LoginResult:
        """Log in as normal: the password, then a code unless 2FA is off or the device trusted.

        ``device_token`` is the client's "Trust this device" cookie, if it has one.
        An unknown account and a wrong password raise the same Rejected. Also raises
        Throttled (locked, send caps) and DeliveryFailed.
        """
        from twofa_cli.services.login import login

        data = login(self._rt, str(account), password, device_token=device_token)
        who = self.account(account)
        if data["status"] == "authenticated":
            return LoginResult(status="authenticated", account=who, code=None,
                               reason=str(data["reason"]))
        return LoginResult(status="code_sent", account=who, code=_code_sent(data))

    def verify(self, account: AccountRef, code: str, *, trust_device: bool = False,
               device_token: str | None = None, device_name: str = "browser") -> Verification:
        """Enter the code: completes the account's pending enrolment or login.

        With ``trust_device`` the result carries a new device token (set it as a cookie);
        ``device_token``, the client's current one, is then revoked so a browser holds
        one live token. ``device_name`` labels the device in ``trusted_devices``.
        Raises BadInput (not a code), Rejected (wrong, expired or used code; nothing
        pending), Throttled (too many tries: Send New Code; account locked), NotFound.
        """
        from twofa_cli.services.challenges import verify

        result = verify(self._rt, str(account), code, trust_device=trust_device,
                        device=device_name)
        if result.device_token and device_token:
            self._forget_token(result.account_id, device_token)
        status: Literal["verified", "authenticated"] = (
            "verified" if result.status == "verified" else "authenticated")
        return Verification(status=status, account_id=result.account_id,
                            entry_id=result.entry_id, device_token=result.device_token)

    def _forget_token(self, account_id: int, token: str) -> None:
        from twofa_cli.services.devices import revoke_token

        with self._rt.transaction() as session:
            revoke_token(session, self._rt, account_id, token)

    def entries(self, account: AccountRef) -> list[Entry]:
        """The account's verified 2FA entries, oldest first. Raises NotFound."""
        from twofa_cli.services.entries import list_entries

        return [_entry(row) for row in list_entries(self._rt, str(account))]

    def delete_entry(self, account: AccountRef, entry: str | int) -> EntryRemoved:
        """The delete icon: remove one entry (by id). Raises NotFound."""
        from twofa_cli.services.entries import remove_entry

        data = remove_entry(self._rt, str(account), str(entry))
        return EntryRemoved(entry=_entry(data),
                            trusted_devices_revoked=int(data["trusted_devices_revoked"]))

    def trusted_devices(self, account: AccountRef) -> list[TrustedDevice]:
        """Every device ever trusted by the account, with its state. Raises NotFound."""
        from twofa_cli.services.devices import list_devices

        return [
            TrustedDevice(id=int(d["id"]), name=str(d["device"]), state=d["state"],
                          created_at=_when(d["created_at"]), expires_at=_when(d["expires_at"]),
                          revoked_at=_maybe_when(d["revoked_at"]))
            for d in list_devices(self._rt, str(account))
        ]

    def revoke_device(self, account: AccountRef, device: str | int | None = None, *,
                      every: bool = False) -> int:
        """Revoke one trusted device (id or name) or, with ``every``, all; returns how many.

        Raises NotFound.
        """
        from twofa_cli.services.devices import revoke

        target = None if device is None else str(device)
        return int(revoke(self._rt, str(account), target, every=every)["revoked"])

    def outbox(self, *, to: str | None = None, limit: int = 20) -> list[OutboxMessage]:
        """Simulated messages, newest first, with their codes (simulate mode only)."""
        from twofa_cli.services.delivery import list_outbox

        return [
            OutboxMessage(id=int(m["id"]), to=str(m["to"]), channel=str(m["channel"]),
                          subject=str(m["subject"]), body=str(m["body"]), code=m["code"],
                          created_at=_when(m["created_at"]))
            for m in list_outbox(self._rt, to=to, limit=limit)
        ]

    # -- the administrator's side ---------------------------------------------------

    def company_name(self) -> str:
        from twofa_cli.services.system import get_company_name

        return get_company_name(self._rt)

    def set_company_name(self, name: str) -> str:
        """The name in every code message. Raises BadInput."""
        from twofa_cli.services.system import set_company_name

        return set_company_name(self._rt, name)

    def allowed(self, audience: Audience = "customer") -> Policy:
        from twofa_cli.services.system import policy_status

        return _policy(policy_status(self._rt, _audience(audience)))

    def set_allowed(self, audience: Audience, active: bool) -> Policy:
        """Two Factor Auth → Allowed: Active (True) or Inactive (False)."""
        from twofa_cli.services.system import set_allowed

        return _policy(set_allowed(self._rt, _audience(audience), active))

    def add_provider(self, channel: str, *, title: str,
                     options: Mapping[str, Any] | None = None) -> Provider:
        """A provider: ``smtp`` (the platform relay) or ``twilio`` / ``cdyne`` (custom).

        ``options`` are the channel's settings (twilio: account_sid, auth_token,
        from_number or messaging_service_sid; cdyne: license_key, from_number);
        secret ones are stored encrypted. Raises BadInput, Conflict (title taken).
        """
        from twofa_cli.services.providers import add_provider

        return _provider(add_provider(self._rt, channel=channel, title=title,
                                      options=dict(options or {})))

    def providers(self) -> list[Provider]:
        from twofa_cli.services.providers import list_providers

        return [_provider(p) for p in list_providers(self._rt)]

    def remove_provider(self, provider: str | int, *, cascade: bool = False) -> Provider:
        """Remove a provider; with ``cascade`` also the methods (and entries) using it.

        Raises NotFound, Conflict (methods use it and ``cascade`` is False).
        """
        from twofa_cli.services.providers import remove_provider

        return _provider(remove_provider(self._rt, str(provider), cascade=cascade)["removed"])

    def add_secondary_auth(self, *, provider: str | int, title: str) -> Method:
        """Secondary Auth → Add New: a method customers see by ``title``.

        Raises NotFound (provider), BadInput, Conflict (title taken).
        """
        from twofa_cli.services.secondary_auth import add_secondary_auth

        return _method(add_secondary_auth(self._rt, provider=str(provider), title=title))

    def secondary_auths(self) -> list[Method]:
        """The methods customers choose from ("Service Provider"), oldest first."""
        from twofa_cli.services.secondary_auth import list_secondary_auth

        return [_method(m) for m in list_secondary_auth(self._rt)]

    def remove_secondary_auth(self, method: str | int) -> int:
        """Remove a method with its entries; returns how many entries went. Raises NotFound."""
        from twofa_cli.services.secondary_auth import remove_secondary_auth

        return int(remove_secondary_auth(self._rt, str(method))["entries_removed"])


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


def _account(data: Mapping[str, Any]) -> Account:
    audience: Audience = "admin" if data["audience"] == "admin" else "customer"
    return Account(id=int(data["id"]), email=str(data["email"]), name=str(data["name"]),
                   audience=audience, created_at=_when(data["created_at"]))


def _code_sent(data: Mapping[str, Any]) -> CodeSent:
    return CodeSent(challenge_id=int(data["challenge_id"]), expires_at=_when(data["expires_at"]),
                    destination=str(data["destination"]))


def _entry(data: Mapping[str, Any]) -> Entry:
    return Entry(id=int(data["id"]), method=str(data["method"]),
                 destination=str(data["destination"]), created_at=_when(data["created_at"]))


def _policy(data: Mapping[str, Any]) -> Policy:
    audience: Audience = "admin" if data["audience"] == "admin" else "customer"
    return Policy(audience=audience, active=bool(data["active"]),
                  methods=int(data["secondary_auth_providers"]))


def _provider(data: Mapping[str, Any]) -> Provider:
    return Provider(id=int(data["id"]), kind=str(data["kind"]), channel=str(data["channel"]),
                    medium=str(data["medium"]), title=str(data["title"]),
                    options=dict(data["options"]), created_at=_when(data["created_at"]),
                    updated_at=_when(data["updated_at"]))


def _method(data: Mapping[str, Any]) -> Method:
    from twofa_cli.channels import channel_class

    channel = str(data["channel"])
    return Method(id=int(data["id"]), title=str(data["title"]),
                  provider_id=int(data["provider_id"]), provider=str(data["provider"]),
                  channel=channel, medium=channel_class(channel).medium,
                  created_at=_when(data["created_at"]))
