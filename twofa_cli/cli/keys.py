"""``twofa key``: rotate the secret key, then prune the old keys."""

from __future__ import annotations

import typer

from twofa_cli.cli.output import JsonOpt, counted, emit, note, plain, twofa

app = typer.Typer(help="The secret key: rotate it, then prune the old keys (never asks).",
                  no_args_is_help=True)


@app.command("rotate")
def rotate(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Put a new key first in the key file and re-encrypt every stored secret under it.

    One transaction: if anything fails, the store and the key file stay as they were.
    Codes pending at that moment stop working (the customers log in or enrol again).
    Then restart running twofa processes and run `twofa key prune`.
    """
    result = plain(twofa(ctx).rotate_key())
    emit(result, as_json=json_, title="Key rotated")
    if not json_:
        secrets = counted(sum(result["reencrypted"].values()), "stored secret")
        codes = counted(result["pending_codes_invalidated"], "pending code")
        note(f"{secrets} re-encrypted under a new key; {codes} invalidated (the customer "
             "logs in or enrols again). Restart running twofa processes (twofa serve, the "
             "shop's app), then run `twofa key prune`.")


@app.command("prune")
def prune(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Remove the old keys from the key file; refuses while a stored value needs one."""
    result = plain(twofa(ctx).prune_keys())
    emit(result, as_json=json_, title="Keys pruned")
    if not json_:
        removed = result["removed"]
        note(f"Removed {counted(removed, 'old key')}." if removed
             else "Only one key: nothing to prune.")
