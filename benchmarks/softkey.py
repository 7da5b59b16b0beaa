"""A software WebAuthn authenticator: ECDSA P-256, attestation "none".

It answers the options ``begin_passkey_*`` hand out with the JSON a browser posts back
(``PublicKeyCredential.toJSON()``), so the ceremonies run without a browser: the
clients of benchmarks/web_load.py sign their passwordless sign-ins with it, and the
tests (tests/softkey.py) attack rule 35 with its knobs: another ``origin`` or
``rp_id``, no user verification, a signature that does not match, a sign count set
back (a cloned key). It lives here, not in tests/ or the package: benchmarks import
nothing from the tests, and the package ships no test authenticator.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

AAGUID = bytes(16)  # all zeros: "no make given", as many software keys send


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cbor(value) -> bytes:
    """The little CBOR a COSE key and an attestation object need."""
    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        return bytes([major << 5 | 25]) + struct.pack(">H", n)

    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode()
        return head(3, len(raw)) + raw
    if isinstance(value, dict):
        return head(5, len(value)) + b"".join(_cbor(k) + _cbor(v) for k, v in value.items())
    raise TypeError(value)


class SoftKey:
    """One passkey (a P-256 key pair) in one authenticator."""

    def __init__(self, *, origin: str = "http://localhost:8000", rp_id: str = "localhost",
                 user_verified: bool = True) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.origin, self.rp_id, self.user_verified = origin, rp_id, user_verified
        self.sign_count = 0
        self.user_handle: bytes | None = None

    def _cose_key(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return _cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                      -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, *, attested: bool) -> bytes:
        flags = 0x01 | (0x04 if self.user_verified else 0) | (0x40 if attested else 0)
        data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags]) \
            + struct.pack(">I", self.sign_count)
        if attested:
            data += AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id \
                + self._cose_key()
        return data

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin,
                           "crossOrigin": False}).encode()

    def create(self, options_json: str) -> str:
        """``navigator.credentials.create``: the registration response, as JSON."""
        options = json.loads(options_json)
        self.user_handle = unb64(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"])
        attestation = _cbor({"fmt": "none", "attStmt": {},
                             "authData": self._auth_data(attested=True)})
        return json.dumps({
            "id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data),
                         "attestationObject": b64(attestation), "transports": ["internal"]},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        })

    def get(self, options_json: str, *, tamper: bool = False) -> str:
        """``navigator.credentials.get``: an assertion signed by this key, as JSON. Each
        use counts up, as a real key's counter does."""
        options = json.loads(options_json)
        self.sign_count += 1
        client_data = self._client_data("webauthn.get", options["challenge"])
        auth_data = self._auth_data(attested=False)
        signature = self.private.sign(auth_data + hashlib.sha256(client_data).digest(),
                                      ec.ECDSA(hashes.SHA256()))
        if tamper:
            signature = self.private.sign(b"something else", ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data),
                         "signature": b64(signature),
                         "userHandle": b64(self.user_handle) if self.user_handle else None},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        })
