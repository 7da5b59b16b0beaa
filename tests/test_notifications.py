"""SECURITY.md rule 27: the customer is told by email when the two-factor set-up changes.

Each event's notice lands in the outbox (simulate mode) addressed to the account's email,
with the company and the time but no code, secret, token or full destination; in live
mode a relay that refuses it is audited and the change stays.
"""

from __future__ import annotations

import sqlite3

import pytest
from fakes import closed_port, configure, smtp_relay, smtp_settings  # noqa: F401 (fixtures)
from sqlmodel import select

from tests.conftest import last_code
from twofa_cli.channels.smtp import SmtpChannel
from twofa_cli.errors import DeliveryFailed
from twofa_cli.runtime import open_runtime
from twofa_cli.services import (
    accounts, challenges, devices, entries, login, providers, recovery, secondary_auth,
)
from twofa_cli.services.delivery import list_outbox
from twofa_cli.services.enrollment import enroll
from twofa_cli.services.notifications import EVENTS, notify
from twofa_cli.store.models import AuditEvent

ALICE = "alice@example.com"
PHONE = "+14155550199"
WORK_EMAIL = "alice.work@example.org"


@pytest.fixture
def notified(rt, sms_setup):
    """``sms_setup`` plus the platform's SMTP provider (and an email method on it)."""
    providers.add_provider(rt, channel="smtp", title="Email")
    secondary_auth.add_secondary_auth(rt, provider="Email", title="Email code")
    return sms_setup


def notices(rt) -> list[dict]:
    """Messages of the outbox that carry no code, newest first."""
    return [m for m in list_outbox(rt, limit=100) if m["code"] is None]


def audited(rt, action: str) -> list[AuditEvent]:
    with rt.transaction() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def assert_harmless(message: dict, *secrets: str) -> None:
    """No code, token or full destination in a notice; the company and the time are."""
    text = f"{message['subject']}\n{message['body']}"
    for secret in secrets:
        assert secret not in text
    assert "Acme Events" in text and "2026-01-15 12:00 UTC" in text


def enrol_phone(rt, **verify) -> tuple[str, challenges.Verified]:
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    code = last_code(rt)
    return code, challenges.verify(rt, ALICE, code, **verify)


@pytest.mark.parametrize("event", EVENTS)
def test_each_event_lands_in_the_outbox_for_the_accounts_email(rt, notified, event):
    account_id = notified["account"]["id"]
    assert notify(rt, account_id, event, destination=PHONE) == "simulated"
    [message] = notices(rt)
    assert message["to"] == ALICE and message["medium"] == "email"
    assert_harmless(message, PHONE)
    [event_row] = audited(rt, "notification.sent")
    assert (event_row.account_id, event_row.detail, event_row.outcome) == (
        account_id, event, "simulated")
    assert ALICE not in event_row.target


def test_an_unknown_event_is_a_programming_error(rt, notified):
    with pytest.raises(ValueError, match="unknown notification event"):
        notify(rt, notified["account"]["id"], "password_changed")


def test_a_verified_enrolment_tells_the_account_without_the_code(rt, notified):
    code, result = enrol_phone(rt)
    assert result.status == "verified"
    [message] = notices(rt)
    assert message["to"] == ALICE and "added" in message["body"]
    assert_harmless(message, code, PHONE, PHONE[-8:])
    assert "0199" in message["body"]  # the masked phone says which one


def test_an_email_entry_is_notified_to_the_accounts_email_not_the_entry(rt, notified):
    enroll(rt, ALICE, method="Email code", email=WORK_EMAIL)
    code = last_code(rt)
    challenges.verify(rt, ALICE, code)
    [message] = notices(rt)
    assert message["to"] == ALICE
    assert_harmless(message, code, WORK_EMAIL)


def test_trusting_a_device_tells_the_account_without_the_token(rt, notified):
    code, result = enrol_phone(rt, trust_device=True, device="laptop")
    assert result.trusted_device
    subjects = sorted(m["subject"] for m in notices(rt))
    assert subjects == ["Acme Events: New trusted device", "Acme Events: Two-factor method added"]
    for message in notices(rt):
        assert_harmless(message, code, result.device_token, result.device_token[:12])


def test_a_login_without_trust_sends_no_notice(rt, notified):
    enrol_phone(rt)
    login.login(rt, ALICE, "correct horse")
    challenges.verify(rt, ALICE, last_code(rt))
    assert len(notices(rt)) == 1  # the enrolment's only


