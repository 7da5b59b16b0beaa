"""Secret key rotation: ``twofa key rotate`` and ``twofa key prune``.

The key file holds one or more Fernet keys (SecretKey): the first encrypts, all decrypt.
``rotate`` puts a new key first and re-encrypts every value of ENCRYPTED_COLUMNS under
it, in one transaction; ``prune`` keeps only the first key once no stored value needs
another. Both hold the store's write lock while they read and rewrite the key file, so
two rotations at once run one after the other and lose no key.

Both record the first key's id as the store's current key (store/current_key.py), so
a process that read the key file before a rotation catches up before it encrypts
anything (Runtime.current_key); ``prune`` refuses while the key file does not hold
that key first (the rotation ran on another host).

Pending codes are invalidated by ``rotate``: their HMAC is keyed by the first key
(SecretKey.code_hmac), so after the rotation the right code would count as a wrong one
towards the lockout. Marking them superseded (as Send New Code does) makes ``verify``
say plainly that no code is pending; the customer logs in or enrols again. Rotations are
rare, codes live minutes, and ``prune`` then never waits for old codes to expire.

Only reversible values can follow a rotation. A keyed hash cannot be re-keyed without
the value it hides, so hashes that must outlive ``rotate`` and ``prune`` (recovery codes)
cannot be keyed by a key that ``prune`` removes (the first key of today is an old key
tomorrow): key them with a key kept apart from this rotation, or store them as a slow
unkeyed hash (argon2id, as passwords are).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Column, bindparam, select, text, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session, col

from twofa_cli.errors import Rejected
from twofa_cli.runtime import Runtime
from twofa_cli.security import SECRET_KEY_ENV, SecretKey, load_secret_key, write_private_file
from twofa_cli.services import audit
from twofa_cli.store import current_key
from twofa_cli.store.core import lock
from twofa_cli.store.models import Challenge, Entry, Provider, RecoveryCode

# Every column that holds a Fernet token of SecretKey. A new encrypted value joins
# rotation and pruning by being listed here (tests/test_keys.py checks none is missing).
ENCRYPTED_COLUMNS: tuple[InstrumentedAttribute, ...] = (
    Provider.secrets,
    Entry.secret,  # TOTP secrets
    Challenge.secret,  # TOTP secrets of enrolments not verified yet
    RecoveryCode.recovery_key,  # the keys of the recovery-code HMACs (services/recovery.py)
)


def rotate(rt: Runtime) -> dict:
    """Put a new key first in the key file and re-encrypt every stored secret under it."""
    key_file = _key_file(rt)
    with _rewriting(key_file) as rewrite, rt.transaction() as session:
        _lock(session)
        rotated = load_secret_key(key_file).with_new_first_key()
        reencrypted = {_name(column): _reencrypt(session, column, rotated)
                       for column in ENCRYPTED_COLUMNS}
        invalidated = _invalidate_pending_codes(session, rt)
        current_key.record(session, rotated.key_id)  # processes with the old keys now catch up
        audit.record(session, rt, "key.rotate", detail=(
            f"{sum(reencrypted.values())} values re-encrypted, {invalidated} pending codes "
            f"invalidated, {len(rotated.keys)} keys"))
        rewrite(rotated)  # before the commit: no committed value is under a key on no disk
    rt.key = rotated
    return {"key_file": str(key_file), "keys": len(rotated.keys), "reencrypted": reencrypted,
            "pending_codes_invalidated": invalidated}


def prune(rt: Runtime) -> dict:
    """Keep only the first key; refuse while a stored value needs another."""
    key_file = _key_file(rt)
    with _rewriting(key_file) as rewrite, rt.transaction() as session:
        _lock(session)
        current = load_secret_key(key_file)
        stored = current_key.stored_id(session)
        if stored not in (None, current.key_id):
            held = "holds it second" if stored in {SecretKey(k).key_id for k in current.keys} \
                else "does not hold it"
            raise Rejected(
                f"the store's current key is not the first key of {key_file}, which {held}: "
                "another host (or a restored key file) rotated with another key file, and "
                "pruning this one would leave no key to write under. Copy the key file of the "
                "host that rotated here (mode 0600), then prune; nothing changed")
        removed = len(current.keys) - 1
        if removed:
            needing = {_name(column): ids for column in ENCRYPTED_COLUMNS
                       if (ids := _needing_old_keys(session, column, current))}
            if needing:
                where = "; ".join(f"{name} of id{'s' if len(ids) > 1 else ''} "
                                  f"{', '.join(map(str, ids[:20]))}" for name, ids in needing.items())
                raise Rejected(
                    f"an old key is still needed by {where}: a process that still had the old "
                    "keys wrote them. Restart every twofa process, run `twofa key rotate` "
                    "again, then `twofa key prune`; nothing changed")
            audit.record(session, rt, "key.prune", detail=f"{removed} old keys removed")
            rewrite(current.without_old_keys())
        if stored is None:  # a store from before key ids: its one key is now known
            current_key.record(session, current.key_id)
    rt.key = current.without_old_keys()
    return {"key_file": str(key_file), "removed": removed, "keys": 1}


def _key_file(rt: Runtime) -> Path:
    """The key file to rewrite; a key in the environment is the operator's to change."""
    key_file = rt.settings.key_file
    if os.environ.get(SECRET_KEY_ENV):
        raise Rejected(
            f"{SECRET_KEY_ENV} holds the secret key and twofa cannot change the environment: "
            f"rotate through a key file instead. Write the variable's keys one per line to "
            f"{key_file} (mode 0600), unset {SECRET_KEY_ENV}, run `twofa key rotate` (and "
            f"later `twofa key prune`), then set {SECRET_KEY_ENV} to the file's lines joined "
            "by commas wherever twofa runs (see docs/key-rotation.md)")
    return key_file


