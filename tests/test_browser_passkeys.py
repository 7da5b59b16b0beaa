"""Passkeys in a real browser: Chromium's virtual authenticator, driven through the
DevTools Protocol (``WebAuthn.addVirtualAuthenticator``), on the pages of ``twofa serve``.

The pages are opened at http://localhost:PORT: an RP ID is a host name, never an IP
address, and the default ``[webauthn] rp_id`` is "localhost" (a secure context, as
WebAuthn needs). Both stores.

The story registers and uses a passkey; the tests after it attack rule 35 the way a
browser can: a signature that does not verify, a passkey from another authenticator,
user verification missing when required, a replayed assertion, a cloned key. Each
checks what the page says and that no one was signed in.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_browser import chromium, log_in, submit  # noqa: F401 (fixtures)
from webapp import ALICE, PASSWORD, app, live_server, shop  # noqa: F401 (fixtures)

SCREENSHOTS_TO = os.environ.get("TWOFA_SCREENSHOTS")  # a folder to copy them to (docs/images)


REFUSED = "The passkey was not accepted. Try again."  # the one refusal's words (rule 35)
BROWSER_SAID_NO = "The passkey request was cancelled or timed out. Try again."  # passkey.js
BOB = "bob@example.com"


@pytest.fixture
def webauthn() -> dict[str, str]:
    """The ``[webauthn]`` settings of the test; a test parametrises it to change them."""
    return {"passwordless": "true"}


@pytest.fixture
def twofa(home, clock, monkeypatch, webauthn):
    """The shop with the test's ``[webauthn]`` settings, set before the home is opened
    (conftest.py clears TWOFA_* for each test)."""
    from twofa_cli import TwoFactor

    for key, value in webauthn.items():
        monkeypatch.setenv(f"TWOFA_WEBAUTHN__{key.upper()}", value)
    with TwoFactor.open(home, actor="web", clock=clock) as opened:
        yield opened


def with_authenticator(context, page, *, user_verified: bool = True) -> str:
    """A platform authenticator (resident keys, user verification) in this page's browser."""
    authenticator, _ = authenticator_and_cdp(context, page, user_verified=user_verified)
    return authenticator


def authenticator_and_cdp(context, page, *, user_verified: bool = True):
    """``with_authenticator``, and the DevTools session that drives it."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": user_verified,
        "automaticPresenceSimulation": True}})
    return str(added["authenticatorId"]), cdp


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


# -- refusals (rule 35): what the page says, and no one signed in ------------------------------


@pytest.fixture
def browser_page(chromium, live_server, shop, twofa):  # noqa: F811
    """The shop at http://localhost:PORT with a passkey method; a page and its context."""
    shop("secondary-auth", "add", "--kind", "passkey", "--title", "Passkey", "--json")
    context = chromium.new_context(viewport={"width": 900, "height": 640})
    yield context.new_page(), live_server.url.replace("127.0.0.1", "localhost")
    context.close()


def register_passkey(page, url: str, twofa, email: str = ALICE,
                     password: str = PASSWORD) -> None:
    """``email`` registers a passkey on the page's authenticator and is signed out again."""
    log_in(page, url, email, password)
    page.goto(f"{url}/account/two-factor")
    with page.expect_navigation():
        page.get_by_label("Service Provider").select_option(label="Passkey")
    submit(page, "Add passkey")
    assert [e.kind for e in twofa.entries(email)] == ["passkey"]
    twofa.revoke_sessions(email)
    page.context.clear_cookies()


def signed_in(twofa, email: str = ALICE) -> list:
    return [s for s in twofa.sessions(email) if s.state == "signed_in"]


def alert(page) -> str:
    """The message the page shows: the server's, or passkey.js's in the passkey form."""
    shown = page.get_by_role("alert").filter(visible=True)
    shown.first.wait_for()
    return shown.first.inner_text()


def use_passkey(page, url: str, *, reaches_the_shop: bool = True) -> None:
    """Alice's password, then "Use passkey" on the code page. When the browser refuses
    (``reaches_the_shop=False``) no page follows: passkey.js says why in the form."""
    log_in(page, url)
    assert page.url == f"{url}/login/code"
    if reaches_the_shop:
        submit(page, "Use passkey")
    else:
        page.get_by_role("button", name="Use passkey", exact=True).click()


def test_a_bogus_signature_is_refused_in_chromium(browser_page, twofa):
    page, url = browser_page
    authenticator, cdp = authenticator_and_cdp(page.context, page)
    register_passkey(page, url, twofa)
    cdp.send("WebAuthn.setResponseOverrideBits",
             {"authenticatorId": authenticator, "isBogusSignature": True})
    use_passkey(page, url)
    assert page.url == f"{url}/login/code"
    assert alert(page) == REFUSED
    assert signed_in(twofa) == []
    assert any("signature" in e.detail.lower()
               for e in twofa.audit(account=ALICE, action="passkey.failed"))


