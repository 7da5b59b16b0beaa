"""Secret key rotation: several keys, `twofa key rotate` and `twofa key prune`.

Every store-parametrised test runs on SQLite and, when TWOFA_TEST_DATABASE_URL is set,
on PostgreSQL. Credentials are proved usable by live sends to the local fake Twilio and
Cdyne, which check them; trusted devices by logging in with their token.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyotp
import pytest
from fakes import (  # noqa: F401 (fixtures)
    CDYNE_KEY,
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeCdyne,
    FakeTwilio,
    http_server,
)
from sqlalchemy import String, event, select
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import SQLModel

from tests.conftest import Cli, last_code
from tests.test_concurrency import BOUND, SPAWN, run_workers
from tests.store_dump import dump_store
from twofa_cli.errors import Rejected
from twofa_cli.runtime import open_runtime
from twofa_cli.security import SECRET_KEY_ENV, SecretKey
from twofa_cli.services import (
    accounts,
    audit,
    challenges,
    delivery,
    enrollment,
    keys,
    login,
    providers,
    recovery,
    secondary_auth,
    system,
)
from twofa_cli.store.models import Provider

ALICE = "alice@example.com"
PASSWORD = "correct horse battery"
PHONE = "+14155550199"
BOB, CAROL = "bob@example.com", "carol@example.com"
APP = "Authenticator app"


def key_lines(home: Path) -> list[str]:
    return (home / "secret.key").read_text().split()


def encrypted_under_first_key_alone(rt, token: str) -> bool:
    return not SecretKey(key_lines(rt.settings.home)[0]).needs_old_key(token)


# -- several keys ------------------------------------------------------------------------


def test_the_first_key_encrypts_and_every_key_decrypts():
    new, old = SecretKey.generate(), SecretKey.generate()
    under_old = SecretKey(old).encrypt_json({"auth_token": "t0k"})
    for text in (f"{new}\n{old}\n", f"{new},{old}", f" {new} ,\n{old}\n\n"):
        key = SecretKey(text)
        assert key.decrypt_json(under_old) == {"auth_token": "t0k"}
        fresh = key.encrypt_json({"auth_token": "t0k"})
        assert SecretKey(new).decrypt_json(fresh) == {"auth_token": "t0k"}
        with pytest.raises(Rejected, match="cannot be decrypted"):
            SecretKey(old).decrypt_json(fresh)
        assert key.code_hmac(7, "123456") == SecretKey(new).code_hmac(7, "123456")
        assert key.code_hmac(7, "123456") != SecretKey(old).code_hmac(7, "123456")
        assert key.needs_old_key(under_old) and not key.needs_old_key(fresh)


def test_a_bad_second_key_is_named_by_position_and_never_printed():
    good = SecretKey.generate()
    with pytest.raises(Rejected, match="key 2 of 2 is not a valid Fernet key") as refused:
        SecretKey(f"{good}\nnot-a-key-but-a-secret\n")
    assert "not-a-key-but-a-secret" not in refused.value.message
    with pytest.raises(Rejected, match="no key"):
        SecretKey(" \n, \n")


def test_several_keys_from_the_key_file_and_from_the_environment(home, clock, monkeypatch):
    rt = open_runtime(home, clock=clock)
    add_twilio(rt, "http://127.0.0.1:9")
    rt.engine.dispose()
    old = key_lines(home)[0]
    new = SecretKey.generate()

    (home / "secret.key").write_text(f"{new}\n{old}\n")
    from_file = open_runtime(home, clock=clock)
    assert providers.show_provider(from_file, "Twilio")["options"]["auth_token"] == "…" + TWILIO_TOKEN[-4:]
    from_file.engine.dispose()

    (home / "secret.key").write_text("")  # the environment wins over the file
    monkeypatch.setenv(SECRET_KEY_ENV, f"{new},{old}")
    from_env = open_runtime(home, clock=clock)
    assert providers.show_provider(from_env, "Twilio")["options"]["auth_token"] == "…" + TWILIO_TOKEN[-4:]
    from_env.engine.dispose()


# -- a deployment with every kind of secret -------------------------------------------------


def add_twilio(rt, base_url: str, title: str = "Twilio") -> None:
    providers.add_provider(rt, channel="twilio", title=title, options={
        "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+14155550100",
        "api_base_url": base_url})


@pytest.fixture
def deployment(rt, http_server):
    """Twilio and Cdyne providers (both credentials encrypted), Alice enrolled by SMS with a
    trusted laptop and her recovery codes, and a login code pending for her; Bob enrolled
    with an authenticator app, Carol's app enrolment pending (TOTP secrets encrypted)."""
    twilio, cdyne = FakeTwilio(http_server), FakeCdyne(http_server)
    system.set_company_name(rt, "Acme Events")
    add_twilio(rt, twilio.base_url)
    providers.add_provider(rt, channel="cdyne", title="Cdyne", options={
        "license_key": CDYNE_KEY, "api_base_url": cdyne.base_url})
    providers.add_provider(rt, channel="smtp", title="Email")
    secondary_auth.add_secondary_auth(rt, provider="Twilio", title="Text message")
    system.set_allowed(rt, "customer", True)
    accounts.add_account(rt, email=ALICE, password=PASSWORD)
    enrollment.enroll(rt, ALICE, method="Text message", phone=PHONE)
    verified = challenges.verify(rt, ALICE, last_code(rt), trust_device=True, device="laptop")
    assert login.login(rt, ALICE, PASSWORD)["status"] == "code_sent"
    secondary_auth.add_secondary_auth(rt, provider=None, kind="totp", title=APP)
    apps = {}
    for who in (BOB, CAROL):
        accounts.add_account(rt, email=who, password=PASSWORD)
        apps[who] = enrollment.enroll(rt, who, method=APP)["secret"]
    challenges.verify(rt, BOB, pyotp.TOTP(apps[BOB]).at(rt.now()))
    return {"twilio": twilio, "cdyne": cdyne, "laptop": verified.device_token,
            "pending_code": last_code(rt), "recovery_codes": verified.recovery_codes,
            "bob_app": apps[BOB], "carol_app": apps[CAROL]}


