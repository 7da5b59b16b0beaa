"""SMS codes through Cdyne's SMS Notify JSON API, with ``requests``."""

from __future__ import annotations

import re

from pydantic import field_validator

from twofa_cli import validate
from twofa_cli.channels.base import Channel, ChannelOptions, Message, Receipt
from twofa_cli.errors import BadInput, DeliveryFailed

CDYNE_API = "https://messaging.cdyne.com"
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class CdyneOptions(ChannelOptions):
    license_key: str
    from_number: str | None = None
    api_base_url: str = CDYNE_API

    @field_validator("license_key")
    @classmethod
    def _license_key(cls, value: str) -> str:
        if not _GUID.fullmatch(value or ""):
            raise BadInput("License Key must be the GUID from the Cdyne account (8-4-4-4-12 hex)")
        return value

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        return validate.phone_number(value) if value else None

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return validate.http_url(value, "api_base_url")


class CdyneChannel(Channel):
    name = "cdyne"
    medium = "sms"
    label = "SMS (Cdyne)"
    Options = CdyneOptions
    secret_fields = frozenset({"license_key"})
    instructions = """\
Custom Service Provider: Cdyne (SMS codes)

1. Sign in to your Cdyne account (https://www.cdyne.com) and open the
   Messaging (SMS Notify) product.
2. Copy the License Key shown for the account: a GUID such as
   F01D89FD-5155-5455-5585-E84AB8DE8591.
3. Note the number (short code or long code) your account sends from, in
   E.164 (e.g. +14155550123); leave it out to use the account's default.
4. Add the provider (the key is read without echo if you leave it out):
     twofa provider add custom cdyne --title "Cdyne SMS" --license-key-stdin \\
       --from-number +14155550123
5. Try it:  twofa provider test "Cdyne SMS" --to +14155550199 --live
"""

    def send(self, message: Message) -> Receipt:
        raise DeliveryFailed("live Cdyne delivery is not implemented yet")
