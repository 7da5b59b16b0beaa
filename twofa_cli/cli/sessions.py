"""``twofa session``: the login sessions of an account (in the store, both stores)."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.api import Session
from twofa_cli.cli.documents import SessionsRevoked
from twofa_cli.cli.output import JsonOpt, columns_of, counted, emit, note, plain, twofa

app = typer.Typer(help="Login sessions: list an account's, or end them.", no_args_is_help=True)
AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]
COLUMNS = columns_of(Session)


@app.command("list")
def list_(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """List the account's live sessions (pending: password given, code not yet)."""
    emit(plain(twofa(ctx).sessions(account)), as_json=json_, columns=COLUMNS, title="Sessions")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    account: AccountArg,
    session_id: Annotated[int | None, typer.Argument(help="Session id (from `session list`).",
                                                     metavar="ID", show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="End every session of the account and void "
                                                     "its pending login codes.")] = False,
    json_: JsonOpt = False,
) -> None:
    """End one session, or all of them: their tokens and cookies are refused from now on.

    \b
    Example:
      twofa session revoke alice@example.com --all
    """
    from twofa_cli.errors import BadInput

    if (session_id is None) == (not all_):
        raise BadInput("give a session ID or --all")
    api = twofa(ctx)
    revoked = api.revoke_sessions(account) if all_ else api.revoke_session(account, session_id or 0)
    if json_:
        emit(plain(SessionsRevoked(revoked=revoked)), as_json=True)
    else:
        note(f"Ended {counted(revoked, 'session')}.")
