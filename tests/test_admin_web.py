"""The administrator's pages over HTTP (rule 36): admins only, their own 2FA, CSRF on
every form, credentials write-only, every change audited with the admin's email."""

from __future__ import annotations

import csv
import io
import re
import warnings

import pytest

pytest.importorskip("starlette")

from fakes import FakeTwilio, configure, http_server  # noqa: E402, F401 (fixture)
from store_dump import dump_store  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from webapp import ALICE, CLI_STYLE, PASSWORD, PHONE, app, csrf_of, latest_code, shop, twofa  # noqa: E402, F401

ADMIN = "boss@example.com"
ADMIN_PASSWORD = "admin password 1"
AUTH_TOKEN = "tok" + "5c" * 14 + "zq"  # typed in a form: never in a page afterwards
SID = "AC" + "7e" * 16

# Every admin page but the sign-in ones, and every admin form (a POST path).
GET_PAGES = ["/admin", "/admin/configuration", "/admin/services-manager", "/admin/services",
             "/admin/services/new", "/admin/services/new/configio",
             "/admin/services/new/custom", "/admin/services/new/custom?channel=twilio",
             "/admin/services/1", "/admin/services/1/delete",
             "/admin/secondary-auth",
             "/admin/secondary-auth/new", "/admin/secondary-auth/1/delete", "/admin/two-factor",
             "/admin/audit", "/admin/audit.csv"]
SIGN_IN_FORMS = ["/admin/login", "/admin/login/code", "/admin/login/resend",
                 "/admin/login/recovery", "/admin/logout"]
POST_FORMS = SIGN_IN_FORMS + [
              "/admin/configuration", "/admin/services/new/configio",
              "/admin/services/new/custom", "/admin/services/1", "/admin/services/1/test",
              "/admin/services/1/delete", "/admin/secondary-auth/new",
              "/admin/secondary-auth/1/delete", "/admin/two-factor/customer",
              "/admin/two-factor/admin"]


@pytest.fixture
def admin(shop):
    run = shop("account", "add", ADMIN, "--admin", "--password-stdin",
               "--json", input=ADMIN_PASSWORD + "\n")
    assert run.exit_code == 0, run.stdout
    return ADMIN


@pytest.fixture
def client(app, admin):
    with TestClient(app, base_url="https://shop.test", follow_redirects=False) as browser:
        yield browser


def token_of(client, path: str = "/admin/login") -> str:
    return csrf_of(client.get(path).text)


def post(client, path: str, page: str | None = None, **fields: str):
    """A form of the admin pages, with the token of the page it is on."""
    return client.post(path, data={"csrf_token": token_of(client, page or "/admin/login"),
                                   **fields})


def sign_in(client, email: str = ADMIN, password: str = ADMIN_PASSWORD):
    return post(client, "/admin/login", email=email, password=password)


def test_a_customer_account_is_refused_at_the_admin_login_like_a_wrong_password(client):
    customer = sign_in(client, ALICE, PASSWORD)
    wrong = sign_in(client, ADMIN, "not the password")
    assert customer.status_code == wrong.status_code == 401
    said = [re.search(r'role="alert">([^<]+)<', r.text).group(1) for r in (customer, wrong)]
    assert said[0] == said[1] == "That email and password do not match. Check them and try again."
    assert "twofa_admin_session" not in customer.headers.get("set-cookie", "")
    assert client.get("/admin").headers["location"] == "/admin/login"


def test_an_admin_signs_in_with_the_password_alone_while_admins_have_no_2fa(client):
    signed_in = sign_in(client)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin"
    cookie = signed_in.headers["set-cookie"]
    assert "twofa_admin_session=" in cookie and "Path=/admin" in cookie
    assert "HttpOnly" in cookie and "Secure" in cookie
    home = client.get("/admin")
    assert home.status_code == 200
    for link in ("Configuration", "Services Manager", "Audit"):
        assert f">{link}</a>" in home.text


