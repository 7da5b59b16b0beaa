"""Enrolment: the customer picks a method, gives a destination, and gets a code."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from twofa_cli.channels import channel_class
from twofa_cli.errors import BadInput, Rejected
from twofa_cli.security import APP_DESTINATION
from twofa_cli.runtime import Runtime
from twofa_cli.services import system, totp
from twofa_cli.services.accounts import audience_of
from twofa_cli.services.challenges import (
    METHOD_BY_ID, METHOD_BY_TITLE, audited_send, find_account, open_challenge,
)
from twofa_cli.services.common import find_row
from twofa_cli.services.delivery import destination_for
from twofa_cli.store.core import Prepared
from twofa_cli.store.models import Account

_EMAIL = Prepared(select(Account.__table__.c.email).where(Account.__table__.c.id == bindparam("id")))


def enroll(
    rt: Runtime, account: str, *, method: str, phone: str | None = None, email: str | None = None,
) -> dict:
    """Start enrolling a 2FA entry: send a code to the phone or email given, or, for an
    authenticator app, issue its secret (``secret_issued``, with the otpauth:// URI)."""

    def work() -> dict:
        with rt.connection() as connection:
            row = find_account(connection, account)
            audience = audience_of(row)
            if not system.is_active(row.allowed):
                raise Rejected(f"two-factor authentication is Inactive for {audience}s",
                               reason="two_factor_off")
            chosen = find_row(connection, METHOD_BY_ID, METHOD_BY_TITLE, method, by="title",
                              what="secondary auth provider")
            if chosen.kind == "totp":
                if phone is not None or email is not None:
                    raise BadInput(f"{chosen.method_title!r} is an authenticator app: "
                                   "give no --phone or --email", reason="app_takes_no_address")
                return _issue_secret(connection, rt, row, chosen)
            if (phone is None) == (email is None):
                raise BadInput("give exactly one of --phone or --email",
                               reason="address_missing")
            medium = channel_class(chosen.channel).medium
            if (medium == "sms") != (phone is not None):
                wanted = "--phone with a phone number" if medium == "sms" else "--email"
                raise BadInput(f"{chosen.method_title!r} sends {medium}: give {wanted}",
                               reason="address_missing")
            destination = destination_for(rt, chosen, phone if phone is not None else email)
            return open_challenge(connection, rt, row, chosen, purpose="enroll",
                                  destination=destination)

    return audited_send(rt, account, "code.sent", work)


def _issue_secret(connection: Connection, rt: Runtime, account, method) -> dict:
    secret = totp.new_secret()
    started = open_challenge(connection, rt, account, method, purpose="enroll",
                             destination=APP_DESTINATION,
                             secret=totp.seal(rt.current_key(connection, row=account), secret))
    email = _EMAIL.scalar(connection, {"id": account.id})
    uri = totp.provisioning_uri(secret, label=email, issuer=account.company or "twofa")
    return {**started, "status": "secret_issued", "otpauth_uri": uri, "secret": secret}
