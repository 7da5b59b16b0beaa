"""Lookups and helpers that several services share."""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlmodel import Session, SQLModel, select

from sqlalchemy.exc import IntegrityError

from twofa_cli.errors import BadInput, Conflict, NotFound
from twofa_cli.store.core import Prepared

Model = TypeVar("Model", bound=SQLModel)
MAX_SQL_INTEGER = 2**63 - 1  # SQLite's INTEGER and PostgreSQL's BIGINT end here


def find(session: Session, model: type[Model], ident: str | int, *, by: str, what: str) -> Model:
    """Fetch a row by numeric id or by its ``by`` column (title, email)."""
    text, number, value = lookup_keys(ident, by)
    row = session.get(model, number) if number is not None else None
    if row is None and value is not None:
        row = session.exec(_lookup(model, by), params={"value": value}).first()
    if row is None:
        raise NotFound(f"no {what} {_shorten(text)!r}")
    return row


def find_row(connection: Connection, by_id: Prepared, by_value: Prepared, ident: str | int,
             *, by: str, what: str):
    """``find`` for the hot path: the first row of ``by_id`` (bound ``:id``) or of
    ``by_value`` (bound ``:value``), both statements prepared once by the caller."""
    text, number, value = lookup_keys(ident, by)
    row = by_id.first(connection, {"id": number}) if number is not None else None
    if row is None and value is not None:
        row = by_value.first(connection, {"value": value})
    if row is None:
        raise NotFound(f"no {what} {_shorten(text)!r}")
    return row


def lookup_keys(ident: str | int, by: str) -> tuple[str, int | None, str | None]:
    """``ident`` as typed, as a numeric id and as a ``by`` value (None: no row can match)."""
    text = str(ident).strip()
    # ASCII digits only ("²" is a digit to str.isdigit but not to int), and no more than
    # fit a 64-bit key (SQLite overflows past that, int() refuses 4,300 digits).
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
    value = None
    if len(text) <= 300 and is_utf8(text):
        value = text.lower() if by == "email" else text
    return text, number, value


@cache
def _lookup(model: type[Model], by: str):
    """``SELECT … WHERE by = :value``, built once: building it cost more than running it."""
    return select(model).where(getattr(model, by) == bindparam("value"))


def is_utf8(text: str) -> bool:
    """False for argv bytes that were not UTF-8 (lone surrogates): no row can match them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def ensure_title_free(session: Session, model: type[SQLModel], title: str, *, what: str,
                      own_id: int | None = None) -> None:
    """Conflict (exit 1) if another row of ``model`` already has ``title``."""
    existing = session.exec(select(model).where(model.title == title)).first()
    if existing and existing.id != own_id:
        raise Conflict(f"a {what} titled {title!r} already exists (id {existing.id})")


def flush_titled(session: Session, title: str, *, what: str) -> None:
    """Flush; a unique title taken meanwhile by a concurrent writer is a Conflict too."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"a {what} titled {title!r} already exists") from None


def sql_integer(value: int, name: str) -> int:
    """A count or offset the store can take: past 64 bits SQLite overflows, PostgreSQL errs."""
    if not 0 <= value <= MAX_SQL_INTEGER:
        raise BadInput(f"{name} must be between 0 and {MAX_SQL_INTEGER}")
    return value


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None
