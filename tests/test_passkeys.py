"""Passkeys (SECURITY.md rule 35) through the library, with a software authenticator.

Each test attacks one promise: the origin and the RP ID are checked, user verification
follows the setting, a challenge is single use and bound to its session, a passkey serves
only its own account, a sign count never goes backwards. Both stores.
"""

from __future__ import annotations

import json

import pytest

from tests.softkey import SoftKey, b64
from tests.test_api import ALICE, PASSWORD, PHONE, code, enrolled, shop, twofa  # noqa: F401
from twofa_cli.api import NotFound, Rejected, TwoFactor

BOB = "bob@example.com"


@pytest.fixture
def passkeys(shop):  # noqa: F811
    shop.add_secondary_auth(title="Passkey", kind="passkey")
    return shop


def signed_in(twofa: TwoFactor, who: str = ALICE) -> str:
    """A signed-in session of ``who``, through password and (if any) code."""
    started = twofa.login(who, PASSWORD)
    if started.authenticated:
        return str(started.session_token)
    return str(twofa.verify(who, code(twofa), session_token=started.session_token).session_token)


def register(twofa: TwoFactor, key: SoftKey, who: str = ALICE, name: str | None = None,
             token: str | None = None):
    token = token or signed_in(twofa, who)
    options = twofa.begin_passkey_registration(token, name)
    return twofa.finish_passkey_registration(token, key.create(options))


def reopen(home, clock, monkeypatch, **settings: str) -> TwoFactor:
    """The home opened again with ``[webauthn]`` settings from the environment."""
    for key, value in settings.items():
        monkeypatch.setenv(f"TWOFA_WEBAUTHN__{key.upper()}", value)
    return TwoFactor.open(home, actor="tester", clock=clock)


def audited(twofa: TwoFactor, action: str) -> list:
    return [event for event in twofa.audit(limit=200) if event.action == action]


# -- registration -----------------------------------------------------------------------------


def test_a_registered_passkey_is_an_entry_with_a_name(passkeys):
    enrolled(passkeys)
    key = SoftKey()
    added = register(passkeys, key, name="Work laptop")
    assert (added.entry.kind, added.entry.name, added.entry.destination) == \
        ("passkey", "Work laptop", "Work laptop")
    assert added.recovery_codes == ()  # not her first factor
    listed = {e.id: e for e in passkeys.entries(ALICE)}
    assert listed[added.entry.id].kind == "passkey" and listed[added.entry.id].last_used_at is None
    assert [m.kind for m in passkeys.secondary_auths()] == ["code", "passkey"]


def test_a_passkey_as_the_only_factor_brings_recovery_codes_and_a_default_name(passkeys):
    token = signed_in(passkeys)  # no entry yet: signed in by the password alone
    added = register(passkeys, SoftKey(), token=token)
    assert len(added.recovery_codes) == 10
    assert added.entry.name == "Passkey"  # a key of no known make
    assert register(passkeys, SoftKey(), token=token).entry.name == "Passkey 2"


def test_registration_needs_a_signed_in_session_and_its_own_challenge(passkeys):
    started = passkeys.login(ALICE, PASSWORD)  # no entry: signed in at once
    with pytest.raises(Rejected):
        passkeys.begin_passkey_registration("not-a-session")
    key = SoftKey()
    options = passkeys.begin_passkey_registration(str(started.session_token))
    other = signed_in(passkeys)
    with pytest.raises(Rejected):  # another session cannot finish this one's ceremony
        passkeys.finish_passkey_registration(other, key.create(options))
    assert passkeys.entries(ALICE) == []


def test_registration_from_another_origin_is_refused(passkeys):
    token = signed_in(passkeys)
    options = passkeys.begin_passkey_registration(token)
    phished = SoftKey(origin="https://login-acme.example")
    with pytest.raises(Rejected):
        passkeys.finish_passkey_registration(token, phished.create(options))
    assert passkeys.entries(ALICE) == []
    assert audited(passkeys, "passkey.failed")


def test_registration_for_another_rp_id_is_refused(passkeys):
    token = signed_in(passkeys)
    options = passkeys.begin_passkey_registration(token)
    with pytest.raises(Rejected):
        passkeys.finish_passkey_registration(token, SoftKey(rp_id="evil.example").create(options))
    assert passkeys.entries(ALICE) == []