def test_a_customer_session_opens_no_admin_page(client, app, twofa):
    with TestClient(app, base_url="https://shop.test", follow_redirects=False) as customer:
        token = csrf_of(customer.get("/login").text)
        assert customer.post("/login", data={"csrf_token": token, "email": ALICE,
                                             "password": PASSWORD}).status_code == 303
        assert customer.get("/account").status_code == 200
        session = customer.cookies.get("twofa_session")
        for path in GET_PAGES:
            refused = customer.get(path)
            assert refused.status_code in (303, 403), path
            assert refused.status_code == 403 or refused.headers["location"] == "/admin/login"
        # its session's token, sent as an admin cookie: the account is no admin
        customer.cookies.set("twofa_admin_session", session, domain="shop.test", path="/admin")
        for path in GET_PAGES:
            assert customer.get(path).status_code == 403, path
        admin_token = csrf_of(customer.get("/admin/login").text)
        for path in POST_FORMS[len(SIGN_IN_FORMS):]:
            assert customer.post(path, data={"csrf_token": admin_token, "title": "x",
                                             "company_name": "Pwned"}).status_code == 403, path
    assert twofa.company_name() == "Acme Events"


def test_an_admin_deleted_loses_the_pages_at_once(client, twofa):
    sign_in(client)
    assert client.get("/admin/services").status_code == 200
    twofa.delete_account(ADMIN)
    assert client.get("/admin/services").headers["location"] == "/admin/login"


def test_admin_2fa_asks_for_a_code_when_admins_are_active(client, twofa, clock):
    twofa.set_allowed("admin", True)
    twofa.enroll(ADMIN, method="Text message", phone=PHONE)
    twofa.verify(ADMIN, latest_code(twofa))
    clock.advance(seconds=31)
    pending = sign_in(client)
    assert pending.headers["location"] == "/admin/login/code"
    assert client.get("/admin").headers["location"] == "/admin/login"  # not before the code
    page = client.get("/admin/login/code")
    assert "Verification code" in page.text and "0199" in page.text
    code = latest_code(twofa)
    wrong = post(client, "/admin/login/code", "/admin/login/code",
                 code=f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}")
    assert wrong.status_code == 401
    done = post(client, "/admin/login/code", "/admin/login/code", code=code)
    assert done.headers["location"] == "/admin"
    assert client.get("/admin").status_code == 200


def test_every_admin_form_refuses_a_post_without_its_csrf_token(client, twofa, database_url):
    sign_in(client)
    twofa.add_provider("smtp", title="Mail")
    before = dump_store(database_url)
    for path in POST_FORMS:
        missing = client.post(path, data={"title": "x", "company_name": "Pwned", "to": ALICE})
        forged = client.post(path, data={"csrf_token": "x" * 64, "title": "x"})
        assert (missing.status_code, forged.status_code) == (403, 403), path
    assert dump_store(database_url) == before
    assert client.get("/admin").status_code == 200  # the logout was refused too


def test_a_customer_pages_token_is_refused_on_an_admin_form_and_back(client, app, twofa):
    sign_in(client)
    admin_token = token_of(client, "/admin/configuration")
    with TestClient(app, base_url="https://shop.test", follow_redirects=False) as customer:
        token = csrf_of(customer.get("/login").text)
        customer.post("/login", data={"csrf_token": token, "email": ALICE, "password": PASSWORD})
        customer_token = csrf_of(customer.get("/account").text)
        # the same browser holds both sessions: each form takes only its own side's token
        customer.cookies.set("twofa_admin_session", client.cookies.get("twofa_admin_session"),
                             domain="shop.test", path="/admin")
        assert customer.get("/admin/configuration").status_code == 200
        refused = customer.post("/admin/configuration",
                                data={"csrf_token": customer_token, "company_name": "Pwned"})
        assert refused.status_code == 403
        assert customer.post("/logout", data={"csrf_token": admin_token}).status_code == 403
        assert customer.get("/account").status_code == 200
    assert twofa.company_name() == "Acme Events"


def test_changes_are_audited_with_the_admins_email(client, twofa):
    sign_in(client)
    page = "/admin/configuration"
    assert post(client, page, page, company_name="Acme Tickets").status_code == 303
    assert twofa.company_name() == "Acme Tickets"
    assert post(client, "/admin/two-factor/customer", "/admin/two-factor").status_code == 303
    assert not twofa.allowed("customer").active
    actions = {e.action: e.actor for e in twofa.audit(limit=5)}
    assert actions["config.company_name"] == ADMIN and actions["customer.disable"] == ADMIN


def test_a_form_error_is_next_to_its_field_and_keeps_the_value(client):
    sign_in(client)
    page = "/admin/services/new/custom?channel=twilio"
    refused = post(client, "/admin/services/new/custom", page, channel="twilio", title="Live",
                   account_sid="AC12", auth_token=AUTH_TOKEN, from_number="+14155550100")
    assert refused.status_code == 400
    assert re.search(r'id="account_sid-error" role="alert">Enter the Account SID from your '
                     r'Twilio Console: AC followed by 32', refused.text)
    assert 'value="AC12"' in refused.text and 'value="Live"' in refused.text
    assert AUTH_TOKEN not in refused.text and "Setup Instructions" in refused.text


