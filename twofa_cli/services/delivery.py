"""Handing a message to a provider: send caps, simulate vs live, the delivery log.

In simulate mode the message lands in the outbox table (with its code, so
operators can rehearse); in live mode it goes through the provider's channel
and no body with a code is stored anywhere.

Each delivery keeps its status (``STATUS_RANK``): what the provider said when it took
the message, then what Twilio's signed status callbacks report (SECURITY.md rule 37).
A method's code goes to its fallback providers, in order, when the one before fails
or is over its hourly cap (``send_with_failover``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, func, insert, true, update
from sqlalchemy.engine import Connection
from sqlmodel import col, select

from twofa_cli import validate
from twofa_cli.channels import Message, Receipt, channel_class
from twofa_cli.channels.base import vendor_code
from twofa_cli.errors import BadInput, DeliveryFailed, Rejected, Throttled
from twofa_cli.runtime import Runtime
from twofa_cli.security import mask_destination
from twofa_cli.services import audit
from twofa_cli.services.common import find, iso, sql_integer
from twofa_cli.services.provider_channels import open_channel, stored_options
from twofa_cli.store.core import Prepared, lock
from twofa_cli.store.models import Delivery, OutboxMessage, Provider, SecondaryAuthFallback

HOUR = timedelta(hours=1)
# Providers that deliver every dotted spelling of a local part to one mailbox.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


_delivery, _outbox = Delivery.__table__, OutboxMessage.__table__
_provider, _fallback = Provider.__table__, SecondaryAuthFallback.__table__

# A status only moves up this order: a late "sent" never hides a "delivered", and a
# final status (rank 2) is never replaced by another.
STATUS_RANK = {"queued": 0, "sent": 1, "delivered": 2, "undelivered": 2, "failed": 2}
# Twilio's MessageStatus values (https://www.twilio.com/docs/messaging/api/message-resource)
# as twofa's; any other value changes nothing.
TWILIO_STATUSES = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued",
    "sending": "sent", "sent": "sent",
    "delivered": "delivered", "read": "delivered",
    "undelivered": "undelivered", "failed": "failed", "canceled": "failed",
}


# Why a provider was passed over: it failed, or it was over its hourly cap.
TwofaErrorLike = DeliveryFailed | Throttled


class CountryBudgetSpent(Throttled):
    """An SMS refused by ``[sms] max_per_country_per_hour`` (exit 4, audited)."""


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
    "provider_id", "destination", "budget", "provider_message_id", "sent_at", "status",
    "country"))
_TO_COUNTRY = Prepared(select(func.count().label("sent"), func.min(_delivery.c.sent_at).label("oldest"))
                       .where(_delivery.c.country == bindparam("country"),
                              _delivery.c.sent_at > bindparam("since")))
_BY_PROVIDER = Prepared(select(_by_provider.c.sent, _by_provider.c.oldest))
# A method's fallback providers, in order, each as a provider row (like METHOD_BY_ID's).
_FALLBACKS = Prepared(
    select(_provider.c.id, _provider.c.channel, _provider.c.title, _provider.c.options,
           _provider.c.secrets)
    .join_from(_fallback, _provider, _provider.c.id == _fallback.c.provider_id)
    .where(_fallback.c.secondary_auth_id == bindparam("method_id"))
    .order_by(_fallback.c.position))
# A reported status, only if it moves the delivery forward (rule 37).
_ADVANCE_STATUS = (
    update(_delivery)
    .where(_delivery.c.provider_id == bindparam("signer"),
           _delivery.c.provider_message_id == bindparam("message_id"),
           _delivery.c.status.in_(bindparam("below", expanding=True)))
    .values(status=bindparam("reported"), error_code=bindparam("error"),
            updated_at=bindparam("now")))


def destination_for(rt: Runtime, provider: Provider, to: str) -> str:
    """Validate ``to`` against the provider's medium: a phone for SMS, an email for SMTP."""
    medium = channel_class(provider.channel).medium
    looks_like_email = "@" in to
    if medium == "sms":
        if looks_like_email:
            raise BadInput(f"{provider.title!r} sends SMS: give a phone number, not an email",
                           reason="not_a_phone")
        return validate.phone_number(to, rt.settings.sms.allowed_countries)
    if not looks_like_email:
        raise BadInput(f"{provider.title!r} sends email: give an email address, not a phone number",
                       reason="not_an_email")
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


