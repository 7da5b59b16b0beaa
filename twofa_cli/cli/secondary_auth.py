"""``twofa secondary-auth``: the 2FA methods customers can choose."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.cli.output import ExistOkOpt, JsonOpt, YesOpt, confirm, emit, note, runtime

app = typer.Typer(help="Secondary authentication providers (the methods customers enrol with).",
                  no_args_is_help=True)
COLUMNS = [("id", "ID"), ("title", "Title"), ("provider", "Provider"), ("channel", "Channel"),
           ("provider_id", "Provider ID")]
MethodArg = Annotated[str, typer.Argument(help="Secondary auth id or title.", metavar="S")]


@app.command("add")
def add(
    ctx: typer.Context,
    provider: Annotated[str, typer.Option("--provider", help="Service provider id or title.")],
    title: Annotated[str, typer.Option("--title", help="Name customers pick, e.g. \"Text message\".")],
    exist_ok: ExistOkOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Offer a provider to customers as a 2FA method.

    \b
    Example:
      twofa secondary-auth add --provider "SMS" --title "Text message"
    """
    from twofa_cli.services import secondary_auth

    method = secondary_auth.add_secondary_auth(runtime(ctx), provider=provider, title=title,
                                               exist_ok=exist_ok)
    emit(method, as_json=json_, title="Secondary auth added")


@app.command("list")
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the secondary auth providers."""
    from twofa_cli.services import secondary_auth

    emit(secondary_auth.list_secondary_auth(runtime(ctx)), as_json=json_, columns=COLUMNS,
         title="Secondary auth providers")


@app.command("show")
def show(ctx: typer.Context, method: MethodArg, json_: JsonOpt = False) -> None:
    """Show one method, its provider and how many customer entries use it."""
    from twofa_cli.services import secondary_auth

    emit(secondary_auth.show_secondary_auth(runtime(ctx), method), as_json=json_,
         title="Secondary auth")


@app.command("delete")
@app.command("remove", hidden=True)
def remove(
    ctx: typer.Context,
    method: MethodArg,
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Remove a method; customers' entries that use it are deleted too (asks first)."""
    from twofa_cli.services import secondary_auth

    rt = runtime(ctx)
    in_use = secondary_auth.entries_using(rt, method)
    if in_use:
        confirm(f"{in_use} customer 2FA entries use this method and will be deleted.",
                yes=yes, as_json=json_)
    result = secondary_auth.remove_secondary_auth(rt, method)
    if json_:
        emit(result, as_json=True)
    else:
        note(f"Removed secondary auth {result['title']!r} (id {result['id']}) "
             f"and {result['entries_removed']} customer entries.")