def test_a_passkey_from_another_authenticator_is_refused_in_chromium(browser_page, twofa):
    page, url = browser_page
    authenticator_a, cdp = authenticator_and_cdp(page.context, page)
    register_passkey(page, url, twofa)
    # Alice's key is gone from this browser; authenticator B holds Bob's passkey only.
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator_a})
    authenticator_b = with_authenticator(page.context, page)
    twofa.add_account(BOB, PASSWORD)
    register_passkey(page, url, twofa, BOB)

    # the browser finds none of her passkeys in B: it says no, nothing reaches the shop
    use_passkey(page, url, reaches_the_shop=False)
    assert alert(page) == BROWSER_SAID_NO
    assert page.url == f"{url}/login/code" and signed_in(twofa) == []

    # whoever holds B and her password can make his browser offer Bob's passkey for her
    # login: the shop refuses another account's passkey
    [bobs] = cdp.send("WebAuthn.getCredentials",
                      {"authenticatorId": authenticator_b})["credentials"]

    def offer_bobs(route) -> None:
        answer = route.fetch()
        options = answer.json()
        options["allowCredentials"] = [{"id": base64url(bobs["credentialId"]),
                                        "type": "public-key"}]
        route.fulfill(response=answer, json=options)

    page.route("**/login/passkey/options", offer_bobs)
    submit(page, "Use passkey")
    assert page.url == f"{url}/login/code"  # the code page again, with the shop's word
    assert alert(page) == REFUSED
    assert signed_in(twofa) == [] and signed_in(twofa, BOB) == []
    assert any("another account" in e.detail
               for e in twofa.audit(account=ALICE, action="passkey.failed"))


def base64url(cdp_bytes: str) -> str:
    """DevTools sends bytes in base64; WebAuthn's JSON wants base64url without padding."""
    return cdp_bytes.replace("+", "-").replace("/", "_").rstrip("=")


@pytest.mark.parametrize("webauthn", [{"user_verification": "required"}])
def test_user_verification_required_and_missing_is_refused_in_chromium(browser_page, twofa):
    page, url = browser_page
    authenticator, cdp = authenticator_and_cdp(page.context, page)
    register_passkey(page, url, twofa)  # she was verified then

    # the key cannot verify her now (no fingerprint, no PIN): the browser says no
    cdp.send("WebAuthn.setUserVerified",
             {"authenticatorId": authenticator, "isUserVerified": False})
    use_passkey(page, url, reaches_the_shop=False)
    assert alert(page) == BROWSER_SAID_NO
    assert signed_in(twofa) == []

    # a key that answers anyway without the UV flag: the shop says no
    cdp.send("WebAuthn.setUserVerified",
             {"authenticatorId": authenticator, "isUserVerified": True})
    cdp.send("WebAuthn.setResponseOverrideBits", {"authenticatorId": authenticator,
                                                  "isBadUV": True})
    page.context.clear_cookies()
    use_passkey(page, url)
    assert page.url == f"{url}/login/code"
    assert alert(page) == REFUSED
    assert signed_in(twofa) == []
    assert any("verif" in e.detail.lower()
               for e in twofa.audit(account=ALICE, action="passkey.failed"))


def test_a_replayed_assertion_is_refused_in_chromium(browser_page, twofa):
    page, url = browser_page
    with_authenticator(page.context, page)
    register_passkey(page, url, twofa)

    # signs in without a password; the form the browser posts is captured on its way
    page.goto(f"{url}/login")
    with page.expect_request(f"{url}/login/passwordless") as posted:
        submit(page, "Sign in with a passkey")
    assert page.url == f"{url}/account"
    body = posted.value.post_data
    assert body and "response=" in body

    # the same body again, from the same browser before its sign-in (same CSRF cookie)
    twofa.revoke_sessions(ALICE)
    page.context.clear_cookies(name="twofa_session")
    again = page.request.post(f"{url}/login/passwordless", data=body, max_redirects=0,
                              headers={"content-type": "application/x-www-form-urlencoded"})
    assert (again.status, again.headers["location"]) == (303, "/login")
    shown = page.request.get(f"{url}/login")  # the page it leads to, with the refusal once
    assert shown.status == 401
    page.set_content(shown.text())  # what the browser would show
    assert alert(page) == REFUSED
    assert signed_in(twofa) == []
    assert any("no live passkey challenge" in e.detail
               for e in twofa.audit(action="passkey.failed"))


def test_a_cloned_key_is_refused_and_audited_in_chromium(browser_page, twofa):
    page, url = browser_page
    authenticator, cdp = authenticator_and_cdp(page.context, page)
    register_passkey(page, url, twofa)
    use_passkey(page, url)  # one genuine use: the shop keeps the count it signed
    assert page.url == f"{url}/account"
    twofa.revoke_sessions(ALICE)
    page.context.clear_cookies()

    # a copy of the key (same private key, same credential id) whose counter is behind
    [key] = cdp.send("WebAuthn.getCredentials",
                     {"authenticatorId": authenticator})["credentials"]
    assert key["signCount"] >= 1
    cdp.send("WebAuthn.removeCredential", {"authenticatorId": authenticator,
                                           "credentialId": key["credentialId"]})
    cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator,
                                        "credential": {**key, "signCount": 0}})
    use_passkey(page, url)
    assert page.url == f"{url}/login/code"
    assert alert(page) == REFUSED
    assert signed_in(twofa) == []
    [cloned] = twofa.audit(account=ALICE, action="passkey.cloned")
    assert cloned.target == str(twofa.entries(ALICE)[0].id)
    assert cloned.detail == f"sign count 1 after {key['signCount']}"
