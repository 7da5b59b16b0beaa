"""Input checks shared by every entry point; each raises ``BadInput`` (exit 2).

``BadInput`` is also a ``ValueError``, so these double as pydantic validators.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit, urlunsplit

from twofa_cli.errors import BadInput

MAX_TITLE = 200
# tomllib and json parse nested arrays recursively: past Python's limit they stop.
TOO_DEEP = "arrays or tables are nested too deeply"
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
UNPRINTABLE_CHARS = _CONTROL_CHARS + _SURROGATE_CHARS
UNPRINTABLE = re.compile(f"[{UNPRINTABLE_CHARS}]")


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
        raise BadInput("phone number is too long", reason="not_a_phone")
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise BadInput(
            f"{raw!r} is not a phone number in international format (e.g. +14155550123)",
            reason="not_a_phone",
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise BadInput(f"{raw!r} is not a valid phone number", reason="not_a_phone")
    region = phonenumbers.region_code_for_number(parsed)
    if allowed_countries and region not in allowed_countries:
        raise BadInput(
            f"SMS to {region or 'that country'} is not allowed "
            f"(allowed: {', '.join(allowed_countries)})", reason="country_not_allowed"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email_address(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    raw = (value or "").strip()
    if len(raw) > 254:
        raise BadInput("email address is too long", reason="not_an_email")
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadInput(f"{raw!r} is not a valid email address: {exc}",
                       reason="not_an_email") from None


def sender_address(value: str, what: str = "the address") -> str:
    """A plain ``local@domain`` address to send from (no display name), as written.

    ``localhost`` is allowed as the domain (the default, for a relay on this machine),
    though email-validator counts it a special-use name: only its local part is checked.
    """
    from email_validator import EmailNotValidError, validate_email

    no_control(value, what)
    local, at, domain = value.rpartition("@")
    checked = f"{local}@example.com" if at and domain.lower() == "localhost" else value
    try:
        validate_email(checked, check_deliverability=False, globally_deliverable=False)
    except EmailNotValidError as exc:
        raise BadInput(f"{what} {value[:80]!r} is not a plain email address ({exc})") from None
    return value


def sid(value: str, prefix: str, what: str) -> str:
    """A Twilio SID: two letters and 32 hex digits."""
    value = (value or "").strip()
    if not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
        raise BadInput(f"{what} must be {prefix} followed by 32 hex digits")
    return value


# -- provider URLs: where a channel may send a credential --------------------------------
#
# https to a public address; plain http only to this machine (local testing); never a user
# and password in the URL; never a private, link-local, unspecified, multicast or cloud
# metadata destination. ``provider_url`` checks the literal URL when a provider is added or
# updated; ``check_resolved`` checks every address its host resolves to before each send.

METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data",
    "instance-data.ec2.internal",
})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192", "169.254.170.2",
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_SPELLING = re.compile(r"[0-9a-fx.]+")  # 2852039166, 0251.0376.0251.0376, 0x7f.1


def provider_url(value: str, what: str = "URL") -> str:
    """A provider's API base URL allowed by the policy above, without a trailing slash."""
    url = (value or "").strip().rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number in range)
    except ValueError:
        raise BadInput(f"{what} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or UNPRINTABLE.search(url) \
            or re.search(r"\s", url):
        raise BadInput(f"{what} must be an https URL (e.g. https://api.example.com)")
    if "@" in parts.netloc:
        raise BadInput(f"{what} must not contain a user name or password")
    if parts.query or parts.fragment:
        raise BadInput(f"{what} must be a base URL, without ?query or #fragment")
    host = _host_name(parts.hostname)
    address = _literal_address(host)
    loopback = host == "localhost" or (address is not None and _unwrap(address).is_loopback)
    if parts.scheme == "http" and not loopback:
        raise BadInput(f"{what} must use https; plain http is allowed only to this machine "
                       "(127.0.0.1, ::1, localhost)")
    reason = _host_refusal(host) if address is None else _address_refusal(address)
    if reason:
        raise BadInput(f"{what} points at {reason}: not allowed")
    return url


def check_resolved(url: str) -> None:
    """Refuse ``url`` unless every address its host resolves to is allowed.

    A public name may resolve to a private or metadata address (or be made to): the
    literal check at ``provider add`` cannot see that, so it is repeated before each send.
    ``socket.gaierror`` (the name does not resolve) propagates.
    """
    parts = urlsplit(url)
    host = _host_name(parts.hostname or "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if parts.scheme == "http" and not _unwrap(address).is_loopback:
            reason = "an address off this machine over plain http"
        else:
            reason = _address_refusal(address)
        if reason:
            raise BadInput(f"{host} resolves to {address}, {reason}: not contacted")


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed (for showing a URL stored before the policy)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _host_name(host: str) -> str:
    return host.lower().rstrip(".")


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, in any form the C library would accept, or None for a name."""
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    if _IPV4_SPELLING.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _unwrap(address):
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address, else ``address``."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.sixtofour:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _address_refusal(address) -> str | None:
    """Why a channel must not connect to ``address``; None when it may (public or loopback)."""
    inner = _unwrap(address)
    if address in METADATA_ADDRESSES or inner in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if inner.is_loopback:
        return None
    if inner.is_multicast:
        return "a multicast address"
    if inner.is_unspecified:
        return "an unspecified address"
    if inner.is_link_local:
        return "a link-local address"
    if not inner.is_global or not address.is_global:
        return "a private or reserved address"
    return None


def _host_refusal(host: str) -> str | None:
    if host in METADATA_HOSTS or host.endswith(".internal"):
        return "a cloud metadata or internal host name"
    return None


def no_control(value: str, what: str) -> str:
    """``value`` unless it holds a control character (e.g. a newline that splits a line)."""
    if UNPRINTABLE.search(value):
        raise BadInput(f"{what} must not contain control characters")
    return value
