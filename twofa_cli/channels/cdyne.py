"""SMS codes through Cdyne's SMS Notify JSON API, with ``requests``."""

from __future__ import annotations

import re

from pydantic import field_validator

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

CDYNE_API = "https://messaging.cdyne.com"
SEND_PATH = "/Messaging.svc/SendMessage"

# Cdyne's MessageStatus values, which double as the HTTP status of a refused request
# (https://wiki.cdyne.com/index.php/MMS, "Return Codes"). Below 400 means accepted.
CDYNE_REASONS = {
    400: "Cdyne says the sender number is invalid or cannot send to this destination",
    401: "Cdyne rejected the License Key",
    402: "the Cdyne account is suspended",
    403: "the recipient opted out (STOP) of messages from this Cdyne account",
    404: "Cdyne found no sender number (DID or short code) for this account",
    406: "Cdyne says the destination number is invalid",
    411: "Cdyne received an empty message",
    413: "Cdyne says the message is too long",
    506: "Cdyne could not hand the message to the carrier",
    507: "Cdyne cancelled the message",
    508: "the carrier refused the message",
}
# MessageStatus may come as its enum name rather than its number.
_STATUS_NAMES = {
    "hold": 0, "sent": 200, "ready": 201, "processing": 202, "invaliddid": 400,
    "invalidlicensekey": 401, "accountsuspended": 402, "stoponphonnumber": 403,
    "stoponphonenumber": 403, "missingdidorinvalidmessageid": 404, "invaliddatetime": 405,
    "invaliddestination": 406, "nomessage": 411, "messageexceedslimit": 413, "failed": 506,
    "cancelled": 507, "failedbyprovider": 508,
}
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
        return validate.provider_url(value, "api_base_url")


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
        payload = {
            "LicenseKey": self.options.license_key,
            # Cdyne documents numbers as bare digits with the country code (15551234567).
            "To": [_digits(message.to)],
            "Body": message.text,
            "UseMMS": False,
            "Concatenate": True,
            "IsUnicode": not message.text.isascii(),
        }
        if self.options.from_number:
            payload["From"] = _digits(self.options.from_number)
        return send_with_retry(lambda: self._attempt(message, payload))

    def _attempt(self, message: Message, payload: dict) -> Receipt:
        # Imported here, not at the top: listing providers must not pay for requests.
        import requests

        url = self.options.api_base_url + SEND_PATH
        secrets = self.confidential(message)
        check_destination(url, "Cdyne")
        try:
            # A redirect is a failure (redirect_refusal): following a 307 or 308 would re-send
            # the License Key and the code to wherever the answer points.
            response = requests.post(url, json=payload, timeout=self.timeout,
                                     headers={"Accept": "application/json"}, allow_redirects=False)
        except requests.ConnectionError as exc:  # includes ConnectTimeout: nothing was sent
            raise TransientFailure(
                f"Cdyne unreachable at {where(url)}: {network_reason(exc)}") from None
        except requests.Timeout:  # the request went out: Cdyne may have taken it, do not resend
            raise DeliveryFailed(
                f"Cdyne unreachable: timed out after {self.timeout:g} s waiting for an answer"
            ) from None
        except requests.RequestException as exc:
            raise DeliveryFailed(f"Cdyne request failed: {scrub(str(exc), secrets)}") from None
        if response.status_code not in (200, 201, 202):
            raise _refused(response.status_code, response.text, secrets)
        try:
            reply = response.json()[0]
            message_id = str(reply["MessageID"])
            status = _status_code(reply.get("MessageStatus"))
        except (ValueError, LookupError, TypeError, AttributeError):
            raise DeliveryFailed(
                f"Cdyne answered unexpectedly: {scrub(response.text, secrets) or 'an empty reply'} "
                f"(HTTP {response.status_code})",
                provider_code=str(response.status_code),
            ) from None
        if status is not None and status >= 400:
            known = vendor_code(status, 1000)  # Cdyne's statuses have three digits
            raise DeliveryFailed(
                f"{CDYNE_REASONS.get(status, 'Cdyne refused the message')} "
                f"({f'status {known}' if known else 'an unknown status'})",
                provider_code=str(known) if known else None,
            )
        return self.receipt(message, message_id, _status_name(status))


def _digits(number: str) -> str:
    return number.removeprefix("+")


def _status_code(value: object) -> int | None:
    """MessageStatus as a number, whether Cdyne sent 201 or "Ready"; None if absent or unknown."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value) if value.isdigit() else _STATUS_NAMES.get(value.lower())
    return None


def _status_name(code: int | None) -> str:
    return {0: "hold", 200: "sent", 201: "queued", 202: "processing"}.get(code, "sent")


def _refused(status: int, text: str, secrets: list[str]) -> DeliveryFailed:
    """The DeliveryFailed for an HTTP error answer; 5xx may be retried, 4xx never."""
    if 300 <= status < 400:
        return redirect_refusal("Cdyne", status)
    if status in CDYNE_REASONS and status < 500:
        return DeliveryFailed(f"{CDYNE_REASONS[status]} (HTTP {status})", provider_code=str(status))
    failure = TransientFailure if status >= 500 else DeliveryFailed
    detail = scrub(text, secrets) or "no reason given"
    return failure(f"Cdyne refused the message: HTTP {status}: {detail}", provider_code=str(status))
