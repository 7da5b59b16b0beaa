"""Authenticator apps (TOTP, RFC 6238; SECURITY.md rule 26), on both stores.

Codes are computed by pyotp in the test from the secret ``enroll`` issued and the test's
clock: an implementation independent of the service's own check.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
from sqlmodel import select
import pytest

from tests.test_customer_security import ALICE, PASSWORD, PHONE
from twofa_cli.errors import BadInput, NotFound, Rejected, Throttled
from twofa_cli.services import challenges, entries, login, secondary_auth, system
from twofa_cli.services.enrollment import enroll
from twofa_cli.store.models import Challenge, Entry

APP = "Authenticator app"


@pytest.fixture
def app_setup(rt, sms_setup):
    """``sms_setup`` plus an authenticator-app method."""
    return secondary_auth.add_secondary_auth(rt, provider=None, kind="totp", title=APP)


def code_at(secret: str, when, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(when + timedelta(seconds=30 * steps))


def enrolled_app(rt, clock) -> str:
    """Alice with a verified authenticator app; its secret. The clock moves past the step
    used, so the next code is of a fresh step."""
    issued = enroll(rt, ALICE, method=APP)
    challenges.verify(rt, ALICE, code_at(issued["secret"], clock.now))
    clock.advance(seconds=30)
    return issued["secret"]


def test_a_totp_method_has_no_provider_and_says_its_kind(rt, app_setup):
    assert app_setup["kind"] == "totp" and app_setup["provider_id"] is None
    kinds = {m["title"]: m["kind"] for m in secondary_auth.list_secondary_auth(rt)}
    assert kinds == {"Text message": "code", APP: "totp"}
    with pytest.raises(BadInput):
        secondary_auth.add_secondary_auth(rt, provider="SMS", kind="totp", title="Other app")
    with pytest.raises(BadInput):
        secondary_auth.add_secondary_auth(rt, provider=None, kind="code", title="No provider")


def test_enrolment_issues_a_160_bit_secret_and_an_otpauth_uri(rt, clock, app_setup):
    issued = enroll(rt, ALICE, method=APP)
    assert issued["status"] == "secret_issued" and issued["challenge_id"]
    assert len(base64.b32decode(issued["secret"])) == 20  # 160 bits
    uri = urlparse(issued["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == f"/Acme Events:{ALICE}"
    query = parse_qs(uri.query)
    assert query["secret"] == [issued["secret"]] and query["issuer"] == ["Acme Events"]
    # Nothing is sent, and the secret is stored only as a Fernet token.
    with rt.transaction() as session:
        [challenge] = session.exec(select(Challenge)).all()
        assert issued["secret"] not in challenge.secret and challenge.secret.startswith("gAAAA")
    result = challenges.verify(rt, ALICE, code_at(issued["secret"], clock.now))
    assert result.status == "verified" and len(result.recovery_codes) == 10
    with rt.transaction() as session:
        [entry] = session.exec(select(Entry)).all()
        assert entry.secret.startswith("gAAAA") and issued["secret"] not in entry.secret


def test_enrolment_refuses_a_wrong_code_and_a_phone(rt, clock, app_setup):
    with pytest.raises(BadInput):
        enroll(rt, ALICE, method=APP, phone=PHONE)
    issued = enroll(rt, ALICE, method=APP)
    right = code_at(issued["secret"], clock.now)
    with pytest.raises(Rejected, match="wrong code"):
        challenges.verify(rt, ALICE, f"{(int(right) + 1) % 10**6:06d}")
    assert challenges.verify(rt, ALICE, right).status == "verified"


def test_the_allowed_switch_is_obeyed(rt, app_setup):
    system.set_allowed(rt, "customer", False)
    with pytest.raises(Rejected, match="Inactive"):
        enroll(rt, ALICE, method=APP)


def test_a_second_app_enrolment_too_soon_says_the_issued_secret_still_works(home, clock,
                                                                            app_setup):
    from twofa_cli import TwoFactor

    with TwoFactor.open(home, actor="tester", clock=clock) as twofa:
        issued = twofa.enroll(ALICE, method=APP)
        clock.advance(seconds=10)
        with pytest.raises(Throttled) as refused:
            twofa.enroll(ALICE, method=APP)
        message = str(refused.value)
        assert "code" in message and "new code" not in message  # nothing is ever sent to an app
        assert "secret" in message and 20 <= refused.value.retry_after <= 21
        assert message.endswith(f"in {refused.value.retry_after} s")
        # The secret already issued still completes the enrolment.
        assert twofa.verify(ALICE, code_at(issued.secret, clock.now)).status == "verified"


def test_an_app_enrolment_too_soon_after_a_text_message_one_names_both(home, clock, app_setup):
    from twofa_cli import TwoFactor

    with TwoFactor.open(home, actor="tester", clock=clock) as twofa:
        twofa.enroll(ALICE, method="Text message", phone=PHONE)
        with pytest.raises(Throttled) as refused:
            twofa.enroll(ALICE, method=APP)
        message = str(refused.value)
        assert "new code" not in message and "authenticator-app secret" in message
        clock.advance(seconds=30)
        assert twofa.enroll(ALICE, method=APP).secret


def test_login_asks_for_the_apps_code_and_sends_nothing(rt, clock, app_setup):
    secret = enrolled_app(rt, clock)
    from twofa_cli.services.delivery import list_outbox

    before = len(list_outbox(rt, limit=100))
    started = login.login(rt, ALICE, PASSWORD)
    assert started["status"] == "code_required" and started["method"] == APP
    assert len(list_outbox(rt, limit=100)) == before
    with pytest.raises(Rejected, match="nothing is sent"):
        challenges.resend(rt, ALICE)
    assert challenges.verify(rt, ALICE, code_at(secret, clock.now)).status == "authenticated"


def test_a_step_once_accepted_is_refused_again_even_within_its_window(rt, clock, app_setup):
    secret = enrolled_app(rt, clock)
    login.login(rt, ALICE, PASSWORD)
    code = code_at(secret, clock.now)
    assert challenges.verify(rt, ALICE, code).status == "authenticated"
    clock.advance(seconds=31)  # past the interval between challenges; the code is still ±1
    login.login(rt, ALICE, PASSWORD)
    with pytest.raises(Rejected, match="already been used"):
        challenges.verify(rt, ALICE, code)
    assert challenges.verify(rt, ALICE, code_at(secret, clock.now)).status == "authenticated"


def test_the_enrolment_step_cannot_be_replayed_at_login(rt, clock, app_setup):
    issued = enroll(rt, ALICE, method=APP)
    code = code_at(issued["secret"], clock.now)
    challenges.verify(rt, ALICE, code)
    clock.advance(seconds=31)
    login.login(rt, ALICE, PASSWORD)
    with pytest.raises(Rejected, match="already been used"):
        challenges.verify(rt, ALICE, code)


@pytest.mark.parametrize("steps, accepted", [(-1, True), (1, True), (-2, False), (2, False)])
def test_clock_drift_of_one_step_is_accepted_and_two_refused(rt, clock, app_setup, steps,
                                                             accepted):
    secret = enrolled_app(rt, clock)
    clock.advance(seconds=120)  # the entry's last step is well behind every code tried
    login.login(rt, ALICE, PASSWORD)
    code = code_at(secret, clock.now, steps=steps)
    if accepted:
        assert challenges.verify(rt, ALICE, code).status == "authenticated"
    else:
        with pytest.raises(Rejected, match="wrong code"):
            challenges.verify(rt, ALICE, code)


def test_wrong_app_codes_count_to_the_tries_and_the_lockout(rt, clock, app_setup):
    secret = enrolled_app(rt, clock)
    for round_ in range(2):
        login.login(rt, ALICE, PASSWORD)
        wrong = f"{(int(code_at(secret, clock.now)) + 500000) % 10**6:06d}"
        for _ in range(5):
            with pytest.raises((Rejected, Throttled)):
                challenges.verify(rt, ALICE, wrong)
        clock.advance(seconds=31)
    with pytest.raises(Throttled, match="locked"):
        login.login(rt, ALICE, PASSWORD)
    from twofa_cli.services.audit import list_events

    actions = [e["action"] for e in list_events(rt, limit=100)]
    assert actions.count("code.failed") == 10 and "account.locked" in actions


def test_an_app_code_is_six_digits(rt, clock, app_setup):
    enrolled_app(rt, clock)
    login.login(rt, ALICE, PASSWORD)
    with pytest.raises(BadInput):
        challenges.verify(rt, ALICE, "12345")


def test_login_uses_the_preferred_entry_or_the_method_asked_for(rt, clock, app_setup):
    secret = enrolled_app(rt, clock)
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    from tests.conftest import last_code

    challenges.verify(rt, ALICE, last_code(rt))
    clock.advance(seconds=31)
    assert login.login(rt, ALICE, PASSWORD)["status"] == "code_required"  # the first verified
    clock.advance(seconds=31)
    assert login.login(rt, ALICE, PASSWORD, method="Text message")["status"] == "code_sent"
    clock.advance(seconds=31)
    [app_entry, sms_entry] = entries.list_entries(rt, ALICE)
    assert entries.prefer_entry(rt, ALICE, str(sms_entry["id"]))["preferred"] is True
    assert login.login(rt, ALICE, PASSWORD)["status"] == "code_sent"
    clock.advance(seconds=31)
    started = login.login(rt, ALICE, PASSWORD, method=APP)
    assert started["status"] == "code_required"
    assert challenges.verify(rt, ALICE, code_at(secret, clock.now)).status == "authenticated"
    with pytest.raises(NotFound):
        login.login(rt, ALICE, PASSWORD, method="Carrier pigeon")


# -- the commands -----------------------------------------------------------------------------


def test_cli_enrols_an_app_with_a_qr_code_and_logs_in_with_its_codes(cli, home, tmp_path):
    assert cli("config", "set", "company-name", "Acme Events").exit_code == 0
    added = cli("secondary-auth", "add", "--kind", "totp", "--title", APP, "--json")
    assert added.exit_code == 0, added.stderr
    assert added.json["kind"] == "totp" and added.json["provider_id"] is None
    assert cli("customer", "enable").exit_code == 0
    assert cli("account", "add", ALICE, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    png = tmp_path / "alice.png"
    issued = cli("enroll", ALICE, "--method", APP, "--qr-png", str(png), "--json")
    assert issued.exit_code == 0, issued.stderr
    data = issued.json
    assert set(data) == {"status", "challenge_id", "otpauth_uri", "secret"}
    assert data["status"] == "secret_issued" and data["otpauth_uri"].startswith("otpauth://totp/")
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_mode & 0o077 == 0
    totp = pyotp.TOTP(data["secret"])
    verified = cli("verify", ALICE, totp.now(), "--json")
    assert verified.exit_code == 0, verified.stderr
    assert verified.json["status"] == "verified" and len(verified.json["recovery_codes"]) == 10
    entry = cli("entry", "list", ALICE, "--json").json[0]
    assert entry["method"] == APP and entry["destination"] == "authenticator app"
    # A human enrolment draws the QR code in the terminal.
    assert cli("entry", "delete", ALICE, str(entry["id"]), "--yes").exit_code == 0
    shown = cli("enroll", ALICE, "--method", APP)
    assert shown.exit_code == 0, shown.stderr
    assert "otpauth://totp/" in shown.stdout and "█" in shown.stderr
    # Piped, stdout holds only the header and the row: the picture went to stderr.
    assert "█" not in shown.stdout and len(shown.stdout.strip().splitlines()) == 2


def test_cli_app_enrolment_too_soon_is_throttled_with_a_message_for_an_app(cli, home, rt,
                                                                          app_setup):
    first = cli("enroll", ALICE, "--method", APP, "--json")
    assert first.exit_code == 0, first.stderr
    again = cli("enroll", ALICE, "--method", APP, "--json")
    assert again.exit_code == 4 and again.json["error"]["code"] == "throttled"
    message = again.json["error"]["message"]
    assert "new code" not in message and "secret" in message and again.json["error"]["retry_after"]
    human = cli("enroll", ALICE, "--method", APP)
    assert human.exit_code == 4 and "authenticator-app secret" in human.stderr
    assert pyotp.TOTP(first.json["secret"]).now()  # the first secret is the one to use
    verified = cli("verify", ALICE, pyotp.TOTP(first.json["secret"]).now(), "--json")
    assert verified.json["status"] == "verified"


def test_cli_login_says_code_required_and_refuses_a_replay(cli, home, rt, clock, app_setup):
    secret = enrolled_app(rt, clock)
    # The CLI runs on the real clock: codes come from pyotp's own clock here.
    started = cli("login", ALICE, "--password-stdin", "--json", input=PASSWORD + "\n")
    assert started.exit_code == 0, started.stderr
    assert started.json == {"status": "code_required", "challenge_id": started.json["challenge_id"],
                            "method": APP}
    code = pyotp.TOTP(secret).now()
    assert cli("verify", ALICE, code, "--json").json["status"] == "authenticated"
    again = cli("login", ALICE, "--password-stdin", "--json", "--method", APP,
                input=PASSWORD + "\n")
    assert again.exit_code == 0, again.stderr
    replay = cli("verify", ALICE, code, "--json")
    assert replay.exit_code == 1 and replay.json["error"]["code"] == "rejected"
    assert "already been used" in replay.json["error"]["message"]