def assert_every_secret_works(rt, deployment) -> None:
    """Credentials decrypt and authenticate live sends; the trusted device skips the code;
    a new code is sent and verified under the current key."""
    rt.clock.advance(hours=1)  # a fresh hour of the per-destination send budget
    for title, fake in (("Twilio", deployment["twilio"]), ("Cdyne", deployment["cdyne"])):
        assert_live_send(rt, title, fake)
    assert {"Twilio", "Cdyne", "Email"} <= {p["title"] for p in providers.list_providers(rt)}
    trusted = login.login(rt, ALICE, PASSWORD, device_token=deployment["laptop"])
    assert trusted["status"] == "authenticated" and trusted["reason"] == "trusted device"
    assert login.login(rt, ALICE, PASSWORD)["status"] == "code_sent"
    assert challenges.verify(rt, ALICE, last_code(rt)).status == "authenticated"
    rt.clock.advance(minutes=1)
    assert login.login(rt, ALICE, PASSWORD)["status"] == "code_sent"
    recovered = challenges.verify(rt, ALICE, "", recovery_code=deployment["recovery_codes"].pop())
    assert recovered.status == "authenticated"
    assert login.login(rt, BOB, PASSWORD)["status"] == "code_required"
    bob = challenges.verify(rt, BOB, pyotp.TOTP(deployment["bob_app"]).at(rt.now()))
    assert bob.status == "authenticated"


def assert_live_send(rt, title: str, fake) -> None:
    """The fake accepts a message only with the right credential (Twilio's auth token in
    Basic auth, Cdyne's license key)."""
    before = len(fake.accepted)
    assert delivery.send_test(rt, title, to=PHONE, live=True)["status"] != "simulated"
    assert len(fake.accepted) == before + 1 and title in fake.accepted[-1]["Body"]


def stored_secrets(rt) -> dict[int, str]:
    with rt.transaction() as session:
        return dict(session.execute(select(Provider.id, Provider.secrets)
                                    .where(Provider.secrets != "")).all())


# -- rotate and prune ----------------------------------------------------------------------


