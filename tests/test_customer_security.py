"""Each SECURITY.md rule for the customer's side, attacked through the service layer.

The rule number is in each test's name (rule01_…); the closing note of the
customer-experience issue maps rules to these tests.
"""

from __future__ import annotations

import hashlib
import re
import threading

import pytest
from sqlalchemy import text
from sqlmodel import select

from tests.conftest import last_code
from twofa_cli import security
from twofa_cli.errors import BadInput, DeliveryFailed, NotFound, Rejected, Throttled, TwofaError
from twofa_cli.runtime import open_runtime
from twofa_cli.services import accounts, challenges, delivery, devices, entries, login
from twofa_cli.services.enrollment import enroll
from twofa_cli.store.models import AuditEvent, Challenge, TrustedDevice

ALICE = "alice@example.com"
PHONE = "+14155550199"
PASSWORD = "correct horse"


def enrolled(rt) -> str:
    """Enrol Alice's phone and return nothing but the verified state."""
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    challenges.verify(rt, ALICE, last_code(rt))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def write_config(home, setting: str) -> None:
    """Change one ``key = value`` line of the home's config.toml."""
    key = setting.split("=")[0].strip()
    path = home / "config.toml"
    text_, count = re.subn(rf"(?m)^{key} = .*$", setting, path.read_text(), count=1)
    assert count == 1
    path.write_text(text_)


def challenge_rows(rt) -> list[Challenge]:
    with rt.transaction() as session:
        return list(session.exec(select(Challenge)))


# -- rule 1: codes from secrets, 6 digits by default, 6-10 allowed ----------------------


def test_rule01_codes_come_from_secrets_and_have_the_configured_length(monkeypatch):
    calls = []
    real_randbelow = security.secrets.randbelow
    monkeypatch.setattr(security.secrets, "randbelow",
                        lambda bound: calls.append(bound) or real_randbelow(bound))
    code = security.generate_code()
    assert len(code) == 6 and code.isdigit() and calls == [10 ** 6]  # every code equally likely
    monkeypatch.setattr(security.secrets, "randbelow", lambda bound: 42)
    assert security.generate_code() == "000042"  # leading zeros are digits of the code
    monkeypatch.setattr(security.secrets, "randbelow", real_randbelow)
    assert len(security.generate_code(10)) == 10
    assert "random" not in vars(security)
    assert len({security.generate_code() for _ in range(200)}) > 190


def test_rule01_code_length_is_bounded_in_config(home):
    from twofa_cli.config import load_settings

    write_config(home, "length = 5")
    with pytest.raises(BadInput, match="codes.length"):
        load_settings(home)


def test_rule01_configured_length_is_used(home, clock, sms_setup):
    write_config(home, "length = 8")
    rt = open_runtime(home, clock=clock)
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    assert len(last_code(rt)) == 8


# -- rule 2: codes stored only as HMAC, compared in constant time -------------------------


def test_rule02_code_is_stored_only_as_an_hmac_keyed_by_the_secret(rt, sms_setup):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    code = last_code(rt)
    [challenge] = challenge_rows(rt)
    assert challenge.code_hmac == rt.key.code_hmac(challenge.id, code)
    assert challenge.code_hmac != hashlib.sha256(code.encode()).hexdigest()
    with rt.engine.connect() as connection:
        dumped = connection.execute(text("SELECT * FROM challenge")).all()
    assert code not in repr(dumped)
    other_key = security.SecretKey(security.SecretKey.generate())
    assert other_key.code_hmac(challenge.id, code) != challenge.code_hmac


def test_rule02_codes_are_compared_in_constant_time(rt, sms_setup, monkeypatch):
    compared = []
    real = security.hmac.compare_digest
    monkeypatch.setattr(challenges, "codes_match", lambda a, b: compared.append(1) or real(a, b))
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    challenges.verify(rt, ALICE, last_code(rt))
    assert compared == [1]


# -- rule 3: expiry, and Send New Code kills the old code ---------------------------------


def test_rule03_code_expires_after_ten_minutes(rt, clock, sms_setup):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    code = last_code(rt)
    clock.advance(seconds=601)
    with pytest.raises(Rejected, match="expired"):
        challenges.verify(rt, ALICE, code)


