"""The one interface every delivery channel implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from twofa_cli.config import Settings


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
