"""Passkeys (WebAuthn): registering one, and signing in with it as the second factor or
without a password (SECURITY.md rule 35).

The ceremonies are py_webauthn's; what is ours is where each challenge lives and what it
is bound to. Each ``begin_*`` stores a random challenge in ``webauthn_challenge`` with
its purpose and the SHA-256 of the login session it belongs to (registration: a signed-in
one; the second factor: the pending one; passwordless: none). Each ``finish_*`` first
*spends* the challenge the browser signed, in a transaction of its own, so a replayed or
failed response can never be tried again; only then is the signature checked. The origin
the browser reports must be a configured one (by default any http(s) origin on the RP ID)
and the RP ID hash must be ours; user verification follows ``[webauthn]
user_verification`` (passwordless sign-in always demands it: the passkey is then every
factor). A sign count that does not rise (both non-zero) means a cloned key: refused,
audited ``passkey.cloned``.

This module imports ``webauthn``: only the passkey calls of the library load it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection
from webauthn import (
    generate_authentication_options, generate_registration_options, options_to_json,
    verify_authentication_response, verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria, AuthenticatorTransport, PublicKeyCredentialDescriptor,
    ResidentKeyRequirement, UserVerificationRequirement,
)

from twofa_cli import validate
from twofa_cli.errors import BadInput, NotFound, Rejected
from twofa_cli.runtime import Runtime
from twofa_cli.security import sha256_hex
from twofa_cli.security import PASSKEY_PREFIX
from twofa_cli.services import audit, entries, notifications, recovery, sessions, system
from twofa_cli.services.accounts import audience_of
from twofa_cli.services.account_state import find_account
from twofa_cli.store.core import Prepared, upsert_entry
from twofa_cli.store.models import (
    Account, Challenge, Entry, Passkey, SecondaryAuth, WebauthnChallenge,
)

REFUSED = "the passkey was not accepted: try again"
MAX_RESPONSE = 64 * 1024  # a browser's response is a few kB; more is no response of a key
# Names a customer did not give come from the authenticator's make (its AAGUID).
KNOWN_AAGUIDS = {
    "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
    "adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
    "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
    "08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
    "bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
    "d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
}

_passkey, _challenge, _entry = Passkey.__table__, WebauthnChallenge.__table__, Entry.__table__
_method, _account, _code = SecondaryAuth.__table__, Account.__table__, Challenge.__table__

_PASSKEYS_OF = entries.PASSKEYS_OF
_BY_CREDENTIAL = Prepared(select(_passkey, _account.c.password_epoch)
                          .join(_account, _account.c.id == _passkey.c.account_id)
                          .where(_passkey.c.credential_id == bindparam("credential_id")))
_PASSKEY_METHOD = Prepared(select(_method.c.id, _method.c.title).where(_method.c.kind == "passkey")
                           .order_by(_method.c.id).limit(1))
_INSERT_CHALLENGE = Prepared(insert(_challenge), keys=(
    "challenge", "purpose", "session_sha256", "account_id", "name", "expires_at", "created_at"))
# A challenge is spent by the one DELETE that finds it alive: single use (rule 35).
_SPEND = Prepared(delete(_challenge)
                  .where(_challenge.c.challenge == bindparam("challenge"),
                         _challenge.c.purpose == bindparam("purpose"),
                         _challenge.c.session_sha256 == bindparam("session_sha256"),
                         _challenge.c.expires_at > bindparam("now"))
                  .returning(_challenge.c.account_id, _challenge.c.name))
_SWEEP = Prepared(delete(_challenge).where(_challenge.c.expires_at <= bindparam("now")))
_INSERT_PASSKEY = Prepared(insert(_passkey), keys=(
    "entry_id", "account_id", "credential_id", "public_key", "sign_count", "transports",
    "aaguid", "backup_eligible", "backup_state", "name", "created_at", "last_used_at"))
# The count moves only from the value the check was made against: two uses at once of
# one count cannot both win.
_USED = Prepared(update(_passkey)
                 .where(_passkey.c.id == bindparam("passkey_id"),
                        _passkey.c.sign_count == bindparam("old"))
                 .values(sign_count=bindparam("new"), backup_state=bindparam("backup_state"),
                         last_used_at=bindparam("now")))
_VOID_LOGIN_CODES = Prepared(update(_code)
                             .where(_code.c.account_id == bindparam("account_id"),
                                    _code.c.purpose == "login", _code.c.status == "pending")
                             .values(status="superseded"))


# -- registration ------------------------------------------------------------------------


def begin_registration(rt: Runtime, session_token: str, name: str | None = None) -> str:
    """The options for ``navigator.credentials.create`` (JSON), for the account of a
    signed-in session. Raises Rejected (no such session; 2FA Inactive), NotFound (no
    passkey method), BadInput (a bad name)."""
    name = _name(name) if name is not None else ""
    with rt.connection() as connection:
        session = sessions.alive(connection, rt, session_token, state="signed_in")
        account = find_account(connection, session.account_id)
        if not system.is_active(account.allowed):
            raise Rejected(f"two-factor authentication is Inactive for {audience_of(account)}s",
                           reason="two_factor_off")
        _passkey_method(connection)
        webauthn = rt.settings.webauthn
        options = generate_registration_options(
            rp_id=webauthn.rp_id, rp_name=webauthn.rp_name, user_name=session.email,
            user_id=str(account.id).encode(), timeout=webauthn.timeout_seconds * 1000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=_user_verification(rt)),
            exclude_credentials=[_descriptor(row) for row in
                                 _PASSKEYS_OF.run(connection, {"account_id": account.id}).rows()])
        _store_challenge(connection, rt, options.challenge, "register", session_token,
                         account_id=account.id, name=name)
        return options_to_json(options)


def finish_registration(rt: Runtime, session_token: str, response: str) -> dict:
    """Verify the browser's ``navigator.credentials.create`` response and keep the passkey
    as an entry of the session's account; the account's first entry brings its recovery
    codes. Raises Rejected (no live challenge of this session, a response that does not
    verify), BadInput (not a response), Conflict-free: a credential already registered is
    Rejected."""
    credential = _parse(response)
    challenge = _client_challenge(credential)
    with rt.connection() as connection:
        session = sessions.alive(connection, rt, session_token, state="signed_in")
    spent = _spend(rt, challenge, "register", session_token)
    if spent is None or spent.account_id != session.account_id:
        raise _refused(rt, session.account_id, "no live passkey challenge of this session")
    origin = _origin(rt, credential)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rt.settings.webauthn.rp_id, expected_origin=origin,
            require_user_verification=_uv_required(rt))
    except WebAuthnException as exc:
        raise _refused(rt, session.account_id, str(exc)) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    with rt.connection() as connection:
        account = find_account(connection, session.account_id)
        method = _passkey_method(connection)
        if _BY_CREDENTIAL.first(connection, {"credential_id": credential_id}) is not None:
            raise Rejected("this passkey is registered already", reason="passkey_registered")
        now = rt.now()
        name = spent.name or _default_name(connection, account.id, verified.aaguid)
        entry_id = upsert_entry(connection, account.id, method.id, credential_id[:254], now)
        _INSERT_PASSKEY.run(connection, {
            "entry_id": entry_id, "account_id": account.id, "credential_id": credential_id,
            "public_key": bytes_to_base64url(verified.credential_public_key),
            "sign_count": verified.sign_count,
            "transports": ",".join(str(t) for t in credential.get("response", {})
                                   .get("transports", []) if isinstance(t, str))[:200],
            "aaguid": verified.aaguid, "backup_eligible": verified.credential_device_type == "multi_device",
            "backup_state": verified.credential_backed_up, "name": name, "created_at": now,
            "last_used_at": None,
        })
        codes = [] if account.recovery_key else recovery.issue(connection, rt, account,
                                                                replacing=False)
        audit.record(connection, rt, "entry.verified", account_id=account.id,
                     target=str(entry_id), detail=f"passkey {name!r}"
                     + (f"; {len(codes)} recovery codes issued" if codes else ""))
        later = notifications.notify_within(connection, rt, account.id,
                                            [("entry_added", PASSKEY_PREFIX + name)])
        row = _entry_row(connection, entry_id)
    for event, destination in later:
        notifications.notify(rt, account.id, event, destination=destination)
    return {"entry": row, "recovery_codes": codes}


# -- signing in ----------------------------------------------------------------------------


def begin_login(rt: Runtime, session_token: str | None = None) -> str:
    """The options for ``navigator.credentials.get`` (JSON). With the pending session of a
    login: its account's passkeys (the second factor). Without: any passkey of this site
    (passwordless; ``[webauthn] passwordless`` must be on). Raises Rejected."""
    webauthn = rt.settings.webauthn
    with rt.connection() as connection:
        if session_token is None:
            if not webauthn.passwordless:
                raise Rejected("passwordless sign-in is off ([webauthn] passwordless)",
                               reason="passwordless_off")
            allowed, account_id, purpose = [], None, "passwordless"
            verification = UserVerificationRequirement.REQUIRED
        else:
            session = sessions.alive(connection, rt, session_token, state="pending")
            rows = _PASSKEYS_OF.run(connection, {"account_id": session.account_id}).rows()
            if not rows:
                raise Rejected("this account has no passkey", reason="no_passkey")
            allowed = [_descriptor(row) for row in rows]
            account_id, purpose = session.account_id, "login"
            verification = _user_verification(rt)
        options = generate_authentication_options(
            rp_id=webauthn.rp_id, timeout=webauthn.timeout_seconds * 1000,
            allow_credentials=allowed, user_verification=verification)
        _store_challenge(connection, rt, options.challenge, purpose, session_token,
                         account_id=account_id)
        return options_to_json(options)


def finish_login(rt: Runtime, response: str, session_token: str | None = None, *,
                 device: str = "", client: str = "") -> dict:
    """Verify the browser's ``navigator.credentials.get`` response. With the pending
    session: completes its login (a new signed-in token, like ``verify``). Without: a new
    signed-in session of the passkey's account (passwordless). Raises Rejected (no live
    challenge, unknown passkey, another account's passkey, a bad signature, the wrong
    origin or RP, user verification missing when required, a cloned key), BadInput."""
    credential = _parse(response)
    challenge = _client_challenge(credential)
    purpose = "passwordless" if session_token is None else "login"
    if session_token is not None:
        with rt.connection() as connection:
            sessions.alive(connection, rt, session_token, state="pending")
    elif not rt.settings.webauthn.passwordless:
        raise Rejected("passwordless sign-in is off ([webauthn] passwordless)",
                       reason="passwordless_off")
    spent = _spend(rt, challenge, purpose, session_token)
    with rt.connection() as connection:
        found = _BY_CREDENTIAL.first(connection, {"credential_id": str(credential.get("id", ""))})
    account_id = spent.account_id if spent is not None else None
    if spent is None:
        raise _refused(rt, account_id, "no live passkey challenge")
    if found is None:
        raise _refused(rt, account_id, "an unknown passkey")
    if purpose == "login" and found.account_id != spent.account_id:
        raise _refused(rt, spent.account_id, f"a passkey of another account ({found.account_id})")
    origin = _origin(rt, credential, account_id=found.account_id)
    try:
        # The count is checked below, ours: py_webauthn would refuse a key that stopped
        # counting (0 after 5), which WebAuthn allows, and could not audit a clone.
        verified = verify_authentication_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=rt.settings.webauthn.rp_id, expected_origin=origin,
            credential_public_key=base64url_to_bytes(found.public_key),
            credential_current_sign_count=0,
            require_user_verification=purpose == "passwordless" or _uv_required(rt))
    except WebAuthnException as exc:
        raise _refused(rt, found.account_id, str(exc)) from None
    new, old = verified.new_sign_count, found.sign_count
    if new and old and new <= old:
        with rt.connection() as connection:
            audit.record(connection, rt, "passkey.cloned", account_id=found.account_id,
                         target=str(found.entry_id), outcome="rejected",
                         detail=f"sign count {new} after {old}")
        raise Rejected(REFUSED, reason="passkey_refused")
    with rt.connection() as connection:
        if _USED.run(connection, {"passkey_id": found.id, "old": old, "new": new,
                                  "backup_state": verified.credential_backed_up,
                                  "now": rt.now()}).rowcount != 1:
            # a concurrent use of the same count won
            raise Rejected(REFUSED, reason="passkey_refused")
        _VOID_LOGIN_CODES.run(connection, {"account_id": found.account_id})
        if session_token is not None:
            session = sessions.alive(connection, rt, session_token, state="pending")
            token = sessions.sign_in(connection, rt, session, session_token)
            audit.record(connection, rt, "login.verified", account_id=found.account_id,
                         detail=f"passkey {found.name!r}")
        else:
            token = sessions.start(connection, rt, found.account_id, found.password_epoch,
                                   signed_in=True, device=device, client=client,
                                   password_given=False)
            audit.record(connection, rt, "login.authenticated", account_id=found.account_id,
                         detail=f"passwordless passkey {found.name!r}")
    return {"status": "authenticated", "account_id": found.account_id,
            "entry_id": found.entry_id, "session_token": token}


# -- the pieces --------------------------------------------------------------------------------


def _passkey_method(connection: Connection):
    method = _PASSKEY_METHOD.first(connection, {})
    if method is None:
        raise NotFound("no passkey method: add one with `twofa secondary-auth add --kind passkey "
                       "--title Passkey`", reason="no_passkey_method")
    return method


def _name(name: str) -> str:
    name = validate.text(name) if name.strip() else ""
    if len(name) > 64:
        raise BadInput("a passkey name is at most 64 characters", reason="passkey_name_long")
    return name


def _default_name(connection: Connection, account_id: int, aaguid: str) -> str:
    make = KNOWN_AAGUIDS.get(aaguid, "Passkey")
    taken = {row.name for row in _PASSKEYS_OF.run(connection, {"account_id": account_id}).rows()}
    if make not in taken:
        return make
    return next(f"{make} {n}" for n in range(2, len(taken) + 3) if f"{make} {n}" not in taken)


def _user_verification(rt: Runtime) -> UserVerificationRequirement:
    return UserVerificationRequirement(rt.settings.webauthn.user_verification)


def _uv_required(rt: Runtime) -> bool:
    return rt.settings.webauthn.user_verification == "required"


def _descriptor(row) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in filter(None, row.transports.split(",")):
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:  # a transport newer than py_webauthn: the browser finds it anyway
            pass
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(row.credential_id),
                                         transports=transports or None)


def _store_challenge(connection: Connection, rt: Runtime, challenge: bytes, purpose: str,
                     session_token: str | None, *, account_id: int | None, name: str = "") -> None:
    now = rt.now()
    _SWEEP.run(connection, {"now": now})
    _INSERT_CHALLENGE.run(connection, {
        "challenge": bytes_to_base64url(challenge), "purpose": purpose,
        "session_sha256": sha256_hex(session_token) if session_token else "",
        "account_id": account_id, "name": name, "created_at": now,
        "expires_at": now + timedelta(seconds=rt.settings.webauthn.timeout_seconds),
    })


def _spend(rt: Runtime, challenge: str, purpose: str, session_token: str | None):
    """The challenge's row, deleted in a transaction of its own (so it is spent whatever
    follows); None if no live one of this purpose and session."""
    with rt.connection() as connection:
        return _SPEND.first(connection, {
            "challenge": challenge, "purpose": purpose, "now": rt.now(),
            "session_sha256": sha256_hex(session_token) if session_token else ""})


def _parse(response: str) -> dict:
    if len(response) > MAX_RESPONSE:
        raise BadInput("not a passkey response: too long", reason="passkey_refused")
    try:
        credential = json.loads(response)
    except ValueError:
        raise BadInput("not a passkey response: not JSON", reason="passkey_refused") from None
    if not isinstance(credential, dict) or not isinstance(credential.get("response"), dict):
        raise BadInput("not a passkey response", reason="passkey_refused")
    return credential


def _client_data(credential: dict) -> dict:
    try:
        data = json.loads(base64url_to_bytes(str(credential["response"]["clientDataJSON"])))
    except (KeyError, ValueError):
        raise BadInput("not a passkey response: no client data",
                       reason="passkey_refused") from None
    if not isinstance(data, dict):
        raise BadInput("not a passkey response: no client data", reason="passkey_refused")
    return data


def _client_challenge(credential: dict) -> str:
    challenge = _client_data(credential).get("challenge")
    if not isinstance(challenge, str) or not 0 < len(challenge) <= 128:
        raise BadInput("not a passkey response: no challenge", reason="passkey_refused")
    return challenge


def _origin(rt: Runtime, credential: dict, *, account_id: int | None = None) -> str:
    """The origin the browser reports, if it is one passkeys may be used from; else the
    response is refused (a page on another host relaying the ceremony)."""
    origin = str(_client_data(credential).get("origin", ""))
    webauthn = rt.settings.webauthn
    if webauthn.origins:
        allowed = origin in webauthn.origins
    else:
        parts = urlsplit(origin)
        allowed = parts.scheme in ("http", "https") and parts.hostname == webauthn.rp_id \
            and origin == f"{parts.scheme}://{parts.netloc}"
    if not allowed:
        raise _refused(rt, account_id, f"origin {origin[:100]!r} is not allowed")
    return origin


def _refused(rt: Runtime, account_id: int | None, why: str) -> Rejected:
    """Audit a refused ceremony (committed) and return the one Rejected the caller raises."""
    with rt.connection() as connection:
        audit.record(connection, rt, "passkey.failed", account_id=account_id,
                     outcome="rejected", detail=why[:300])
    return Rejected(REFUSED, reason="passkey_refused")


_ENTRY = Prepared(select(_entry.c.id, _entry.c.account_id, _entry.c.destination,
                         _entry.c.created_at, _entry.c.preferred, _method.c.title,
                         _method.c.kind)
                  .join_from(_entry, _method, _method.c.id == _entry.c.secondary_auth_id)
                  .where(_entry.c.id == bindparam("entry_id")))


def _entry_row(connection: Connection, entry_id: int) -> dict:
    row = _ENTRY.one(connection, {"entry_id": entry_id})
    return entries.entry_public(row, row.title, kind=row.kind,
                                passkey=entries.passkeys_of(connection, row.account_id).get(entry_id))
