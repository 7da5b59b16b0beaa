"""SECURITY.md rule 34: configuration values that reach a protocol never hold control
characters; a notice that fails never turns a committed change into an error.

Also the leftovers of the same red-team pass: TOML or JSON nested too deeply, files
that are not regular files (a FIFO, a device) or too large where a file is read, and
library calls that misuse the API.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from fakes import configure, smtp_relay, smtp_settings  # noqa: F401 (fixtures)
from sqlmodel import select

from twofa_cli.api import TwoFactor
from twofa_cli.channels.smtp import SmtpChannel
from twofa_cli.errors import BadInput, Rejected
from twofa_cli.runtime import open_runtime
from twofa_cli.services import challenges, entries, providers, recovery, secondary_auth
from twofa_cli.services.enrollment import enroll
from twofa_cli.store.models import AuditEvent

ALICE = "alice@example.com"
WORK_EMAIL = "alice.work@example.org"
HEADER_INJECTION = "a@b.c\r\nBcc: x@evil.example"
# Each setting that ends in an SMTP command or header, with a value that would split it.
PROTOCOL_VALUES = [
    ("smtp.from_address", HEADER_INJECTION),
    ("smtp.from_address", "a\x7f@b.example"),
    ("smtp.from_address", "a@b.example\x85"),
    ("smtp.host", "relay.example\r\nRCPT TO:<x@evil.example>"),
    ("smtp.host", "relay\t.example"),
    ("smtp.username", "mailer\nAUTH"),
    ("smtp.username", "mailer\x1b[2J"),
]
DEEP = 5000  # past Python's recursion limit


def audited(rt, action: str) -> list[AuditEvent]:
    with rt.transaction() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


# -- control characters in settings that reach a protocol ------------------------------


@pytest.mark.parametrize(("key", "value"), PROTOCOL_VALUES)
def test_config_set_refuses_a_control_character_in_a_protocol_value(cli, home, key, value):
    before = (home / "config.toml").read_text()
    run = cli("config", "set", key, value, "--json")
    assert run.exit_code == 2, run.stdout
    assert key in run.json["error"]["message"]
    assert "control characters" in run.json["error"]["message"]
    assert (home / "config.toml").read_text() == before


@pytest.mark.parametrize("value", ["not-an-address", "a@b@c.example", "@acme.example",
                                   "Acme <no-reply@acme.example>"])
def test_config_set_refuses_a_from_address_that_is_not_an_email_address(cli, home, value):
    before = (home / "config.toml").read_text()
    run = cli("config", "set", "smtp.from_address", value, "--json")
    assert run.exit_code == 2, run.stdout
    assert "smtp.from_address" in run.json["error"]["message"]
    assert (home / "config.toml").read_text() == before


@pytest.mark.parametrize("value", ["no-reply@localhost", "no-reply@shop.example.com"])
def test_config_set_takes_a_plain_from_address(cli, home, value):
    run = cli("config", "set", "smtp.from_address", value, "--json")
    assert run.exit_code == 0, run.stdout
    assert run.json["value"] == value


@pytest.mark.parametrize(("key", "value"), PROTOCOL_VALUES)
def test_an_environment_variable_with_a_control_character_is_refused_by_name(
        cli, home, monkeypatch, key, value):
    variable = "TWOFA_" + key.replace(".", "__").upper()
    monkeypatch.setenv(variable, value)
    run = cli("config", "show", "--json")
    assert run.exit_code == 2, run.stdout
    assert variable in run.json["error"]["message"]


@pytest.mark.parametrize(("key", "value"), PROTOCOL_VALUES)
def test_apply_refuses_a_control_character_naming_the_key(cli, home, tmp_path, key, value):
    section, name = key.split(".")
    document = tmp_path / "setup.toml"
    escaped = "".join(f"\\u{ord(c):04x}" if not c.isprintable() else c for c in value)
    document.write_text(f'[settings.{section}]\n{name} = "{escaped}"\n')
    before = (home / "config.toml").read_text()
    run = cli("apply", str(document), "--json")
    assert run.exit_code == 2, run.stdout
    assert f"settings.{key}" in run.json["error"]["message"]
    assert (home / "config.toml").read_text() == before


# -- a notice that fails after the change committed -------------------------------------


@pytest.fixture
def email_setup(rt, sms_setup):
    providers.add_provider(rt, channel="smtp", title="Email")
    secondary_auth.add_secondary_auth(rt, provider="Email", title="Email code")
    return sms_setup


def unexpected_failure(monkeypatch) -> None:
    """The notice breaks in a way no channel foresaw: the email package refusing a header
    (what a from address holding CR/LF did), not a DeliveryFailed."""

    def refuse(self, message):
        raise ValueError("Header values may not contain linefeed or carriage return characters")

    monkeypatch.setattr(SmtpChannel, "_email", refuse)


def test_a_bad_from_address_fails_the_notice_not_the_first_enrolment(home, clock, email_setup):
    """Live: the code reached the relay; then the notice's From header cannot be made."""
    with smtp_relay("none") as relay:
        configure(home, **smtp_settings(relay))
        rt = open_runtime(home, actor="tester", clock=clock)
        try:
            enroll(rt, ALICE, method="Email code", email=WORK_EMAIL)
            code = relay.last_code()
            # As a config.toml written before the check would hold it: not validated again.
            rt.settings.smtp.from_address = HEADER_INJECTION
            result = challenges.verify(rt, ALICE, code)
            assert result.status == "verified" and len(result.recovery_codes) == 10
            assert [e["method"] for e in entries.list_entries(rt, ALICE)] == ["Email code"]
            [failed] = audited(rt, "notification.failed")
            assert failed.detail.startswith("entry_added:")
            assert len(relay.messages) == 1  # the code only; no Bcc went anywhere
        finally:
            rt.engine.dispose()


