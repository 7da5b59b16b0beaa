"""The seed's whole customer story in a real browser: Debian's Chromium, driven by Playwright.

The admin side is set up through the CLI; the customer uses only the pages of
``twofa serve`` (run in-process by uvicorn on a free loopback port); codes are read
from the outbox (simulate mode). A screenshot of each page lands in the test's tmp
folder. Without Chromium the test is skipped, unless TWOFA_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from webapp import (  # noqa: F401 (fixtures)
    ALICE,
    MASKED_PHONE,
    PASSWORD,
    PHONE,
    app,
    latest_code,
    live_server,
    shop,
    twofa,
    wrong,
)

# Read at import: the autouse fixture of conftest.py clears TWOFA_* for each test.
CHROMIUM = os.environ.get("TWOFA_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("TWOFA_REQUIRE_BROWSER") == "1"
SCREENSHOTS_TO = os.environ.get("TWOFA_SCREENSHOTS")  # a folder to copy them to (docs/images)


@pytest.fixture(scope="module")
def chromium():
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed"
    if missing is None and not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        missing = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if missing:
        if REQUIRE_BROWSER:
            pytest.fail(f"TWOFA_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


class Shots:
    """Numbered screenshots of every page the story visits."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir()
        self.count = 0

    def __call__(self, page, name: str) -> None:
        self.count += 1
        page.screenshot(path=self.folder / f"{self.count:02d}-{name}.png", full_page=True)


