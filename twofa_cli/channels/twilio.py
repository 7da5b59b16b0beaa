"""SMS codes through Twilio's Messages API, with the official ``twilio`` SDK."""

from __future__ import annotations

from pydantic import field_validator, model_validator

from twofa_cli import validate
from twofa_cli.channels.base import Channel, ChannelOptions, Message, Receipt
from twofa_cli.errors import BadInput, DeliveryFailed

TWILIO_API = "https://api.twilio.com"


class TwilioOptions(ChannelOptions):
    account_sid: str
    auth_token: str
    from_number: str | None = None
    messaging_service_sid: str | None = None
    api_base_url: str = TWILIO_API

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        return validate.sid(value, "AC", "Account SID")

    @field_validator("auth_token")
    @classmethod
    def _auth_token(cls, value: str) -> str:
        if not value or len(value) > 128 or not value.isascii() or not value.isalnum():
            raise BadInput("Auth Token must be the alphanumeric token from the Twilio Console")
        return value

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        return validate.phone_number(value) if value else None

    @field_validator("messaging_service_sid")
    @classmethod
    def _messaging_service(cls, value: str | None) -> str | None:
        return validate.sid(value, "MG", "Messaging Service SID") if value else None

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return validate.http_url(value, "api_base_url")

    @classmethod
    def merge(cls, current: dict, changes: dict) -> dict:
        merged = {**current, **changes}
        # A new sender replaces the old one, whichever kind it was.
        if changes.get("from_number"):
            merged.pop("messaging_service_sid", None)
        if changes.get("messaging_service_sid"):
            merged.pop("from_number", None)
        return merged

    @model_validator(mode="after")
    def _one_sender(self) -> "TwilioOptions":
        if bool(self.from_number) == bool(self.messaging_service_sid):
            raise BadInput("give exactly one sender: --from-number or --messaging-service-sid")
        return self


class TwilioChannel(Channel):
    name = "twilio"
    medium = "sms"
    label = "SMS (Twilio)"
    Options = TwilioOptions
    secret_fields = frozenset({"auth_token"})
    instructions = """\
Custom Service Provider: Twilio (SMS codes)

1. Sign in at https://console.twilio.com (or create an account).
2. On the Console dashboard, under "Account Info", copy the Account SID
   (AC followed by 32 hex digits) and reveal and copy the Auth Token.
3. Get a sender: buy an SMS-capable number under Phone Numbers > Manage >
   Buy a number (note it in E.164, e.g. +14155550123), or create a Messaging
   Service under Messaging > Services and copy its SID (MG…).
4. Trial accounts can only text numbers verified under Phone Numbers >
   Verified Caller IDs; enable each destination country under Messaging >
   Settings > Geo permissions.
5. Add the provider (the token is read without echo if you leave it out):
     twofa provider add custom twilio --title "SMS" --account-sid AC… \\
       --auth-token-stdin --from-number +14155550123
6. Try it:  twofa provider test "SMS" --to +14155550199 --live
"""

    def send(self, message: Message) -> Receipt:
        raise DeliveryFailed("live Twilio delivery is not implemented yet")