def test_registration_without_user_verification_is_refused_when_required(
        passkeys, home, clock, monkeypatch):
    strict = reopen(home, clock, monkeypatch, user_verification="required")
    token = signed_in(strict)
    options = strict.begin_passkey_registration(token)
    assert json.loads(options)["authenticatorSelection"]["userVerification"] == "required"
    with pytest.raises(Rejected):
        strict.finish_passkey_registration(token, SoftKey(user_verified=False).create(options))
    assert strict.entries(ALICE) == []
    strict.close()


def test_no_passkey_method_no_registration(shop):  # noqa: F811
    token = signed_in(shop)
    with pytest.raises(NotFound, match="secondary-auth add --kind passkey"):
        shop.begin_passkey_registration(token)


# -- the second factor ----------------------------------------------------------------------------


@pytest.fixture
def alice_with_passkey(passkeys):
    key = SoftKey()
    entry = register(passkeys, key).entry
    passkeys.prefer_entry(ALICE, entry.id)
    return passkeys, key, entry


def test_a_login_asks_for_the_passkey_instead_of_a_code(alice_with_passkey):
    twofa, key, entry = alice_with_passkey
    started = twofa.login(ALICE, PASSWORD)
    assert started.status == "passkey_required" and started.code is None
    options = twofa.begin_passkey_login(started.session_token)
    allowed = json.loads(options)["allowCredentials"]
    assert [c["id"] for c in allowed] == [b64(key.credential_id)]
    done = twofa.finish_passkey_login(key.get(options), started.session_token)
    assert done.status == "authenticated" and done.entry_id == entry.id
    assert twofa.session(str(done.session_token)).state == "signed_in"
    with pytest.raises(Rejected):  # the pending token died with the step
        twofa.session(str(started.session_token))
    assert {e.id: e for e in twofa.entries(ALICE)}[entry.id].last_used_at is not None


def test_the_passkey_also_answers_a_login_that_sent_a_code(passkeys):
    enrolled(passkeys)  # SMS first: the login sends a code
    key = SoftKey()
    register(passkeys, key)
    started = passkeys.login(ALICE, PASSWORD)
    assert started.status == "code_sent"
    options = passkeys.begin_passkey_login(started.session_token)
    done = passkeys.finish_passkey_login(key.get(options), started.session_token)
    assert passkeys.session(str(done.session_token)).state == "signed_in"
    with pytest.raises(Rejected):  # the code sent dies with the login it was for
        passkeys.verify(ALICE, code(passkeys), session_token=started.session_token)


def test_a_bogus_signature_is_refused(alice_with_passkey):
    twofa, key, _ = alice_with_passkey
    started = twofa.login(ALICE, PASSWORD)
    options = twofa.begin_passkey_login(started.session_token)
    with pytest.raises(Rejected):
        twofa.finish_passkey_login(key.get(options, tamper=True), started.session_token)
    assert twofa.session(str(started.session_token)).state == "pending"


def test_a_passkey_of_another_account_is_refused(alice_with_passkey):
    twofa, _, _ = alice_with_passkey
    twofa.add_account(BOB, PASSWORD)
    bobs = SoftKey()
    register(twofa, bobs, who=BOB)
    started = twofa.login(ALICE, PASSWORD)
    options = twofa.begin_passkey_login(started.session_token)
    with pytest.raises(Rejected):  # Bob's key signs Alice's challenge: still not hers
        twofa.finish_passkey_login(bobs.get(options), started.session_token)
    assert twofa.session(str(started.session_token)).state == "pending"


def test_an_unknown_passkey_is_refused(alice_with_passkey):
    twofa, _, _ = alice_with_passkey
    started = twofa.login(ALICE, PASSWORD)
    options = twofa.begin_passkey_login(started.session_token)
    with pytest.raises(Rejected):
        twofa.finish_passkey_login(SoftKey().get(options), started.session_token)


