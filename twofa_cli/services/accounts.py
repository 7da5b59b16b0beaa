"""Shopping Cart accounts: customers and administrators, with argon2id passwords."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, insert
from sqlmodel import Session, col, select

from twofa_cli import validate
from twofa_cli.errors import BadInput, Conflict, NotFound
from twofa_cli.runtime import Runtime
from twofa_cli.security import (
    costlier_hash_parameters, hash_password, is_argon2_hash, verify_password, weaker_hash_parameters,
)
from twofa_cli.services import audit, devices, sessions, throttle
from twofa_cli.services.common import find, iso, sql_integer
from twofa_cli.services.entries import delete_entry
from twofa_cli.store.models import Account, Challenge, Entry, TrustedDevice, WebauthnChallenge

_account, _entry, _device = Account.__table__, Entry.__table__, TrustedDevice.__table__

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
IMPORT_BATCH = 2000


def audience_of(account: Account) -> str:
    return "admin" if account.is_admin else "customer"


def _password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BadInput(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise BadInput(f"password must have at most {MAX_PASSWORD} characters")
    return password


def add_account(
    rt: Runtime, *, email: str, password: str, name: str = "", is_admin: bool = False,
    exist_ok: bool = False,
) -> dict:
    """Create an account; with ``exist_ok`` an identical one (same name, audience and
    password) is returned as it is, while a different one is a Conflict."""
    email = validate.email_address(email).lower()
    name = validate.text(name, "name") if name.strip() else ""
    password_hash = hash_password(_password(password))
    with rt.transaction() as session:
        existing = session.exec(select(Account).where(Account.email == email)).first()
        if existing is not None:
            if exist_ok and existing.name == name and existing.is_admin == is_admin \
                    and verify_password(existing.password_hash, password):
                return account_public(existing)
            raise Conflict(f"an account for {email} already exists")
        account = Account(email=email, name=name, password_hash=password_hash,
                          is_admin=is_admin, created_at=rt.now())
        session.add(account)
        session.flush()
        audit.record(session, rt, "account.add", account_id=account.id, target=email)
        return account_public(account)


def set_password(rt: Runtime, ident: str, password: str) -> dict:
    """Change a password; every trusted device and every session of the account ends with
    it, and its pending login codes die (rule 29): a login half-way through had checked the
    old password."""
    password_hash = hash_password(_password(password))
    with rt.transaction() as session:
        account = find(session, Account, ident, by="email", what="account")
        account.password_hash = password_hash
        account.password_epoch += 1  # a session of an older epoch is dead even if a row is left
        session.add(account)
        audit.record(session, rt, "account.password", account_id=account.id, target=account.email)
        revoked = devices.revoke_all(session, rt, account.id, "password changed")
        ended = sessions.end_all(session.connection(), account.id)
        return {**account_public(account), "trusted_devices_revoked": revoked,
                "sessions_ended": ended}


def delete_account(rt: Runtime, ident: str) -> dict:
    """Delete an account with its entries, challenges and trusted devices; the audit trail
    keeps its rows (they name the account by id)."""
    with rt.transaction() as session:
        account = find(session, Account, ident, by="email", what="account")
        data = account_public(account)
        entries = session.exec(select(Entry).where(Entry.account_id == account.id)).all()
        for entry in entries:
            delete_entry(session.connection(), rt, entry)
        session.execute(delete(Challenge).where(col(Challenge.account_id) == account.id))
        session.execute(delete(TrustedDevice).where(col(TrustedDevice.account_id) == account.id))
        session.execute(delete(WebauthnChallenge)
                        .where(col(WebauthnChallenge.account_id) == account.id))
        sessions.end_all(session.connection(), account.id, void_codes=False)
        session.delete(account)
        audit.record(session, rt, "account.delete", account_id=account.id, target=account.email)
        return {**data, "entries_removed": len(entries)}


def list_accounts(rt: Runtime, *, limit: int = 100, offset: int = 0) -> list[dict]:
    with rt.transaction() as session:
        rows = session.execute(_with_details(rt).order_by(_account.c.id)
                               .offset(sql_integer(offset, "offset"))
                               .limit(sql_integer(limit, "limit")))
        return [_details(rt, row) for row in rows]


def show_account(rt: Runtime, ident: str) -> dict:
    with rt.transaction() as session:
        account = find(session, Account, ident, by="email", what="account")
        return _details(rt, session.execute(
            _with_details(rt).where(_account.c.id == account.id)).one())


def _with_details(rt: Runtime):
    """Accounts with their 2FA state in one statement, whatever their number."""
    entries = (select(func.count()).where(_entry.c.account_id == _account.c.id)
               .scalar_subquery().label("entries"))
    trusted = (select(func.count()).where(_device.c.account_id == _account.c.id,
                                          _device.c.revoked_at.is_(None),
                                          _device.c.expires_at > rt.now())
               .scalar_subquery().label("trusted_devices"))
    # Failed passwords count against the login name (services/throttle.py).
    return select(_account, entries, trusted, *throttle.state_columns(_account.c.email))


def _details(rt: Runtime, row) -> dict:
    """An account with its 2FA state: what ``account list`` and ``account show`` print."""
    failed_logins, login_blocked_until = throttle.state(rt, row)
    locked = row.locked_until is not None and row.locked_until > rt.now()
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "audience": audience_of(row),
        "entries": row.entries,
        "trusted_devices": row.trusted_devices,
        "failed_verifications": row.failed_verifications,
        "failed_logins": failed_logins,
        "created_at": iso(row.created_at),
        "lock_ends_at": iso(row.locked_until) if locked else None,
        "login_block_ends_at": iso(login_blocked_until),
    }


def account_public(account: Account) -> dict:
    return {
        "id": account.id,
        "email": account.email,
        "name": account.name,
        "audience": audience_of(account),
        "created_at": iso(account.created_at),
    }


# -- CSV import ---------------------------------------------------------------------


@dataclass
class ImportProblem:
    line: int
    message: str
    duplicate: bool = False  # the email is taken: a conflict, not bad input


def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        names = [f.strip().lower() for f in reader.fieldnames or []]
        for position, name in enumerate(names, 1):
            first = names.index(name) + 1
            if name and first != position:  # which of the two would count is anyone's guess
                raise BadInput(f"{path.name}: line 1: the header names {name!r} twice "
                               f"(columns {first} and {position})")
        fields = set(names)
        if "email" not in fields or not fields & {"password", "password_hash"}:
            raise BadInput(f"{path.name}: the header must name email and password or password_hash")
        for row in reader:
            yield reader.line_num, row


def _check_row(raw: dict, checked: dict[str, int] | None = None,
               line: int | None = None) -> tuple[str, str, str | None, str | None]:
    """The row's values, or BadInput. ``checked`` maps emails that already passed
    ``validate.email_address`` to their line: the same email on the same line is not
    validated twice (the second pass of an import)."""
    if None in raw:  # DictReader files surplus fields under None
        raise BadInput("more fields than the header has (quote values that contain commas)")
    row = {key.strip().lower(): (value or "").strip() for key, value in raw.items()}
    email = row.get("email", "").lower()
    if checked is None or line is None or checked.get(email) != line:
        email = validate.email_address(row.get("email", "")).lower()
    name = validate.text(row["name"], "name") if row.get("name") else ""
    password_hash = row.get("password_hash") or None
    if password_hash:
        if len(password_hash) > 200 or not is_argon2_hash(password_hash):
            raise BadInput("password_hash is not an argon2id hash")
        if weak := weaker_hash_parameters(password_hash):
            # Refused rather than rehashed at the next login: until then the weak hash
            # would sit in the store, as easy to crack as it was where it came from.
            raise BadInput(f"password_hash is weaker than this deployment's argon2id "
                           f"({', '.join(weak)}): import a password, or hash it anew")
        if costly := costlier_hash_parameters(password_hash):
            # Every failed login must cost alike (rule 32): a costlier hash would tell its
            # account apart by time and could tie up a CPU for days. Within the bound, the
            # first right password rehashes it with the configured parameters.
            raise BadInput(f"password_hash is costlier to check than this deployment allows "
                           f"({', '.join(costly)}): import a password, or hash it anew")
        return email, name, None, password_hash
    return email, name, _password(row.get("password", "")), None


def import_accounts(
    rt: Runtime, path: str | Path, *, progress: Callable[[int, int], None] | None = None,
    skip_existing: bool = False,
) -> dict:
    """Import a CSV in two streaming passes: check every row, then insert in batches.

    One transaction: a bad row anywhere imports nothing and reports every bad row; when
    the only problems are emails taken (by an account or an earlier line) that is a
    Conflict. ``skip_existing`` leaves the rows of existing accounts out instead.
    ``progress(imported, total)`` is called after each batch.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"no file {str(path)[:200]!r}")
    problems: list[ImportProblem] = []
    seen: dict[str, int] = {}
    try:
        for line, row in _rows(path):
            try:
                email, *_ = _check_row(row)
            except BadInput as exc:
                problems.append(ImportProblem(line, exc.message))
                continue
            if email in seen:
                problems.append(ImportProblem(line, f"{email} repeats line {seen[email]}",
                                              duplicate=True))
            seen[email] = line
    except UnicodeDecodeError:
        raise BadInput(f"{path.name} is not UTF-8 text") from None
    except csv.Error as exc:
        raise BadInput(f"{path.name} is not valid CSV: {exc}") from None

    with rt.transaction() as session:
        existing = _existing(session, seen)
        if not skip_existing:
            problems += existing
        if problems:
            problems.sort(key=lambda p: p.line)
            duplicates_only = all(p.duplicate for p in problems)
            raise (ImportConflict if duplicates_only else ImportRejected)(problems)
        skipped = {problem.line for problem in existing}
        total = 0
        batch: list[dict] = []
        for line, row in _rows(path):
            if line in skipped:
                continue
            email, name, password, password_hash = _check_row(row, seen, line)
            batch.append({
                "email": email, "name": name, "is_admin": False,
                "password_hash": password_hash or hash_password(password),
                "failed_verifications": 0, "created_at": rt.now(),
            })
            if len(batch) >= IMPORT_BATCH:
                total += _insert(session, batch)
                if progress:
                    progress(total, len(seen) - len(skipped))
        total += _insert(session, batch)
        if progress:
            progress(total, len(seen) - len(skipped))
        audit.record(session, rt, "account.import", target=path.name[:200], detail=f"{total} accounts")
    return {"imported": total, "skipped": len(skipped), "file": str(path)}


def _existing(session: Session, seen: dict[str, int]) -> list[ImportProblem]:
    emails = list(seen)
    found = []
    for start in range(0, len(emails), 500):
        chunk = emails[start:start + 500]
        for email in session.exec(select(Account.email).where(col(Account.email).in_(chunk))):
            found.append(ImportProblem(seen[email], f"an account for {email} already exists",
                                       duplicate=True))
    return found


def _insert(session: Session, batch: list[dict]) -> int:
    if not batch:
        return 0
    session.execute(insert(Account.__table__), batch)  # Core executemany: no ORM bulk bookkeeping
    count = len(batch)
    batch.clear()
    return count


class _ImportProblems:
    def __init__(self, problems: list[ImportProblem]) -> None:
        shown = "; ".join(f"line {p.line}: {p.message}" for p in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} bad rows, nothing imported: {shown}{more}")
        self.details["rows"] = [{"line": p.line, "message": p.message} for p in problems]


class ImportRejected(_ImportProblems, BadInput):
    """Rows that are not valid (exit 2)."""


class ImportConflict(_ImportProblems, Conflict):
    """Rows whose emails are taken, and nothing else wrong (exit 1, like `account add`)."""

