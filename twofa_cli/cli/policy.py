"""``twofa customer`` and ``twofa admin``: the "Allowed: Active/Inactive" toggle."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import typer

from twofa_cli.cli.documents import PolicyShown
from twofa_cli.cli.output import JsonOpt, emit, note, plain, twofa

if TYPE_CHECKING:
    from twofa_cli.api import Audience, Policy


def allowed_text(policy: Policy) -> Literal["Active", "Inactive"]:
    return "Active" if policy.active else "Inactive"


def make_app(audience: Audience) -> typer.Typer:
    who = "customers" if audience == "customer" else "administrators"
    app = typer.Typer(help=f"Two-factor authentication for {who}: Active or Inactive.",
                      no_args_is_help=True)

    def _show(policy: Policy, as_json: bool) -> None:
        shown = PolicyShown(audience=policy.audience, allowed=allowed_text(policy),
                            active=policy.active, secondary_auth_providers=policy.methods)
        emit(plain(shown), as_json=as_json, title=f"2FA for {who}")

    @app.command("enable")
    def enable(ctx: typer.Context, json_: JsonOpt = False) -> None:
        policy = twofa(ctx).set_allowed(audience, True)
        _show(policy, json_)
        if not policy.methods:
            note(f"Warning: no secondary auth provider exists yet, so {who} cannot enrol; "
                 "add one with `twofa secondary-auth add`.")

    @app.command("disable")
    def disable(ctx: typer.Context, json_: JsonOpt = False) -> None:
        _show(twofa(ctx).set_allowed(audience, False), json_)

    @app.command("status")
    def status(ctx: typer.Context, json_: JsonOpt = False) -> None:
        _show(twofa(ctx).allowed(audience), json_)

    enable.__doc__ = f"Allow 2FA for {who} (Active)."
    disable.__doc__ = f"Stop challenging {who} (Inactive); their entries are kept."
    status.__doc__ = f"Show whether 2FA is Active for {who}."
    return app
