"""twofa: two-factor authentication for a shop's customers and administrators.

``from twofa_cli import TwoFactor`` is the library (see ``twofa_cli.api`` and
docs/library.md). It is imported on first use, so ``twofa --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twofa_cli.api import TwoFactor

__all__ = ["TwoFactor"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from twofa_cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'twofa_cli' has no attribute {name!r}")
