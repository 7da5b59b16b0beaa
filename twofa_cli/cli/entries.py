"""``twofa entry``: a customer's 2FA entries (the Managing list and its delete icon)."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.cli.output import JsonOpt, YesOpt, confirm, emit, note, runtime

app = typer.Typer(help="A customer's two-factor authentication entries.", no_args_is_help=True)
AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]
COLUMNS = [("id", "ID"), ("method", "Method"), ("destination", "Destination"),
           ("verified", "Verified"), ("created_at", "Created")]


@app.command("list")
def list_(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """List the account's 2FA entries (destinations masked)."""
    from twofa_cli.services.entries import list_entries

    emit(list_entries(runtime(ctx), account), as_json=json_, columns=COLUMNS, title="2FA entries")


@app.command("delete")
@app.command("remove", hidden=True)
def delete(
    ctx: typer.Context,
    account: AccountArg,
    entry: Annotated[str, typer.Argument(help="Entry id (or its method title).", metavar="ENTRY")],
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Delete a 2FA entry; deleting the last one also revokes trusted devices."""
    from twofa_cli.services.entries import remove_entry

    confirm(f"Delete 2FA entry {entry!r} of {account!r}?", yes=yes, as_json=json_)
    result = remove_entry(runtime(ctx), account, entry)
    if json_:
        emit(result, as_json=True)
        return
    note(f"Deleted 2FA entry {result['id']} ({result['method']}, {result['destination']}).")
    if result["trusted_devices_revoked"]:
        note(f"That was the last entry: {result['trusted_devices_revoked']} trusted devices revoked.")
