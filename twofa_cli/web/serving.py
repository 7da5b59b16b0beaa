"""The app of each ``twofa serve --workers N`` process: uvicorn imports it by name.

The parent puts the home and the audit actor in the environment; each worker opens its
own ``TwoFactor`` (its own pool of connections). Sessions live in the store, so a cookie
from one worker is honoured by every other.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette


def app_from_environment() -> Starlette:
    from twofa_cli.api import TwoFactor
    from twofa_cli.web.app import create_app

    twofa = TwoFactor.open(os.environ.get("TWOFA_HOME"),
                           actor=os.environ.get("TWOFA_SERVE_ACTOR", "web"))
    return create_app(twofa)