def test_rule03_code_still_valid_just_before_expiry(rt, clock, sms_setup):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    clock.advance(seconds=599)
    assert challenges.verify(rt, ALICE, last_code(rt)).status == "verified"


def test_rule03_ttl_is_bounded_in_config(home):
    from twofa_cli.config import load_settings

    write_config(home, "ttl_seconds = 901")
    with pytest.raises(BadInput, match="ttl_seconds"):
        load_settings(home)


def test_rule03_new_code_invalidates_the_old_one(rt, clock, sms_setup):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    old = last_code(rt)
    clock.advance(seconds=31)
    challenges.resend(rt, ALICE)
    new = last_code(rt)
    if old == new:  # one chance in a million; the HMAC changed all the same
        pytest.skip("the new code equals the old one")
    with pytest.raises(Rejected, match="wrong code"):
        challenges.verify(rt, ALICE, old)
    assert challenges.verify(rt, ALICE, new).status == "verified"


# -- rule 4: five wrong tries kill the code ------------------------------------------------


def test_rule04_five_wrong_tries_kill_the_code_until_send_new_code(rt, clock, sms_setup):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    code = last_code(rt)
    for attempt in range(4):
        with pytest.raises(Rejected, match="wrong code"):
            challenges.verify(rt, ALICE, wrong(code))
    with pytest.raises(Throttled, match="too many attempts"):
        challenges.verify(rt, ALICE, wrong(code))
    for _ in range(3):  # even the right code is refused now, with exit code 4
        with pytest.raises(Throttled, match="too many attempts: request a new code") as info:
            challenges.verify(rt, ALICE, code)
        assert info.value.exit_code == 4
    clock.advance(seconds=31)
    challenges.resend(rt, ALICE)
    assert challenges.verify(rt, ALICE, last_code(rt)).status == "verified"


# -- rule 5: single use, atomically ----------------------------------------------------------


def test_rule05_a_code_works_once(rt, sms_setup):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    code = last_code(rt)
    challenges.verify(rt, ALICE, code)
    with pytest.raises(Rejected):
        challenges.verify(rt, ALICE, code)


def test_rule05_two_threads_verifying_one_code_succeed_once(home, clock, sms_setup):
    rt = open_runtime(home, clock=clock)
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    code = last_code(rt)
    outcomes = race_twice(home, clock, lambda mine: challenges.verify(mine, ALICE, code).status)
    assert sorted(outcomes) == ["Rejected", "verified"]


def race_twice(home, clock, verify) -> list[str]:
    """Run ``verify(runtime)`` in two threads at once, each on a runtime of its own; what
    each returned, or the name of the TwofaError it raised."""
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt():
        mine = open_runtime(home, clock=clock)
        barrier.wait()
        try:
            outcomes.append(verify(mine))
        except TwofaError as exc:
            outcomes.append(type(exc).__name__)
        finally:
            mine.engine.dispose()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_rule05_claim_is_a_conditional_update(rt, sms_setup):
    """The winner is decided by UPDATE … WHERE status='pending', not by a prior read."""
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    code = last_code(rt)
    [challenge] = challenge_rows(rt)
    given = rt.key.code_hmac(challenge.id, code)
    with rt.transaction() as session:
        assert challenges._claim(session.connection(), rt, challenge.id, given) is True
        assert challenges._claim(session.connection(), rt, challenge.id, given) is False


# -- rule 6: account lockout -------------------------------------------------------------------


def fail_ten_times(rt, clock):
    """Ten wrong codes in a row, spread over two codes (five tries each)."""
    for round_ in range(2):
        code = last_code(rt)
        for attempt in range(5):
            with pytest.raises((Rejected, Throttled)):
                challenges.verify(rt, ALICE, wrong(code))
        if round_ == 0:
            clock.advance(seconds=31)
            challenges.resend(rt, ALICE)


def test_rule06_ten_failures_lock_verification_for_fifteen_minutes(rt, clock, sms_setup):
    enrolled(rt)
    login.login(rt, ALICE, PASSWORD)
    fail_ten_times(rt, clock)
    clock.advance(seconds=31)
    with pytest.raises(Throttled, match="locked"):
        challenges.resend(rt, ALICE)
    with pytest.raises(Throttled, match="locked") as info:
        challenges.verify(rt, ALICE, "123456")
    assert info.value.retry_after and info.value.retry_after <= 900
    # a right password does not reset the count, nor unlock
    with pytest.raises(Throttled, match="locked"):
        login.login(rt, ALICE, PASSWORD)
    clock.advance(seconds=900)
    login.login(rt, ALICE, PASSWORD)
    assert challenges.verify(rt, ALICE, last_code(rt)).status == "authenticated"
    assert accounts.show_account(rt, ALICE)["failed_verifications"] == 0


