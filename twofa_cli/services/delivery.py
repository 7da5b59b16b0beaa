"""Handing a message to a provider: send caps, simulate vs live, the delivery log.

In simulate mode the message lands in the outbox table (with its code, so
operators can rehearse); in live mode it goes through the provider's channel
and no body with a code is stored anywhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, true
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from twofa_cli import validate
from twofa_cli.channels import Message, Receipt, channel_class
from twofa_cli.errors import BadInput, Throttled
from twofa_cli.runtime import Runtime
from twofa_cli.services import audit
from twofa_cli.services.common import find, iso, sql_integer
from twofa_cli.services.providers import open_channel
from twofa_cli.store.core import Prepared, lock
from twofa_cli.store.models import Delivery, OutboxMessage, Provider

HOUR = timedelta(hours=1)
# Providers that deliver every dotted spelling of a local part to one mailbox.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


_delivery, _outbox = Delivery.__table__, OutboxMessage.__table__


def _sent_since(column, key: str):
    """How many messages went to ``:key`` since ``:since``, and when the oldest of them went."""
    return (select(func.count().label("sent"), func.min(_delivery.c.sent_at).label("oldest"))
            .where(column == bindparam(key), _delivery.c.sent_at > bindparam("since"))
            .subquery())


# Built once (hot path): both send caps in one read, bound to :budget, :provider_id, :since.
_to_destination = _sent_since(_delivery.c.budget, "budget")
_by_provider = _sent_since(_delivery.c.provider_id, "provider_id")
CAPS_FROM = _to_destination.join(_by_provider, true())
CAP_COLUMNS = (_to_destination.c.sent.label("to_destination"),
               _to_destination.c.oldest.label("to_destination_oldest"),
               _by_provider.c.sent.label("by_provider"),
               _by_provider.c.oldest.label("by_provider_oldest"))
_CAPS = Prepared(select(*CAP_COLUMNS).select_from(CAPS_FROM))
_INSERT_OUTBOX = Prepared(insert(_outbox).returning(_outbox.c.id),
                          keys=("to", "channel", "subject", "body", "code", "created_at"))
_INSERT_DELIVERY = Prepared(insert(_delivery), keys=(
    "provider_id", "destination", "budget", "provider_message_id", "sent_at"))


def destination_for(rt: Runtime, provider: Provider, to: str) -> str:
    """Validate ``to`` against the provider's medium: a phone for SMS, an email for SMTP."""
    medium = channel_class(provider.channel).medium
    looks_like_email = "@" in to
    if medium == "sms":
        if looks_like_email:
            raise BadInput(f"{provider.title!r} sends SMS: give a phone number, not an email")
        return validate.phone_number(to, rt.settings.sms.allowed_countries)
    if not looks_like_email:
        raise BadInput(f"{provider.title!r} sends email: give an email address, not a phone number")
    # Lower-cased as a whole: one entry per mailbox whatever the case it was typed in.
    return validate.email_address(to).lower()


def budget_key(destination: str) -> str:
    """The one spelling of a destination that the send caps count (SECURITY.md rule 20).

    Phones are E.164 already (``validate.phone_number``). An email address is
    case-folded, loses its ``+tag`` (``victim+1@…`` and ``victim+2@…`` reach one
    mailbox at every common provider) and, at gmail.com and googlemail.com, its
    dots, since Gmail delivers ``v.ictim@`` to ``victim@``. Folding more spellings
    together than a mailbox really has only makes a cap stricter, never looser;
    entries themselves keep the address merely lower-cased, the form they are sent to.
    """
    if "@" not in destination:
        return destination
    local, _, domain = destination.casefold().rpartition("@")
    local = local.partition("+")[0] or local
    if domain in _DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), _DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"


def budget_for(destination: str, *, owner_id: int | None = None) -> str:
    """The hourly budget a send spends (contract, "Send budgets").

    Sends to a destination that the requesting account has not verified (enrolments,
    provider tests) share the destination's budget across all accounts. A code to an
    account's own verified entry (a login) spends a budget of that account apart, so
    no other account can exhaust the budget its owner needs to log in.
    """
    key = budget_key(destination)
    return key if owner_id is None else f"account:{owner_id}:{key}"


def caps_locks(provider, budget: str) -> tuple[str, str]:
    """The keys a send serialises on before it counts its caps (see ``store.core.lock``)."""
    return f"twofa-send:{budget}", f"twofa-provider:{provider.id}"


