"""Email codes through the platform's own SMTP relay (the "Configio" provider)."""

from __future__ import annotations

from twofa_cli.channels.base import Channel, ChannelOptions, Message, Receipt
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
        raise DeliveryFailed("live SMTP delivery is not implemented yet")