def test_rule06_lock_survives_a_restart(home, clock, sms_setup):
    rt = open_runtime(home, clock=clock)
    enrolled(rt)
    login.login(rt, ALICE, PASSWORD)
    fail_ten_times(rt, clock)
    restarted = open_runtime(home, clock=clock)
    with pytest.raises(Throttled, match="locked"):
        challenges.verify(restarted, ALICE, "123456")


def test_rule06_neither_new_code_nor_password_resets_the_count(rt, clock, sms_setup):
    enrolled(rt)
    login.login(rt, ALICE, PASSWORD)
    code = last_code(rt)
    for _ in range(4):
        with pytest.raises(Rejected):
            challenges.verify(rt, ALICE, wrong(code))
    clock.advance(seconds=31)
    login.login(rt, ALICE, PASSWORD)  # right password, fresh code
    code = last_code(rt)
    for _ in range(4):
        with pytest.raises(Rejected):
            challenges.verify(rt, ALICE, wrong(code))
    clock.advance(seconds=31)
    challenges.resend(rt, ALICE)
    code = last_code(rt)
    with pytest.raises(Rejected):
        challenges.verify(rt, ALICE, wrong(code))
    with pytest.raises(Throttled, match="locked"):
        challenges.verify(rt, ALICE, wrong(code))  # the tenth in a row
    assert accounts.show_account(rt, ALICE)["lock_ends_at"] is not None


# -- rule 7: send throttling -----------------------------------------------------------------


def test_rule07_send_new_code_at_most_every_thirty_seconds(rt, clock, sms_setup):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    clock.advance(seconds=10)
    with pytest.raises(Throttled, match="wait") as info:
        challenges.resend(rt, ALICE)
    assert info.value.exit_code == 4 and 1 <= info.value.retry_after <= 21
    clock.advance(seconds=20)
    challenges.resend(rt, ALICE)


def test_rule07_at_most_five_sends_per_challenge(rt, clock, sms_setup):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    for _ in range(4):
        clock.advance(seconds=31)
        challenges.resend(rt, ALICE)
    clock.advance(seconds=31)
    with pytest.raises(Throttled, match="5 times"):
        challenges.resend(rt, ALICE)


def test_rule07_at_most_ten_codes_per_destination_per_hour(rt, clock, sms_setup):
    for n in range(10):
        accounts.add_account(rt, email=f"user{n}@example.com", password=PASSWORD)
    for n in range(10):
        enroll(rt, f"user{n}@example.com", method="Text message", phone=PHONE)
    with pytest.raises(Throttled, match="this destination") as info:
        enroll(rt, ALICE, method="Text message", phone=PHONE)
    assert info.value.retry_after is not None
    enroll(rt, ALICE, method="Text message", phone="+14155550198")  # another number is fine
    clock.advance(minutes=61)
    enroll(rt, ALICE, method="Text message", phone=PHONE)


def test_rule07_per_provider_hourly_cap(home, clock, sms_setup):
    write_config(home, "provider_hourly_cap = 3")
    rt = open_runtime(home, clock=clock)
    for n in range(3):
        delivery.send_test(rt, "SMS", to=f"+1415555020{n}")
    with pytest.raises(Throttled, match="cap of 3"):
        enroll(rt, ALICE, method="Text message", phone=PHONE)
    assert challenge_rows(rt) == []


# -- rule 8: destinations validated ---------------------------------------------------------


@pytest.mark.parametrize("number", ["12345", "+1415555", "not a number", "+999123456789", "", "+" + "1" * 40])
def test_rule08_invalid_phone_numbers_are_refused(rt, sms_setup, number):
    with pytest.raises(BadInput):
        enroll(rt, ALICE, method="Text message", phone=number)
    assert challenge_rows(rt) == []


