"""The customer story with ``[delivery] mode = "live"``, against each provider's local stand-in.

The code is read from what the fake SMTP relay, Twilio or Cdyne received, never from
the outbox, which must stay empty in live mode. Every test runs on SQLite and, when
TWOFA_TEST_DATABASE_URL is set, on PostgreSQL (the ``home`` fixture).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes import (  # noqa: F401 (fixtures)
    CDYNE_KEY,
    CODE,
    SECRETS,
    SMTP_PASSWORD,
    SMTP_USER,
    TWILIO_SID,
    TWILIO_TOKEN,
    Certificate,
    FakeCdyne,
    FakeTwilio,
    SmtpRelay,
    certificate,
    closed_port,
    code_in,
    configure,
    hanging_port,
    http_server,
    smtp_relay,
)
from sqlalchemy import func
from sqlmodel import SQLModel, select

from twofa_cli.errors import DeliveryFailed, Rejected
from twofa_cli.runtime import open_runtime
from twofa_cli.services import accounts, challenges, enrollment, login, providers, secondary_auth, system
from twofa_cli.services.delivery import list_outbox
from twofa_cli.store.models import AuditEvent, Challenge, Delivery, OutboxMessage

ALICE = "alice@example.com"
PASSWORD = "correct horse battery"
PHONE = "+14155550199"
KINDS = ["smtp", "twilio", "cdyne"]


@dataclass
class Target:
    """One provider made live: where codes go and how to read or break them."""

    kind: str
    title: str
    destination: str
    received: Callable[[], list[str]]  # bodies the provider accepted, oldest first

    @property
    def enroll_args(self) -> dict:
        return {"email": self.destination} if self.kind == "smtp" else {"phone": self.destination}

    @property
    def cli_destination(self) -> list[str]:
        return ["--email" if self.kind == "smtp" else "--phone", self.destination]

    def codes(self) -> list[str]:
        """The bodies that carry a code (an SMTP relay also carries the customer's notices)."""
        return [body for body in self.received() if CODE.search(body)]

    def last_code(self) -> str:
        bodies = self.codes()
        assert bodies, f"{self.kind} received no code"
        return code_in(bodies[-1])


@dataclass
class Stage:
    """The three local providers, one live home, and the customer Alice."""

    home: Path
    relay: SmtpRelay
    certificate: Certificate
    twilio: FakeTwilio
    cdyne: FakeCdyne
    monkeypatch: pytest.MonkeyPatch

    def go_live(self, kind: str, clock=None) -> Target:
        configure(
            self.home,
            delivery={"mode": "live", "timeout_seconds": 1},
            smtp={"host": self.relay.host, "port": self.relay.port, "security": "starttls",
                  "username": SMTP_USER, "from_address": "no-reply@acme.example",
                  "ca_file": str(self.certificate.cert_file)},
        )
        self.monkeypatch.setenv("TWOFA_SMTP_PASSWORD", SMTP_PASSWORD)
        rt = open_runtime(self.home, actor="tester", clock=clock)
        try:
            system.set_company_name(rt, "Acme Events")
            target = self._add_provider(rt, kind)
            secondary_auth.add_secondary_auth(rt, provider=target.title, title="Code")
            system.set_allowed(rt, "customer", True)
            accounts.add_account(rt, email=ALICE, password=PASSWORD)
        finally:
            rt.engine.dispose()
        return target

    def _add_provider(self, rt, kind: str) -> Target:
        if kind == "smtp":
            providers.add_provider(rt, channel="smtp", title="Email")
            return Target(kind, "Email", ALICE,
                          lambda: [m.get_content() for m in self.relay.messages])
        if kind == "twilio":
            providers.add_provider(rt, channel="twilio", title="Twilio", options={
                "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN,
                "from_number": "+14155550100", "api_base_url": self.twilio.base_url})
            return Target(kind, "Twilio", PHONE, lambda: [f["Body"] for f in self.twilio.accepted])
        providers.add_provider(rt, channel="cdyne", title="Cdyne", options={
            "license_key": CDYNE_KEY, "api_base_url": self.cdyne.base_url})
        return Target(kind, "Cdyne", PHONE, lambda: [b["Body"] for b in self.cdyne.accepted])


@pytest.fixture
def stage(home, http_server, certificate, monkeypatch):
    with smtp_relay("starttls", certificate=certificate, username=SMTP_USER,
                    password=SMTP_PASSWORD) as relay:
        yield Stage(home, relay, certificate, FakeTwilio(http_server), FakeCdyne(http_server),
                    monkeypatch)


@pytest.fixture
def live_rt(stage, clock, request):
    """A runtime opened after the home went live with the provider named by the test."""
    target = stage.go_live(request.param, clock)
    rt = open_runtime(stage.home, actor="tester", clock=clock)
    yield rt, target
    rt.engine.dispose()


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    # The retry's pause is tested in the channel tests; here it would only slow things.
    monkeypatch.setattr("twofa_cli.channels.base.time.sleep", lambda seconds: None)


def count(rt, model, *where) -> int:
    with rt.transaction() as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def everything_stored(rt) -> list[str]:
    """Every value in every table, as text, to search for what must never be stored."""
    with rt.transaction() as session:
        return [str(value) for table in SQLModel.metadata.sorted_tables
                for row in session.execute(select(table)) for value in row if value is not None]


def assert_not_stored(rt, *texts: str) -> None:
    stored = everything_stored(rt)
    for text in texts:
        assert not [value for value in stored if text in value], f"{text!r} is stored"


# -- the story -----------------------------------------------------------------------


@pytest.mark.parametrize("live_rt", KINDS, indirect=True)
def test_customer_story_live(live_rt, clock):
    rt, target = live_rt

    sent = enrollment.enroll(rt, ALICE, method="Code", **target.enroll_args)
    assert sent["status"] == "code_sent"
    assert target.received()[-1].startswith("Your Acme Events verification code is ")
    verified = challenges.verify(rt, ALICE, target.last_code())
    assert verified.status == "verified" and verified.entry_id is not None

    challenged = login.login(rt, ALICE, PASSWORD)
    assert challenged["status"] == "code_sent"
    clock.advance(seconds=31)  # Send New Code is allowed again
    assert challenges.resend(rt, ALICE)["status"] == "code_sent"
    authenticated = challenges.verify(rt, ALICE, target.last_code())
    assert authenticated.status == "authenticated"

    assert len(target.codes()) == 3
    # The SMTP provider is also the platform's email one: it told Alice of her new method.
    notices = [body for body in target.received() if body not in target.codes()]
    assert len(notices) == (1 if target.kind == "smtp" else 0)
    assert all("A two-factor method (a•••@example.com) was added" in body for body in notices)
    assert count(rt, Delivery) == 3  # counted for the send caps; notices are not
    assert list_outbox(rt) == [] and count(rt, OutboxMessage) == 0
    stored = everything_stored(rt)
    for body in target.codes():
        # The code on its own (a substring test could hit digits of a Message-ID by chance).
        assert code_in(body) not in stored
    assert_not_stored(rt, *target.received(), *SECRETS)


# -- a failed send leaves nothing behind ----------------------------------------------


def refuse_next(stage: Stage, target: Target) -> str:
    """Make the provider refuse the next message; return the reason twofa should give."""
    if target.kind == "smtp":
        stage.relay.refuse.add(target.destination)
        return "refused the recipient"
    if target.kind == "twilio":
        stage.twilio.fail_next(400, 21211, "The 'To' number is not valid")
        return "not a valid phone number"
    stage.cdyne.fail_next(406, "invalid destination")
    return "destination number is invalid"


@pytest.mark.parametrize("live_rt", KINDS, indirect=True)
def test_failed_enrol_leaves_no_challenge(live_rt, stage):
    rt, target = live_rt
    reason = refuse_next(stage, target)
    with pytest.raises(DeliveryFailed, match=reason):
        enrollment.enroll(rt, ALICE, method="Code", **target.enroll_args)
    assert count(rt, Challenge) == 0
    assert count(rt, Delivery) == 0  # a failed send does not count as sent
    assert count(rt, OutboxMessage) == 0
    assert count(rt, AuditEvent, AuditEvent.outcome == "delivery_failed") == 1
    assert_not_stored(rt, *SECRETS)


@pytest.mark.parametrize("live_rt", KINDS, indirect=True)
def test_failed_resend_keeps_the_pending_code(live_rt, stage, clock):
    rt, target = live_rt
    enrollment.enroll(rt, ALICE, method="Code", **target.enroll_args)
    first = target.last_code()
    clock.advance(seconds=31)
    refuse_next(stage, target)
    with pytest.raises(DeliveryFailed):
        challenges.resend(rt, ALICE)
    with rt.transaction() as session:
        [challenge] = session.exec(select(Challenge)).all()
    assert challenge.sends == 1 and challenge.status == "pending"
    assert count(rt, Delivery) == 1
    assert challenges.verify(rt, ALICE, first).status == "verified"


@pytest.mark.parametrize("live_rt", KINDS, indirect=True)
def test_failed_login_send_leaves_no_challenge(live_rt, stage):
    rt, target = live_rt
    enrollment.enroll(rt, ALICE, method="Code", **target.enroll_args)
    challenges.verify(rt, ALICE, target.last_code())
    refuse_next(stage, target)
    with pytest.raises(DeliveryFailed):
        login.login(rt, ALICE, PASSWORD)
    assert count(rt, Challenge) == 1  # the enrolment's, used
    assert count(rt, Challenge, Challenge.status == "pending") == 0
    with pytest.raises(Rejected, match="no code is pending"):
        challenges.verify(rt, ALICE, "000000")


# -- every mapped error through the CLI: its reason, exit code 5 ----------------------


def _twilio(code):
    return lambda stage, ports: stage.twilio.fail_next(400, code, "refused")


def _cdyne(status):
    return lambda stage, ports: stage.cdyne.fail_next(status, "refused")


def _point_at(kind, which):
    """Send the provider's traffic to the "closed" (refusing) or "hanging" (silent) port."""
    def breaker(stage, ports):
        if kind == "smtp":
            configure(stage.home, smtp={"port": ports[which]})
        else:
            _set_base_url(stage, kind, f"http://127.0.0.1:{ports[which]}")
    return breaker


def _set_base_url(stage, kind, url):
    rt = open_runtime(stage.home)
    try:
        providers.update_provider(rt, "Twilio" if kind == "twilio" else "Cdyne",
                                  options={"api_base_url": url})
    finally:
        rt.engine.dispose()


def _wrong_smtp_password(stage, ports):
    stage.monkeypatch.setenv("TWOFA_SMTP_PASSWORD", "not-the-password")


def _smtp_refuses(stage, ports):
    stage.relay.refuse.update({ALICE, "bob@example.com"})


ERRORS = [
    ("smtp", _wrong_smtp_password, "rejected the username or password"),
    ("smtp", _smtp_refuses, "refused the recipient"),
    ("smtp", _point_at("smtp", "closed"), "unreachable: connection refused"),
    ("smtp", _point_at("smtp", "hanging"), "timed out after 1 s"),
    ("twilio", _twilio(20003), "Twilio rejected the credentials"),
    ("twilio", _twilio(21211), "'To' number is not a valid phone number"),
    ("twilio", _twilio(21408), "Geo permissions"),
    ("twilio", _twilio(21608), "trial"),
    ("twilio", _twilio(21614), "not a mobile number"),
    ("twilio", _twilio(21635), "not a mobile number"),
    ("twilio", _point_at("twilio", "closed"), "Twilio unreachable at 127.0.0.1:[0-9]+: connection refused"),
    ("twilio", _point_at("twilio", "hanging"), "Twilio unreachable: timed out after 1 s"),
    ("cdyne", _cdyne(401), "Cdyne rejected the License Key"),
    ("cdyne", _cdyne(403), "opted out"),
    ("cdyne", _cdyne(406), "destination number is invalid"),
    ("cdyne", _point_at("cdyne", "closed"), "Cdyne unreachable at 127.0.0.1:[0-9]+: connection refused"),
    ("cdyne", _point_at("cdyne", "hanging"), "Cdyne unreachable: timed out after 1 s"),
]


@pytest.mark.parametrize(("kind", "breaker", "reason"), ERRORS,
                         ids=[f"{k}-{r.split(':')[0][:30]}" for k, _, r in ERRORS])
def test_cli_shows_each_reason_with_exit_5(cli, stage, closed_port, hanging_port,
                                           kind, breaker, reason):
    target = stage.go_live(kind)
    ports = {"closed": closed_port, "hanging": hanging_port}

    breaker(stage, ports)
    other = "bob@example.com" if kind == "smtp" else "+14155550123"
    tested = cli("provider", "test", target.title, "--to", other, "--live")
    assert tested.exit_code == 5, (tested.stdout, tested.stderr)
    assert re.search(reason, tested.stderr) and tested.stderr.startswith("Error: ")
    assert "Traceback" not in tested.stderr + tested.stdout

    breaker(stage, ports)  # scripted refusals are used up by one request
    enrolled = cli("enroll", ALICE, "--method", "Code", *target.cli_destination, "--json")
    assert enrolled.exit_code == 5, (enrolled.stdout, enrolled.stderr)
    error = enrolled.json["error"]
    assert error["code"] == "delivery_failed" and re.search(reason, error["message"])

    for secret in (*SECRETS, "not-the-password"):
        assert secret not in tested.stderr + enrolled.stdout
    rt = open_runtime(stage.home)
    try:
        assert count(rt, Challenge) == 0 and count(rt, OutboxMessage) == 0
        assert_not_stored(rt, *SECRETS, "not-the-password")
    finally:
        rt.engine.dispose()
