"""Every table of twofa, in one place.

Secrets never sit here in plain text: provider credentials are a Fernet token,
codes an HMAC, trusted-device tokens a SHA-256, passwords an argon2id hash.
Every lookup path has an index (see benchmarks/throughput.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from sqlalchemy import (
    JSON, BigInteger, CheckConstraint, Column, DateTime, Index, UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    """Naive UTC in the database, aware UTC in Python, alike on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_sqlite_datetime())
        return super().load_dialect_impl(dialect)


@cache
def _sqlite_datetime():
    """SQLite's DATETIME, writing its default storage format with ``isoformat``.

    The same text as SQLAlchemy's format string ("2026-01-15 12:00:00.000000", checked
    in tests/test_store.py) in a fraction of the time: every statement of the customer
    flow binds one or more timestamps.
    """
    from sqlalchemy.dialects.sqlite import DATETIME  # loaded already when SQLite is in use

    class IsoDateTime(DATETIME):
        def bind_processor(self, dialect):
            general = super().bind_processor(dialect)

            def process(value):
                if type(value) is datetime and value.tzinfo is None:
                    return value.isoformat(" ", "microseconds")
                return general(value)

            return process

    return IsoDateTime()


def _utc_column(**kwargs) -> Column:
    return Column(UTCDateTime(), **kwargs)


class Setting(SQLModel, table=True):
    """Small named values set by the admin: the company name, the "Allowed" toggles."""

    __tablename__ = "setting"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=200)


class Provider(SQLModel, table=True):
    __tablename__ = "provider"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "configio" | "custom"
    channel: str = Field(max_length=16)  # a key of twofa_cli.channels.CHANNELS
    title: str = Field(max_length=200, unique=True)
    options: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    secrets: str = Field(default="")  # Fernet token of the secret options, as JSON
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))


class SecondaryAuth(SQLModel, table=True):
    """A 2FA method customers can pick ("Secondary Authentication Provider")."""

    __tablename__ = "secondary_auth"
    __table_args__ = (CheckConstraint("kind IN ('code', 'totp', 'passkey')",
                                      name="ck_secondary_auth_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    # "code": a code sent through the provider; "totp": an authenticator app; "passkey":
    # WebAuthn (services/passkeys.py). The last two have no provider.
    kind: str = Field(default="code", max_length=8, sa_column_kwargs={"server_default": "code"})
    provider_id: int | None = Field(default=None, foreign_key="provider.id", index=True)
    title: str = Field(max_length=200, unique=True)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Account(SQLModel, table=True):
    """A Shopping Cart user: a customer, or an administrator."""

    __tablename__ = "account"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=200)
    is_admin: bool = False
    # Consecutive wrong codes since the last success or the end of the last lock.
    failed_verifications: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # Locks since the last success: each lasts twice as long as the one before.
    lockouts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Counts password changes: a session is bound to the one it checked (login_session).
    password_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Entry(SQLModel, table=True):
    """A verified Secondary Authentication Entry: one method with one destination."""

    __tablename__ = "entry"
    # Also the index of the account's entries: it leads with account_id.
    __table_args__ = (UniqueConstraint("account_id", "secondary_auth_id", "destination"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    secondary_auth_id: int = Field(foreign_key="secondary_auth.id", index=True)
    destination: str = Field(max_length=254)
    # TOTP entries: the Fernet token of the secret, and the last time step accepted
    # (a step is never accepted twice).
    secret: str = Field(default="", sa_column_kwargs={"server_default": ""})
    last_step: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # The entry a login uses when the account has several (`twofa entry prefer`).
    preferred: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Challenge(SQLModel, table=True):
    """A code that was sent and waits for ``verify``: to enrol an entry or to log in."""

    __tablename__ = "challenge"
    __table_args__ = (
        Index("ix_challenge_account_status", "account_id", "status"),
        # A misspelt state would hide a challenge from every query: refuse it in the store.
        CheckConstraint("status IN ('pending', 'used', 'superseded')", name="ck_challenge_status"),
        CheckConstraint("purpose IN ('enroll', 'login')", name="ck_challenge_purpose"),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    purpose: str = Field(max_length=8)  # "enroll" | "login"
    secondary_auth_id: int = Field(foreign_key="secondary_auth.id", index=True)
    destination: str = Field(max_length=254)
    entry_id: int | None = Field(default=None, foreign_key="entry.id", index=True)
    code_hmac: str = Field(default="", max_length=64)
    # A TOTP enrolment: the Fernet token of the secret issued, until ``verify`` proves it.
    secret: str = Field(default="", sa_column_kwargs={"server_default": ""})
    status: str = Field(default="pending", max_length=12)  # pending | used | superseded
    attempts: int = 0  # wrong tries of the current code
    sends: int = 0
    last_sent_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class RecoveryCode(SQLModel, table=True):
    """One of an account's recovery codes: only its HMAC, keyed by a random key of its set."""

    __tablename__ = "recovery_code"
    # Also the index of the account's codes: it leads with account_id.
    __table_args__ = (UniqueConstraint("account_id", "code_hmac"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    code_hmac: str = Field(max_length=64)
    # Fernet token of the set's HMAC key (the same in each row of a set): not the secret
    # key, so the hashes outlive `key rotate` and `key prune` (services/recovery.py).
    recovery_key: str
    used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class Delivery(SQLModel, table=True):
    """One message handed to a provider: what the send caps count."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_budget_sent_at", "budget", "sent_at"),
        Index("ix_delivery_provider_sent_at", "provider_id", "sent_at"),
        Index("ix_delivery_country_sent_at", "country", "sent_at"),
        Index("ix_delivery_provider_message_id", "provider_message_id"),
        CheckConstraint("status IN ('queued', 'sent', 'delivered', 'undelivered', 'failed')",
                        name="ck_delivery_status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # The row outlives its provider: the per-destination cap must still count it.
    provider_id: int | None = Field(default=None, foreign_key="provider.id", ondelete="SET NULL")
    destination: str = Field(max_length=254)
    # The per-destination budget the send spent (services/delivery.py budget_for).
    budget: str = Field(default="", max_length=300, sa_column_kwargs={"server_default": ""})
    provider_message_id: str = Field(default="", max_length=200)
    sent_at: datetime = Field(sa_column=_utc_column(nullable=False))
    # What the provider last reported (services/delivery.py STATUS_RANK): never backwards.
    status: str = Field(default="sent", max_length=12, sa_column_kwargs={"server_default": "sent"})
    error_code: str | None = Field(default=None, max_length=16)  # the provider's, digits only
    updated_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # The ISO region of an SMS destination ("" for email): the per-country budget counts it.
    country: str = Field(default="", max_length=2, sa_column_kwargs={"server_default": ""})


class SecondaryAuthFallback(SQLModel, table=True):
    """A provider that sends a method's code when the ones before it fail or are over
    their hourly cap (``secondary-auth add --fallback``), in ``position`` order."""

    __tablename__ = "secondary_auth_fallback"
    secondary_auth_id: int = Field(foreign_key="secondary_auth.id", primary_key=True)
    position: int = Field(primary_key=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)


class OutboxMessage(SQLModel, table=True):
    """A message "sent" in simulate mode, kept so operators can read it back."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_to", "to"),)
    id: int | None = Field(default=None, primary_key=True)
    to: str = Field(max_length=254)
    channel: str = Field(max_length=16)
    subject: str = Field(default="", max_length=200)
    body: str
    code: str | None = Field(default=None, max_length=10)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))


class TrustedDevice(SQLModel, table=True):
    __tablename__ = "trusted_device"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    token_sha256: str = Field(max_length=64, unique=True)
    device_name: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc_column(nullable=False))
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    account_id: int | None = Field(default=None, index=True)
    target: str = Field(default="", max_length=300)
    outcome: str = Field(default="ok", max_length=32)
    detail: str = Field(default="", max_length=500)


class LoginSession(SQLModel, table=True):
    """A login session: the client holds a random token, the store only its SHA-256.

    ``pending`` once the password was right, ``signed_in`` once the login completed. It
    lives while the account's ``password_epoch`` is the one it checked, until
    ``expires_at`` and while it is used at least every ``[session] idle_minutes``.
    """

    __tablename__ = "login_session"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'signed_in')", name="ck_login_session_state"),
        Index("ix_login_session_account_id", "account_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True)
    account_id: int = Field(foreign_key="account.id")
    state: str = Field(max_length=12)
    password_epoch: int
    device: str = Field(default="", max_length=200)  # the CLI's --device, a browser's name
    client: str = Field(default="", max_length=200)  # the caller's notion: a peer address
    # When the password was last given (login, step-up): sensitive changes need it recent.
    # NULL: a step-up is owed before the next one ([session] reauth_minutes = 0).
    password_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    last_seen_at: datetime = Field(sa_column=_utc_column(nullable=False))
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))


