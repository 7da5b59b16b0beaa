"""Telling the customer by email that their two-factor set-up changed (SECURITY.md rule 27).

A notice goes to the account's email through the platform's SMTP ("Configio") provider,
or to the outbox in simulate mode. It names the event, the time and the company, never a
code, secret, token or full destination.

A notice that cannot be delivered is audited (``notification.failed``) and never undoes
the change. Two ways in:

- ``notify`` once the change has committed, in a transaction of its own; in live mode the
  relay is talked to outside any transaction, so a slow relay holds no lock.
- ``notify_within`` inside the change's transaction (the customer's verification, the hot
  path): in simulate mode the notice is two rows, written there under a SAVEPOINT, so it
  costs no transaction of its own and exists exactly when the change commits; a failure
  rolls back to the savepoint only. In live mode it hands the notices back for ``notify``.

Notices are not counted against the send caps: they follow events a right code (or an
authenticated customer) already paid for, so they cannot be used to spend the budget
codes need.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Literal

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from twofa_cli.channels import Message
from twofa_cli.errors import TwofaError
from twofa_cli.runtime import Runtime
from twofa_cli.security import mask_destination
from twofa_cli.services import audit, delivery, system
from twofa_cli.services.provider_channels import open_channel
from twofa_cli.store.core import Prepared, savepoint
from twofa_cli.store.models import Account, Provider

Event = Literal["entry_added", "entry_deleted", "device_trusted", "recovery_code_used",
                "recovery_codes_replaced"]
Outcome = Literal["sent", "simulated", "skipped", "failed"]

# Subject and what happened ({method}: the masked destination; {when}: the time, UTC).
_WORDING: dict[str, tuple[str, str]] = {
    "entry_added": ("Two-factor method added",
                    "A two-factor method ({method}) was added to your account on {when}."),
    "entry_deleted": ("Two-factor method removed",
                      "A two-factor method ({method}) was removed from your account on {when}."),
    "device_trusted": ("New trusted device",
                       "A device was trusted for your account on {when}; it will not be asked "
                       "for a code."),
    "recovery_code_used": ("Recovery code used",
                           "A recovery code was used to sign in to your account on {when}."),
    "recovery_codes_replaced": ("Recovery codes replaced",
                                "New recovery codes were made for your account on {when}; the "
                                "old ones no longer work."),
}
EVENTS = tuple(_WORDING)

_account, _provider = Account.__table__, Provider.__table__
# The oldest SMTP provider is the platform's email provider.
_SMTP_ID = (select(_provider.c.id).where(_provider.c.channel == "smtp")
            .order_by(_provider.c.id).limit(1).scalar_subquery())
# The account's email, the company name and the provider to send with, in one read.
_RECIPIENT = Prepared(
    select(_account.c.email, system.setting_value(system.COMPANY_NAME).label("company"),
           _provider.c.id, _provider.c.channel, _provider.c.title, _provider.c.options,
           _provider.c.secrets)
    .select_from(_account.outerjoin(_provider, _provider.c.id == _SMTP_ID))
    .where(_account.c.id == bindparam("account_id"))
)


def notify(rt: Runtime, account_id: int, event: Event, *,
           destination: str | None = None) -> Outcome:
    """Tell the account's email that ``event`` happened; call it after the change committed.

    ``destination`` (an entry's phone or email) is shown masked. Never raises for a
    failure: the change committed already, and a notice that fails (the relay, the
    store, or anything unforeseen such as a header the email package refuses) must not
    turn the customer's success, recovery codes or a token just issued into an error.
    A failure is audited when the store can take it, and reported as ``"failed"``.
    """
    _check_known(event)
    try:
        return _notify(rt, account_id, event, destination)
    except SQLAlchemyError:
        return "failed"  # the store cannot take the notice now (busy, gone): nor its audit
    except Exception as exc:  # noqa: BLE001 (see above: after the commit, nothing may raise)
        reason = exc.message if isinstance(exc, TwofaError) else f"unexpected {type(exc).__name__}"
        with suppress(SQLAlchemyError), rt.connection() as connection:
            audit.record(connection, rt, "notification.failed", account_id=account_id,
                         outcome="failed", detail=f"{event}: {reason}")
        return "failed"


def notify_within(connection: Connection, rt: Runtime, account_id: int,
                  events: Sequence[tuple[Event, str | None]]) -> list[tuple[Event, str | None]]:
    """Deal with ``events`` (each with its destination, or None) inside the change's own
    transaction where the store alone can; what is left to ``notify`` once it committed.

    In simulate mode all of them are written here, under one SAVEPOINT: a store error rolls
    back the notices only, is audited, and leaves the change to commit. In live mode none
    is: a relay is never talked to inside a transaction, so all are handed back.
    """
    for event, _ in events:
        _check_known(event)
    if not events or rt.settings.delivery.mode == "live":
        return list(events)
    try:
        with savepoint(connection):
            row = _RECIPIENT.first(connection, {"account_id": account_id})
            for event, destination in events:
                _settle(connection, rt, row, account_id, event, destination)
    except SQLAlchemyError as exc:
        with suppress(SQLAlchemyError), savepoint(connection):
            audit.record(connection, rt, "notification.failed", account_id=account_id,
                         outcome="failed", detail=f"{', '.join(e for e, _ in events)}: "
                                                  f"the store refused it ({type(exc).__name__})")
    return []


def _check_known(event: str) -> None:
    if event not in _WORDING:  # a programming error, not a failed notice
        raise ValueError(f"unknown notification event {event!r}")


def _notify(rt: Runtime, account_id: int, event: str, destination: str | None) -> Outcome:
    with rt.connection() as connection:
        row = _RECIPIENT.first(connection, {"account_id": account_id})
        settled = _settle(connection, rt, row, account_id, event, destination)
        if settled is not None:
            return settled
    try:  # outside any transaction: the relay may take its time, the store is not held
        receipt = open_channel(rt, row).send(_message(rt, row, event, destination))
    except TwofaError as exc:
        with rt.connection() as connection:
            audit.record(connection, rt, "notification.failed", account_id=account_id,
                         target=mask_destination(row.email), outcome="failed",
                         detail=f"{event}: {exc.message}")
        return "failed"
    with rt.connection() as connection:
        _audit_sent(connection, rt, account_id, event, row.email, receipt.status)
    return "sent"


def _settle(connection: Connection, rt: Runtime, row, account_id: int, event: str,
            destination: str | None) -> Outcome | None:
    """What the store alone does with a notice: nobody to tell, no provider to send with
    (audited), or the outbox in simulate mode. None: it is for the relay."""
    if row is None:  # the account is gone: nobody to tell
        return "skipped"
    if row.id is None:
        audit.record(connection, rt, "notification.skipped", account_id=account_id,
                     outcome="skipped", detail=f"{event}: no SMTP provider")
        return "skipped"
    if rt.settings.delivery.mode == "live":
        return None
    delivery.simulate(connection, rt, row, _message(rt, row, event, destination))
    _audit_sent(connection, rt, account_id, event, row.email, "simulated")
    return "simulated"


def _message(rt: Runtime, row, event: str, destination: str | None) -> Message:
    return notice(rt, event, to=row.email, company=row.company or "", destination=destination)


def notice(rt: Runtime, event: str, *, to: str, company: str,
           destination: str | None = None) -> Message:
    """The notice's text: what happened, when, and for which company; nothing secret."""
    subject, sentence = _WORDING[event]
    method = mask_destination(destination) if destination else "a phone or email"
    when = rt.now().strftime("%Y-%m-%d %H:%M UTC")
    who = company or "us"
    return Message(
        to=to,
        subject=f"{company}: {subject}" if company else subject,
        text=(f"{sentence.format(method=method, when=when)} "
              f"If this was not you, contact {who} at once."),
    )


def _audit_sent(connection, rt: Runtime, account_id: int, event: str, to: str,
                outcome: str) -> None:
    audit.record(connection, rt, "notification.sent", account_id=account_id,
                 target=mask_destination(to), outcome=outcome, detail=event)