def test_every_refusal_of_the_admin_forms_is_worded_for_a_person(client, twofa):
    sign_in(client)
    twilio = {"channel": "twilio", "title": "Live", "account_sid": SID, "auth_token": AUTH_TOKEN}
    custom = "/admin/services/new/custom?channel=twilio"
    sms = f"/admin/services/{twofa.providers()[0].id}"
    cases = [
        (post(client, "/admin/services/new/custom", custom, **twilio), "",
         "Give either a From Number or a Messaging Service SID, not both."),
        (post(client, "/admin/services/new/custom", custom, **twilio, from_number="555"),
         "from_number", "Enter the From Number in international format, like +1 415 555 0100."),
        (post(client, "/admin/services/new/custom", custom,
              **{**twilio, "auth_token": "not-a-token"}, from_number="+14155550100"),
         "auth_token", "Enter the Auth Token from your Twilio Console: letters and digits only."),
        (post(client, "/admin/services/new/configio", "/admin/services/new/configio",
              channel="smtp", title="SMS"),
         "title", "Another one already has this title. Choose a different title."),
        (post(client, "/admin/secondary-auth/new", "/admin/secondary-auth/new", provider="999",
              title="Texts"), "provider", "Choose a Service Provider from the list."),
        (post(client, "/admin/configuration", "/admin/configuration", company_name=" "),
         "company_name", "Enter the company name: one line of at most 200 characters."),
        (post(client, sms + "/test", sms, to="alice@example.com"), "to",
         "Enter a mobile phone number with its country code, like +1 415 555 0123."),
        (client.get("/admin/audit?account=nobody@example.com"), "account",
         "No account has that email address."),
    ]
    for response, field, words in cases:
        marker = f'id="{field}-error" role="alert">' if field else 'class="error" role="alert">'
        assert marker + words + "<" in response.text, (field, words)
    for response, _, _ in cases:
        for text in re.findall(r'role="(?:alert|status)"[^>]*>([^<]+)<', response.text):
            assert not CLI_STYLE.search(text), text


def test_a_credential_typed_in_a_form_is_never_in_a_page_afterwards(client, twofa):
    sign_in(client)
    page = "/admin/services/new/custom?channel=twilio"
    saved = post(client, "/admin/services/new/custom", page, channel="twilio", title="Live",
                 account_sid=SID, auth_token=AUTH_TOKEN, from_number="+14155550100")
    assert saved.status_code == 303
    provider = next(p for p in twofa.providers() if p.title == "Live")
    assert provider.options["auth_token"] != AUTH_TOKEN
    post(client, "/admin/secondary-auth/new", "/admin/secondary-auth/new",
         provider=str(provider.id), title="Live text")
    pages = [client.get(re.sub(r"/1\b", f"/{provider.id}", path)) for path in GET_PAGES]
    assert all(response.status_code == 200 for response in pages)
    pages.append(post(client, f"/admin/services/{provider.id}/test", "/admin/services",
                      to="not a phone"))
    for response in pages:
        for form in (AUTH_TOKEN, AUTH_TOKEN[-8:], AUTH_TOKEN[:12]):
            assert form not in response.text, response.url
    assert re.search(r'<td role="cell" data-label="Title">Live text\s',
                     client.get("/admin/secondary-auth").text)


def test_send_test_reaches_the_outbox(client, twofa):
    sign_in(client)
    provider = twofa.providers()[0]
    page = f"/admin/services/{provider.id}"  # the provider's page carries Send test
    sent = post(client, page + "/test", page, to=PHONE)
    assert (sent.status_code, sent.headers["location"]) == (303, page + "#send-test")
    shown = client.get(sent.headers["location"])
    assert "went to the outbox" in shown.text and 'value="+1 415 555 0199"' in shown.text
    assert "went to the outbox" not in client.get(page).text  # shown once: a reload is plain
    assert twofa.outbox(limit=1)[0].body.startswith("This is a test message")
    # the Services table tells each provider's delivery health of the last day
    assert "1 sent · 0 delivered · 0 undelivered · 0 failed" in client.get(
        "/admin/services").text
    bad = post(client, page + "/test", page, to="alice@example.com")
    assert bad.status_code == 400 and 'id="to-error"' in bad.text


