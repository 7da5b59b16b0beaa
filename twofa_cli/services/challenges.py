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

from sqlalchemy import and_, bindparam, case, exists, func, insert, or_, select, true, update
from sqlalchemy.engine import Connection

from twofa_cli.channels import Message
from twofa_cli.errors import BadInput, Conflict, DeliveryFailed, Rejected, Throttled, TwofaError
from twofa_cli.runtime import Runtime
from twofa_cli.security import codes_match, generate_code, mask_destination
from twofa_cli.services import (
    audit, delivery, devices, notifications, recovery, sessions, totp,
)
from twofa_cli.services.account_state import find_account
from twofa_cli.services.common import iso
from twofa_cli.store.core import Prepared, Row, lock, upsert_entry
from twofa_cli.store.models import (
    Account, Challenge, Entry, Provider, SecondaryAuth,
)

# The statements below are built once and prepared per dialect (the hot path: store/core.py).
_account, _challenge, _entry = Account.__table__, Challenge.__table__, Entry.__table__
_method, _provider = SecondaryAuth.__table__, Provider.__table__


_LOCKED_UNTIL = Prepared(select(_account.c.locked_until)
                         .where(_account.c.id == bindparam("account_id")))


def method_with_provider(*columns):
    """A method and its provider in one row that serves as the provider (``id``, ``channel``,
    ``title``, ``options``, ``secrets``), the method's as ``method_id``, ``method_title`` and
    ``kind``; an authenticator app (kind "totp") has no provider: those columns are NULL."""
    return (select(_provider.c.id, _provider.c.channel, _provider.c.title, _provider.c.options,
                   _provider.c.secrets, _method.c.id.label("method_id"),
                   _method.c.title.label("method_title"), _method.c.kind, *columns)
            .join_from(_method, _provider, _provider.c.id == _method.c.provider_id, isouter=True))


METHOD_BY_ID = Prepared(method_with_provider().where(_method.c.id == bindparam("id")))
METHOD_BY_TITLE = Prepared(method_with_provider().where(_method.c.title == bindparam("value")))

# Everything a new challenge is checked against, in one read taken after the locks: is
# the destination enrolled already, is a challenge pending, the account's challenges of
# the last hour (how many, the oldest, the newest one not completed: a completed one is
# no reason to make the next wait) and both send caps.
_recent = (
    select(func.count().label("recent"), func.min(_challenge.c.created_at).label("oldest"),
           func.max(case((_challenge.c.status != "used", _challenge.c.created_at)))
           .label("newest_open"),
           func.max(case((and_(_challenge.c.status != "used", _challenge.c.purpose == "login"),
                          _challenge.c.created_at)))
           .label("newest_open_login"))
    .where(_challenge.c.account_id == bindparam("account_id"),
           _challenge.c.created_at > bindparam("since"))
    .subquery()
)
_CHECKS = Prepared(
    select(_recent.c.recent, _recent.c.oldest, _recent.c.newest_open, _recent.c.newest_open_login,
           select(_entry.c.id).where(_entry.c.account_id == bindparam("account_id"),
                                     _entry.c.secondary_auth_id == bindparam("method_id"),
                                     _entry.c.destination == bindparam("destination"))
           .scalar_subquery().label("enrolled"),
           exists().where(_challenge.c.account_id == bindparam("account_id"),
                          _challenge.c.status == "pending").label("pending"),
           *delivery.CAP_COLUMNS)
    .select_from(_recent.join(delivery.CAPS_FROM, true()))
)
_SUPERSEDE = Prepared(update(_challenge)
                      .where(_challenge.c.account_id == bindparam("owner"),
                             _challenge.c.status == "pending")
                      .values(status="superseded"))
_INSERT_CHALLENGE = Prepared(insert(_challenge).returning(_challenge.c.id), keys=(
    "account_id", "purpose", "secondary_auth_id", "destination", "entry_id", "code_hmac", "status",
    "attempts", "sends", "last_sent_at", "expires_at", "created_at", "secret"))
# A fresh code: the old one dies, tries and expiry start over.
_ARM = Prepared(update(_challenge).where(_challenge.c.id == bindparam("challenge_id"))
        .values(code_hmac=bindparam("hmac"), attempts=0, sends=_challenge.c.sends + 1,
                last_sent_at=bindparam("now"), expires_at=bindparam("expires"), status="pending"))
