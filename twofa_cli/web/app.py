"""``twofa serve``: a reference shop integration of the customer's flow, on the library API.

Each route reads its form, calls one method of ``TwoFactor`` and renders one template;
every rule of 2FA lives in the library. Routes are plain functions: Starlette runs them
in its thread pool, and one ``TwoFactor`` serves all those threads.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
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
    Rejected,
    SecretIssued,
    Throttled,
    TwoFactor,
    TwofaError,
    Verification,
)
from twofa_cli.web.security import SecurityMiddleware, add_headers, csrf_token, form

HERE = Path(__file__).parent
TRUSTED_COOKIE = "twofa_trusted"
SESSION_COOKIE = "twofa_session"
SESSION_HOURS = 12  # the signature of a login session expires after this
DEVICE_NAME = "web browser"

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


def status_of(error: TwofaError) -> int:
    return next(status for kind, status in STATUS if isinstance(error, kind))


def create_app(twofa: TwoFactor, *, session_secret: str | None = None) -> Starlette:
    """The web pages on an open ``TwoFactor``; the caller keeps it open while serving.

    ``session_secret`` signs the login-session cookie (default: random per process,
    so a restart logs everyone out; the "Trust this device" cookies live on).
    """
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["csrf_token"] = csrf_token
    max_age = int(twofa.trusted_device_lifetime.total_seconds())

    def page(request: Request, name: str, error: TwofaError | None = None,
             **context: Any) -> Response:
        headers = {"retry-after": str(error.retry_after)} \
            if isinstance(error, Throttled) and error.retry_after else None
        context.update(error=error.message if error else None,
                       notice=request.session.pop("notice", None))
        return templates.TemplateResponse(request, name, context,
                                          status_code=status_of(error) if error else 200,
                                          headers=headers)

    def refuse(request: Request, message: str, status: int) -> Response:
        return templates.TemplateResponse(request, "error.html", {"message": message},
                                          status_code=status)

    def signed_in(request: Request, stage: str = "account_id") -> int:
        """The session's account (or, for ``pending_login``, the one between password and code)."""
        account_id = request.session.get(stage)
        if not isinstance(account_id, int):
            raise HTTPException(303, headers={"location": "/login"})
        return account_id

    def pending_login(request: Request) -> int:
        return signed_in(request, "pending_login")

    def start_session(request: Request, account_id: int) -> None:
        request.session.clear()  # a fresh session (and CSRF token) at each sign-in
        request.session.update(account_id=account_id, csrf=secrets.token_urlsafe(32))

    def to(location: str, verification: Verification | None = None) -> Response:
        return trusting(RedirectResponse(location, status_code=303), verification)

    def trusting(response: Response, verification: Verification | None) -> Response:
        if verification is not None and verification.device_token:
            response.set_cookie(TRUSTED_COOKIE, verification.device_token, max_age=max_age,
                                path="/", secure=True, httponly=True, samesite="lax")
        return response

    # The code step, alike for logging in and for enrolling.
    def check_code(request: Request, account_id: int) -> Verification:
        fields = form(request)
        return twofa.verify(account_id, fields.get("code", ""),
                            trust_device=fields.get("trust") == "yes",
                            device_token=request.cookies.get(TRUSTED_COOKIE),
                            device_name=DEVICE_NAME)

    def send_new_code(request: Request, account_id: int, code_page: str,
                      refused: Callable[[Request, TwofaError], Response]) -> Response:
        try:
            sent = twofa.resend(account_id)
        except TwofaError as error:
            return refused(request, error)  # the code form again, with the reason
        request.session.update(sent_to=sent.destination, notice="A new code was sent.")
        return to(code_page)

    # -- logging in ---------------------------------------------------------------------

    def home(request: Request) -> Response:
        return to("/account" if "account_id" in request.session else "/login")

    def login_page(request: Request) -> Response:
        return page(request, "login.html")

    def login(request: Request) -> Response:
        fields = form(request)
        email = fields.get("email", "")
        try:
            result = twofa.login(email, fields.get("password", ""),
                                 device_token=request.cookies.get(TRUSTED_COOKIE))
        except TwofaError as error:
            return page(request, "login.html", error=error, email=email)
        if result.authenticated:
            start_session(request, result.account.id)
            return to("/account")
        request.session.update(pending_login=result.account.id, sent_to=result.code.destination
                               if result.code else "",
                               app=result.required.method if result.required else "")
        return to("/login/code")

    def login_code_page(request: Request, error: TwofaError | None = None) -> Response:
        pending_login(request)
        return page(request, "login_code.html", error=error, sent_to=request.session.get("sent_to"),
                    app=request.session.get("app"))

    def login_verify(request: Request) -> Response:
        account_id = pending_login(request)
        try:
            verified = check_code(request, account_id)
        except TwofaError as error:
            return login_code_page(request, error)
        start_session(request, account_id)
        return to("/account", verified)

    def login_recovery(request: Request) -> Response:
        account_id = pending_login(request)
        try:
            verified = twofa.verify(account_id, "",
                                    recovery_code=form(request).get("recovery_code", ""))
        except TwofaError as error:
            return login_code_page(request, error)
        start_session(request, account_id)
        left = verified.recovery_codes_remaining or 0
        request.session["notice"] = (
            f"You used a recovery code: {left} left." + (
                " Make a new set soon." if left <= 2 else ""))
        return to("/account")

    def login_resend(request: Request) -> Response:
        return send_new_code(request, pending_login(request), "/login/code", login_code_page)

    def logout(request: Request) -> Response:
        request.session.clear()
        return to("/login")

    # -- Account Settings ---------------------------------------------------------------

    def account_page(request: Request) -> Response:
        return page(request, "account.html", account=twofa.account(signed_in(request)))

    def two_factor_page(request: Request, error: TwofaError | None = None,
                        **context: Any) -> Response:
        account_id = signed_in(request)
        methods = twofa.secondary_auths()
        chosen = request.session.get("method") or request.query_params.get("method")
        selected = next((m for m in methods if str(m.id) == str(chosen)), methods[0] if methods else None)
        return page(request, "two_factor.html", error=error, methods=methods, selected=selected,
                    entries=twofa.entries(account_id),
                    enrolling=request.session.get("enrolling"), sent_to=request.session.get("sent_to"),
                    app=request.session.get("app"), **context)

    def enroll(request: Request) -> Response:
        account_id = signed_in(request)
        fields = form(request)
        request.session["method"] = fields.get("method", "")
        try:
            sent = twofa.enroll(account_id, method=fields.get("method", ""),
                                phone=fields.get("phone"), email=fields.get("email"))
        except TwofaError as error:
            return two_factor_page(request, error)
        if isinstance(sent, SecretIssued):
            # The secret is shown in this response only: it never sits in the session cookie.
            request.session.update(enrolling=True, sent_to="", app="your authenticator app")
            return two_factor_page(request, issued=sent)
        request.session.update(enrolling=True, sent_to=sent.destination, app="")
        return to("/account/two-factor")

    def enroll_verify(request: Request) -> Response:
        account_id = signed_in(request)
        try:
            verified = check_code(request, account_id)
        except TwofaError as error:
            return two_factor_page(request, error)
        for key in ("enrolling", "sent_to", "method", "app"):
            request.session.pop(key, None)
        request.session["notice"] = "Two-factor authentication is on for your account."
        if verified.recovery_codes:  # shown this once, in this response
            return trusting(two_factor_page(request, recovery_codes=verified.recovery_codes),
                            verified)
        return to("/account/two-factor", verified)

    def enroll_resend(request: Request) -> Response:
        return send_new_code(request, signed_in(request), "/account/two-factor", two_factor_page)

    def delete_entry(request: Request) -> Response:
        account_id = signed_in(request)
        try:
            twofa.delete_entry(account_id, int(request.path_params["entry_id"]))
        except TwofaError as error:
            return two_factor_page(request, error)
        request.session["notice"] = "The entry was deleted."
        return to("/account/two-factor")

    # -- errors: in words, never a stack trace --------------------------------------------

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 303 and exc.headers:
            return RedirectResponse(exc.headers["location"], status_code=303)
        words = {404: "There is no such page.", 405: "That page does not take this request."}
        return refuse(request, words.get(exc.status_code, exc.detail), exc.status_code)

    def library_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TwofaError)
        if isinstance(exc, NotFound) and "account_id" in request.session:
            request.session.clear()  # the account went away while signed in
        return refuse(request, exc.message, status_of(exc))

    def server_error(request: Request, exc: Exception) -> Response:
        # Starlette answers this one outside the middleware stack: add its headers here.
        response = refuse(request, "Something went wrong on our side. Please try again.", 500)
        add_headers(response.headers, request.url.path)
        return response

    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/login/code", login_code_page, methods=["GET"]),
        Route("/login/code", login_verify, methods=["POST"]),
        Route("/login/resend", login_resend, methods=["POST"]),
        Route("/login/recovery", login_recovery, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/account", account_page, methods=["GET"]),
        Route("/account/two-factor", two_factor_page, methods=["GET"]),
        Route("/account/two-factor", enroll, methods=["POST"]),
        Route("/account/two-factor/verify", enroll_verify, methods=["POST"]),
        Route("/account/two-factor/resend", enroll_resend, methods=["POST"]),
        Route("/account/two-factor/entries/{entry_id:int}/delete", delete_entry, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(SessionMiddleware, secret_key=session_secret or secrets.token_urlsafe(32),
                   session_cookie=SESSION_COOKIE, max_age=SESSION_HOURS * 3600, same_site="lax", https_only=True),
        Middleware(SecurityMiddleware, refuse=refuse),
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={
        HTTPException: http_error, TwofaError: library_error, Exception: server_error})
