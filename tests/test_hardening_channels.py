"""Hostile providers and provider URLs.

- A provider that answers an error quoting the request (the message body with its code,
  the credentials, the Authorization header) gets none of it into the command's output,
  the JSON or the audit trail: only a status, the vendor's error code and a scrubbed reason.
- ``--api-base-url`` cannot point a channel at metadata services, private or link-local
  addresses, at plain http off this machine, or carry a user and password; a redirect is
  a delivery failure, never followed.

Each provider is a real local server (pytest-httpserver, aiosmtpd) started by the test.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from fakes import (  # noqa: F401 (fixtures)
    CDYNE_KEY,
    SMTP_PASSWORD,
    SMTP_USER,
    TWILIO_SID,
    TWILIO_TOKEN,
    _LocalController,
    configure,
    http_server,
)
from sqlmodel import select
from werkzeug import Request, Response

from twofa_cli.runtime import open_runtime
from twofa_cli.services import accounts, providers, secondary_auth, system
from twofa_cli.store.models import AuditEvent, Delivery, Provider

ALICE = "alice@example.com"
PHONE = "+14155550199"
TERMINAL_CODES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr("twofa_cli.channels.base.time.sleep", lambda seconds: None)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def encodings(secret: str) -> set[str]:
    """The forms of ``secret`` a reply could quote: plain, base64, URL- and form-encoded."""
    return {secret, b64(secret), base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
            quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def live_home(home: Path, channel: str, base_url: str = "", **options) -> None:
    """A live home whose customers enrol by ``channel``, and the customer Alice."""
    configure(home, delivery={"mode": "live", "timeout_seconds": 2})
    rt = open_runtime(home, actor="tester")
    try:
        system.set_company_name(rt, "Acme Events")
        if channel == "twilio":
            options = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN,
                       "from_number": "+14155550100", "api_base_url": base_url, **options}
        elif channel == "cdyne":
            options = {"license_key": CDYNE_KEY, "api_base_url": base_url, **options}
        providers.add_provider(rt, channel=channel, title="P", options=options)
        secondary_auth.add_secondary_auth(rt, provider="P", title="Code")
        system.set_allowed(rt, "customer", True)
        accounts.add_account(rt, email=ALICE, password="correct horse battery")
    finally:
        rt.engine.dispose()


def stored_text(home: Path) -> str:
    """Every audit row and delivery log row, as one string."""
    rt = open_runtime(home)
    try:
        with rt.transaction() as session:
            audit = [e.model_dump_json() for e in session.exec(select(AuditEvent))]
            sent = [d.model_dump_json() for d in session.exec(select(Delivery))]
            return "\n".join(audit + sent)
    finally:
        rt.engine.dispose()


def assert_nothing_leaks(leaks: set[str], *texts: str) -> None:
    for text in texts:
        found = sorted(leak for leak in leaks if leak and leak in text)
        assert not found, f"{found} leaked into {text!r}"
        assert not TERMINAL_CODES.search(text), f"terminal codes in {text!r}"


# -- provider errors echo the request -------------------------------------------------


class EchoingProvider:
    """A local HTTP API that answers every request with an error quoting all of it."""

    def __init__(self, server, path: str, answer) -> None:
        self.server = server
        self.requests: list[Request] = []
        self.bodies: list[str] = []
        self.answer = answer
        server.expect_request(path, method="POST").respond_with_handler(self._handle)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def _handle(self, request: Request) -> Response:
        self.requests.append(request)
        raw = request.get_data(as_text=True)
        self.bodies.append(raw)
        echo = (f"you sent {raw} with Authorization: {request.headers.get('Authorization')} "
                f"\x1b]8;;https://evil.example/\x07 \x9b2J \u202e")
        return self.answer(request, echo)

    def leaks(self, *credentials: str) -> set[str]:
        """What must not come back: the message bodies, their codes, the credentials."""
        found: set[str] = set()
        for raw, request in zip(self.bodies, self.requests, strict=True):
            form = request.form.to_dict() or json.loads(raw)
            text = form["Body"]
            found |= {raw, text, quote(text), quote_plus(text), *re.findall(r"\d{6,}", text)}
            auth = request.headers.get("Authorization", "")
            found |= {auth, auth.removeprefix("Basic ")} - {""}
        for credential in credentials:
            found |= encodings(credential)
        return found


def twilio_error(status: int, code: int):
    def answer(request, echo):
        body = {"code": code, "message": f"Unable to create record: {echo}", "status": status,
                "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        return Response(json.dumps(body), status=status, content_type="application/json")

    return answer


def cdyne_error(status: int):
    def answer(request, echo):
        return Response(f"{echo} LicenseKey={CDYNE_KEY} {quote(CDYNE_KEY)} {b64(CDYNE_KEY)}",
                        status=status, content_type="text/plain")

    return answer


TWILIO_PATH = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
CDYNE_PATH = "/Messaging.svc/SendMessage"


@pytest.mark.parametrize(("channel", "status", "vendor_code"), [
    ("twilio", 400, 21999),  # a refusal: not retried
    ("twilio", 503, 20500),  # a server error: retried once, then it fails
    ("cdyne", 409, None),
    ("cdyne", 500, None),
    ("cdyne", 200, None),  # "answered unexpectedly", with the echo as the reply
])
def test_echoed_request_never_reaches_output_or_store(home, cli, http_server, channel, status,
                                                        vendor_code):
    if channel == "twilio":
        provider = EchoingProvider(http_server, TWILIO_PATH, twilio_error(status, vendor_code))
        credentials = (TWILIO_TOKEN, f"{TWILIO_SID}:{TWILIO_TOKEN}")
    else:
        provider = EchoingProvider(http_server, CDYNE_PATH, cdyne_error(status))
        credentials = (CDYNE_KEY,)
    live_home(home, channel, provider.base_url)

    as_json = cli("enroll", ALICE, "--method", "Code", "--phone", PHONE, "--json")
    human = cli("provider", "test", "P", "--to", PHONE, "--live")

    assert as_json.exit_code == human.exit_code == 5
    error = as_json.json["error"]
    assert error["code"] == "delivery_failed"
    assert error["provider_code"] == str(vendor_code or status)  # status and vendor code kept
    assert str(vendor_code or status) in error["message"]
    assert "you sent" in error["message"]  # a bounded reason is kept ...
    leaks = provider.leaks(*credentials)
    assert_nothing_leaks(leaks, as_json.stdout, human.stdout, human.stderr,  # ... scrubbed
                         stored_text(home), cli("audit").stdout, cli("audit", "--json").stdout)
    assert len(error["message"]) <= 300


class HostileHandler:
    """An SMTP relay that takes the password, then refuses the message quoting the session."""

    def __init__(self) -> None:
        self.auth_lines: list[str] = []
        self.bodies: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        content = envelope.content.decode("utf-8", "replace")
        self.bodies.append(content)
        code = re.search(r"\b\d{6}\b", content).group()
        secret = f"\0{SMTP_USER}\0{SMTP_PASSWORD}"
        return (f"554 5.7.1 AUTH PLAIN {b64(secret)} pass={SMTP_PASSWORD} {quote(SMTP_PASSWORD)} "
                f"code={code} \x1b[2J\u202e rejected {' '.join(content.split())}")


def test_smtp_reply_quoting_the_session_is_scrubbed(home, cli, monkeypatch):
    handler = HostileHandler()

    def authenticator(server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        return AuthResult(success=True, handled=False, auth_data=auth_data)

    controller = _LocalController(handler, hostname="127.0.0.1", port=0,
                                  authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        configure(home, smtp={"host": "127.0.0.1", "port": controller.port, "security": "none",
                              "username": SMTP_USER, "password_env": "TWOFA_SMTP_PASSWORD",
                              "from_address": "no-reply@acme.example"})
        monkeypatch.setenv("TWOFA_SMTP_PASSWORD", SMTP_PASSWORD)
        live_home(home, "smtp")
        as_json = cli("enroll", ALICE, "--method", "Code", "--email", ALICE, "--json")
        human = cli("provider", "test", "P", "--to", ALICE, "--live")
    finally:
        controller.stop()

    assert as_json.exit_code == human.exit_code == 5
    assert as_json.json["error"]["provider_code"] == "554"
    [body, _] = handler.bodies
    code = re.search(r"\b\d{6}\b", body).group()
    leaks = {code, *encodings(SMTP_PASSWORD), b64(f"\0{SMTP_USER}\0{SMTP_PASSWORD}")}
    assert_nothing_leaks(leaks, as_json.stdout, human.stderr, stored_text(home),
                         cli("audit", "--json").stdout)


def test_hostile_receipt_is_not_stored_or_printed_verbatim(home, cli, http_server):
    """A provider that accepts the message but answers with the code and terminal codes."""
    seen: list[str] = []

    def accept(request: Request) -> Response:
        seen.append(request.form["Body"])
        code = (re.findall(r"\d{6}", request.form["Body"]) or ["424242"])[0]
        return Response(json.dumps({"sid": f"SM{code}\x1b]8;;https://evil.example/\x07",
                                    "status": "\x9b2J\u202equeued"}),
                        status=201, content_type="application/json")

    http_server.expect_request(TWILIO_PATH, method="POST").respond_with_handler(accept)
    live_home(home, "twilio", http_server.url_for("/").rstrip("/"))

    enrolled = cli("enroll", ALICE, "--method", "Code", "--phone", PHONE, "--json")
    tested = cli("provider", "test", "P", "--to", PHONE, "--live", "--json")
    shown = cli("provider", "test", "P", "--to", PHONE, "--live")

    assert enrolled.exit_code == tested.exit_code == shown.exit_code == 0
    code = re.search(r"\d{6}", seen[0]).group()
    assert_nothing_leaks({code, "evil.example"}, enrolled.stdout, tested.stdout, shown.stdout,
                         stored_text(home))


# -- provider URLs ---------------------------------------------------------------------


REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data",  # AWS, Azure, GCP metadata
    "https://169.254.169.254",
    "https://[fd00:ec2::254]",  # AWS metadata over IPv6
    "https://metadata.google.internal",
    "https://metadata.google.internal.",
    "https://METADATA.goog",
    "https://100.100.100.200",  # Alibaba metadata (shared address space)
    "https://[::ffff:169.254.169.254]",  # IPv4-mapped
    "https://[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "https://0251.0376.0251.0376",  # 169.254.169.254 in octal
    "https://2852039166",  # 169.254.169.254 as one number
    "https://10.0.0.8", "https://172.16.5.4", "https://192.168.1.1",  # private
    "https://[fc00::1]", "https://[fe80::1]",  # unique local, link-local
    "https://0.0.0.0", "https://[::]",  # unspecified
    "https://224.0.0.1", "https://[ff02::1]",  # multicast
    "http://api.twilio.com",  # plain http off this machine
    "http://sms.example.com:8080",
    "https://user:pw@sms.example.com",  # userinfo
    "https://:pw@sms.example.com",
    "ftp://sms.example.com", "javascript:alert(1)", "https://", "https:///path",
]
ALLOWED_URLS = [
    "https://api.twilio.com", "https://sms.example.com:8443/v1", "http://127.0.0.1:8080",
    "http://127.8.9.10", "http://localhost:9000", "http://[::1]:9000", "https://[2606:4700::1111]",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_add_refuses_forbidden_provider_urls(cli, url):
    added = cli("provider", "add", "custom", "cdyne", "--title", "C", "--license-key", CDYNE_KEY,
                "--api-base-url", url, "--json")
    assert added.exit_code == 2, added.stdout
    assert added.json["error"]["code"] == "bad_input"
    assert "pw" not in added.stdout
    assert cli("provider", "list", "--json").json == []


@pytest.mark.parametrize("url", ["https://169.254.169.254", "http://sms.example.com",
                                 "https://u:pw@sms.example.com", "https://[fd00:ec2::254]"])
def test_update_refuses_forbidden_provider_urls(cli, url):
    assert cli("provider", "add", "custom", "twilio", "--title", "T", "--account-sid", TWILIO_SID,
               "--auth-token", TWILIO_TOKEN, "--from-number", "+14155550100").exit_code == 0
    updated = cli("provider", "update", "T", "--api-base-url", url, "--json")
    assert updated.exit_code == 2 and updated.json["error"]["code"] == "bad_input"
    shown = cli("provider", "show", "T", "--json").json
    assert shown["options"]["api_base_url"] == "https://api.twilio.com"


@pytest.mark.parametrize("url", ALLOWED_URLS)
def test_add_accepts_https_and_loopback_urls(cli, url):
    added = cli("provider", "add", "custom", "cdyne", "--title", "C", "--license-key", CDYNE_KEY,
                "--api-base-url", url, "--json")
    assert added.exit_code == 0, added.stdout


def test_show_never_shows_userinfo_of_a_stored_url(cli, home):
    """A URL stored before the policy existed (or written to the store by hand)."""
    assert cli("provider", "add", "custom", "cdyne", "--title", "C",
               "--license-key", CDYNE_KEY).exit_code == 0
    rt = open_runtime(home)
    try:
        with rt.transaction() as session:
            provider = session.exec(select(Provider)).one()
            provider.options = {**provider.options,
                                "api_base_url": "https://admin:hunter2@sms.example.com/api"}
            session.add(provider)
    finally:
        rt.engine.dispose()
    for args in (["provider", "show", "C"], ["provider", "show", "C", "--json"],
                 ["provider", "list"], ["provider", "list", "--json"]):
        shown = cli(*args)
        assert shown.exit_code == 0
        assert "hunter2" not in shown.stdout and "admin" not in shown.stdout
        assert "sms.example.com/api" in shown.stdout


def resolving(monkeypatch, names: dict[str, list[str]]) -> list[str]:
    """Make ``socket.getaddrinfo`` answer ``names`` (other names as usual); returns the asked."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        if host in names:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port or 443)) for a in names[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize("channel", ["twilio", "cdyne"])