def check_caps(connection: Connection, rt: Runtime, provider, budget: str) -> None:
    """Refuse a send over the per-destination or per-provider hourly cap (SMS pumping)."""
    lock(connection, *caps_locks(provider, budget))
    enforce_caps(rt, provider, _CAPS.one(
        connection, {"budget": budget, "provider_id": provider.id, "since": rt.now() - HOUR}))


def enforce_caps(rt: Runtime, provider, counts) -> None:
    """Raise Throttled if ``counts`` (a row of ``CAP_COLUMNS``) reach either cap."""
    throttle = rt.settings.throttle
    if counts.to_destination >= throttle.max_per_destination_per_hour:
        wait = seconds_until(rt, counts.to_destination_oldest + HOUR)
        raise Throttled(
            f"{throttle.max_per_destination_per_hour} codes were sent to this destination in the "
            f"last hour: try again in {wait} s", retry_after=wait,
        )
    if counts.by_provider >= throttle.provider_hourly_cap:
        wait = seconds_until(rt, counts.by_provider_oldest + HOUR)
        raise Throttled(
            f"provider {provider.title!r} reached its cap of {throttle.provider_hourly_cap} "
            f"messages an hour: try again in {wait} s", retry_after=wait,
        )


def seconds_until(rt: Runtime, moment: datetime) -> int:
    """Whole seconds to wait for ``moment`` (at least 1): a throttled error's retry_after."""
    return max(1, int((moment - rt.now()).total_seconds()) + 1)


def deliver(
    connection: Connection, rt: Runtime, provider, message: Message, *,
    code: str | None = None, live: bool | None = None, budget: str | None = None,
) -> Receipt:
    """Send (or simulate) one message and log it against ``budget`` (default: the
    destination's shared one) for the caps. Raises DeliveryFailed.

    ``provider`` is a Provider or a row with its columns (the hot path reads it so)."""
    if live is None:
        live = rt.settings.delivery.mode == "live"
    now = rt.now()
    if live:
        receipt = open_channel(rt, provider).send(message)
    else:
        receipt = simulate(connection, rt, provider, message, code=code)
    _INSERT_DELIVERY.run(connection, {
        "provider_id": provider.id, "destination": message.to,
        "budget": budget or budget_for(message.to),
        "provider_message_id": receipt.message_id[:200], "sent_at": now,
    })
    return receipt


def simulate(connection: Connection, rt: Runtime, provider, message: Message, *,
             code: str | None = None) -> Receipt:
    """Put ``message`` in the outbox instead of sending it (simulate mode)."""
    outbox_id = _INSERT_OUTBOX.one(connection, {
        "to": message.to, "channel": channel_class(provider.channel).medium,
        "subject": message.subject, "body": message.text, "code": code, "created_at": rt.now(),
    }).id
    return Receipt(channel="outbox", to=message.to, message_id=f"outbox-{outbox_id}",
                   status="simulated")


def send_test(rt: Runtime, ident: str, *, to: str, live: bool = False) -> dict:
    """``provider test``: one message through a provider, counted against the caps."""
    live = live or rt.settings.delivery.mode == "live"
    with rt.transaction() as session:
        provider = find(session, Provider, ident, by="title", what="provider")
        destination = destination_for(rt, provider, to)
        connection = session.connection()
        check_caps(connection, rt, provider, budget_for(destination))
        message = Message(
            to=destination,
            subject="twofa test message",
            text=f"This is a test message from twofa through {provider.title}.",
        )
        receipt = deliver(connection, rt, provider, message, live=live)
        audit.record(session, rt, "provider.test", target=f"{provider.id}:{provider.title}",
                     outcome=receipt.status)
    return {
        "provider_id": provider.id,
        "mode": "live" if live else "simulate",
        "channel": receipt.channel,
        "to": receipt.to,
        "message_id": receipt.message_id,
        "status": receipt.status,
    }


def list_outbox(rt: Runtime, *, to: str | None = None, limit: int = 20) -> list[dict]:
    with rt.transaction() as session:
        query = (select(OutboxMessage).order_by(col(OutboxMessage.id).desc())
                 .limit(sql_integer(limit, "limit")))
        if to:
            query = query.where(OutboxMessage.to == to.strip())
        return [
            {
                "id": m.id,
                "to": m.to,
                "channel": m.channel,
                "subject": m.subject,
                "body": m.body,
                "code": m.code,
                "created_at": iso(m.created_at),
            }
            for m in session.exec(query)
        ]