def test_rule08_allowed_countries(home, clock, sms_setup):
    write_config(home, 'allowed_countries = ["CA"]')
    rt = open_runtime(home, clock=clock)
    with pytest.raises(BadInput, match="not allowed"):
        enroll(rt, ALICE, method="Text message", phone=PHONE)  # a US number
    enroll(rt, ALICE, method="Text message", phone="+16135550123")  # Ottawa


def test_rule08_sms_method_needs_a_phone_and_email_method_an_email(rt, sms_setup):
    from twofa_cli.services import providers, secondary_auth

    with pytest.raises(BadInput):
        enroll(rt, ALICE, method="Text message", email="alice@example.com")
    providers.add_provider(rt, channel="smtp", title="Email")
    secondary_auth.add_secondary_auth(rt, provider="Email", title="Email code")
    with pytest.raises(BadInput):
        enroll(rt, ALICE, method="Email code", phone=PHONE)
    with pytest.raises(BadInput):
        enroll(rt, ALICE, method="Email code", email="not-an-email")
    # an address is stored case-folded (rule 20: one entry per mailbox, whatever the case)
    assert enroll(rt, ALICE, method="Email code", email="Alice@Example.com")["destination"] == "a•••@example.com"


# -- rule 9: no account enumeration through login -------------------------------------------


def test_rule09_unknown_account_and_wrong_password_look_alike(rt, sms_setup, monkeypatch):
    hashes_checked = []
    real_verify = security.verify_password
    monkeypatch.setattr(login, "verify_password",
                        lambda h, p: hashes_checked.append(h is not None) or real_verify(h, p))
    with pytest.raises(Rejected) as unknown:
        login.login(rt, "nobody@example.com", PASSWORD)
    with pytest.raises(Rejected) as wrong_password:
        login.login(rt, ALICE, "wrong password")
    assert unknown.value.message == wrong_password.value.message == "wrong email or password"
    assert unknown.value.exit_code == wrong_password.value.exit_code == 1
    # both paths run one argon2 verification (a dummy hash for the unknown account)
    assert hashes_checked == [False, True]


def test_rule09_dummy_verification_costs_a_real_argon2_check(monkeypatch):
    from argon2 import PasswordHasher

    verified = []
    real = PasswordHasher.verify
    monkeypatch.setattr(PasswordHasher, "verify", lambda self, h, p: verified.append(h) or real(self, h, p))
    assert security.verify_password(None, "anything") is False
    assert verified and verified[0].startswith("$argon2id$")


# -- rules 10-12: trusted devices ----------------------------------------------------------


def trusted_login(rt) -> str:
    enrolled(rt)
    login.login(rt, ALICE, PASSWORD)
    result = challenges.verify(rt, ALICE, last_code(rt), trust_device=True, device="laptop")
    assert result.trusted_device and result.device_token
    return result.device_token


def test_rule10_token_is_32_random_bytes_and_only_its_hash_is_stored(rt, clock, sms_setup):
    token = trusted_login(rt)
    import base64

    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    with rt.transaction() as session:
        [device] = session.exec(select(TrustedDevice)).all()
    assert device.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    with rt.engine.connect() as connection:
        everything = [connection.execute(text(f"SELECT * FROM {t}")).all()
                      for t in ("trusted_device", "audit")]
    assert token not in repr(everything)


def test_rule11_trusted_device_skips_the_code_until_it_expires(rt, clock, sms_setup):
    token = trusted_login(rt)
    clock.advance(seconds=31)
    assert login.login(rt, ALICE, PASSWORD, device_token=token)["status"] == "authenticated"
    clock.advance(days=30)
    assert login.login(rt, ALICE, PASSWORD, device_token=token)["status"] == "code_sent"


def test_rule11_revoke_one_device(rt, clock, sms_setup):
    token = trusted_login(rt)
    clock.advance(seconds=31)
    assert devices.revoke(rt, ALICE, "laptop")["revoked"] == 1
    assert login.login(rt, ALICE, PASSWORD, device_token=token)["status"] == "code_sent"
    with pytest.raises(NotFound):
        devices.revoke(rt, ALICE, "laptop")


def test_rule11_revoke_all_devices(rt, clock, sms_setup):
    token = trusted_login(rt)
    clock.advance(seconds=31)
    assert devices.revoke(rt, ALICE, every=True)["revoked"] == 1
    assert login.login(rt, ALICE, PASSWORD, device_token=token)["status"] == "code_sent"


