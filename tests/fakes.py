"""Local stand-ins for the three providers, all on 127.0.0.1: no other network.

- ``SmtpRelay``: a real aiosmtpd server (plain, STARTTLS or implicit TLS, with AUTH)
  that keeps every message it accepts.
- ``FakeTwilio``: Twilio's Messages API on pytest-httpserver; the real SDK talks to it
  through the provider's ``api_base_url``.
- ``FakeCdyne``: Cdyne's JSON SendMessage on pytest-httpserver, driven through requests.
- ``hanging_port`` (accepts, never answers) and ``closed_port`` (refuses).

Test modules import the fixtures they use from here (``from fakes import ...``).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import socket
import ssl
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

TWILIO_SID = "AC" + "a1" * 16
TWILIO_TOKEN = "tok" + "9f" * 14 + "xy"
CDYNE_KEY = "F01D89FD-5155-5455-5585-E84AB8DE8591"
SMTP_USER = "relay-user"
SMTP_PASSWORD = "s3cret-relay-pass"  # noqa: S105 (a throwaway for a local test relay)
SECRETS = (TWILIO_TOKEN, CDYNE_KEY, SMTP_PASSWORD)

CODE = re.compile(r"\b(\d{6,10})\b")


def code_in(text: str) -> str:
    """The verification code inside a message body."""
    match = CODE.search(text)
    assert match, f"no code in {text!r}"
    return match.group(1)


# -- a throwaway certificate for 127.0.0.1 / localhost -------------------------------


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate (its own CA) for CN/SAN localhost and 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "relay-cert.pem", folder / "relay-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Certificate(cert_file, key_file)


@pytest.fixture
def certificate(tmp_path) -> Certificate:
    return make_certificate(tmp_path / "tls")


# -- SMTP -----------------------------------------------------------------------------


@dataclass
class SmtpRelay:
    host: str
    port: int
    security: str
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str], str | None]] = field(default_factory=list)
    auth_failures: int = 0
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550

    def last(self) -> EmailMessage:
        assert self.messages, "the relay received nothing"
        return self.messages[-1]

    def last_code(self) -> str:
        return code_in(self.last().get_content())


class _Handler:
    def __init__(self, relay: SmtpRelay) -> None:
        self.relay = relay

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.relay.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        from email import policy

        self.relay.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        login = session.auth_data.login.decode() if session.authenticated else None
        self.relay.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), login))
        return "250 2.0.0 queued"


class _LocalController(Controller):
    """aiosmtpd's controller on an ephemeral port (it insists on knowing the port)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def smtp_relay(security: str = "none", *, certificate: Certificate | None = None,
               username: str | None = None, password: str | None = None,
               refuse: set[str] = frozenset()):
    """A running relay; ``security`` is "none", "starttls" or "ssl" like [smtp] security."""
    relay = SmtpRelay(host="127.0.0.1", port=0, security=security, refuse=set(refuse))

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login.decode(), auth_data.password.decode()) == (username, password)
        if not ok:
            relay.auth_failures += 1
        # handled=False: let aiosmtpd answer 235 or 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    kwargs: dict = {}
    if username is not None:
        # auth_require_tls=False: the plain ("none") relay must still offer AUTH.
        kwargs.update(authenticator=authenticator, auth_require_tls=False)
    if security == "starttls":
        kwargs.update(tls_context=certificate.server_context(), require_starttls=True)
    if security == "ssl":
        kwargs.update(ssl_context=certificate.server_context())
    controller = _LocalController(_Handler(relay), hostname="127.0.0.1", port=0,
                                  **kwargs)
    controller.start()
    relay.port = controller.port
    try:
        yield relay
    finally:
        controller.stop()


def smtp_settings(relay: SmtpRelay, *, certificate: Certificate | None = None,
                  username: str = "", timeout: float = 5) -> dict:
    """The [smtp] and [delivery] config that points twofa at ``relay``."""
    return {
        "delivery": {"mode": "live", "timeout_seconds": timeout},
        "smtp": {
            "host": relay.host, "port": relay.port, "security": relay.security,
            "username": username, "password_env": "TWOFA_SMTP_PASSWORD",
            "from_address": "no-reply@acme.example",
            "ca_file": str(certificate.cert_file) if certificate else "",
        },
    }


# -- HTTP servers ---------------------------------------------------------------------


_shared_server: HTTPServer | None = None


@pytest.fixture
def http_server():
    """A pytest-httpserver of our own, bound to 127.0.0.1 (never "localhost" or ::1).

    One server serves the whole session (stopping one takes half a second); its
    daemon thread ends with the test run, and each test starts with no handlers.
    """
    global _shared_server
    if _shared_server is None:
        _shared_server = HTTPServer(host="127.0.0.1", port=0)
        _shared_server.start()
    yield _shared_server
    _shared_server.clear()


