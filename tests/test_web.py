"""The web pages over HTTP (Starlette's TestClient): CSRF, headers, cookies, errors, statuses."""

from __future__ import annotations

import re
import warnings

import pytest

pytest.importorskip("starlette")

from fakes import FakeTwilio, configure, http_server  # noqa: E402, F401 (fixture)
from store_dump import dump_store  # noqa: E402
with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from webapp import (  # noqa: E402, F401 (fixtures)
    ALICE,
    MASKED_PHONE,
    PASSWORD,
    PHONE,
    app,
    csrf_of,
    latest_code,
    shop,
    twofa,
    wrong,
)

POST_ROUTES = ["/login", "/login/code", "/login/resend", "/logout", "/account/two-factor",
               "/account/two-factor/verify", "/account/two-factor/resend",
               "/account/two-factor/entries/1/delete", "/login/recovery"]


@pytest.fixture
def browser(app, shop):
    # https: the cookies are Secure, and an http client would keep them to itself.
    with TestClient(app, base_url="https://shop.test", follow_redirects=False) as client:
        yield client


def post(client, path: str, **fields: str):
    token = csrf_of(client.get("/login").text)
    return client.post(path, data={"csrf_token": token, **fields})


def submit(client, path: str, **fields: str):
    """Post a form as a browser does: its redirect followed to the page that shows the result."""
    response = post(client, path, **fields)
    assert response.status_code == 303, (path, response.status_code)  # post/redirect/get
    return client.get(response.headers["location"])


def log_in(client, email: str = ALICE, password: str = PASSWORD):
    return post(client, "/login", email=email, password=password)


def enrol(client, twofa) -> None:
    post(client, "/account/two-factor", method="1", phone=PHONE)
    response = submit(client, "/account/two-factor/verify", code=latest_code(twofa))
    # The first entry's recovery codes are shown by the page it leads to, once.
    assert response.status_code == 200 and response.text.count("<li><code>") == 10


def test_a_post_without_the_sessions_csrf_token_is_refused(browser, twofa, home, database_url):
    log_in(browser)
    enrol(browser, twofa)
    before = dump_store(database_url)
    for path in POST_ROUTES:
        missing = browser.post(path, data={"email": ALICE, "password": PASSWORD, "code": "123456"})
        forged = browser.post(path, data={"csrf_token": "x" * 43, "email": ALICE, "code": "1"})
        as_json = browser.post(path, json={"csrf_token": csrf_of(browser.get("/login").text)})
        assert (missing.status_code, forged.status_code, as_json.status_code) == (403, 403, 403), path
        assert "did not come from this site" in missing.text
    # another browser's token is no good either: it belongs to another session
    with TestClient(browser.app, base_url="https://shop.test", follow_redirects=False) as other:
        foreign = csrf_of(other.get("/login").text)
    assert browser.post("/logout", data={"csrf_token": foreign}).status_code == 403
    assert dump_store(database_url) == before
    assert browser.get("/account").status_code == 200  # still signed in: the logout was refused


def test_pages_send_the_security_headers(browser, twofa):
    pages = [browser.get("/login"), log_in(browser), browser.get("/account"),
             browser.get("/account/two-factor"), browser.get("/nowhere"),
             browser.get("/static/style.css"), browser.post("/logout")]
    for response in pages:
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
    for response in pages[:5]:
        assert response.headers["cache-control"] == "no-store"
    for response in pages[:4]:  # no inline script: no <script> without src, no on…= handler
        assert not re.search(r"<script(?![^>]*\bsrc=)|\son[a-z]+=", response.text)


def test_code_pages_are_not_stored(browser, twofa):
    log_in(browser)
    enrol(browser, twofa)
    post(browser, "/logout")
    assert log_in(browser).headers["location"] == "/login/code"
    page = browser.get("/login/code")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Verification code" in page.text and MASKED_PHONE in page.text


