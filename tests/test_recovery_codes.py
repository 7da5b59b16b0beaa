"""Recovery codes (SECURITY.md rule 26): shown once, kept as a keyed hash, single use under
concurrency on both stores, counted towards the lockout when wrong."""

from __future__ import annotations

import pytest
from sqlmodel import select

from tests.conftest import last_code
from tests.test_customer_security import ALICE, PASSWORD, PHONE, race_twice
from twofa_cli.errors import BadInput, Rejected, Throttled
from twofa_cli.runtime import open_runtime
from twofa_cli.services import challenges, entries, login, recovery
from twofa_cli.services.audit import list_events
from twofa_cli.services.enrollment import enroll
from twofa_cli.store.models import RecoveryCode


def enrolled(rt) -> list[str]:
    """Alice enrolled by SMS; the recovery codes her first entry brought."""
    enroll(rt, ALICE, method="Text message", phone=PHONE)
    return challenges.verify(rt, ALICE, last_code(rt)).recovery_codes


def test_the_first_entry_brings_ten_codes_stored_only_as_keyed_hashes(rt, sms_setup):
    codes = enrolled(rt)
    assert len(codes) == len(set(codes)) == 10
    assert all(len(recovery.normalise(code)) == 10 for code in codes)
    with rt.transaction() as session:
        rows = session.exec(select(RecoveryCode)).all()
    assert len(rows) == 10
    stored = " ".join(f"{row.code_hmac} {row.recovery_key}" for row in rows)
    for code in codes:
        assert recovery.normalise(code) not in stored and code not in stored
    # A second entry brings none.
    enroll(rt, ALICE, method="Text message", phone="+14155550123")
    assert challenges.verify(rt, ALICE, last_code(rt)).recovery_codes == []
    assert recovery.status(rt, ALICE) == {"remaining": 10}


def test_a_code_completes_a_login_once_grouping_ignored(rt, clock, sms_setup):
    codes = enrolled(rt)
    login.login(rt, ALICE, PASSWORD)
    typed = " " + codes[0].upper().replace("-", " - ") + " "
    result = challenges.verify(rt, ALICE, "", recovery_code=typed)
    assert result.status == "authenticated" and result.recovery_codes_remaining == 9
    clock.advance(seconds=31)
    login.login(rt, ALICE, PASSWORD)
    with pytest.raises(Rejected, match="wrong code"):
        challenges.verify(rt, ALICE, "", recovery_code=codes[0])
    assert recovery.status(rt, ALICE) == {"remaining": 9}
    actions = [e["action"] for e in list_events(rt, limit=50)]
    assert actions.count("recovery_code.used") == 1 and "code.failed" in actions


def test_a_recovery_code_does_not_complete_an_enrolment(rt, sms_setup):
    codes = enrolled(rt)
    enroll(rt, ALICE, method="Text message", phone="+14155550123")
    with pytest.raises(Rejected, match="login"):
        challenges.verify(rt, ALICE, "", recovery_code=codes[0])
    with pytest.raises(BadInput):
        challenges.verify(rt, ALICE, "", recovery_code="x" * 5000)


def test_wrong_recovery_codes_count_to_the_lockout(rt, clock, sms_setup):
    enrolled(rt)
    for _ in range(2):
        login.login(rt, ALICE, PASSWORD)
        for _ in range(5):
            with pytest.raises((Rejected, Throttled)):
                challenges.verify(rt, ALICE, "", recovery_code="aaaaa-aaaaa")
        clock.advance(seconds=31)
    with pytest.raises(Throttled, match="locked"):
        login.login(rt, ALICE, PASSWORD)


def test_two_concurrent_uses_of_one_code_succeed_once(home, clock, sms_setup):
    rt = open_runtime(home, clock=clock)
    codes = enrolled(rt)
    login.login(rt, ALICE, PASSWORD)
    rt.engine.dispose()
    outcomes = race_twice(home, clock, lambda mine: challenges.verify(
        mine, ALICE, "", recovery_code=codes[3]).status)
    assert outcomes.count("authenticated") == 1 and len(outcomes) == 2
    rt = open_runtime(home, clock=clock)
    assert recovery.status(rt, ALICE) == {"remaining": 9}
    rt.engine.dispose()


def test_generate_replaces_the_set(rt, clock, sms_setup):
    old = enrolled(rt)
    new = recovery.generate(rt, ALICE)["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    login.login(rt, ALICE, PASSWORD)
    with pytest.raises(Rejected, match="wrong code"):
        challenges.verify(rt, ALICE, "", recovery_code=old[0])
    assert challenges.verify(rt, ALICE, "", recovery_code=new[0]).status == "authenticated"
    assert recovery.status(rt, ALICE) == {"remaining": 9}


def test_generate_needs_an_entry(rt, sms_setup):
    with pytest.raises(Rejected, match="no 2FA entry"):
        recovery.generate(rt, ALICE)


def test_deleting_the_last_entry_deletes_the_codes(rt, sms_setup):
    enrolled(rt)
    [entry] = entries.list_entries(rt, ALICE)
    entries.remove_entry(rt, ALICE, str(entry["id"]))
    assert recovery.status(rt, ALICE) == {"remaining": 0}
    with rt.transaction() as session:
        assert session.exec(select(RecoveryCode)).all() == []
    # The next first entry brings a new set.
    assert len(enrolled(rt)) == 10


# -- the commands -----------------------------------------------------------------------------


def test_cli_recovery_codes(cli, rt, clock, sms_setup):
    codes = enrolled(rt)
    assert cli("recovery-codes", "status", ALICE, "--json").json == {"remaining": 10}
    refused = cli("recovery-codes", "generate", ALICE, "--json")
    assert refused.exit_code == 1 and "--yes" in refused.json["error"]["message"]
    assert cli("recovery-codes", "status", ALICE, "--json").json == {"remaining": 10}
    generated = cli("recovery-codes", "generate", ALICE, "--yes", "--json")
    assert generated.exit_code == 0, generated.stderr
    codes = generated.json["recovery_codes"]
    assert len(codes) == 10
    for n in range(8):
        assert cli("login", ALICE, "--password-stdin", "--json",
                   input=PASSWORD + "\n").json["status"] == "code_sent"
        used = cli("verify", ALICE, "--recovery-code", codes[n], "--json")
        assert used.exit_code == 0, used.stderr
        assert used.json["recovery_codes_remaining"] == 9 - n
        assert ("warning" in used.json) == (9 - n <= 2)
        with rt.connection() as connection:  # past the interval between logins (CLI: real time)
            connection.exec_driver_sql("UPDATE challenge SET created_at = '2000-01-01'")
    assert cli("recovery-codes", "status", ALICE, "--json").json == {"remaining": 2}
    both = cli("verify", ALICE, "123456", "--recovery-code", codes[9], "--json")
    assert both.exit_code == 2
