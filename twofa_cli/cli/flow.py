"""The customer's side: enrol, verify, Send New Code, log in."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from twofa_cli.cli.accounts import PasswordStdinOpt, read_password
from twofa_cli.cli.output import JsonOpt, emit, note, plain, twofa
from twofa_cli.errors import BadInput, Rejected

if TYPE_CHECKING:
    from twofa_cli.api import CodeSent, SecretIssued, TwoFactor, Verification

RECOVERY_CODES_LOW = 2  # a use that leaves this many or fewer warns
AccountArg = Annotated[str, typer.Argument(help="Account id or email.", metavar="A")]
DeviceOpt = Annotated[str, typer.Option("--device", help="Simulated browser that keeps the cookie.")]


def _code_sent(sent: CodeSent, api: TwoFactor, as_json: bool, *, login: bool = False) -> None:
    from twofa_cli.cli.documents import CodeSentDocument, LoginCodeSent

    shown = dict(status="code_sent", challenge_id=sent.challenge_id, expires_at=sent.expires_at,
                 destination=sent.destination, sent_at=sent.sent_at)
    # Only a login can find a code already on its way.
    document = LoginCodeSent(**shown, reused=sent.reused) if login else CodeSentDocument(**shown)
    emit(plain(document), as_json=as_json,
         title="Code already sent" if sent.reused else "Code sent")
    if as_json:
        return
    if sent.reused:
        note(f"No new code was sent: the code sent at {sent.sent_at:%H:%M:%S %Z} to "
             f"{sent.destination} still works (until {sent.expires_at:%H:%M:%S %Z}).")
    if api.simulated:
        note("Simulate mode: the code is in the outbox (`twofa outbox`).")


def enroll(
    ctx: typer.Context,
    account: AccountArg,
    method: Annotated[str, typer.Option("--method", help="Secondary auth id or title.")],
    phone: Annotated[str | None, typer.Option("--phone", help="Phone number in E.164 (SMS methods).",
                                              show_default=False)] = None,
    email: Annotated[str | None, typer.Option("--email", help="Email address (email methods).",
                                              show_default=False)] = None,
    qr_png: Annotated[Path | None, typer.Option(
        "--qr-png", help="Authenticator app: also write the QR code to this PNG file.",
        show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Start enrolling a 2FA method: sends a code to the phone or email (Send Code), or
    shows an authenticator app's QR code.

    \b
    Example:
      twofa enroll alice@example.com --method "Text message" --phone +14155550199
      twofa enroll alice@example.com --method "Authenticator app" --qr-png alice.png
    """
    from twofa_cli.api import SecretIssued

    api = twofa(ctx)
    started = api.enroll(account, method=method, phone=phone, email=email)
    if isinstance(started, SecretIssued):
        _secret_issued(started, qr_png, json_)
        return
    if qr_png is not None:
        raise BadInput("--qr-png is for an authenticator app")
    _code_sent(started, api, json_)


def _secret_issued(issued: SecretIssued, qr_png: Path | None, as_json: bool) -> None:
    if qr_png is not None:
        from twofa_cli.security import write_private_file

        try:
            write_private_file(qr_png, issued.qr_png())
        except OSError as exc:
            raise Rejected(f"cannot write {qr_png}: {exc.strerror or exc}") from None
    from twofa_cli.cli.documents import SecretIssuedDocument

    data = plain(SecretIssuedDocument(status="secret_issued", challenge_id=issued.challenge_id,
                                      otpauth_uri=issued.otpauth_uri, secret=issued.secret))
    if as_json:
        emit(data, as_json=True)
        return
    # The picture is for a person: piped stdout holds only the rows (contract).
    typer.echo(issued.qr_text(), err=True)
    emit(data, as_json=False, title="Scan with the authenticator app")
    note("Then enter the code the app shows: `twofa verify ACCOUNT CODE`.")