def test_unknown_account_and_wrong_password_look_the_same(browser):
    unknown = submit(browser, "/login", email="ghost@example.com", password=PASSWORD)
    wrong_password = submit(browser, "/login", email=ALICE, password="not the password")
    assert unknown.status_code == wrong_password.status_code == 401

    def message(response) -> str:
        return re.search(r'role="alert">([^<]*)<', response.text).group(1)

    assert message(unknown) == message(wrong_password) == \
        "That email and password do not match. Check them and try again."
    assert browser.get("/account").status_code == 303  # neither signed anyone in


def test_the_trusted_cookie_is_httponly_secure_lax_and_lives_as_long_as_the_device(
        browser, twofa, database_url):
    log_in(browser)
    enrol(browser, twofa)
    post(browser, "/logout")
    log_in(browser)
    response = post(browser, "/login/code", code=latest_code(twofa), trust="yes")
    assert response.status_code == 303 and response.headers["location"] == "/account"
    [cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("twofa_trusted=")]
    attributes = [part.strip() for part in cookie.split(";")]
    token = attributes[0].removeprefix("twofa_trusted=")
    assert len(token) >= 43
    assert {a.lower() for a in attributes[1:]} == {
        "httponly", "max-age=2592000", "path=/", "samesite=lax", "secure"}
    assert token not in repr(dump_store(database_url))  # the store keeps only its hash
    session = [c for c in response.headers.get_list("set-cookie") if c.startswith("twofa_session=")]
    assert session and "httponly" in session[0].lower() and "secure" in session[0].lower()
    post(browser, "/logout")
    assert log_in(browser).headers["location"] == "/account"  # no code on this device


def test_errors_are_words_with_their_http_status(browser, twofa, clock):
    log_in(browser)
    bad_phone = submit(browser, "/account/two-factor", method="1", phone="555-0199")
    assert bad_phone.status_code == 400 and "Mobile phone number" in bad_phone.text
    assert "Enter a mobile phone number with its country code" in bad_phone.text
    unknown_method = submit(browser, "/account/two-factor", method="99", phone=PHONE)
    assert unknown_method.status_code == 404 and "Choose a method from the list." in \
        unknown_method.text
    assert post(browser, "/account/two-factor", method="1", phone=PHONE).status_code == 303
    code = latest_code(twofa)
    wrong_code = submit(browser, "/account/two-factor/verify", code=wrong(code))
    assert wrong_code.status_code == 401
    assert "That code is not right. You have 4 tries left." in wrong_code.text
    assert 'name="code"' in wrong_code.text  # the code form again
    not_a_code = submit(browser, "/account/two-factor/verify", code="12ab56")
    assert not_a_code.status_code == 400 and "Enter the 6-digit code." in not_a_code.text
    too_soon = submit(browser, "/account/two-factor/resend")
    assert too_soon.status_code == 429 and int(too_soon.headers["retry-after"]) > 0
    assert "You can ask for another in" in too_soon.text and "Send New Code" in too_soon.text
    assert "disabled" not in too_soon.text
    clock.advance(seconds=31)
    resent = post(browser, "/account/two-factor/resend")
    assert resent.status_code == 303
    assert "A new code was sent." in browser.get(resent.headers["location"]).text
    missing_entry = submit(browser, "/account/two-factor/entries/999/delete")
    assert missing_entry.status_code == 404
    for text in (bad_phone.text, wrong_code.text, too_soon.text, missing_entry.text):
        assert "Traceback" not in text and "File \"" not in text


