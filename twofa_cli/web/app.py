"""``twofa serve``: a reference shop integration of the customer's flow, on the library API.

Each route reads its form, calls one method of ``TwoFactor`` and renders one template;
every rule of 2FA, sessions included, lives in the library. Routes are plain module-level
functions: Starlette runs them in its thread pool, and the one ``TwoFactor`` in
``app.state`` serves all those threads. The login session is the library's (in the
store): the ``twofa_session`` cookie carries its opaque token, so a logout, a password
change or a revocation anywhere ends it here too, and several processes or hosts on one
store honour each other's sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from twofa_cli.api import (
    Conflict,
    DatabaseUnavailable,
    DeliveryFailed,
    NotFound,
    PasswordRequired,
    Rejected,
    SecretIssued,
    Session,
    Throttled,
    TwoFactor,
    TwofaError,
    Verification,
)
from twofa_cli.web import flash, hooks
from twofa_cli.web.access_log import AccessLog
from twofa_cli.web.messages import About, customer_text
from twofa_cli.web.security import (
    SESSION_COOKIE, SecurityMiddleware, add_headers, csrf_token, form,
)

HERE = Path(__file__).parent
TRUSTED_COOKIE = "twofa_trusted"
DEVICE_NAME = "web browser"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["csrf_token"] = csrf_token

# The one map from the library's errors to HTTP statuses (the CLI maps them to exit codes).
STATUS = [
    (Throttled, 429),
    (DeliveryFailed, 502),
    (DatabaseUnavailable, 503),
    (NotFound, 404),
    (Conflict, 409),
    (Rejected, 401),  # wrong password or code, nothing pending, 2FA off
    (TwofaError, 400),  # BadInput and the rest
]

# What a redirect's ``?done=`` says on the next page: fixed texts, nothing echoed.
NOTICES = {
    "sent": "A new code was sent.",
    "enrolled": "Two-factor authentication is on for your account.",
    "deleted": "The entry was deleted.",
    "passkey": "The passkey was added.",
    "revoked": "Your trusted devices were forgotten: the next login asks for a code.",
}


def status_of(error: TwofaError) -> int:
    return next(status for kind, status in STATUS if isinstance(error, kind))


def create_app(twofa: TwoFactor) -> Starlette:
    """The web pages on an open ``TwoFactor``; the caller keeps it open while serving."""
    from twofa_cli.web.admin import ROUTES as ADMIN_ROUTES  # it builds on this module

    app = Starlette(routes=[*ADMIN_ROUTES, *ROUTES, *hooks.ROUTES],
                    middleware=[Middleware(AccessLog),
                                Middleware(SecurityMiddleware, refuse=refuse)],
                    exception_handlers={HTTPException: http_error, TwofaError: library_error,
                                        Exception: server_error})
    app.state.twofa = twofa
    return app


# -- the pieces every route uses ----------------------------------------------------------


def library(request: Request) -> TwoFactor:
    twofa: TwoFactor = request.app.state.twofa
    return twofa


def page(request: Request, name: str, **context: Any) -> Response:
    """A page, with what the form that led here left to show once (web/flash.py): a
    refused form's words and status, or its result."""
    shown = flash.take(request)
    context = {**shown.get("context", {}), **context}
    context.update(error=shown.get("error"),
                   notice=NOTICES.get(request.query_params.get("done", "")),
                   brand=library(request).company_name() or "Shop")
    context.setdefault("signed_in", False)
    context.setdefault("passwordless", library(request).passwordless)
    headers = {"retry-after": str(shown["retry_after"])} if shown.get("retry_after") else None
    response = templates.TemplateResponse(request, name, context, headers=headers,
                                          status_code=shown.get("status", 200))
    flash.forget(request, response)
    return response


def refuse(request: Request, message: str, status: int) -> Response:
    return templates.TemplateResponse(request, "error.html",
                                      {"message": message, "signed_in": False},
                                      status_code=status)


def to(request: Request, location: str, *, session_token: str | None = None,
       verification: Verification | None = None, end_session: bool = False,
       **shown: Any) -> Response:
    """A redirect (303) that hands the browser its new cookies, if any, and what the page
    at ``location`` shows once (``shown``: its template's context)."""
    response = RedirectResponse(location, status_code=303)
    if shown:
        flash.keep(request, response, {"context": shown})
    if session_token:
        response.set_cookie(SESSION_COOKIE, session_token, path="/", secure=True, httponly=True,
                            samesite="lax")
    elif end_session:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True,
                               samesite="lax")
    return trusting(request, response, verification)


