"""The seed's administrator story in Chromium: from an empty shop to a customer enrolling
with the method the admin pages made, the CLI seeing the same state after each step; an
axe-core check (no serious or critical violation) of every admin and customer page; all
at a phone's 390 px. Screenshots land in the test's tmp folder (and in
$TWOFA_SCREENSHOTS, e.g. docs/images, when set)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_browser import CHROMIUM, SCREENSHOTS_TO, Shots, chromium, log_in, submit  # noqa: F401
from webapp import ALICE, MASKED_PHONE, PASSWORD, PHONE, app, latest_code, live_server, twofa  # noqa: F401

ADMIN = "boss@example.com"
ADMIN_PASSWORD = "admin password 1"
AUTH_TOKEN = "tok" + "5c" * 14 + "zq"
NEW_TOKEN = "tok" + "a3" * 14 + "nw"  # the provider page's update


@pytest.fixture
def axe():
    pytest.importorskip("axe_playwright_python")
    from axe_playwright_python.sync_playwright import Axe

    checker = Axe()
    checked: list[str] = []

    def check(page) -> None:
        results = checker.run(page)
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]])
               for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == [], (page.url, bad)
        checked.append(page.url)

    check.checked = checked  # type: ignore[attr-defined]
    return check


def test_the_administrator_story_in_chromium(chromium, live_server, twofa, cli, axe, tmp_path):
    def ok(*args: str, input: str | None = None):
        run = cli(*args, "--json", input=input)
        assert run.exit_code == 0, (args, run.stdout, run.stderr)
        return run.json

    ok("account", "add", ADMIN, "--admin", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    url = live_server.url
    shots = Shots(tmp_path / "screenshots")
    phone = chromium.new_context(viewport={"width": 390, "height": 844})
    page = phone.new_page()

    def seen(name: str) -> None:
        axe(page)
        # nothing wider than the phone, tables included: they reflow rather than scroll
        wide = page.evaluate("""[...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > 391)
            .map(e => e.tagName + '.' + e.className).slice(0, 5)""")
        assert wide == [] and page.evaluate("document.documentElement.scrollWidth") <= 390, (
            page.url, wide)
        shots(page, name)

    # the administrator signs in at /admin/login
    page.goto(f"{url}/admin/login")
    seen("admin-login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    submit(page, "Log in")
    assert page.url == f"{url}/admin"
    seen("admin-settings")

    # Settings → Configuration: Company Name, Save
    page.get_by_role("link", name="Configuration").click()
    page.get_by_label("Company Name").fill("Acme Events")
    submit(page, "Save")
    assert page.get_by_role("status").inner_text() == "Saved."
    seen("admin-configuration")
    assert ok("config", "get", "company-name")["value"] == "Acme Events"
    assert page.locator("header .brand").inner_text() == "Acme Events"

    # Services Manager → Services → Add New → Configio Service Provider: SMTP, Title, Save
    page.goto(f"{url}/admin")
    page.get_by_role("link", name="Services Manager").click()
    seen("admin-services-manager")
    page.get_by_role("link", name="Services", exact=True).click()
    page.get_by_role("link", name="Add New").click()
    seen("admin-add-new")
    page.get_by_role("link", name="Configio Service Provider").click()
    page.get_by_label("Service Provider").select_option(label="SMTP")
    page.get_by_label("Title").fill("Email")
    seen("admin-configio")
    submit(page, "Save")
    assert [p["title"] for p in ok("provider", "list")] == ["Email"]

    # Add New → Custom Service Provider: Twilio, Continue, its fields, Setup Instructions, Save
    page.get_by_role("link", name="Add New").click()
    page.get_by_role("link", name="Custom Service Provider").click()
    page.get_by_label("Service Provider").select_option(label="Twilio")
    submit(page, "Continue")
    assert page.get_by_role("heading", name="Setup Instructions").is_visible()
    page.get_by_label("Title").fill("SMS")
    page.get_by_label("Account SID").fill("AC" + "7e" * 15)  # one digit short
    page.get_by_label("Auth Token").fill(AUTH_TOKEN)
    page.get_by_label("From Number").fill("+14155550100")
    assert submit(page, "Save").status == 400
    assert "Enter the Account SID from your Twilio Console" in page.get_by_role(
        "alert").inner_text()
    assert page.get_by_label("Title").input_value() == "SMS"  # kept; the token is not
    assert page.get_by_label("Auth Token").input_value() == ""
    seen("admin-custom-error")
    page.get_by_label("Account SID").fill("AC" + "7e" * 16)
    page.get_by_label("Auth Token").fill(AUTH_TOKEN)
    submit(page, "Save")
    assert [p["title"] for p in ok("provider", "list")] == ["Email", "SMS"]
    assert AUTH_TOKEN not in page.content()
    seen("admin-services")

    # Send test through SMS, on the provider's page: the result in words; the CLI's outbox has it
    page.get_by_role("link", name="Send test through SMS").click()
    page.get_by_label("Send to").fill(PHONE)
    submit(page, "Send")
    assert "went to the outbox" in page.get_by_role("status").inner_text()
    seen("admin-send-test")
    assert ok("outbox")[0]["body"].startswith("This is a test message from twofa through SMS")

    # the provider's page updates it as `twofa provider update` would; the stored Auth Token
    # is never in the form (its last four as a hint), an empty field keeps it
    assert page.get_by_label("Auth Token").input_value() == ""
    assert f"Stored: …{AUTH_TOKEN[-4:]}." in page.inner_text("main")
    assert page.get_by_label("Account SID").input_value() == "AC" + "7e" * 16
    page.get_by_label("From Number").fill("555")
    page.get_by_label("Auth Token").fill(NEW_TOKEN)
    assert submit(page, "Save").status == 400
    assert "Enter the From Number in international format" in page.get_by_role(
        "alert").inner_text()
    assert page.get_by_label("From Number").input_value() == "555"  # kept; the token is not
    assert page.get_by_label("Auth Token").input_value() == ""
    seen("admin-provider-error")
    page.get_by_label("From Number").fill("+14155550111")
    page.get_by_label("Auth Token").fill(NEW_TOKEN)
    submit(page, "Save")
    assert page.get_by_role("status").inner_text() == "Saved."
    assert NEW_TOKEN not in page.content() and AUTH_TOKEN not in page.content()
    seen("admin-provider")
    shown = ok("provider", "show", "SMS")
    assert (shown["options"]["auth_token"], shown["options"]["from_number"]) == (
        "…" + NEW_TOKEN[-4:], "+14155550111")
    assert ok("audit", "--limit", "1")[0]["detail"] == "auth_token,from_number"

    # Secondary Auth → Add New: Service Provider (provider titles), Title, Save
    page.goto(f"{url}/admin/services-manager")
    page.get_by_role("link", name="Secondary Auth").click()
    page.get_by_role("link", name="Add New").click()
    page.get_by_label("Service Provider").select_option(label="SMS")
    page.get_by_label("Title").fill("Text message")
    seen("admin-secondary-auth-new")
    submit(page, "Save")
    assert page.get_by_role("link", name="Delete Text message").is_visible()
    seen("admin-secondary-auth")
    assert [(m["title"], m["provider"]) for m in ok("secondary-auth", "list")] == [
        ("Text message", "SMS")]

    # Two Factor Auth → Customer Authentication → Allowed: Inactive to Active
    page.goto(f"{url}/admin/services-manager")
    page.get_by_role("link", name="Two Factor Auth").click()
    customers = page.locator("form", has=page.get_by_role("heading",
                                                        name="Customer Authentication"))
    assert customers.get_by_text("Inactive").is_visible()
    customers.get_by_label("Allowed").check()
    with page.expect_navigation():
        customers.get_by_role("button", name="Save").click()
    assert customers.get_by_text("Active", exact=True).is_visible()
    seen("admin-two-factor")
    assert ok("customer", "status")["allowed"] == "Active"

    # Delete asks first, naming what goes with it
    page.goto(f"{url}/admin/services")
    page.get_by_role("link", name="Delete Email").click()
    assert "No secondary-auth method uses it." in page.inner_text("main")
    seen("admin-delete-provider")
    submit(page, "Delete")
    assert [p["title"] for p in ok("provider", "list")] == ["SMS"]

    # Audit: every change above, by this administrator
    page.goto(f"{url}/admin")
    page.get_by_role("link", name="Audit").click()
    page.get_by_label("Event").fill("provider.add")
    submit(page, "Filter")
    assert page.get_by_role("cell", name="provider.add", exact=True).count() == 2
    seen("admin-audit")
    actors = {e["action"]: e["actor"] for e in ok("audit", "--limit", "30")}
    for action in ("config.company_name", "provider.add", "provider.test", "provider.update",
                   "customer.enable", "provider.remove"):
        assert actors.get(action) == ADMIN, action

    # a customer enrols with the method the pages made (customer pages checked by axe too)
    ok("account", "add", ALICE, "--password-stdin", input=PASSWORD + "\n")
    shop = chromium.new_context(viewport={"width": 390, "height": 844})
    page = shop.new_page()
    page.goto(f"{url}/login")
    seen("login")
    log_in(page, url)
    seen("account")
    page.get_by_role("link", name="Two-Factor Authentication").click()
    assert page.get_by_label("Service Provider").locator("option").all_inner_texts() == [
        "Text message"]
    page.get_by_label("Mobile phone number").fill(PHONE)
    seen("two-factor")
    submit(page, "Send Code")
    seen("two-factor-code")
    page.get_by_label("Verification code").fill(latest_code(twofa))
    submit(page, "Verify")
    seen("two-factor-recovery-codes")
    [entry] = ok("entry", "list", ALICE)
    assert (entry["method"], entry["destination"]) == ("Text message", MASKED_PHONE)

    if SCREENSHOTS_TO:
        for shot in shots.folder.iterdir():
            shutil.copy(shot, Path(SCREENSHOTS_TO) / shot.name)
    assert len(axe.checked) == shots.count
    shop.close()
    phone.close()