def test_a_failed_delivery_is_a_502_in_words(browser, twofa, home, http_server):
    fake = FakeTwilio(http_server)
    twofa.add_provider("twilio", title="Live SMS", options={
        "account_sid": fake.sid, "auth_token": fake.token, "from_number": "+14155550100",
        "api_base_url": fake.base_url})
    method = twofa.add_secondary_auth(provider="Live SMS", title="Live text")
    configure(home, delivery={"mode": "live"})
    from twofa_cli import TwoFactor
    from twofa_cli.web import create_app

    fake.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    with TwoFactor.open(home) as live, TestClient(create_app(live), base_url="https://shop.test",
                                                   follow_redirects=False) as client:
        log_in(client)
        failed = submit(client, "/account/two-factor", method=str(method.id), phone=PHONE)
    assert failed.status_code == 502
    assert "Traceback" not in failed.text and fake.token not in failed.text
    assert re.search(r'role="alert">[^<]+<', failed.text)


def test_an_unexpected_failure_is_a_500_page_without_details(browser, twofa, monkeypatch):
    log_in(browser)

    def broken(*args, **kwargs):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(twofa, "account", broken)
    with TestClient(browser.app, base_url="https://shop.test", raise_server_exceptions=False,
                    cookies=browser.cookies) as client:
        response = client.get("/account")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "internal detail" not in response.text and "Traceback" not in response.text
    assert response.headers["x-frame-options"] == "DENY"


def test_pages_need_a_session_and_a_tampered_one_is_none(browser):
    assert browser.get("/account").headers["location"] == "/login"
    assert browser.get("/account/two-factor").headers["location"] == "/login"
    assert browser.get("/login/code").headers["location"] == "/login"
    log_in(browser)
    assert browser.get("/account").status_code == 200
    token = browser.cookies["twofa_session"]
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), "1", "x" * 5000, "",
                   token + "\x7f"):
        browser.cookies.set("twofa_session", forged, domain="shop.test")
        assert browser.get("/account").headers["location"] == "/login", forged[:20]


def test_a_huge_form_is_refused_before_any_route(browser):
    token = csrf_of(browser.get("/login").text)
    response = browser.post("/login", data={"csrf_token": token, "email": "a" * 100_000})
    assert response.status_code == 413


def test_the_email_method_asks_for_an_email_address(browser, twofa):
    twofa.add_provider("smtp", title="Mail", options={})
    method = twofa.add_secondary_auth(provider="Mail", title="Email")
    log_in(browser)
    page = browser.get(f"/account/two-factor?method={method.id}").text
    assert '<label for="destination">Email address</label>' in page and 'name="email"' in page
    assert post(browser, "/account/two-factor", method=str(method.id),
                email="alice@example.com").status_code == 303
    assert twofa.outbox(limit=1)[0].to == "alice@example.com"


def test_text_from_the_form_is_escaped_in_the_page(browser):
    log_in(browser)
    hostile = '"><script>alert(1)</script>'
    response = submit(browser, "/account/two-factor", method=hostile, phone=PHONE)
    assert response.status_code == 404
    assert "<script>alert(1)" not in response.text
    post(browser, "/logout")
    echoed = submit(browser, "/login", email=hostile, password=PASSWORD)
    assert echoed.status_code == 401 and "<script>alert(1)" not in echoed.text
    assert "&lt;script&gt;alert(1)" in echoed.text  # the email typed comes back, escaped


