"""``twofa device``: trusted devices ("Trust this device")."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.api import TrustedDevice
from twofa_cli.cli.documents import CookiesForgotten, DevicesRevoked
from twofa_cli.cli.output import JsonOpt, columns_of, counted, emit, note, plain, twofa

app = typer.Typer(help="Trusted devices: list, revoke, or forget a simulated browser's cookies.",
                  no_args_is_help=True)
AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]
COLUMNS = columns_of(TrustedDevice)


@app.command("list")
def list_(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """List the account's trusted devices."""
    emit(plain(twofa(ctx).trusted_devices(account)), as_json=json_, columns=COLUMNS,
         title="Trusted devices")


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
    from twofa_cli.errors import BadInput

    if (device is None) == (not all_):
        raise BadInput("give a DEVICE or --all")
    api = twofa(ctx)
    account_id = api.account(account).id
    revoked = api.revoke_device(account_id, device, every=all_)
    if json_:
        emit(plain(DevicesRevoked(account_id=account_id, revoked=revoked)), as_json=True)
    else:
        note(f"Revoked {counted(revoked, 'trusted device')}.")


@app.command("forget")
def forget(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Simulated browser name.", metavar="NAME")],
    json_: JsonOpt = False,
) -> None:
    """Clear a simulated browser's cookies (the server-side trust stays until it expires)."""
    from twofa_cli.api import TwoFactor
    from twofa_cli.browser import Browser

    cleared = Browser(TwoFactor.home_folder(ctx.find_root().obj.home), name).clear()
    if json_:
        emit(plain(CookiesForgotten(device=name, cleared=cleared)), as_json=True)
    else:
        note(f"Cleared the cookies of {name!r}." if cleared else f"{name!r} had no cookies.")
