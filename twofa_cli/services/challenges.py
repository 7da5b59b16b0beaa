"""Codes in flight: sending, Send New Code, and verification.

SECURITY.md rules 1-7 live here. A challenge's code is kept only as an HMAC
bound to the challenge id; a right guess wins through one conditional UPDATE,
so two concurrent verifications of one code succeed at most once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from twofa_cli.channels import Message
from twofa_cli.errors import BadInput, DeliveryFailed, Rejected, Throttled, TwofaError
from twofa_cli.runtime import Runtime
from twofa_cli.security import codes_match, generate_code, mask_destination
from twofa_cli.services import audit, delivery, devices, system
from twofa_cli.services.common import find, iso
from twofa_cli.store.models import Account, Challenge, Entry, Provider, SecondaryAuth


def code_message(company: str, code: str, ttl_seconds: int, to: str) -> Message:
    minutes = max(1, ttl_seconds // 60)
    sender = f"Your {company} verification code" if company else "Your verification code"
    return Message(
        to=to,
        subject=f"{company} verification code" if company else "Verification code",
        text=f"{sender} is {code}. It expires in {minutes} minutes.",
    )


def ensure_not_locked(rt: Runtime, account: Account) -> None:
    if account.locked_until is not None and account.locked_until > rt.now():
        wait = int((account.locked_until - rt.now()).total_seconds()) + 1
        raise Throttled(
            f"too many failed verifications: 2FA is locked for {wait} s", retry_after=wait
        )


def open_challenge(
    session: Session, rt: Runtime, account: Account, method: SecondaryAuth, *,
    purpose: str, destination: str, entry_id: int | None = None,
) -> Challenge:
    """Replace any pending challenge of the account with a new one and send its code."""
    session.execute(
        update(Challenge)
        .where(col(Challenge.account_id) == account.id, col(Challenge.status) == "pending")
        .values(status="superseded")
    )
    now = rt.now()
    challenge = Challenge(
        account_id=account.id, purpose=purpose, secondary_auth_id=method.id,
        destination=destination, entry_id=entry_id, expires_at=now, created_at=now,
    )
    session.add(challenge)
    session.flush()
    send_code(session, rt, challenge)
    return challenge


def send_code(session: Session, rt: Runtime, challenge: Challenge) -> None:
    """A fresh code for ``challenge``: the old one dies, tries and expiry start over."""
    method = session.get(SecondaryAuth, challenge.secondary_auth_id)
    provider = session.get(Provider, method.provider_id)
    delivery.check_caps(session, rt, provider, challenge.destination)
    settings = rt.settings
    code = generate_code(settings.codes.length)
    now = rt.now()
    challenge.code_hmac = rt.key.code_hmac(challenge.id, code)
    challenge.attempts = 0
    challenge.sends += 1
    challenge.last_sent_at = now
    challenge.expires_at = now + timedelta(seconds=settings.codes.ttl_seconds)
    challenge.status = "pending"
    session.add(challenge)
    message = code_message(system.company_name(session), code, settings.codes.ttl_seconds,
                           challenge.destination)
    delivery.deliver(session, rt, provider, message, code=code)
    audit.record(session, rt, "code.sent", account_id=challenge.account_id,
                 target=mask_destination(challenge.destination), detail=challenge.purpose)


def sent(challenge: Challenge) -> dict:
    return {
        "status": "code_sent",
        "challenge_id": challenge.id,
        "expires_at": iso(challenge.expires_at),
        "destination": mask_destination(challenge.destination),
    }


def audited_send(rt: Runtime, account: str | int, action: str, work: Callable[[], dict]) -> dict:
    """Run a sending transaction; a failed delivery rolls it back, then is audited."""
    try:
        return work()
    except DeliveryFailed as exc:
        with rt.transaction() as session:
            account_id = find(session, Account, account, by="email", what="account").id
            audit.record(session, rt, action, account_id=account_id,
                         outcome="delivery_failed", detail=exc.message)
        raise


def _pending(session: Session, account: Account) -> Challenge | None:
    return session.exec(
        select(Challenge)
        .where(Challenge.account_id == account.id, Challenge.status == "pending")
        .order_by(col(Challenge.id).desc())
    ).first()


def resend(rt: Runtime, account: str) -> dict:
    """Send New Code for the account's pending challenge."""

    def work() -> dict:
        with rt.transaction() as session:
            row = find(session, Account, account, by="email", what="account")
            ensure_not_locked(rt, row)
            challenge = _pending(session, row)
            if challenge is None:
                raise Rejected("no code is pending: log in or enrol first")
            throttle = rt.settings.throttle
            if challenge.sends >= throttle.max_sends_per_challenge:
                raise Throttled(
                    f"a code was already sent {challenge.sends} times: start again by logging in "
                    "or enrolling"
                )
            if challenge.last_sent_at is not None:
                ready_at = challenge.last_sent_at + timedelta(seconds=throttle.resend_interval_seconds)
                if ready_at > rt.now():
                    wait = int((ready_at - rt.now()).total_seconds()) + 1
                    raise Throttled(f"wait {wait} s before asking for a new code", retry_after=wait)
            send_code(session, rt, challenge)
            return sent(challenge)

    return audited_send(rt, account, "code.resend", work)


