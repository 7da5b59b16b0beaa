"""Enrolment: the customer picks a method, gives a destination, and gets a code."""

from __future__ import annotations

from twofa_cli.channels import channel_class
from twofa_cli.errors import BadInput, Rejected
from twofa_cli.runtime import Runtime
from twofa_cli.services import system
from twofa_cli.services.accounts import audience_of
from twofa_cli.services.challenges import (
    METHOD_BY_ID, METHOD_BY_TITLE, audited_send, find_account, open_challenge,
)
from twofa_cli.services.common import find_row
from twofa_cli.services.delivery import destination_for


def enroll(
    rt: Runtime, account: str, *, method: str, phone: str | None = None, email: str | None = None,
) -> dict:
    """Start enrolling a 2FA entry: send a code to the phone or email given."""
    if (phone is None) == (email is None):
        raise BadInput("give exactly one of --phone or --email")

    def work() -> dict:
        with rt.connection() as connection:
            row = find_account(connection, account)
            audience = audience_of(row)
            if not system.is_active(row.allowed):
                raise Rejected(f"two-factor authentication is Inactive for {audience}s")
            chosen = find_row(connection, METHOD_BY_ID, METHOD_BY_TITLE, method, by="title",
                              what="secondary auth provider")
            medium = channel_class(chosen.channel).medium
            if (medium == "sms") != (phone is not None):
                wanted = "--phone with a phone number" if medium == "sms" else "--email"
                raise BadInput(f"{chosen.method_title!r} sends {medium}: give {wanted}")
            destination = destination_for(rt, chosen, phone if phone is not None else email)
            return open_challenge(connection, rt, row, chosen, purpose="enroll",
                                  destination=destination)

    return audited_send(rt, account, "code.sent", work)