def test_rotate_then_prune_keeps_every_secret_usable(rt, home, deployment):
    old = key_lines(home)
    before = stored_secrets(rt)
    assert len(before) == 2

    rotated = keys.rotate(rt)

    new = key_lines(home)
    assert len(new) == 2 and new[1:] == old and new[0] != old[0]
    assert rotated["keys"] == 2 and rotated["key_file"] == str(home / "secret.key")
    assert rotated["reencrypted"] == {"provider.secrets": 2, "entry.secret": 1,
                                      "challenge.secret": 1, "recovery_code.recovery_key": 20}
    assert rotated["pending_codes_invalidated"] == 1
    after = stored_secrets(rt)
    assert after.keys() == before.keys()
    for provider_id, token in after.items():
        assert token != before[provider_id]
        assert encrypted_under_first_key_alone(rt, token)
        with pytest.raises(Rejected, match="cannot be decrypted"):  # a leaked old key opens nothing
            SecretKey(old[0]).decrypt_json(token)
    with pytest.raises(Rejected, match="no code is pending"):
        challenges.verify(rt, ALICE, deployment["pending_code"])
    # A pending app enrolment is no code sent: it survives, its secret re-encrypted.
    carol = challenges.verify(rt, CAROL, pyotp.TOTP(deployment["carol_app"]).at(rt.now()))
    assert carol.status == "verified"
    assert_every_secret_works(rt, deployment)

    pruned = keys.prune(rt)

    assert key_lines(home) == new[:1]
    assert pruned == {"key_file": str(home / "secret.key"), "removed": 1, "keys": 1}
    assert_every_secret_works(rt, deployment)
    # and a process started now, with nothing but the pruned key file, reads everything
    fresh = open_runtime(home, clock=rt.clock)
    try:
        assert_every_secret_works(fresh, deployment)
    finally:
        fresh.engine.dispose()
    actions = [event["action"] for event in audit.list_events(rt, limit=100)]
    assert "key.rotate" in actions and "key.prune" in actions


def test_the_key_file_stays_owner_only(rt, home, deployment):
    keys.rotate(rt)
    assert (home / "secret.key").stat().st_mode & 0o777 == 0o600
    keys.prune(rt)
    assert (home / "secret.key").stat().st_mode & 0o777 == 0o600


def test_prune_with_one_key_removes_nothing(rt, home):
    assert keys.prune(rt) == {"key_file": str(home / "secret.key"), "removed": 0, "keys": 1}
    assert len(key_lines(home)) == 1


def write_under_old_key(rt, base_url: str, old_key: str, title: str = "Late") -> None:
    """A credential stored under ``old_key`` after the rotation: what a twofa of before key
    ids still running with the old keys writes (a process of this one catches up first,
    Runtime.current_key), or one writing in the very instant a PostgreSQL rotation commits."""
    add_twilio(rt, base_url, title=title)
    with rt.transaction() as session:
        late = session.scalars(select(Provider).where(Provider.title == title)).one()
        late.secrets = SecretKey(old_key).encrypt_json(rt.key.decrypt_json(late.secrets))
        session.add(late)


def test_prune_refuses_while_a_value_needs_an_old_key(rt, home, clock, deployment, database_url):
    """A value is under the old key after the rotation: pruning would make it unreadable."""
    old = key_lines(home)[0]
    keys.rotate(rt)
    write_under_old_key(rt, deployment["twilio"].base_url, old)
    late_id = providers.show_provider(rt, "Late")["id"]
    key_file, store = (home / "secret.key").read_bytes(), dump_store(database_url)

    with pytest.raises(Rejected, match=rf"provider\.secrets of id {late_id}\b") as refused:
        keys.prune(rt)
    assert "key rotate" in refused.value.message
    assert (home / "secret.key").read_bytes() == key_file
    assert dump_store(database_url) == store

    # the remedy the message gives: rotate again (the late value joins the new key), then prune
    keys.rotate(rt)
    assert keys.prune(rt)["removed"] == 2
    assert_live_send(rt, "Late", deployment["twilio"])
    assert_every_secret_works(rt, deployment)