@dataclass
class Verified:
    status: str  # "verified" (an enrollment) | "authenticated" (a login)
    account_id: int
    entry_id: int | None
    trusted_device: bool
    device_token: str | None = field(default=None, repr=False)  # hand to the client once

    def public(self) -> dict:
        return {
            "status": self.status,
            "entry_id": self.entry_id,
            "trusted_device": self.trusted_device,
            "account_id": self.account_id,
        }


def verify(
    rt: Runtime, account: str, code: str, *, trust_device: bool = False, device: str = "default",
) -> Verified:
    """Check a code against the pending challenge; complete its enrollment or login."""
    code = (code or "").strip()
    length = rt.settings.codes.length
    if not (code.isascii() and code.isdigit() and len(code) == length):
        raise BadInput(f"a code is {length} digits")
    failure: TwofaError | None = None
    with rt.transaction() as session:
        row = find(session, Account, account, by="email", what="account")
        ensure_not_locked(rt, row)
        challenge = _pending(session, row)
        if challenge is None:
            raise Rejected("no code is pending: log in or enrol first")
        if challenge.attempts >= rt.settings.codes.max_attempts:
            raise Throttled("too many attempts: request a new code")
        if challenge.expires_at <= rt.now():
            raise Rejected("the code has expired: request a new code")
        given = rt.key.code_hmac(challenge.id, code)
        if not codes_match(challenge.code_hmac, given):
            failure = _record_failure(session, rt, row, challenge)
        elif not _claim(session, rt, challenge, given):
            raise Rejected("this code has already been used")
        else:
            result = _complete(session, rt, row, challenge, trust_device, device)
    if failure is not None:
        raise failure
    return result


def _claim(session: Session, rt: Runtime, challenge: Challenge, given: str) -> bool:
    """Mark the challenge used if, and only if, it is still pending and valid."""
    result = session.execute(
        update(Challenge)
        .where(
            col(Challenge.id) == challenge.id,
            col(Challenge.status) == "pending",
            col(Challenge.code_hmac) == given,
            col(Challenge.attempts) < rt.settings.codes.max_attempts,
            col(Challenge.expires_at) > rt.now(),
        )
        .values(status="used")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _complete(
    session: Session, rt: Runtime, account: Account, challenge: Challenge,
    trust_device: bool, device: str,
) -> Verified:
    session.execute(
        update(Account).where(col(Account.id) == account.id)
        .values(failed_verifications=0, locked_until=None)
    )
    entry_id = challenge.entry_id
    if challenge.purpose == "enroll":
        entry = session.exec(
            select(Entry).where(Entry.account_id == account.id,
                                Entry.secondary_auth_id == challenge.secondary_auth_id,
                                Entry.destination == challenge.destination)
        ).first()
        if entry is None:
            entry = Entry(account_id=account.id, secondary_auth_id=challenge.secondary_auth_id,
                          destination=challenge.destination, created_at=rt.now())
            session.add(entry)
            session.flush()
        entry_id = entry.id
        audit.record(session, rt, "entry.verified", account_id=account.id, target=str(entry_id))
        status = "verified"
    else:
        audit.record(session, rt, "login.verified", account_id=account.id)
        status = "authenticated"
    token = devices.trust(session, rt, account, device) if trust_device else None
    return Verified(status=status, account_id=account.id, entry_id=entry_id,
                    trusted_device=token is not None, device_token=token)


def _record_failure(session: Session, rt: Runtime, account: Account, challenge: Challenge) -> TwofaError:
    """Count a wrong code against the code and the account; lock when the account hits the cap."""
    session.execute(
        update(Challenge).where(col(Challenge.id) == challenge.id)
        .values(attempts=Challenge.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Account).where(col(Account.id) == account.id)
        .values(failed_verifications=Account.failed_verifications + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(account)
    session.refresh(challenge)
    audit.record(session, rt, "code.failed", account_id=account.id, outcome="rejected")
    lockout = rt.settings.lockout
    if account.failed_verifications >= lockout.max_failures:
        account.locked_until = rt.now() + timedelta(seconds=lockout.lock_seconds)
        session.add(account)
        audit.record(session, rt, "account.locked", account_id=account.id, outcome="locked",
                     detail=f"{account.failed_verifications} failed verifications in a row")
        return Throttled(
            f"too many failed verifications: 2FA is locked for {lockout.lock_seconds} s",
            retry_after=lockout.lock_seconds,
        )
    left = rt.settings.codes.max_attempts - challenge.attempts
    if left <= 0:
        return Throttled("wrong code; too many attempts: request a new code")
    return Rejected(f"wrong code ({left} {'try' if left == 1 else 'tries'} left)")

