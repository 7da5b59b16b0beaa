"""The one exception tree of twofa.

Each domain error carries the contract's exit code and JSON error code, so the
CLI's entry point (``twofa_cli.cli.main``) is the only place that turns an error
into output. Library callers catch these classes directly.
"""

from __future__ import annotations


class TwofaError(Exception):
    exit_code = 1
    code = "rejected"

    def __init__(self, message: str, *, reason: str = "", count: int | None = None,
                 **details: object) -> None:
        super().__init__(message)
        self.message = message
        # What happened, in a word ("wrong_code"), and the number it is about (tries left,
        # a code's digits): for callers that word their own message, as the customer pages
        # do (web/messages.py). Not in ``details``, which the CLI prints as they are.
        self.reason = reason
        self.count = count
        self.details = {k: v for k, v in details.items() if v is not None}


class Rejected(TwofaError):
    """Wrong or expired code, wrong password, conflict, 2FA not allowed."""


class NotInitialised(Rejected):
    code = "not_initialised"


class SchemaOutOfDate(Rejected):
    code = "schema_out_of_date"


class DatabaseUnavailable(Rejected):
    """The store cannot be opened: server down, wrong credentials, unreadable file."""

    code = "database_unavailable"


class Conflict(Rejected):
    code = "conflict"


class PasswordRequired(Rejected):
    """A sensitive change in a session whose password was not given recently: ask for it
    (``TwoFactor.confirm_password``), then try again."""

    code = "password_required"


class BadInput(TwofaError, ValueError):
    exit_code = 2
    code = "bad_input"


class NotFound(TwofaError):
    exit_code = 3
    code = "not_found"


class Throttled(TwofaError):
    """Too many attempts or sends; ``retry_after`` is in seconds when known."""

    exit_code = 4
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int | None = None,
                 reason: str = "") -> None:
        super().__init__(message, reason=reason, retry_after=retry_after)
        self.retry_after = retry_after


class DeliveryFailed(TwofaError):
    """The provider or relay refused the message or could not be reached."""

    exit_code = 5
    code = "delivery_failed"

    def __init__(self, message: str, *, provider_code: str | None = None) -> None:
        super().__init__(message, provider_code=provider_code)
        self.provider_code = provider_code