def refused(request: Request, location: str, error: TwofaError, about: About,
            **kept: Any) -> Response:
    """A refused form: back to its page (303), which shows the customer's words for the
    error once, with its status, and what was typed (``kept``) that is no secret."""
    response = RedirectResponse(location, status_code=303)
    retry_after = error.retry_after if isinstance(error, Throttled) else None
    flash.keep(request, response, {"error": customer_text(error, about),
                                   "status": status_of(error), "retry_after": retry_after,
                                   "context": kept})
    return response


def trusting(request: Request, response: Response, verification: Verification | None) -> Response:
    if verification is not None and verification.device_token:
        max_age = int(library(request).trusted_device_lifetime.total_seconds())
        response.set_cookie(TRUSTED_COOKIE, verification.device_token, max_age=max_age, path="/",
                            secure=True, httponly=True, samesite="lax")
    return response


def session_of(request: Request, state: str = "signed_in", *, cookie: str = SESSION_COOKIE,
               login: str = "/login") -> tuple[Session, str]:
    """The request's live session in ``state`` (from ``cookie``: the admin pages keep
    theirs apart) and its token; else to the ``login`` page."""
    token = request.scope["twofa.cookies"].get(cookie, "")
    try:
        session = library(request).session(token) if token else None
    except Rejected:
        session = None
    if session is None or session.state != state:
        raise HTTPException(303, headers={"location": login})
    return session, token


def step_up(request: Request) -> Response:
    """To the password page, which comes back to this page (a page of this site)."""
    return to(request, f"/account/confirm?next={quote(request.url.path, safe='/')}")


# -- logging in ---------------------------------------------------------------------------


def home(request: Request) -> Response:
    try:
        session_of(request)
    except HTTPException:
        return to(request, "/login")
    return to(request, "/account")


def login_page(request: Request) -> Response:
    return page(request, "login.html")


def login(request: Request) -> Response:
    fields = form(request)
    email = fields.get("email", "")
    twofa = library(request)
    try:
        result = twofa.login(email, fields.get("password", ""),
                             device_token=request.cookies.get(TRUSTED_COOKIE),
                             client=request.client.host if request.client else "",
                             device_name=DEVICE_NAME, email_only=True)
    except TwofaError as error:
        return refused(request, "/login", error, "login", email=email)
    if old := request.scope["twofa.cookies"].get(SESSION_COOKIE):
        twofa.logout(old)  # this browser's earlier session, if any, ends here
    if result.authenticated:
        return to(request, "/account", session_token=result.session_token)
    reused = "?reused=1" if result.code is not None and result.code.reused else ""
    return to(request, f"/login/code{reused}", session_token=result.session_token)


def login_code_page(request: Request) -> Response:
    """The code step of a login, with what was sent and when, from the store."""
    session, _ = session_of(request, "pending")
    twofa = library(request)
    passkey = any(e.kind == "passkey" for e in twofa.entries(session.account_id))
    return page(request, "login_code.html", passkey=passkey,
                pending=twofa.pending_code(session.account_id),
                reused=request.query_params.get("reused") == "1")


def login_verify(request: Request) -> Response:
    session, token = session_of(request, "pending")
    fields = form(request)
    try:
        verified = library(request).verify(
            session.account_id, fields.get("code", ""), session_token=token,
            trust_device=fields.get("trust") == "yes",
            device_token=request.cookies.get(TRUSTED_COOKIE), device_name=DEVICE_NAME)
    except TwofaError as error:
        return refused(request, "/login/code", error, "code")
    return to(request, "/account", session_token=verified.session_token, verification=verified)


def login_recovery(request: Request) -> Response:
    session, token = session_of(request, "pending")
    try:
        verified = library(request).verify(
            session.account_id, "", session_token=token,
            recovery_code=form(request).get("recovery_code", ""))
    except TwofaError as error:
        return refused(request, "/login/code", error, "recovery")
    return to(request, f"/account?recovery_left={verified.recovery_codes_remaining or 0}",
              session_token=verified.session_token)


def login_resend(request: Request) -> Response:
    session, _ = session_of(request, "pending")
    try:
        library(request).resend(session.account_id)
    except TwofaError as error:
        return refused(request, "/login/code", error, "resend")
    return to(request, "/login/code?done=sent")


def logout(request: Request) -> Response:
    if token := request.scope["twofa.cookies"].get(SESSION_COOKIE):
        library(request).logout(token)
    return to(request, "/login", end_session=True)


