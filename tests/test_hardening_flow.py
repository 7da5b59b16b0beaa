"""The customer flow under attack: timing, spellings, budgets, races, cookies, lockout.

Each test attacks one promise of SECURITY.md (rules 6, 7, 9, 11, 20 and 25) the way
the hardening review found it broken; the class number of that review is in the
section titles.
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func
from sqlalchemy.engine import Engine
from sqlmodel import select

from tests.conftest import last_code
from tests.test_customer_security import ALICE, PASSWORD, PHONE, enrolled, wrong, write_config
from twofa_cli import security
from twofa_cli.errors import BadInput, Conflict, Rejected, Throttled, TwofaError
from twofa_cli.runtime import open_runtime
from twofa_cli.services import accounts, challenges, delivery, login, providers, secondary_auth
from twofa_cli.services.enrollment import enroll
from twofa_cli.store.models import Account, AuditEvent, Challenge, Delivery, TrustedDevice

METHOD = "Text message"


def count(rt, model, *where) -> int:
    with rt.transaction() as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def alice(rt) -> Account:
    with rt.transaction() as session:
        return session.exec(select(Account).where(Account.email == ALICE)).one()


def audit_actions(rt, action: str) -> int:
    return count(rt, AuditEvent, AuditEvent.action == action)


# -- class 2: login timing does not tell unknown accounts from wrong passwords -------------


@pytest.mark.parametrize("first", ["unknown", "wrong_password"])
def test_both_failed_login_paths_run_exactly_one_argon2_verify_from_the_first_call(
    rt, sms_setup, argon2_calls, first,
):
    """A fresh process (conftest resets the hasher): neither path may hash, both verify once."""
    attempts = {"unknown": "nobody@example.com", "wrong_password": ALICE}
    order = [first] + [name for name in attempts if name != first]
    per_path = {}
    for name in order:
        argon2_calls.clear()
        with pytest.raises(Rejected, match="wrong email or password"):
            login.login(rt, attempts[name], "not the password")
        per_path[name] = dict(argon2_calls)
    assert per_path == {"unknown": {"verify": 1}, "wrong_password": {"verify": 1}}


def test_text_no_account_can_have_is_refused_by_the_library_on_every_store(
    rt, sms_setup, argon2_calls,
):
    """Not UTF-8 (a lone surrogate, as Python makes of undecodable argv) is bad input, not
    an encoding error from the driver; too long fails like any unknown account."""
    with pytest.raises(BadInput, match="UTF-8"):
        login.login(rt, "al\udcffice@example.com", "not the password")
    assert dict(argon2_calls) == {}
    with pytest.raises(Rejected, match="wrong email or password"):
        login.login(rt, "a" * 290 + "@example.com", "not the password")
    assert dict(argon2_calls) == {"verify": 1}


def test_the_dummy_hash_has_the_configured_parameters_and_matches_nothing():
    from argon2 import extract_parameters

    hasher = security._password_hasher()
    dummy = extract_parameters(security._dummy_hash())
    real = extract_parameters(hasher.hash("x"))
    assert (dummy.type, dummy.time_cost, dummy.memory_cost, dummy.parallelism,
            dummy.salt_len, dummy.hash_len) == (real.type, real.time_cost, real.memory_cost,
                                                 real.parallelism, real.salt_len, real.hash_len)
    assert security.verify_password(None, "") is False
    assert security.verify_password(None, "anything") is False


def test_cli_login_does_the_same_work_for_unknown_account_and_wrong_password(cli, monkeypatch):
    """Same statements, and no client-side cookie read before the password is right."""
    from twofa_cli.browser import Browser

    assert cli("account", "add", ALICE, "--password-stdin",
               input=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0
    statements: list[str] = []
    cookie_reads: list[object] = []
    real_cookie = Browser.cookie
    monkeypatch.setattr(Browser, "cookie",
                        lambda self, account_id: cookie_reads.append(account_id) or
                        real_cookie(self, account_id))

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        work = {}
        for who in ("nobody@example.com", ALICE):
            statements.clear()
            cookie_reads.clear()
            result = cli("login", who, "--password-stdin", "--json", input="not the password\n")
            assert result.exit_code == 1 and result.json["error"]["message"] == "wrong email or password"
            work[who] = (list(statements), list(cookie_reads))
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert work["nobody@example.com"] == work[ALICE]
    assert work[ALICE][1] == []


# -- class 3: one canonical form of a destination -----------------------------------------


@pytest.mark.parametrize(("spelling", "key"), [
    ("victim@example.com", "victim@example.com"),
    ("Victim@Example.COM", "victim@example.com"),
    ("VICTIM+shop@example.com", "victim@example.com"),
    ("vic.tim@example.com", "vic.tim@example.com"),  # dots matter outside Gmail
    ("Vic.Tim+x@gmail.com", "victim@gmail.com"),
    ("v.i.c.t.i.m@googlemail.com", "victim@gmail.com"),
    ("+14155550199", "+14155550199"),
])
def test_budget_key_folds_every_spelling_of_one_mailbox(spelling, key):
    assert delivery.budget_key(spelling) == key


@pytest.fixture
def email_method(rt, sms_setup):
    providers.add_provider(rt, channel="smtp", title="Email")
    secondary_auth.add_secondary_auth(rt, provider="Email", title="Email code")
    for n in range(14):
        accounts.add_account(rt, email=f"user{n}@example.com", password=PASSWORD)
    return "Email code"


def test_send_cap_counts_every_spelling_of_an_address_once(rt, email_method):
    for n in range(10):
        enroll(rt, f"user{n}@example.com", method=email_method, email="victim@example.com")
    for n, spelling in enumerate(["Victim@example.com", "VICTIM@EXAMPLE.COM",
                                  "victim+again@example.com", "ViCtIm+x@Example.com"], start=10):
        with pytest.raises(Throttled, match="this destination"):
            enroll(rt, f"user{n}@example.com", method=email_method, email=spelling)
    assert count(rt, Challenge) == 10


def test_gmail_dots_reach_one_mailbox_and_share_its_cap(rt, email_method):
    for n in range(10):
        enroll(rt, f"user{n}@example.com", method=email_method, email=f"{'vic.tim' if n % 2 else 'victim'}@gmail.com")
    with pytest.raises(Throttled, match="this destination"):
        enroll(rt, "user10@example.com", method=email_method, email="V.I.C.T.I.M@googlemail.com")


def test_an_entry_is_unique_whatever_the_case_of_its_address(rt, clock, email_method):
    enroll(rt, ALICE, method=email_method, email="Alice.Smith@Example.com")
    verified = challenges.verify(rt, ALICE, last_code(rt))
    with rt.transaction() as session:
        from twofa_cli.store.models import Entry

        entry = session.get(Entry, verified.entry_id)
    assert entry.destination == "alice.smith@example.com"
    clock.advance(seconds=31)
    with pytest.raises(Conflict, match="already enrolled"):
        enroll(rt, ALICE, method=email_method, email="ALICE.SMITH@example.com")


# -- class 4: other accounts cannot spend the owner's budget; per-account challenge limits --


def test_attackers_enrolling_the_victims_phone_cannot_stop_the_victim_logging_in(rt, clock, sms_setup):
    enrolled(rt)  # Alice verified PHONE
    accounts.add_account(rt, email="mallory@example.com", password=PASSWORD)
    # One attacker account is throttled by its own per-account limits first …
    with pytest.raises(Throttled) as throttled:
        for _ in range(100):
            clock.advance(seconds=31)
            enroll(rt, "mallory@example.com", method=METHOD, phone=PHONE)
    assert throttled.value.retry_after
    # … and many attacker accounts exhaust the budget of unverified sends to the phone.
    with pytest.raises(Throttled, match="this destination"):
        for n in range(100):
            accounts.add_account(rt, email=f"sybil{n}@example.com", password=PASSWORD)
            enroll(rt, f"sybil{n}@example.com", method=METHOD, phone=PHONE)
    # The owner's verified entry has a budget of its own.
    clock.advance(seconds=31)
    sent = login.login(rt, ALICE, PASSWORD)
    assert sent["status"] == "code_sent"
    assert challenges.verify(rt, ALICE, last_code(rt)).status == "authenticated"


def test_the_owners_own_budget_is_bounded_too(home, clock, sms_setup):
    write_config(home, "max_challenges_per_account_per_hour = 100")
    rt = open_runtime(home, clock=clock)
    enrolled(rt)
    for _ in range(10):  # the enrolment went to the shared budget: ten logins fit
        clock.advance(seconds=31)
        login.login(rt, ALICE, PASSWORD)
    clock.advance(seconds=31)
    # over the cap no code is sent: the customer gets the live code of the last login
    # (issue 17), and once that one is dead, the cap's refusal
    sends = count(rt, Delivery)
    assert login.login(rt, ALICE, PASSWORD)["reused"] is True
    assert count(rt, Delivery) == sends
    clock.advance(minutes=10)
    with pytest.raises(Throttled, match="this destination"):
        login.login(rt, ALICE, PASSWORD)


def test_enroll_and_login_wait_an_interval_between_new_challenges(rt, clock, sms_setup):
    enroll(rt, ALICE, method=METHOD, phone=PHONE)
    clock.advance(seconds=10)
    with pytest.raises(Throttled, match="wait") as info:
        enroll(rt, ALICE, method=METHOD, phone="+14155550198")
    assert 1 <= info.value.retry_after <= 21
    clock.advance(seconds=20)
    enroll(rt, ALICE, method=METHOD, phone="+14155550198")
    challenges.verify(rt, ALICE, last_code(rt))
    # a completed challenge is no reason to wait: log in right after enrolling
    first = login.login(rt, ALICE, PASSWORD)
    assert first["status"] == "code_sent"
    # within the interval a second login sends nothing: it reaches the first one's code
    # (issue 17: a right password never stalls)
    again = login.login(rt, ALICE, PASSWORD)
    assert (again["challenge_id"], again["reused"]) == (first["challenge_id"], True)


def test_enroll_and_login_are_capped_per_account_and_hour(rt, clock, sms_setup):
    for n in range(10):
        clock.advance(seconds=31)
        enroll(rt, ALICE, method=METHOD, phone=f"+141555502{n:02d}")
    clock.advance(seconds=31)
    with pytest.raises(Throttled, match="this account in the last hour") as info:
        enroll(rt, ALICE, method=METHOD, phone=PHONE)
    assert info.value.retry_after and info.value.retry_after <= 3600
    clock.advance(minutes=61)
    enroll(rt, ALICE, method=METHOD, phone=PHONE)


def test_new_throttle_keys_are_bounded(home):
    from twofa_cli.config import load_settings
    from twofa_cli.errors import BadInput

    original = (home / "config.toml").read_text()
    for setting in ("challenge_interval_seconds = -1", "max_challenges_per_account_per_hour = 0",
                    "max_lock_seconds = 10"):
        write_config(home, setting)
        with pytest.raises(BadInput):
            load_settings(home)
        (home / "config.toml").write_text(original)


# -- class 8: counters are exact under concurrency on every store -------------------------


def wrong_codes_at_once(rt, code: str, n: int) -> list[str]:
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def attempt():
        barrier.wait()
        try:
            outcomes.append(challenges.verify(rt, ALICE, wrong(code)).status)
        except TwofaError as exc:
            outcomes.append(type(exc).__name__)
        except Exception as exc:  # a driver error must fail the test, not vanish in a thread
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_forty_concurrent_wrong_codes_count_exactly_and_lock_once(home, clock, sms_setup):
    write_config(home, "max_failures = 5")
    rt = open_runtime(home, clock=clock)
    enrolled(rt)
    login.login(rt, ALICE, PASSWORD)

    outcomes = wrong_codes_at_once(rt, last_code(rt), 40)

    assert sorted(set(outcomes)) <= ["Rejected", "Throttled"], outcomes
    assert outcomes.count("Rejected") == 4  # the fifth wrong try locks instead
    with rt.transaction() as session:
        [challenge] = session.exec(select(Challenge).where(Challenge.status == "pending")).all()
    assert challenge.attempts == 5
    assert alice(rt).failed_verifications == 5
    assert audit_actions(rt, "code.failed") == 5
    assert audit_actions(rt, "account.locked") == 1

    # the lock ends; a second storm locks once more, for twice as long
    clock.advance(seconds=900)
    challenges.resend(rt, ALICE)
    wrong_codes_at_once(rt, last_code(rt), 40)
    assert alice(rt).failed_verifications == 5
    assert audit_actions(rt, "code.failed") == 10
    assert audit_actions(rt, "account.locked") == 2
    assert alice(rt).locked_until == clock.now + timedelta(seconds=1800)
    rt.engine.dispose()


# -- class 9: the trusted-device cookie and the store agree -------------------------------


def test_a_cookie_that_cannot_be_kept_leaves_no_trusted_device(rt, sms_setup):
    enrolled(rt)
    login.login(rt, ALICE, PASSWORD)
    code = last_code(rt)

    def broken_cookie_jar(account_id: int, token: str) -> None:
        raise Rejected("cannot write the cookie")

    with pytest.raises(Rejected, match="cookie"):
        challenges.verify(rt, ALICE, code, trust_device=True, device="laptop",
                          keep_token=broken_cookie_jar)
    assert count(rt, TrustedDevice) == 0
    assert audit_actions(rt, "device.trust") == 0
    assert audit_actions(rt, "login.verified") == 0
    # nothing was spent: the same code still completes the login, and the token is kept
    kept = {}
    result = challenges.verify(rt, ALICE, code, trust_device=True, device="laptop",
                               keep_token=lambda account_id, token: kept.update({account_id: token}))
    assert result.trusted_device and kept == {result.account_id: result.device_token}
    assert count(rt, TrustedDevice) == 1


def test_cli_verify_with_an_unwritable_cookie_jar_trusts_nothing(cli, home, monkeypatch):
    from tests.test_story import latest_code

    for args in (("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", "AC" + "a1" * 16,
                  "--auth-token", "tok" + "9f" * 14 + "xy", "--from-number", "+14155550100"),
                 ("secondary-auth", "add", "--provider", "SMS", "--title", METHOD),
                 ("customer", "enable")):
        assert cli(*args).exit_code == 0, args
    assert cli("account", "add", ALICE, "--password-stdin", input=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0
    assert cli("enroll", ALICE, "--method", METHOD, "--phone", PHONE).exit_code == 0
    assert cli("verify", ALICE, latest_code(cli)).exit_code == 0
    assert cli("login", ALICE, "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    code = latest_code(cli)
    shutil.rmtree(home / "devices")  # the login kept its session there: forget it
    (home / "devices").write_text("not a folder")  # seen before anything changes: bad input
    refused = cli("verify", ALICE, code, "--trust-device", "--json")
    assert (refused.exit_code, refused.json["error"]["code"]) == (2, "bad_input")
    (home / "devices").unlink()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:  # the disk fills up as the cookie is written
        patch.setattr(os, "fsync", disk_full)
        failed = cli("verify", ALICE, latest_code(cli), "--trust-device", "--json")

    assert (failed.exit_code, failed.json["error"]["code"]) == (1, "rejected")
    assert "devices" in failed.json["error"]["message"]
    devices_listed = cli("device", "list", ALICE, "--json").json
    assert [d for d in devices_listed if d["state"] == "active"] == []
    again = cli("verify", ALICE, latest_code(cli), "--trust-device", "--json")
    assert again.exit_code == 0 and again.json["trusted_device"] is True
    assert [d["state"] for d in cli("device", "list", ALICE, "--json").json] == ["active"]


# -- class 10: a lock ends, and repeat offenders wait longer -------------------------------


def fail(rt, clock, times: int) -> None:
    """``times`` wrong codes, with a fresh code whenever one is used up."""
    for n in range(times):
        if n and n % 5 == 0:
            clock.advance(seconds=31)
            challenges.resend(rt, ALICE)
        with pytest.raises((Rejected, Throttled)):
            challenges.verify(rt, ALICE, wrong(last_code(rt)))


def lock(rt, clock) -> int:
    """Lock Alice with ten wrong codes; the lock's length in seconds."""
    clock.advance(seconds=31)
    login.login(rt, ALICE, PASSWORD)
    fail(rt, clock, 10)
    locked = alice(rt).locked_until
    assert locked is not None and locked > clock.now
    return int((locked - clock.now).total_seconds())


