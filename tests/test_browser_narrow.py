"""Every customer and admin page at a phone's 390 x 844 in Chromium: none scrolls sideways,
and none says anything in the CLI's words (an option, a raw field name, a lowercase start).

The pages are reached as a customer and an administrator reach them (forms posted in the
browser), each state of the two-factor page and the refusals of the forms included; a
screenshot of each lands in the test's tmp folder. Without Chromium the test is skipped,
unless TWOFA_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import pytest
from test_browser import Shots, chromium, log_in, submit  # noqa: F401 (fixture)
from webapp import CLI_STYLE, PASSWORD, PHONE, app, latest_code, live_server, shop, twofa  # noqa: F401

ADMIN = "operations.administrator.of.the.shop@konstantinopoulou-events.example.com"
ADMIN_PASSWORD = "admin password 1"
# Long words and addresses: what a shop may really have, and what overflows first.
COMPANY = "Veranstaltungstechnikgesellschaft Konstantinopoulou"
# What a page says to the person at it: its alerts, notices and the errors by its fields.
SAID = """[...document.querySelectorAll('[role=alert], [role=status], .notice, .error')]
    .map(e => e.innerText.trim().replace(/\\s+/g, ' ')).filter(t => t)"""
LONG_EMAIL = "alexandra.konstantinopoulou.vanderberg.services@customerservicesexample.com"


@pytest.fixture
def phone(chromium):
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    yield context
    context.close()


def test_no_page_scrolls_sideways_or_speaks_cli_at_390_px(phone, live_server, shop, twofa, tmp_path):
    shop("config", "set", "company-name", COMPANY)
    shop("account", "add", LONG_EMAIL, "--password-stdin", input=PASSWORD + "\n")
    shop("secondary-auth", "add", "--kind", "totp", "--title", "Authenticator app")
    shop("secondary-auth", "add", "--kind", "passkey", "--title", "Passkey")
    twofa.add_provider("smtp", title="Mail relay of the shop", options={})
    twofa.add_secondary_auth(provider="Mail relay of the shop", title="Email")
    shop("account", "add", ADMIN, "--admin", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    ids = {m.title: m.id for m in twofa.secondary_auths()}
    url = live_server.url
    shots = Shots(tmp_path / "screenshots")
    page = phone.new_page()
    wide: list[tuple[str, int, int, list[str]]] = []
    said: list[tuple[str, str]] = []  # (page, a message) of every page seen

    def seen(name: str) -> None:
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, "
                                       "document.documentElement.clientWidth]")
        if scroll > client:
            culprits = page.evaluate("""[...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
                .map(e => e.tagName + '.' + e.className).slice(0, 5)""")
            wide.append((name, scroll, client, culprits))
        said.extend((name, text) for text in page.evaluate(SAID))
        shots(page, name)

    def visit(path: str, name: str) -> None:
        page.goto(url + path)
        seen(name)

    # the customer: login (and its refusal), her first factor, each state of the page
    visit("/login", "login")
    page.get_by_label("Email").fill(LONG_EMAIL)
    page.get_by_label("Password").fill("not the password")
    submit(page, "Log in")
    seen("login-refused")
    log_in(page, url, LONG_EMAIL)
    seen("account")
    for title in ids:
        visit(f"/account/two-factor?method={ids[title]}", f"two-factor-{title}")
    visit(f"/account/two-factor?method={ids['Text message']}", "two-factor")
    page.get_by_label("Mobile phone number").fill(PHONE)
    submit(page, "Send Code")
    seen("two-factor-code")
    page.get_by_label("Verification code").fill("000000")
    submit(page, "Verify")
    seen("two-factor-code-refused")
    page.get_by_label("Verification code").fill(latest_code(twofa))
    page.get_by_label("Trust this device").check()
    submit(page, "Verify")
    seen("two-factor-recovery-codes")
    twofa.enroll(LONG_EMAIL, method="Email", email=LONG_EMAIL)  # a long address in the table
    twofa.verify(LONG_EMAIL, latest_code(twofa))
    visit(f"/account/two-factor?method={ids['Authenticator app']}", "two-factor-entries")
    submit(page, "Set up app")
    seen("two-factor-app-qr")
    visit("/account/two-factor/recovery-codes", "recovery-codes")
    submit(page, "Make new codes")
    seen("recovery-codes-new")
    visit("/account/devices", "devices")
    visit("/account/confirm?next=/account/devices", "confirm")
    visit(f"/account/two-factor/entries/{twofa.entries(LONG_EMAIL)[-1].id}/delete", "delete-entry")
    visit("/nowhere", "error")
    submit(page, "Log out") if page.get_by_role("button", name="Log out").count() else None
    page.context.clear_cookies()
    log_in(page, url, LONG_EMAIL)
    seen("login-code")

    # the administrator: the sign-in (and its refusal), every page of the Settings
    visit("/admin/login", "admin-login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("not the password")
    submit(page, "Log in")
    seen("admin-login-refused")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    submit(page, "Log in")
    provider = twofa.providers()[0].id
    for path in ("/admin", "/admin/configuration", "/admin/services-manager", "/admin/services",
                 "/admin/services/new", "/admin/services/new/configio",
                 "/admin/services/new/custom", "/admin/services/new/custom?channel=twilio",
                 f"/admin/services/{provider}", f"/admin/services/{provider}/delete",
                 "/admin/secondary-auth", "/admin/secondary-auth/new",
                 f"/admin/secondary-auth/{ids['Email']}/delete", "/admin/two-factor",
                 "/admin/audit"):
        visit(path, "admin" + path.replace("/", "-").replace("?", "-"))

    # the administrator's forms refused: each names what to fix in a person's words
    def refused(path: str, name: str, button: str = "Save", **typed: str) -> None:
        visit(path, name)
        for label, value in typed.items():
            page.get_by_label(label.replace("_", " "), exact=True).fill(value)
        submit(page, button)
        seen(name + "-refused")

    twilio = {"Title": "Twilio of the shop", "Account_SID": "AC" + "7e" * 16,
              "Auth_Token": "tok" + "5c" * 15, "From_Number": "+14155550100"}
    refused("/admin/services/new/custom?channel=twilio", "admin-custom-account-sid",
            **{**twilio, "Account_SID": "AC12"})
    refused("/admin/services/new/custom?channel=twilio", "admin-custom-from-number",
            **{**twilio, "From_Number": "555"})
    refused("/admin/services/new/configio", "admin-configio-title-taken",
            Title="Mail relay of the shop")
    refused("/admin/secondary-auth/new", "admin-secondary-auth-title-taken", Title="Email")
    refused(f"/admin/services/{provider}", "admin-provider-send-test", button="Send",
            Send_to="alice@example.com")
    page.get_by_label("Send to", exact=True).fill(PHONE)
    submit(page, "Send")
    seen("admin-provider-send-test-sent")
    refused("/admin/configuration", "admin-configuration-empty", Company_Name="   ")
    assert shots.count >= 40
    assert wide == [], wide
    assert len(said) >= 10 and [(name, text) for name, text in said
                                if CLI_STYLE.search(text)] == [], said
