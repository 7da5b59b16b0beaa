"""The administrator's pages of ``twofa serve``: the seed's Services Manager, behind 2FA.

Administrators sign in at ``/admin/login`` with ``login(..., audience="admin")``: a
customer's account fails there exactly like a wrong password. Their session is a store
session like a customer's, carried by its own cookie (``twofa_admin_session``, sent only
to ``/admin``), so a customer's cookie opens no page here; every request checks again
that the session's account is an administrator. Each change runs on
``acting_as(<the admin's email>)``, so the audit trail names who made it. Stored
credentials are write-only: a form never sends one back, and tables show them masked; on a
provider's page an empty credential field keeps the stored one.

A refusal is worded for a person (web/messages.py's ``admin_text``), next to its field,
and re-renders the form with what was typed (never a credential); a change that worked
redirects (303) to the page that shows its result (post/redirect/get), a Send test's
receipt carried there once in the ``twofa_flash`` cookie (web/flash.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from twofa_cli.api import (
    Account, Conflict, DeliveryFailed, NotFound, Provider, TwoFactor, TwofaError,
)
from twofa_cli.web import flash
from twofa_cli.web.app import DEVICE_NAME, library, session_of, status_of, templates
from twofa_cli.web.messages import About, admin_text
from twofa_cli.web.security import ADMIN_COOKIE, form

ADMIN_TRUSTED_COOKIE = "twofa_admin_trusted"
LOGIN = "/admin/login"
AUDIT_PAGE = 25

# The options a form of each channel asks for: (option, label, secret). Configio's SMTP
# relay has none (its Title alone).
CUSTOM_FIELDS = {
    "twilio": [("account_sid", "Account SID", False), ("auth_token", "Auth Token", True),
               ("from_number", "From Number", False),
               ("messaging_service_sid", "Messaging Service SID", False)],
    "cdyne": [("license_key", "License Key", True), ("from_number", "From Number", False)],
}
CUSTOM_NAMES = {"twilio": "Twilio", "cdyne": "Cdyne"}
CHANNEL_NAMES = {"smtp": "SMTP", **CUSTOM_NAMES}
# The Secondary Auth select's values for the kinds without a provider.
APP_KINDS = {"totp": "Authenticator app (no provider)", "passkey": "Passkey (no provider)"}

NOTICES = {
    "saved": "Saved.",
    "deleted": "Deleted.",
    "unchanged": "Nothing to change: every field was as stored.",
}


@dataclass(frozen=True)
class Admin:
    """The signed-in administrator of a request, and the library acting in their name."""

    account: Account
    token: str
    twofa: TwoFactor


# -- the pieces every admin route uses ----------------------------------------------------


def admin_of(request: Request) -> Admin:
    """The request's signed-in administrator; else to the sign-in page (checked every time,
    so an administrator deleted or demoted loses the pages at once)."""
    session, token = session_of(request, cookie=ADMIN_COOKIE, login=LOGIN)
    twofa = library(request)
    try:
        account = twofa.account(session.account_id)
    except NotFound:  # deleted while signed in
        raise HTTPException(303, headers={"location": LOGIN}) from None
    if account.audience != "admin":
        raise HTTPException(403, "This page is for administrators.")
    return Admin(account=account, token=token, twofa=twofa.acting_as(account.email))


def page(request: Request, name: str, *, error: TwofaError | None = None,
         fields: tuple[str, ...] = (), at: str = "", about: About = "",
         admin: Admin | None = None, **context: Any) -> Response:
    """An admin template, with what the form that led here left to show once. A library
    error goes next to the field its message names (``title must not be empty``,
    ``auth_token: …``; a taken title), else next to ``at``, else on top, in words for a
    person (the library's message is for the CLI)."""
    errors: dict[str, str] = {}
    if error is not None:
        field = next((f for f in fields if error.message.startswith((f"{f}:", f"{f} "))),
                     "title" if isinstance(error, Conflict) and "title" in fields else at)
        errors[field] = admin_text(error, field, about)
    twofa = admin.twofa if admin else library(request)
    context = {**flash.take(request).get("context", {}), **context}
    context.update(errors=errors, error=errors.get(""), brand=twofa.company_name() or "twofa",
                   admin=admin, notice=NOTICES.get(request.query_params.get("done", "")))
    response = templates.TemplateResponse(request, name, context,
                                          status_code=status_of(error) if error else 200)
    flash.forget(request, response)
    return response


def to(location: str, *, session_token: str | None = None, end_session: bool = False,
       device_token: str | None = None, max_age: int = 0) -> Response:
    response = RedirectResponse(location, status_code=303)
    cookie = {"path": "/admin", "secure": True, "httponly": True, "samesite": "strict"}
    if session_token:
        response.set_cookie(ADMIN_COOKIE, session_token, **cookie)  # type: ignore[arg-type]
    elif end_session:
        response.delete_cookie(ADMIN_COOKIE, **cookie)  # type: ignore[arg-type]
    if device_token:
        response.set_cookie(ADMIN_TRUSTED_COOKIE, device_token, max_age=max_age,
                            **cookie)  # type: ignore[arg-type]
    return response


def _int(text: str) -> int:
    return int(text) if text.isdigit() and len(text) < 10 else -1


# -- signing in ---------------------------------------------------------------------------


def login_page(request: Request) -> Response:
    return page(request, "admin_login.html")


def login(request: Request) -> Response:
    fields = form(request)
    email = fields.get("email", "")
    twofa = library(request)
    try:
        result = twofa.login(email, fields.get("password", ""), audience="admin",
                             email_only=True, device_name="admin pages",
                             device_token=request.cookies.get(ADMIN_TRUSTED_COOKIE),
                             client=request.client.host if request.client else "")
    except TwofaError as error:
        return page(request, "admin_login.html", error=error, about="login", email=email)
    if old := request.scope["twofa.cookies"].get(ADMIN_COOKIE):
        twofa.logout(old)
    if result.authenticated:
        return to("/admin", session_token=result.session_token)
    return to("/admin/login/code", session_token=result.session_token)


def _pending(request: Request) -> tuple[int, str]:
    session, token = session_of(request, "pending", cookie=ADMIN_COOKIE, login=LOGIN)
    return session.account_id, token


def code_page(request: Request, error: TwofaError | None = None,
              about: About = "code") -> Response:
    account_id, _ = _pending(request)
    return page(request, "admin_login_code.html", error=error, about=about,
                pending=library(request).pending_code(account_id))


def verify(request: Request) -> Response:
    account_id, token = _pending(request)
    fields = form(request)
    twofa = library(request)
    try:
        verified = twofa.verify(account_id, fields.get("code", ""), session_token=token,
                                trust_device=fields.get("trust") == "yes",
                                device_token=request.cookies.get(ADMIN_TRUSTED_COOKIE),
                                device_name=DEVICE_NAME)
    except TwofaError as error:
        return code_page(request, error)
    return to("/admin", session_token=verified.session_token, device_token=verified.device_token,
              max_age=int(twofa.trusted_device_lifetime.total_seconds()))


def recover(request: Request) -> Response:
    """Lost phone: one of the administrator's recovery codes completes the login instead."""
    account_id, token = _pending(request)
    try:
        verified = library(request).verify(account_id, "", session_token=token,
                                           recovery_code=form(request).get("recovery_code", ""))
    except TwofaError as error:
        return code_page(request, error, "recovery")
    return to(f"/admin?recovery_left={verified.recovery_codes_remaining or 0}",
              session_token=verified.session_token)


def resend(request: Request) -> Response:
    account_id, _ = _pending(request)
    try:
        library(request).resend(account_id)
    except TwofaError as error:
        return code_page(request, error, "resend")
    return to("/admin/login/code")


def logout(request: Request) -> Response:
    if token := request.scope["twofa.cookies"].get(ADMIN_COOKIE):
        library(request).logout(token)
    return to(LOGIN, end_session=True)


# -- Settings -----------------------------------------------------------------------------


def home(request: Request) -> Response:
    left = request.query_params.get("recovery_left", "")
    return page(request, "admin_home.html", admin=admin_of(request),
                recovery_left=int(left) if left.isdigit() and len(left) < 3 else None)


def configuration_page(request: Request) -> Response:
    admin = admin_of(request)
    return page(request, "admin_configuration.html", admin=admin,
                company_name=admin.twofa.company_name())


def save_configuration(request: Request) -> Response:
    admin = admin_of(request)
    name = form(request).get("company_name", "")
    try:
        admin.twofa.set_company_name(name)
    except TwofaError as error:
        return page(request, "admin_configuration.html", admin=admin, error=error,
                    at="company_name", company_name=name)
    return to("/admin/configuration?done=saved")


def services_manager(request: Request) -> Response:
    return page(request, "admin_services_manager.html", admin=admin_of(request))


# -- Services -----------------------------------------------------------------------------


def services(request: Request) -> Response:
    """The providers, each with its delivery health of the last day (issue 20)."""
    admin = admin_of(request)
    health = {stats.provider: stats for stats in admin.twofa.delivery_stats(hours=24)}
    return page(request, "admin_services.html", admin=admin, providers=admin.twofa.providers(),
                health=health)


def add_new(request: Request) -> Response:
    return page(request, "admin_add_new.html", admin=admin_of(request))


def configio_page(request: Request) -> Response:
    return page(request, "admin_configio.html", admin=admin_of(request), values={})


def add_configio(request: Request) -> Response:
    admin = admin_of(request)
    fields = form(request)
    try:
        admin.twofa.add_provider(fields.get("channel", ""), title=fields.get("title", ""))
    except TwofaError as error:
        return page(request, "admin_configio.html", admin=admin, error=error,
                    fields=("title", "channel"), values={"title": fields.get("title", "")})
    return to("/admin/services?done=saved")


def custom_page(request: Request) -> Response:
    """The channel's select; with ``?channel=`` (its Continue) that channel's form."""
    admin = admin_of(request)
    channel = request.query_params.get("channel", "")
    return custom_form(request, admin, channel if channel in CUSTOM_FIELDS else "", {})


def custom_form(request: Request, admin: Admin, channel: str, values: dict[str, str],
                error: TwofaError | None = None) -> Response:
    instructions = admin.twofa.instructions(channel).instructions if channel else ""
    return page(request, "admin_custom.html", admin=admin, error=error, channel=channel,
                names=CUSTOM_NAMES, inputs=CUSTOM_FIELDS.get(channel, []), values=values,
                instructions=instructions,
                fields=("title", *(name for name, _, _ in CUSTOM_FIELDS.get(channel, []))))


def add_custom(request: Request) -> Response:
    admin = admin_of(request)
    fields = form(request)
    channel = fields.get("channel", "")
    if channel not in CUSTOM_FIELDS:
        raise HTTPException(400, "Choose Twilio or Cdyne.")
    options = {name: fields[name] for name, _, _ in CUSTOM_FIELDS[channel] if fields.get(name)}
    try:
        admin.twofa.add_provider(channel, title=fields.get("title", ""), options=options)
    except TwofaError as error:
        # What was typed comes back, but never a credential (rule 36).
        kept = {name: fields.get(name, "") for name, _, secret in CUSTOM_FIELDS[channel]
                if not secret}
        return custom_form(request, admin, channel, {"title": fields.get("title", ""), **kept},
                           error)
    return to("/admin/services?done=saved")


def _provider(admin: Admin, request: Request) -> Provider:
    wanted = request.path_params["provider_id"]
    provider = next((p for p in admin.twofa.providers() if p.id == wanted), None)
    if provider is None:
        raise HTTPException(404)
    return provider


def provider_page(request: Request, admin: Admin | None = None, error: TwofaError | None = None,
                  values: dict[str, str] | None = None, at: str = "", **context: Any) -> Response:
    """A provider's page: its update form (stored credentials never in it), Send test and
    Delete. ``values`` are what was typed, else the stored settings but the secrets."""
    admin = admin or admin_of(request)
    provider = _provider(admin, request)
    inputs = CUSTOM_FIELDS.get(provider.channel, [])
    if values is None:
        values = {"title": provider.title, **{name: str(provider.options.get(name) or "")
                                              for name, _, secret in inputs if not secret}}
    return page(request, "admin_provider.html", admin=admin, error=error, at=at,
                fields=("title", *(name for name, _, _ in inputs)), provider=provider,
                inputs=inputs, values=values, channel_name=CHANNEL_NAMES[provider.channel],
                **context)


def _changed_options(provider: Provider, fields: dict[str, str]) -> dict[str, str]:
    """The options the form changes, the others left out (None to the library). A secret
    field starts empty, so an empty one keeps the stored credential; any other field starts
    with the stored value, so only an edit is a change."""
    changes = {}
    for name, _, secret in CUSTOM_FIELDS.get(provider.channel, []):
        typed = fields.get(name, "").strip()
        if typed != ("" if secret else str(provider.options.get(name) or "")):
            changes[name] = typed
    return changes


def update_provider(request: Request) -> Response:
    admin = admin_of(request)
    provider = _provider(admin, request)
    fields = form(request)
    title = fields.get("title", "")
    changes = _changed_options(provider, fields)
    page_url = f"/admin/services/{provider.id}"
    if title == provider.title and not changes:
        return to(page_url + "?done=unchanged")
    try:
        admin.twofa.update_provider(provider.id, title=None if title == provider.title else title,
                                    options=changes)
    except TwofaError as error:
        # What was typed comes back, but never a credential (rule 36).
        kept = {name: fields.get(name, "") for name, _, secret in
                CUSTOM_FIELDS.get(provider.channel, []) if not secret}
        return provider_page(request, admin, error, {"title": title, **kept})
    return to(page_url + "?done=saved")


def send_test(request: Request) -> Response:
    admin = admin_of(request)
    to_address = form(request).get("to", "")
    provider_id = request.path_params["provider_id"]
    try:
        receipt = admin.twofa.test_provider(provider_id, to=to_address)
    except TwofaError as error:
        # The sentence next to the field is for a person; what the provider or the relay
        # answered is what an administrator fixes its settings by, so it is shown as is.
        answer = error.message if isinstance(error, DeliveryFailed) else None
        return provider_page(request, admin, error, at="to", to=to_address, answer=answer)
    response = to(f"/admin/services/{provider_id}#send-test")
    flash.keep(request, response, {"context": {"to": to_address, "receipt": {
        "mode": receipt.mode, "to": receipt.to, "status": receipt.status,
        "message_id": receipt.message_id}}})
    return response


def delete_provider_page(request: Request) -> Response:
    admin = admin_of(request)
    usage = admin.twofa.provider_usage(request.path_params["provider_id"])
    return page(request, "admin_delete_provider.html", admin=admin, usage=usage)


def delete_provider(request: Request) -> Response:
    admin = admin_of(request)
    admin.twofa.remove_provider(request.path_params["provider_id"], cascade=True)
    return to("/admin/services?done=deleted")


# -- Secondary Auth -----------------------------------------------------------------------


def secondary_auth(request: Request) -> Response:
    admin = admin_of(request)
    return page(request, "admin_secondary_auth.html", admin=admin,
                methods=admin.twofa.secondary_auths())


def secondary_auth_new(request: Request, admin: Admin | None = None,
                       error: TwofaError | None = None, at: str = "", **values: str) -> Response:
    admin = admin or admin_of(request)
    return page(request, "admin_secondary_auth_new.html", admin=admin, error=error, at=at,
                fields=("title", "provider"), providers=admin.twofa.providers(), values=values,
                app_kinds=APP_KINDS)


def add_secondary_auth(request: Request) -> Response:
    admin = admin_of(request)
    fields = form(request)
    chosen, title = fields.get("provider", ""), fields.get("title", "")
    try:
        if chosen in APP_KINDS:
            admin.twofa.add_secondary_auth(title=title, kind="totp" if chosen == "totp" else "passkey")
        else:
            admin.twofa.add_secondary_auth(provider=_int(chosen), title=title)
    except TwofaError as error:
        return secondary_auth_new(request, admin, error,
                                  at="provider" if isinstance(error, NotFound) else "",
                                  provider=chosen, title=title)
    return to("/admin/secondary-auth?done=saved")


def delete_method_page(request: Request) -> Response:
    admin = admin_of(request)
    method = admin.twofa.secondary_auth(request.path_params["method_id"])
    return page(request, "admin_delete_method.html", admin=admin, method=method)


def delete_method(request: Request) -> Response:
    admin_of(request).twofa.remove_secondary_auth(request.path_params["method_id"])
    return to("/admin/secondary-auth?done=deleted")


# -- Two Factor Auth ----------------------------------------------------------------------


def two_factor(request: Request) -> Response:
    admin = admin_of(request)
    return page(request, "admin_two_factor.html", admin=admin,
                policies=[("customer", "Customer Authentication", admin.twofa.allowed("customer")),
                          ("admin", "Administrator Authentication", admin.twofa.allowed("admin"))])


def save_two_factor(request: Request) -> Response:
    admin = admin_of(request)
    audience = request.path_params["audience"]
    if audience not in ("customer", "admin"):
        raise HTTPException(404)
    admin.twofa.set_allowed(audience, form(request).get("allowed") == "yes")
    return to("/admin/two-factor?done=saved")


# -- Audit --------------------------------------------------------------------------------


def _audit_filters(request: Request) -> dict[str, str]:
    query = request.query_params
    return {"account": query.get("account", "").strip()[:200],
            "event": query.get("event", "").strip()[:100]}


def audit(request: Request) -> Response:
    admin = admin_of(request)
    filters = _audit_filters(request)
    number = max(_int(request.query_params.get("page", "1")), 1)
    try:
        events = admin.twofa.audit(account=filters["account"] or None,
                                   action=filters["event"] or None,
                                   limit=AUDIT_PAGE + 1, offset=(number - 1) * AUDIT_PAGE)
    except TwofaError as error:
        return page(request, "admin_audit.html", admin=admin, error=error, at="account",
                    filters=filters, events=[], number=1, more=False, query=urlencode(filters))
    return page(request, "admin_audit.html", admin=admin, filters=filters,
                events=events[:AUDIT_PAGE], number=number, more=len(events) > AUDIT_PAGE,
                query=urlencode(filters))


def audit_csv(request: Request) -> Response:
    admin = admin_of(request)
    filters = _audit_filters(request)
    events = admin.twofa.audit(account=filters["account"] or None,
                               action=filters["event"] or None, limit=100_000)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "created_at", "actor", "action", "account_id", "target", "outcome",
                     "detail"])
    for e in events:
        writer.writerow([_cell(str(value)) for value in (
            e.id, e.created_at.isoformat(), e.actor, e.action, "" if e.account_id is None else e.account_id,
            e.target, e.outcome, e.detail)])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="audit.csv"'})