def test_one_wrong_code_after_a_lock_does_not_lock_again(rt, clock, sms_setup):
    """The patient attacker: one wrong code as each lock ends kept the account locked for good."""
    enrolled(rt)
    assert lock(rt, clock) == 900
    clock.advance(seconds=900)
    login.login(rt, ALICE, PASSWORD)
    with pytest.raises(Rejected, match="wrong code"):
        challenges.verify(rt, ALICE, wrong(last_code(rt)))
    assert alice(rt).failed_verifications == 1  # the count restarted with the new window
    assert challenges.verify(rt, ALICE, last_code(rt)).status == "authenticated"


def test_repeat_offenders_wait_twice_as_long_each_time_up_to_a_bound(home, clock, sms_setup):
    write_config(home, "max_lock_seconds = 3600")
    rt = open_runtime(home, clock=clock)
    enrolled(rt)
    lengths = []
    for _ in range(4):
        lengths.append(lock(rt, clock))
        clock.advance(seconds=lengths[-1])
    assert lengths == [900, 1800, 3600, 3600]
    # a success forgives: the next lock is the first again
    clock.advance(seconds=31)
    login.login(rt, ALICE, PASSWORD)
    assert challenges.verify(rt, ALICE, last_code(rt)).status == "authenticated"
    assert lock(rt, clock) == 900


def test_the_lock_is_audited_once_with_its_length(rt, clock, sms_setup):
    enrolled(rt)
    lock(rt, clock)
    with rt.transaction() as session:
        [event_] = session.exec(select(AuditEvent).where(AuditEvent.action == "account.locked")).all()
    assert "900 s" in event_.detail