def verify(
    ctx: typer.Context,
    account: AccountArg,
    code: Annotated[str, typer.Argument(help="The code that was sent, or the app's.",
                                        metavar="CODE", show_default=False)] = "",
    trust_device: Annotated[bool, typer.Option("--trust-device",
                                               help="Trust this device: skip codes here for a while.")] = False,
    device: DeviceOpt = "default",
    recovery_code: Annotated[str | None, typer.Option(
        "--recovery-code", help="Complete a login with a recovery code instead (once).",
        show_default=False)] = None,
    json_: JsonOpt = False,
) -> None:
    """Enter the code: completes the pending enrollment or login.

    \b
    Example:
      twofa verify alice@example.com 123456 --trust-device --device laptop
      twofa verify alice@example.com --recovery-code 7hq2m-x9kfa
    """
    if bool(code) == (recovery_code is not None):
        raise BadInput("give the CODE or --recovery-code")
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

    account_id = api.account(account).id
    result = api.verify(account_id, code, session_token=browser.session(account_id),
                        trust_device=trust_device, device_name=device, keep_token=keep_cookie,
                        recovery_code=recovery_code)
    if result.session_token:
        browser.set_session(account_id, result.session_token)
    _verified(result, json_)


def _verified(result: Verification, as_json: bool) -> None:
    from twofa_cli.cli.documents import VerifiedDocument

    remaining = result.recovery_codes_remaining
    warning = None
    if remaining is not None and remaining <= RECOVERY_CODES_LOW:
        warning = (f"only {remaining} recovery codes left: make a new set with "
                   "`twofa recovery-codes generate`")
    document = VerifiedDocument(
        status=result.status, entry_id=result.entry_id, trusted_device=result.trusted_device,
        account_id=result.account_id, recovery_codes=result.recovery_codes or None,
        recovery_codes_remaining=remaining, warning=warning)
    emit(plain(document), as_json=as_json, title="Verified")
    if not as_json and result.recovery_codes:
        note("Keep the recovery codes somewhere safe: they are shown only this once.")
    if not as_json and warning:
        note(f"Warning: {warning}.")


def resend(ctx: typer.Context, account: AccountArg, json_: JsonOpt = False) -> None:
    """Send New Code: a fresh code for the pending challenge; the old one stops working."""
    api = twofa(ctx)
    _code_sent(api.resend(account), api, json_)


def login(
    ctx: typer.Context,
    account: AccountArg,
    password_stdin: PasswordStdinOpt = False,
    device: DeviceOpt = "default",
    method: Annotated[str | None, typer.Option(
        "--method", help="Use the entry of this method (id or title), not the preferred one.",
        show_default=False)] = None,
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
    result = api.login(account, password, cookie=browser.cookie, method=method, client="cli",
                       device_name=device)
    # The session's token stays in the simulated browser, as a cookie would: `verify`
    # completes it, `logout` ends it.
    browser.set_session(result.account.id, result.session_token)
    from twofa_cli.cli.documents import CodeRequiredDocument, LoginWithoutCode

    if result.code is not None:
        _code_sent(result.code, api, json_, login=True)
    elif result.required is not None:
        emit(plain(CodeRequiredDocument(status="code_required",
                                        challenge_id=result.required.challenge_id,
                                        method=result.required.method)),
             as_json=json_, title="Code required")
        if not json_:
            note("Enter the code your authenticator app shows: `twofa verify ACCOUNT CODE`.")
    elif result.status == "passkey_required":  # a terminal cannot run the ceremony
        emit(plain(LoginWithoutCode(status="passkey_required", reason=None)), as_json=json_,
             title="Passkey required")
        if not json_:
            note("This account signs in with a passkey: use a browser, or a recovery code "
                 "(`twofa verify ACCOUNT --recovery-code CODE`).")
    else:
        emit(plain(LoginWithoutCode(status="authenticated", reason=result.reason)),
             as_json=json_, title="Logged in")


def logout(ctx: typer.Context, account: AccountArg, device: DeviceOpt = "default",
           json_: JsonOpt = False) -> None:
    """Log out: end the simulated browser's session of the account in the store."""
    from twofa_cli.browser import Browser

    api = twofa(ctx)
    browser = Browser(api.home, device)
    account_id = api.account(account).id
    token = browser.session(account_id)
    ended = api.logout(token) if token else False
    browser.set_session(account_id, None)
    if json_:
        from twofa_cli.cli.documents import LoggedOut

        emit(plain(LoggedOut(account_id=account_id, device=device, ended=ended)), as_json=True)
    else:
        note("Logged out." if ended else f"{device!r} had no live session of this account.")
