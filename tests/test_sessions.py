"""Login sessions in the store (SECURITY.md rules 29 and 31): the library and the CLI.

Each test attacks one promise: a token that outlives logout, a password change, account
deletion or revocation; a pending login that outlives the password it checked; a token
that does not change at a step; a step-up that can be skipped. Both stores.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.test_api import ALICE, PASSWORD, PHONE, code, enrolled, shop, twofa  # noqa: F401
from twofa_cli.api import NotFound, PasswordRequired, Rejected
from twofa_cli.store.models import LoginSession


def signed_in(twofa) -> str:
    """Alice with an SMS entry, signed in through password and code: her session token."""
    started = twofa.login(ALICE, PASSWORD)
    return twofa.verify(ALICE, code(twofa), session_token=started.session_token).session_token


@pytest.fixture
def alice(shop):  # noqa: F811
    enrolled(shop)
    return shop


def test_a_login_hands_out_a_pending_token_and_verify_a_new_signed_in_one(alice):
    started = alice.login(ALICE, PASSWORD, client="203.0.113.7", device_name="laptop")
    assert started.status == "code_sent" and started.session_token
    pending = alice.session(started.session_token)
    assert (pending.state, pending.client, pending.device) == ("pending", "203.0.113.7", "laptop")

    done = alice.verify(ALICE, code(alice), session_token=started.session_token)
    assert done.status == "authenticated"
    assert done.session_token and done.session_token != started.session_token  # fixation
    assert alice.session(done.session_token).state == "signed_in"
    with pytest.raises(Rejected):  # the pending token died with the step
        alice.session(started.session_token)


def test_the_store_keeps_only_a_hash_of_the_token(alice):
    token = signed_in(alice)
    with alice._rt.engine.connect() as connection:
        stored = connection.execute(select(LoginSession.__table__)).all()
    assert stored and all(token not in str(tuple(row)) for row in stored)


def test_a_copied_token_is_refused_after_logout(alice):
    token = signed_in(alice)
    copy = str(token)
    assert alice.logout(token) is True
    with pytest.raises(Rejected, match="log in again"):
        alice.session(copy)
    with pytest.raises(Rejected):  # nor can it delete a factor
        alice.delete_entry(ALICE, alice.entries(ALICE)[0].id, session_token=copy)
    assert alice.entries(ALICE)


def test_a_password_change_ends_every_session(alice):
    token = signed_in(alice)
    other = alice.login(ALICE, PASSWORD).session_token  # a pending login elsewhere
    alice.set_password(ALICE, "a brand new password")
    for dead in (token, other):
        with pytest.raises(Rejected):
            alice.session(dead)
    assert alice.sessions(ALICE) == []


def test_a_pending_login_dies_with_the_password_it_checked(alice):
    started = alice.login(ALICE, PASSWORD)
    sent = code(alice)
    alice.set_password(ALICE, "a brand new password")
    with pytest.raises(Rejected):  # the old password and its code sign nobody in
        alice.verify(ALICE, sent, session_token=started.session_token)
    with pytest.raises(Rejected):  # nor without the session: the code itself died
        alice.verify(ALICE, sent)


def test_a_session_of_another_epoch_is_dead_even_if_its_row_survived(alice):
    """The race: the password changes between the password check and the session's insert."""
    token = signed_in(alice)
    with alice._rt.engine.begin() as connection:  # the change commits, the row is left
        from sqlalchemy import update

        from twofa_cli.store.models import Account
        connection.execute(update(Account.__table__).values(
            password_epoch=Account.__table__.c.password_epoch + 1))
    with pytest.raises(Rejected):
        alice.session(token)


def test_deleting_the_account_ends_its_sessions(alice):
    token = signed_in(alice)
    alice.delete_account(ALICE)
    with pytest.raises(Rejected):
        alice.session(token)


def test_revoking_ends_sessions_and_voids_pending_login_codes(alice):
    keep = signed_in(alice)
    other = alice.login(ALICE, PASSWORD).session_token
    sent = code(alice)
    assert alice.revoke_sessions(ALICE, keep_token=keep) == 1
    with pytest.raises(Rejected):
        alice.session(other)
    with pytest.raises(Rejected):
        alice.verify(ALICE, sent)
    assert alice.session(keep).state == "signed_in"
    (only,) = alice.sessions(ALICE)
    assert alice.revoke_session(ALICE, only.id) == 1
    with pytest.raises(Rejected):
        alice.session(keep)
    with pytest.raises(NotFound):
        alice.revoke_session(ALICE, only.id)


def test_sessions_end_when_idle_and_at_their_maximum_age(alice, clock):
    token = signed_in(alice)
    clock.advance(minutes=29)
    alice.session(token)  # used: the idle time starts again
    clock.advance(minutes=29)
    alice.session(token)
    clock.advance(minutes=31)
    with pytest.raises(Rejected):
        alice.session(token)

    token = signed_in(alice)
    for _ in range(12 * 3 - 1):  # used every 20 minutes: alive for 12 hours, not a minute more
        clock.advance(minutes=20)
        alice.session(token)
    clock.advance(minutes=20)
    with pytest.raises(Rejected):
        alice.session(token)


def test_verify_completes_only_a_pending_session_of_that_account(alice):
    bob_token = None
    alice.add_account("bob@example.com", PASSWORD)
    bob_token = alice.login("bob@example.com", PASSWORD).session_token  # no 2FA: signed in
    alice.login(ALICE, PASSWORD)
    sent = code(alice)
    with pytest.raises(Rejected):  # Bob's session cannot complete Alice's login
        alice.verify(ALICE, sent, session_token=bob_token)
    with pytest.raises(Rejected):  # nor can garbage
        alice.verify(ALICE, sent, session_token="x" * 5000)
    assert alice.verify(ALICE, sent).status == "authenticated"  # the code was not spent


