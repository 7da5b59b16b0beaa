"""The one interface every delivery channel implements."""

from __future__ import annotations

import base64
import functools
import json
import re
import socket
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal
from urllib.parse import quote, quote_plus, urlsplit

from pydantic import BaseModel, ConfigDict

from twofa_cli import validate
from twofa_cli.config import Settings
from twofa_cli.errors import BadInput, DeliveryFailed
from twofa_cli.validate import printable

# Long enough for a relay or API front end to recover from a blip, short enough
# that a customer waiting for a code does not notice.
RETRY_BACKOFF_SECONDS = 0.5


class ChannelOptions(BaseModel):
    """A provider's stored options; fields named in ``Channel.secret_fields`` are encrypted."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def merge(cls, current: dict, changes: dict) -> dict:
        """The options after an update; channels with exclusive options override this."""
        return {**current, **changes}


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str


@dataclass(frozen=True)
class Receipt:
    channel: str
    to: str
    message_id: str
    status: str = "sent"


class Channel(ABC):
    name: ClassVar[str]
    medium: ClassVar[Literal["email", "sms"]]
    label: ClassVar[str]
    Options: ClassVar[type[ChannelOptions]] = ChannelOptions
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    instructions: ClassVar[str]
    # Whether the provider later reports each message's fate (Twilio's status callbacks);
    # without, a delivery stays "sent" once the provider took it.
    reports_status: ClassVar[bool] = False

    def __init__(self, options: ChannelOptions, settings: Settings) -> None:
        self.options = options
        self.settings = settings

    @property
    def timeout(self) -> float:
        return self.settings.delivery.timeout_seconds

    @abstractmethod
    def send(self, message: Message) -> Receipt:
        """Deliver one message or raise ``twofa_cli.errors.DeliveryFailed``."""

    def confidential(self, message: Message) -> list[str]:
        """What a provider's reply must never echo: this channel's credentials and the message."""
        return [*(getattr(self.options, name) or "" for name in sorted(self.secret_fields)),
                message.text]

    def receipt(self, message: Message, message_id: object, status: object = "sent") -> Receipt:
        """The receipt for a message the provider took, its fields checked (``receipt_field``)."""
        secrets = self.confidential(message)
        return Receipt(channel=self.name, to=message.to,
                       message_id=receipt_field(message_id, secrets, "unknown"),
                       status=receipt_field(status, secrets, "sent"))


class TransientFailure(DeliveryFailed):
    """A failure worth one more try: the connection failed, or the provider answered 5xx.

    Channels never raise it for a refusal (HTTP 4xx, an SMTP 5xx reply) or for a
    timeout after the request went out: the provider may already have taken that
    message, and a second SMS costs money and confuses the customer.
    """


def send_with_retry(attempt: Callable[[], Receipt]) -> Receipt:
    """Run ``attempt``; after a ``TransientFailure``, wait a moment and run it once more.

    The second failure propagates as it is (a ``DeliveryFailed``, exit code 5).
    """
    try:
        return attempt()
    except TransientFailure:
        time.sleep(RETRY_BACKOFF_SECONDS)
        return attempt()


# -- what a provider says ---------------------------------------------------------------
#
# Nothing a provider says is stored or printed verbatim: its status and error code are kept
# as numbers, and its words only as a bounded reason from which every secret is cut.

REDACTED = "…"
REASON_LIMIT = 160
# Whatever looks like a secret, known or not: a run of six or more digits (a code, a phone
# number), a credential after an auth scheme, an echoed form or query string, and any long
# random-looking token (base64, hex, a key).
_DIGITS = re.compile(r"\d{6,}")
_AUTH_SCHEME = re.compile(r"\b(Basic|Bearer|Digest|Token)\s+\S+", re.IGNORECASE)
_FORM = re.compile(r"[\w.%+-]+=[^&\s]*(?:&[\w.%+-]+=[^&\s]*)+")
_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{20,}={0,2}")


def scrub(text: str | bytes, secrets: Iterable[str | None], *, limit: int = REASON_LIMIT) -> str:
    """A provider's words made fit for an error message and the audit trail.

    ``secrets`` (the credentials and the message sent) are cut out in every form a reply
    could quote them: plain, URL-, form- or JSON-encoded, and base64 at any alignment (an
    echoed ``Authorization: Basic`` header holds base64 of ``SID:token``). Then whatever
    looks like a secret anyway is cut too (see above). What is left is one printable line
    of at most ``limit`` characters.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = _secret_pattern(tuple(secrets)).sub(REDACTED, text) if any(secrets) else text
    text = _AUTH_SCHEME.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
    text = _FORM.sub(REDACTED, text)
    text = _TOKEN.sub(lambda match: REDACTED if _opaque(match.group()) else match.group(), text)
    text = _DIGITS.sub(REDACTED, text)
    text = printable(" ".join(re.sub(f"{REDACTED}+", REDACTED, text).split()))
    return text if len(text) <= limit else text[: limit - 1] + REDACTED


