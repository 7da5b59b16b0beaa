"""The account as every step of a flow reads it: one prepared statement (the hot path).

The flows (challenges, login) and the records they keep (entries, recovery codes,
passkeys) all start from this row, so it lives below all of them.
"""

from __future__ import annotations

from sqlalchemy import bindparam, case, select
from sqlalchemy.engine import Connection

from twofa_cli.services import system
from twofa_cli.services.common import find_row
from twofa_cli.store import current_key
from twofa_cli.store.core import Prepared, Row
from twofa_cli.store.models import Account, Challenge, Entry, RecoveryCode, SecondaryAuth

_account, _challenge, _entry = Account.__table__, Challenge.__table__, Entry.__table__
_method, _recovery = SecondaryAuth.__table__, RecoveryCode.__table__

# An account with what every step of the flow reads about it: its audience's Active
# switch, the company name, its pending challenge (the newest, if a race left two) and
# the id of the store's current key (Runtime.current_key, with no query of its own).
_pending = _challenge.alias("newest_pending")
_PENDING_ID = (select(_pending.c.id)
               .where(_pending.c.account_id == _account.c.id, _pending.c.status == "pending")
               .order_by(_pending.c.id.desc()).limit(1).correlate(_account).scalar_subquery())


# The key of the account's recovery codes; NULL while it has none.
_RECOVERY_KEY = (select(_recovery.c.recovery_key).where(_recovery.c.account_id == _account.c.id)
                 .limit(1).correlate(_account).scalar_subquery())


def _account_read(where):
    return (
        select(_account.c.id, _account.c.is_admin, _account.c.locked_until,
               _account.c.failed_verifications, _account.c.lockouts,
               system.setting_value(case((_account.c.is_admin, system.allowed_key("admin")),
                                         else_=system.allowed_key("customer"))).label("allowed"),
               system.setting_value(system.COMPANY_NAME).label("company"),
               _challenge.c.id.label("challenge_id"), _challenge.c.purpose,
               _challenge.c.secondary_auth_id, _challenge.c.destination, _challenge.c.entry_id,
               _challenge.c.code_hmac, _challenge.c.attempts, _challenge.c.sends,
               _challenge.c.last_sent_at, _challenge.c.expires_at,
               _challenge.c.secret.label("challenge_secret"), _RECOVERY_KEY.label("recovery_key"),
               _method.c.kind, _entry.c.secret.label("entry_secret"),
               current_key.STORED_ID.label("key_id"))
        .select_from(_account.outerjoin(_challenge, _challenge.c.id == _PENDING_ID)
                     .outerjoin(_method, _method.c.id == _challenge.c.secondary_auth_id)
                     .outerjoin(_entry, _entry.c.id == _challenge.c.entry_id))
        .where(where)
    )


_ACCOUNT_BY_ID = Prepared(_account_read(_account.c.id == bindparam("id")))
_ACCOUNT_BY_EMAIL = Prepared(_account_read(_account.c.email == bindparam("value")))


def find_account(connection: Connection, ident: str | int) -> Row:
    """An account by id or email, read with ``_account_read``'s columns; else NotFound."""
    return find_row(connection, _ACCOUNT_BY_ID, _ACCOUNT_BY_EMAIL, ident, by="email",
                    what="account")
