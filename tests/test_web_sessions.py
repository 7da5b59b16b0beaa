"""Sign-in on the web pages (SECURITY.md rules 29-31): the session cookie is a token in the
store, so a copied cookie dies with logout, a password change or a revocation; each step
of a login hands out a new one; sensitive changes ask for the password and confirm.
Both stores, over HTTP (Starlette's TestClient).
"""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("starlette")

from fakes import FakeTwilio, configure, http_server  # noqa: E402, F401 (fixture)
from store_dump import dump_store  # noqa: E402
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from test_web import browser, enrol, log_in, post, submit  # noqa: E402, F401 (fixtures)
from webapp import ALICE, PASSWORD, app, csrf_of, latest_code, shop, twofa  # noqa: E402, F401


def signed_in_with_an_entry(browser, twofa) -> None:
    log_in(browser)
    enrol(browser, twofa)
    post(browser, "/logout")
    log_in(browser)
    done = post(browser, "/login/code", code=latest_code(twofa))
    assert done.headers["location"] == "/account"


def copy_of(browser, app):
    """Another client holding the same session cookie (the attacker's copy)."""
    thief = TestClient(app, base_url="https://shop.test", follow_redirects=False)
    thief.cookies.set("twofa_session", browser.cookies["twofa_session"], domain="shop.test")
    return thief


def delete_with(client, entry_id: int):
    page = client.get(f"/account/two-factor/entries/{entry_id}/delete")
    token = csrf_of(client.get("/account/two-factor").text) if page.status_code == 200 else "x"
    return client.post(f"/account/two-factor/entries/{entry_id}/delete",
                       data={"csrf_token": token})


def test_a_copied_cookie_is_refused_after_logout(browser, app, twofa, database_url):
    signed_in_with_an_entry(browser, twofa)
    with copy_of(browser, app) as thief:
        assert thief.get("/account").status_code == 200  # the copy works while signed in
        post(browser, "/logout")
        assert thief.get("/account").headers["location"] == "/login"
        before = dump_store(database_url)
        assert delete_with(thief, twofa.entries(ALICE)[0].id).status_code in (303, 403)
        assert dump_store(database_url) == before
    assert twofa.entries(ALICE)


@pytest.mark.parametrize("how", ["set_password", "revoke_sessions"])
def test_a_copied_cookie_is_refused_after_a_password_change_or_revocation(
        browser, app, twofa, how):
    signed_in_with_an_entry(browser, twofa)
    with copy_of(browser, app) as thief:
        if how == "set_password":
            twofa.set_password(ALICE, "a brand new password")
        else:
            twofa.revoke_sessions(ALICE)
        assert thief.get("/account").headers["location"] == "/login"
        assert browser.get("/account").headers["location"] == "/login"


def test_a_pending_login_dies_with_a_password_change(browser, app, twofa):
    log_in(browser)
    enrol(browser, twofa)
    post(browser, "/logout")
    assert log_in(browser).headers["location"] == "/login/code"
    code = latest_code(twofa)
    twofa.set_password(ALICE, "a brand new password")
    late = post(browser, "/login/code", code=code)
    assert late.headers.get("location") != "/account"
    assert browser.get("/account").headers["location"] == "/login"


def test_the_session_cookie_is_httponly_secure_lax_and_changes_at_each_step(browser, twofa):
    log_in(browser)
    enrol(browser, twofa)
    post(browser, "/logout")
    assert "twofa_session" not in browser.cookies  # logout clears it

    before = browser.cookies.get("twofa_session")
    password_step = log_in(browser)
    set_cookie = password_step.headers["set-cookie"]
    assert set_cookie.startswith("twofa_session=")
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert attribute.lower() in set_cookie.lower(), attribute
    pending = browser.cookies["twofa_session"]
    assert pending != before and len(pending) >= 43  # >= 256 bits, URL-safe

    code_step = post(browser, "/login/code", code=latest_code(twofa))
    assert code_step.headers["location"] == "/account"
    signed = browser.cookies["twofa_session"]
    assert signed != pending
    assert twofa.session(signed).state == "signed_in"
    with pytest.raises(Exception):
        twofa.session(pending)


def test_a_restart_logs_nobody_out(browser, home, twofa, clock):
    """A new app on the same store (another process, another host) knows the session."""
    from twofa_cli import TwoFactor
    from twofa_cli.web import create_app

    log_in(browser)
    with TwoFactor.open(home, clock=clock) as other, TestClient(create_app(other), base_url="https://shop.test",
                                                   follow_redirects=False) as restarted:
        restarted.cookies.set("twofa_session", browser.cookies["twofa_session"],
                              domain="shop.test")
        assert restarted.get("/account").status_code == 200


def test_the_login_form_takes_an_email_only(browser, twofa):
    account_id = twofa.account(ALICE).id
    by_id = submit(browser, "/login", email=str(account_id), password=PASSWORD)
    unknown = submit(browser, "/login", email="ghost@example.com", password=PASSWORD)
    assert by_id.status_code == unknown.status_code == 401
    assert "That email and password do not match." in by_id.text
    assert browser.get("/account").headers["location"] == "/login"