def test_send_test_reaches_a_live_twilio(app, admin, twofa, home, http_server):
    fake = FakeTwilio(http_server)
    provider = twofa.add_provider("twilio", title="Live SMS", options={
        "account_sid": fake.sid, "auth_token": fake.token, "from_number": "+14155550100",
        "api_base_url": fake.base_url})
    configure(home, delivery={"mode": "live"})
    from twofa_cli import TwoFactor
    from twofa_cli.web import create_app

    with TwoFactor.open(home) as live, TestClient(create_app(live), base_url="https://shop.test",
                                                   follow_redirects=False) as client:
        sign_in(client)
        page = f"/admin/services/{provider.id}"
        sent = client.get(post(client, page + "/test", page, to=PHONE).headers["location"])
    assert sent.status_code == 200 and "was sent through Live SMS" in sent.text
    assert fake.accepted[-1]["To"] == "+14155550199"
    assert fake.token not in sent.text


def test_a_refused_send_test_shows_what_the_provider_answered(app, admin, twofa, home,
                                                              http_server):
    """The sentence by the field is for a person; the provider's own answer is what the
    administrator fixes the settings by, so it is there too, as the provider gave it."""
    fake = FakeTwilio(http_server)
    provider = twofa.add_provider("twilio", title="Live SMS", options={
        "account_sid": fake.sid, "auth_token": fake.token, "from_number": "+14155550100",
        "api_base_url": fake.base_url})
    configure(home, delivery={"mode": "live"})
    fake.fail_next(400, 21608, "The number is unverified. Trial accounts cannot send messages")
    from twofa_cli import TwoFactor
    from twofa_cli.web import create_app

    with TwoFactor.open(home) as live, TestClient(create_app(live), base_url="https://shop.test",
                                                   follow_redirects=False) as client:
        sign_in(client)
        page = f"/admin/services/{provider.id}"
        refused = post(client, page + "/test", page, to=PHONE)
    assert 'id="to-error"' in refused.text and "What the provider answered" in refused.text
    assert "Verified Caller IDs" in refused.text and "21608" in refused.text
    assert fake.token not in refused.text


def test_delete_names_the_methods_that_go_with_the_provider(client, twofa):
    sign_in(client)
    provider = twofa.providers()[0]
    page = f"/admin/services/{provider.id}/delete"
    confirm = client.get(page)
    assert "Text message" in confirm.text and ">Delete</button>" in confirm.text
    assert post(client, page, page).headers["location"] == "/admin/services?done=deleted"
    assert twofa.providers() == [] and twofa.secondary_auths() == []


# -- a provider's page: update with the credentials write-only -------------------------------

STALE_TOKEN = "tok" + "0d" * 14 + "st"  # the provider's token before the update


def test_the_provider_page_updates_the_title_and_the_auth_token(app, admin, twofa, home,
                                                                http_server):
    fake = FakeTwilio(http_server)
    provider = twofa.add_provider("twilio", title="Live SMS", options={
        "account_sid": fake.sid, "auth_token": STALE_TOKEN, "from_number": "+14155550100",
        "api_base_url": fake.base_url})
    configure(home, delivery={"mode": "live"})
    from twofa_cli import TwoFactor
    from twofa_cli.web import create_app

    with TwoFactor.open(home) as live, TestClient(create_app(live), base_url="https://shop.test",
                                                   follow_redirects=False) as client:
        sign_in(client)
        page = f"/admin/services/{provider.id}"
        stale = post(client, page + "/test", page, to=PHONE)  # Twilio refuses the old token
        assert stale.status_code != 200 and fake.accepted == []
        saved = post(client, page, page, title="Twilio live", account_sid=fake.sid,
                     auth_token=fake.token, from_number="+14155550100", messaging_service_sid="")
        assert saved.status_code == 303 and saved.headers["location"] == page + "?done=saved"
        shown = client.get(saved.headers["location"])
        assert "Saved." in shown.text and "…" + fake.token[-4:] in shown.text
        sent = client.get(post(client, page + "/test", page, to=PHONE).headers["location"])
    assert sent.status_code == 200 and "was sent through Twilio live" in sent.text
    assert fake.accepted[-1]["To"] == "+14155550199"
    for response in (saved, shown, sent):
        assert fake.token not in response.text and STALE_TOKEN not in response.text
    event = twofa.audit(action="provider.update", limit=1)[0]
    # the fields left as they were are no change (None to the library)
    assert (event.actor, event.detail) == (ADMIN, "auth_token,title")