def read_caps(connection: Connection, rt: Runtime, provider, budget: str):
    """Both send caps' counts (a row of ``CAP_COLUMNS``), read under their locks."""
    lock(connection, *caps_locks(provider, budget))
    return _CAPS.one(connection, {"budget": budget, "provider_id": provider.id,
                                  "since": rt.now() - HOUR})


def enforce_caps(rt: Runtime, provider, counts) -> None:
    """Raise Throttled if ``counts`` (a row of ``CAP_COLUMNS``) reach either cap."""
    enforce_destination_cap(rt, counts)
    if over := provider_over_cap(rt, provider, counts.by_provider, counts.by_provider_oldest):
        raise over


def enforce_destination_cap(rt: Runtime, counts) -> None:
    throttle = rt.settings.throttle
    if counts.to_destination >= throttle.max_per_destination_per_hour:
        wait = seconds_until(rt, counts.to_destination_oldest + HOUR)
        raise Throttled(
            f"{throttle.max_per_destination_per_hour} codes were sent to this destination in the "
            f"last hour: try again in {wait} s", retry_after=wait, reason="too_many_codes",
        )


def provider_over_cap(rt: Runtime, provider, sent: int, oldest: datetime | None) -> Throttled | None:
    """The refusal of a provider that sent its hourly cap already, or None."""
    cap = rt.settings.throttle.provider_hourly_cap
    if sent < cap or oldest is None:
        return None
    wait = seconds_until(rt, oldest + HOUR)
    return Throttled(f"provider {provider.title!r} reached its cap of {cap} messages an hour: "
                     f"try again in {wait} s", retry_after=wait, reason="sending_capped")


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
    channel = channel_class(provider.channel)
    country = _country(message.to) if channel.medium == "sms" else ""
    if country:
        check_country_budget(connection, rt, country)
    if live:
        receipt = open_channel(rt, provider).send(message)
    else:
        receipt = simulate(connection, rt, provider, message, code=code)
    reported = TWILIO_STATUSES.get(receipt.status) if live and channel.reports_status else None
    _INSERT_DELIVERY.run(connection, {
        "provider_id": provider.id, "destination": message.to,
        "budget": budget or budget_for(message.to),
        "provider_message_id": receipt.message_id[:200], "sent_at": now,
        "status": reported or "sent", "country": country,
    })
    return receipt


def _country(phone: str) -> str:
    """The ISO region of an E.164 number ("" if it has none, e.g. +800)."""
    import phonenumbers

    region = phonenumbers.region_code_for_number(phonenumbers.parse(phone))
    return region if region and len(region) == 2 and region.isalpha() else ""


def check_country_budget(connection: Connection, rt: Runtime, country: str) -> None:
    """Refuse an SMS once ``[sms] max_per_country_per_hour`` went to ``country`` this hour.

    SMS pumping sends codes to premium numbers of a few countries: a budget per country,
    every provider and every account together, caps what one hour can cost.
    """
    budget = rt.settings.sms.max_per_country_per_hour
    if not budget:
        return
    lock(connection, f"twofa-country:{country}")  # after every other send lock: no cycle
    counts = _TO_COUNTRY.one(connection, {"country": country, "since": rt.now() - HOUR})
    if counts.sent >= budget:
        wait = seconds_until(rt, counts.oldest + HOUR)
        raise CountryBudgetSpent(f"{budget} SMS went to {country} in the last hour, the budget "
                                 f"of [sms] max_per_country_per_hour: try again in {wait} s",
                                 retry_after=wait)


