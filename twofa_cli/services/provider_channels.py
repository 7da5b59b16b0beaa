"""A provider's channel: its options checked against the channel's model, its secrets
decrypted, the channel opened. Below the providers' administration and the deliveries,
which both use it."""

from __future__ import annotations

from pydantic import ValidationError

from twofa_cli.channels import Channel, channel_class
from twofa_cli.errors import BadInput, DeliveryFailed
from twofa_cli.runtime import Runtime
from twofa_cli.security import SecretKey
from twofa_cli.store.models import Provider


def validated_options(channel: type[Channel], options: dict):
    """``options`` as the channel's Options model; BadInput names the field at fault."""
    try:
        return channel.Options(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        reason = getattr(error.get("ctx", {}).get("error"), "reason", "")  # a BadInput's
        if error["type"] == "missing":
            message = f"{field} is required"
        elif error["type"] == "extra_forbidden":
            message = f"{field} is not an option of {channel.name}"
        elif field and not message.startswith(field):  # "account_sid: Account SID must be AC…"
            message = f"{field}: {message}"
        raise BadInput(message, reason=reason) from None


def stored_options(provider: Provider, key: SecretKey) -> dict:
    """A provider's options with its secrets decrypted."""
    secret = key.decrypt_json(provider.secrets) if provider.secrets else {}
    return {**provider.options, **secret}


def open_channel(rt: Runtime, provider: Provider) -> Channel:
    """The channel that sends through ``provider``, built from its stored options."""
    channel_cls = channel_class(provider.channel)
    # Validated again: a provider stored before a rule existed (the URL policy) must meet it.
    try:
        options = validated_options(channel_cls, stored_options(provider, rt.key))
    except BadInput as exc:
        raise DeliveryFailed(f"provider {provider.title!r} cannot be used: {exc.message} "
                             "(fix it with `twofa provider update`)") from None
    return channel_cls(options, rt.settings)