def test_deleting_an_entry_tells_the_account(rt, notified):
    _, result = enrol_phone(rt)
    entries.remove_entry(rt, ALICE, str(result.entry_id))
    message = notices(rt)[0]
    assert message["to"] == ALICE and "removed" in message["body"]
    assert_harmless(message, PHONE)


def test_notices_spend_no_code_budget(rt, notified):
    """A notice to the account's email must not use up the caps that email codes need."""
    account_id = notified["account"]["id"]
    for _ in range(rt.settings.throttle.max_per_destination_per_hour + 1):
        notify(rt, account_id, "device_trusted")
    enroll(rt, ALICE, method="Email code", email=ALICE)  # not Throttled
    assert last_code(rt)


def test_without_an_smtp_provider_the_notice_is_skipped_and_audited(rt, sms_setup):
    code, result = enrol_phone(rt, trust_device=True)
    assert result.status == "verified" and result.trusted_device
    assert notices(rt) == []
    skipped = audited(rt, "notification.skipped")
    assert sorted(e.detail for e in skipped) == [
        "device_trusted: no SMTP provider", "entry_added: no SMTP provider"]
    assert all(e.outcome == "skipped" for e in skipped)


def live(home, clock, relay_settings: dict):
    configure(home, **relay_settings)
    return open_runtime(home, actor="tester", clock=clock)


def test_a_refused_notice_is_audited_and_the_enrolment_and_device_stay(home, clock, notified):
    """Live: the relay takes the code (to the work address) but refuses the account's mail."""
    with smtp_relay("none", refuse={ALICE}) as relay:
        rt = live(home, clock, smtp_settings(relay))
        try:
            enroll(rt, ALICE, method="Email code", email=WORK_EMAIL)
            code = relay.last_code()
            result = challenges.verify(rt, ALICE, code, trust_device=True, device="laptop")
            assert result.status == "verified" and result.trusted_device
            assert [e["method"] for e in entries.list_entries(rt, ALICE)] == ["Email code"]
            assert [d["state"] for d in devices.list_devices(rt, ALICE)] == ["active"]
            failed = audited(rt, "notification.failed")
            assert sorted(e.detail.partition(":")[0] for e in failed) == [
                "device_trusted", "entry_added"]
            assert all(code not in e.detail and result.device_token not in e.detail
                       for e in failed)
            assert len(relay.messages) == 1  # the code only
        finally:
            rt.engine.dispose()


def test_an_unreachable_relay_fails_the_notice_not_the_delete(home, clock, notified, closed_port):
    _, result = enrol_phone(open_runtime(home, actor="tester", clock=clock))
    rt = live(home, clock, {"delivery": {"mode": "live", "timeout_seconds": 1},
                            "smtp": {"host": "127.0.0.1", "port": closed_port, "security": "none"}})
    try:
        removed = entries.remove_entry(rt, ALICE, str(result.entry_id))
        assert removed["id"] == result.entry_id
        assert entries.list_entries(rt, ALICE) == []
        [failed] = audited(rt, "notification.failed")
        assert failed.detail.startswith("entry_deleted: SMTP relay 127.0.0.1")
        assert audited(rt, "entry.delete")
    finally:
        rt.engine.dispose()


def test_a_live_notice_reaches_the_relay(home, clock, notified):
    with smtp_relay("none") as relay:
        rt = live(home, clock, smtp_settings(relay))
        try:
            assert notify(rt, notified["account"]["id"], "recovery_codes_replaced") == "sent"
            message = relay.last()
            assert message["To"] == ALICE
            assert_harmless({"subject": message["Subject"], "body": message.get_content()})
            assert list_outbox(rt) == []
            [sent] = audited(rt, "notification.sent")
            assert sent.detail == "recovery_codes_replaced"
        finally:
            rt.engine.dispose()


