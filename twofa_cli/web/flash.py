"""What a form's result page shows once: carried from the POST to the GET it redirects to.

Every customer form answers with a redirect (post/redirect/get), so a reload shows the
page again instead of posting the form again. What the page then shows once (an error's
words, a new authenticator secret, new recovery codes) rides in the ``twofa_flash``
cookie, never in a URL: encrypted (Fernet) under a key derived from this browser's
session cookie (or, before any login, its CSRF cookie), both random and HttpOnly, so any
worker process reads it, nothing is kept on the server, and the cookie alone, logged or
copied, reveals nothing. The page that shows it deletes it: a reload shows the page plain.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request
from starlette.responses import Response

from twofa_cli.web.security import CSRF_COOKIE, SESSION_COOKIE

FLASH_COOKIE = "twofa_flash"
LIFETIME = 300  # seconds: the redirect is followed at once
_COOKIE = {"path": "/", "secure": True, "httponly": True, "samesite": "lax"}


def _fernet(request: Request) -> Fernet | None:
    cookies = request.scope["twofa.cookies"]
    secret = cookies.get(SESSION_COOKIE) or cookies.get(CSRF_COOKIE)
    if not secret:
        return None
    digest = hashlib.sha256(f"twofa flash:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def keep(request: Request, response: Response, state: dict[str, Any]) -> None:
    """Hand ``state`` to the next page this browser opens (the redirect's)."""
    if fernet := _fernet(request):
        sealed = fernet.encrypt(json.dumps(state).encode()).decode()
        response.set_cookie(FLASH_COOKIE, sealed, max_age=LIFETIME, **_COOKIE)  # type: ignore[arg-type]


def take(request: Request) -> dict[str, Any]:
    """What the previous POST left for this page ({} if nothing, or not readable)."""
    if "twofa.flash" not in request.scope:
        sealed, fernet = request.cookies.get(FLASH_COOKIE), _fernet(request)
        state: dict[str, Any] = {}
        if sealed and fernet:
            try:
                state = json.loads(fernet.decrypt(sealed.encode(), ttl=LIFETIME))
            except (InvalidToken, ValueError):
                state = {}
        request.scope["twofa.flash"] = state
    taken: dict[str, Any] = request.scope["twofa.flash"]
    return taken


def forget(request: Request, response: Response) -> None:
    """Shown: the next reload shows the page without it."""
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, **_COOKIE)  # type: ignore[arg-type]