def test_the_provider_page_never_shows_a_stored_credential(client, twofa):
    sign_in(client)
    provider = twofa.add_provider("twilio", title="Live", options={
        "account_sid": SID, "auth_token": AUTH_TOKEN, "from_number": "+14155550100"})
    page = client.get(f"/admin/services/{provider.id}").text
    labels = re.findall(r'<label for="(\w+)">', page)
    assert labels == ["title", "account_sid", "auth_token", "from_number",
                      "messaging_service_sid", "to"]  # the update, then Send test's Send to
    for form in (AUTH_TOKEN, AUTH_TOKEN[:12], AUTH_TOKEN[-8:]):
        assert form not in page
    assert re.search(r'<input id="auth_token" name="auth_token"\s+type="password"'
                     r' autocomplete="new-password" value=""', page)
    assert "…" + AUTH_TOKEN[-4:] in page and f'value="{SID}"' in page
    assert ">Send</button>" in page and f'href="/admin/services/{provider.id}/delete"' in page
    cdyne = twofa.add_provider("cdyne", title="Cdyne", options={
        "license_key": "0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e", "from_number": "+14155550100"})
    page = client.get(f"/admin/services/{cdyne.id}").text
    assert re.findall(r'<label for="(\w+)">', page) == ["title", "license_key", "from_number", "to"]
    assert "0b1c2d3e" not in page and "…4d5e" in page
    mail = twofa.add_provider("smtp", title="Mail")
    page = client.get(f"/admin/services/{mail.id}").text
    assert re.findall(r'<label for="(\w+)">', page) == ["title", "to"]  # Configio: Title only
    assert post(client, f"/admin/services/{mail.id}", f"/admin/services/{mail.id}",
                title="Relay").status_code == 303
    assert [p.title for p in twofa.providers()][-1] == "Relay"
    assert twofa.audit(limit=1)[0].detail == "title"


def test_a_bad_value_on_the_provider_page_is_next_to_its_field_and_keeps_the_others(
        client, twofa):
    sign_in(client)
    [provider] = twofa.providers()  # the shop's SMS
    twofa.add_provider("smtp", title="Mail")
    page = f"/admin/services/{provider.id}"
    refused = post(client, page, page, title="Renamed", account_sid="AC12",
                   auth_token=AUTH_TOKEN, from_number="+14155550111", messaging_service_sid="")
    assert refused.status_code == 400
    assert re.search(r'id="account_sid-error" role="alert">Enter the Account SID from your '
                     r'Twilio Console: AC followed by 32', refused.text)
    for kept in ("AC12", "Renamed", "+14155550111"):
        assert f'value="{kept}"' in refused.text
    assert AUTH_TOKEN not in refused.text and AUTH_TOKEN[-8:] not in refused.text
    taken = post(client, page, page, title="Mail", account_sid=provider.options["account_sid"])
    assert taken.status_code == 409
    assert re.search(r'id="title-error" role="alert">Another one already has this title\.',
                     taken.text)
    unchanged = post(client, page, page, title="SMS", account_sid=provider.options["account_sid"],
                     from_number=provider.options["from_number"])
    assert unchanged.headers["location"] == page + "?done=unchanged"
    assert twofa.providers()[0] == provider
    assert twofa.audit(action="provider.update", limit=1) == []


def test_an_admin_signs_in_with_a_recovery_code(client, twofa, clock):
    twofa.set_allowed("admin", True)
    twofa.enroll(ADMIN, method="Text message", phone=PHONE)
    codes = twofa.verify(ADMIN, latest_code(twofa)).recovery_codes
    clock.advance(seconds=31)
    assert sign_in(client).headers["location"] == "/admin/login/code"
    page = client.get("/admin/login/code").text
    assert "Lost your phone? Use one of your recovery codes instead." in page
    assert '<label for="recovery_code">Recovery code</label>' in page
    wrong = post(client, "/admin/login/recovery", "/admin/login/code",
                 recovery_code="aaaaa-aaaaa")
    assert wrong.status_code == 401 and "That recovery code is not right." in wrong.text
    assert client.get("/admin").headers["location"] == "/admin/login"
    used = post(client, "/admin/login/recovery", "/admin/login/code", recovery_code=codes[0])
    assert used.status_code == 303 and used.headers["location"] == "/admin?recovery_left=9"
    assert "You used a recovery code: 9 left." in client.get(used.headers["location"]).text
    assert twofa.recovery_codes_remaining(ADMIN) == 9
    post(client, "/admin/logout", "/admin")
    clock.advance(seconds=31)
    sign_in(client)
    spent = post(client, "/admin/login/recovery", "/admin/login/code", recovery_code=codes[0])
    assert spent.status_code == 401 and client.get("/admin").status_code == 303


