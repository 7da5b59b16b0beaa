"""The audit trail: who did what to which account, and how it ended. Never a secret."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from twofa_cli.runtime import Runtime
from twofa_cli.validate import printable
from twofa_cli.services.common import find, iso, sql_integer
from twofa_cli.store.core import Prepared
from twofa_cli.store.models import Account, AuditEvent

# A plain INSERT in the caller's transaction: an audit row is written, never read back or
# changed, so it skips the ORM's object and unit-of-work bookkeeping (half its cost), and
# as a prepared statement (store/core.py) the per-execute work of SQLAlchemy too.
_INSERT = Prepared(insert(AuditEvent.__table__),
                   keys=("at", "actor", "action", "account_id", "target", "outcome", "detail"))


def record(
    session: Session | Connection,
    rt: Runtime,
    action: str,
    *,
    account_id: int | None = None,
    target: str = "",
    outcome: str = "ok",
    detail: str = "",
) -> None:
    _INSERT.run(
        session,
        {
            "at": rt.now(),
            "actor": _inert(rt.actor, 200),
            "action": action,
            "account_id": account_id,
            "target": _inert(target, 300),
            "outcome": outcome,
            "detail": _inert(detail, 500),
        },
    )


def _inert(text: str, limit: int) -> str:
    """Free text as the trail keeps it: control and bidi characters escaped, at most ``limit``.

    Actor, target and detail may come from anyone (``--actor``, the account typed at
    login, a provider's reply); whatever later reads the trail (a terminal, psql, a log
    shipper) must find neither terminal codes nor forged lines in it.
    """
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def list_events(rt: Runtime, *, account: str | None = None, action: str | None = None,
                limit: int = 50, offset: int = 0) -> list[dict]:
    """Newest first; ``action`` keeps one action's rows ("provider.add"), ``offset`` skips
    the newest N (a page of the admin's Audit)."""
    with rt.transaction() as session:
        query = (select(AuditEvent).order_by(col(AuditEvent.id).desc())
                 .limit(sql_integer(limit, "limit")).offset(sql_integer(offset, "offset")))
        if account is not None:
            account_id = find(session, Account, account, by="email", what="account").id
            query = query.where(AuditEvent.account_id == account_id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return [event_public(event) for event in session.exec(query)]


def event_public(event: AuditEvent) -> dict:
    return {
        "id": event.id,
        "actor": event.actor,
        "action": event.action,
        "account_id": event.account_id,
        "target": event.target,
        "outcome": event.outcome,
        "detail": event.detail,
        "created_at": iso(event.at),
    }
