"""``twofa provider``: the Services Manager."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.api import Provider
from twofa_cli.cli.output import (
    ExistOkOpt,
    JsonOpt,
    YesOpt,
    columns_of,
    confirm,
    emit,
    note,
    plain,
    read_secret,
    twofa,
)

app = typer.Typer(help="Service providers that deliver codes: SMTP relay, Twilio, Cdyne.",
                  no_args_is_help=True)
add_app = typer.Typer(
    help="Add a service provider.\n\n\b\nExample:\n  twofa provider add configio smtp --title \"Email\"",
    no_args_is_help=True)
configio_app = typer.Typer(help="Add the platform's own (Configio) provider.", no_args_is_help=True)
custom_app = typer.Typer(help="Add a custom SMS provider with your own account.", no_args_is_help=True)
app.add_typer(add_app, name="add")
add_app.add_typer(configio_app, name="configio")
add_app.add_typer(custom_app, name="custom")

COLUMNS = columns_of(Provider)

ProviderArg = Annotated[str, typer.Argument(help="Provider id or title.", metavar="P")]
TitleOpt = Annotated[str, typer.Option("--title", help="Name shown to admins.")]
AccountSidOpt = Annotated[str | None, typer.Option("--account-sid", help="Twilio Account SID (AC…).",
                                                   show_default=False)]
AuthTokenOpt = Annotated[str | None, typer.Option(
    "--auth-token", help="Twilio Auth Token (prefer --auth-token-stdin: options show in `ps`).",
    show_default=False)]
AuthTokenStdinOpt = Annotated[bool, typer.Option("--auth-token-stdin",
                                                 help="Read the Auth Token from standard input.")]
FromNumberOpt = Annotated[str | None, typer.Option("--from-number", help="Sender number in E.164.",
                                                   show_default=False)]
MessagingServiceOpt = Annotated[str | None, typer.Option(
    "--messaging-service-sid", help="Twilio Messaging Service SID (MG…), instead of --from-number.",
    show_default=False)]
LicenseKeyOpt = Annotated[str | None, typer.Option(
    "--license-key", help="Cdyne License Key (prefer --license-key-stdin).", show_default=False)]
LicenseKeyStdinOpt = Annotated[bool, typer.Option("--license-key-stdin",
                                                  help="Read the License Key from standard input.")]
BaseUrlOpt = Annotated[str | None, typer.Option(
    "--api-base-url", help="Provider API base URL (for proxies and tests).", show_default=False)]


def _credential(value: str | None, from_stdin: bool, option: str, prompt: str, *,
                ask: bool = True) -> str | None:
    """A credential from ``--OPTION`` or ``--OPTION-stdin`` (never both); prompts if ``ask``."""
    if value is not None and from_stdin:
        from twofa_cli.errors import BadInput

        raise BadInput(f"give {option} or {option}-stdin, not both")
    if value is None and not from_stdin and not ask:
        return None
    return read_secret(value, from_stdin, prompt)


def _add(ctx: typer.Context, channel: str, title: str, options: dict, as_json: bool,
         exist_ok: bool) -> None:
    provider = twofa(ctx).add_provider(channel, title=title, options=options, exist_ok=exist_ok)
    emit(plain(provider), as_json=as_json, columns=COLUMNS, title="Provider added")


@configio_app.command("smtp")
def add_smtp(ctx: typer.Context, title: TitleOpt = "Email", exist_ok: ExistOkOpt = False,
             json_: JsonOpt = False) -> None:
    """Email codes through the platform's SMTP relay ([smtp] in config.toml).

    \b
    Example:
      twofa provider add configio smtp --title "Email" --exist-ok
    """
    _add(ctx, "smtp", title, {}, json_, exist_ok)


@custom_app.command("twilio")
def add_twilio(
    ctx: typer.Context,
    title: TitleOpt,
    account_sid: Annotated[str, typer.Option("--account-sid", help="Twilio Account SID (AC…).")],
    auth_token: AuthTokenOpt = None,
    auth_token_stdin: AuthTokenStdinOpt = False,
    from_number: FromNumberOpt = None,
    messaging_service_sid: MessagingServiceOpt = None,
    api_base_url: BaseUrlOpt = None,
    exist_ok: ExistOkOpt = False,
    json_: JsonOpt = False,
) -> None:
    """SMS codes through your Twilio account (see `twofa provider instructions twilio`).

    \b
    Example:
      printf '%s\\n' "$TWILIO_AUTH_TOKEN" | twofa provider add custom twilio --title "SMS" \\
        --account-sid AC… --auth-token-stdin --from-number +14155550123
    """
    token = _credential(auth_token, auth_token_stdin, "--auth-token", "Twilio Auth Token")
    options = {"account_sid": account_sid, "auth_token": token, "from_number": from_number,
               "messaging_service_sid": messaging_service_sid, "api_base_url": api_base_url}
    _add(ctx, "twilio", title, options, json_, exist_ok)


@custom_app.command("cdyne")
def add_cdyne(
    ctx: typer.Context,
    title: TitleOpt,
    license_key: LicenseKeyOpt = None,
    license_key_stdin: LicenseKeyStdinOpt = False,
    from_number: FromNumberOpt = None,
    api_base_url: BaseUrlOpt = None,
    exist_ok: ExistOkOpt = False,
    json_: JsonOpt = False,
) -> None:
    """SMS codes through your Cdyne account (see `twofa provider instructions cdyne`).

    \b
    Example:
      printf '%s\\n' "$CDYNE_LICENSE_KEY" | twofa provider add custom cdyne \\
        --title "Cdyne SMS" --license-key-stdin --from-number +14155550123
    """
    key = _credential(license_key, license_key_stdin, "--license-key", "Cdyne License Key")
    options = {"license_key": key, "from_number": from_number, "api_base_url": api_base_url}
    _add(ctx, "cdyne", title, options, json_, exist_ok)


@app.command("instructions")
def instructions(
    channel: Annotated[str, typer.Argument(help="twilio, cdyne or smtp.", metavar="CHANNEL")],
    json_: JsonOpt = False,
) -> None:
    """The setup steps to follow at the vendor before adding a provider."""
    from twofa_cli.api import TwoFactor

    steps = TwoFactor.instructions(channel.lower())
    emit(plain(steps) if json_ else steps.instructions, as_json=json_)


@app.command("list")
def list_(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List service providers (credentials masked)."""
    emit(plain(twofa(ctx).providers()), as_json=json_, columns=COLUMNS, title="Providers")


