"""SMS codes through Twilio's Messages API, with the official ``twilio`` SDK."""

from __future__ import annotations

import functools

from pydantic import field_validator, model_validator

from twofa_cli import validate
from twofa_cli.channels.base import (
    Channel,
    ChannelOptions,
    Message,
    Receipt,
    TransientFailure,
    check_destination,
    network_reason,
    redirect_refusal,
    scrub,
    send_with_retry,
    vendor_code,
    where,
)
from twofa_cli.errors import BadInput, DeliveryFailed

TWILIO_API = "https://api.twilio.com"
# Where `twofa serve` answers Twilio's status callbacks, under [web] public_url.
STATUS_CALLBACK_PATH = "/hooks/twilio/status"

# Twilio error codes (https://www.twilio.com/docs/api/errors) a shop admin can act on.
TWILIO_REASONS = {
    20003: "Twilio rejected the credentials: check the Account SID and Auth Token",
    21211: "Twilio says the 'To' number is not a valid phone number",
    21408: "Twilio may not send SMS to this country: enable it under Messaging > Settings > "
           "Geo permissions",
    21608: "the Twilio account is a trial and the 'To' number is not verified: verify it under "
           "Phone Numbers > Verified Caller IDs, or upgrade the account",
    21614: "the 'To' number is not a mobile number and cannot receive SMS",
    21635: "the 'To' number is not a mobile number and cannot receive SMS",
}


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
        return validate.provider_url(value, "api_base_url")

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
            raise BadInput("give exactly one sender: --from-number or --messaging-service-sid",
                           reason="one_sender")
        return self


class TwilioChannel(Channel):
    name = "twilio"
    medium = "sms"
    label = "SMS (Twilio)"
    Options = TwilioOptions
    secret_fields = frozenset({"auth_token"})
    reports_status = True
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
        # Imported here, not at the top: `twofa --help` must not pay for the SDK.
        from twilio.rest import Client

        options = self.options
        base_url = options.api_base_url
        client = Client(options.account_sid, options.auth_token,
                        http_client=_http_client_class()(base_url, self.timeout))
        if base_url != TWILIO_API:
            # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite the host
            # before our redirect sees it; api_base_url names the endpoint exactly.
            client.edge = client.region = None
        fields = ({"from_": options.from_number} if options.from_number
                  else {"messaging_service_sid": options.messaging_service_sid})
        if public_url := self.settings.web.public_url:  # Twilio reports the message's fate
            fields["status_callback"] = public_url + STATUS_CALLBACK_PATH

        def attempt() -> Receipt:
            sent = self._create(client, message, to=message.to, body=message.text, **fields)
            return self.receipt(message, sent.sid, sent.status or "sent")

        return send_with_retry(attempt)

    def _create(self, client, message: Message, **fields):
        """One Messages API request through the SDK; whatever it raises becomes a DeliveryFailed."""
        import requests
        from twilio.base.exceptions import TwilioException, TwilioRestException

        secrets = self.confidential(message)
        try:
            return client.messages.create(**fields)
        except TwilioRestException as exc:
            raise _refused(exc.status, exc.code, exc.msg, secrets) from None
        except TwilioException as exc:  # the newer RFC 9457 errors carry the same fields
            raise _refused(getattr(exc, "status", 0), getattr(exc, "code", None),
                           getattr(exc, "detail", None) or getattr(exc, "title", None) or str(exc),
                           secrets) from None
        except requests.ConnectionError as exc:  # includes ConnectTimeout: nothing was sent
            raise TransientFailure(f"Twilio unreachable at {where(self.options.api_base_url)}: "
                                   f"{network_reason(exc)}") from None
        except requests.Timeout:  # the request went out: Twilio may have taken it, do not resend
            raise DeliveryFailed(f"Twilio unreachable: timed out after {self.timeout:g} s "
                                 "waiting for an answer") from None
        except (requests.RequestException, ValueError) as exc:  # a garbled answer
            raise DeliveryFailed(f"Twilio answered unexpectedly: {scrub(str(exc), secrets)}") from None


def _refused(status: int, code: int | None, text: str, secrets: list[str]) -> DeliveryFailed:
    """The DeliveryFailed for a Twilio error answer; 5xx may be retried, 4xx never."""
    if 300 <= status < 400:
        return redirect_refusal("Twilio", status)
    code = vendor_code(code, 100_000)  # Twilio's error codes have five digits
    text = scrub(str(text or "").removeprefix("Unable to create record: "), secrets)
    reason = TWILIO_REASONS.get(code) or f"Twilio refused the message: {text or 'no reason given'}"
    failure = TransientFailure if status >= 500 else DeliveryFailed
    label = f"error {code}" if code else f"HTTP {status}"
    return failure(f"{reason} ({label})", provider_code=str(code or status))


@functools.cache
def _http_client_class():
    """Twilio's own HTTP client, sent to ``api_base_url`` and given our timeout.

    Every request goes only where the URL policy allows (``check_destination``, after
    TWILIO_EDGE or TWILIO_REGION may have rewritten the host) and never follows a redirect.
    Built on first use so that the twilio package is imported only when sending.
    """
    from twilio.http.http_client import TwilioHttpClient

    class RedirectingHttpClient(TwilioHttpClient):
        def __init__(self, base_url: str, timeout: float) -> None:
            super().__init__(timeout=timeout)
            self.base_url = base_url.rstrip("/")

        def request(self, method, url, *args, **kwargs):
            if url.startswith(TWILIO_API + "/"):
                url = self.base_url + url[len(TWILIO_API):]
            check_destination(url, "Twilio")
            return super().request(method, url, *args, **{**kwargs, "allow_redirects": False})

    return RedirectingHttpClient