def test_rule11_deleting_the_last_entry_revokes_trusted_devices(rt, clock, sms_setup):
    token = trusted_login(rt)
    [entry] = entries.list_entries(rt, ALICE)
    assert entries.remove_entry(rt, ALICE, str(entry["id"]))["trusted_devices_revoked"] == 1
    assert [d["state"] for d in devices.list_devices(rt, ALICE)] == ["revoked"]
    # with no entry left, login needs no code; a new entry will not honour the old token
    assert login.login(rt, ALICE, PASSWORD, device_token=token)["status"] == "authenticated"
    clock.advance(minutes=61)
    enrolled(rt)
    assert login.login(rt, ALICE, PASSWORD, device_token=token)["status"] == "code_sent"


def test_rule11_deleting_one_of_two_entries_keeps_trusted_devices(rt, clock, sms_setup):
    trusted_login(rt)
    clock.advance(seconds=31)
    enroll(rt, ALICE, method="Text message", phone="+14155550198")
    challenges.verify(rt, ALICE, last_code(rt))
    first = entries.list_entries(rt, ALICE)[0]
    assert entries.remove_entry(rt, ALICE, str(first["id"]))["trusted_devices_revoked"] == 0
    assert [d["state"] for d in devices.list_devices(rt, ALICE)] == ["active"]


def test_rule11_password_change_revokes_trusted_devices(rt, clock, sms_setup):
    token = trusted_login(rt)
    assert accounts.set_password(rt, ALICE, "a new passphrase")["trusted_devices_revoked"] == 1
    clock.advance(seconds=31)
    assert login.login(rt, ALICE, "a new passphrase", device_token=token)["status"] == "code_sent"


def test_rule12_tokens_of_another_account_expired_revoked_or_garbage_are_refused(rt, clock, sms_setup):
    alice_token = trusted_login(rt)
    accounts.add_account(rt, email="bob@example.com", password=PASSWORD)
    enroll(rt, "bob@example.com", method="Text message", phone="+14155550177")
    challenges.verify(rt, "bob@example.com", last_code(rt))
    for token in (alice_token, "garbage", "", "x" * 10_000, alice_token[:-1]):
        clock.advance(seconds=31)
        assert login.login(rt, "bob@example.com", PASSWORD, device_token=token)["status"] == "code_sent"


# -- rule 17: audit ---------------------------------------------------------------------


def test_rule17_customer_events_are_audited_without_secrets(rt, clock, sms_setup):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    codes = [last_code(rt)]
    with pytest.raises(Rejected):
        challenges.verify(rt, ALICE, wrong(codes[0]))
    challenges.verify(rt, ALICE, codes[0])
    login.login(rt, ALICE, PASSWORD)
    codes.append(last_code(rt))
    token = challenges.verify(rt, ALICE, codes[1], trust_device=True).device_token
    devices.revoke(rt, ALICE, every=True)
    [entry] = entries.list_entries(rt, ALICE)
    entries.remove_entry(rt, ALICE, str(entry["id"]))
    with rt.transaction() as session:
        events = session.exec(select(AuditEvent)).all()
    actions = {e.action for e in events}
    assert {"code.sent", "code.failed", "entry.verified", "login.verified", "device.trust",
            "device.revoke", "entry.delete"} <= actions
    assert all(e.actor == "tester" and e.at is not None for e in events)
    flat = repr([(e.target, e.detail, e.outcome) for e in events])
    assert all(code not in flat for code in codes) and token not in flat and PHONE not in flat


def test_rule17_lockout_is_audited(rt, clock, sms_setup):
    enrolled(rt)
    login.login(rt, ALICE, PASSWORD)
    fail_ten_times(rt, clock)
    with rt.transaction() as session:
        locked = session.exec(select(AuditEvent).where(AuditEvent.action == "account.locked")).all()
    assert len(locked) == 1 and locked[0].outcome == "locked"


# -- rule 18: a failed send leaves nothing half made ------------------------------------