@pytest.mark.parametrize("addresses", [["10.1.2.3"], ["93.184.215.14", "169.254.169.254"],
                                       ["fd00:ec2::254"], ["0.0.0.0"]])
def test_a_public_name_resolving_to_a_private_address_is_refused_at_send_time(
        cli, home, monkeypatch, channel, addresses):
    live_home(home, channel, "https://sms.example.com")
    asked = resolving(monkeypatch, {"sms.example.com": addresses})
    sent = cli("provider", "test", "P", "--to", PHONE, "--live", "--json")
    assert sent.exit_code == 5, sent.stdout
    assert sent.json["error"]["code"] == "delivery_failed"
    assert "sms.example.com resolves to" in sent.json["error"]["message"]
    assert "sms.example.com" in asked


@pytest.mark.parametrize("channel", ["twilio", "cdyne"])
def test_a_name_resolving_to_loopback_is_allowed(cli, home, monkeypatch, http_server, channel):
    from fakes import FakeCdyne, FakeTwilio

    fake = FakeTwilio(http_server) if channel == "twilio" else FakeCdyne(http_server)
    port = http_server.port
    live_home(home, channel, f"http://localhost:{port}")
    resolving(monkeypatch, {"localhost": ["127.0.0.1"]})
    sent = cli("provider", "test", "P", "--to", PHONE, "--live", "--json")
    assert sent.exit_code == 0, sent.stdout
    assert len(fake.accepted) == 1


