"""The tests' software authenticator is benchmarks/softkey.py, shared with the load
benchmark's clients (which import nothing from tests/)."""

from benchmarks.softkey import AAGUID, SoftKey, b64, unb64

__all__ = ["AAGUID", "SoftKey", "b64", "unb64"]