def test_the_pages_offer_the_authenticator_app_and_recovery_codes(browser, twofa, shop, clock):
    import pyotp

    shop("secondary-auth", "add", "--kind", "totp", "--title", "Authenticator app")
    log_in(browser)
    form = browser.get("/account/two-factor?method=2").text
    assert ">Authenticator app</option>" in form and 'data-medium="app"' in form
    issued = submit(browser, "/account/two-factor", method="2")
    assert issued.status_code == 200, issued.text
    page = issued.text
    assert "<svg" in page and "otpauth://totp/" in page
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", page).group(1)
    assert "Verification code" in page and "Send New Code" not in page
    assert secret not in str(browser.cookies.get("twofa_session"))  # not in the session cookie
    done = submit(browser, "/account/two-factor/verify", code=pyotp.TOTP(secret).at(clock.now))
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
    assert len(codes) == 10
    assert twofa.entries(ALICE)[0].method == "Authenticator app"

    post(browser, "/logout")
    clock.advance(seconds=31)
    assert log_in(browser).headers["location"] == "/login/code"
    code_page = browser.get("/login/code").text
    assert "authenticator app" in code_page.lower() and "Recovery code" in code_page
    wrong_one = submit(browser, "/login/recovery", recovery_code="aaaaa-aaaaa")
    assert wrong_one.status_code == 401
    assert "That recovery code is not right. You have 4 tries left." in wrong_one.text
    used = post(browser, "/login/recovery", recovery_code=codes[0])
    assert used.status_code == 303 and used.headers["location"] == "/account?recovery_left=9"
    assert "9 left" in browser.get(used.headers["location"]).text
    assert twofa.recovery_codes_remaining(ALICE) == 9

    post(browser, "/logout")
    clock.advance(seconds=31)
    log_in(browser)
    accepted = post(browser, "/login/code", code=pyotp.TOTP(secret).at(clock.now))
    assert accepted.status_code == 303 and accepted.headers["location"] == "/account"


def test_the_customer_pages_carry_the_company_name_as_their_brand(browser):
    page = browser.get("/login").text
    assert '<a class="brand" href="/">Acme Events</a>' in page
    assert "<title>Log in · Acme Events</title>" in page


def test_a_form_address_opened_by_get_leads_to_its_page_not_405(browser, twofa):
    for path, page in (("/login/resend", "/login/code"), ("/logout", "/account"),
                       ("/account/two-factor/verify", "/account/two-factor"),
                       ("/account/two-factor/resend", "/account/two-factor"),
                       ("/account/passkeys", "/account/two-factor"),
                       ("/login/passkey", "/login/code"), ("/login/passwordless", "/login")):
        response = browser.get(path)
        assert (response.status_code, response.headers["location"]) == (303, page), path
    assert browser.post("/logout").status_code == 403  # a form without its token still is not


def test_every_form_answers_303_to_a_page_that_shows_its_result_once(browser, twofa, shop, clock,
                                                                   database_url):
    """Post/redirect/get: a reload of the page a form led to shows it again, posts nothing,
    and what it showed once (an error, new codes, a secret) is neither in a URL nor shown
    again; the flash cookie that carried it holds no secret in the clear."""
    import pyotp

    shop("secondary-auth", "add", "--kind", "totp", "--title", "Authenticator app")

    def result(path: str, shows: str, once: bool = True, **fields: str):
        response = post(browser, path, **fields)
        assert response.status_code == 303, path
        location = response.headers["location"]
        sealed = browser.cookies.get("twofa_flash") or ""
        page = browser.get(location)
        assert page.status_code not in (405, 500) and shows in page.text, (path, location)
        before = dump_store(database_url)
        reload = browser.get(location)
        assert reload.status_code == 200 and (shows in reload.text) != once, (path, location)
        assert dump_store(database_url) == before, path  # a reload changed nothing
        return location, sealed, page

    result("/login", "That email and password do not match.", email=ALICE, password="x")
    assert log_in(browser).headers["location"] == "/account"
    result("/account/two-factor", "Enter a mobile phone number", method="1", phone="12")
    post(browser, "/account/two-factor", method="1", phone=PHONE)
    code = latest_code(twofa)
    result("/account/two-factor/verify", "You have 4 tries left.", code=wrong(code))
    location, sealed, page = result("/account/two-factor/verify", "Your recovery codes",
                                    code=code)
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", page.text)
    assert len(codes) == 10 and location == "/account/two-factor?done=enrolled"
    assert not any(c in sealed or c.replace("-", "") in sealed for c in codes)
    location, sealed, page = result("/account/two-factor/recovery-codes", "Your recovery codes")
    assert location == "/account/two-factor/recovery-codes"
    clock.advance(seconds=31)
    location, sealed, page = result("/account/two-factor", "otpauth://totp/", method="2")
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", page.text).group(1)
    assert secret not in location and secret not in sealed
    # a fixed notice named in the URL (?done=) stays on a reload: it is no secret
    result("/account/two-factor/verify", "Two-factor authentication is on", once=False,
           code=pyotp.TOTP(secret).at(clock.now))
    result("/account/devices", "Your trusted devices were forgotten", once=False)
    post(browser, "/logout")
    clock.advance(seconds=31)
    log_in(browser)
    result("/login/code", "That code is not right.", code="000000")
    result("/login/recovery", "That recovery code is not right.", recovery_code="aaaaa-aaaaa")
    result("/login/resend", "A code was sent a moment ago.")


