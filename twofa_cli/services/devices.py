"""Trusted devices: the server side of the "Trust this device" cookie.

The client gets 32 random bytes once; the store keeps only their SHA-256.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from twofa_cli.errors import NotFound
from twofa_cli.runtime import Runtime
from twofa_cli.security import new_device_token, sha256_hex
from twofa_cli.services import audit
from twofa_cli.services.common import find, iso
from twofa_cli.store.core import Prepared
from twofa_cli.store.models import Account, TrustedDevice


_device = TrustedDevice.__table__
_INSERT_DEVICE = Prepared(insert(_device), keys=(
    "account_id", "token_sha256", "device_name", "created_at", "expires_at", "revoked_at"))
_DEVICE_BY_TOKEN = Prepared(select(_device.c.account_id, _device.c.revoked_at, _device.c.expires_at)
                            .where(_device.c.token_sha256 == bindparam("token_sha256")))


def trust(connection: Connection, rt: Runtime, account, device_name: str) -> str:
    """Issue a token for ``device_name`` (``account`` has the account's ``id``); the caller
    hands it to the client once."""
    token = new_device_token()
    now = rt.now()
    _INSERT_DEVICE.run(connection, {
        "account_id": account.id, "token_sha256": sha256_hex(token), "device_name": device_name,
        "created_at": now, "expires_at": now + timedelta(days=rt.settings.trusted_devices.ttl_days),
        "revoked_at": None,
    })
    audit.record(connection, rt, "device.trust", account_id=account.id, target=device_name)
    return token


def is_trusted(connection: Connection, rt: Runtime, account, token: str | None) -> bool:
    """True only for a live token issued to this very account."""
    if not token or len(token) > 200:
        return False
    device = _DEVICE_BY_TOKEN.first(connection, {"token_sha256": sha256_hex(token)})
    return (
        device is not None
        and device.account_id == account.id
        and device.revoked_at is None
        and device.expires_at > rt.now()
    )


def revoke_token(session: Session, rt: Runtime, account_id: int, token: str) -> int:
    """Revoke the live device of ``account_id`` that holds ``token`` (a replaced cookie)."""
    if not token or len(token) > 200:
        return 0
    result = session.execute(
        update(TrustedDevice)
        .where(col(TrustedDevice.account_id) == account_id,
               col(TrustedDevice.token_sha256) == sha256_hex(token),
               col(TrustedDevice.revoked_at).is_(None))
        .values(revoked_at=rt.now())
    )
    if result.rowcount:
        audit.record(session, rt, "device.revoke", account_id=account_id, target="replaced")
    return result.rowcount


def revoke_all(session: Session, rt: Runtime, account_id: int, reason: str) -> int:
    result = session.execute(
        update(TrustedDevice)
        .where(col(TrustedDevice.account_id) == account_id, col(TrustedDevice.revoked_at).is_(None))
        .values(revoked_at=rt.now())
    )
    if result.rowcount:
        audit.record(
            session, rt, "device.revoke", account_id=account_id,
            target="all", detail=f"{result.rowcount} revoked: {reason}",
        )
    return result.rowcount


def list_devices(rt: Runtime, account: str) -> list[dict]:
    with rt.transaction() as session:
        row = find(session, Account, account, by="email", what="account")
        devices = session.exec(
            select(TrustedDevice)
            .where(TrustedDevice.account_id == row.id)
            .order_by(col(TrustedDevice.id))
        ).all()
        return [device_public(d, rt) for d in devices]


def revoke(rt: Runtime, account: str, device: str | None = None, *, every: bool = False) -> dict:
    """Revoke one trusted device (by id or name) or, with ``every``, all of them."""
    with rt.transaction() as session:
        row = find(session, Account, account, by="email", what="account")
        if every:
            return {"account_id": row.id, "revoked": revoke_all(session, rt, row.id, "by request")}
        live = select(TrustedDevice).where(
            TrustedDevice.account_id == row.id, col(TrustedDevice.revoked_at).is_(None)
        )
        text = str(device or "").strip()
        matches = [
            d for d in session.exec(live)
            if d.device_name == text or (text.isdigit() and d.id == int(text))
        ]
        if not matches:
            raise NotFound(f"no trusted device {text[:60]!r} for this account")
        for match in matches:
            match.revoked_at = rt.now()
            session.add(match)
            audit.record(session, rt, "device.revoke", account_id=row.id, target=match.device_name)
        return {"account_id": row.id, "revoked": len(matches)}


def device_public(device: TrustedDevice, rt: Runtime) -> dict:
    if device.revoked_at is not None:
        state = "revoked"
    elif device.expires_at <= rt.now():
        state = "expired"
    else:
        state = "active"
    return {
        "id": device.id,
        "name": device.device_name,
        "state": state,
        "created_at": iso(device.created_at),
        "expires_at": iso(device.expires_at),
        "revoked_at": iso(device.revoked_at),
    }
