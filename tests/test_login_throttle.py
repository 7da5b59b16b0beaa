"""Rules 30 and 32 attacked: failed passwords throttled before any hash, every failed
login costs the same, and a right password always reaches the code step (issue 17)."""

from __future__ import annotations

import base64
import csv
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from tests.conftest import last_code
from twofa_cli import security
from twofa_cli.errors import BadInput, Rejected, Throttled, TwofaError
from twofa_cli.runtime import open_runtime
from twofa_cli.services import accounts, challenges, delivery, login
from twofa_cli.services.enrollment import enroll
from twofa_cli.store.models import Account, AuditEvent, LoginThrottle

ALICE = "alice@example.com"
PHONE = "+14155550199"
PASSWORD = "correct horse"
WRONG = "not the password"


def outcome(rt, account: str, password: str, **kwargs) -> str:
    try:
        return login.login(rt, account, password, **kwargs)["status"]
    except TwofaError as exc:
        return type(exc).__name__


def audited(rt, action: str) -> int:
    with rt.transaction() as session:
        return len(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def enrolled(rt) -> None:
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    challenges.verify(rt, ALICE, last_code(rt))


# -- rule 30: throttling --------------------------------------------------------------------


def test_rule30_the_sixth_wrong_password_is_throttled_and_the_next_costs_no_hash(
    rt, clock, sms_setup, argon2_calls,
):
    outcomes = [outcome(rt, ALICE, WRONG, client="a") for _ in range(5)]
    assert outcomes == ["Rejected"] * 5
    assert argon2_calls["verify"] == 5
    with pytest.raises(Throttled) as sixth:
        login.login(rt, ALICE, WRONG, client="a")
    assert sixth.value.retry_after == 30
    assert argon2_calls["verify"] == 6
    # the right password, too, waits: refused before the hash, audited
    with pytest.raises(Throttled) as seventh:
        login.login(rt, ALICE, PASSWORD, client="a")
    assert seventh.value.retry_after == delivery.seconds_until(rt, clock.now + timedelta(seconds=30))
    assert argon2_calls == Counter(verify=6)
    assert audited(rt, "login.throttled") == 1
    assert audited(rt, "login.failed") == 6
    clock.advance(seconds=30)
    assert login.login(rt, ALICE, PASSWORD, client="a")["status"] == "authenticated"


def test_rule30_waits_double_up_to_the_bound_and_the_window_is_an_hour(rt, clock, sms_setup):
    assert [outcome(rt, ALICE, WRONG, client="a") for _ in range(5)] == ["Rejected"] * 5
    waits = []
    for _ in range(7):
        with pytest.raises(Throttled) as info:
            login.login(rt, ALICE, WRONG, client="a")
        waits.append(info.value.retry_after)
        clock.advance(seconds=info.value.retry_after)
    assert waits == [30, 60, 120, 240, 480, 900, 900]
    clock.advance(hours=1)  # a new window: five free failures again
    assert [outcome(rt, ALICE, WRONG, client="a") for _ in range(5)] == ["Rejected"] * 5


def test_rule30_unknown_accounts_are_throttled_exactly_like_real_ones(rt, clock, sms_setup):
    real = [outcome(rt, ALICE, WRONG, client="a") for _ in range(7)]
    unknown = [outcome(rt, "Nobody@Example.com", WRONG, client="a") for _ in range(7)]
    assert real == unknown == ["Rejected"] * 5 + ["Throttled"] * 2


def test_rule30_an_account_id_shares_the_budget_of_its_email(rt, clock, sms_setup):
    account_id = str(sms_setup["account"]["id"])
    for _ in range(3):
        outcome(rt, ALICE.upper(), WRONG, client="a")
    for _ in range(2):
        outcome(rt, account_id, WRONG, client="a")
    assert outcome(rt, account_id, WRONG, client="a") == "Throttled"
    assert outcome(rt, ALICE, PASSWORD, client="a") == "Throttled"


def test_rule30_one_clients_guesses_do_not_lock_the_owner_out_elsewhere(
    rt, clock, sms_setup, argon2_calls,
):
    attacker = [outcome(rt, ALICE, WRONG, client="a") for _ in range(6)]
    assert attacker == ["Rejected"] * 5 + ["Throttled"]
    assert outcome(rt, ALICE, WRONG, client="a") == "Throttled"
    assert outcome(rt, ALICE, PASSWORD, client="b") == "authenticated"
    # the owner's success clears the owner's client only: the attacker still waits
    assert outcome(rt, ALICE, PASSWORD, client="a") == "Throttled"


def test_rule30_the_account_wide_budget_blocks_every_client_once_spent(rt, clock, sms_setup):
    for client in ("a", "b", "c", "d"):
        assert [outcome(rt, ALICE, WRONG, client=client) for _ in range(5)] == ["Rejected"] * 5
    # twenty failures from four clients: the account's budget is spent
    with pytest.raises(Throttled) as info:
        login.login(rt, ALICE, WRONG, client="e")
    assert info.value.retry_after == 30
    assert outcome(rt, ALICE, PASSWORD, client="f") == "Throttled"
    clock.advance(seconds=30)
    assert outcome(rt, ALICE, PASSWORD, client="f") == "authenticated"


def test_rule30_a_success_clears_its_own_clients_count_only(rt, clock, sms_setup):
    for _ in range(4):
        outcome(rt, ALICE, WRONG, client="a")
    for _ in range(4):
        outcome(rt, ALICE, WRONG, client="b")
    assert outcome(rt, ALICE, PASSWORD, client="a") == "authenticated"
    with rt.transaction() as session:
        rows = {row.client: row.failures for row in session.exec(select(LoginThrottle))}
    assert rows == {"b": 4, "*": 8}
    assert [outcome(rt, ALICE, WRONG, client="a") for _ in range(5)] == ["Rejected"] * 5
    assert outcome(rt, ALICE, WRONG, client="b") == "Rejected"
    assert outcome(rt, ALICE, WRONG, client="b") == "Throttled"


def test_rule30_concurrent_guesses_are_counted_exactly_and_hash_no_more_than_the_budget(
    home, clock, sms_setup, argon2_calls,
):
    rt = open_runtime(home, clock=clock)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def attempt():
        barrier.wait()
        try:
            login.login(rt, ALICE, WRONG, client="a")
        except TwofaError as exc:
            outcomes.append(type(exc).__name__)
        except Exception as exc:  # a driver error must fail the test, not vanish in a thread
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(outcomes) == Counter(Rejected=5, Throttled=15)
    assert argon2_calls["verify"] == 6  # five free failures and the one that started the wait
    with rt.transaction() as session:
        rows = {row.client: row.failures for row in session.exec(select(LoginThrottle))}
    assert rows == {"a": 6, "*": 6}
    rt.engine.dispose()


def test_rule30_email_only_treats_a_bare_account_id_as_an_unknown_email(rt, clock, sms_setup):
    account_id = str(sms_setup["account"]["id"])
    with pytest.raises(Rejected, match="wrong email or password"):
        login.login(rt, account_id, PASSWORD, email_only=True)
    assert login.login(rt, ALICE, PASSWORD, email_only=True)["status"] == "authenticated"
    # and its failures count for the text given, not for the account's email
    for _ in range(5):
        outcome(rt, account_id, PASSWORD, email_only=True)
    assert outcome(rt, account_id, PASSWORD, email_only=True) == "Throttled"
    assert outcome(rt, ALICE, PASSWORD) == "authenticated"


def test_rule30_the_reserved_client_name_is_refused(rt, sms_setup):
    with pytest.raises(BadInput, match="client"):
        login.login(rt, ALICE, PASSWORD, client="*")


def test_rule30_cli_exit_4_and_json_retry_after_and_account_show_tells(cli, home):
    assert cli("account", "add", ALICE, "--password-stdin",
               input=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0
    for _ in range(5):
        assert cli("login", ALICE, "--password-stdin", "--json", input=f"{WRONG}\n").exit_code == 1
    shown = cli("account", "show", ALICE, "--json").json
    assert shown["failed_logins"] == 5 and shown["login_block_ends_at"] is None
    result = cli("login", ALICE, "--password-stdin", "--json", input=f"{WRONG}\n")
    assert result.exit_code == 4
    assert result.json["error"]["code"] == "throttled"
    assert result.json["error"]["retry_after"] == 30
    shown = cli("account", "show", ALICE, "--json").json
    assert shown["failed_logins"] == 6 and shown["login_block_ends_at"] is not None
    header, values = cli("account", "show", ALICE).stdout.splitlines()
    assert dict(zip(header.split("\t"), values.split("\t")))["failed_logins"] == "6"


def test_rule30_account_details_tell_the_failures(rt, clock, sms_setup):
    from twofa_cli.api import TwoFactor

    for _ in range(6):
        outcome(rt, ALICE, WRONG, client="a")
    api = TwoFactor(rt)
    details = api.account_details(ALICE)
    assert details.failed_logins == 6
    assert details.login_block_ends_at == clock.now + timedelta(seconds=30)
    clock.advance(seconds=30)
    assert api.account_details(ALICE).login_block_ends_at is None


# -- rule 32: equal cost --------------------------------------------------------------------


def fake_hash(*, m: int, t: int, p: int) -> str:
    """A well-formed argon2id hash string with the given parameters, built without hashing."""
    def b64(size: int) -> str:
        return base64.b64encode(bytes(range(size))).decode().rstrip("=")

    return f"$argon2id$v=19$m={m},t={t},p={p}${b64(16)}${b64(32)}"


def write_csv(tmp_path, rows: list[dict]):
    path = tmp_path / "people.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["email", "password_hash"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("parameters", [
    {"m": 512 * 1024, "t": 1, "p": 1},      # 512 MiB
    {"m": 1024, "t": 2**32 - 1, "p": 1},    # days of CPU
    {"m": 1024, "t": 3, "p": 1},            # three times the configured work
    {"m": 1024, "t": 1, "p": 2},            # more lanes (threads) than configured
])
def test_rule32_import_refuses_hashes_costlier_than_a_bound(rt, tmp_path, parameters):
    path = write_csv(tmp_path, [{"email": "bob@example.com", "password_hash": fake_hash(**parameters)}])
    with pytest.raises(BadInput, match="costlier"):
        accounts.import_accounts(rt, path)


