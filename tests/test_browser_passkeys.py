"""Passkeys in a real browser: Chromium's virtual authenticator, driven through the
DevTools Protocol (``WebAuthn.addVirtualAuthenticator``), on the pages of ``twofa serve``.

The pages are opened at http://localhost:PORT: an RP ID is a host name, never an IP
address, and the default ``[webauthn] rp_id`` is "localhost" (a secure context, as
WebAuthn needs). Both stores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_browser import chromium, log_in, submit  # noqa: F401 (fixtures)
from webapp import ALICE, PASSWORD, app, live_server, shop  # noqa: F401 (fixtures)

SCREENSHOTS_TO = os.environ.get("TWOFA_SCREENSHOTS")  # a folder to copy them to (docs/images)


@pytest.fixture
def twofa(home, clock, monkeypatch):
    """The shop with "Sign in with a passkey" on (set before the home is opened)."""
    from twofa_cli import TwoFactor

    monkeypatch.setenv("TWOFA_WEBAUTHN__PASSWORDLESS", "true")
    with TwoFactor.open(home, actor="web", clock=clock) as opened:
        yield opened


def with_authenticator(context, page, *, user_verified: bool = True) -> str:
    """A platform authenticator (resident keys, user verification) in this page's browser."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": user_verified,
        "automaticPresenceSimulation": True}})
    return str(added["authenticatorId"])


def test_passkeys_in_chromium(chromium, live_server, shop, twofa, tmp_path):  # noqa: F811
    shop("secondary-auth", "add", "--kind", "passkey", "--title", "Passkey", "--json")
    url = live_server.url.replace("127.0.0.1", "localhost")
    context = chromium.new_context(viewport={"width": 900, "height": 640})
    page = context.new_page()
    with_authenticator(context, page)

    # registers a passkey: Two-Factor Authentication → Passkey → name → Add passkey
    log_in(page, url)
    page.goto(f"{url}/account/two-factor")
    with page.expect_navigation():
        page.get_by_label("Service Provider").select_option(label="Passkey")
    page.get_by_label("Passkey name").fill("Laptop")
    page.screenshot(path=tmp_path / "passkey-add.png", full_page=True)
    submit(page, "Add passkey")
    # her first factor: its recovery codes, shown this once
    assert page.get_by_role("heading", name="Your recovery codes").is_visible()
    entries = twofa.entries(ALICE)
    assert [(e.kind, e.name) for e in entries] == [("passkey", "Laptop")]

    # signs in with the passkey instead of a code
    context.clear_cookies()
    log_in(page, url)
    assert page.url == f"{url}/login/code"
    assert page.get_by_label("Verification code").count() == 0  # nothing was sent
    page.screenshot(path=tmp_path / "passkey-use.png", full_page=True)
    submit(page, "Use passkey")
    assert page.url == f"{url}/account"
    assert twofa.entries(ALICE)[0].last_used_at is not None

    # signs in without a password: /login → Sign in with a passkey
    context.clear_cookies()
    page.goto(f"{url}/login")
    submit(page, "Sign in with a passkey")
    assert page.url == f"{url}/account"
    assert page.get_by_text(ALICE).is_visible()

    # deleting the entry removes the step: the password alone signs in again
    twofa.delete_entry(ALICE, entries[0].id)
    context.clear_cookies()
    log_in(page, url)
    assert page.url == f"{url}/account"
    if SCREENSHOTS_TO:
        import shutil

        for name in ("passkey-add.png", "passkey-use.png"):
            shutil.copy(tmp_path / name, Path(SCREENSHOTS_TO) / name)
    context.close()
