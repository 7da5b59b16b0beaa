"""``twofa export`` and ``twofa apply``: the configuration as a file under version control."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twofa_cli.cli.output import JsonOpt, counted, emit, note, plain, twofa

CHANGE_COLUMNS = [("action", "Action"), ("kind", "Kind"), ("name", "Name"), ("detail", "Detail")]


def export(
    ctx: typer.Context,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the TOML here (default: standard output).",
        show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Write the whole configuration as one TOML document: company name, providers (secret
    options as "env:NAME" references, never their values), secondary auth, the Allowed
    switches and the settings config.toml sets (never the database URL).
    """
    api = twofa(ctx)
    if output is None and json_:
        emit(api.export(), as_json=True)
        return
    text = api.export_toml(output)
    if output is None:
        typer.echo(text, nl=False)
        return
    if json_:
        from twofa_cli.cli.documents import ExportWritten

        emit(plain(ExportWritten(output)), as_json=True)
    else:
        note(f"Wrote {output}.")


def apply(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A TOML document, as `twofa export` writes it.",
                                         metavar="FILE")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
    = False,
    prune: Annotated[bool, typer.Option(
        "--prune", help="Also delete providers and secondary auth the file does not name.")]
    = False,
    json_: JsonOpt = False,
) -> None:
    """Make the store and config.toml match FILE: print the plan (create, update, delete,
    secrets masked), then apply it in one transaction. Running it again changes nothing.

    \b
    Example:
      twofa export --output twofa.toml      # on the first host, then commit the file
      export SMS_AUTH_TOKEN=…               # the references the file names
      twofa apply twofa.toml --dry-run
      twofa apply twofa.toml
    """
    result = twofa(ctx).apply(path, dry_run=dry_run, prune=prune)
    if json_:
        emit(plain(result), as_json=True)
        return
    if result.changes:
        emit(plain(result.changes), as_json=False, columns=CHANGE_COLUMNS, title="Plan")
    count = len(result.changes)
    changes = counted(count, "change")
    if not count:
        note("Nothing to change.")
    elif result.applied:
        note(f"Applied {changes}.")
    else:
        note(f"Dry run: {changes} planned, nothing changed.")