def send_with_failover(connection: Connection, rt: Runtime, provider, message: Message, *,
                       method_id: int, code: str | None, budget: str,
                       over_cap: Throttled | None = None) -> Receipt:
    """Send through ``provider``, else through the method's fallbacks in order.

    A provider is passed over when it fails (DeliveryFailed) or is over its hourly cap
    (``over_cap`` for the first, read under its lock by the caller). The first that takes
    the message sends it: one message, one delivery row, one send against ``budget``.
    The fallbacks are read only when needed (the hot path stays as it was), and their
    caps are counted without a lock: taking one after the first provider's could
    deadlock against a method whose providers are the other way round.

    Raises the first provider's own error when the method has no fallback, Throttled
    when every provider is over its cap, else DeliveryFailed naming each and why.
    """
    passed: list[tuple[str, TwofaErrorLike]] = []
    candidate, refusal, fallbacks = provider, over_cap, None
    while True:
        if refusal is None:
            try:
                receipt = deliver(connection, rt, candidate, message, code=code, budget=budget)
            except DeliveryFailed as failure:
                refusal = failure
            else:
                if passed:
                    audit.record(connection, rt, "delivery.failover",
                                 target=mask_destination(message.to),
                                 detail=f"{_passed_over(passed)}; sent by {candidate.title!r}")
                return receipt
        passed.append((candidate.title, refusal))
        if fallbacks is None:
            fallbacks = _FALLBACKS.run(connection, {"method_id": method_id}).rows()
        if not fallbacks:
            break
        candidate = fallbacks.pop(0)
        counts = _BY_PROVIDER.one(connection, {"provider_id": candidate.id,
                                               "since": rt.now() - HOUR})
        refusal = provider_over_cap(rt, candidate, counts.sent, counts.oldest)
    if len(passed) == 1:
        raise passed[0][1]
    if all(not isinstance(error, DeliveryFailed) for _, error in passed):
        raise Throttled(f"every provider is over its hourly cap: {_passed_over(passed)}",
                        retry_after=min(error.retry_after or 1 for _, error in passed),
                        reason="sending_capped")
    raise DeliveryFailed(f"no provider could send the code: {_passed_over(passed)}")


def _passed_over(passed: list[tuple[str, TwofaErrorLike]]) -> str:
    """Each provider passed over and why, for the audit trail and the error message."""
    return "; ".join(f"{title!r} passed over: {error.message}" for title, error in passed)


def simulate(connection: Connection, rt: Runtime, provider, message: Message, *,
             code: str | None = None) -> Receipt:
    """Put ``message`` in the outbox instead of sending it (simulate mode)."""
    outbox_id = _INSERT_OUTBOX.one(connection, {
        "to": message.to, "channel": provider.channel,
        "subject": message.subject, "body": message.text, "code": code, "created_at": rt.now(),
    }).id
    return Receipt(channel=provider.channel, to=message.to, message_id=f"outbox-{outbox_id}",
                   status="simulated")


def send_test(rt: Runtime, ident: str, *, to: str, live: bool = False) -> dict:
    """``provider test``: one message through a provider, counted against the caps."""
    live = live or rt.settings.delivery.mode == "live"
    try:
        return _send_test(rt, ident, to=to, live=live)
    except CountryBudgetSpent as refused:  # rolled back: audited on its own
        with rt.transaction() as session:
            audit.record(session, rt, "provider.test", target=str(ident)[:200],
                         outcome="country_budget", detail=refused.message)
        raise


def _send_test(rt: Runtime, ident: str, *, to: str, live: bool) -> dict:
    with rt.transaction() as session:
        provider = find(session, Provider, ident, by="title", what="provider")
        destination = destination_for(rt, provider, to)
        connection = session.connection()
        enforce_caps(rt, provider, read_caps(connection, rt, provider, budget_for(destination)))
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
                **_channel_and_medium(m.channel),
                "subject": m.subject,
                "body": m.body,
                "code": m.code,
                "created_at": iso(m.created_at),
            }
            for m in session.exec(query)
        ]


def _channel_and_medium(stored: str) -> dict:
    """Outbox rows written before twofa kept the provider's channel hold its medium."""
    if stored in ("email", "sms"):
        return {"channel": None, "medium": stored}
    return {"channel": stored, "medium": channel_class(stored).medium}


# -- what providers report, and what operators see -----------------------------------

MAX_CALLBACK_FIELDS = 64


