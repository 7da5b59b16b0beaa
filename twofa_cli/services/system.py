"""System Configuration (the company name) and the "Allowed" toggles per audience."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import bindparam
from sqlmodel import Session, select

from twofa_cli import validate
from twofa_cli.runtime import Runtime
from twofa_cli.services import audit
from twofa_cli.store.engine import serialize_on
from twofa_cli.store.models import SecondaryAuth, Setting

Audience = Literal["customer", "admin"]
COMPANY_NAME = "company_name"


# Built once: every code sent reads two settings, and building the query cost more than running it.
_GET = select(Setting.value).where(Setting.key == bindparam("key"))


def setting_value(key: str):
    """A setting's value as a scalar subquery, to read it within another statement."""
    return select(Setting.__table__.c.value).where(Setting.__table__.c.key == key).scalar_subquery()


def _get(session: Session, key: str) -> str | None:
    return session.exec(_GET, params={"key": key}).first()


def _put(session: Session, key: str, value: str) -> None:
    """Insert or update in one statement: two admins setting a value for the first
    time at once must not both INSERT it (PostgreSQL would refuse the second)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(Setting).values(key=key, value=value)
    session.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def company_name(session: Session) -> str:
    return _get(session, COMPANY_NAME) or ""


def get_company_name(rt: Runtime) -> str:
    with rt.transaction() as session:
        return company_name(session)


def set_company_name(rt: Runtime, name: str) -> str:
    """Set the company name; setting the name it already has changes (and records) nothing."""
    name = validate.text(name, "company name")
    with rt.transaction() as session:
        serialize_on(session, f"setting:{COMPANY_NAME}")  # two admins: one records the change
        if company_name(session) != name:
            _put(session, COMPANY_NAME, name)
            audit.record(session, rt, "config.company_name", target=name)
    return name


def allowed_key(audience: Audience) -> str:
    return f"allowed.{audience}"


def is_allowed(session: Session, audience: Audience) -> bool:
    return is_active(_get(session, allowed_key(audience)))


def is_active(switch: str | None) -> bool:
    """Whether the stored value of an audience's "Allowed" switch is Active."""
    return switch == "active"


def policy_status(rt: Runtime, audience: Audience) -> dict:
    with rt.transaction() as session:
        return _status(session, audience)


def _status(session: Session, audience: Audience) -> dict:
    methods = len(session.exec(select(SecondaryAuth.id)).all())
    allowed = is_allowed(session, audience)
    return {
        "audience": audience,
        "allowed": "Active" if allowed else "Inactive",
        "active": allowed,
        "secondary_auth_providers": methods,
    }


def set_allowed(rt: Runtime, audience: Audience, active: bool) -> dict:
    """Switch 2FA for an audience; switching it to the state it is in changes nothing."""
    with rt.transaction() as session:
        serialize_on(session, f"setting:{allowed_key(audience)}")
        if is_allowed(session, audience) != active:
            _put(session, allowed_key(audience), "active" if active else "inactive")
            audit.record(session, rt, f"{audience}.{'enable' if active else 'disable'}")
        return _status(session, audience)