class Redirector:
    """Answers the send with a redirect to another path of the same server, and counts."""

    def __init__(self, server, path: str, status: int) -> None:
        self.sent: list[str] = []
        self.followed: list[str] = []
        target = server.url_for("/stolen")
        server.expect_request(path).respond_with_handler(
            lambda request: self.sent.append(request.get_data(as_text=True))
            or Response("", status=status, headers={"Location": target}))
        server.expect_request("/stolen").respond_with_handler(
            lambda request: self.followed.append(request.get_data(as_text=True))
            or Response("{}", status=200))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("channel", ["twilio", "cdyne"])
def test_redirects_are_never_followed(cli, home, http_server, channel, status):
    redirector = Redirector(http_server, TWILIO_PATH if channel == "twilio" else CDYNE_PATH, status)
    live_home(home, channel, http_server.url_for("/").rstrip("/"))
    sent = cli("provider", "test", "P", "--to", PHONE, "--live", "--json")
    assert sent.exit_code == 5, sent.stdout
    assert sent.json["error"]["code"] == "delivery_failed"
    assert "redirect" in sent.json["error"]["message"]
    assert len(redirector.sent) == 1 and redirector.followed == []


@pytest.mark.parametrize("channel", ["twilio", "cdyne"])
def test_a_vendor_code_that_quotes_the_code_is_not_kept(home, cli, http_server, channel):
    """The error code field itself is provider text: a hostile one answers with our code."""
    codes: list[str] = []

    def answer(request, echo):
        text = request.form.get("Body") or json.loads(request.get_data())["Body"]
        codes.append(re.search(r"\b\d{6}\b", text).group())
        code = int(codes[-1])
        if channel == "twilio":
            body = {"code": code, "message": "no", "status": 400}
            return Response(json.dumps(body), status=400, content_type="application/json")
        return Response(json.dumps([{"MessageID": "x", "MessageStatus": code}]), status=200,
                        content_type="application/json")

    provider = EchoingProvider(http_server, TWILIO_PATH if channel == "twilio" else CDYNE_PATH,
                               answer)
    live_home(home, channel, provider.base_url)
    failed = cli("enroll", ALICE, "--method", "Code", "--phone", PHONE, "--json")
    assert failed.exit_code == 5, failed.stdout
    assert_nothing_leaks(set(codes), failed.stdout, stored_text(home), cli("audit").stdout)


@pytest.mark.parametrize("url", ["http://169.254.169.254", "https://admin:hunter2@127.0.0.1:9"])
def test_a_stored_url_that_breaks_the_policy_is_not_used(cli, home, http_server, url):
    """A provider stored before the policy existed (or written to the store by hand)."""
    live_home(home, "cdyne", http_server.url_for("/").rstrip("/"))
    rt = open_runtime(home)
    try:
        with rt.transaction() as session:
            provider = session.exec(select(Provider)).one()
            provider.options = {**provider.options, "api_base_url": url}
            session.add(provider)
    finally:
        rt.engine.dispose()
    sent = cli("provider", "test", "P", "--to", PHONE, "--live", "--json")
    assert sent.exit_code == 5 and sent.json["error"]["code"] == "delivery_failed"
    assert "provider update" in sent.json["error"]["message"]
    assert "hunter2" not in sent.stdout
