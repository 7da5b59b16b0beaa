"""Codes, hashing, encryption and masking: every secret twofa handles passes here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from functools import cached_property
from pathlib import Path

from twofa_cli.errors import NotInitialised, Rejected
from twofa_cli.files import read_private, write_private

SECRET_KEY_ENV = "TWOFA_SECRET_KEY"


# -- verification codes -------------------------------------------------------------


def generate_code(length: int = 6) -> str:
    """A uniformly random numeric code from the OS CSPRNG (never ``random``)."""
    return f"{secrets.randbelow(10 ** length):0{length}d}"


def new_device_token() -> str:
    """32 random bytes for a "Trust this device" cookie; only its SHA-256 is stored."""
    return secrets.token_urlsafe(32)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- the secret key ------------------------------------------------------------------


class SecretKey:
    """The deployment's Fernet keys: the first encrypts and keys the code HMAC, all decrypt.

    Written one per line in the key file, or comma-separated in ``TWOFA_SECRET_KEY``.
    Several keys live side by side only during a rotation: ``twofa key rotate`` puts a new
    one first and re-encrypts under it, ``twofa key prune`` drops the others
    (twofa_cli.services.keys).
    """

    def __init__(self, keys: str | bytes) -> None:
        text = keys.decode(errors="replace") if isinstance(keys, bytes) else keys
        self.keys = tuple(part for part in re.split(r"[\s,]+", text) if part)
        if not self.keys:
            raise Rejected("the secret key holds no key")
        raw = [_fernet_key_bytes(key, position, len(self.keys))
               for position, key in enumerate(self.keys, 1)]
        # A separate key for the code HMAC, so no key serves two purposes.
        self._hmac_key = hmac.new(raw[0], b"twofa code hmac", hashlib.sha256).digest()
        # What the store keeps to name its current key (runtime.Runtime.current_key): a
        # one-way fingerprint of the first key, under a label of its own; never the key.
        self.key_id = hmac.new(raw[0], b"twofa key id", hashlib.sha256).hexdigest()[:32]

    @staticmethod
    def generate() -> str:
        return base64.urlsafe_b64encode(os.urandom(32)).decode()

    def with_new_first_key(self) -> SecretKey:
        return SecretKey(",".join((self.generate(), *self.keys)))

    def without_old_keys(self) -> SecretKey:
        return SecretKey(self.keys[0])

    def file_text(self) -> str:
        return "".join(f"{key}\n" for key in self.keys)

    @cached_property
    def _fernet(self):
        from cryptography.fernet import Fernet, MultiFernet

        return MultiFernet([Fernet(key) for key in self.keys])

    @cached_property
    def _first_fernet(self):
        from cryptography.fernet import Fernet

        return Fernet(self.keys[0])

    def code_hmac(self, challenge_id: int, code: str) -> str:
        """HMAC-SHA256 of a code, bound to its challenge so one HMAC never fits another.

        Keyed by the first key only, so a rotation changes it: a keyed hash cannot be
        re-keyed without the value it hides. Hashes that must outlive ``key rotate`` and
        ``key prune`` (recovery codes) need a key that prune never removes.
        """
        message = f"{challenge_id}:{code}".encode()
        return hmac.new(self._hmac_key, message, hashlib.sha256).hexdigest()

    def encrypt_json(self, data: dict) -> str:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()).decode()

    def decrypt_json(self, token: str) -> dict:
        from cryptography.fernet import InvalidToken

        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise Rejected(
                "stored credentials cannot be decrypted: the secret key is not the one they "
                "were saved with (after `twofa key rotate`, restart running twofa processes)"
            ) from None

    def reencrypt(self, token: str) -> str:
        """The same value encrypted under the first key (its timestamp kept)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise Rejected("no key can decrypt it") from None

    def needs_old_key(self, token: str) -> bool:
        """True unless the first key alone decrypts ``token``."""
        from cryptography.fernet import InvalidToken

        try:
            self._first_fernet.decrypt(token.encode())
        except InvalidToken:
            return True
        return False


def _fernet_key_bytes(key: str, position: int, count: int) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except ValueError:
        raw = b""
    if len(raw) != 32 or base64.urlsafe_b64encode(raw).decode() != key:
        where = f"key {position} of {count}" if count > 1 else "the secret key"
        raise Rejected(f"{where} is not a valid Fernet key (32 url-safe base64 bytes)")
    return raw


def codes_match(expected_hmac: str, given_hmac: str) -> bool:
    return hmac.compare_digest(expected_hmac, given_hmac)


def load_secret_key(key_file: Path) -> SecretKey:
    """``TWOFA_SECRET_KEY`` if set, else the key file: a regular file of the user's own,
    owner-only, never read through a symlink (files.py)."""
    if env_key := os.environ.get(SECRET_KEY_ENV):
        return SecretKey(env_key)
    return read_key_file(key_file)


def read_key_file(key_file: Path) -> SecretKey:
    """The key file alone (``TWOFA_SECRET_KEY`` not consulted): what a process reloads."""
    content = read_private(key_file, secret=True, limit=4096)
    if content is None:
        raise NotInitialised(f"no secret key at {key_file}: run `twofa init`")
    return SecretKey(content)


