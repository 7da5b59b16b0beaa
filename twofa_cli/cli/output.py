"""One renderer for every command: JSON on request, rich tables at a terminal, and
tab-separated rows when stdout is a pipe or a file (``--format`` chooses explicitly).

Only data goes to stdout; notes, warnings and errors go to stderr. Text from outside
(audit rows, provider replies, echoed input) passes here on its way to a terminal, so
this is where control characters, bidi overrides and rich markup in it are made inert.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from twofa_cli.validate import UNPRINTABLE, UNPRINTABLE_CHARS, printable

if TYPE_CHECKING:
    from twofa_cli.api import TwoFactor
    from twofa_cli.errors import TwofaError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
ExistOkOpt = Annotated[bool, typer.Option(
    "--exist-ok", help="Exit 0 if an identical one already exists (a different one under "
                       "the name is still a conflict, exit 1).")]

Columns = Sequence[tuple[str, str]]


def columns_of(shape: type) -> Columns:
    """A resource's columns: its result type's fields in order, so list, show, add and
    update print the same keys (JSON) and the same header (TSV) as the library returns."""
    return [(f.name, _label(f.name)) for f in dataclasses.fields(shape) if f.repr]


def _label(key: str) -> str:
    words = ["ID" if word == "id" else word for word in key.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


FORMATS = ("table", "tsv", "json")
# The root's ``--format table|tsv`` for the command being run (``--format json`` is --json).
_chosen_format: ContextVar[str | None] = ContextVar("twofa_format", default=None)


@contextmanager
def chosen_format(value: str | None) -> Iterator[None]:
    token = _chosen_format.set(value.lower() if value else None)
    try:
        yield
    finally:
        _chosen_format.reset(token)


def output_format(as_json: bool = False) -> str:
    """``json`` for --json; else ``--format``; else a table at a terminal, tsv elsewhere."""
    if as_json:
        return "json"
    return _chosen_format.get() or ("table" if sys.stdout.isatty() else "tsv")


def emit(data: Any, *, as_json: bool, columns: Columns | None = None, title: str | None = None) -> None:
    chosen = output_format(as_json)
    if chosen == "json":
        typer.echo(to_json(data))
        return
    if chosen == "tsv":
        _emit_tsv(data, columns)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(soft_wrap=True)
    if isinstance(data, list):
        cols = columns or [(key, key) for key in (data[0] if data else {})]
        table = Table(title=title)
        for _, header in cols:
            table.add_column(header, overflow="fold")
        for row in data:
            table.add_row(*(_cell(row.get(key)) for key, _ in cols))
        console.print(table if data else f"[dim]{escape(title or 'nothing')}: none[/dim]")
    elif isinstance(data, dict):
        table = Table(title=title, show_header=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for key, value in data.items():
            table.add_row(_cell(key), _cell(value))
        console.print(table)
    else:
        console.print(printable(str(data), keep="\n"), markup=False, highlight=False)


def to_json(data: Any) -> str:
    """One JSON document, non-ASCII kept readable but nothing a terminal would act on.

    ``json.dumps`` escapes C0 controls itself; DEL, C1, the bidi overrides and lone
    surrogates it passes raw, so they become ``\\uXXXX`` here (the same string to a parser).
    """
    text = json.dumps(data, ensure_ascii=False, default=str)
    return UNPRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


_ISO_TIME = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?\+00:00")


def _cell(value: Any) -> str:
    from rich.markup import escape

    if isinstance(value, str) and _ISO_TIME.fullmatch(value):
        return _ISO_TIME.sub(r"\1 \2 UTC", value)  # humans get seconds, JSON keeps ISO-8601
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "\n".join(f"{_cell(k)}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return escape(printable("" if value is None else str(value)))


# Tabs and newlines would split a row or a field; other controls must not reach a terminal.
_TSV_UNSAFE = re.compile(f"[{UNPRINTABLE_CHARS}\\\\]")
_TSV_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"}


def _emit_tsv(data: Any, columns: Columns | None) -> None:
    """One header line of column keys, then one line per row; a single object is one row."""
    if isinstance(data, dict):
        data = [data]
    elif not isinstance(data, list):
        typer.echo(printable(str(data), keep="\n"))
        return
    keys = [key for key, _ in columns] if columns else list(data[0]) if data else []
    if not keys:
        return
    lines = ["\t".join(keys)]
    lines += ["\t".join(_tsv_field(row.get(key)) for key in keys) for row in data]
    typer.echo("\n".join(lines))


def _tsv_field(value: Any) -> str:
    return _TSV_UNSAFE.sub(lambda m: _TSV_ESCAPES.get(m[0], f"\\u{ord(m[0]):04x}"),
                           _tsv_text(value))


def _tsv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_tsv_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_tsv_text(v) for v in value)
    return str(value)


def counted(count: int, thing: str) -> str:
    """``1 trusted device``, ``2 trusted devices``: a count for people to read."""
    return f"{count} {thing}{'' if count == 1 else 's'}"


def note(message: str) -> None:
    typer.echo(printable(message, keep="\n"), err=True)


def report_error(exc: TwofaError, *, as_json: bool) -> None:
    if as_json:
        from twofa_cli.cli.documents import ErrorDocument

        typer.echo(to_json(plain(ErrorDocument.of(exc))))
    else:
        typer.echo(f"Error: {printable(exc.message)}", err=True)


def twofa(ctx: typer.Context) -> TwoFactor:
    """The library's ``TwoFactor`` of this invocation, opened on first use."""
    state = ctx.find_root().obj
    if state.twofa is None:
        from twofa_cli.api import TwoFactor

        state.twofa = TwoFactor.open(state.home, actor=state.actor)
        # Close the store's connections when the command ends (SQLite then folds its WAL
        # back into twofa.db), not whenever the interpreter gets round to it at exit.
        ctx.find_root().call_on_close(state.twofa.close)
    return state.twofa


OMITTED_WHEN_NONE = "twofa_omitted_when_none"


def omitted_when_none() -> Any:
    """A dataclass field that ``plain()`` leaves out while it is None (an optional key)."""
    return dataclasses.field(default=None, metadata={OMITTED_WHEN_NONE: True})


def plain(value: Any) -> Any:
    """An API result as JSON-ready data: dataclasses as dicts (fields in order),
    datetimes as ISO-8601, paths as text, tuples as lists. A field kept out of the
    repr (a secret, such as a trusted-device token) is kept out of the output too, and
    so is an ``omitted_when_none()`` field while it is None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.repr and not (f.metadata.get(OMITTED_WHEN_NONE)
                                   and getattr(value, f.name) is None)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def confirm(question: str, *, yes: bool, as_json: bool) -> None:
    """Ask on a terminal; elsewhere, or in JSON mode, demand ``--yes``."""
    from twofa_cli.errors import Rejected

    if yes:
        return
    if output_format(as_json) == "json" or not sys.stdin.isatty():
        raise Rejected(f"{question} Pass --yes to confirm.")
    if not typer.confirm(question, default=False, err=True):
        raise Rejected("cancelled; nothing changed")


def read_secret(value: str | None, from_stdin: bool, prompt: str) -> str | None:
    """A credential from the option, one line of stdin, or a hidden prompt."""
    if value is not None:
        return value
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            from twofa_cli.errors import BadInput

            raise BadInput(f"{prompt}: nothing on standard input")
        return line
    if sys.stdin.isatty():
        return typer.prompt(prompt, hide_input=True, err=True)
    return None