@pytest.mark.sqlite_only
def test_a_live_notice_holds_no_write_lock_while_the_relay_works(home, clock, notified,
                                                                  monkeypatch):
    """A slow relay must not keep every other customer from writing to the store."""
    database = None

    def store_is_writable(self, message):
        other = sqlite3.connect(database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise DeliveryFailed(f"store locked during the send: {exc}") from None
        finally:
            other.close()
        raise DeliveryFailed("relay down")

    with smtp_relay("none") as relay:
        rt = live(home, clock, smtp_settings(relay))
        database = rt.engine.url.database
        monkeypatch.setattr(SmtpChannel, "send", store_is_writable)
        try:
            assert notify(rt, notified["account"]["id"], "entry_added") == "failed"
            [failed] = audited(rt, "notification.failed")
            assert failed.detail == "entry_added: relay down"
        finally:
            rt.engine.dispose()


def test_the_account_deleted_meanwhile_is_skipped_quietly(rt, notified):
    account_id = notified["account"]["id"]
    accounts.delete_account(rt, ALICE)
    assert notify(rt, account_id, "entry_deleted") == "skipped"
    assert notices(rt) == []


def test_a_store_error_in_the_notice_does_not_fail_the_verification(rt, notified, monkeypatch):
    """The device is trusted and committed: its token must still reach the customer."""
    from sqlalchemy.exc import OperationalError

    from twofa_cli.services import notifications

    def busy(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(notifications._RECIPIENT, "first", busy)
    _, result = enrol_phone(rt, trust_device=True, device="laptop")
    assert result.status == "verified" and result.device_token
    assert [d["state"] for d in devices.list_devices(rt, ALICE)] == ["active"]


def test_a_notice_the_store_refuses_half_way_is_undone_alone(rt, notified, monkeypatch):
    """In simulate mode the notices are written inside the verification's transaction.

    A statement the database refuses after the outbox row was written must take that row
    back, and only it: on PostgreSQL a failed statement aborts the whole transaction (the
    entry, the device, the spent code) unless a savepoint holds it; on SQLite a half-written
    notice would stay in the outbox with no audit row.
    """
    from twofa_cli.services import notifications

    def refused(connection, *args, **kwargs):
        connection.exec_driver_sql("INSERT INTO audit (action) VALUES (NULL)")  # NOT NULL

    enroll(rt, ALICE, method="Text message", phone=PHONE)
    monkeypatch.setattr(notifications, "_audit_sent", refused)
    result = challenges.verify(rt, ALICE, last_code(rt), trust_device=True, device="laptop")
    assert result.status == "verified" and result.device_token
    assert [d["state"] for d in devices.list_devices(rt, ALICE)] == ["active"]
    assert [e["id"] for e in entries.list_entries(rt, ALICE)] == [result.entry_id]
    assert notices(rt) == []
    [failed] = audited(rt, "notification.failed")
    assert failed.detail == "entry_added, device_trusted: the store refused it (IntegrityError)"
    assert audited(rt, "notification.sent") == []


def test_a_verification_rolled_back_leaves_no_notice(rt, notified):
    """Written in its transaction, a notice exists exactly when the change does."""
    enroll(rt, ALICE, method="Text message", phone=PHONE)

    def cannot_keep(account_id, token):
        raise OSError("cookie jar is read-only")

    with pytest.raises(OSError):
        challenges.verify(rt, ALICE, last_code(rt), trust_device=True, keep_token=cannot_keep)
    assert notices(rt) == [] and audited(rt, "notification.sent") == []
    assert entries.list_entries(rt, ALICE) == []


def test_removing_a_method_tells_each_customer_who_lost_an_entry(rt, notified):
    enrol_phone(rt)
    secondary_auth.remove_secondary_auth(rt, "Text message")
    message = notices(rt)[0]
    assert message["to"] == ALICE and message["subject"] == "Acme Events: Two-factor method removed"
    assert_harmless(message, PHONE)


def test_using_a_recovery_code_tells_the_account_without_the_code(rt, clock, notified):
    _, result = enrol_phone(rt)
    clock.advance(seconds=31)
    login.login(rt, ALICE, "correct horse")
    used = challenges.verify(rt, ALICE, "", recovery_code=result.recovery_codes[0])
    assert used.recovery_codes_remaining == 9
    message = notices(rt)[0]
    assert message["to"] == ALICE and "recovery code" in message["body"].lower()
    assert_harmless(message, result.recovery_codes[0],
                    recovery.normalise(result.recovery_codes[0]))


def test_replacing_the_recovery_codes_tells_the_account_without_them(rt, notified):
    enrol_phone(rt)
    fresh = recovery.generate(rt, ALICE)["recovery_codes"]
    message = notices(rt)[0]
    assert message["to"] == ALICE and "recovery codes" in message["body"].lower()
    assert_harmless(message, *fresh, *(recovery.normalise(code) for code in fresh))
