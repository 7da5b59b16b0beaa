"""One renderer for every command: JSON on request, rich tables otherwise.

Only data goes to stdout; notes, warnings and errors go to stderr. Text from outside
(audit rows, provider replies, echoed input) passes here on its way to a terminal, so
this is where control characters, bidi overrides and rich markup in it are made inert.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from twofa_cli.validate import UNPRINTABLE, printable

if TYPE_CHECKING:
    from twofa_cli.errors import TwofaError
    from twofa_cli.runtime import Runtime

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]

Columns = Sequence[tuple[str, str]]


def emit(data: Any, *, as_json: bool, columns: Columns | None = None, title: str | None = None) -> None:
    if as_json:
        typer.echo(to_json(data))
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


def note(message: str) -> None:
    typer.echo(printable(message, keep="\n"), err=True)


def report_error(exc: TwofaError, *, as_json: bool) -> None:
    if as_json:
        error = {"code": exc.code, "message": exc.message, **exc.details}
        typer.echo(to_json({"error": error}))
    else:
        typer.echo(f"Error: {printable(exc.message)}", err=True)


def runtime(ctx: typer.Context) -> Runtime:
    """The Runtime of this invocation, opened on first use."""
    state = ctx.find_root().obj
    if state.runtime is None:
        from twofa_cli.runtime import open_runtime

        state.runtime = open_runtime(state.home, actor=state.actor)
        # Close the store's connections when the command ends (SQLite then folds its WAL
        # back into twofa.db), not whenever the interpreter gets round to it at exit.
        ctx.find_root().call_on_close(state.runtime.engine.dispose)
    return state.runtime


def confirm(question: str, *, yes: bool, as_json: bool) -> None:
    """Ask on a terminal; elsewhere, or in JSON mode, demand ``--yes``."""
    from twofa_cli.errors import Rejected

    if yes:
        return
    if as_json or not sys.stdin.isatty():
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
