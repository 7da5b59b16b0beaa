"""Codes in flight: sending, Send New Code, and verification.

SECURITY.md rules 1-7 live here. A challenge's code is kept only as an HMAC
bound to the challenge id; a right guess wins through one conditional UPDATE,
so two concurrent verifications of one code succeed at most once. Wrong guesses
are counted the same way (conditional UPDATEs with RETURNING), so the counts
and the lock are exact under concurrency on every store (rule 25).

The lockout rule (rule 6): ``max_failures`` wrong codes in a row lock 2FA
verification for ``lock_seconds``. Neither Send New Code nor a right password
resets the count; a success does, and so does the end of a lock: the first wrong
code after it starts a new count at 1. Each lock that follows another with no
success in between lasts twice as long, up to ``max_lock_seconds``; a success
forgives them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, or_, update
from sqlmodel import Session, col, select

from twofa_cli.channels import Message
from twofa_cli.errors import BadInput, DeliveryFailed, Rejected, Throttled, TwofaError
from twofa_cli.runtime import Runtime
from twofa_cli.security import codes_match, generate_code, mask_destination
from twofa_cli.services import audit, delivery, devices, system
from twofa_cli.services.common import find, iso
from twofa_cli.store.engine import serialize_on
from twofa_cli.store.models import Account, Challenge, Entry, Provider, SecondaryAuth

# Built once (hot path). An account's challenges of the last hour: how many, the oldest,
# and the newest one not completed (a completed one is no reason to make the next wait).
_RECENT_CHALLENGES = (
    select(func.count(), func.min(Challenge.created_at),
           func.max(case((col(Challenge.status) != "used", Challenge.created_at))))
    .where(col(Challenge.account_id) == bindparam("account_id"),
           col(Challenge.created_at) > bindparam("since"))
)
_challenge, _account = Challenge.__table__, Account.__table__
# One wrong try of a live code; no row when the code is already dead.
_COUNT_TRY = (
    update(_challenge)
    .where(_challenge.c.id == bindparam("challenge_id"), _challenge.c.status == "pending",
           _challenge.c.attempts < bindparam("max_attempts"))
    .values(attempts=_challenge.c.attempts + 1)
    .returning(_challenge.c.attempts)
)
# One failed verification of an account that is not locked; the first after a lock
# ended starts a new count. No row when the account is locked.
_COUNT_FAILURE = (
    update(_account)
    .where(_account.c.id == bindparam("account_id"),
           or_(_account.c.locked_until.is_(None), _account.c.locked_until <= bindparam("now")))
    .values(failed_verifications=case((_account.c.locked_until.is_(None),
                                       _account.c.failed_verifications + 1), else_=1),
            locked_until=None)
    .returning(_account.c.failed_verifications, _account.c.lockouts)
)


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
        wait = delivery.seconds_until(rt, account.locked_until)
        raise Throttled(
            f"too many failed verifications: 2FA is locked for {wait} s", retry_after=wait
        )


def ensure_challenge_allowed(session: Session, rt: Runtime, account: Account) -> None:
    """Per-account limits on new challenges (enroll, login): an interval and an hourly cap.

    Without them one account could start challenges back to back, each a code sent.
    The interval runs from the newest challenge that was not completed: logging in
    right after a successful enrolment or login is no abuse.
    """
    throttle = rt.settings.throttle
    serialize_on(session, f"twofa-account:{account.id}")
    count, oldest, newest_open = session.exec(
        _RECENT_CHALLENGES, params={"account_id": account.id, "since": rt.now() - delivery.HOUR}
    ).one()
    if count >= throttle.max_challenges_per_account_per_hour:
        wait = delivery.seconds_until(rt, oldest + delivery.HOUR)
        raise Throttled(f"{count} codes were requested for this account in the last hour: "
                        f"try again in {wait} s", retry_after=wait)
    ensure_waited(rt, newest_open, throttle.challenge_interval_seconds)


def ensure_waited(rt: Runtime, last: datetime | None, seconds: int) -> None:
    """Refuse a new code until ``seconds`` have passed since ``last`` (if any)."""
    if last is None:
        return
    ready_at = last + timedelta(seconds=seconds)
    if ready_at > rt.now():
        wait = delivery.seconds_until(rt, ready_at)
        raise Throttled(f"wait {wait} s before asking for a new code", retry_after=wait)


def open_challenge(
    session: Session, rt: Runtime, account: Account, method: SecondaryAuth, *,
    purpose: str, destination: str, entry_id: int | None = None,
) -> Challenge:
    """Replace any pending challenge of the account with a new one and send its code."""
    ensure_challenge_allowed(session, rt, account)
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
    # A code to the account's own verified entry (a login) spends the account's budget.
    owner = challenge.account_id if challenge.entry_id is not None else None
    budget = delivery.budget_for(challenge.destination, owner_id=owner)
    delivery.check_caps(session, rt, provider, budget)
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
    delivery.deliver(session, rt, provider, message, code=code, budget=budget)
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
            ensure_waited(rt, challenge.last_sent_at, throttle.resend_interval_seconds)
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
    keep_token: Callable[[int, str], None] | None = None,
) -> Verified:
    """Check a code against the pending challenge; complete its enrollment or login.

    With ``trust_device``, ``keep_token(account_id, token)`` hands the new device
    token to the client (e.g. writes the cookie) inside the transaction, before it
    commits: if the client cannot keep it, nothing happens (no trusted device, the
    code not spent), so the store never trusts a token that nobody holds.
    """
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
            if result.device_token and keep_token is not None:
                session.flush()  # a store error surfaces before the client keeps the token
                keep_token(row.id, result.device_token)
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
        .values(failed_verifications=0, locked_until=None, lockouts=0)
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
    """Count a wrong code against the code and the account; lock when the account hits the cap.

    Both counts are conditional UPDATEs that return the new value: concurrent wrong
    codes cannot push them past their limits, and exactly one of them locks. A try
    that finds the code dead or the account locked counts nothing (raised here, it
    rolls the transaction back).
    """
    max_attempts = rt.settings.codes.max_attempts
    attempts = session.execute(
        _COUNT_TRY, {"challenge_id": challenge.id, "max_attempts": max_attempts}
    ).scalar()
    if attempts is None:  # a concurrent try used up the code (or a right one spent it)
        raise Throttled("too many attempts: request a new code")
    counted = session.execute(_COUNT_FAILURE, {"account_id": account.id, "now": rt.now()}).first()
    if counted is None:  # a concurrent try locked the account
        session.refresh(account)
        ensure_not_locked(rt, account)
        raise Throttled("too many failed verifications: 2FA is locked")
    failures, lockouts = counted
    audit.record(session, rt, "code.failed", account_id=account.id, outcome="rejected")
    lockout = rt.settings.lockout
    if failures >= lockout.max_failures:
        seconds = min(lockout.lock_seconds * 2 ** min(lockouts, 32),
                      max(lockout.max_lock_seconds, lockout.lock_seconds))
        session.execute(
            update(_account).where(_account.c.id == account.id)
            .values(locked_until=rt.now() + timedelta(seconds=seconds),
                    lockouts=_account.c.lockouts + 1)
        )
        audit.record(session, rt, "account.locked", account_id=account.id, outcome="locked",
                     detail=f"{failures} failed verifications in a row: locked for {seconds} s")
        return Throttled(
            f"too many failed verifications: 2FA is locked for {seconds} s", retry_after=seconds,
        )
    left = max_attempts - attempts
    if left <= 0:
        return Throttled("wrong code; too many attempts: request a new code")
    return Rejected(f"wrong code ({left} {'try' if left == 1 else 'tries'} left)")