def record_twilio_status(rt: Runtime, form: Mapping[str, str], signature: str) -> dict:
    """Apply one Twilio status callback (SECURITY.md rule 37).

    The request must be signed (``X-Twilio-Signature``) with the auth token of a Twilio
    provider of this shop whose Account SID the form names, over ``[web] public_url`` +
    the hook's path (with and without a default port: ``RequestValidator`` tries both).
    Anything else is Rejected and changes nothing. A signed report moves the delivery's
    status forward only (``STATUS_RANK``); a repeat, a late one or an unknown message
    changes nothing (``changed`` False).
    """
    from twilio.request_validator import RequestValidator

    from twofa_cli.channels.twilio import STATUS_CALLBACK_PATH

    public_url = rt.settings.web.public_url
    if not public_url:
        raise Rejected("no [web] public_url is set: twofa asked for no status callbacks")
    if not signature or len(signature) > 200 or len(form) > MAX_CALLBACK_FIELDS:
        raise Rejected("the status callback is not signed by Twilio")
    url = public_url + STATUS_CALLBACK_PATH
    account_sid = form.get("AccountSid", "")
    with rt.connection() as connection:
        signer = next((provider for provider in _twilio_providers(connection, account_sid)
                       if RequestValidator(stored_options(provider, rt.key)["auth_token"])
                       .validate(url, dict(form), signature)), None)
        if signer is None:
            raise Rejected("the status callback is not signed by Twilio")
        message_id = form.get("MessageSid") or form.get("SmsSid") or ""
        status = TWILIO_STATUSES.get(form.get("MessageStatus") or form.get("SmsStatus") or "")
        changed = False
        if message_id and status is not None:
            error = vendor_code(form.get("ErrorCode"), 100_000)
            below = [name for name, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
            changed = connection.execute(_ADVANCE_STATUS, {
                "signer": signer.id, "message_id": message_id[:200], "below": below,
                "reported": status, "error": None if error is None else str(error),
                "now": rt.now()}).rowcount > 0
    return {"provider_id": signer.id, "message_id": message_id[:200], "status": status,
            "changed": changed}


def _twilio_providers(connection: Connection, account_sid: str) -> list:
    """The Twilio providers of ``account_sid`` (public in their options, so no decryption
    for a stranger's SID)."""
    rows = connection.execute(select(_provider.c.id, _provider.c.options, _provider.c.secrets)
                              .where(_provider.c.channel == "twilio")
                              .order_by(_provider.c.id)).all()
    return [row for row in rows if account_sid and row.options.get("account_sid") == account_sid]


def list_deliveries(rt: Runtime, *, status: str | None = None, provider: str | None = None,
                    limit: int = 50) -> list[dict]:
    """Deliveries, newest first, each with its provider's title and a masked destination."""
    if status is not None and status not in STATUS_RANK:
        raise BadInput(f"status is one of {', '.join(STATUS_RANK)}, not {status[:20]!r}")
    with rt.transaction() as session:
        query = (select(Delivery, Provider.title)
                 .join(Provider, col(Provider.id) == Delivery.provider_id, isouter=True)
                 .order_by(col(Delivery.id).desc()).limit(sql_integer(limit, "limit")))
        if status is not None:
            query = query.where(Delivery.status == status)
        if provider is not None:
            query = query.where(Delivery.provider_id
                                == find(session, Provider, provider, by="title", what="provider").id)
        return [
            {"id": d.id, "provider_id": d.provider_id, "provider": title,
             "destination": mask_destination(d.destination), "status": d.status,
             "error_code": d.error_code, "provider_message_id": d.provider_message_id,
             "sent_at": iso(d.sent_at), "updated_at": iso(d.updated_at)}
            for d, title in session.exec(query)
        ]


def delivery_stats(rt: Runtime, *, hours: int = 24) -> list[dict]:
    """Per provider, the deliveries of the last ``hours`` by status: ``sent`` counts every
    message the provider took, the others those it reported as such."""
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 24 * 366:
        raise BadInput("hours is a whole number from 1 to 8784")
    counted = {name: func.count(case((_delivery.c.status == name, 1)))
               for name in ("delivered", "undelivered", "failed")}
    with rt.connection() as connection:
        rows = connection.execute(
            select(_provider.c.title, func.count().label("sent"),
                   *(count.label(name) for name, count in counted.items()))
            .select_from(_delivery.outerjoin(_provider, _provider.c.id == _delivery.c.provider_id))
            .where(_delivery.c.sent_at > rt.now() - timedelta(hours=hours))
            .group_by(_provider.c.title).order_by(_provider.c.title)).all()
    return [{"provider": title, "sent": sent, "delivered": delivered,
             "undelivered": undelivered, "failed": failed}
            for title, sent, delivered, undelivered, failed in rows]
