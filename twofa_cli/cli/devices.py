"""``twofa device``: trusted devices ("Trust this device")."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.cli.output import JsonOpt, emit, note

app = typer.Typer(help="Trusted devices: list, revoke, or forget a simulated browser's cookies.",
                  no_args_is_help=True)
AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]
COLUMNS = [("id", "ID"), ("device", "Device"), ("state", "State"), ("created_at", "Trusted at"),
           ("expires_at", "Expires")]


@app.command("list")
def list_(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """List the account's trusted devices."""
    from twofa_cli.cli.output import runtime
    from twofa_cli.services.devices import list_devices

    emit(list_devices(runtime(ctx), account), as_json=json_, columns=COLUMNS, title="Trusted devices")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    account: AccountArg,
    device: Annotated[str | None, typer.Argument(help="Device id or name.", metavar="DEVICE",
                                                 show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Revoke every trusted device.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Revoke one trusted device, or all of them: the next login asks for a code."""
    from twofa_cli.cli.output import runtime
    from twofa_cli.errors import BadInput
    from twofa_cli.services.devices import revoke as revoke_devices

    if (device is None) == (not all_):
        raise BadInput("give a DEVICE or --all")
    result = revoke_devices(runtime(ctx), account, device, every=all_)
    emit(result, as_json=json_) if json_ else note(f"Revoked {result['revoked']} trusted devices.")


@app.command("forget")
def forget(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Simulated browser name.", metavar="NAME")],
    json_: JsonOpt = False,
) -> None:
    """Clear a simulated browser's cookies (the server-side trust stays until it expires)."""
    from twofa_cli.browser import Browser
    from twofa_cli.config import resolve_home

    cleared = Browser(resolve_home(ctx.find_root().obj.home), name).clear()
    if json_:
        emit({"device": name, "cleared": cleared}, as_json=True)
    else:
        note(f"Cleared the cookies of {name!r}." if cleared else f"{name!r} had no cookies.")