def _lock(session: Session) -> None:
    """Hold the store's write lock until the commit, key file included.

    SQLite: BEGIN IMMEDIATE, taken by the first statement. PostgreSQL: the tables of
    ENCRYPTED_COLUMNS locked against other writers (and other rotations), so a value
    changed meanwhile is neither overwritten by the re-encryption of its old self nor
    written under an old key behind prune's back.
    """
    connection = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        for table in dict.fromkeys(_column(attribute).table for attribute in ENCRYPTED_COLUMNS):
            session.execute(text(f'LOCK TABLE "{table.name}" IN SHARE ROW EXCLUSIVE MODE'))
        # Then the lock a process with old keys waits on (Runtime.current_key) before it
        # reads the current key's id again: taken after the tables, so a writer that
        # holds one of them while it waits cannot deadlock with this rotation.
        lock(connection, current_key.ROTATION_LOCK)


@contextmanager
def _rewriting(key_file: Path) -> Iterator[Callable[[SecretKey], None]]:
    """Let the block rewrite the key file; if the block, its commit included, then fails,
    put back what the file held."""
    before: str | None = None

    def rewrite(keys: SecretKey) -> None:
        nonlocal before
        before = key_file.read_text(encoding="utf-8")
        try:
            write_private_file(key_file, keys.file_text())
        except OSError as exc:
            raise Rejected(f"cannot write {key_file}: {exc.strerror or exc}; nothing changed") from None

    try:
        yield rewrite
    except BaseException:
        if before is not None and not _holds(key_file, before):
            write_private_file(key_file, before)
        raise


def _holds(path: Path, content: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == content
    except OSError:
        return False


def _column(attribute: InstrumentedAttribute) -> Column:
    return attribute.property.columns[0]


def _name(attribute: InstrumentedAttribute) -> str:
    column = _column(attribute)
    return f"{column.table.name}.{column.name}"


def _stored(session: Session, attribute: InstrumentedAttribute) -> list[tuple[int, str]]:
    column = _column(attribute)
    [primary_key] = column.table.primary_key.columns
    query = (select(primary_key, column).where(column.is_not(None), column != "")
             .order_by(primary_key))
    return [tuple(row) for row in session.execute(query)]


def _reencrypt(session: Session, attribute: InstrumentedAttribute, key: SecretKey) -> int:
    column = _column(attribute)
    [primary_key] = column.table.primary_key.columns
    rows = []
    for row_id, token in _stored(session, attribute):
        try:
            rows.append({"row_id": row_id, "token": key.reencrypt(token)})
        except Rejected as exc:
            raise Rejected(
                f"{_name(attribute)} of id {row_id}: {exc.message} in the key file; restore "
                "the key it was saved with, or delete that row; nothing changed") from None
    if rows:
        session.execute(
            update(column.table).where(primary_key == bindparam("row_id"))
            .values({column.name: bindparam("token")}),
            rows,
        )
    return len(rows)


def _needing_old_keys(session: Session, attribute: InstrumentedAttribute,
                      key: SecretKey) -> list[int]:
    return [row_id for row_id, token in _stored(session, attribute) if key.needs_old_key(token)]


def _invalidate_pending_codes(session: Session, rt: Runtime) -> int:
    result = session.execute(
        update(Challenge)
        .where(col(Challenge.status) == "pending", col(Challenge.code_hmac) != "",
               col(Challenge.expires_at) > rt.now())
        .values(status="superseded")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