def vendor_code(value: object, below: int) -> int | None:
    """A provider's status or error code if it is a number below ``below``. Anything else in
    that field is provider text (a hostile provider can put our code there): not kept."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < below:
        return value
    return None


def receipt_field(value: object, secrets: Iterable[str | None], default: str) -> str:
    """A message id or status from a provider's answer, if it is a plain token that quotes
    none of ``secrets`` (a hostile provider could answer with the code); else ``default``."""
    text = str(value or "")
    if not _RECEIPT_FIELD.fullmatch(text):
        return default
    pattern = _secret_pattern(tuple(secrets)) if any(secrets) else None
    return default if pattern and pattern.search(text) else text


_RECEIPT_FIELD = re.compile(r"[\w.:@<>+-]{1,200}")


def _opaque(token: str) -> bool:
    """Random-looking rather than a word: digits in it, or upper and lower case mixed."""
    return any(c.isdigit() for c in token) or (token[1:] != token[1:].lower()
                                               and token != token.upper())


@functools.lru_cache(maxsize=32)
def _secret_pattern(secrets: tuple[str | None, ...]) -> re.Pattern:
    forms: set[str] = set()
    for secret in filter(None, secrets):
        for value in (secret, *_DIGITS.findall(secret)):  # the code inside a message, too
            forms |= _encodings(value)
    forms = sorted((form for form in forms if len(form) >= 4), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, forms)) or "(?!)", re.IGNORECASE)


def _encodings(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote_plus(secret),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    raw = secret.encode()
    # The base64 characters that encode only ``secret``'s own bits, for each of the three
    # byte offsets it can start at inside a longer encoded string.
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode()
        core = encoded[(8 * offset + 5) // 6: 8 * (offset + len(raw)) // 6]
        if len(core) >= 6:
            forms |= {core, core.translate(_URLSAFE)}
    return forms


_URLSAFE = str.maketrans("+/", "-_")


# -- where a provider lives -------------------------------------------------------------


def check_destination(url: str, service: str) -> None:
    """Send nothing to ``url`` unless every address its host resolves to is allowed
    (``validate.check_resolved``); a name that does not resolve is a connection failure."""
    try:
        validate.check_resolved(url)
    except BadInput as refusal:
        raise DeliveryFailed(f"{service} not contacted: {refusal.message}") from None
    except OSError as exc:  # socket.gaierror: nothing was sent
        raise TransientFailure(f"{service} unreachable at {where(url)}: {network_reason(exc)}") \
            from None


def redirect_refusal(service: str, status: int) -> DeliveryFailed:
    """A redirect is a failure: following it would re-send the credential and the code
    to wherever the provider (or whoever answers for it) points."""
    return DeliveryFailed(f"{service} answered with a redirect (HTTP {status}), which twofa "
                          "never follows: check the provider's api_base_url",
                          provider_code=str(status))


def where(url: str) -> str:
    """``host:port`` of a URL, without any user or password it may carry."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def network_reason(exc: BaseException) -> str:
    """A short, human cause for a network failure ("connection refused", "timed out", ...).

    requests and urllib3 wrap the socket error several layers deep, inside a
    message that repeats the whole URL; dig out the root cause instead.
    """
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        error = pending.pop(0)
        if not isinstance(error, BaseException) or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, socket.gaierror):
            return "host name not found"
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({error.verify_message})"
        if isinstance(error, TimeoutError):
            return "timed out"
        if isinstance(error, OSError) and error.strerror:  # e.g. "No route to host"
            return error.strerror[:1].lower() + error.strerror[1:]
        pending.extend([error.__cause__, error.__context__, getattr(error, "reason", None),
                        *error.args])
    return type(exc).__name__