def test_rule32_an_imported_hash_is_rehashed_at_its_first_login_epoch_kept(rt, tmp_path, argon2_calls):
    from argon2 import PasswordHasher, extract_parameters

    elsewhere = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1).hash(PASSWORD)
    accounts.import_accounts(rt, write_csv(tmp_path, [{"email": "bob@example.com",
                                                       "password_hash": elsewhere}]))
    with rt.transaction() as session:
        bob = session.exec(select(Account).where(Account.email == "bob@example.com")).one()
        epoch = bob.password_epoch
    assert login.login(rt, "bob@example.com", PASSWORD)["status"] == "authenticated"
    with rt.transaction() as session:
        bob = session.exec(select(Account).where(Account.email == "bob@example.com")).one()
    configured = security._password_hasher()
    assert (extract_parameters(bob.password_hash).time_cost,
            extract_parameters(bob.password_hash).memory_cost) == (configured.time_cost,
                                                                   configured.memory_cost)
    assert bob.password_epoch == epoch  # a rehash is no password change
    argon2_calls.clear()
    assert login.login(rt, "bob@example.com", PASSWORD)["status"] == "authenticated"
    assert argon2_calls == Counter(verify=1)  # rehashed once, not at every login


# -- the customer's story never stalls -------------------------------------------------------


