"""Delivery you can see (SECURITY.md rule 37): Twilio's signed status callbacks, failover
to a fallback provider, the per-country SMS budget, ``twofa delivery list/stats``.

Against local fake Twilio servers driven through the real ``twilio`` SDK; the callbacks
are signed here with ``RequestValidator`` as Twilio signs them. On both stores.
"""

from __future__ import annotations

import warnings

import pytest
from fakes import (  # noqa: F401 (fixtures)
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeTwilio,
    code_in,
    configure,
    http_server,
)
from twilio.request_validator import RequestValidator

from twofa_cli import TwoFactor
from twofa_cli.errors import DeliveryFailed, Rejected, Throttled

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PUBLIC_URL = "https://shop.example.com"
HOOK = "/hooks/twilio/status"
ALICE = "alice@example.com"
PASSWORD = "correct horse battery"
PHONE = "+14155550199"
OTHER_SID = "AC" + "b2" * 16
OTHER_TOKEN = "tok" + "7e" * 14 + "zz"


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr("twofa_cli.channels.base.time.sleep", lambda seconds: None)


@pytest.fixture
def twilio(http_server) -> FakeTwilio:
    return FakeTwilio(http_server)


@pytest.fixture
def backup(http_server) -> FakeTwilio:
    """A second Twilio account on the same local server (its own SID, so its own path)."""
    return FakeTwilio(http_server, sid=OTHER_SID, token=OTHER_TOKEN)


def _twilio_options(fake: FakeTwilio) -> dict:
    return {"account_sid": fake.sid, "auth_token": fake.token, "from_number": "+14155550100",
            "api_base_url": fake.base_url}


@pytest.fixture
def twofa(home, clock, twilio):
    configure(home, delivery={"mode": "live", "timeout_seconds": 2},
              web={"public_url": PUBLIC_URL})
    with TwoFactor.open(home, actor="tester", clock=clock) as opened:
        opened.set_company_name("Acme Events")
        opened.add_provider("twilio", title="SMS", options=_twilio_options(twilio))
        opened.set_allowed("customer", True)
        opened.add_account(ALICE, PASSWORD)
        yield opened


@pytest.fixture
def client(twofa):
    from twofa_cli.web import create_app

    with TestClient(create_app(twofa), base_url="https://shop.example.com") as test_client:
        yield test_client


def enrol(twofa) -> None:
    twofa.enroll(ALICE, method="Text", phone=PHONE)


def report(message_id: str, status: str, *, sid: str = TWILIO_SID, **extra: str) -> dict:
    return {"MessageSid": message_id, "SmsSid": message_id, "AccountSid": sid,
            "MessageStatus": status, "SmsStatus": status, "To": PHONE, "From": "+14155550100",
            "ApiVersion": "2010-04-01", **extra}


def signed(form: dict, *, token: str = TWILIO_TOKEN, url: str = PUBLIC_URL + HOOK) -> str:
    return RequestValidator(token).compute_signature(url, form)


def post(client, form: dict, signature: str | None):
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return client.post(HOOK, data=form, headers=headers)


def only_delivery(twofa):
    [delivery] = twofa.deliveries()
    return delivery


# -- the callback URL -----------------------------------------------------------------


def test_live_twilio_sends_ask_for_the_status_callback(twofa, twilio):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    [form] = twilio.accepted
    assert form["StatusCallback"] == "https://shop.example.com/hooks/twilio/status"
    delivery = only_delivery(twofa)
    assert delivery.status == "queued" and delivery.provider == "SMS"
    assert delivery.provider_message_id.startswith("SM") and delivery.destination != PHONE


def test_without_a_public_url_no_callback_is_asked_for(home, twofa, twilio, clock):
    configure(home, web={"public_url": ""})
    with TwoFactor.open(home, clock=clock) as reopened:
        reopened.add_secondary_auth(provider="SMS", title="Text")
        enrol(reopened)
    assert "StatusCallback" not in twilio.accepted[0]