def test_cli_rotate_and_prune(home, deployment):
    cli = Cli()
    # a code pending by the wall clock (the deployment's is pending by the test clock)
    assert cli("login", ALICE, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    rotated = cli("key", "rotate", "--json")
    assert rotated.exit_code == 0, rotated.stderr
    assert rotated.json["reencrypted"] == {"provider.secrets": 2, "entry.secret": 1,
                                           "challenge.secret": 1, "recovery_code.recovery_key": 20}
    assert rotated.json["pending_codes_invalidated"] == 1
    for secret in (TWILIO_TOKEN, CDYNE_KEY, *key_lines(home)):
        assert secret not in rotated.stdout + rotated.stderr

    again = cli("key", "rotate")  # a human run: no question asked, the codes mentioned
    assert again.exit_code == 0, again.stderr
    assert "0 pending codes" in again.stdout + again.stderr
    assert len(key_lines(home)) == 3

    pruned = cli("key", "prune", "--json")
    assert pruned.exit_code == 0, pruned.stderr
    assert pruned.json["removed"] == 2 and pruned.json["keys"] == 1
    assert cli("provider", "list", "--json").exit_code == 0


def test_cli_prune_refusal_says_what_needs_the_old_key(home, clock, deployment):
    cli = Cli()
    old = key_lines(home)[0]
    assert cli("key", "rotate").exit_code == 0
    fresh = open_runtime(home, clock=clock)
    try:
        write_under_old_key(fresh, deployment["twilio"].base_url, old)
    finally:
        fresh.engine.dispose()
    refused = cli("key", "prune", "--json")
    assert refused.exit_code == 1
    assert refused.json["error"]["code"] == "rejected"
    assert "provider.secrets" in refused.json["error"]["message"]
    human = cli("key", "prune")
    assert human.exit_code == 1 and "provider.secrets" in human.stderr and human.stdout == ""


# -- a rotation that fails changes nothing -------------------------------------------------


def test_a_failure_half_way_through_the_reencryption_changes_nothing(
        rt, home, deployment, database_url, monkeypatch):
    key_file, store = (home / "secret.key").read_bytes(), dump_store(database_url)
    reencrypt = SecretKey.reencrypt
    calls = []

    def fail_on_the_second(self, token):
        calls.append(token)
        if len(calls) == 2:
            raise OSError("disk on fire")
        return reencrypt(self, token)

    with monkeypatch.context() as patch, pytest.raises(OSError, match="disk on fire"):
        patch.setattr(SecretKey, "reencrypt", fail_on_the_second)
        keys.rotate(rt)

    assert len(calls) == 2  # the first value was re-encrypted when the second failed
    assert (home / "secret.key").read_bytes() == key_file
    assert dump_store(database_url) == store
    # the pending code was not invalidated: it still verifies
    assert challenges.verify(rt, ALICE, deployment["pending_code"]).status == "authenticated"
    assert_every_secret_works(rt, deployment)


def test_a_failure_after_the_values_were_rewritten_changes_nothing(
        rt, home, deployment, database_url, monkeypatch):
    key_file, store = (home / "secret.key").read_bytes(), dump_store(database_url)
    before = stored_secrets(rt)
    seen = []

    def fail_after_the_updates(session, runtime):
        seen.append(dict(session.execute(select(Provider.id, Provider.secrets)
                                         .where(Provider.secrets != "")).all()))
        raise RuntimeError("crash before the codes were invalidated")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError, match="crash"):
        patch.setattr(keys, "_invalidate_pending_codes", fail_after_the_updates)
        keys.rotate(rt)

    assert seen[0].keys() == before.keys() and all(seen[0][i] != before[i] for i in before)
    assert (home / "secret.key").read_bytes() == key_file
    assert dump_store(database_url) == store
    assert_every_secret_works(rt, deployment)


def test_a_failed_commit_restores_the_key_file(rt, home, deployment, database_url):
    """The key file is written before the commit (so no committed value is ever under a
    key that is on no disk); a commit that then fails puts the old file back."""
    key_file, store = (home / "secret.key").read_bytes(), dump_store(database_url)
    seen = []

    def refuse_commit(session):
        seen.append(key_lines(home))
        raise OSError("connection lost at commit")

    event.listen(OrmSession, "before_commit", refuse_commit)
    try:
        with pytest.raises(OSError, match="connection lost"):
            keys.rotate(rt)
    finally:
        event.remove(OrmSession, "before_commit", refuse_commit)

    assert len(seen) == 1 and len(seen[0]) == 2  # the new file was there before the commit
    assert (home / "secret.key").read_bytes() == key_file
    assert dump_store(database_url) == store
    assert_every_secret_works(rt, deployment)


