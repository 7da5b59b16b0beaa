"""``twofa config``: System Configuration and the settings of config.toml."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from twofa_cli.cli.output import JsonOpt, emit, note, plain, twofa

if TYPE_CHECKING:
    from twofa_cli.api import Configuration, Setting

app = typer.Typer(help="System configuration: the company name and every config.toml setting.",
                  no_args_is_help=True)

COMPANY_NAME = "company-name"
STORED = (COMPANY_NAME, "customer-allowed", "admin-allowed")  # kept in the store, not config.toml
KeyArg = Annotated[str, typer.Argument(
    help="company-name, or a config.toml key by dotted name (delivery.mode, codes.ttl_seconds, "
         "sms.allowed_countries, …); `config get` also reads customer-allowed, admin-allowed "
         "and home.", metavar="KEY")]


def _home(ctx: typer.Context) -> str | None:
    return ctx.find_root().obj.home


def _stored(configuration: Configuration) -> dict[str, str]:
    """What the store keeps, by the names `config get` takes."""
    from twofa_cli.cli.policy import allowed_text

    return dict(zip(STORED, (configuration.company_name, allowed_text(configuration.customer),
                             allowed_text(configuration.admin)), strict=True))


def _overridden(setting: Setting) -> None:
    if setting.source.startswith("environment"):
        note(f"Note: {setting.source.removeprefix('environment ')} overrides this setting "
             "while it is set.")


@app.command("set")
def set_(ctx: typer.Context, key: KeyArg,
         value: Annotated[str, typer.Argument(help="New value; lists are comma-separated.")],
         json_: JsonOpt = False) -> None:
    """Set a setting, e.g. `twofa config set company-name "Acme Events"` or
    `twofa config set delivery.mode live`."""
    from twofa_cli.api import Setting, TwoFactor

    if key == COMPANY_NAME:  # kept in the store, not in config.toml
        name = twofa(ctx).set_company_name(value)
        emit(plain(Setting(key=key, value=name, source="store")), as_json=json_)
        return

    setting = TwoFactor.set_setting(key, value, _home(ctx))
    emit(plain(setting), as_json=json_)
    if not json_:
        _overridden(setting)


@app.command("get")
def get(ctx: typer.Context, key: KeyArg, json_: JsonOpt = False) -> None:
    """Print one setting's effective value (--json adds where it comes from)."""
    from twofa_cli.api import Setting, TwoFactor

    if key in STORED:  # kept in the store, not in config.toml
        value = _stored(twofa(ctx).configuration())[key]
        emit(plain(Setting(key=key, value=value, source="store")) if json_ else value,
             as_json=json_)
        return

    setting = TwoFactor.setting(key, _home(ctx))
    value = setting.value
    emit(plain(setting) if json_ else ", ".join(value) if isinstance(value, list) else str(value),
         as_json=json_)


@app.command("unset")
def unset(ctx: typer.Context, key: KeyArg, json_: JsonOpt = False) -> None:
    """Remove a key from config.toml, so its default applies again."""
    from twofa_cli.api import TwoFactor

    if key == COMPANY_NAME:
        from twofa_cli.errors import BadInput

        raise BadInput("the company name cannot be unset: give it another value with "
                       "`twofa config set company-name NAME`")
    setting = TwoFactor.unset_setting(key, _home(ctx))
    emit(plain(setting), as_json=json_)
    if not json_:
        _overridden(setting)


@app.command("show")
def show(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show the company name, the 2FA policy and every setting with where it comes from
    (secrets masked)."""
    shown = twofa(ctx).configuration()
    stored = _stored(shown)
    if json_:
        sources = {setting.key: setting.source for setting in shown.sources}
        emit({**stored, **shown.settings, "sources": sources}, as_json=True)
        return
    rows = [{"setting": key, "value": value, "source": "store"} for key, value in stored.items()]
    rows += [{"setting": s.key, "value": s.value, "source": s.source} for s in shown.sources]
    emit(rows, as_json=False, title="twofa configuration",
         columns=[("setting", "Setting"), ("value", "Value"), ("source", "Source")])