def test_the_audit_csv_neutralises_formulas(client, twofa):
    sign_in(client)
    formulas = ["=HYPERLINK(\"http://evil\")", "+1+1", "-2", "@SUM(A1)"]
    for formula in formulas:  # an actor and a target anyone could have typed
        twofa.acting_as(formula).set_company_name(formula)
    response = client.get("/admin/audit.csv?event=config.company_name")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["id", "created_at", "actor", "action"]
    assert [(row[2], row[5]) for row in rows[1:5]] == [("'" + f, "'" + f) for f in reversed(formulas)]
    assert all(cell[:1] not in ("=", "+", "-", "@") for row in rows for cell in row)
    page = client.get("/admin/audit?event=config.company_name")
    assert page.status_code == 200
    assert page.text.count('<tr role="row">') == 1 + 5  # the shop's name too


def test_the_audit_pages_and_filters_by_account(client, twofa):
    sign_in(client)
    for number in range(30):
        twofa.set_company_name(f"Shop {number}")
    first = client.get("/admin/audit?event=config.company_name")
    assert first.text.count('<tr role="row">') == 26 and ">Older</a>" in first.text
    second = client.get("/admin/audit?event=config.company_name&page=2")
    assert second.text.count('<tr role="row">') == 1 + 6 and ">Newer</a>" in second.text
    unknown = client.get("/admin/audit?account=nobody@example.com")
    assert unknown.status_code == 404 and 'id="account-error"' in unknown.text
    assert 'value="nobody@example.com"' in unknown.text


# -- the library under the pages ------------------------------------------------------------


def test_a_customer_at_the_admin_audience_costs_one_hash_like_a_wrong_password(
        admin, twofa, monkeypatch):
    from twofa_cli.api import Rejected
    from twofa_cli.services import login as login_service

    checked = []
    real = login_service.verify_password
    monkeypatch.setattr(login_service, "verify_password",
                        lambda stored, password: checked.append(stored) or real(stored, password))
    messages = []
    for email, password in ((ALICE, PASSWORD), (ADMIN, "wrong password"),
                            ("nobody@example.com", PASSWORD)):
        with pytest.raises(Rejected) as refused:
            twofa.login(email, password, audience="admin")
        messages.append(refused.value.message)
    assert len(set(messages)) == 1 and len(checked) == 3
    assert checked[0] is None and checked[2] is None  # the customer's hash is never checked
    assert twofa.login(ADMIN, ADMIN_PASSWORD, audience="admin").authenticated
    assert twofa.login(ALICE, PASSWORD, audience="customer").authenticated
    with pytest.raises(Rejected):
        twofa.login(ADMIN, ADMIN_PASSWORD, audience="customer")


def test_acting_as_names_the_actor_without_changing_the_shared_library(admin, twofa):
    import threading

    def change(actor: str) -> None:
        for _ in range(5):
            twofa.acting_as(actor).set_company_name(f"{actor} shop {_}")

    threads = [threading.Thread(target=change, args=(f"admin{n}@example.com",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = twofa.audit(action="config.company_name", limit=20)
    by_admins = [e for e in events if e.actor.startswith("admin")]
    assert len(by_admins) == 15 and all(e.target.startswith(e.actor) for e in by_admins)
    view = twofa.acting_as(ADMIN)
    view.set_allowed("admin", True)
    view.close()
    assert not twofa.closed and twofa.audit(limit=1)[0].actor == ADMIN
    twofa.set_allowed("admin", False)
    assert twofa.audit(limit=1)[0].actor == "web"


def test_secondary_auth_add_new_offers_the_kinds_without_a_provider(client, twofa):
    sign_in(client)
    form = client.get("/admin/secondary-auth/new").text
    assert "Authenticator app (no provider)" in form and "Passkey (no provider)" in form
    for kind, title in (("totp", "Authenticator app"), ("passkey", "Security key")):
        post(client, "/admin/secondary-auth/new", "/admin/secondary-auth/new",
             provider=kind, title=title)
    kinds = {m.title: m.kind for m in twofa.secondary_auths()}
    assert kinds["Authenticator app"] == "totp" and kinds["Security key"] == "passkey"
