"""``twofa entry``: a customer's 2FA entries (the Managing list and its delete icon)."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.api import Entry
from twofa_cli.cli.output import (
    JsonOpt, YesOpt, columns_of, confirm, counted, emit, note, plain, twofa,
)

app = typer.Typer(help="A customer's two-factor authentication entries.", no_args_is_help=True)
AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]
COLUMNS = columns_of(Entry)
EntryArg = Annotated[str, typer.Argument(help="Entry id (or its method title, or a passkey's name).",
                                         metavar="ENTRY")]


@app.command("list")
def list_(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """List the account's 2FA entries (destinations masked)."""
    emit(plain(twofa(ctx).entries(account)), as_json=json_, columns=COLUMNS, title="2FA entries")


@app.command("prefer")
def prefer(ctx: typer.Context, account: AccountArg, entry: EntryArg,
           json_: JsonOpt = False) -> None:
    """Make an entry the one a login uses (default: the first verified).

    \b
    Example:
      twofa entry prefer alice@example.com "Authenticator app"
    """
    emit(plain(twofa(ctx).prefer_entry(account, entry)), as_json=json_, columns=COLUMNS,
         title="Preferred entry")


@app.command("delete")
@app.command("remove", hidden=True)
def delete(
    ctx: typer.Context,
    account: AccountArg,
    entry: EntryArg,
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Delete a 2FA entry; deleting the last one also revokes trusted devices."""
    api = twofa(ctx)
    api.account(account)  # an unknown account is said first, before any question
    confirm(f"Delete 2FA entry {entry!r} of {account!r}?", yes=yes, as_json=json_)
    removed = api.delete_entry(account, entry)
    if json_:
        emit(plain(removed), as_json=True)
        return
    gone = removed.entry
    note(f"Deleted 2FA entry {gone.id} ({gone.method}, {gone.destination}).")
    if removed.trusted_devices_revoked:
        revoked = removed.trusted_devices_revoked
        note(f"That was the last entry: {counted(revoked, 'trusted device')} "
             "revoked.")