def test_a_second_browser_within_the_interval_reaches_the_code_of_the_first(rt, clock, sms_setup):
    enrolled(rt)
    clock.advance(minutes=5)
    first = login.login(rt, ALICE, PASSWORD, client="browser-1")
    assert first["status"] == "code_sent" and first["reused"] is False
    assert first["sent_at"] == clock.now.isoformat()
    code = last_code(rt)
    sent_at = clock.now
    clock.advance(seconds=5)
    second = login.login(rt, ALICE, PASSWORD, client="browser-2")
    assert second["status"] == "code_sent" and second["reused"] is True
    assert second["challenge_id"] == first["challenge_id"]
    assert second["sent_at"] == sent_at.isoformat()
    assert last_code(rt) == code  # nothing new was sent
    assert challenges.verify(rt, ALICE, code).status == "authenticated"


def test_the_library_login_returns_sent_at_and_reused(rt, clock, sms_setup):
    from twofa_cli.api import TwoFactor

    enrolled(rt)
    clock.advance(minutes=5)
    api = TwoFactor(rt)
    first = api.login(ALICE, PASSWORD, client="one")
    clock.advance(seconds=5)
    second = api.login(ALICE, PASSWORD, client="two")
    assert first.code.reused is False and second.code.reused is True
    assert first.code.sent_at == second.code.sent_at == clock.now - timedelta(seconds=5)
    assert api.verify(ALICE, last_code(rt)).status == "authenticated"


def test_after_the_interval_a_login_sends_a_new_code(rt, clock, sms_setup):
    enrolled(rt)
    clock.advance(minutes=5)
    first = login.login(rt, ALICE, PASSWORD)
    clock.advance(seconds=31)
    second = login.login(rt, ALICE, PASSWORD)
    assert second["reused"] is False and second["challenge_id"] != first["challenge_id"]


def test_a_login_right_after_an_enrolment_was_started_still_reaches_a_code(rt, clock, sms_setup):
    enrolled(rt)
    clock.advance(minutes=5)
    enroll(rt, ALICE, method="Text message", phone="+14155550198")
    clock.advance(seconds=5)
    result = login.login(rt, ALICE, PASSWORD)
    assert result["status"] == "code_sent" and result["reused"] is False
    assert challenges.verify(rt, ALICE, last_code(rt)).status == "authenticated"


def test_cli_login_says_when_the_code_was_sent_and_that_it_still_works(rt, cli, sms_setup):
    enrolled(rt)  # on the test clock, long before the CLI's real time
    first = cli("login", ALICE, "--password-stdin", "--json", input=f"{PASSWORD}\n")
    assert first.exit_code == 0, first.stderr
    assert first.json["reused"] is False and first.json["sent_at"]
    second = cli("login", ALICE, "--password-stdin", "--json", input=f"{PASSWORD}\n")
    assert second.exit_code == 0, second.stderr
    assert second.json["reused"] is True
    assert (second.json["sent_at"], second.json["challenge_id"]) == (
        first.json["sent_at"], first.json["challenge_id"])
    third = cli("login", ALICE, "--password-stdin", input=f"{PASSWORD}\n")
    assert third.exit_code == 0
    assert "still works" in third.stdout + third.stderr


def test_cli_enroll_json_carries_sent_at(rt, cli, sms_setup):
    result = cli("enroll", ALICE, "--method", "Text message", "--phone", PHONE, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["sent_at"] and "reused" not in result.json
