"""Input checks shared by every entry point; each raises ``BadInput`` (exit 2).

``BadInput`` is also a ``ValueError``, so these double as pydantic validators.
"""

from __future__ import annotations

import re

from twofa_cli.errors import BadInput

MAX_TITLE = 200
# C0 and C1 controls and DEL (terminal escapes: ESC, and CSI as U+009B), the line and
# paragraph separators (a label is one line), and the bidi embeddings, overrides and
# isolates that make a label display as something else ("Trojan Source"). Zero-width
# joiners, marks and the LRM/RLM marks stay allowed: real text in many scripts uses them.
_CONTROL_CHARS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")
# What Python makes of bytes that are not UTF-8 in argv or a file (surrogateescape).
_SURROGATE_CHARS = r"\ud800-\udfff"
_SURROGATE = re.compile(f"[{_SURROGATE_CHARS}]")
# What must never reach a terminal or a log as it is: the characters above, which act
# instead of showing, and lone surrogates, which no output encoding can carry.
UNPRINTABLE = re.compile(f"[{_CONTROL_CHARS}{_SURROGATE_CHARS}]")


def text(value: str, what: str = "title", *, max_length: int = MAX_TITLE) -> str:
    """A human label: trimmed, not empty, bounded, printable (unicode is welcome)."""
    value = (value or "").strip()
    if not value:
        raise BadInput(f"{what} must not be empty")
    if len(value) > max_length:
        raise BadInput(f"{what} is {len(value)} characters long; at most {max_length} are allowed")
    if _SURROGATE.search(value):
        raise BadInput(f"{what} is not valid UTF-8 text")
    if _CONTROL.search(value):
        raise BadInput(f"{what} must not contain control characters")
    return value


def printable(value: str, *, keep: str = "") -> str:
    """``value`` with every unprintable character written as its escape (``\\x1b``,
    ``\\u202e``): it shows on a terminal instead of acting. ``keep`` names layout
    characters (a newline) to leave as they are."""

    def escape(match: re.Match) -> str:
        char = match.group()
        if char in keep:
            return char
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"

    return UNPRINTABLE.sub(escape, value)


def phone_number(value: str, allowed_countries: list[str] | tuple[str, ...] = ()) -> str:
    """A valid E.164 number, optionally restricted to ISO region codes."""
    import phonenumbers

    raw = (value or "").strip()
    if len(raw) > 32:
        raise BadInput("phone number is too long")
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise BadInput(
            f"{raw!r} is not a phone number in international format (e.g. +14155550123)"
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise BadInput(f"{raw!r} is not a valid phone number")
    region = phonenumbers.region_code_for_number(parsed)
    if allowed_countries and region not in allowed_countries:
        raise BadInput(
            f"SMS to {region or 'that country'} is not allowed "
            f"(allowed: {', '.join(allowed_countries)})"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email_address(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    raw = (value or "").strip()
    if len(raw) > 254:
        raise BadInput("email address is too long")
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadInput(f"{raw!r} is not a valid email address: {exc}") from None


def sid(value: str, prefix: str, what: str) -> str:
    """A Twilio SID: two letters and 32 hex digits."""
    value = (value or "").strip()
    if not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
        raise BadInput(f"{what} must be {prefix} followed by 32 hex digits")
    return value


def http_url(value: str, what: str = "URL") -> str:
    value = (value or "").strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise BadInput(f"{what} must be an http(s) URL")
    return value