def test_a_key_file_that_cannot_be_written_changes_nothing(rt, home, deployment, database_url,
                                                         monkeypatch):
    key_file, store = (home / "secret.key").read_bytes(), dump_store(database_url)

    def full_disk(path, content):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch, pytest.raises(Rejected, match="No space left"):
        patch.setattr(keys, "write_private_file", full_disk)
        keys.rotate(rt)
    assert (home / "secret.key").read_bytes() == key_file
    assert dump_store(database_url) == store


def test_a_value_no_key_can_open_stops_the_rotation(rt, home, deployment, database_url):
    with rt.transaction() as session:
        twilio = session.scalars(select(Provider).where(Provider.title == "Twilio")).one()
        twilio.secrets = SecretKey(SecretKey.generate()).encrypt_json({"auth_token": "x"})
        session.add(twilio)
    key_file, store = (home / "secret.key").read_bytes(), dump_store(database_url)
    with pytest.raises(Rejected, match=rf"provider\.secrets of id {twilio.id}: no key"):
        keys.rotate(rt)
    assert (home / "secret.key").read_bytes() == key_file
    assert dump_store(database_url) == store


def _rotate_at_once(home, database_url, barrier) -> int:
    """A worker process: one `twofa key rotate`, started together with the others."""
    rt = open_runtime(home, database_url=database_url)
    barrier.wait(timeout=BOUND)
    try:
        return keys.rotate(rt)["keys"]
    finally:
        rt.engine.dispose()


def test_concurrent_rotations_lose_no_key(home, clock, database_url, deployment):
    """Two processes rotate at once: each reads the key file under the store's lock, so
    the second adds its key to the first one's file and re-encrypts the first one's values."""
    barrier = SPAWN.Barrier(2)
    assert sorted(run_workers(_rotate_at_once, [(home, database_url, barrier)] * 2)) == [2, 3]
    assert len(key_lines(home)) == 3
    fresh = open_runtime(home, clock=clock)
    try:
        assert keys.prune(fresh)["removed"] == 2
        assert_every_secret_works(fresh, deployment)
    finally:
        fresh.engine.dispose()


