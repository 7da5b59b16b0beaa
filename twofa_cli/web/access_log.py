"""One access log line per request of ``twofa serve``, on the ``twofa.access`` logger.

A line holds the client's address, the method, the path, the status and the duration:
never the query string, a form, a cookie or a header, so no code, password, token or
session ever reaches the log (uvicorn's own access log, which prints query strings, stays
off). A path is cut to a size and its unprintable characters escaped, so a request cannot
forge a line. ``twofa serve`` sends the logger to stderr (``logging_config``); an app that
embeds ``create_app`` routes it as it likes.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGGER = logging.getLogger("twofa.access")
MAX_PATH = 200


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception answered by Starlette's 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            client = scope.get("client") or ("-", 0)
            LOGGER.info('%s "%s %s" %d %.1f ms', client[0], scope["method"],
                        printable(scope["path"]), status, (time.perf_counter() - started) * 1000)


def printable(path: str) -> str:
    cut = path[:MAX_PATH] + ("…" if len(path) > MAX_PATH else "")
    return "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" for c in cut)


def logging_config() -> dict[str, Any]:
    """uvicorn's logging configuration, plus ``twofa.access`` to stderr (for ``serve``;
    each worker process applies it too)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["twofa_access"] = {"format": "%(asctime)s twofa.access %(message)s"}
    config["handlers"]["twofa_access"] = {"class": "logging.StreamHandler",
                                          "formatter": "twofa_access",
                                          "stream": "ext://sys.stderr"}
    config["loggers"]["twofa.access"] = {"handlers": ["twofa_access"], "level": "INFO",
                                         "propagate": False}
    return config