@app.command("show")
def show(ctx: typer.Context, provider: ProviderArg, json_: JsonOpt = False) -> None:
    """Show one provider (credentials masked) and the secondary auth that uses it."""
    emit(plain(twofa(ctx).provider(provider)), as_json=json_, columns=COLUMNS, title="Provider")


@app.command("update")
def update(
    ctx: typer.Context,
    provider: ProviderArg,
    title: Annotated[str | None, typer.Option("--title", help="New title.", show_default=False)] = None,
    account_sid: AccountSidOpt = None,
    auth_token: AuthTokenOpt = None,
    auth_token_stdin: AuthTokenStdinOpt = False,
    from_number: FromNumberOpt = None,
    messaging_service_sid: MessagingServiceOpt = None,
    license_key: LicenseKeyOpt = None,
    license_key_stdin: LicenseKeyStdinOpt = False,
    api_base_url: BaseUrlOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Change a provider's title or options; credentials are re-validated and re-encrypted."""
    options = {
        "account_sid": account_sid,
        "auth_token": _credential(auth_token, auth_token_stdin, "--auth-token", "Auth Token",
                                  ask=False),
        "from_number": from_number,
        "messaging_service_sid": messaging_service_sid,
        "license_key": _credential(license_key, license_key_stdin, "--license-key", "License Key",
                                   ask=False),
        "api_base_url": api_base_url,
    }
    updated = twofa(ctx).update_provider(provider, title=title, options=options)
    emit(plain(updated), as_json=json_, columns=COLUMNS, title="Provider updated")


@app.command("delete")
@app.command("remove", hidden=True)
def remove(ctx: typer.Context, provider: ProviderArg, yes: YesOpt = False, json_: JsonOpt = False) -> None:
    """Remove a provider; with --yes also the secondary auth (and its entries) that use it."""
    api = twofa(ctx)
    usage = api.provider_usage(provider)
    if usage.secondary_auth:
        titles = ", ".join(repr(s.title) for s in usage.secondary_auth)
        confirm(f"Provider {usage.provider.title!r} is used by secondary auth {titles}; "
                "remove them and their customers' entries too?", yes=yes, as_json=json_)
    result = api.remove_provider(provider, cascade=bool(usage.secondary_auth))
    if json_:
        emit(plain(result), as_json=True)
        return
    note(f"Removed provider {result.provider.title!r} (id {result.provider.id}).")
    for method in result.secondary_auth_removed:
        note(f"Removed secondary auth {method.title!r} (id {method.id}) "
             f"and {method.entries_removed} customer entries.")


@app.command("test")
def test(
    ctx: typer.Context,
    provider: ProviderArg,
    to: Annotated[str, typer.Option("--to", help="Phone number (E.164) or email address.")],
    live: Annotated[bool, typer.Option("--live", help="Send for real even in simulate mode.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Send a test message through a provider and print the receipt."""
    receipt = twofa(ctx).test_provider(provider, to=to, live=live)
    emit(plain(receipt), as_json=json_, title="Test message")
    if not json_ and receipt.mode == "simulate":
        note("Simulate mode: the message went to the outbox (`twofa outbox`); use --live to send it.")
