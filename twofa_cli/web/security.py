"""Every page's protections, in one place: security headers, CSRF, a bounded form body.

A pure ASGI middleware: it works out the request's CSRF token, refuses (403) any POST
whose form does not carry it, parses the form once (``form(request)`` hands it to the
route) and adds the headers a reviewer expects. No cookie is signed here, so no secret:
the CSRF token is a one-way function of the login session's cookie (whose token lives in
the store), or, before any login, of a random ``twofa_csrf`` cookie. Under ``/admin`` the
session is the administrator's (its own cookie) and the token is of another purpose, so
a customer page's token is refused on an admin form and the other way round.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "twofa_session"  # the login session's opaque token (services/sessions.py)
ADMIN_COOKIE = "twofa_admin_session"  # an administrator's session, sent to /admin only
CSRF_COOKIE = "twofa_csrf"  # before any login: what the login form's token derives from
MAX_COOKIE = 128
MAX_FORM_BYTES = 16_384  # the largest form here is a few hundred bytes
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Machine endpoints (web/hooks.py): the provider signs each request; it has neither a
# cookie nor a CSRF token, so none is checked or set under this prefix, and nothing else.
MACHINE_PREFIX = "/hooks/"

HEADERS = {
    # No inline script or style anywhere; the pages load /static files only. passkey.js
    # fetches a ceremony's options from this site (connect-src), nowhere else.
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
}
# Pages and redirects carry destinations, account data and cookies: no cache keeps them.
# Only the static files (style sheet, script) may be cached, and they set no cookie.
PAGE_HEADERS = {"cache-control": "no-store"}
STATIC_HEADERS = {"cache-control": "public, max-age=3600"}

Refuse = Callable[[Request, str, int], Response]


def add_headers(headers: MutableHeaders, path: str) -> None:
    headers.update(HEADERS)
    if path.startswith("/static/"):
        headers.update(STATIC_HEADERS)
        if "set-cookie" in headers:  # whatever set it: a cached file must carry no cookie
            del headers["set-cookie"]
    else:
        headers.update(PAGE_HEADERS)


def is_admin_path(path: str) -> bool:
    """The administrator's pages (web/admin.py): where the admin session's cookie goes."""
    return path == "/admin" or path.startswith("/admin/")


def csrf_token(request: Request) -> str:
    token: str = request.scope["twofa.csrf"]
    return token


def _derived(purpose: str, cookie: str) -> str:
    # Not the store's SHA-256 of the token: a leaked store must not hand out CSRF tokens.
    return hashlib.sha256(f"twofa {purpose}:{cookie}".encode()).hexdigest()


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(Headers(scope=scope).get("cookie", ""))
    except Exception:  # a malformed Cookie header is no cookie at all
        return {}
    return {name: morsel.value for name, morsel in jar.items()
            if 0 < len(morsel.value) <= MAX_COOKIE and morsel.value.isascii()}


def form(request: Request) -> dict[str, str]:
    """The POSTed form, already parsed and CSRF-checked by the middleware."""
    parsed: dict[str, str] = request.scope.get("twofa.form", {})
    return parsed


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, refuse: Refuse) -> None:
        self.app = app
        self.refuse = refuse  # renders the error page: (request, message, status) -> Response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(MACHINE_PREFIX):
            await self.app(scope, receive, _with_headers(scope, send))
            return
        cookies = _cookies(scope)
        new_csrf_cookie = None
        # The admin pages' forms carry a token of the admin session, the customer pages'
        # one of the customer session: neither side's token is good on the other's forms.
        side = "admin" if is_admin_path(scope["path"]) else "customer"
        if session := cookies.get(ADMIN_COOKIE if side == "admin" else SESSION_COOKIE):
            scope["twofa.csrf"] = _derived(f"{side} session", session)
        else:
            pre = cookies.get(CSRF_COOKIE)
            if pre is None:
                pre = new_csrf_cookie = secrets.token_urlsafe(32)
            scope["twofa.csrf"] = _derived(f"{side} anonymous", pre)
        scope["twofa.cookies"] = cookies

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if new_csrf_cookie and not scope["path"].startswith("/static/"):
                    headers.append("set-cookie", f"{CSRF_COOKIE}={new_csrf_cookie}; Path=/; "
                                                 "HttpOnly; Secure; SameSite=Lax")
                add_headers(headers, scope["path"])
            await send(message)

        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send_with_headers)
            return
        try:
            body = await _read_form_body(scope, receive)
            fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            if not hmac.compare_digest(fields.get(CSRF_FIELD, "").encode(),
                                       scope["twofa.csrf"].encode()):
                raise _Refused(403, "This form has expired or did not come from this site. "
                                    "Reload the page and try again.")
        except _Refused as refused:
            response = self.refuse(Request(scope), refused.message, refused.status)
            await response(scope, receive, send_with_headers)
            return
        scope["twofa.form"] = fields
        await self.app(scope, _replay(body, receive), send_with_headers)


def _with_headers(scope: Scope, send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            add_headers(MutableHeaders(scope=message), scope["path"])
        await send(message)

    return send_with_headers


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


async def _read_form_body(scope: Scope, receive: Receive) -> bytes:
    """The body of a small urlencoded form; anything else is refused before a route sees it."""
    content_type = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _Refused(403, "This form did not come from this site.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refused(400, "The request was cut short.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise _Refused(413, "The form is too large.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the route the body once more; then wait for the client as usual."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
