"""``twofa account``: Shopping Cart accounts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from twofa_cli.api import AccountDetails
from twofa_cli.cli.output import (
    ExistOkOpt, JsonOpt, YesOpt, columns_of, confirm, counted, emit, note, plain, twofa,
)

app = typer.Typer(help="Shopping Cart accounts (customers and administrators).", no_args_is_help=True)
COLUMNS = columns_of(AccountDetails)
AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]
PasswordStdinOpt = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from standard input (else a hidden prompt).")]


def read_password(from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:  # end of input: no password was given at all, not a wrong one
            from twofa_cli.errors import BadInput

            raise BadInput("no password on standard input: type it at a terminal, or pipe it "
                           "in with --password-stdin")
        return line.rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm, err=True)


@app.command("add")
def add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="Login email.", metavar="EMAIL")],
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    password_stdin: PasswordStdinOpt = False,
    admin: Annotated[bool, typer.Option("--admin", help="An administrator, not a customer.")] = False,
    exist_ok: ExistOkOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Create an account; the password is hashed with argon2id."""
    password = read_password(password_stdin, confirm=True)
    api = twofa(ctx)
    added = api.add_account(email, password, name=name, admin=admin, exist_ok=exist_ok)
    emit(plain(api.account_details(added.id)), as_json=json_, columns=COLUMNS,
         title="Account added")


@app.command("set-password")
def set_password(ctx: typer.Context, account: AccountArg, password_stdin: PasswordStdinOpt = False,
                 json_: JsonOpt = False) -> None:
    """Change a password; this revokes every trusted device of the account."""
    password = read_password(password_stdin, confirm=True)
    api = twofa(ctx)
    revoked = api.set_password(account, password)
    emit(plain(api.account_details(account)), as_json=json_, columns=COLUMNS,
         title="Password changed")
    if not json_:
        note(f"Password changed; {counted(revoked, 'trusted device')} revoked "
             "and every session ended.")


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV with email,name and password or password_hash.",
                                         metavar="FILE.csv")],
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing", help="Leave out rows whose account exists (else they are a conflict, "
                                "exit 1).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Import accounts from CSV: every row is checked first; one bad row imports nothing."""
    api = twofa(ctx)
    if json_ or not sys.stderr.isatty():
        result = api.import_accounts(path, skip_existing=skip_existing)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("Importing accounts", total=None)
            result = api.import_accounts(
                path, skip_existing=skip_existing,
                progress=lambda done, total: progress.update(task, completed=done, total=total))
    emit(plain(result), as_json=json_, title="Import")
    if not json_:
        skipped = f", skipped {result.skipped} that exist" if result.skipped else ""
        note(f"Imported {counted(result.imported, 'account')}{skipped}.")


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1_000_000)] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    json_: JsonOpt = False,
) -> None:
    """List accounts, oldest first."""
    emit(plain(twofa(ctx).accounts(limit=limit, offset=offset)), as_json=json_,
         columns=COLUMNS, title="Accounts")


@app.command("show")
def show(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """Show one account with its 2FA state."""
    emit(plain(twofa(ctx).account_details(account)), as_json=json_, columns=COLUMNS,
         title="Account")


@app.command("delete")
@app.command("remove", hidden=True)
def delete(ctx: typer.Context, account: AccountArg, yes: YesOpt = False,
           json_: JsonOpt = False) -> None:
    """Delete an account with its 2FA entries, pending codes and trusted devices (asks first);
    its audit trail stays."""
    api = twofa(ctx)
    shown = api.account_details(account)
    confirm(f"Delete the account {shown.email} and its {shown.entries} 2FA entries?",
            yes=yes, as_json=json_)
    removed = api.delete_account(shown.id)
    if json_:
        emit(plain(removed), as_json=True)
    else:
        note(f"Deleted the account {removed.account.email} (id {removed.account.id}).")
