"""``twofa config``: System Configuration."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.cli.output import JsonOpt, emit, runtime

app = typer.Typer(help="System configuration: the company name and the effective settings.",
                  no_args_is_help=True)

KEYS = ("company-name",)
KeyArg = Annotated[str, typer.Argument(help="Setting to change: company-name.", metavar="KEY")]


def _check_key(key: str) -> None:
    if key not in KEYS:
        from twofa_cli.errors import BadInput

        raise BadInput(f"unknown setting {key[:40]!r}: choose from {', '.join(KEYS)}")


@app.command("set")
def set_(ctx: typer.Context, key: KeyArg, value: str, json_: JsonOpt = False) -> None:
    """Set a setting, e.g. `twofa config set company-name "Acme Events"`."""
    from twofa_cli.services import system

    _check_key(key)
    name = system.set_company_name(runtime(ctx), value)
    emit({"key": key, "value": name}, as_json=json_)


@app.command("get")
def get(ctx: typer.Context, key: KeyArg, json_: JsonOpt = False) -> None:
    """Print one setting."""
    from twofa_cli.services import system

    _check_key(key)
    value = system.get_company_name(runtime(ctx))
    emit({"key": key, "value": value} if json_ else value, as_json=json_)


@app.command("show")
def show(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show the company name, the 2FA policy and the effective deployment config (secrets masked)."""
    from twofa_cli.services import system

    rt = runtime(ctx)
    data = {
        "company_name": system.get_company_name(rt),
        "customer": system.policy_status(rt, "customer")["allowed"],
        "admin": system.policy_status(rt, "admin")["allowed"],
        **rt.settings.public(),
    }
    emit(data, as_json=json_, title="twofa configuration")
