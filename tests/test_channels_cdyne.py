"""The Cdyne channel: requests against a local SMS Notify SendMessage endpoint."""

from __future__ import annotations

import logging

import pytest
from fakes import CDYNE_KEY, closed_port, fake_cdyne, hanging_port, http_server  # noqa: F401 (fixtures)

from twofa_cli.channels import Message
from twofa_cli.channels.cdyne import CdyneChannel, CdyneOptions
from twofa_cli.config import Settings
from twofa_cli.errors import DeliveryFailed
from twofa_cli.services.challenges import code_message

MESSAGE = code_message("Acme Events", "864209", 600, "+14155550199")


def channel(tmp_path, base_url: str, *, key: str = CDYNE_KEY, timeout: float = 5,
            from_number: str | None = "+14155550100") -> CdyneChannel:
    options = CdyneOptions(license_key=key, from_number=from_number, api_base_url=base_url)
    return CdyneChannel(options, Settings(home=tmp_path, delivery={"timeout_seconds": timeout}))


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    taken: list[float] = []
    monkeypatch.setattr("twofa_cli.channels.base.time.sleep", taken.append)
    return taken


def test_sends_the_documented_json(tmp_path, fake_cdyne):
    receipt = channel(tmp_path, fake_cdyne.base_url).send(MESSAGE)
    [body] = fake_cdyne.accepted
    assert body == {
        "LicenseKey": CDYNE_KEY,
        "To": ["14155550199"],
        "From": "14155550100",
        "Body": "Your Acme Events verification code is 864209. It expires in 10 minutes.",
        "UseMMS": False,
        "Concatenate": True,
        "IsUnicode": False,
    }
    assert receipt.channel == "cdyne" and receipt.to == "+14155550199"
    assert len(receipt.message_id) == 36 and receipt.status == "queued"


def test_without_a_sender_and_with_unicode(tmp_path, fake_cdyne):
    text = Message(to="+14155550199", subject="", text="Votre code Café Crème est 864209.")
    channel(tmp_path, fake_cdyne.base_url, from_number=None).send(text)
    [body] = fake_cdyne.accepted
    assert "From" not in body and body["IsUnicode"] is True


@pytest.mark.parametrize(("status", "reason"), [
    (401, "Cdyne rejected the License Key"),
    (403, "opted out"),
    (406, "destination number is invalid"),
])
def test_http_refusals_have_clear_reasons(tmp_path, fake_cdyne, sleeps, status, reason):
    fake_cdyne.fail_next(status, "refused")
    with pytest.raises(DeliveryFailed, match=reason) as failure:
        channel(tmp_path, fake_cdyne.base_url).send(MESSAGE)
    assert failure.value.provider_code == str(status) and failure.value.exit_code == 5
    assert len(fake_cdyne.requests) == 1 and sleeps == []  # 4xx: not retried


def test_wrong_license_key_is_never_echoed(tmp_path, fake_cdyne):
    wrong = "00000000-1111-2222-3333-444444444444"
    with pytest.raises(DeliveryFailed, match="Cdyne rejected the License Key") as failure:
        channel(tmp_path, fake_cdyne.base_url, key=wrong).send(MESSAGE)
    assert wrong not in failure.value.message


def test_other_refusal_shows_status_and_short_reply_without_the_key(tmp_path, fake_cdyne):
    fake_cdyne.fail_next(409, f"conflict for key {CDYNE_KEY} " + "x" * 500)
    with pytest.raises(DeliveryFailed, match="HTTP 409: conflict for key …") as failure:
        channel(tmp_path, fake_cdyne.base_url).send(MESSAGE)
    assert CDYNE_KEY not in failure.value.message
    assert len(failure.value.message) < 300


@pytest.mark.parametrize(("message_status", "reason"), [
    (401, "Cdyne rejected the License Key"),
    ("StopOnPhoneNumber", "opted out"),
    ("InvalidDestination", "destination number is invalid"),
    (506, "could not hand the message to the carrier"),
])
def test_refusal_inside_a_200_answer(tmp_path, fake_cdyne, sleeps, message_status, reason):
    # Cdyne may answer 200 and refuse the recipient in its MessageStatus.
    fake_cdyne.status_next(message_status)
    with pytest.raises(DeliveryFailed, match=reason):
        channel(tmp_path, fake_cdyne.base_url).send(MESSAGE)
    assert len(fake_cdyne.requests) == 1 and sleeps == []


def test_server_error_is_retried_once_then_succeeds(tmp_path, fake_cdyne, sleeps):
    fake_cdyne.fail_next(502, "bad gateway")
    receipt = channel(tmp_path, fake_cdyne.base_url).send(MESSAGE)
    assert receipt.status == "queued"
    assert len(fake_cdyne.requests) == 2 and len(fake_cdyne.accepted) == 1
    assert sleeps == [0.5]


def test_server_error_twice_fails(tmp_path, fake_cdyne, sleeps):
    fake_cdyne.fail_next(500, "oops")
    fake_cdyne.fail_next(500, "oops")
    with pytest.raises(DeliveryFailed, match="HTTP 500: oops"):
        channel(tmp_path, fake_cdyne.base_url).send(MESSAGE)
    assert len(fake_cdyne.requests) == 2 and fake_cdyne.accepted == []


def test_garbled_answer(tmp_path, fake_cdyne):
    fake_cdyne.fail_next(200, "<html>captive portal</html>", content_type="text/html")
    with pytest.raises(DeliveryFailed, match="Cdyne answered unexpectedly: <html>captive portal"):
        channel(tmp_path, fake_cdyne.base_url).send(MESSAGE)


def test_connection_refused_is_retried_once(tmp_path, closed_port, sleeps):
    with pytest.raises(DeliveryFailed, match="Cdyne unreachable at 127.0.0.1:\\d+: connection refused"):
        channel(tmp_path, f"http://127.0.0.1:{closed_port}").send(MESSAGE)
    assert len(sleeps) == 1


def test_hanging_api_times_out_without_retry(tmp_path, hanging_port, sleeps):
    with pytest.raises(DeliveryFailed, match="Cdyne unreachable: timed out after 1 s"):
        channel(tmp_path, f"http://127.0.0.1:{hanging_port}", timeout=1).send(MESSAGE)
    assert sleeps == []


def test_no_key_or_code_in_logs(tmp_path, fake_cdyne, caplog):
    caplog.set_level(logging.DEBUG)
    channel(tmp_path, fake_cdyne.base_url).send(MESSAGE)
    fake_cdyne.fail_next(401, "invalid")
    with pytest.raises(DeliveryFailed):
        channel(tmp_path, fake_cdyne.base_url).send(MESSAGE)
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # requests did log
    assert CDYNE_KEY not in caplog.text
    assert "864209" not in caplog.text
