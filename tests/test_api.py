"""The library API (twofa_cli.api): typed results, the exception tree, threads, closing."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta

import pytest

from twofa_cli import TwoFactor
from twofa_cli.api import (
    Account,
    BadInput,
    CodeSent,
    Conflict,
    LoginResult,
    NotFound,
    NotInitialised,
    Rejected,
    Throttled,
    Verification,
)

ALICE = "alice@example.com"
PASSWORD = "correct horse battery"
PHONE = "+14155550199"


@pytest.fixture
def twofa(home, clock):
    with TwoFactor.open(home, actor="tester", clock=clock) as opened:
        yield opened


@pytest.fixture
def shop(twofa):
    """The admin side as the seed sets it up, through the API."""
    twofa.set_company_name("Acme Events")
    twofa.add_provider("twilio", title="SMS", options={
        "account_sid": "AC" + "a1" * 16, "auth_token": "tok" + "9f" * 14 + "xy",
        "from_number": "+14155550100"})
    twofa.add_secondary_auth(provider="SMS", title="Text message")
    twofa.set_allowed("customer", True)
    twofa.add_account(ALICE, PASSWORD, name="Alice")
    return twofa


def code(twofa: TwoFactor) -> str:
    """The newest code in the outbox (the customer's notices carry none)."""
    return next(m.code for m in twofa.outbox() if m.code is not None)


def enrolled(twofa: TwoFactor) -> Verification:
    twofa.enroll(ALICE, method="Text message", phone=PHONE)
    return twofa.verify(ALICE, code(twofa))


def test_the_package_root_reexports_the_api_lazily():
    import subprocess
    import sys

    probe = ("import sys, twofa_cli; assert 'twofa_cli.api' not in sys.modules; "
             "assert 'sqlalchemy' not in sys.modules; from twofa_cli import TwoFactor; "
             "import twofa_cli.api as api; assert TwoFactor is api.TwoFactor")
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_admin_side_returns_typed_frozen_results(twofa):
    assert twofa.company_name() == ""
    assert twofa.set_company_name("Acme Events") == twofa.company_name() == "Acme Events"
    provider = twofa.add_provider("twilio", title="SMS", options={
        "account_sid": "AC" + "a1" * 16, "auth_token": "tok" + "9f" * 14 + "xy",
        "from_number": "+14155550100"})
    assert (provider.channel, provider.medium, provider.kind) == ("twilio", "sms", "custom")
    assert provider.options["auth_token"] == "…9fxy"  # masked, never the credential
    assert isinstance(provider.created_at, datetime) and provider.created_at.tzinfo is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        provider.title = "other"  # type: ignore[misc]
    assert twofa.providers() == [provider]
    method = twofa.add_secondary_auth(provider=provider.id, title="Text message")
    assert (method.title, method.provider, method.medium) == ("Text message", "SMS", "sms")
    assert twofa.secondary_auths() == [method]
    policy = twofa.set_allowed("customer", True)
    assert (policy.audience, policy.active, policy.methods) == ("customer", True, 1)
    assert twofa.allowed("admin").active is False
    with pytest.raises(Conflict) as taken:
        twofa.add_secondary_auth(provider="SMS", title="Text message")
    assert taken.value.exit_code == 1
    with pytest.raises(Conflict):
        twofa.remove_provider("SMS")  # a method still uses it
    assert twofa.remove_secondary_auth("Text message").entries_removed == 0
    assert twofa.remove_provider("SMS").provider.id == provider.id
    assert twofa.providers() == [] and twofa.secondary_auths() == []
    with pytest.raises(NotFound) as missing:
        twofa.remove_provider("SMS")
    assert missing.value.exit_code == 3


def test_the_customer_story_through_the_api(shop, clock):
    twofa = shop
    sent = twofa.enroll(ALICE, method="Text message", phone="+1 415 555 0199")
    assert isinstance(sent, CodeSent) and sent.destination == "+1••••••0199"
    assert sent.expires_at == clock.now + timedelta(minutes=10)
    right = code(twofa)
    with pytest.raises(Rejected, match="wrong code"):
        twofa.verify(ALICE, f"{(int(right) + 1) % 1_000_000:06d}")
    clock.advance(seconds=31)
    twofa.resend(ALICE)
    with pytest.raises(Rejected):
        twofa.verify(ALICE, right)  # Send New Code killed the old one
    verified = twofa.verify(ALICE, code(twofa))
    assert (verified.status, verified.trusted_device, verified.device_token) == ("verified", False, None)
    [entry] = twofa.entries(ALICE)
    assert (entry.id, entry.method, entry.destination) == (verified.entry_id, "Text message", "+1••••••0199")

    login = twofa.login(ALICE, PASSWORD)
    assert isinstance(login, LoginResult) and login.status == "code_sent" and not login.authenticated
    assert login.account.email == ALICE and login.code is not None
    trusted = twofa.verify(ALICE, code(twofa), trust_device=True, device_name="laptop")
    assert trusted.status == "authenticated" and trusted.trusted_device
    token = trusted.device_token
    assert token and token not in repr(trusted) and token not in str(trusted)

    again = twofa.login(ALICE, PASSWORD, device_token=token)
    assert again.authenticated and again.reason == "trusted device" and again.code is None
    assert twofa.login(ALICE, PASSWORD, device_token="garbage").status == "code_sent"
    [device] = twofa.trusted_devices(ALICE)
    assert (device.name, device.state, device.revoked_at) == ("laptop", "active", None)
    assert device.expires_at - device.created_at == twofa.trusted_device_lifetime == timedelta(days=30)

    removed = twofa.delete_entry(ALICE, entry.id)
    assert removed.entry == entry and removed.trusted_devices_revoked == 1
    assert twofa.entries(ALICE) == []
    assert twofa.trusted_devices(ALICE)[0].state == "revoked"
    assert twofa.login(ALICE, PASSWORD).reason == "no 2FA entry"


def test_trusting_again_revokes_the_token_the_client_held(shop):
    twofa = shop
    enrolled(twofa)
    twofa.login(ALICE, PASSWORD)
    first = twofa.verify(ALICE, code(twofa), trust_device=True).device_token
    twofa.revoke_device(ALICE, every=True)
    twofa.login(ALICE, PASSWORD, device_token=first)
    second = twofa.verify(ALICE, code(twofa), trust_device=True, device_token=first)
    assert second.device_token and second.device_token != first
    assert [d.state for d in twofa.trusted_devices(ALICE)] == ["revoked", "active"]
    assert twofa.login(ALICE, PASSWORD, device_token=second.device_token).authenticated


def test_device_revocation_and_password_change(shop):
    twofa = shop
    enrolled(twofa)
    twofa.login(ALICE, PASSWORD)
    token = twofa.verify(ALICE, code(twofa), trust_device=True, device_name="laptop").device_token
    assert twofa.revoke_device(ALICE, "laptop") == 1
    with pytest.raises(NotFound):
        twofa.revoke_device(ALICE, "laptop")
    assert twofa.login(ALICE, PASSWORD, device_token=token).status == "code_sent"
    twofa.verify(ALICE, code(twofa), trust_device=True)
    assert twofa.set_password(ALICE, "a new long password") == 1
    with pytest.raises(Rejected, match="wrong email or password"):
        twofa.login(ALICE, PASSWORD)


def test_errors_are_the_exception_tree_with_exit_codes(shop, clock):
    twofa = shop
    with pytest.raises(BadInput) as bad_phone:
        twofa.enroll(ALICE, method="Text message", phone="555-0199")
    assert bad_phone.value.exit_code == 2
    with pytest.raises(NotFound):
        twofa.enroll("ghost@example.com", method="Text message", phone=PHONE)
    with pytest.raises(NotFound):
        twofa.enroll(ALICE, method="Carrier pigeon", phone=PHONE)
    with pytest.raises(Rejected, match="no code is pending"):
        twofa.resend(ALICE)
    with pytest.raises(Rejected) as error_unknown:
        twofa.login("ghost@example.com", PASSWORD)
    with pytest.raises(Rejected) as error_wrong:
        twofa.login(ALICE, "not the password")
    assert str(error_unknown.value) == str(error_wrong.value) == "wrong email or password"
    twofa.enroll(ALICE, method="Text message", phone=PHONE)
    with pytest.raises(Throttled) as too_soon:
        twofa.resend(ALICE)
    assert too_soon.value.exit_code == 4 and too_soon.value.retry_after
    with pytest.raises(BadInput):
        twofa.verify(ALICE, "12ab56")
    with pytest.raises(Conflict):
        twofa.add_account(ALICE, PASSWORD)
    with pytest.raises(BadInput):
        twofa.add_account("bob@example.com", "short")
    with pytest.raises(NotFound):
        twofa.delete_entry(ALICE, 999)


def test_open_refuses_a_home_that_was_never_initialised(tmp_path):
    with pytest.raises(NotInitialised) as error:
        TwoFactor.open(tmp_path / "nothing-here")
    assert error.value.exit_code == 1


def test_initialise_then_open_with_an_explicit_secret_key(tmp_path, database_url, monkeypatch):
    monkeypatch.setenv("TWOFA_DATABASE_URL", database_url)
    home = TwoFactor.initialise(tmp_path / "home")
    assert home.path == tmp_path / "home" and "schema" in home.created
    assert TwoFactor.initialise(tmp_path / "home").created == ()
    key = (tmp_path / "home" / "secret.key").read_text()
    (tmp_path / "home" / "secret.key").unlink()
    with TwoFactor.open(tmp_path / "home", secret_key=key) as twofa:
        provider = twofa.add_provider("cdyne", title="Cdyne",
                                      options={"license_key": "f01d89fd-5155-5455-5585-e84ab8de8591"})
        assert provider.options["license_key"] == "…8591"


def test_the_context_manager_closes_the_engine(home):
    with TwoFactor.open(home) as twofa:
        twofa.providers()
        pool = twofa._rt.engine.pool
        assert pool.checkedin() >= 1
        assert repr(twofa).endswith("(open)>")
    assert twofa.closed and repr(twofa).endswith("(closed)>")
    assert twofa._rt.engine.pool is not pool  # disposed: a fresh, empty pool


def test_one_instance_serves_many_threads(shop):
    """One engine, a connection per call: sixteen threads log in and verify at once."""
    twofa = shop
    accounts = [f"c{n}@example.com" for n in range(16)]
    for n, email in enumerate(accounts):
        twofa.add_account(email, PASSWORD)
        twofa.enroll(email, method="Text message", phone=f"+1415555{n:04d}")
        twofa.verify(email, twofa.outbox(to=f"+1415555{n:04d}", limit=1)[0].code or "")
    errors: list[BaseException] = []
    results: list[Verification] = []
    start = threading.Barrier(len(accounts))

    def customer(n: int, email: str) -> None:
        try:
            start.wait()
            for _ in range(3):
                assert twofa.login(email, PASSWORD).status == "code_sent"
                sent = twofa.outbox(to=f"+1415555{n:04d}", limit=1)[0].code or ""
                results.append(twofa.verify(email, sent))
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)

    threads = [threading.Thread(target=customer, args=(n, e)) for n, e in enumerate(accounts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 48 and {r.status for r in results} == {"authenticated"}


def test_account_results_are_typed(shop):
    account = shop.account(ALICE.upper())
    assert isinstance(account, Account)
    assert (account.email, account.name, account.audience) == (ALICE, "Alice", "customer")
    admin = shop.add_account("root@example.com", PASSWORD, admin=True)
    assert admin.audience == "admin" and isinstance(admin.created_at, datetime)


def test_the_admin_side_results_are_typed_and_match_the_store(shop, home, tmp_path,
                                                              monkeypatch):
    enrolled(shop)
    details = shop.account_details(ALICE)
    assert (details.email, details.entries, details.lock_ends_at) == (ALICE, 1, None)
    assert [a.email for a in shop.accounts()] == [ALICE]
    newest = shop.audit(account=ALICE, limit=1)[0]
    assert isinstance(newest.created_at, datetime) and newest.created_at.utcoffset() == timedelta(0)
    usage = shop.provider_usage("SMS")
    assert [m.title for m in usage.secondary_auth] == ["Text message"]
    assert "9f9f" not in repr(usage.provider.options)  # the Auth Token masked
    assert shop.secondary_auth("Text message").entries == 1
    receipt = shop.test_provider("SMS", to="+14155550123")
    assert (receipt.mode, receipt.provider_id) == ("simulate", usage.provider.id)
    assert shop.update_provider("SMS", title="Texts").title == "Texts"
    assert TwoFactor.instructions("twilio").kind == "custom"
    assert TwoFactor.setting("delivery.mode", home).value == "simulate"
    assert TwoFactor.schema_status(home).up_to_date
    configuration = shop.configuration()
    assert (configuration.company_name, configuration.customer.active) == ("Acme Events", True)

    exported = tmp_path / "twofa.toml"
    shop.export_toml(exported)
    assert exported.stat().st_mode & 0o777 == 0o600
    assert 'auth_token = "env:TEXTS_AUTH_TOKEN"' in exported.read_text()
    monkeypatch.setenv("TEXTS_AUTH_TOKEN", "tok" + "9f" * 14 + "xy")
    assert shop.apply(exported, dry_run=True).changes == ()
    removed = shop.remove_provider("Texts", cascade=True)
    assert [(m.title, m.entries_removed) for m in removed.secondary_auth_removed] == [
        ("Text message", 1)]
    assert shop.delete_account(ALICE).entries_removed == 0


def test_cli_output_keeps_secret_fields_out(shop):
    from twofa_cli.cli.output import plain

    enrolled(shop)
    shop.login(ALICE, PASSWORD)
    done = shop.verify(ALICE, code(shop), trust_device=True)
    assert done.device_token
    shown = plain(done)
    assert "device_token" not in shown and done.device_token not in repr(shown)
    assert plain(shop.outbox(limit=1))[0]["created_at"].count("T") == 1  # ISO-8601