# -- Account Settings -----------------------------------------------------------------------


def account_page(request: Request) -> Response:
    session, _ = session_of(request)
    left = request.query_params.get("recovery_left", "")
    return page(request, "account.html", account=library(request).account(session.account_id),
                signed_in=True, recovery_left=int(left) if left.isdigit() and len(left) < 3 else None)


def two_factor_page(request: Request) -> Response:
    session, _ = session_of(request)
    twofa = library(request)
    methods = twofa.secondary_auths()
    chosen = request.query_params.get("method")
    selected = next((m for m in methods if str(m.id) == chosen), methods[0] if methods else None)
    pending = twofa.pending_code(session.account_id)
    issued = flash.take(request).get("context", {}).get("issued")
    return page(request, "two_factor.html", methods=methods, selected=selected,
                entries=twofa.entries(session.account_id), signed_in=True,
                pending=pending if pending and pending.purpose == "enroll" else None,
                issued=SecretIssued(**issued) if issued else None)


def enrolled(request: Request, verification: Verification | None,
             recovery_codes: Sequence[str]) -> Response:
    """Back to the two-factor page after an enrolment: a first factor's recovery codes are
    shown there once."""
    shown = {"recovery_codes": list(recovery_codes)} if recovery_codes else {}
    return to(request, "/account/two-factor?done=enrolled", verification=verification, **shown)


def enroll(request: Request) -> Response:
    session, _ = session_of(request)
    fields = form(request)
    method = fields.get("method", "")
    try:
        sent = library(request).enroll(session.account_id, method=method,
                                       phone=fields.get("phone"), email=fields.get("email"))
    except TwofaError as error:
        return refused(request, f"/account/two-factor?method={quote(method)}", error, "enroll")
    if isinstance(sent, SecretIssued):
        # Shown once by the next page; never in a URL, sealed in the flash cookie.
        return to(request, "/account/two-factor", issued={
            "challenge_id": sent.challenge_id, "otpauth_uri": sent.otpauth_uri,
            "secret": sent.secret})
    return to(request, "/account/two-factor")


def enroll_verify(request: Request) -> Response:
    session, _ = session_of(request)
    fields = form(request)
    try:
        verified = library(request).verify(
            session.account_id, fields.get("code", ""), trust_device=fields.get("trust") == "yes",
            device_token=request.cookies.get(TRUSTED_COOKIE), device_name=DEVICE_NAME)
    except TwofaError as error:
        return refused(request, "/account/two-factor", error, "code")
    return enrolled(request, verified, verified.recovery_codes)


def enroll_resend(request: Request) -> Response:
    session, _ = session_of(request)
    try:
        library(request).resend(session.account_id)
    except TwofaError as error:
        return refused(request, "/account/two-factor", error, "resend")
    return to(request, "/account/two-factor?done=sent")


def delete_entry_page(request: Request) -> Response:
    """The confirmation page of the delete icon (no script needed), after a step-up."""
    session, _ = session_of(request)
    if session.step_up_due:
        return step_up(request)
    entry_id = request.path_params["entry_id"]
    entries = library(request).entries(session.account_id)
    entry = next((e for e in entries if e.id == entry_id), None)
    if entry is None:
        raise HTTPException(404)
    devices = sum(d.state == "active" for d in library(request).trusted_devices(session.account_id))
    return page(request, "delete_entry.html", entry=entry, last=len(entries) == 1,
                devices=devices, signed_in=True)


def delete_entry(request: Request) -> Response:
    session, token = session_of(request)
    try:
        library(request).delete_entry(session.account_id, request.path_params["entry_id"],
                                      session_token=token)
    except PasswordRequired:
        return step_up(request)
    except TwofaError as error:
        return refused(request, "/account/two-factor", error, "delete")
    return to(request, "/account/two-factor?done=deleted")


def recovery_codes_page(request: Request) -> Response:
    session, _ = session_of(request)
    # New codes just made are shown even when that change used up the step-up.
    if session.step_up_due and not flash.take(request).get("context", {}).get("recovery_codes"):
        return step_up(request)
    left = library(request).recovery_codes_remaining(session.account_id)
    return page(request, "recovery_codes.html", remaining=left, signed_in=True)


def new_recovery_codes(request: Request) -> Response:
    session, token = session_of(request)
    try:
        codes = library(request).generate_recovery_codes(session.account_id, session_token=token)
    except PasswordRequired:
        return step_up(request)
    except TwofaError as error:
        return refused(request, "/account/two-factor/recovery-codes", error, "recovery_codes")
    return to(request, "/account/two-factor/recovery-codes", recovery_codes=codes)


