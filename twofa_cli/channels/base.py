"""The one interface every delivery channel implements."""

from __future__ import annotations

import socket
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from twofa_cli.config import Settings
from twofa_cli.errors import DeliveryFailed

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

    def __init__(self, options: ChannelOptions, settings: Settings) -> None:
        self.options = options
        self.settings = settings

    @property
    def timeout(self) -> float:
        return self.settings.delivery.timeout_seconds

    @abstractmethod
    def send(self, message: Message) -> Receipt:
        """Deliver one message or raise ``twofa_cli.errors.DeliveryFailed``."""


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


def scrub(text: str, secrets: Iterable[str | None], *, limit: int = 200) -> str:
    """Provider text fit for an error message: secrets masked, one line, cut short."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
