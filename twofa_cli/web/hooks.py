"""Machine endpoints: what providers call, apart from the pages (SECURITY.md rule 37).

A hook authenticates by the provider's signature, not by cookies or a CSRF token (the
security middleware lets ``/hooks/`` through without either and sets no cookie there).
It takes POST only, a bounded urlencoded body, and answers garbage with a 4xx, never a
5xx: the checking is the library's (``TwoFactor.record_twilio_status``), this is glue.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from twofa_cli.api import Rejected, TwoFactor, TwofaError

PREFIX = "/hooks/"
MAX_BODY = 16_384  # a Twilio status callback is well under 1 KB
MAX_FIELDS = 64


async def twilio_status(request: Request) -> Response:
    fields = await _form(request)
    if fields is None:
        return PlainTextResponse("a small application/x-www-form-urlencoded body", 400)
    twofa: TwoFactor = request.app.state.twofa
    signature = request.headers.get("x-twilio-signature", "")
    try:
        await run_in_threadpool(twofa.record_twilio_status, fields, signature)
    except Rejected:
        return PlainTextResponse("not signed by Twilio", 403)
    except TwofaError as error:  # nothing a provider should retry with the same request
        return PlainTextResponse(error.message, 400)
    return Response(status_code=204)


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded body as fields, or None when it is not one: another content type,
    too large, not UTF-8, a field twice (Twilio signs each field once) or too many."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return None
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FIELDS)
    except (ClientDisconnect, UnicodeDecodeError, ValueError):
        return None
    fields = dict(pairs)
    return fields if len(fields) == len(pairs) else None


ROUTES = [Route("/hooks/twilio/status", twilio_status, methods=["POST"])]
