"""Delivery channels, one module each, in a static registry keyed by name.

Channel modules import their transport (smtplib, twilio, requests) inside
``send`` so that listing or validating providers stays fast.
"""

from __future__ import annotations

from twofa_cli.channels.base import Channel, ChannelOptions, Message, Receipt
from twofa_cli.channels.cdyne import CdyneChannel
from twofa_cli.channels.smtp import SmtpChannel
from twofa_cli.channels.twilio import TwilioChannel
from twofa_cli.errors import BadInput

CHANNELS: dict[str, type[Channel]] = {
    channel.name: channel for channel in (SmtpChannel, TwilioChannel, CdyneChannel)
}


def channel_class(name: str) -> type[Channel]:
    try:
        return CHANNELS[name]
    except KeyError:
        raise BadInput(f"unknown channel {name!r}: choose from {', '.join(CHANNELS)}") from None


__all__ = ["CHANNELS", "Channel", "ChannelOptions", "Message", "Receipt", "channel_class"]
