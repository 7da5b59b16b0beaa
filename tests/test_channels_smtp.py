"""The SMTP channel against a real aiosmtpd relay on 127.0.0.1: plain, STARTTLS, implicit TLS."""

from __future__ import annotations

import logging

import pytest
from fakes import (  # noqa: F401 (fixtures)
    SMTP_PASSWORD,
    SMTP_USER,
    certificate,
    closed_port,
    hanging_port,
    smtp_relay,
    smtp_settings,
)

from twofa_cli.channels.smtp import SmtpChannel, SmtpOptions
from twofa_cli.config import Settings
from twofa_cli.errors import DeliveryFailed
from twofa_cli.services.challenges import code_message

MESSAGE = code_message("Acme Events", "246810", 600, "alice@example.com")


def channel(tmp_path, config: dict) -> SmtpChannel:
    return SmtpChannel(SmtpOptions(), Settings(home=tmp_path, **config))


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv("TWOFA_SMTP_PASSWORD", SMTP_PASSWORD)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The retry back-offs taken (recorded instead of slept)."""
    taken: list[float] = []
    monkeypatch.setattr("twofa_cli.channels.base.time.sleep", taken.append)
    return taken


def assert_delivered(relay, receipt) -> None:
    email = relay.last()
    assert email["From"] == "no-reply@acme.example"
    assert email["To"] == "alice@example.com"
    assert email["Subject"] == "Acme Events verification code"
    assert "Your Acme Events verification code is 246810" in email.get_content()
    assert receipt.channel == "smtp"
    assert receipt.to == "alice@example.com"
    assert receipt.message_id == email["Message-ID"]
    assert receipt.message_id.endswith("@acme.example>")


@pytest.mark.parametrize("security", ["starttls", "ssl", "none"])
def test_delivers_with_auth_over_each_security(tmp_path, certificate, password, security):
    with smtp_relay(security, certificate=certificate, username=SMTP_USER,
                    password=SMTP_PASSWORD) as relay:
        config = smtp_settings(relay, certificate=certificate, username=SMTP_USER)
        receipt = channel(tmp_path, config).send(MESSAGE)
    assert_delivered(relay, receipt)
    mail_from, recipients, login = relay.envelopes[-1]
    assert (mail_from, recipients, login) == ("no-reply@acme.example", ["alice@example.com"], SMTP_USER)


def test_delivers_without_auth_when_no_username(tmp_path):
    with smtp_relay("none") as relay:
        receipt = channel(tmp_path, smtp_settings(relay)).send(MESSAGE)
    assert_delivered(relay, receipt)
    assert relay.envelopes[-1][2] is None


def test_wrong_password_is_refused_once_and_not_echoed(tmp_path, certificate, monkeypatch, sleeps):
    monkeypatch.setenv("TWOFA_SMTP_PASSWORD", "not-the-password")
    with smtp_relay("starttls", certificate=certificate, username=SMTP_USER,
                    password=SMTP_PASSWORD) as relay:
        config = smtp_settings(relay, certificate=certificate, username=SMTP_USER)
        with pytest.raises(DeliveryFailed, match="rejected the username or password") as failure:
            channel(tmp_path, config).send(MESSAGE)
    assert failure.value.exit_code == 5
    assert failure.value.provider_code == "535"
    assert "not-the-password" not in failure.value.message
    assert relay.auth_failures >= 1  # the relay did check (smtplib tries PLAIN, then LOGIN)
    assert sleeps == []  # a refusal is not retried
    assert relay.messages == []


def test_username_without_password_in_the_environment(tmp_path):
    with smtp_relay("none", username=SMTP_USER, password=SMTP_PASSWORD) as relay:
        config = smtp_settings(relay, username=SMTP_USER)
        with pytest.raises(DeliveryFailed, match="TWOFA_SMTP_PASSWORD .* is empty"):
            channel(tmp_path, config).send(MESSAGE)
    assert relay.messages == []


def test_refused_recipient(tmp_path, sleeps):
    with smtp_relay("none", refuse={"alice@example.com"}) as relay:
        with pytest.raises(DeliveryFailed, match=r"refused the recipient alice@example.com \(550 ") as failure:
            channel(tmp_path, smtp_settings(relay)).send(MESSAGE)
    assert failure.value.provider_code == "550"
    assert relay.messages == [] and sleeps == []


def test_certificate_not_trusted_without_ca_file(tmp_path, certificate, sleeps):
    with smtp_relay("starttls", certificate=certificate) as relay:
        config = smtp_settings(relay)  # no ca_file: the system store does not know this CA
        with pytest.raises(DeliveryFailed, match="TLS certificate not trusted.*ca_file"):
            channel(tmp_path, config).send(MESSAGE)
    assert relay.messages == [] and sleeps == []


def test_unreadable_ca_file(tmp_path):
    config = {"smtp": {"host": "127.0.0.1", "ca_file": str(tmp_path / "missing.pem")}}
    with pytest.raises(DeliveryFailed, match="cannot load \\[smtp\\] ca_file"):
        channel(tmp_path, config).send(MESSAGE)


def test_starttls_asked_but_not_offered_never_sends_in_clear(tmp_path, password):
    with smtp_relay("none", username=SMTP_USER, password=SMTP_PASSWORD) as relay:
        config = smtp_settings(relay, username=SMTP_USER)
        config["smtp"]["security"] = "starttls"
        with pytest.raises(DeliveryFailed, match="STARTTLS extension not supported"):
            channel(tmp_path, config).send(MESSAGE)
    assert relay.messages == [] and relay.envelopes == []


def test_connection_refused_is_retried_once(tmp_path, closed_port, sleeps):
    config = {"smtp": {"host": "127.0.0.1", "port": closed_port, "security": "none"}}
    with pytest.raises(DeliveryFailed, match=f"127.0.0.1:{closed_port} unreachable: connection refused"):
        channel(tmp_path, config).send(MESSAGE)
    assert len(sleeps) == 1


def test_hanging_relay_times_out_without_retry(tmp_path, hanging_port, sleeps):
    config = {"delivery": {"timeout_seconds": 1},
              "smtp": {"host": "127.0.0.1", "port": hanging_port, "security": "none"}}
    with pytest.raises(DeliveryFailed, match="timed out after 1 s"):
        channel(tmp_path, config).send(MESSAGE)
    assert sleeps == []


def test_no_password_or_code_in_logs(tmp_path, certificate, password, caplog):
    caplog.set_level(logging.DEBUG)
    with smtp_relay("starttls", certificate=certificate, username=SMTP_USER,
                    password=SMTP_PASSWORD) as relay:
        channel(tmp_path, smtp_settings(relay, certificate=certificate, username=SMTP_USER)).send(MESSAGE)
    assert relay.messages
    # Our side only: the fake relay's own "mail.log" debug output shows whatever it received.
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert SMTP_PASSWORD not in ours
    assert "246810" not in ours
