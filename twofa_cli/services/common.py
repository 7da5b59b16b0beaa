"""Lookups and helpers that several services share."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import Session, SQLModel, select

from twofa_cli.errors import NotFound

Model = TypeVar("Model", bound=SQLModel)


def find(session: Session, model: type[Model], ident: str | int, *, by: str, what: str) -> Model:
    """Fetch a row by numeric id or by its ``by`` column (title, email)."""
    text = str(ident).strip()
    row = None
    if text.isdigit():
        row = session.get(model, int(text))
    if row is None and len(text) <= 300:
        column = getattr(model, by)
        value = text.lower() if by == "email" else text
        row = session.exec(select(model).where(column == value)).first()
    if row is None:
        raise NotFound(f"no {what} {_shorten(text)!r}")
    return row


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None