# The name earlier callers import; files.write_private is the one implementation.
write_private_file = write_private


# -- passwords -----------------------------------------------------------------------

_hasher = None


def _password_hasher():
    global _hasher
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults
    return _hasher


def hash_password(password: str) -> str:
    return _password_hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash, one argon2 verification all the same.

    Both paths run exactly one argon2 verify and nothing else (rule 9): an unknown
    account checks the password against a dummy hash with the hasher's own parameters.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _password_hasher().verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    """A well-formed argon2id hash that no password matches, built without hashing.

    Verifying it costs what verifying a real hash of the configured parameters costs;
    building it costs nothing, so no call (the first of a process included) does an
    extra hash. Random salt and digest: no password can be known to match it.
    """
    from argon2 import Type
    from argon2.low_level import ARGON2_VERSION

    hasher = _password_hasher()

    def b64(size: int) -> str:
        return base64.b64encode(os.urandom(size)).decode().rstrip("=")

    return (f"$argon2{Type.ID.name.lower()}$v={ARGON2_VERSION}"
            f"$m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
            f"${b64(hasher.salt_len)}${b64(hasher.hash_len)}")


def is_argon2_hash(value: str) -> bool:
    """A well-formed argon2id hash string (parameters, salt and hash all present)."""
    from argon2 import Type, extract_parameters
    from argon2.exceptions import InvalidHashError

    try:
        return extract_parameters(value).type is Type.ID
    except (InvalidHashError, ValueError):
        return False


def weaker_hash_parameters(value: str) -> list[str]:
    """What in an argon2 hash falls short of the parameters this deployment hashes with
    ("memory_cost 8 < 65536", …); empty when it is at least as strong. Parallelism is
    not compared: fewer lanes over the same memory cost an attacker no less."""
    from argon2 import extract_parameters
    from argon2.low_level import ARGON2_VERSION

    have, want = extract_parameters(value), _password_hasher()
    short = [f"{name} {getattr(have, name)} < {getattr(want, name)}"
             for name in ("time_cost", "memory_cost", "hash_len", "salt_len")
             if getattr(have, name) < getattr(want, name)]
    if have.version < ARGON2_VERSION:
        short.append(f"version {have.version} < {ARGON2_VERSION}")
    return short


# An imported hash may cost at most this many times the configured one to verify.
HASH_COST_BOUND = 2


def costlier_hash_parameters(value: str) -> list[str]:
    """What in an argon2 hash makes verifying it cost more than ``HASH_COST_BOUND`` times
    a hash of the configured parameters; empty when it is within the bound.

    Verifying costs about memory_cost x time_cost of work (blocks filled per pass) spread
    over ``parallelism`` lanes, each a thread: so the work, the work per lane (what the
    wall time follows) and the lanes are each bounded. Without it one imported hash (m =
    512 MiB, or t = 2^32-1) would make each login to its account take seconds to days,
    telling which address exists and tying up a CPU. With ``weaker_hash_parameters`` it
    leaves lanes between half and all of the configured ones.
    """
    from argon2 import extract_parameters

    have, want = extract_parameters(value), _password_hasher()
    work, configured = have.memory_cost * have.time_cost, want.memory_cost * want.time_cost
    costly = []
    if work > HASH_COST_BOUND * configured:
        costly.append(f"memory_cost x time_cost {work} > {HASH_COST_BOUND} x {configured}")
    if have.parallelism > want.parallelism:
        costly.append(f"parallelism {have.parallelism} > {want.parallelism}")
    elif work * want.parallelism > HASH_COST_BOUND * configured * have.parallelism:
        costly.append(f"work per lane {work // have.parallelism} > {HASH_COST_BOUND} x "
                      f"{configured // want.parallelism}")
    return costly


def password_needs_rehash(password_hash: str) -> bool:
    """True for a hash of other parameters than the configured ones (an imported one)."""
    from argon2.exceptions import InvalidHashError

    try:
        return _password_hasher().check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return False


# -- masking -------------------------------------------------------------------------


def mask_secret(value: str | None) -> str:
    """``…abcd``: enough to tell two credentials apart, never enough to use one."""
    if not value:
        return ""
    return "…" + value[-4:] if len(value) > 8 else "…"


def mask_phone(number: str) -> str:
    """``+1•••••••4567``: keep the country code and the last four digits."""
    if len(number) <= 6:
        return "•" * len(number)
    head = 2 if number.startswith("+") else 0
    return number[:head] + "•" * (len(number) - head - 4) + number[-4:]


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


# A TOTP entry's destination: nothing is sent, so nothing to hide.
APP_DESTINATION = "authenticator app"


PASSKEY_PREFIX = "passkey: "  # a passkey's name in a notice: nothing to mask


def mask_destination(destination: str) -> str:
    if destination == APP_DESTINATION or destination.startswith(PASSKEY_PREFIX):
        return destination
    return mask_email(destination) if "@" in destination else mask_phone(destination)


def mask_url(url: str) -> str:
    """Hide a password in a database URL."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported elsewhere; never echo it raw
        return "<unparsable url>"
