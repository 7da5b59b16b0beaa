"""The reference web pages of ``twofa serve`` (the optional ``web`` extra)."""

from twofa_cli.web.app import create_app

__all__ = ["create_app"]
