"""``twofa config``: System Configuration and the settings of config.toml."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.cli.output import JsonOpt, emit, note, runtime

app = typer.Typer(help="System configuration: the company name and every config.toml setting.",
                  no_args_is_help=True)

COMPANY_NAME = "company-name"
KeyArg = Annotated[str, typer.Argument(
    help="company-name, or a config.toml key by dotted name (delivery.mode, codes.ttl_seconds, "
         "sms.allowed_countries, …).", metavar="KEY")]


def _home(ctx: typer.Context) -> str | None:
    return ctx.find_root().obj.home


def _overridden(result: dict) -> None:
    if result["source"].startswith("environment"):
        note(f"Note: {result['source'].removeprefix('environment ')} overrides this setting "
             "while it is set.")


@app.command("set")
def set_(ctx: typer.Context, key: KeyArg,
         value: Annotated[str, typer.Argument(help="New value; lists are comma-separated.")],
         json_: JsonOpt = False) -> None:
    """Set a setting, e.g. `twofa config set company-name "Acme Events"` or
    `twofa config set delivery.mode live`."""
    if key == COMPANY_NAME:
        from twofa_cli.services import system

        emit({"key": key, "value": system.set_company_name(runtime(ctx), value)}, as_json=json_)
        return
    from twofa_cli.services.configuration import set_setting

    result = set_setting(_home(ctx), key, value)
    emit(result, as_json=json_)
    if not json_:
        _overridden(result)


@app.command("get")
def get(ctx: typer.Context, key: KeyArg, json_: JsonOpt = False) -> None:
    """Print one setting's effective value (--json adds where it comes from)."""
    if key == COMPANY_NAME:
        from twofa_cli.services import system

        value = system.get_company_name(runtime(ctx))
        emit({"key": key, "value": value} if json_ else value, as_json=json_)
        return
    from twofa_cli.services.configuration import get_setting

    result = get_setting(_home(ctx), key)
    value = result["value"]
    emit(result if json_ else ", ".join(value) if isinstance(value, list) else str(value),
         as_json=json_)


@app.command("unset")
def unset(ctx: typer.Context, key: KeyArg, json_: JsonOpt = False) -> None:
    """Remove a key from config.toml, so its default applies again."""
    from twofa_cli.services.configuration import unset_setting

    if key == COMPANY_NAME:
        from twofa_cli.errors import BadInput

        raise BadInput("the company name cannot be unset: give it another value with "
                       "`twofa config set company-name NAME`")
    result = unset_setting(_home(ctx), key)
    emit(result, as_json=json_)
    if not json_:
        _overridden(result)


@app.command("show")
def show(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show the company name, the 2FA policy and every setting with where it comes from
    (secrets masked)."""
    from twofa_cli.config import load_layers
    from twofa_cli.services import system
    from twofa_cli.services.configuration import describe

    rt = runtime(ctx)
    settings = describe(rt.settings, load_layers(rt.settings.home))
    stored = {
        "company_name": system.get_company_name(rt),
        "customer": system.policy_status(rt, "customer")["allowed"],
        "admin": system.policy_status(rt, "admin")["allowed"],
    }
    if json_:
        sources = {row["setting"]: row["source"] for row in settings}
        emit({**stored, **rt.settings.public(), "sources": sources}, as_json=True)
        return
    rows = [{"setting": key, "value": value, "source": "store"} for key, value in stored.items()]
    emit(rows + settings, as_json=False, title="twofa configuration",
         columns=[("setting", "Setting"), ("value", "Value"), ("source", "Source")])