@pytest.mark.parametrize("url", [
    "http://shop.example.com", "ftp://shop.example.com", "https://shop.example.com/\r\nX: y",
    "https://user:pw@shop.example.com", "https://169.254.169.254"])
def test_public_url_is_checked_like_a_providers(cli, url):
    run = cli("config", "set", "web.public_url", url, "--json")
    assert run.exit_code == 2, run.stdout


# -- signed reports ---------------------------------------------------------------------


def test_a_signed_report_moves_the_delivery_to_delivered(twofa, client):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    sid = only_delivery(twofa).provider_message_id
    form = report(sid, "delivered")
    response = post(client, form, signed(form))
    assert response.status_code == 204
    delivery = only_delivery(twofa)
    assert (delivery.status, delivery.error_code) == ("delivered", None)
    assert delivery.updated_at is not None
    assert "set-cookie" not in response.headers  # a machine endpoint: no cookie either way


def test_the_signature_over_the_url_with_its_default_port_is_accepted(twofa, client):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    form = report(only_delivery(twofa).provider_message_id, "sent")
    assert post(client, form, signed(form, url=PUBLIC_URL + ":443" + HOOK)).status_code == 204
    assert only_delivery(twofa).status == "sent"


def test_undelivered_keeps_its_error_code(twofa, client):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    form = report(only_delivery(twofa).provider_message_id, "undelivered", ErrorCode="30003")
    assert post(client, form, signed(form)).status_code == 204
    delivery = only_delivery(twofa)
    assert (delivery.status, delivery.error_code) == ("undelivered", "30003")
    assert [d.id for d in twofa.deliveries(status="undelivered")] == [delivery.id]
    assert twofa.deliveries(status="delivered") == []


@pytest.mark.parametrize("forge", ["tampered", "missing", "wrong token", "other url", "no sid"])
def test_a_bad_signature_is_refused_and_changes_nothing(twofa, client, forge):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    before = only_delivery(twofa)
    form = report(before.provider_message_id, "delivered")
    signature = {
        "tampered": signed(report(before.provider_message_id, "failed")),
        "missing": None,
        "wrong token": signed(form, token="tok" + "00" * 15),
        "other url": signed(form, url="https://evil.example.com" + HOOK),
        "no sid": signed({**form, "AccountSid": ""}),
    }[forge]
    if forge == "no sid":
        form = {**form, "AccountSid": ""}
    response = post(client, form, signature)
    assert response.status_code == 403
    assert only_delivery(twofa) == before


def test_the_library_refuses_an_unsigned_report(twofa):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    before = only_delivery(twofa)
    with pytest.raises(Rejected):
        twofa.record_twilio_status(report(before.provider_message_id, "delivered"), "")
    assert only_delivery(twofa) == before


def test_a_status_never_moves_backwards_and_repeats_change_nothing(twofa, client):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    sid = only_delivery(twofa).provider_message_id
    delivered = report(sid, "delivered")
    assert twofa.record_twilio_status(delivered, signed(delivered)).changed
    after = only_delivery(twofa)
    for late in ("sent", "queued", "failed", "undelivered", "delivered"):  # out of order, repeats
        form = report(sid, late)
        result = twofa.record_twilio_status(form, signed(form))
        assert not result.changed
        assert post(client, form, signed(form)).status_code == 204
    assert only_delivery(twofa) == after


def test_a_report_of_another_message_or_status_changes_nothing(twofa, client):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    before = only_delivery(twofa)
    for form in (report("SM" + "0" * 32, "delivered"), report(before.provider_message_id, "odd")):
        assert post(client, form, signed(form)).status_code == 204
    assert only_delivery(twofa) == before


