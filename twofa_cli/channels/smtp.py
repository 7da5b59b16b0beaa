"""Email codes through the platform's own SMTP relay (the "Configio" provider)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from twofa_cli.channels.base import (
    Channel,
    ChannelOptions,
    Message,
    Receipt,
    TransientFailure,
    network_reason,
    scrub,
    send_with_retry,
)
from twofa_cli.errors import DeliveryFailed


class SmtpOptions(ChannelOptions):
    """The relay itself is deployment config (``[smtp]`` in config.toml), not per provider."""


class SmtpChannel(Channel):
    name = "smtp"
    medium = "email"
    label = "Email (SMTP relay)"
    Options = SmtpOptions
    instructions = """\
Configio Service Provider: SMTP (email codes through the platform's relay)

1. Pick the relay host and port your platform sends mail through
   (587 with STARTTLS, 465 with implicit TLS, or 25 without TLS on a trusted network).
2. In TWOFA_HOME/config.toml set [smtp]: host, port, security ("starttls", "ssl"
   or "none"), username, from_address, and ca_file if the relay uses a private CA.
3. Put the relay password in the environment variable named by [smtp] password_env
   (default TWOFA_SMTP_PASSWORD); twofa never writes it to disk.
4. Add the provider:  twofa provider add configio smtp --title "Email"
5. Try it:  twofa provider test "Email" --to you@example.com --live
"""

    def send(self, message: Message) -> Receipt:
        relay = self.settings.smtp
        password = relay.password()
        if relay.username and not password:
            raise DeliveryFailed(
                f"[smtp] username is set but the environment variable {relay.password_env} "
                "that holds the relay password is empty"
            )
        context = self._tls_context() if relay.security != "none" else None
        email = self._email(message)
        send_with_retry(lambda: self._attempt(email, context, password))
        return Receipt(channel=self.name, to=message.to, message_id=email["Message-ID"])

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.settings.smtp.ca_file
        try:
            # Verifies the relay's certificate and host name; ca_file adds a private CA.
            return ssl.create_default_context(cafile=ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryFailed(
                f"cannot load [smtp] ca_file {ca_file!r}: {network_reason(exc)}"
            ) from None

    def _email(self, message: Message) -> EmailMessage:
        sender = self.settings.smtp.from_address
        email = EmailMessage()
        email["From"] = sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        # The sender's domain rather than socket.getfqdn(), which can stall on DNS.
        email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        email.set_content(message.text)
        return email

    def _attempt(self, email: EmailMessage, context: ssl.SSLContext | None, password: str) -> None:
        """One try at the relay; every failure becomes a DeliveryFailed with a plain reason."""
        relay = self.settings.smtp
        at = f"SMTP relay {relay.host}:{relay.port}"
        secrets = [password, email.get_content()]  # what the relay's replies must not echo
        try:
            self._transmit(email, context, password)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(f"{at} rejected the username or password ({_reply(exc, secrets)})",
                                 provider_code=str(exc.smtp_code)) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise DeliveryFailed(
                f"{at} refused the recipient {email['To']} ({code} {_text(text, secrets)})",
                provider_code=str(code),
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            raise DeliveryFailed(f"{at} refused the sender {relay.from_address} "
                                 f"({_reply(exc, secrets)})", provider_code=str(exc.smtp_code)) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryFailed(f"{at}: {str(exc).rstrip('.')}; check [smtp] security and username"
                                 ) from None
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib reports a read timeout as a disconnection; the cause tells them apart.
            if isinstance(exc.__context__, TimeoutError):
                raise DeliveryFailed(f"{at} timed out after {self.timeout:g} s") from None
            raise TransientFailure(f"{at} closed the connection") from None
        except smtplib.SMTPConnectError as exc:
            raise DeliveryFailed(f"{at} refused the connection ({_reply(exc, secrets)})",
                                 provider_code=str(exc.smtp_code)) from None
        except smtplib.SMTPResponseException as exc:  # HELO, MAIL or DATA refused
            raise DeliveryFailed(f"{at} refused the message ({_reply(exc, secrets)})",
                                 provider_code=str(exc.smtp_code)) from None
        except smtplib.SMTPException as exc:
            raise DeliveryFailed(f"{at} failed: {scrub(str(exc), secrets)}") from None
        except ssl.SSLError as exc:  # not retried: a certificate that fails now fails again
            hint = (" (set [smtp] ca_file for a private CA)"
                    if isinstance(exc, ssl.SSLCertVerificationError) else "")
            raise DeliveryFailed(f"{at}: TLS failed: {network_reason(exc)}{hint}") from None
        except TimeoutError:
            raise DeliveryFailed(f"{at} timed out after {self.timeout:g} s") from None
        except OSError as exc:  # refused, reset, no route, unknown host: nothing was sent
            raise TransientFailure(f"{at} unreachable: {network_reason(exc)}") from None

    def _transmit(self, email: EmailMessage, context: ssl.SSLContext | None, password: str) -> None:
        relay = self.settings.smtp
        if relay.security == "ssl":
            client = smtplib.SMTP_SSL(relay.host, relay.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(relay.host, relay.port, timeout=self.timeout)
        try:
            client.ehlo()
            if relay.security == "starttls":
                # Raises if the relay does not offer STARTTLS: the code (and the
                # password) never go out in clear when TLS was asked for.
                client.starttls(context=context)
                client.ehlo()
            if relay.username:
                client.login(relay.username, password)
            client.send_message(email)
        finally:
            _hang_up(client)


def _hang_up(client: smtplib.SMTP) -> None:
    """QUIT politely; once the relay took the message a rude goodbye must not cause a resend."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _reply(exc: smtplib.SMTPResponseException, secrets: list[str]) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error, secrets)}"


def _text(reply: bytes | str, secrets: list[str]) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return scrub(reply, secrets)