def devices_page(request: Request) -> Response:
    session, _ = session_of(request)
    if session.step_up_due:
        return step_up(request)
    devices = [d for d in library(request).trusted_devices(session.account_id)
               if d.state == "active"]
    return page(request, "devices.html", devices=devices, signed_in=True)


def revoke_devices(request: Request) -> Response:
    session, token = session_of(request)
    try:
        library(request).revoke_device(session.account_id, every=True, session_token=token)
    except PasswordRequired:
        return step_up(request)
    return to(request, "/account/devices?done=revoked")


# -- the step-up --------------------------------------------------------------------------

# Where the password page may send the browser back to: this site's sensitive pages only.
STEP_UP_PAGES = ("/account/two-factor/entries/", "/account/two-factor/recovery-codes",
                 "/account/devices")


def _next(request: Request) -> str:
    wanted = request.query_params.get("next", "")
    safe = wanted.startswith(STEP_UP_PAGES) and all(c.isalnum() or c in "/-" for c in wanted)
    return wanted if safe and len(wanted) < 200 else "/account"


def confirm_page(request: Request) -> Response:
    session_of(request)
    return page(request, "confirm.html", next=_next(request), signed_in=True)


def confirm(request: Request) -> Response:
    _, token = session_of(request)
    try:
        library(request).confirm_password(token, form(request).get("password", ""))
    except TwofaError as error:
        return refused(request, f"/account/confirm?next={quote(_next(request), safe='/')}",
                       error, "confirm")
    return to(request, _next(request))


# -- errors: in words, never a stack trace --------------------------------------------------


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 303 and exc.headers:
        return RedirectResponse(exc.headers["location"], status_code=303)
    words = {404: "There is no such page.", 405: "That page does not take this request."}
    return refuse(request, words.get(exc.status_code, exc.detail), exc.status_code)


def library_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TwofaError)
    return refuse(request, customer_text(exc), status_of(exc))


def server_error(request: Request, exc: Exception) -> Response:
    # Starlette answers this one outside the middleware stack: add its headers here.
    response = refuse(request, "Something went wrong on our side. Please try again.", 500)
    add_headers(response.headers, request.url.path)
    return response


# After every route function it uses: twofa_cli.web.passkeys reads them from this module.
from twofa_cli.web import passkeys  # noqa: E402

def back_to(location: str):
    """A GET of an address that only takes a form (a result page reloaded, a link typed):
    the page the form belongs to, instead of 405."""
    def route(request: Request) -> Response:
        return to(request, location)

    return route


ENTRY = "/account/two-factor/entries/{entry_id:int}/delete"
ROUTES = [
    Route("/", home),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/login/code", login_code_page, methods=["GET"]),
    Route("/login/code", login_verify, methods=["POST"]),
    Route("/login/resend", login_resend, methods=["POST"]),
    Route("/login/recovery", login_recovery, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    *(Route(path, back_to(page), methods=["GET"]) for path, page in (
        ("/login/resend", "/login/code"), ("/login/recovery", "/login/code"),
        ("/logout", "/account"), ("/account/two-factor/verify", "/account/two-factor"),
        ("/account/two-factor/resend", "/account/two-factor"),
        ("/account/passkeys", "/account/two-factor"), ("/login/passkey", "/login/code"),
        ("/login/passwordless", "/login"))),
    Route("/account", account_page, methods=["GET"]),
    Route("/account/confirm", confirm_page, methods=["GET"]),
    Route("/account/confirm", confirm, methods=["POST"]),
    Route("/account/two-factor", two_factor_page, methods=["GET"]),
    Route("/account/two-factor", enroll, methods=["POST"]),
    Route("/account/two-factor/verify", enroll_verify, methods=["POST"]),
    Route("/account/two-factor/resend", enroll_resend, methods=["POST"]),
    Route(ENTRY, delete_entry_page, methods=["GET"]),
    Route(ENTRY, delete_entry, methods=["POST"]),
    Route("/account/two-factor/recovery-codes", recovery_codes_page, methods=["GET"]),
    Route("/account/two-factor/recovery-codes", new_recovery_codes, methods=["POST"]),
    Route("/account/devices", devices_page, methods=["GET"]),
    Route("/account/devices", revoke_devices, methods=["POST"]),
    *passkeys.ROUTES,
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]