@pytest.mark.parametrize("request_kwargs", [
    {"content": b"\xff\xfe=\x00", "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"content": b"{}", "headers": {"content-type": "application/json"}},
    {"content": b"a=" + b"x" * 20_000, "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"content": b"a=1&a=2", "headers": {"content-type": "application/x-www-form-urlencoded"}},
    {"content": b"&".join(b"k%d=v" % n for n in range(100)),
     "headers": {"content-type": "application/x-www-form-urlencoded"}},
])
def test_garbage_is_a_4xx_never_a_5xx(twofa, client, request_kwargs):
    response = client.post(HOOK, **request_kwargs)
    assert 400 <= response.status_code < 500


def test_the_hook_takes_post_only_and_the_pages_keep_their_csrf_check(twofa, client):
    assert client.get(HOOK).status_code == 405
    # The exemption is the /hooks/ prefix only: a page POST without a token is still refused.
    assert client.post("/login", data={"email": ALICE, "password": PASSWORD}).status_code == 403


def test_without_a_public_url_every_report_is_refused(home, twofa, clock):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    configure(home, web={"public_url": ""})
    with TwoFactor.open(home, clock=clock) as reopened:
        form = report(only_delivery(twofa).provider_message_id, "delivered")
        with pytest.raises(Rejected):
            reopened.record_twilio_status(form, signed(form))


# -- failover -------------------------------------------------------------------------


def test_a_failing_provider_hands_the_same_code_to_its_fallback(twofa, twilio, backup):
    twofa.add_provider("twilio", title="Backup", options=_twilio_options(backup))
    method = twofa.add_secondary_auth(provider="SMS", title="Text", fallbacks=("Backup",))
    assert method.fallbacks == ("Backup",)
    twilio.fail_next(500, 20500, "Internal Server Error")
    twilio.fail_next(500, 20500, "Internal Server Error")  # the retry fails too
    enrol(twofa)
    assert twilio.accepted == [] and len(backup.accepted) == 1  # the customer got one message
    twofa.verify(ALICE, code_in(backup.accepted[0]["Body"]))
    [delivery] = twofa.deliveries()  # one send, counted once, by the provider that sent it
    assert delivery.provider == "Backup"
    [failover] = [e for e in twofa.audit() if e.action == "delivery.failover"]
    assert "'SMS' passed over" in failover.detail and "sent by 'Backup'" in failover.detail


def test_a_provider_over_its_cap_is_passed_over(home, twofa, twilio, backup, clock):
    configure(home, throttle={"provider_hourly_cap": 1})
    with TwoFactor.open(home, actor="tester", clock=clock) as capped:
        capped.add_provider("twilio", title="Backup", options=_twilio_options(backup))
        capped.add_secondary_auth(provider="SMS", title="Text", fallbacks=("Backup",))
        capped.test_provider("SMS", to="+14155550111", live=True)  # spends SMS's cap
        capped.enroll(ALICE, method="Text", phone=PHONE)
        assert len(twilio.accepted) == 1 and len(backup.accepted) == 1
        [failover] = [e for e in capped.audit() if e.action == "delivery.failover"]
        assert "reached its cap" in failover.detail


def test_every_provider_failing_is_exit_5_naming_each(twofa, twilio, backup, cli):
    twofa.add_provider("twilio", title="Backup", options=_twilio_options(backup))
    twofa.add_secondary_auth(provider="SMS", title="Text", fallbacks=("Backup",))
    twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    backup.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    with pytest.raises(DeliveryFailed, match="'SMS' passed over.*'Backup' passed over"):
        enrol(twofa)
    twilio.fail_next(400, 21610, "unsubscribed")
    backup.fail_next(400, 21610, "unsubscribed")
    run = cli("enroll", ALICE, "--method", "Text", "--phone", PHONE, "--json")
    assert run.exit_code == 5
    assert twofa.deliveries() == [] and twilio.accepted == backup.accepted == []
    [failed, *_] = [e for e in twofa.audit() if e.outcome == "delivery_failed"]
    assert "'SMS'" in failed.detail and "'Backup'" in failed.detail


def test_fallbacks_keep_their_order_and_medium(twofa, backup, cli):
    twofa.add_provider("twilio", title="Backup", options=_twilio_options(backup))
    twofa.add_provider("smtp", title="Email")
    twofa.add_provider("twilio", title="Third", options={**_twilio_options(backup),
                                                         "from_number": "+14155550101"})
    with pytest.raises(Exception, match="sends email"):
        twofa.add_secondary_auth(provider="SMS", title="Text", fallbacks=("Email",))
    run = cli("secondary-auth", "add", "--provider", "SMS", "--title", "Text",
              "--fallback", "Third", "--fallback", "Backup", "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json["fallbacks"] == ["Third", "Backup"]
    [method] = twofa.export()["secondary_auth"]
    assert method["fallbacks"] == ["Third", "Backup"]
    run = cli("secondary-auth", "update", "Text", "--fallback", "Backup", "--json")
    assert run.json["fallbacks"] == ["Backup"]
    assert cli("secondary-auth", "update", "Text", "--no-fallbacks", "--json").json["fallbacks"] == []


def test_apply_sets_fallbacks_and_applying_twice_changes_nothing(twofa, backup, tmp_path,
                                                                monkeypatch):
    twofa.add_provider("twilio", title="Backup", options=_twilio_options(backup))
    twofa.add_secondary_auth(provider="SMS", title="Text")
    monkeypatch.setenv("SMS_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("BACKUP_AUTH_TOKEN", OTHER_TOKEN)
    document = twofa.export_toml().replace('provider = "SMS"',
                                           'provider = "SMS"\nfallbacks = ["Backup"]')
    path = tmp_path / "setup.toml"
    path.write_text(document)
    applied = twofa.apply(path)
    assert [(c.kind, c.name) for c in applied.changes] == [("secondary_auth", "Text")]
    assert twofa.secondary_auth("Text").fallbacks == ("Backup",)
    assert twofa.apply(path).changes == ()


# -- the per-country budget --------------------------------------------------------------


def test_the_per_country_budget_refuses_and_audits(home, twofa, twilio, clock):
    configure(home, sms={"max_per_country_per_hour": 1})
    with TwoFactor.open(home, actor="tester", clock=clock) as budgeted:
        budgeted.add_secondary_auth(provider="SMS", title="Text")
        budgeted.test_provider("SMS", to="+14155550111", live=True)  # the US budget is spent
        with pytest.raises(Throttled, match="max_per_country_per_hour") as refused:
            budgeted.enroll(ALICE, method="Text", phone=PHONE)
        assert 0 < refused.value.retry_after <= 3601
        assert len(twilio.accepted) == 1
        [audited] = [e for e in budgeted.audit() if e.outcome == "country_budget"]
        assert "US" in audited.detail
        assert refused.value.exit_code == 4
        budgeted.enroll(ALICE, method="Text", phone="+442071838750")  # another country
        assert len(twilio.accepted) == 2


# -- list and stats ------------------------------------------------------------------------


def test_delivery_list_and_stats_in_the_cli(twofa, client, cli):
    twofa.add_secondary_auth(provider="SMS", title="Text")
    enrol(twofa)
    form = report(only_delivery(twofa).provider_message_id, "delivered")
    assert post(client, form, signed(form)).status_code == 204
    [row] = cli("delivery", "list", "--json").json
    assert set(row) == {"id", "provider_id", "provider", "destination", "status", "error_code",
                        "provider_message_id", "sent_at", "updated_at"}
    assert row["status"] == "delivered" and row["destination"] != PHONE
    assert cli("delivery", "list", "--status", "failed", "--json").json == []
    assert cli("delivery", "list", "--provider", "nope", "--json").exit_code == 3
    assert cli("delivery", "list", "--status", "lost", "--json").exit_code == 2
    # The CLI counts by the wall clock; the test's clock is months behind it.
    assert cli("delivery", "stats", "--hours", "1", "--json").exit_code == 0
    [stats] = twofa.delivery_stats(hours=1)
    assert (stats.provider, stats.sent, stats.delivered, stats.undelivered, stats.failed) == (
        "SMS", 1, 1, 0, 0)