def test_a_credential_changed_during_the_rotation_is_not_lost(rt, home, clock, deployment,
                                                             monkeypatch):
    """The rotation pauses between reading the tokens and writing them back; an admin (with
    both keys) changes the Twilio token meanwhile. The change must survive: the rotation may
    not write a re-encryption of the old token over it."""
    new_key, new_token = SecretKey.generate(), "tok" + "7e" * 14 + "QZ"
    admin = open_runtime(home, clock=clock, secret_key=f"{new_key},{key_lines(home)[0]}")
    read, resume, errors = threading.Event(), threading.Event(), []
    reencrypt = SecretKey.reencrypt

    def pausing(self, token):
        read.set()
        resume.wait(10)
        return reencrypt(self, token)

    def run(work, *args, **kwargs):
        try:
            work(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 (asserted below)
            errors.append(exc)

    with monkeypatch.context() as patch:
        patch.setattr(SecretKey, "generate", staticmethod(lambda: new_key))
        patch.setattr(SecretKey, "reencrypt", pausing)
        rotation = threading.Thread(target=run, args=(keys.rotate, rt))
        rotation.start()
        assert read.wait(10)
        update = threading.Thread(target=run, args=(providers.update_provider, admin, "Twilio"),
                                  kwargs={"options": {"auth_token": new_token}})
        update.start()
        update.join(1)  # give the update its chance to slip in before the rotation writes
        resume.set()
        rotation.join()
        update.join()
    admin.engine.dispose()

    assert errors == []
    assert key_lines(home)[0] == new_key
    shown = providers.show_provider(rt, "Twilio")["options"]["auth_token"]
    assert shown == "…" + new_token[-4:]


# -- a key in the environment --------------------------------------------------------------


def test_an_environment_key_is_not_rotated_but_explained(home, deployment, database_url,
                                                         monkeypatch):
    monkeypatch.setenv(SECRET_KEY_ENV, key_lines(home)[0])
    key_file, store = (home / "secret.key").read_bytes(), dump_store(database_url)
    cli = Cli()
    for command in ("rotate", "prune"):
        refused = cli("key", command, "--json")
        assert refused.exit_code == 1
        message = refused.json["error"]["message"]
        assert SECRET_KEY_ENV in message and "key file" in message and "key rotate" in message
        assert key_lines(home)[0] not in refused.stdout
    assert (home / "secret.key").read_bytes() == key_file
    assert dump_store(database_url) == store


# -- the registry ------------------------------------------------------------------------


def test_every_encrypted_column_is_in_the_registry(rt, deployment):
    """Any text column of any table that holds a value the key decrypts must be registered,
    or rotate would leave it under the old key and prune would make it unreadable."""
    registered = {(c.class_.__tablename__, c.key) for c in keys.ENCRYPTED_COLUMNS}
    found = set()
    with rt.transaction() as session:
        for table in SQLModel.metadata.sorted_tables:
            for column in table.columns:
                if not _holds_text(column):
                    continue
                for value in session.execute(select(column).where(column.is_not(None))).scalars():
                    if isinstance(value, str) and value.startswith("gAAAA") and _decrypts(rt, value):
                        found.add((table.name, column.name))
    assert found == registered


def _holds_text(column) -> bool:
    return isinstance(getattr(column.type, "impl", column.type), String)  # Text included


def _decrypts(rt, value: str) -> bool:
    try:
        rt.key.decrypt_json(value)
    except Rejected:
        return False
    return True


# -- a process opened before the rotation (SECURITY.md rule 33) ------------------------------

DAVE = "dave@example.com"


def stored_setting_values(rt) -> list[str]:
    from twofa_cli.store.models import Setting

    with rt.transaction() as session:
        return list(session.execute(select(Setting.value)).scalars())


def test_a_stale_library_writes_what_a_fresh_process_can_read(home, clock, deployment):
    """A TwoFactor opened before `key rotate` + `key prune` (run by the CLI, another process)
    enrols an app, gets recovery codes, sends a login code and adds a provider: a process
    started afterwards, with nothing but the pruned key file, reads all of it."""
    from twofa_cli.api import TwoFactor

    stale = TwoFactor.open(home, clock=clock)
    cli = Cli()
    assert cli("key", "rotate").exit_code == 0
    assert cli("key", "prune").exit_code == 0
    try:
        stale.add_account(DAVE, PASSWORD)
        secret = stale.enroll(DAVE, method=APP).secret
        codes = stale.verify(DAVE, pyotp.TOTP(secret).at(clock())).recovery_codes
        stale.add_provider("twilio", title="Late", options={
            "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+14155550100",
            "api_base_url": deployment["twilio"].base_url})
        clock.advance(hours=1)
        assert stale.login(ALICE, PASSWORD).status == "code_sent"
    finally:
        stale.close()

    fresh = open_runtime(home, clock=clock)
    try:
        assert challenges.verify(fresh, ALICE, last_code(fresh)).status == "authenticated"
        clock.advance(minutes=1)
        assert login.login(fresh, DAVE, PASSWORD)["status"] == "code_required"
        dave = challenges.verify(fresh, DAVE, pyotp.TOTP(secret).at(clock()))  # the secret decrypts
        assert dave.status == "authenticated"
        clock.advance(minutes=1)
        assert login.login(fresh, DAVE, PASSWORD)["status"] == "code_required"
        assert challenges.verify(fresh, DAVE, "", recovery_code=codes[0]).status == "authenticated"
        assert_live_send(fresh, "Late", deployment["twilio"])
        assert keys.prune(fresh)["removed"] == 0  # and nothing holds prune back
    finally:
        fresh.engine.dispose()


@pytest.mark.parametrize("given", ["environment", "argument"])
def test_a_stale_process_that_cannot_reload_its_key_is_refused_and_writes_nothing(
        rt, home, clock, deployment, database_url, monkeypatch, given):
    old = key_lines(home)[0]
    if given == "environment":
        monkeypatch.setenv(SECRET_KEY_ENV, old)
        stale = open_runtime(home, clock=clock)
        monkeypatch.delenv(SECRET_KEY_ENV)
    else:
        stale = open_runtime(home, clock=clock, secret_key=old)
    accounts.add_account(rt, email=DAVE, password=PASSWORD)
    keys.rotate(rt)
    keys.prune(rt)
    clock.advance(hours=1)  # past the wait before Alice's next login code
    key_file, store = (home / "secret.key").read_bytes(), dump_store(database_url)
    twilio = {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN,
              "from_number": "+14155550100", "api_base_url": deployment["twilio"].base_url}
    writes = [
        lambda: enrollment.enroll(stale, DAVE, method=APP),
        lambda: providers.add_provider(stale, channel="twilio", title="Late", options=twilio),
        lambda: providers.update_provider(stale, "Twilio", options={"auth_token": TWILIO_TOKEN}),
        lambda: recovery.generate(stale, ALICE),
        lambda: login.login(stale, ALICE, PASSWORD),
    ]
    try:
        for write in writes:
            with pytest.raises(Rejected, match="another process rotated the secret key") as refused:
                write()
            message = refused.value.message
            assert SECRET_KEY_ENV in message and "restart" in message.lower()
            assert old not in message and key_lines(home)[0] not in message
    finally:
        stale.engine.dispose()
    assert (home / "secret.key").read_bytes() == key_file
    # The login's password check counts in the throttle before it reaches a code: that
    # bookkeeping holds no secret and is no write under a key; everything else is as it was.
    after = dump_store(database_url)
    assert {t: rows for t, rows in after.items() if t != "login_throttle"} == {
        t: rows for t, rows in store.items() if t != "login_throttle"}


def test_a_stale_process_reloads_a_key_file_before_it_writes(rt, home, clock, deployment):
    stale = open_runtime(home, clock=clock)
    try:
        keys.rotate(rt)
        keys.prune(rt)
        add_twilio(stale, deployment["twilio"].base_url, title="Late")
        assert stale.key.keys == tuple(key_lines(home))  # it read the new key file
    finally:
        stale.engine.dispose()
    assert encrypted_under_first_key_alone(rt, stored_secrets(rt)[providers.show_provider(
        rt, "Late")["id"]])


@pytest.mark.parametrize("file_holds", ["an old key only", "the current key second"])
def test_prune_refuses_while_the_store_names_a_key_the_file_does_not_hold_first(
        rt, home, database_url, file_holds):
    """Another host rotated with its own key file: this host's file lacks the store's
    current key, and pruning it would leave this host with no key to write under."""
    before = key_lines(home)
    keys.rotate(rt)  # the other host's rotation
    current = key_lines(home)[0]
    other_host = before if file_holds == "an old key only" else [*before, current]
    (home / "secret.key").write_text("".join(f"{k}\n" for k in other_host))
    key_file, store = (home / "secret.key").read_bytes(), dump_store(database_url)
    with pytest.raises(Rejected, match="current key") as refused:
        keys.prune(rt)
    assert "key file" in refused.value.message and "nothing changed" in refused.value.message
    assert (home / "secret.key").read_bytes() == key_file
    assert dump_store(database_url) == store


def test_the_store_keeps_an_id_of_its_current_key_never_the_key(rt, home):
    def assert_names(first: str) -> None:
        values = stored_setting_values(rt)
        assert SecretKey(first).key_id in values
        for value in values:
            for line in key_lines(home):
                raw = SecretKey(line)
                assert line not in value and line.rstrip("=") not in value
                assert _raw_hex(line) not in value and value != raw.keys[0]

    first = key_lines(home)[0]
    assert_names(first)  # recorded by `twofa init`
    keys.rotate(rt)
    assert key_lines(home)[0] != first
    assert_names(key_lines(home)[0])
    assert SecretKey(first).key_id not in stored_setting_values(rt)
    keys.prune(rt)
    assert_names(key_lines(home)[0])


def _raw_hex(line: str) -> str:
    import base64

    return base64.urlsafe_b64decode(line).hex()