def _cell(text: str) -> str:
    """A cell a spreadsheet shows as text: one it would run as a formula gets a quote first
    (OWASP's CSV injection advice). Targets and details can come from anyone."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


PROVIDER = "/admin/services/{provider_id:int}"
METHOD = "/admin/secondary-auth/{method_id:int}"
ROUTES = [
    Route("/admin/login", login_page, methods=["GET"]),
    Route("/admin/login", login, methods=["POST"]),
    Route("/admin/login/code", code_page, methods=["GET"]),
    Route("/admin/login/code", verify, methods=["POST"]),
    Route("/admin/login/resend", resend, methods=["POST"]),
    Route("/admin/login/recovery", recover, methods=["POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin", home, methods=["GET"]),
    Route("/admin/configuration", configuration_page, methods=["GET"]),
    Route("/admin/configuration", save_configuration, methods=["POST"]),
    Route("/admin/services-manager", services_manager, methods=["GET"]),
    Route("/admin/services", services, methods=["GET"]),
    Route("/admin/services/new", add_new, methods=["GET"]),
    Route("/admin/services/new/configio", configio_page, methods=["GET"]),
    Route("/admin/services/new/configio", add_configio, methods=["POST"]),
    Route("/admin/services/new/custom", custom_page, methods=["GET"]),
    Route("/admin/services/new/custom", add_custom, methods=["POST"]),
    Route(PROVIDER, provider_page, methods=["GET"]),
    Route(PROVIDER, update_provider, methods=["POST"]),
    Route(PROVIDER + "/test", send_test, methods=["POST"]),
    Route(PROVIDER + "/delete", delete_provider_page, methods=["GET"]),
    Route(PROVIDER + "/delete", delete_provider, methods=["POST"]),
    Route("/admin/secondary-auth", secondary_auth, methods=["GET"]),
    Route("/admin/secondary-auth/new", secondary_auth_new, methods=["GET"]),
    Route("/admin/secondary-auth/new", add_secondary_auth, methods=["POST"]),
    Route(METHOD + "/delete", delete_method_page, methods=["GET"]),
    Route(METHOD + "/delete", delete_method, methods=["POST"]),
    Route("/admin/two-factor", two_factor, methods=["GET"]),
    Route("/admin/two-factor/{audience:str}", save_two_factor, methods=["POST"]),
    Route("/admin/audit", audit, methods=["GET"]),
    Route("/admin/audit.csv", audit_csv, methods=["GET"]),
]