class LoginThrottle(SQLModel, table=True):
    """Failed passwords of one login name, from one client or (client "*") from all.

    ``subject`` is what the login was for, canonical (a lower-case email), so unknown
    accounts are throttled exactly like real ones.
    """

    __tablename__ = "login_throttle"
    subject: str = Field(primary_key=True, max_length=254)
    client: str = Field(primary_key=True, max_length=200)
    failures: int = 0  # in the window that started at window_started_at
    window_started_at: datetime = Field(sa_column=_utc_column(nullable=False))
    blocked_until: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class Passkey(SQLModel, table=True):
    """A registered WebAuthn credential: the public half of a passkey, one per entry.

    The entry (kind "passkey") is what lists, prefers and deletes it; deleting the entry
    deletes this row. Nothing here is secret: the private key never leaves the
    authenticator.
    """

    __tablename__ = "passkey"
    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="entry.id", unique=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="account.id", index=True)  # ix_passkey_account_id
    credential_id: str = Field(max_length=1400, unique=True)  # base64url, as browsers send it
    public_key: str  # base64url of the COSE key
    # The authenticator's signature counter: it must rise with each use unless it is 0.
    sign_count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    transports: str = Field(default="", max_length=200)  # comma-separated: "internal,hybrid"
    aaguid: str = Field(default="", max_length=36)
    backup_eligible: bool = False
    backup_state: bool = False
    name: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class WebauthnChallenge(SQLModel, table=True):
    """A WebAuthn challenge handed to a browser: single use, short-lived (rule 35).

    ``purpose`` "register" is bound to a signed-in session, "login" to a pending one
    (``session_sha256``); "passwordless" to no session and no account.
    """

    __tablename__ = "webauthn_challenge"
    __table_args__ = (
        CheckConstraint("purpose IN ('register', 'login', 'passwordless')",
                        name="ck_webauthn_challenge_purpose"),
        Index("ix_webauthn_challenge_expires_at", "expires_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    challenge: str = Field(max_length=128, unique=True)  # base64url
    purpose: str = Field(max_length=16)
    session_sha256: str = Field(default="", max_length=64)
    account_id: int | None = Field(default=None, foreign_key="account.id", ondelete="CASCADE")
    name: str = Field(default="", max_length=64)  # the passkey name asked for at registration
    expires_at: datetime = Field(sa_column=_utc_column(nullable=False))
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