def test_the_library_returns_the_recovery_codes_when_the_notice_fails(home, clock, email_setup,
                                                                      monkeypatch):
    with smtp_relay("none") as relay:
        configure(home, **smtp_settings(relay))
        with TwoFactor.open(home, clock=clock) as twofa:
            twofa.enroll(ALICE, method="Email code", email=WORK_EMAIL)
            unexpected_failure(monkeypatch)
            result = twofa.verify(ALICE, relay.last_code())
            assert result.status == "verified" and len(result.recovery_codes) == 10
            assert [e.method for e in twofa.entries(ALICE)] == ["Email code"]
            assert [e.action for e in twofa.audit(account=ALICE)].count("notification.failed") == 1


def test_the_cli_prints_the_recovery_codes_when_the_notice_fails(cli, home, email_setup,
                                                                 monkeypatch):
    with smtp_relay("none") as relay:
        configure(home, **smtp_settings(relay))
        assert cli("enroll", ALICE, "--method", "Email code", "--email", WORK_EMAIL,
                   "--json").exit_code == 0
        unexpected_failure(monkeypatch)
        run = cli("verify", ALICE, relay.last_code(), "--json")
        assert run.exit_code == 0, (run.stdout, run.stderr)
        assert run.json["status"] == "verified" and len(run.json["recovery_codes"]) == 10
        trail = cli("audit", "--account", ALICE, "--json").json
        assert [e["action"] for e in trail].count("notification.failed") == 1
        assert len(cli("entry", "list", ALICE, "--json").json) == 1


def _delete_entry(rt):
    entries.remove_entry(rt, ALICE, "Text message")
    assert entries.list_entries(rt, ALICE) == []


def _new_recovery_codes(rt):
    assert len(recovery.generate(rt, ALICE)["recovery_codes"]) == 10


def _remove_method(rt):
    secondary_auth.remove_secondary_auth(rt, "Text message")
    assert entries.list_entries(rt, ALICE) == []


@pytest.mark.parametrize("change", [_delete_entry, _new_recovery_codes, _remove_method])
def test_every_notice_after_a_commit_fails_alone(home, clock, email_setup, monkeypatch, change):
    from tests.conftest import last_code

    simulated = open_runtime(home, actor="tester", clock=clock)
    enroll(simulated, ALICE, method="Text message", phone="+14155550199")
    challenges.verify(simulated, ALICE, last_code(simulated))
    simulated.engine.dispose()
    configure(home, delivery={"mode": "live", "timeout_seconds": 1})
    unexpected_failure(monkeypatch)
    rt = open_runtime(home, actor="tester", clock=clock)
    try:
        change(rt)
        assert len(audited(rt, "notification.failed")) >= 1
    finally:
        rt.engine.dispose()


# -- documents nested too deeply ---------------------------------------------------------


def test_an_apply_file_nested_too_deeply_is_bad_input(cli, home, tmp_path):
    document = tmp_path / "deep.toml"
    document.write_text("company_name = " + "[" * DEEP + "]" * DEEP + "\n")
    run = cli("apply", str(document), "--json")
    assert run.exit_code == 2, run.stdout
    assert "nested" in run.json["error"]["message"]


def test_a_config_toml_nested_too_deeply_is_bad_input(cli, home):
    with (home / "config.toml").open("a") as handle:
        handle.write("\n[sms]\nallowed_countries = " + "[" * DEEP + "]" * DEEP + "\n")
    run = cli("config", "show", "--json")
    assert run.exit_code == 2, run.stdout
    assert "nested" in run.json["error"]["message"]


def test_an_environment_list_nested_too_deeply_is_bad_input(cli, home, monkeypatch):
    monkeypatch.setenv("TWOFA_SMS__ALLOWED_COUNTRIES", "[" * DEEP + "]" * DEEP)
    run = cli("config", "show", "--json")
    assert run.exit_code == 2, run.stdout
    assert "TWOFA_SMS__ALLOWED_COUNTRIES" in run.json["error"]["message"]