def test_an_assertion_from_another_origin_is_refused(alice_with_passkey):
    twofa, key, _ = alice_with_passkey
    started = twofa.login(ALICE, PASSWORD)
    options = twofa.begin_passkey_login(started.session_token)
    key.origin = "https://login-acme.example"  # a phishing page relaying the ceremony
    with pytest.raises(Rejected):
        twofa.finish_passkey_login(key.get(options), started.session_token)


def test_an_assertion_for_another_rp_id_is_refused(alice_with_passkey):
    twofa, key, _ = alice_with_passkey
    started = twofa.login(ALICE, PASSWORD)
    options = twofa.begin_passkey_login(started.session_token)
    key.rp_id = "evil.example"
    with pytest.raises(Rejected):
        twofa.finish_passkey_login(key.get(options), started.session_token)


def test_user_verification_missing_is_refused_when_required(
        alice_with_passkey, home, clock, monkeypatch):
    _, key, _ = alice_with_passkey
    strict = reopen(home, clock, monkeypatch, user_verification="required")
    started = strict.login(ALICE, PASSWORD)
    options = strict.begin_passkey_login(started.session_token)
    key.user_verified = False
    with pytest.raises(Rejected):
        strict.finish_passkey_login(key.get(options), started.session_token)
    assert strict.session(str(started.session_token)).state == "pending"
    strict.close()


def test_user_verification_is_not_demanded_when_preferred(alice_with_passkey):
    twofa, key, _ = alice_with_passkey
    started = twofa.login(ALICE, PASSWORD)
    options = twofa.begin_passkey_login(started.session_token)
    key.user_verified = False
    assert twofa.finish_passkey_login(key.get(options), started.session_token).session_token


def test_a_replayed_assertion_is_refused(alice_with_passkey):
    twofa, key, _ = alice_with_passkey
    first = twofa.login(ALICE, PASSWORD)
    options = twofa.begin_passkey_login(first.session_token)
    captured = key.get(options)
    twofa.finish_passkey_login(captured, first.session_token)
    again = twofa.login(ALICE, PASSWORD)
    with pytest.raises(Rejected):  # the same response, its challenge spent, on a new login
        twofa.finish_passkey_login(captured, again.session_token)


def test_a_challenge_is_spent_by_a_failed_try_too(alice_with_passkey):
    twofa, key, _ = alice_with_passkey
    started = twofa.login(ALICE, PASSWORD)
    options = twofa.begin_passkey_login(started.session_token)
    key.user_verified, key.origin = True, "https://login-acme.example"
    with pytest.raises(Rejected):
        twofa.finish_passkey_login(key.get(options), started.session_token)
    key.origin = "http://localhost:8000"
    with pytest.raises(Rejected):  # the right origin now, on the spent challenge
        twofa.finish_passkey_login(key.get(options), started.session_token)


def test_a_challenge_expires(alice_with_passkey, clock):
    twofa, key, _ = alice_with_passkey
    started = twofa.login(ALICE, PASSWORD)
    options = twofa.begin_passkey_login(started.session_token)
    clock.advance(seconds=301)
    with pytest.raises(Rejected):
        twofa.finish_passkey_login(key.get(options), started.session_token)


def test_a_cloned_key_is_refused_and_audited(alice_with_passkey):
    twofa, key, entry = alice_with_passkey
    for _ in range(2):
        started = twofa.login(ALICE, PASSWORD)
        twofa.finish_passkey_login(key.get(twofa.begin_passkey_login(started.session_token)),
                                   started.session_token)
    key.sign_count = 0  # the clone's counter is behind: its next use signs 1 after 2
    started = twofa.login(ALICE, PASSWORD)
    with pytest.raises(Rejected):
        twofa.finish_passkey_login(key.get(twofa.begin_passkey_login(started.session_token)),
                                   started.session_token)
    cloned = audited(twofa, "passkey.cloned")
    assert len(cloned) == 1 and cloned[0].target == str(entry.id)
    assert twofa.session(str(started.session_token)).state == "pending"


def test_a_key_that_does_not_count_is_accepted(alice_with_passkey):
    twofa, key, _ = alice_with_passkey
    for _ in range(2):  # many platform passkeys always sign 0
        key.sign_count = -1
        started = twofa.login(ALICE, PASSWORD)
        done = twofa.finish_passkey_login(
            key.get(twofa.begin_passkey_login(started.session_token)), started.session_token)
        assert done.session_token


