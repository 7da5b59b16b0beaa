"""The JSON documents the CLI prints that are not one of the library's results as they are.

Each command builds one of these and prints ``plain()`` of it, and the JSON Schemas in
docs/schema/ are generated from the same classes (``twofa_cli.cli.schemas``), so a
schema cannot say one thing while the command prints another. Field order is key order.

A field made with ``omitted_when_none()`` is left out while it is None (the contract adds
``recovery_codes`` to a verify only when there are some): its key is optional, never null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from typing_extensions import NotRequired, TypedDict  # pydantic reads these on 3.11

from twofa_cli.api import Audience
from twofa_cli.cli.output import omitted_when_none


# -- init, config show -------------------------------------------------------------------


@dataclass(frozen=True)
class HomeShown:
    """``init``: the home it made or found (``TwoFactor.initialise``'s ``Home``)."""

    home: Path
    config: Path
    database: str  # the URL, password masked
    key: str  # the key file's path, or "environment"
    schema_revision: str
    upgraded_from: str | None  # the revision before, when this call upgraded the schema
    created: tuple[Literal["home", "config", "key", "schema"], ...]  # what this call made


# ``config show --json``: the settings kept in the store by the names ``config get`` takes,
# then every config.toml section (extra keys: ``delivery``, ``smtp``, …), then where each
# dotted setting comes from.
ConfigShown = TypedDict("ConfigShown", {
    "company-name": str,
    "customer-allowed": Literal["Active", "Inactive"],
    "admin-allowed": Literal["Active", "Inactive"],
    "sources": dict[str, str],
})
ConfigShown.__pydantic_config__ = {"extra": "allow"}  # type: ignore[attr-defined]


# -- enroll, resend, login, verify, logout ----------------------------------------------


@dataclass(frozen=True)
class CodeSentDocument:
    """``enroll`` and ``resend``: a code is on its way."""

    status: Literal["code_sent"]
    challenge_id: int
    expires_at: datetime
    destination: str  # masked
    sent_at: datetime


@dataclass(frozen=True)
class LoginCodeSent(CodeSentDocument):
    """``login``: a code is on its way, or (``reused``) the one sent at ``sent_at`` still works."""

    reused: bool


@dataclass(frozen=True)
class SecretIssuedDocument:
    """``enroll`` of an authenticator app."""

    status: Literal["secret_issued"]
    challenge_id: int
    otpauth_uri: str
    secret: str  # base32


@dataclass(frozen=True)
class CodeRequiredDocument:
    """``login`` to an authenticator-app entry: nothing was sent."""

    status: Literal["code_required"]
    challenge_id: int
    method: str  # the method's title


@dataclass(frozen=True)
class LoginWithoutCode:
    """``login`` that needs no code (``authenticated``: a trusted device, no 2FA entry, …)
    or that a terminal cannot finish (``passkey_required``); the code keys are null."""

    status: Literal["authenticated", "passkey_required"]
    challenge_id: None = None
    expires_at: None = None
    destination: None = None
    reason: str | None = None  # why no code: "trusted device", "no 2FA entry", …


@dataclass(frozen=True)
class VerifiedDocument:
    status: Literal["verified", "authenticated"]  # an enrolment | a login completed
    entry_id: int | None
    trusted_device: bool
    account_id: int
    recovery_codes: tuple[str, ...] | None = omitted_when_none()  # the first entry's, once
    recovery_codes_remaining: int | None = omitted_when_none()  # after a recovery code
    warning: str | None = omitted_when_none()  # few recovery codes left


@dataclass(frozen=True)
class LoggedOut:
    account_id: int
    device: str
    ended: bool  # False: the simulated browser had no live session of the account


# -- recovery codes, the Allowed switch ---------------------------------------------------


@dataclass(frozen=True)
class RecoveryCodes:
    recovery_codes: tuple[str, ...]  # shown this once


@dataclass(frozen=True)
class RecoveryCodesLeft:
    remaining: int


@dataclass(frozen=True)
class PolicyShown:
    """``customer|admin enable|disable|status``."""

    audience: Audience
    allowed: Literal["Active", "Inactive"]
    active: bool
    secondary_auth_providers: int  # methods that exist to enrol with


# -- device revoke, device forget, session revoke -----------------------------------------


@dataclass(frozen=True)
class DevicesRevoked:
    account_id: int
    revoked: int


@dataclass(frozen=True)
class CookiesForgotten:
    device: str
    cleared: bool


@dataclass(frozen=True)
class SessionsRevoked:
    revoked: int


# -- export, serve, --version ---------------------------------------------------------------


@dataclass(frozen=True)
class ExportWritten:
    """``export --output FILE --json``."""

    output: Path


class ExportedProvider(TypedDict):
    """A provider in ``export``'s document; its channel's options follow as extra keys,
    each secret one an ``env:NAME`` reference."""

    title: str
    channel: str


ExportedProvider.__pydantic_config__ = {"extra": "allow"}  # type: ignore[attr-defined]


class ExportedMethod(TypedDict):
    """A secondary auth in ``export``'s document: a code method names its provider (and its
    fallbacks, if any); an authenticator app or passkeys its kind."""

    title: str
    provider: NotRequired[str]
    fallbacks: NotRequired[list[str]]
    kind: NotRequired[Literal["totp", "passkey"]]


class Exported(TypedDict):
    """``export --json``: what ``export`` writes as TOML and ``apply`` reads."""

    company_name: NotRequired[str]  # absent until it is set
    audiences: dict[Audience, bool]
    providers: list[ExportedProvider]
    secondary_auth: list[ExportedMethod]
    settings: dict[str, dict[str, Any]]  # by config.toml section


@dataclass(frozen=True)
class Serving:
    """``serve --json``: one line once the port is bound."""

    url: str


@dataclass(frozen=True)
class Version:
    """``twofa --version --json``."""

    version: str


# -- errors ---------------------------------------------------------------------------------

ErrorCode = Literal[
    "rejected", "not_initialised", "schema_out_of_date", "database_unavailable", "conflict",
    "password_required", "bad_input", "not_found", "throttled", "delivery_failed", "internal",
]


@dataclass(frozen=True)
class RowProblem:
    """One bad row of ``account import``'s file."""

    line: int
    message: str


@dataclass(frozen=True)
class ErrorBody:
    code: ErrorCode
    message: str
    retry_after: int | None = omitted_when_none()  # throttled: seconds, when waiting helps
    provider_code: str | None = omitted_when_none()  # delivery_failed: the provider's code
    rows: tuple[RowProblem, ...] | None = omitted_when_none()  # account import's bad rows


@dataclass(frozen=True)
class ErrorDocument:
    """Every failure under ``--json``: ``{"error": {...}}``."""

    error: ErrorBody

    @classmethod
    def of(cls, exc: Any) -> ErrorDocument:
        """The document of a ``TwofaError``: its code, message and the details it carries."""
        details = exc.details
        rows = details.get("rows")
        return cls(ErrorBody(
            code=exc.code, message=exc.message, retry_after=details.get("retry_after"),
            provider_code=details.get("provider_code"),
            rows=None if rows is None else tuple(RowProblem(**row) for row in rows)))

