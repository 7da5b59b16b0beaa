"""The customer's side: enrol, verify, Send New Code, log in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from twofa_cli.cli.accounts import PasswordStdinOpt, read_password
from twofa_cli.cli.output import JsonOpt, emit, note, plain, twofa
from twofa_cli.errors import Rejected

if TYPE_CHECKING:
    from twofa_cli.api import CodeSent, TwoFactor

AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]
DeviceOpt = Annotated[str, typer.Option("--device", help="Simulated browser that keeps the cookie.")]


def _code_sent(sent: CodeSent, api: TwoFactor, as_json: bool) -> None:
    emit({"status": "code_sent", **plain(sent)}, as_json=as_json, title="Code sent")
    if not as_json and api.simulated:
        note("Simulate mode: the code is in the outbox (`twofa outbox`).")


def enroll(
    ctx: typer.Context,
    account: AccountArg,
    method: Annotated[str, typer.Option("--method", help="Secondary auth id or title.")],
    phone: Annotated[str | None, typer.Option("--phone", help="Phone number in E.164 (SMS methods).",
                                              show_default=False)] = None,
    email: Annotated[str | None, typer.Option("--email", help="Email address (email methods).",
                                              show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Start enrolling a 2FA method: sends a code to the phone or email (Send Code).

    \b
    Example:
      twofa enroll alice@example.com --method "Text message" --phone +14155550199
    """
    api = twofa(ctx)
    _code_sent(api.enroll(account, method=method, phone=phone, email=email), api, json_)


def verify(
    ctx: typer.Context,
    account: AccountArg,
    code: Annotated[str, typer.Argument(help="The code that was sent.", metavar="CODE")],
    trust_device: Annotated[bool, typer.Option("--trust-device",
                                               help="Trust this device: skip codes here for a while.")] = False,
    device: DeviceOpt = "default",
    json_: JsonOpt = False,
) -> None:
    """Enter the code: completes the pending enrollment or login.

    \b
    Example:
      twofa verify alice@example.com 123456 --trust-device --device laptop
    """
    from twofa_cli.browser import Browser

    api = twofa(ctx)
    browser = Browser(api.home, device)

    def keep_cookie(account_id: int, token: str) -> None:
        # Called before the store commits: a cookie that cannot be written trusts nothing.
        try:
            browser.set_cookie(account_id, token)
        except OSError as exc:
            raise Rejected(f"cannot keep the trusted-device cookie in {browser.path}: "
                           f"{exc.strerror or exc}; nothing was changed") from None

    result = api.verify(account, code, trust_device=trust_device, device_name=device,
                        keep_token=keep_cookie)
    emit({"status": result.status, "entry_id": result.entry_id,
          "trusted_device": result.trusted_device, "account_id": result.account_id},
         as_json=json_, title="Verified")


def resend(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """Send New Code: a fresh code for the pending challenge; the old one stops working."""
    api = twofa(ctx)
    _code_sent(api.resend(account), api, json_)


def login(
    ctx: typer.Context,
    account: AccountArg,
    password_stdin: PasswordStdinOpt = False,
    device: DeviceOpt = "default",
    json_: JsonOpt = False,
) -> None:
    """Log in as normal: password, then a code unless this device is trusted.

    \b
    Example:
      printf '%s\\n' "$PASSWORD" | twofa login alice@example.com --password-stdin --device laptop
    """
    from twofa_cli.browser import Browser

    api = twofa(ctx)
    browser = Browser(api.home, device)
    password = read_password(password_stdin, confirm=False)
    # The cookie is read once the password is right: before, an unknown account and a
    # wrong password must cost alike (no lookup, no file read for one of them only).
    result = api.login(account, password, cookie=browser.cookie)
    if result.code is not None:
        _code_sent(result.code, api, json_)
    else:
        emit({"status": result.status, "challenge_id": None, "expires_at": None,
              "destination": None, "reason": result.reason}, as_json=json_, title="Logged in")