def test_the_two_factor_page_renders_the_chosen_methods_own_form_without_script(
        browser, twofa, shop):
    twofa.add_provider("smtp", title="Mail", options={})
    twofa.add_secondary_auth(provider="Mail", title="Email")
    shop("secondary-auth", "add", "--kind", "totp", "--title", "Authenticator app")
    shop("secondary-auth", "add", "--kind", "passkey", "--title", "Passkey")
    ids = {m.title: m.id for m in twofa.secondary_auths()}
    log_in(browser)
    labels = ("Mobile phone number", "Email address", "Passkey name")
    buttons = ("Send Code", "Set up app", "Add passkey")
    for title, label, button in (("Text message", labels[0], buttons[0]),
                                 ("Email", labels[1], buttons[0]),
                                 ("Authenticator app", None, buttons[1]),
                                 ("Passkey", labels[2], buttons[2])):
        page = browser.get(f"/account/two-factor?method={ids[title]}").text
        found = [text for text in labels if f">{text}</label>" in page]
        assert found == ([label] if label else []), title
        assert [b for b in buttons if f">{b}</button>" in page] == [button], title
        # without script: a Continue button opens the page for another method (a GET form)
        assert re.search(r'<form method="get" action="/account/two-factor"[^>]*>\s*'
                         r'<label for="method">Service Provider</label>', page)
        assert ">Continue</button>" in page
        assert re.search(rf'<option value="{ids[title]}"[^>]*\sselected>', page), title


def test_a_copied_flash_cookie_shows_nothing_in_another_browser(app, browser, twofa):
    """The flash cookie is sealed under its own browser's session: copied to another browser
    (another session of the same account, or nobody's), or forged, it shows nothing and
    breaks nothing."""
    log_in(browser)
    post(browser, "/account/two-factor", method="1", phone=PHONE)
    done = post(browser, "/account/two-factor/verify", code=latest_code(twofa))
    assert done.headers["location"] == "/account/two-factor?done=enrolled"
    sealed = browser.cookies.get("twofa_flash")
    assert sealed  # the recovery codes ride in it to the next page, not yet shown

    with TestClient(app, base_url="https://shop.test", follow_redirects=False) as other:
        other.get("/login")
        other.cookies.set("twofa_flash", sealed, domain="shop.test")
        assert other.get("/login").status_code == 200
        assert "<li><code>" not in other.get("/login").text
        assert log_in(other).headers["location"].startswith("/login/code")
        signed_in = post(other, "/login/code", code=latest_code(twofa))
        assert signed_in.headers["location"] == "/account"  # her second session
        other.cookies.set("twofa_flash", sealed, domain="shop.test")
        page = other.get("/account/two-factor?done=enrolled")
        assert page.status_code == 200 and "Two-Factor Authentication" in page.text
        assert "Your recovery codes" not in page.text and "<li><code>" not in page.text
        other.cookies.set("twofa_flash", "gAAAAA" + "x" * 80, domain="shop.test")
        assert other.get("/account/two-factor").status_code in (200, 303)

    # the browser it was meant for still shows them, once
    assert browser.get(done.headers["location"]).text.count("<li><code>") == 10