def log_in(page, url: str, email: str = ALICE, password: str = PASSWORD) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def submit(page, button: str):
    """Click a button that posts a form; the response of the page it lands on."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button, exact=True).click()
    return navigation.value


def test_the_customer_story_in_chromium(chromium, live_server, shop, twofa, clock, tmp_path):
    url = live_server.url
    shots = Shots(tmp_path / "screenshots")
    laptop = chromium.new_context(viewport={"width": 900, "height": 640})
    page = laptop.new_page()

    # logs in with the password alone: no 2FA entry yet
    page.goto(f"{url}/login")
    shots(page, "login")
    log_in(page, url)
    assert page.url == f"{url}/account"
    assert page.get_by_text(ALICE).is_visible()
    shots(page, "account")

    # Account Settings → Two-Factor Authentication: picks the provider, enters a phone
    page.get_by_role("link", name="Two-Factor Authentication").click()
    assert page.url == f"{url}/account/two-factor"
    provider = page.get_by_label("Service Provider")
    assert provider.locator("option").all_inner_texts() == ["Text message"]
    provider.select_option(label="Text message")
    page.get_by_label("Mobile phone number").fill(PHONE)
    shots(page, "two-factor")
    submit(page, "Send Code")
    assert page.get_by_text(MASKED_PHONE).is_visible()
    shots(page, "two-factor-code")

    # a wrong code shows an error; Send New Code too soon says why; later it works
    first = latest_code(twofa)
    page.get_by_label("Verification code").fill(wrong(first))
    refused = submit(page, "Verify")
    assert refused.status == 401
    assert page.get_by_role("alert").inner_text() == "That code is not right. You have 4 tries left."
    shots(page, "two-factor-wrong-code")
    too_soon = submit(page, "Send New Code")
    assert too_soon.status == 429 and "You can ask for another in" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("button", name="Send New Code").is_enabled()
    clock.advance(seconds=31)
    assert submit(page, "Send New Code").status == 200
    assert page.get_by_role("status").inner_text() == "A new code was sent."
    new_code = latest_code(twofa)
    page.get_by_label("Verification code").fill(new_code)
    submit(page, "Verify")
    assert page.get_by_role("cell", name="Text message").is_visible()
    assert page.get_by_role("cell", name=MASKED_PHONE).is_visible()
    assert page.get_by_role("button", name="Delete").count() == 1
    shots(page, "two-factor-entry")

    # logs out; logs in again and is asked for a code; ticks Trust this device
    page.goto(f"{url}/account")
    submit(page, "Log out")
    assert page.url == f"{url}/login"
    log_in(page, url)
    assert page.url == f"{url}/login/code"
    assert page.get_by_text(MASKED_PHONE).is_visible()
    shots(page, "login-code")
    page.get_by_label("Verification code").fill(latest_code(twofa))
    page.get_by_label("Trust this device").check()
    submit(page, "Verify")
    assert page.url == f"{url}/account"

    [cookie] = [c for c in laptop.cookies() if c["name"] == "twofa_trusted"]
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == (
        True, True, "Lax", "/")
    lifetime = twofa.trusted_device_lifetime.total_seconds()
    assert lifetime - 300 < cookie["expires"] - time.time() <= lifetime  # Max-Age, not a session cookie
    [session] = [c for c in laptop.cookies() if c["name"] == "twofa_session"]
    assert session["httpOnly"] and session["secure"] and session["value"] != cookie["value"]

    # logs out and in on this browser: no code
    submit(page, "Log out")
    log_in(page, url)
    assert page.url == f"{url}/account"

    # another browser is asked for a code
    phone = chromium.new_context()
    other = phone.new_page()
    log_in(other, url)
    assert other.url == f"{url}/login/code"

    # clearing the first browser's cookies brings the code back
    laptop.clear_cookies()
    clock.advance(seconds=31)  # past the interval: this login sends a code of its own
    log_in(page, url)
    assert page.url == f"{url}/login/code"
    page.get_by_label("Verification code").fill(latest_code(twofa))
    submit(page, "Verify")

    # deleting the entry removes the 2FA step, on every browser, after a confirmation page
    page.get_by_role("link", name="Two-Factor Authentication").click()
    submit(page, "Delete")
    assert page.get_by_role("heading", name="Delete this entry?").is_visible()
    assert "two-factor authentication is off" in " ".join(page.inner_text("main").split())
    shots(page, "delete-confirm")
    submit(page, "Delete")
    assert page.get_by_role("status").inner_text() == "The entry was deleted."
    assert page.get_by_role("button", name="Delete").count() == 0
    shots(page, "two-factor-deleted")
    page.goto(f"{url}/account")
    submit(page, "Log out")
    log_in(page, url)
    assert page.url == f"{url}/account"
    log_in(other, url)
    assert other.url == f"{url}/account"

    assert [p.name for p in sorted(shots.folder.iterdir())] == [
        "01-login.png", "02-account.png", "03-two-factor.png", "04-two-factor-code.png",
        "05-two-factor-wrong-code.png", "06-two-factor-entry.png", "07-login-code.png",
        "08-delete-confirm.png", "09-two-factor-deleted.png"]
    if SCREENSHOTS_TO:
        for shot in shots.folder.iterdir():
            shutil.copy(shot, Path(SCREENSHOTS_TO) / shot.name)
    phone.close()
    laptop.close()


def test_a_stale_password_is_asked_again_before_a_factor_goes(chromium, live_server, shop,
                                                               twofa, clock, tmp_path):
    """The step-up (rule 31) and the confirmation page, as the customer sees them."""
    url = live_server.url
    twofa.enroll(ALICE, method="Text message", phone=PHONE)
    twofa.verify(ALICE, latest_code(twofa))
    context = chromium.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    log_in(page, url)
    page.get_by_label("Verification code").fill(latest_code(twofa))
    submit(page, "Verify")
    assert page.url == f"{url}/account"
    clock.advance(minutes=11)  # the login's password is no longer recent

    page.get_by_role("link", name="Two-Factor Authentication").click()
    submit(page, "Delete")
    assert page.url.startswith(f"{url}/account/confirm")
    page.get_by_label("Password").fill("not the password")
    submit(page, "Confirm")
    assert page.get_by_role("alert").inner_text() == "That password is not right. Try again."
    page.get_by_label("Password").fill(PASSWORD)
    submit(page, "Confirm")
    assert page.get_by_role("heading", name="Delete this entry?").is_visible()
    page.screenshot(path=tmp_path / "delete-confirm-390.png", full_page=True)
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"{url}/account/two-factor")
    assert len(twofa.entries(ALICE)) == 1  # Cancel deleted nothing
    submit(page, "Delete")  # the password was just given: straight to the confirmation
    submit(page, "Delete")
    assert page.get_by_role("status").inner_text() == "The entry was deleted."
    assert twofa.entries(ALICE) == []
    context.close()


@pytest.mark.parametrize("required, outcome", [("1", "1 error"), ("", "1 skipped")])
def test_without_chromium_the_story_is_skipped_unless_a_browser_is_required(required, outcome):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOFA_")}
    env.update(TWOFA_CHROMIUM="/nonexistent/chromium", TWOFA_REQUIRE_BROWSER=required)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__)),
         "-k", "customer_story and sqlite"],
        cwd=Path(__file__).parent.parent, env=env, capture_output=True, text=True, timeout=300)
    assert outcome in run.stdout, run.stdout[-2000:]
    if required:
        assert "TWOFA_REQUIRE_BROWSER=1 but no Chromium at /nonexistent/chromium" in run.stdout