def test_rule18_failed_send_leaves_no_challenge_and_counts_nothing(rt, clock, sms_setup, monkeypatch):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    [before] = challenge_rows(rt)

    def refuse(*args, **kwargs):
        raise DeliveryFailed("the provider refused the message", provider_code="21211")

    monkeypatch.setattr(delivery, "deliver", refuse)
    clock.advance(seconds=31)
    with pytest.raises(DeliveryFailed):
        challenges.resend(rt, ALICE)
    with pytest.raises(DeliveryFailed):
        enroll(rt, ALICE, method="Text message", phone="+14155550198")
    [after] = challenge_rows(rt)
    assert (after.id, after.sends, after.code_hmac, after.status) == (
        before.id, before.sends, before.code_hmac, "pending")
    with rt.transaction() as session:
        failures = session.exec(
            select(AuditEvent).where(AuditEvent.outcome == "delivery_failed")).all()
    assert len(failures) == 2


# -- rule 19: bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("ident", ["nobody@example.com", "999", "'; DROP TABLE account; --", "x" * 10_000])
def test_rule19_unknown_accounts_are_not_found(rt, sms_setup, ident):
    with pytest.raises(NotFound):
        enroll(rt, ident, method="Text message", phone=PHONE)
    with pytest.raises(NotFound):
        challenges.verify(rt, ident, "123456")
    assert accounts.list_accounts(rt)[0]["email"] == ALICE


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "", "١٢٣٤٥٦", "12 456"])
def test_rule19_malformed_codes_are_bad_input_and_cost_no_try(rt, sms_setup, code):
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    with pytest.raises(BadInput):
        challenges.verify(rt, ALICE, code)
    [challenge] = challenge_rows(rt)
    assert challenge.attempts == 0


def test_enroll_refused_while_2fa_is_inactive(rt, sms_setup):
    from twofa_cli.services import system

    system.set_allowed(rt, "customer", False)
    with pytest.raises(Rejected, match="Inactive"):
        enroll(rt, ALICE, method="Text message", phone=PHONE)


def test_inactive_2fa_keeps_entries_but_does_not_challenge(rt, clock, sms_setup):
    from twofa_cli.services import system

    enrolled(rt)
    system.set_allowed(rt, "customer", False)
    assert login.login(rt, ALICE, PASSWORD)["status"] == "authenticated"
    assert len(entries.list_entries(rt, ALICE)) == 1
    system.set_allowed(rt, "customer", True)
    assert login.login(rt, ALICE, PASSWORD)["status"] == "code_sent"


def test_admins_follow_the_admin_switch(rt, clock, sms_setup):
    from twofa_cli.services import system

    accounts.add_account(rt, email="root@example.com", password=PASSWORD, is_admin=True)
    with pytest.raises(Rejected, match="admins"):
        enroll(rt, "root@example.com", method="Text message", phone=PHONE)
    system.set_allowed(rt, "admin", True)
    enroll(rt, "root@example.com", method="Text message", phone=PHONE)
    challenges.verify(rt, "root@example.com", last_code(rt))
    assert login.login(rt, "root@example.com", PASSWORD)["status"] == "code_sent"


def test_message_names_the_company_or_leaves_it_out(rt, sms_setup):
    from twofa_cli.services import system

    enroll(rt, ALICE, method="Text message", phone=PHONE)
    body = delivery.list_outbox(rt, limit=1)[0]["body"]
    assert body == f"Your Acme Events verification code is {last_code(rt)}. It expires in 10 minutes."
    with rt.transaction() as session:
        session.execute(text("DELETE FROM setting WHERE key = 'company_name'"))
    accounts.add_account(rt, email="bob@example.com", password=PASSWORD)
    enroll(rt, "bob@example.com", method="Text message", phone="+14155550177")
    body = delivery.list_outbox(rt, limit=1)[0]["body"]
    assert body == f"Your verification code is {last_code(rt)}. It expires in 10 minutes."
    assert system.get_company_name(rt) == ""


def test_password_hasher_uses_production_parameters(monkeypatch):
    """Rule 16: argon2id with argon2-cffi's RFC 9106 low-memory defaults (tests use a cheaper one)."""
    from argon2 import Parameters, Type, extract_parameters, profiles

    monkeypatch.setattr(security, "_hasher", None)
    params: Parameters = extract_parameters(security.hash_password("a long password"))
    expected = profiles.RFC_9106_LOW_MEMORY
    assert params.type is Type.ID
    assert (params.time_cost, params.memory_cost, params.parallelism) == (
        expected.time_cost, expected.memory_cost, expected.parallelism)
