"""``twofa customer`` and ``twofa admin``: the "Allowed: Active/Inactive" toggle."""

from __future__ import annotations

import typer

from twofa_cli.cli.output import JsonOpt, emit, note, runtime


def make_app(audience: str) -> typer.Typer:
    who = "customers" if audience == "customer" else "administrators"
    app = typer.Typer(help=f"Two-factor authentication for {who}: Active or Inactive.",
                      no_args_is_help=True)

    def _show(status: dict, as_json: bool) -> None:
        emit(status, as_json=as_json, title=f"2FA for {who}")

    @app.command("enable")
    def enable(ctx: typer.Context, json_: JsonOpt = False) -> None:
        from twofa_cli.services import system

        status = system.set_allowed(runtime(ctx), audience, True)
        _show(status, json_)
        if not status["secondary_auth_providers"]:
            note(f"Warning: no secondary auth provider exists yet, so {who} cannot enrol; "
                 "add one with `twofa secondary-auth add`.")

    @app.command("disable")
    def disable(ctx: typer.Context, json_: JsonOpt = False) -> None:
        from twofa_cli.services import system

        _show(system.set_allowed(runtime(ctx), audience, False), json_)

    @app.command("status")
    def status(ctx: typer.Context, json_: JsonOpt = False) -> None:
        from twofa_cli.services import system

        _show(system.policy_status(runtime(ctx), audience), json_)

    enable.__doc__ = f"Allow 2FA for {who} (Active)."
    disable.__doc__ = f"Stop challenging {who} (Inactive); their entries are kept."
    status.__doc__ = f"Show whether 2FA is Active for {who}."
    return app
