"""``twofa secondary-auth``: the 2FA methods customers can choose."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.api import Method
from twofa_cli.cli.output import (
    ExistOkOpt, JsonOpt, YesOpt, columns_of, confirm, emit, note, plain, twofa,
)

app = typer.Typer(help="Secondary authentication providers (the methods customers enrol with).",
                  no_args_is_help=True)
COLUMNS = columns_of(Method)
MethodArg = Annotated[str, typer.Argument(help="Secondary auth id or title.", metavar="S")]
FallbackOpt = Annotated[list[str] | None, typer.Option(
    "--fallback", help="A provider (id or title) that sends the code when the ones before fail "
    "or are over their hourly cap; repeat it, in order.", show_default=False)]


@app.command("add")
def add(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title", help="Name customers pick, e.g. \"Text message\".")],
    provider: Annotated[str | None, typer.Option(
        "--provider", help="Service provider id or title (kind code).", show_default=False)] = None,
    kind: Annotated[str, typer.Option(
        "--kind", help="code: codes sent by the provider; totp: an authenticator app; "
                  "passkey: passkeys (WebAuthn).")] = "code",
    fallback: FallbackOpt = None,
    exist_ok: ExistOkOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Offer a provider to customers as a 2FA method, or an authenticator app, or passkeys.

    \b
    Example:
      twofa secondary-auth add --provider "SMS" --title "Text message"
      twofa secondary-auth add --provider "SMS" --fallback "Backup SMS" --title "Text"
      twofa secondary-auth add --kind totp --title "Authenticator app"
      twofa secondary-auth add --kind passkey --title "Passkey"
    """
    if kind not in ("code", "totp", "passkey"):
        from twofa_cli.errors import BadInput

        raise BadInput(f"--kind is code, totp or passkey, not {kind[:20]!r}")
    method = twofa(ctx).add_secondary_auth(
        provider=provider, title=title, exist_ok=exist_ok, fallbacks=tuple(fallback or ()),
        kind="totp" if kind == "totp" else "passkey" if kind == "passkey" else "code")
    emit(plain(method), as_json=json_, columns=COLUMNS, title="Secondary auth added")


@app.command("update")
def update(
    ctx: typer.Context,
    method: MethodArg,
    fallback: FallbackOpt = None,
    no_fallbacks: Annotated[bool, typer.Option(
        "--no-fallbacks", help="Remove every fallback provider.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Set a method's fallback providers (replacing the ones it had), in order.

    \b
    Example:
      twofa secondary-auth update "Text message" --fallback "Backup SMS"
    """
    if bool(fallback) == no_fallbacks:
        from twofa_cli.errors import BadInput

        raise BadInput("give --fallback (repeatable) or --no-fallbacks")
    updated = twofa(ctx).update_secondary_auth(method, fallbacks=tuple(fallback or ()))
    emit(plain(updated), as_json=json_, columns=COLUMNS, title="Secondary auth updated")


@app.command("list")
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the secondary auth providers."""
    emit(plain(twofa(ctx).secondary_auths()), as_json=json_, columns=COLUMNS,
         title="Secondary auth providers")


@app.command("show")
def show(ctx: typer.Context, method: MethodArg, json_: JsonOpt = False) -> None:
    """Show one method, its provider and how many customer entries use it."""
    emit(plain(twofa(ctx).secondary_auth(method)), as_json=json_, columns=COLUMNS,
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
    api = twofa(ctx)
    in_use = api.secondary_auth(method).entries
    if in_use:
        confirm(f"{in_use} customer 2FA entries use this method and will be deleted.",
                yes=yes, as_json=json_)
    removed = api.remove_secondary_auth(method)
    if json_:
        emit(plain(removed), as_json=True)
    else:
        note(f"Removed secondary auth {removed.title!r} (id {removed.id}) "
             f"and {removed.entries_removed} customer entries.")