def test_deleting_the_entry_removes_the_step(alice_with_passkey):
    twofa, key, entry = alice_with_passkey
    removed = twofa.delete_entry(ALICE, entry.id)
    assert removed.entry.kind == "passkey"
    started = twofa.login(ALICE, PASSWORD)
    assert started.authenticated and started.reason == "no 2FA entry"
    assert audited(twofa, "entry.delete")[0].target == str(entry.id)
    with pytest.raises(Rejected):  # its key signs in nowhere now
        twofa.begin_passkey_login(twofa.login(ALICE, PASSWORD).session_token)


# -- passwordless ------------------------------------------------------------------------------


def test_passwordless_sign_in(alice_with_passkey, home, clock, monkeypatch):
    _, key, entry = alice_with_passkey
    open_ = reopen(home, clock, monkeypatch, passwordless="true")
    options = open_.begin_passkey_login()
    assert json.loads(options)["allowCredentials"] == []  # the browser offers its passkeys
    done = open_.finish_passkey_login(key.get(options), device_name="laptop")
    session = open_.session(str(done.session_token))
    assert (session.state, session.device, done.entry_id) == ("signed_in", "laptop", entry.id)
    assert session.step_up_due  # no password was given: a sensitive change asks for it
    open_.close()


def test_passwordless_is_off_by_default(alice_with_passkey):
    twofa, _, _ = alice_with_passkey
    with pytest.raises(Rejected, match="passwordless"):
        twofa.begin_passkey_login()


def test_passwordless_demands_user_verification(alice_with_passkey, home, clock, monkeypatch):
    _, key, _ = alice_with_passkey
    open_ = reopen(home, clock, monkeypatch, passwordless="true")
    options = open_.begin_passkey_login()
    key.user_verified = False
    with pytest.raises(Rejected):
        open_.finish_passkey_login(key.get(options))
    open_.close()


def test_a_second_factor_challenge_does_not_sign_in_without_password(
        alice_with_passkey, home, clock, monkeypatch):
    _, key, _ = alice_with_passkey
    open_ = reopen(home, clock, monkeypatch, passwordless="true")
    started = open_.login(ALICE, PASSWORD)
    options = open_.begin_passkey_login(started.session_token)
    with pytest.raises(Rejected):  # a challenge bound to a session serves only that session
        open_.finish_passkey_login(key.get(options))
    open_.close()


def test_not_a_response_is_bad_input(alice_with_passkey):
    from twofa_cli.api import BadInput

    twofa, _, _ = alice_with_passkey
    started = twofa.login(ALICE, PASSWORD)
    for junk in ("", "{}", "[1]", '{"response": {}}', "x" * 100_000):
        with pytest.raises(BadInput):
            twofa.finish_passkey_login(junk, started.session_token)


# -- the CLI ----------------------------------------------------------------------------------


def test_the_cli_adds_a_passkey_method_and_lists_passkey_entries(cli, passkeys):
    register(passkeys, SoftKey(), name="Phone")
    added = cli("secondary-auth", "add", "--kind", "passkey", "--title", "Security key", "--json")
    assert added.exit_code == 0 and added.json["kind"] == "passkey"
    listed = cli("entry", "list", ALICE, "--json").json
    assert [(e["kind"], e["name"], e["last_used_at"]) for e in listed] == \
        [("passkey", "Phone", None)]
    exported = cli("export")
    assert exported.exit_code == 0 and 'kind = "passkey"' in exported.stdout
    gone = cli("entry", "delete", ALICE, "Phone", "--yes", "--json")
    assert gone.exit_code == 0 and gone.json["entry"]["kind"] == "passkey"


def test_the_cli_login_says_a_passkey_is_required(cli, alice_with_passkey):
    run = cli("login", ALICE, "--password-stdin", "--json", input=PASSWORD + "\n")
    assert run.exit_code == 0 and run.json["status"] == "passkey_required"
    told = cli("login", ALICE, "--password-stdin", input=PASSWORD + "\n")
    assert "passkey" in told.stdout + told.stderr and "Logged in" not in told.stdout
