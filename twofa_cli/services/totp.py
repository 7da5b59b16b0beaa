"""Authenticator apps (RFC 6238): the secret, its otpauth:// URI and QR code, and the check.

What every app supports: 6 digits, 30-second steps, SHA-1. A code of the step before or
after is accepted too (clock drift); the caller stores the step accepted and never
accepts it, or an earlier one, again for that entry (``twofa_cli.services.challenges``).
"""

from __future__ import annotations

import hmac
from datetime import datetime

from twofa_cli.security import SecretKey

DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    """A 160-bit secret, base32 (RFC 4226 recommends 160 bits)."""
    import pyotp

    return pyotp.random_base32(32)


def seal(key: SecretKey, secret: str) -> str:
    return key.encrypt_json({"totp": secret})


def unseal(key: SecretKey, token: str) -> str:
    return str(key.decrypt_json(token)["totp"])


def provisioning_uri(secret: str, *, label: str, issuer: str) -> str:
    import pyotp

    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=label, issuer_name=issuer)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code ``code`` is (within the drift allowed), else None.

    Every candidate is computed and compared in constant time, so the time taken does
    not tell which step (if any) matched.
    """
    import pyotp

    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def qr_text(uri: str) -> str:
    """The URI as a QR code drawn with text, for a terminal."""
    import io

    import qrcode

    code = qrcode.QRCode(border=2)
    code.add_data(uri)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def qr_svg(uri: str) -> str:
    import qrcode
    from qrcode.image.svg import SvgPathImage

    return qrcode.make(uri, image_factory=SvgPathImage, box_size=8).to_string(
        encoding="unicode")


def qr_png(uri: str) -> bytes:
    import io

    import qrcode

    buffer = io.BytesIO()
    qrcode.make(uri).save(buffer, format="PNG")
    return buffer.getvalue()
