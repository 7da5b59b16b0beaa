"""The web pages under test: the shop set up through the CLI, the app on a TwoFactor.

``shop`` sets up the admin side with ``twofa`` commands (as the seed's admin would);
``twofa`` opens the library on the test's home with the test's clock; ``live_server``
runs the app with uvicorn in a thread on a free loopback port.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

ALICE = "alice@example.com"
PASSWORD = "correct horse battery"
PHONE = "+1 415 555 0199"
MASKED_PHONE = "+1••••••0199"
# The marks of a message written for an operator, not for the person at a page: a
# lowercase start, an option, a config section, a field's or key's raw name (account_sid),
# an id in brackets, the library's words for its internals, a unit the CLI abbreviates.
CLI_STYLE = re.compile(r"(?-i:^[a-z])|--|`|\[\w+\]|(?-i:\b[a-z]+_[a-z_]+\b)|\(id \d+\)"
                       r"|\bchallenge\b|\bentry (id|\d)|\benrol\b|\b2FA\b"
                       r"|\bsecondary.auth\b|\d s\b|\btries left\)|: give\b", re.IGNORECASE)


@pytest.fixture
def shop(cli):
    def ok(*args: str, input: str | None = None) -> dict:
        run = cli(*args, "--json", input=input)
        assert run.exit_code == 0, (args, run.stdout, run.stderr)
        return run.json

    ok("config", "set", "company-name", "Acme Events")
    ok("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", "AC" + "0f" * 16,
       "--auth-token-stdin", "--from-number", "+14155550100", input="tok" + "e1" * 15 + "\n")
    ok("secondary-auth", "add", "--provider", "SMS", "--title", "Text message")
    ok("customer", "enable")
    ok("account", "add", ALICE, "--name", "Alice", "--password-stdin", input=PASSWORD + "\n")
    return cli


@pytest.fixture
def twofa(home, clock):
    from twofa_cli import TwoFactor

    with TwoFactor.open(home, actor="web", clock=clock) as opened:
        yield opened


@pytest.fixture
def app(twofa):
    from twofa_cli.web import create_app

    return create_app(twofa)


@dataclass
class LiveServer:
    url: str
    server: object


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield LiveServer(url=f"http://127.0.0.1:{port}", server=server)
    server.should_exit = True
    thread.join(timeout=10)


def latest_code(twofa) -> str:
    """The newest code in the outbox (the customer's notices carry none)."""
    return next(m.code for m in twofa.outbox() if m.code)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
