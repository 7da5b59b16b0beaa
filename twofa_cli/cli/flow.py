"""The customer's side: enrol, verify, Send New Code, log in."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.cli.accounts import PasswordStdinOpt, read_password
from twofa_cli.cli.output import JsonOpt, emit, note, runtime
from twofa_cli.errors import Rejected

AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]
DeviceOpt = Annotated[str, typer.Option("--device", help="Simulated browser that keeps the cookie.")]


def _code_sent(result: dict, rt, as_json: bool) -> None:
    emit(result, as_json=as_json, title="Code sent")
    if not as_json and rt.settings.delivery.mode == "simulate":
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
    from twofa_cli.services.enrollment import enroll as start

    rt = runtime(ctx)
    _code_sent(start(rt, account, method=method, phone=phone, email=email), rt, json_)


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
    from twofa_cli.services.challenges import verify as check

    rt = runtime(ctx)
    browser = Browser(rt.settings.home, device)

    def keep_cookie(account_id: int, token: str) -> None:
        # Called before the store commits: a cookie that cannot be written trusts nothing.
        try:
            browser.set_cookie(account_id, token)
        except OSError as exc:
            raise Rejected(f"cannot keep the trusted-device cookie in {browser.path}: "
                           f"{exc.strerror or exc}; nothing was changed") from None

    result = check(rt, account, code, trust_device=trust_device, device=device,
                   keep_token=keep_cookie)
    emit(result.public(), as_json=json_, title="Verified")


def resend(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """Send New Code: a fresh code for the pending challenge; the old one stops working."""
    from twofa_cli.services.challenges import resend as send_again

    rt = runtime(ctx)
    _code_sent(send_again(rt, account), rt, json_)


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
    from twofa_cli.services.login import login as log_in

    rt = runtime(ctx)
    browser = Browser(rt.settings.home, device)
    password = read_password(password_stdin, confirm=False)
    # The cookie is read once the password is right: before, an unknown account and a
    # wrong password must cost alike (no lookup, no file read for one of them only).
    result = log_in(rt, account, password, cookie=browser.cookie)
    if result["status"] == "code_sent":
        _code_sent(result, rt, json_)
    else:
        emit(result, as_json=json_, title="Logged in")