def test_a_pending_session_opens_nothing_that_needs_a_signed_in_one(alice):
    started = alice.login(ALICE, PASSWORD)
    with pytest.raises(Rejected):
        alice.confirm_password(started.session_token, PASSWORD)
    with pytest.raises(Rejected):
        alice.delete_entry(ALICE, alice.entries(ALICE)[0].id, session_token=started.session_token)


def test_sensitive_changes_need_a_recent_password(alice, clock):
    token = signed_in(alice)
    entry = alice.entries(ALICE)[0].id
    clock.advance(minutes=11)  # past [session] reauth_minutes
    alice.session(token)
    for change in (lambda: alice.delete_entry(ALICE, entry, session_token=token),
                   lambda: alice.generate_recovery_codes(ALICE, session_token=token),
                   lambda: alice.revoke_device(ALICE, every=True, session_token=token)):
        with pytest.raises(PasswordRequired):
            change()
    assert alice.session(token).step_up_due
    with pytest.raises(Rejected, match="wrong password"):
        alice.confirm_password(token, "not the password")
    assert alice.confirm_password(token, PASSWORD).step_up_due is False
    assert len(alice.generate_recovery_codes(ALICE, session_token=token)) == 10
    assert alice.delete_entry(ALICE, entry, session_token=token).entry.id == entry


def test_a_session_cannot_change_another_account(alice):
    alice.add_account("bob@example.com", PASSWORD)
    bob_token = alice.login("bob@example.com", PASSWORD).session_token
    with pytest.raises(Rejected):
        alice.delete_entry(ALICE, alice.entries(ALICE)[0].id, session_token=bob_token)
    assert alice.entries(ALICE)


def test_reauth_minutes_zero_asks_before_every_change(alice, home, monkeypatch):
    monkeypatch.setenv("TWOFA_SESSION__REAUTH_MINUTES", "0")
    from twofa_cli import TwoFactor

    with TwoFactor.open(home, clock=alice._rt.clock) as strict:
        token = signed_in(strict)
        with pytest.raises(PasswordRequired):  # the login's password does not count
            strict.generate_recovery_codes(ALICE, session_token=token)
        strict.confirm_password(token, PASSWORD)
        strict.generate_recovery_codes(ALICE, session_token=token)
        with pytest.raises(PasswordRequired):  # spent by that one change
            strict.generate_recovery_codes(ALICE, session_token=token)


# -- the CLI -------------------------------------------------------------------------------


def test_the_cli_keeps_its_session_beside_its_cookie(alice, cli, home):
    started = cli("login", ALICE, "--password-stdin", "--device", "laptop", "--json",
                  input=PASSWORD + "\n")
    assert started.exit_code == 0, started.stderr
    assert "session_token" not in started.stdout  # the token stays in the browser's file
    assert '"session:1"' in (home / "devices" / "laptop.json").read_text()
    done = cli("verify", ALICE, code(alice), "--device", "laptop", "--json")
    assert done.exit_code == 0 and done.json["status"] == "authenticated"

    listed = cli("session", "list", ALICE, "--json")
    assert listed.exit_code == 0
    (row,) = listed.json
    assert list(row)[:8] == ["id", "account_id", "state", "device", "client", "created_at",
                             "last_seen_at", "expires_at"]
    assert (row["state"], row["device"]) == ("signed_in", "laptop")

    revoked = cli("session", "revoke", ALICE, "--all", "--json")
    assert revoked.exit_code == 0 and revoked.json == {"revoked": 1}
    assert cli("session", "list", ALICE, "--json").json == []


def test_the_cli_refuses_a_pending_login_after_a_password_change(alice, cli):
    assert cli("login", ALICE, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    sent = code(alice)
    changed = cli("account", "set-password", ALICE, "--password-stdin",
                  input="a brand new password\n" * 2)
    assert changed.exit_code == 0, changed.stderr
    refused = cli("verify", ALICE, sent, "--json")
    assert refused.exit_code == 1 and refused.json["error"]["code"] == "rejected"


def test_session_revoke_by_id_and_unknown_ids(alice, cli):
    # The CLI runs on the real clock: its own login makes the session.
    assert cli("login", ALICE, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    (session,) = cli("session", "list", ALICE, "--json").json
    assert cli("session", "revoke", ALICE, str(session["id"]), "--json").json == {"revoked": 1}
    missing = cli("session", "revoke", ALICE, str(session["id"]), "--json")
    assert missing.exit_code == 3 and missing.json["error"]["code"] == "not_found"
    usage = cli("session", "revoke", ALICE, "--json")
    assert usage.exit_code == 2
    nobody = cli("session", "list", "nobody@example.com", "--json")
    assert nobody.exit_code == 3


def test_one_pending_session_and_its_code_sign_in_once_under_concurrency(alice):
    """The same code page posted 20 times at once: one signed-in token, the rest refused."""
    import threading

    started = alice.login(ALICE, PASSWORD)
    sent = code(alice)
    barrier = threading.Barrier(20)
    tokens: list[str] = []
    refused: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            tokens.append(alice.verify(ALICE, sent, session_token=started.session_token)
                          .session_token)
        except Rejected as exc:
            refused.append(exc.message)
        except Exception as exc:  # a driver error must fail the test, not vanish in a thread
            refused.append(repr(exc))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tokens) == 1 and len(refused) == 19, refused[:3]
    assert all(not message.startswith(("Operational", "Integrity", "DBAPI")) for message in refused)
    (live,) = alice.sessions(ALICE)
    assert live.state == "signed_in" and alice.session(tokens[0]).id == live.id
