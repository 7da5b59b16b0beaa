"""Enrolment: the customer picks a method, gives a destination, and gets a code."""

from __future__ import annotations

from sqlmodel import select

from twofa_cli.channels import channel_class
from twofa_cli.errors import BadInput, Conflict, Rejected
from twofa_cli.runtime import Runtime
from twofa_cli.services import system
from twofa_cli.services.accounts import audience_of
from twofa_cli.services.challenges import audited_send, ensure_not_locked, open_challenge, sent
from twofa_cli.services.common import find
from twofa_cli.services.delivery import destination_for
from twofa_cli.store.models import Account, Entry, Provider, SecondaryAuth


def enroll(
    rt: Runtime, account: str, *, method: str, phone: str | None = None, email: str | None = None,
) -> dict:
    """Start enrolling a 2FA entry: send a code to the phone or email given."""
    if (phone is None) == (email is None):
        raise BadInput("give exactly one of --phone or --email")

    def work() -> dict:
        with rt.transaction() as session:
            row = find(session, Account, account, by="email", what="account")
            audience = audience_of(row)
            if not system.is_allowed(session, audience):
                raise Rejected(f"two-factor authentication is Inactive for {audience}s")
            chosen = find(session, SecondaryAuth, method, by="title", what="secondary auth provider")
            provider = session.get(Provider, chosen.provider_id)
            medium = channel_class(provider.channel).medium
            if (medium == "sms") != (phone is not None):
                wanted = "--phone with a phone number" if medium == "sms" else "--email"
                raise BadInput(f"{chosen.title!r} sends {medium}: give {wanted}")
            destination = destination_for(rt, provider, phone if phone is not None else email)
            enrolled = session.exec(
                select(Entry.id).where(Entry.account_id == row.id,
                                       Entry.secondary_auth_id == chosen.id,
                                       Entry.destination == destination)
            ).first()
            if enrolled is not None:
                raise Conflict(f"already enrolled with this {chosen.title!r} destination (entry {enrolled})")
            ensure_not_locked(rt, row)
            return sent(open_challenge(session, rt, row, chosen, purpose="enroll",
                                       destination=destination))

    return audited_send(rt, account, "code.sent", work)
