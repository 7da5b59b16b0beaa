"""The Twilio channel: the real SDK, redirected by api_base_url to a local Messages API."""

from __future__ import annotations

import logging

import pytest
from fakes import (  # noqa: F401 (fixtures)
    TWILIO_SID,
    TWILIO_TOKEN,
    closed_port,
    fake_twilio,
    hanging_port,
    http_server,
)

from twofa_cli.channels.twilio import TwilioChannel, TwilioOptions
from twofa_cli.config import Settings
from twofa_cli.errors import DeliveryFailed
from twofa_cli.services.challenges import code_message

MESSAGE = code_message("Acme Events", "135790", 600, "+14155550199")
SERVICE_SID = "MG" + "b2" * 16


def channel(tmp_path, base_url: str, *, token: str = TWILIO_TOKEN, timeout: float = 5,
            **sender) -> TwilioChannel:
    sender = sender or {"from_number": "+14155550100"}
    options = TwilioOptions(account_sid=TWILIO_SID, auth_token=token, api_base_url=base_url, **sender)
    return TwilioChannel(options, Settings(home=tmp_path, delivery={"timeout_seconds": timeout}))


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    taken: list[float] = []
    monkeypatch.setattr("twofa_cli.channels.base.time.sleep", taken.append)
    return taken


def test_sends_from_a_number(tmp_path, fake_twilio):
    receipt = channel(tmp_path, fake_twilio.base_url).send(MESSAGE)
    [form] = fake_twilio.accepted
    assert form == {"To": "+14155550199", "From": "+14155550100",
                    "Body": "Your Acme Events verification code is 135790. It expires in 10 minutes."}
    assert receipt.channel == "twilio" and receipt.to == "+14155550199"
    assert receipt.message_id.startswith("SM") and receipt.status == "queued"


def test_sends_through_a_messaging_service(tmp_path, fake_twilio):
    channel(tmp_path, fake_twilio.base_url, messaging_service_sid=SERVICE_SID).send(MESSAGE)
    [form] = fake_twilio.accepted
    assert form["MessagingServiceSid"] == SERVICE_SID and "From" not in form


def test_environment_edge_does_not_escape_api_base_url(tmp_path, fake_twilio, monkeypatch):
    # The SDK would send to api.sydney.au1.twilio.com; the configured endpoint must win.
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    channel(tmp_path, fake_twilio.base_url).send(MESSAGE)
    assert len(fake_twilio.accepted) == 1


def test_wrong_token(tmp_path, fake_twilio, sleeps):
    wrong = "wrong" + "0" * 27
    with pytest.raises(DeliveryFailed, match="Twilio rejected the credentials") as failure:
        channel(tmp_path, fake_twilio.base_url, token=wrong).send(MESSAGE)
    assert failure.value.provider_code == "20003" and failure.value.exit_code == 5
    assert wrong not in failure.value.message
    assert len(fake_twilio.requests) == 1 and sleeps == []  # 4xx: not retried


@pytest.mark.parametrize(("code", "reason"), [
    (21211, "'To' number is not a valid phone number"),
    (21408, "Geo permissions"),
    (21608, "trial .* Verified Caller IDs"),
    (21614, "not a mobile number"),
    (21635, "not a mobile number"),
    (30007, "Twilio refused the message: Message filtered"),
])
def test_error_codes_have_clear_reasons(tmp_path, fake_twilio, sleeps, code, reason):
    fake_twilio.fail_next(400, code, "Message filtered")
    with pytest.raises(DeliveryFailed, match=reason) as failure:
        channel(tmp_path, fake_twilio.base_url).send(MESSAGE)
    assert failure.value.provider_code == str(code)
    assert f"error {code}" in failure.value.message
    assert len(fake_twilio.requests) == 1 and sleeps == []


def test_server_error_is_retried_once_then_succeeds(tmp_path, fake_twilio, sleeps):
    fake_twilio.fail_next(503, 20500, "Service unavailable")
    receipt = channel(tmp_path, fake_twilio.base_url).send(MESSAGE)
    assert receipt.message_id.startswith("SM")
    assert len(fake_twilio.requests) == 2 and len(fake_twilio.accepted) == 1
    assert sleeps == [0.5]


def test_server_error_twice_fails(tmp_path, fake_twilio, sleeps):
    fake_twilio.fail_next(500, 20500, "Internal error")
    fake_twilio.fail_next(500, 20500, "Internal error")
    with pytest.raises(DeliveryFailed, match="Internal error"):
        channel(tmp_path, fake_twilio.base_url).send(MESSAGE)
    assert len(fake_twilio.requests) == 2 and fake_twilio.accepted == []


def test_connection_refused_is_retried_once(tmp_path, closed_port, sleeps):
    with pytest.raises(DeliveryFailed, match="Twilio unreachable at 127.0.0.1:\\d+: connection refused"):
        channel(tmp_path, f"http://127.0.0.1:{closed_port}").send(MESSAGE)
    assert len(sleeps) == 1


def test_hanging_api_times_out_without_retry(tmp_path, hanging_port, sleeps):
    with pytest.raises(DeliveryFailed, match="Twilio unreachable: timed out after 1 s"):
        channel(tmp_path, f"http://127.0.0.1:{hanging_port}", timeout=1).send(MESSAGE)
    assert sleeps == []


def test_garbled_answer(tmp_path, http_server):
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    http_server.expect_request(path, method="POST").respond_with_data("<html>proxy</html>", status=201)
    with pytest.raises(DeliveryFailed, match="Twilio answered unexpectedly"):
        channel(tmp_path, http_server.url_for("/").rstrip("/")).send(MESSAGE)


def test_no_token_or_code_in_logs(tmp_path, fake_twilio, caplog):
    caplog.set_level(logging.DEBUG)
    channel(tmp_path, fake_twilio.base_url).send(MESSAGE)
    fake_twilio.fail_next(400, 21211, "bad To")
    with pytest.raises(DeliveryFailed):
        channel(tmp_path, fake_twilio.base_url).send(MESSAGE)
    assert any(r.name.startswith("twilio") for r in caplog.records)  # the SDK did log
    assert TWILIO_TOKEN not in caplog.text
    assert "135790" not in caplog.text


def test_sdk_is_not_imported_by_the_cli_module():
    import subprocess
    import sys

    probe = "import sys, twofa_cli.cli.main, twofa_cli.channels; print('twilio' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