# -- files that are not regular files, or too large --------------------------------------


def finishes(work, fifo: Path | None = None, seconds: float = 10):
    """``work()``'s result, or its exception, from a thread that may not hang: if it still
    runs after ``seconds`` the FIFO is opened for writing so the reader wakes, and the test
    fails instead of hanging the suite."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail("reading the file hung")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_applying_a_fifo_is_bad_input_and_does_not_hang(home, clock, tmp_path):
    fifo = tmp_path / "setup.toml"
    os.mkfifo(fifo)
    with TwoFactor.open(home, clock=clock) as twofa, pytest.raises(BadInput) as caught:
        finishes(lambda: twofa.apply(fifo), fifo)
    assert str(fifo) in caught.value.message and "regular file" in caught.value.message


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_applying_a_device_is_bad_input(cli, home, device):
    run = finishes(lambda: cli("apply", device, "--json"))
    assert run.exit_code == 2, run.stdout
    assert device in run.json["error"]["message"]


def twilio_document(tmp_path: Path, reference: str) -> Path:
    from tests.conftest import TWILIO_SID

    document = tmp_path / "setup.toml"
    document.write_text(f'[[providers]]\ntitle = "SMS"\nchannel = "twilio"\n'
                        f'account_sid = "{TWILIO_SID}"\nfrom_number = "+14155550100"\n'
                        f'auth_token = "{reference}"\n')
    return document


def test_a_file_reference_to_a_fifo_is_bad_input_and_does_not_hang(home, clock, tmp_path):
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    document = twilio_document(tmp_path, f"file:{fifo}")
    with TwoFactor.open(home, clock=clock) as twofa, pytest.raises(BadInput) as caught:
        finishes(lambda: twofa.apply(document), fifo)
    assert "providers[0].auth_token" in caught.value.message and str(fifo) in caught.value.message
    with TwoFactor.open(home, clock=clock) as twofa:
        assert twofa.providers() == []


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/tty", "large"])
def test_a_file_reference_to_a_device_or_a_large_file_is_bad_input(cli, home, tmp_path, target):
    if target == "large":
        target = str(tmp_path / "large")
        Path(target).write_text("a" * (64 * 1024 + 1))
    run = finishes(lambda: cli("apply", str(twilio_document(tmp_path, f"file:{target}")),
                               "--json"))
    assert run.exit_code == 2, run.stdout
    assert target in run.json["error"]["message"]
    assert cli("provider", "list", "--json").json == []


# -- library misuse ----------------------------------------------------------------------


@pytest.fixture
def twofa(home, clock):
    with TwoFactor.open(home, clock=clock) as opened:
        yield opened


@pytest.mark.parametrize("active", ["no", "yes", 1, None])
def test_set_allowed_takes_a_bool_only(twofa, active):
    with pytest.raises(BadInput):
        twofa.set_allowed("customer", active)
    assert twofa.allowed("customer").active is False


@pytest.mark.parametrize("call", [
    lambda t: t.add_account(12345, "correct horse"),
    lambda t: t.add_account("bob@example.com", b"correct horse"),
    lambda t: t.add_account("bob@example.com", "correct horse", admin="no"),
    lambda t: t.set_company_name(["Acme"]),
    lambda t: t.verify("bob@example.com", 123456),
    lambda t: t.add_secondary_auth(title=7, kind="totp"),
    lambda t: t.allowed("everyone"),
    lambda t: t.outbox(limit=-1),
    lambda t: t.outbox(limit="5"),
    lambda t: t.audit(limit=-1),
    lambda t: t.accounts(limit=True),
], ids=["email-int", "password-bytes", "admin-str", "company-list", "code-int", "title-int",
        "audience", "outbox-negative", "outbox-str", "audit-negative", "limit-bool"])
def test_a_wrong_type_or_value_is_bad_input_and_changes_nothing(twofa, call):
    with pytest.raises(BadInput):
        call(twofa)
    assert twofa.accounts() == [] and twofa.company_name() == ""
    assert twofa.secondary_auths() == []


def test_every_call_after_close_is_rejected(home, clock):
    twofa = TwoFactor.open(home, clock=clock)
    twofa.close()
    for call in (lambda: twofa.accounts(), lambda: twofa.set_allowed("customer", True),
                 lambda: twofa.add_account("bob@example.com", "correct horse"),
                 lambda: twofa.outbox()):
        with pytest.raises(Rejected, match="closed"):
            call()
    twofa.close()  # closing twice is harmless
    assert twofa.closed
    with TwoFactor.open(home, clock=clock) as again:
        assert again.accounts() == [] and again.allowed("customer").active is False
