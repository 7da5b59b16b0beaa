"""Passkeys on the web pages: "Add passkey", "Use passkey" and "Sign in with a passkey".

Each ceremony is two POSTs of an ordinary form, both CSRF-checked by the middleware like
every form: ``…/options`` answers the options for ``navigator.credentials.create`` /
``get`` as JSON (static/passkey.js fetches them), and the form itself then carries the
browser's response in its ``response`` field to the route that finishes the ceremony.
Every check of rule 35 is the library's; these routes only pick the session.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from twofa_cli.api import TwofaError
from twofa_cli.web import app as web
from twofa_cli.web.messages import customer_text
from twofa_cli.web.security import SESSION_COOKIE, form


def options(json_text: str) -> Response:
    return Response(json_text, media_type="application/json")


def refused(error: TwofaError) -> Response:
    """What passkey.js shows in the form: the customer's words, never a stack trace."""
    return JSONResponse({"error": customer_text(error, "passkey")},
                        status_code=web.status_of(error))


# -- Add passkey (Two-Factor Authentication) ------------------------------------------------


def register_options(request: Request) -> Response:
    _, token = web.session_of(request)
    name = form(request).get("name", "").strip() or None
    try:
        return options(web.library(request).begin_passkey_registration(token, name))
    except TwofaError as error:
        return refused(error)


def register(request: Request) -> Response:
    _, token = web.session_of(request)
    try:
        added = web.library(request).finish_passkey_registration(
            token, form(request).get("response", ""))
    except TwofaError as error:
        method = quote(form(request).get("method", ""))
        return web.refused(request, f"/account/two-factor?method={method}", error, "passkey")
    if added.recovery_codes:  # her first factor: its recovery codes, shown this once
        return web.enrolled(request, None, added.recovery_codes)
    return web.to(request, "/account/two-factor?done=passkey")


# -- Use passkey (the code page of a login) -------------------------------------------------


def login_options(request: Request) -> Response:
    _, token = web.session_of(request, "pending")
    try:
        return options(web.library(request).begin_passkey_login(token))
    except TwofaError as error:
        return refused(error)


def login(request: Request) -> Response:
    _, token = web.session_of(request, "pending")
    try:
        verified = web.library(request).finish_passkey_login(form(request).get("response", ""),
                                                             token)
    except TwofaError as error:
        return web.refused(request, "/login/code", error, "passkey")
    return web.to(request, "/account", session_token=verified.session_token)


# -- Sign in with a passkey (/login, no password) ------------------------------------------------


def passwordless_options(request: Request) -> Response:
    try:
        return options(web.library(request).begin_passkey_login())
    except TwofaError as error:
        return refused(error)


def passwordless(request: Request) -> Response:
    twofa = web.library(request)
    try:
        verified = twofa.finish_passkey_login(
            form(request).get("response", ""), device_name=web.DEVICE_NAME,
            client=request.client.host if request.client else "")
    except TwofaError as error:
        return web.refused(request, "/login", error, "passkey")
    if old := request.scope["twofa.cookies"].get(SESSION_COOKIE):
        twofa.logout(old)  # this browser's earlier session, if any, ends here
    return web.to(request, "/account", session_token=verified.session_token)


ROUTES = [
    Route("/account/passkeys/options", register_options, methods=["POST"]),
    Route("/account/passkeys", register, methods=["POST"]),
    Route("/login/passkey/options", login_options, methods=["POST"]),
    Route("/login/passkey", login, methods=["POST"]),
    Route("/login/passwordless/options", passwordless_options, methods=["POST"]),
    Route("/login/passwordless", passwordless, methods=["POST"]),
]
