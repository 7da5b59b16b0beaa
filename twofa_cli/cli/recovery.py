"""``twofa recovery-codes``: the single-use codes that stand in for a lost phone."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.cli.documents import RecoveryCodes, RecoveryCodesLeft
from twofa_cli.cli.output import JsonOpt, YesOpt, confirm, emit, note, plain, twofa

app = typer.Typer(help="Recovery codes: single-use codes for when the phone is lost.",
                  no_args_is_help=True)
AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]


@app.command("generate")
def generate(ctx: typer.Context, account: AccountArg, yes: YesOpt = False,
             json_: JsonOpt = False) -> None:
    """Make a new set of ten codes, shown once; the old set stops working (asks first).

    \b
    Example:
      twofa recovery-codes generate alice@example.com --yes
    """
    api = twofa(ctx)
    remaining = api.recovery_codes_remaining(account)
    if remaining:
        confirm(f"{remaining} unused recovery codes of {account!r} will stop working.",
                yes=yes, as_json=json_)
    codes = api.generate_recovery_codes(account)
    emit(plain(RecoveryCodes(tuple(codes))), as_json=json_, title="Recovery codes")
    if not json_:
        note("Keep them somewhere safe: they are shown only this once.")


@app.command("status")
def status(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """How many of the account's recovery codes are unused."""
    emit(plain(RecoveryCodesLeft(twofa(ctx).recovery_codes_remaining(account))),
         as_json=json_, title="Recovery codes")
