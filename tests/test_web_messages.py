"""What a customer reads when something is refused: web/messages.py's words, on every error
path the pages reach, never the library's (CLI) message. Both stores, over HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from fakes import configure  # noqa: E402
from test_web import browser, enrol, log_in, post, submit  # noqa: E402, F401 (fixtures)
from webapp import ALICE, CLI_STYLE, PASSWORD, PHONE, app, latest_code, shop, twofa, wrong  # noqa: E402, F401

import twofa_cli  # noqa: E402
from twofa_cli.web.messages import ADMIN_WORDS, WORDS  # noqa: E402

def shown(response) -> list[str]:
    """The alerts and notices of a page, as the customer reads them."""
    return [" ".join(text.split()) for text in
            re.findall(r'role="(?:alert|status)"[^>]*>([^<]+)<', response.text)]


def alert(response) -> str:
    [text] = re.findall(r'role="alert">([^<]+)<', response.text)
    assert not CLI_STYLE.search(text), text
    return text


def test_every_reason_the_library_gives_has_words_for_a_person():
    reasons = set()
    for path in Path(twofa_cli.__file__).parent.rglob("*.py"):
        reasons.update(re.findall(r'reason="(\w+)"', path.read_text(encoding="utf-8")))
    worded = {key for _, key in [*WORDS, *ADMIN_WORDS]}
    assert reasons and reasons <= worded, reasons - worded
    for text in [*WORDS.values(), *ADMIN_WORDS.values()]:
        assert not CLI_STYLE.search(text) and text.endswith("."), text


def test_the_password_and_the_code_steps_refuse_in_the_customers_words(browser, twofa, clock):
    wrong_password = submit(browser, "/login", email=ALICE, password="not it")
    assert (wrong_password.status_code, alert(wrong_password)) == (
        401, "That email and password do not match. Check them and try again.")
    log_in(browser)
    enrol(browser, twofa)
    post(browser, "/logout")
    clock.advance(seconds=31)
    log_in(browser)
    code = latest_code(twofa)
    cases = [
        ("/login/code", {"code": "12ab56"}, 400, "Enter the 6-digit code."),
        ("/login/code", {"code": wrong(code)}, 401,
         "That code is not right. You have 4 tries left."),
        ("/login/recovery", {"recovery_code": "aaaaa-aaaaa"}, 401,
         "That recovery code is not right. You have 3 tries left."),
        ("/login/recovery", {"recovery_code": "é"}, 400,
         "A recovery code has 10 letters and digits. Check it and try again."),
        ("/login/resend", {}, 429,
         "A code was sent a moment ago. You can ask for another in 31 seconds."),
        ("/login/code", {"code": wrong(code)}, 401,
         "That code is not right. You have 2 tries left."),
        ("/login/code", {"code": wrong(code)}, 401, "That code is not right. You have 1 try left."),
        ("/login/code", {"code": wrong(code)}, 429,
         "That code is not right, and that was the last try. Start again to get a new code."),
        ("/login/code", {"code": code}, 429, "Too many wrong tries. Start again to get a new code."),
    ]
    for path, fields, status, words in cases:
        page = submit(browser, path, **fields)
        assert (page.status_code, alert(page)) == (status, words), path
        assert 'name="recovery_code"' in page.text  # back on the code page

    # five more wrong codes on a new login: ten in a row lock the codes for a while
    clock.advance(seconds=31)
    log_in(browser)
    for _ in range(4):
        submit(browser, "/login/code", code=wrong(latest_code(twofa)))
    locked = submit(browser, "/login/code", code=wrong(latest_code(twofa)))
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert re.fullmatch(r"Too many wrong codes: for your safety, codes are not checked for a "
                        r"while\. Try again in \d+ minutes\.", alert(locked))


def test_an_expired_code_and_too_many_sends(browser, twofa, clock):
    log_in(browser)
    post(browser, "/account/two-factor", method="1", phone=PHONE)
    for _ in range(4):
        clock.advance(seconds=31)
        assert post(browser, "/account/two-factor/resend").status_code == 303
    clock.advance(seconds=31)
    too_many = submit(browser, "/account/two-factor/resend")
    assert alert(too_many) == \
        "This code was sent as often as it can be. Start again to get a new one."
    clock.advance(minutes=11)
    expired = submit(browser, "/account/two-factor/verify", code=latest_code(twofa))
    assert (expired.status_code, alert(expired)) == (401, "That code has expired. Ask for a new code.")


def test_choosing_a_method_refuses_in_the_customers_words(browser, twofa, shop, home):
    twofa.add_provider("smtp", title="Mail", options={})
    mail = twofa.add_secondary_auth(provider="Mail", title="Email")
    shop("secondary-auth", "add", "--kind", "totp", "--title", "Authenticator app")
    app_id = next(m.id for m in twofa.secondary_auths() if m.kind == "totp")
    log_in(browser)
    cases = [
        ({"method": "1", "phone": "555-0199"}, 400,
         "Enter a mobile phone number with its country code, like +1 415 555 0123."),
        ({"method": "1", "phone": "alice@example.com"}, 400,
         "Enter a mobile phone number with its country code, like +1 415 555 0123."),
        ({"method": "1"}, 400, "Enter where we should send the code."),
        ({"method": "99", "phone": PHONE}, 404, "Choose a method from the list."),
        ({"method": str(mail.id), "email": "not an address"}, 400,
         "Enter a valid email address, like name@example.com."),
        ({"method": str(app_id), "phone": PHONE}, 400,
         "An authenticator app needs no phone number or email address."),
        ({"method": "1", "phone": "+44 20 7946 0958"}, 400,
         "We cannot send text messages to that country. Use another number or another method."),
    ]
    configure(home, sms={"allowed_countries": ["US", "CA"]})
    with twofa_cli.TwoFactor.open(home, clock=twofa._rt.clock) as fresh:  # reads the config
        browser.app.state.twofa = fresh
        for fields, status, words in cases:
            page = submit(browser, "/account/two-factor", **fields)
            assert (page.status_code, alert(page)) == (status, words), fields
        browser.app.state.twofa = twofa
    no_code = submit(browser, "/account/two-factor/verify", code="123456")
    assert alert(no_code) == "There is no code waiting to be checked. Start again."
    assert alert(submit(browser, "/account/two-factor/resend")) == \
        "There is no code waiting to be checked. Start again."
    assert alert(submit(browser, "/account/two-factor/recovery-codes")) == \
        "Recovery codes come with your first two-factor method. Add one first."
    submit(browser, "/account/two-factor", method=str(app_id))
    assert alert(submit(browser, "/account/two-factor/resend")) == \
        "Nothing is sent for an authenticator app: enter the code the app shows."


def test_an_address_enrolled_already_a_missing_entry_and_two_factor_off(browser, twofa, shop,
                                                                       clock):
    log_in(browser)
    enrol(browser, twofa)
    clock.advance(seconds=31)
    again = submit(browser, "/account/two-factor", method="1", phone=PHONE)
    assert (again.status_code, alert(again)) == (
        409, "You already use this method with that phone number or email address.")
    gone = submit(browser, "/account/two-factor/entries/999/delete")
    assert (gone.status_code, alert(gone)) == (404, "That method is not on your account any more.")
    shop("customer", "disable")
    off = submit(browser, "/account/two-factor", method="1", phone="+1 415 555 0100")
    assert alert(off) == "Two-factor authentication is not offered at the moment."


def test_the_password_page_and_passkeys_refuse_in_the_customers_words(browser, twofa, clock):
    log_in(browser)
    enrol(browser, twofa)
    clock.advance(minutes=11)
    confirm = "/account/confirm?next=/account/devices"
    wrong_password = submit(browser, confirm, password="not it")
    assert (wrong_password.status_code, alert(wrong_password)) == (
        401, "That password is not right. Try again.")
    options = post(browser, "/account/passkeys/options", name="Laptop")
    assert options.json() == {"error": "Passkeys are not offered at the moment."}
    garbage = submit(browser, "/account/passkeys", response="not json")
    assert alert(garbage) == "The passkey was not accepted. Try again."
    post(browser, "/logout")
    off = post(browser, "/login/passwordless/options")
    assert off.json() == {"error": "Signing in with a passkey alone is not offered. "
                                   "Log in with your email and password."}
    refused = submit(browser, "/login/passwordless", response="{}")
    assert alert(refused) == "The passkey was not accepted. Try again."


def test_no_page_shows_a_message_in_the_clis_style(browser, twofa, clock):
    """Every alert and notice of a walk through the pages, refusals included."""
    pages = [browser.get("/login"), submit(browser, "/login", email=ALICE, password="x"),
             submit(browser, "/login", email="", password="")]
    log_in(browser)
    pages += [browser.get("/account"), browser.get("/account/two-factor"),
              submit(browser, "/account/two-factor", method="1", phone="12"),
              submit(browser, "/account/two-factor", method="1", phone=PHONE),
              submit(browser, "/account/two-factor/verify", code="1"),
              submit(browser, "/account/two-factor/resend")]
    clock.advance(seconds=31)
    pages += [submit(browser, "/account/two-factor/resend"),
              submit(browser, "/account/two-factor/verify", code=latest_code(twofa)),
              browser.get("/account/two-factor/recovery-codes"), browser.get("/account/devices"),
              submit(browser, "/account/devices"), browser.get("/nowhere")]
    texts = [text for page in pages for text in shown(page)]
    assert len(texts) >= 8
    for text in texts:
        assert not CLI_STYLE.search(text), text