def _json(status: int, body) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class FakeTwilio:
    """Twilio's ``POST /2010-04-01/Accounts/{Sid}/Messages.json``, as far as sending goes."""

    def __init__(self, server: HTTPServer, sid: str = TWILIO_SID, token: str = TWILIO_TOKEN) -> None:
        self.server = server
        self.sid = sid
        self.token = token
        self.requests: list[dict] = []  # the form of every request, good or bad
        self.accepted: list[dict] = []
        self.script: list[Response] = []  # answers to give before behaving normally
        self.path = f"/2010-04-01/Accounts/{sid}/Messages.json"
        server.expect_request(self.path, method="POST").respond_with_handler(self._handle)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def fail_next(self, status: int, code: int | None, message: str = "") -> None:
        body = {"code": code, "message": message or f"error {code}",
                "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
        self.script.append(_json(status, body))

    def last_code(self) -> str:
        assert self.accepted, "Twilio received nothing"
        return code_in(self.accepted[-1]["Body"])

    def _handle(self, request: Request) -> Response:
        form = request.form.to_dict()
        self.requests.append(form)
        if self.script:
            return self.script.pop(0)
        expected = "Basic " + base64.b64encode(f"{self.sid}:{self.token}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _json(401, {"code": 20003, "message": "Authenticate", "status": 401,
                               "more_info": "https://www.twilio.com/docs/errors/20003"})
        if not form.get("To") or not form.get("Body") or (
                bool(form.get("From")) == bool(form.get("MessagingServiceSid"))):
            return _json(400, {"code": 21604, "message": "A 'To', 'Body' and one sender are required",
                               "status": 400})
        self.accepted.append(form)
        sid = "SM" + uuid.uuid4().hex
        return _json(201, {
            "sid": sid, "account_sid": self.sid, "to": form["To"], "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "body": form["Body"],
            "status": "queued", "num_segments": "1", "direction": "outbound-api",
            "api_version": "2010-04-01", "price": None, "error_code": None, "error_message": None,
            "date_created": "Thu, 15 Jan 2026 12:00:00 +0000",
            "uri": f"{self.path[:-5]}/{sid}.json",
        })


class FakeCdyne:
    """Cdyne's ``POST /Messaging.svc/SendMessage`` (SMS Notify, JSON)."""

    path = "/Messaging.svc/SendMessage"

    def __init__(self, server: HTTPServer, license_key: str = CDYNE_KEY) -> None:
        self.server = server
        self.license_key = license_key
        self.requests: list[dict] = []
        self.accepted: list[dict] = []
        self.script: list[Response] = []
        server.expect_request(self.path, method="POST").respond_with_handler(self._handle)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    def fail_next(self, status: int, text: str = "", content_type: str = "text/plain") -> None:
        self.script.append(Response(text, status=status, content_type=content_type))

    def status_next(self, message_status) -> None:
        """Answer 200 but with this MessageStatus for the recipient (Cdyne's other way to refuse)."""
        self.script.append(_json(200, [{"MessageID": str(uuid.uuid4()), "MessageStatus": message_status,
                                        "To": "", "From": ""}]))

    def last_code(self) -> str:
        assert self.accepted, "Cdyne received nothing"
        return code_in(self.accepted[-1]["Body"])

    def _handle(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        self.requests.append(body)
        if self.script:
            return self.script.pop(0)
        if body.get("LicenseKey") != self.license_key:
            return Response("License Key is invalid", status=401)
        if not isinstance(body.get("To"), list) or not body.get("Body"):
            return _json(400, {"Message": "To and Body are required"})
        self.accepted.append(body)
        return _json(200, [{"MessageID": str(uuid.uuid4()), "MessageStatus": 201,
                            "To": body["To"][0], "From": body.get("From", "15559080983"),
                            "SentTime": "/Date(1768478400000)/", "Attachments": None}])


@pytest.fixture
def fake_twilio(http_server) -> FakeTwilio:
    return FakeTwilio(http_server)


@pytest.fixture
def fake_cdyne(http_server) -> FakeCdyne:
    return FakeCdyne(http_server)


# -- servers that misbehave at the socket level ---------------------------------------


@pytest.fixture
def hanging_port():
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connections are refused."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


# -- config.toml of a test home -------------------------------------------------------


def configure(home: Path, **sections: dict) -> None:
    """Set keys of config.toml in place, e.g. ``configure(home, delivery={"mode": "live"})``.

    The file is the commented example ``twofa init`` wrote; only the named keys change.
    """
    path = home / "config.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    for section, values in sections.items():
        start = lines.index(f"[{section}]")
        for key, value in values.items():
            literal = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
            for index in range(start + 1, len(lines)):
                if lines[index].startswith("["):
                    raise AssertionError(f"{key} not in [{section}] of config.toml")
                if lines[index].split("=")[0].strip() == key:
                    lines[index] = f"{key} = {literal}"
                    break
            else:
                raise AssertionError(f"{key} not in [{section}] of config.toml")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