def test_static_files_set_no_cookie_and_may_be_cached(app):
    with TestClient(app, base_url="https://shop.test") as fresh:
        response = fresh.get("/static/style.css")
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
        assert "max-age" in response.headers["cache-control"]
        assert "set-cookie" in fresh.get("/login").headers  # a page sets its CSRF cookie


def test_deleting_an_entry_asks_for_the_password_then_confirms(browser, twofa, clock):
    signed_in_with_an_entry(browser, twofa)
    entry = twofa.entries(ALICE)[0]
    address = f"/account/two-factor/entries/{entry.id}/delete"
    clock.advance(minutes=11)  # the login's password is older than [session] reauth_minutes

    asked = browser.get(address)
    assert asked.status_code == 303 and asked.headers["location"].startswith("/account/confirm")
    direct = post(browser, address)  # a POST straight away is sent to the password page too
    assert direct.headers["location"].startswith("/account/confirm")
    assert twofa.entries(ALICE)

    confirm_page = browser.get(asked.headers["location"])
    assert 'name="password"' in confirm_page.text and ">Confirm<" in confirm_page.text
    token = csrf_of(confirm_page.text)
    wrong = browser.post(asked.headers["location"], data={"csrf_token": token,
                                                          "password": "not it"})
    assert wrong.headers["location"] == asked.headers["location"]  # the same page, by GET
    wrong = browser.get(wrong.headers["location"])
    assert wrong.status_code == 401 and "That password is not right." in wrong.text
    right = browser.post(asked.headers["location"], data={"csrf_token": token,
                                                          "password": PASSWORD})
    assert right.headers["location"] == address

    confirmation = browser.get(address)
    assert confirmation.status_code == 200
    assert "two-factor authentication is off" in " ".join(confirmation.text.split())
    assert ">Delete<" in confirmation.text and ">Cancel<" in confirmation.text
    deleted = post(browser, address)
    assert deleted.headers["location"] == "/account/two-factor?done=deleted"
    assert twofa.entries(ALICE) == []


def test_the_password_page_sends_back_to_this_site_only(browser, twofa):
    signed_in_with_an_entry(browser, twofa)
    for next_ in ("https://evil.example/", "//evil.example", "/account/../logout",
                  "/account/two-factor/entries/1/delete\r\nX: y"):
        page = browser.get("/account/confirm", params={"next": next_})
        token = csrf_of(page.text)
        done = browser.post("/account/confirm", params={"next": next_},
                            data={"csrf_token": token, "password": PASSWORD})
        assert done.headers["location"] == "/account", next_


def test_new_recovery_codes_and_revoking_devices_ask_for_the_password(browser, twofa, clock):
    signed_in_with_an_entry(browser, twofa)
    clock.advance(minutes=11)
    for address in ("/account/two-factor/recovery-codes", "/account/devices"):
        assert browser.get(address).headers["location"].startswith("/account/confirm"), address
        assert post(browser, address).headers["location"].startswith("/account/confirm")
    confirm = "/account/confirm?next=/account/two-factor/recovery-codes"
    post(browser, confirm, password=PASSWORD)
    made = submit(browser, "/account/two-factor/recovery-codes")
    assert made.status_code == 200 and made.text.count("<li><code>") == 10
    assert post(browser, "/account/devices").headers["location"] == "/account/devices?done=revoked"


def test_the_sixth_wrong_password_is_answered_429_and_the_owner_still_signs_in(app, shop, twofa):
    with TestClient(app, base_url="https://shop.test", follow_redirects=False) as attacker:
        statuses = [submit(attacker, "/login", email=ALICE, password=f"guess number {n}")
                    .status_code for n in range(6)]
        assert statuses == [401] * 5 + [429]
        # even the right one waits, no hash
        refused = submit(attacker, "/login", email=ALICE, password=PASSWORD)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    # TestClient's peer is always "testclient": the owner's browser is another client
    from twofa_cli.api import Throttled

    with pytest.raises(Throttled):
        twofa.login(ALICE, PASSWORD, client="testclient")
    assert twofa.login(ALICE, PASSWORD, client="203.0.113.9").authenticated


def test_a_second_browser_reaches_the_code_page_of_the_first(browser, app, twofa):
    log_in(browser)
    enrol(browser, twofa)
    post(browser, "/logout")
    assert log_in(browser).headers["location"] == "/login/code"
    code = latest_code(twofa)
    with TestClient(app, base_url="https://shop.test", follow_redirects=False) as phone:
        second = log_in(phone)  # seconds later: no new code may be sent yet
        assert second.headers["location"] == "/login/code?reused=1"
        page = phone.get(second.headers["location"]).text
        assert "That code still works" in page
        done = post(phone, "/login/code", code=code)
        assert done.headers["location"] == "/account"