# The right code wins only through this conditional UPDATE (rule 5).
_CLAIM = Prepared(update(_challenge)
          .where(_challenge.c.id == bindparam("challenge_id"), _challenge.c.status == "pending",
                 _challenge.c.code_hmac == bindparam("given"),
                 _challenge.c.attempts < bindparam("max_attempts"),
                 _challenge.c.expires_at > bindparam("now"))
          .values(status="used", secret=""))  # a TOTP secret lives on in its entry only
# A TOTP step wins only if it is later than every step the entry accepted before.
_ADVANCE_STEP = Prepared(update(_entry)
                         .where(_entry.c.id == bindparam("entry_id"),
                                or_(_entry.c.last_step.is_(None),
                                    _entry.c.last_step < bindparam("step")))
                         .values(last_step=bindparam("step")))
_FORGIVE = Prepared(update(_account).where(_account.c.id == bindparam("account_id"))
            .values(failed_verifications=0, locked_until=None, lockouts=0))
_LOCK = Prepared(update(_account).where(_account.c.id == bindparam("account_id"))
         .values(locked_until=bindparam("until"), lockouts=_account.c.lockouts + 1))
# One wrong try of a live code; no row when the code is already dead.
_COUNT_TRY = Prepared(
    update(_challenge)
    .where(_challenge.c.id == bindparam("challenge_id"), _challenge.c.status == "pending",
           _challenge.c.attempts < bindparam("max_attempts"))
    .values(attempts=_challenge.c.attempts + 1)
    .returning(_challenge.c.attempts)
)
# One failed verification of an account that is not locked; the first after a lock
# ended starts a new count. No row when the account is locked.
_COUNT_FAILURE = Prepared(
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


def ensure_not_locked(rt: Runtime, account) -> None:
    if account.locked_until is not None and account.locked_until > rt.now():
        wait = delivery.seconds_until(rt, account.locked_until)
        raise Throttled(
            f"too many failed verifications: 2FA is locked for {wait} s", retry_after=wait,
            reason="locked",
        )


def ensure_challenge_allowed(rt: Runtime, checks: Row, *, purpose: str = "enroll",
                             waiting: str | None = None) -> None:
    """Per-account limits on new challenges (enroll, login): an interval and an hourly cap.

    Without them one account could start challenges back to back, each a code sent.
    The interval runs from the newest challenge that was not completed: logging in
    right after a successful enrolment or login is no abuse. A login's interval runs
    from the newest open login only: its code goes to an entry the account verified,
    not to the destination of a pending enrolment, so no destination gets codes closer
    together; the hourly cap and the send caps still count every challenge. ``waiting``
    is said instead of "wait N s before asking for a new code" (see ``ensure_waited``).
    """
    throttle = rt.settings.throttle
    if checks.recent >= throttle.max_challenges_per_account_per_hour:
        wait = delivery.seconds_until(rt, checks.oldest + delivery.HOUR)
        raise Throttled(f"{checks.recent} codes were requested for this account in the last hour: "
                        f"try again in {wait} s", retry_after=wait, reason="too_many_codes")
    newest = checks.newest_open_login if purpose == "login" else checks.newest_open
    ensure_waited(rt, newest, throttle.challenge_interval_seconds, waiting=waiting)


def ensure_waited(rt: Runtime, last: datetime | None, seconds: int, *,
                  waiting: str | None = None) -> None:
    """Refuse a new code until ``seconds`` have passed since ``last`` (if any); the refusal
    says "``waiting`` in N s" when given (a request that sends no code)."""
    if last is None:
        return
    ready_at = last + timedelta(seconds=seconds)
    if ready_at > rt.now():
        wait = delivery.seconds_until(rt, ready_at)
        raise Throttled(f"{waiting} in {wait} s" if waiting
                        else f"wait {wait} s before asking for a new code", retry_after=wait,
                        reason="secret_just_issued" if waiting else "code_just_sent")


def _app_enrolment_waiting(account: Row) -> str:
    """A too-early authenticator-app enrolment: nothing is sent to an app, so the refusal
    points at the challenge still pending instead of at a code to wait for."""
    if account.kind == "totp" and account.purpose == "enroll":
        return ("the authenticator-app secret just issued is still valid: add it to the app "
                "and enter the code the app shows, or ask for a new secret")
    return ("the code asked for just now is still pending: enter it, or ask for an "
            "authenticator-app secret")


def open_challenge(
    connection: Connection, rt: Runtime, account: Row, method: Row, *,
    purpose: str, destination: str, entry_id: int | None = None, secret: str = "",
) -> dict:
    """Replace any pending challenge of the account with a new one and send its code.

    ``account`` is a ``find_account`` row, ``method`` a ``method_with_provider`` row.
    Refused when enrolling a destination the account has already, while the account
    is locked, over the account's challenge limits or over a send cap. An authenticator
    app's challenge sends nothing (``code_required``); a TOTP enrolment keeps ``secret``
    (a Fernet token) until ``verify`` proves the app has it.
    """
    app = method.kind == "totp"
    # A code to the account's own verified entry (a login) spends the account's budget.
    budget = delivery.budget_for(destination, owner_id=account.id if entry_id is not None else None)
    now = rt.now()
    lock(connection, f"twofa-account:{account.id}",
         *(() if app else delivery.caps_locks(method, budget)))
    checks = _CHECKS.one(connection, {
        "account_id": account.id, "since": now - delivery.HOUR, "method_id": method.method_id,
        "destination": destination, "budget": budget, "provider_id": method.id,
    })
    if purpose == "enroll" and checks.enrolled is not None:
        raise Conflict(f"already enrolled with this {method.method_title!r} destination "
                       f"(entry {checks.enrolled})", reason="already_enrolled")
    ensure_not_locked(rt, account)
    ensure_challenge_allowed(rt, checks, purpose=purpose,
                             waiting=_app_enrolment_waiting(account)
                             if app and purpose == "enroll" else None)
    over_cap = None
    if not app:  # a provider over its cap is passed over for the method's fallbacks
        delivery.enforce_destination_cap(rt, checks)
        over_cap = delivery.provider_over_cap(rt, method, checks.by_provider,
                                              checks.by_provider_oldest)
    if checks.pending:
        _SUPERSEDE.run(connection, {"owner": account.id})
    challenge_id = _INSERT_CHALLENGE.one(connection, {
        "account_id": account.id, "purpose": purpose, "secondary_auth_id": method.method_id,
        "destination": destination, "entry_id": entry_id, "code_hmac": "", "status": "pending",
        "attempts": 0, "sends": 0, "last_sent_at": None, "created_at": now, "secret": secret,
        "expires_at": now + timedelta(seconds=rt.settings.codes.ttl_seconds) if app else now,
    }).id
    if app:
        audit.record(connection, rt, "code.required", account_id=account.id,
                     target=method.method_title, detail=purpose)
        return {"status": "code_required", "challenge_id": challenge_id,
                "method": method.method_title}
    sent_at, expires_at = send_code(connection, rt, challenge_id, account, method,
                                    purpose=purpose, destination=destination, budget=budget,
                                    over_cap=over_cap)
    return sent(challenge_id, sent_at, expires_at, destination)


def send_code(
    connection: Connection, rt: Runtime, challenge_id: int, account: Row, provider, *,
    purpose: str, destination: str, budget: str, over_cap: Throttled | None = None,
) -> tuple[datetime, datetime]:
    """A fresh code for the challenge, sent after the caps were checked: when it was sent
    and when it expires. ``provider`` is a ``method_with_provider`` row; ``over_cap`` its
    provider's refusal, if that is over its cap (a fallback may send instead)."""
    settings = rt.settings
    code = generate_code(settings.codes.length)
    now = rt.now()
    expires_at = now + timedelta(seconds=settings.codes.ttl_seconds)
    code_hmac = rt.current_key(connection, row=account).code_hmac(challenge_id, code)
    _ARM.run(connection, {"challenge_id": challenge_id, "hmac": code_hmac, "now": now,
                          "expires": expires_at})
    message = code_message(account.company or "", code, settings.codes.ttl_seconds, destination)
    delivery.send_with_failover(connection, rt, provider, message, method_id=provider.method_id,
                                code=code, budget=budget, over_cap=over_cap)
    audit.record(connection, rt, "code.sent", account_id=account.id,
                 target=mask_destination(destination), detail=purpose)
    return now, expires_at


def sent(challenge_id: int, sent_at: datetime, expires_at: datetime, destination: str, *,
         reused: bool = False) -> dict:
    """A code step: ``reused`` when no new code was sent (the one sent at ``sent_at``
    still works)."""
    return {
        "status": "code_sent",
        "challenge_id": challenge_id,
        "expires_at": iso(expires_at),
        "destination": mask_destination(destination),
        "sent_at": iso(sent_at),
        "reused": reused,
    }


def pending_login(connection: Connection, rt: Runtime, account_id: int,
                  entry_id: int | None) -> dict | None:
    """The account's pending login challenge as a code step, if its code still works: not
    expired, tries left, 2FA not locked, for ``entry_id`` (None: any entry). Read after
    ``open_challenge`` took the account's lock, so no new challenge can replace it meanwhile.
    """
    row = find_account(connection, account_id)
    now = rt.now()
    live = (row.challenge_id is not None and row.purpose == "login"
            and entry_id in (None, row.entry_id) and row.expires_at > now
            and row.attempts < rt.settings.codes.max_attempts
            and (row.locked_until is None or row.locked_until <= now))
    if not live:
        return None
    if row.kind == "totp":
        return {"status": "code_required", "challenge_id": row.challenge_id,
                "method": METHOD_BY_ID.one(connection, {"id": row.secondary_auth_id}).method_title,
                "reused": True}
    if row.last_sent_at is None:  # its send failed and rolled back: there is no code to reuse
        return None
    return sent(row.challenge_id, row.last_sent_at, row.expires_at, row.destination, reused=True)


def audited_send(rt: Runtime, account: str | int, action: str, work: Callable[[], dict]) -> dict:
    """Run a sending transaction; a failed delivery, or an SMS over its country's budget,
    rolls it back, then is audited."""
    try:
        return work()
    except (DeliveryFailed, delivery.CountryBudgetSpent) as exc:
        outcome = "delivery_failed" if isinstance(exc, DeliveryFailed) else "country_budget"
        with rt.connection() as connection:
            account_id = find_account(connection, account).id
            audit.record(connection, rt, action, account_id=account_id,
                         outcome=outcome, detail=exc.message)
        raise


def resend(rt: Runtime, account: str) -> dict:
    """Send New Code for the account's pending challenge."""

    def work() -> dict:
        with rt.connection() as connection:
            row = find_account(connection, account)
            ensure_not_locked(rt, row)
            if row.challenge_id is None:
                raise Rejected("no code is pending: log in or enrol first",
                               reason="no_code_pending")
            if row.kind == "totp":
                raise Rejected("nothing is sent for an authenticator app: enter the code it shows",
                               reason="app_sends_nothing")
            throttle = rt.settings.throttle
            if row.sends >= throttle.max_sends_per_challenge:
                raise Throttled(
                    f"a code was already sent {row.sends} times: start again by logging in "
                    "or enrolling", reason="too_many_sends"
                )
            ensure_waited(rt, row.last_sent_at, throttle.resend_interval_seconds)
            provider = METHOD_BY_ID.one(connection, {"id": row.secondary_auth_id})
            owner = row.id if row.entry_id is not None else None
            budget = delivery.budget_for(row.destination, owner_id=owner)
            counts = delivery.read_caps(connection, rt, provider, budget)
            delivery.enforce_destination_cap(rt, counts)
            sent_at, expires_at = send_code(
                connection, rt, row.challenge_id, row, provider, purpose=row.purpose,
                destination=row.destination, budget=budget,
                over_cap=delivery.provider_over_cap(rt, provider, counts.by_provider,
                                                    counts.by_provider_oldest))
            return sent(row.challenge_id, sent_at, expires_at, row.destination)

    return audited_send(rt, account, "code.resend", work)


@dataclass
class Verified:
    status: str  # "verified" (an enrollment) | "authenticated" (a login)
    account_id: int
    entry_id: int | None
    trusted_device: bool
    device_token: str | None = field(default=None, repr=False)  # hand to the client once
    # A first entry's new recovery codes, shown this once.
    recovery_codes: list[str] = field(default_factory=list, repr=False)
    recovery_codes_remaining: int | None = None  # after a recovery code was used
    # The signed-in session's new token, when a session's login was completed.
    session_token: str | None = field(default=None, repr=False)

    def public(self) -> dict:
        data = {
            "status": self.status,
            "entry_id": self.entry_id,
            "trusted_device": self.trusted_device,
            "account_id": self.account_id,
        }
        if self.recovery_codes:
            data["recovery_codes"] = self.recovery_codes
        if self.recovery_codes_remaining is not None:
            data["recovery_codes_remaining"] = self.recovery_codes_remaining
        return data


def verify(
    rt: Runtime, account: str, code: str, *, trust_device: bool = False, device: str = "default",
    keep_token: Callable[[int, str], None] | None = None, recovery_code: str | None = None,
    session_token: str | None = None,
) -> Verified:
    """Check a code against the pending challenge; complete its enrollment or login.

    The code is the one sent, or the one the authenticator app shows. Instead of a code,
    ``recovery_code`` completes a pending login (one of the account's recovery codes,
    spent by it); a wrong one counts towards the lockout like a wrong code.

    With ``trust_device``, ``keep_token(account_id, token)`` hands the new device
    token to the client (e.g. writes the cookie) inside the transaction, before it
    commits: if the client cannot keep it, nothing happens (no trusted device, the
    code not spent), so the store never trusts a token that nobody holds.
    """
    code = (code or "").strip()
    length = rt.settings.codes.length
    if recovery_code is None and not (code.isascii() and code.isdigit()
                                      and len(code) in (length, totp.DIGITS)):
        raise BadInput(f"a code is {length} digits", reason="code_format", count=length)
    if recovery_code is not None and (len(recovery_code) > 100 or not recovery_code.isascii()):
        raise BadInput("a recovery code is 10 letters and digits", reason="recovery_code_format")
    failure: TwofaError | None = None
    with rt.connection() as connection:
        row = find_account(connection, account)
        session = None if session_token is None or row.purpose != "login" else sessions.alive(
            connection, rt, session_token, account_id=row.id, state="pending")
        ensure_not_locked(rt, row)
        if row.challenge_id is None:
            raise Rejected("no code is pending: log in or enrol first", reason="no_code_pending")
        if row.attempts >= rt.settings.codes.max_attempts:
            raise Throttled("too many attempts: request a new code", reason="too_many_attempts")
        if row.expires_at <= rt.now():
            raise Rejected("the code has expired: request a new code", reason="code_expired")
        step = None
        if recovery_code is not None:
            if row.purpose != "login":
                raise Rejected("a recovery code completes a login, not an enrolment",
                               reason="recovery_code_enrolling")
            right = recovery.use(connection, rt, row, recovery_code)
            given = row.code_hmac  # the challenge is claimed as it stands
        elif row.kind == "totp":
            if len(code) != totp.DIGITS:
                raise BadInput(f"an authenticator app's code is {totp.DIGITS} digits",
                               reason="code_format", count=totp.DIGITS)
            secret = totp.unseal(rt.current_key(connection, row=row),
                                 row.challenge_secret or row.entry_secret)
            step = totp.matching_step(secret, code, rt.now())
            right, given = step is not None, ""
        else:
            if len(code) != length:
                raise BadInput(f"a code is {length} digits", reason="code_format", count=length)
            given = rt.current_key(connection, row=row).code_hmac(row.challenge_id, code)
            right = codes_match(row.code_hmac, given)
        if not right:
            failure = _record_failure(connection, rt, row)
        elif step is not None and row.entry_id is not None and not _ADVANCE_STEP.run(
                connection, {"entry_id": row.entry_id, "step": step}).rowcount:
            audit.record(connection, rt, "code.replayed", account_id=row.id, outcome="rejected")
            failure = Rejected("this code has already been used: wait for the next one",
                               reason="code_used")
        elif not _claim(connection, rt, row.challenge_id, given):
            raise Rejected("this code has already been used", reason="code_used")
        else:
            result = _complete(connection, rt, row, trust_device, device, step=step)
            if session is not None:
                result.session_token = sessions.sign_in(connection, rt, session, session_token)
            if recovery_code is not None:
                result.recovery_codes_remaining = recovery.remaining(connection, row.id)
            # Simulate mode writes them here; live mode sends them once this commits.
            later = notifications.notify_within(connection, rt, row.id, _notices(row, result))
            if result.device_token and keep_token is not None:
                keep_token(row.id, result.device_token)  # every statement has run: none can fail after
    if failure is not None:
        raise failure
    for event, destination in later:
        notifications.notify(rt, row.id, event, destination=destination)
    return result


def _notices(account: Row, result: Verified) -> list[tuple[notifications.Event, str | None]]:
    """What a verification tells the customer (rule 27): a new entry, a recovery code
    used, a trusted device."""
    told: list[tuple[notifications.Event, str | None]] = []
    if result.status == "verified":
        told.append(("entry_added", account.destination))
    if result.recovery_codes_remaining is not None:
        told.append(("recovery_code_used", None))
    if result.trusted_device:
        told.append(("device_trusted", None))
    return told


def _claim(connection: Connection, rt: Runtime, challenge_id: int, given: str) -> bool:
    """Mark the challenge used if, and only if, it is still pending and valid."""
    result = _CLAIM.run(connection, {
        "challenge_id": challenge_id, "given": given,
        "max_attempts": rt.settings.codes.max_attempts, "now": rt.now(),
    })
    return result.rowcount == 1


def _complete(connection: Connection, rt: Runtime, account: Row, trust_device: bool,
              device: str, *, step: int | None = None) -> Verified:
    """``account`` is the ``find_account`` row whose pending challenge was just claimed;
    ``step`` the TOTP step it was claimed with, if any."""
    if account.failed_verifications or account.locked_until is not None or account.lockouts:
        _FORGIVE.run(connection, {"account_id": account.id})  # a success forgives them all
    entry_id = account.entry_id
    codes: list[str] = []
    if account.purpose == "enroll":
        entry_id = upsert_entry(connection, account.id, account.secondary_auth_id,
                                account.destination, rt.now(), secret=account.challenge_secret,
                                last_step=step)
        if not account.recovery_key:  # the account's first entry: its recovery codes
            codes = recovery.issue(connection, rt, account, replacing=False)
        audit.record(connection, rt, "entry.verified", account_id=account.id, target=str(entry_id),
                     detail=f"{len(codes)} recovery codes issued" if codes else "")
        status = "verified"
    else:
        audit.record(connection, rt, "login.verified", account_id=account.id)
        status = "authenticated"
    token = devices.trust(connection, rt, account, device) if trust_device else None
    return Verified(status=status, account_id=account.id, entry_id=entry_id,
                    trusted_device=token is not None, device_token=token, recovery_codes=codes)


def _record_failure(connection: Connection, rt: Runtime, account: Row) -> TwofaError:
    """Count a wrong code against the code and the account; lock when the account hits the cap.

    Both counts are conditional UPDATEs that return the new value: concurrent wrong
    codes cannot push them past their limits, and exactly one of them locks. A try
    that finds the code dead or the account locked counts nothing (raised here, it
    rolls the transaction back).
    """
    max_attempts = rt.settings.codes.max_attempts
    attempts = _COUNT_TRY.scalar(
        connection, {"challenge_id": account.challenge_id, "max_attempts": max_attempts})
    if attempts is None:  # a concurrent try used up the code (or a right one spent it)
        raise Throttled("too many attempts: request a new code", reason="too_many_attempts")
    counted = _COUNT_FAILURE.first(connection, {"account_id": account.id, "now": rt.now()})
    if counted is None:  # a concurrent try locked the account
        ensure_not_locked(rt, _LOCKED_UNTIL.one(connection, {"account_id": account.id}))
        raise Throttled("too many failed verifications: 2FA is locked", reason="locked")
    failures, lockouts = counted
    audit.record(connection, rt, "code.failed", account_id=account.id, outcome="rejected")
    lockout = rt.settings.lockout
    if failures >= lockout.max_failures:
        seconds = min(lockout.lock_seconds * 2 ** min(lockouts, 32),
                      max(lockout.max_lock_seconds, lockout.lock_seconds))
        _LOCK.run(connection, {"account_id": account.id,
                               "until": rt.now() + timedelta(seconds=seconds)})
        audit.record(connection, rt, "account.locked", account_id=account.id, outcome="locked",
                     detail=f"{failures} failed verifications in a row: locked for {seconds} s")
        return Throttled(
            f"too many failed verifications: 2FA is locked for {seconds} s", retry_after=seconds,
            reason="locked",
        )
    left = max_attempts - attempts
    if left <= 0:
        return Throttled("wrong code; too many attempts: request a new code",
                         reason="last_try_wrong")
    return Rejected(f"wrong code ({left} {'try' if left == 1 else 'tries'} left)",
                    reason="wrong_code", count=left)


def pending(rt: Runtime, account: str) -> dict | None:
    """The account's pending challenge as a code page shows it, or None."""
    with rt.connection() as connection:
        row = find_account(connection, account)
        if row.challenge_id is None:
            return None
        method = METHOD_BY_ID.one(connection, {"id": row.secondary_auth_id})
    return {"challenge_id": row.challenge_id, "purpose": row.purpose,
            "method": method.method_title, "kind": row.kind,
            "destination": mask_destination(row.destination),
            "sent_at": iso(row.last_sent_at), "expires_at": iso(row.expires_at)}
