"""Concurrent customers signing in through ``twofa serve``, on loopback: with a password
and a code, then with a passkey and no password.

N clients (threads, each with its own httpx client and its own account) run R rounds
of a login with a code, as a browser does it: GET /login (the CSRF token), POST
/login (password: a code is sent), GET /login/code, POST /login/code (the code, read
from the outbox between the two requests, untimed), GET /account, POST /logout. Then
N other clients, each the holder of one passkey account, run R passwordless sign-ins:
GET /login, POST /login/passwordless/options (the challenge), POST /login/passwordless
(the assertion, signed between the two requests by a software authenticator,
benchmarks/softkey.py, untimed as a key's signing is), GET /account, POST /logout.
Every request's latency and status is recorded. Then one client guesses one account's
password 12 times: the first five wrong passwords cost a hash each (401), the rest are
throttled before any hash (429), which shows what the throttle saves per request.

The server is ``twofa serve --port 0`` in a process of its own on 127.0.0.1, over a
fresh simulate-mode home on SQLite or, with --database-url, on PostgreSQL (in a
schema of its own, dropped afterwards). Accounts use argon2id at its production
cost, so a login costs what it costs in production.

The server runs with ``[webauthn] passwordless = true`` and the default RP ID,
"localhost": the clients open it at http://localhost:PORT, the origin their
authenticator signs (an RP ID is a host name, never an IP address).

The baseline, measured in the same run with the same clients and rounds: the same
cycles called on the library directly (``TwoFactor.login`` / ``verify``;
``begin_passkey_login`` / ``finish_passkey_login``) by N threads in this process; the
ratio is web time per cycle over library time per cycle.

Reports requests/s and p50/p99 latency of each kind of sign-in, and the number of 5xx
answers (target: 0).
Bounded: at most 64 clients and 50 rounds, and no round starts after --time-limit.

Usage: python benchmarks/web_load.py [--clients N] [--rounds R] [--time-limit S]
                                     [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
from softkey import SoftKey  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = c.PASSWORD
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, status: int, expected: int) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            self.statuses.append(status)
            if status != expected:
                self.unexpected.append(f"{kind}: {status}")

    def all(self) -> list[float]:
        return [value for values in self.latencies.values() for value in values]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- the store ---------------------------------------------------------------------


def postgres_schema(url: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema on the server at ``url``: its URL and how to drop it."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}", drop


def email_of(n: int) -> str:
    return f"customer{n:03d}@example.com"


def passkey_email_of(n: int) -> str:
    return f"passkey{n:03d}@example.com"


def prepare(home: Path, database_url: str | None, clients: int) -> list[SoftKey]:
    """A home whose customers each have a verified email entry, and as many other
    customers each with a passkey (registered through the library): their keys."""
    from twofa_cli import TwoFactor

    TwoFactor.initialise(home, database_url)
    TwoFactor.set_setting("webauthn.passwordless", "true", home)
    # Every customer logs in 2 x rounds times within the hour: lift the per-account caps.
    c.set_config(home, "throttle", {"max_per_destination_per_hour": 100,
                                    "provider_hourly_cap": 1_000_000,
                                    "max_challenges_per_account_per_hour": 1000})
    with TwoFactor.open(home, database_url, actor="benchmark") as twofa:
        twofa.add_provider("smtp", title="Email")
        twofa.add_secondary_auth(provider="Email", title="Email code")
        twofa.set_allowed("customer", True)
        for n in range(clients):
            twofa.add_account(email_of(n), PASSWORD)
            twofa.enroll(email_of(n), method="Email code", email=email_of(n))
            twofa.verify(email_of(n), code_for(twofa, n))
        twofa.add_secondary_auth(title="Passkey", kind="passkey")
        keys = []
        for n in range(clients):
            twofa.add_account(passkey_email_of(n), PASSWORD)
            token = str(twofa.login(passkey_email_of(n), PASSWORD).session_token)  # no 2FA yet
            keys.append(SoftKey())
            twofa.finish_passkey_registration(
                token, keys[-1].create(twofa.begin_passkey_registration(token)))
            twofa.logout(token)
    return keys


def code_for(twofa, n: int) -> str:
    code = twofa.outbox(to=email_of(n), limit=1)[0].code
    assert code, "no code in the outbox"
    return code


# -- the web load ------------------------------------------------------------------


def start_server(home: Path, database_url: str | None) -> tuple[subprocess.Popen, str]:
    env = c.clean_env(home)
    if database_url:
        env["TWOFA_DATABASE_URL"] = database_url
    # This checkout's twofa, as the console script runs it.
    server = subprocess.Popen(
        [c.PYTHON, "-c", "from twofa_cli.cli.main import main; main()", "serve",
         "--host", "127.0.0.1", "--port", "0", "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line:
        raise SystemExit(f"twofa serve did not start: {server.stderr.read()[-2000:]}")
    return server, json.loads(line)["url"].removesuffix("/login")


class Browser:
    """One customer's browser: an httpx client that keeps the cookies itself (they are
    Secure, and httpx's cookie jar sends Secure cookies over https only)."""

    def __init__(self, base: str, tally: Tally) -> None:
        import httpx

        self.http = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.tally = tally

    def request(self, kind: str, method: str, path: str, expected: int, **form: str) -> str:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        start = time.perf_counter()
        response = self.http.request(method, path, headers=headers, data=form or None)
        self.tally.add(kind, time.perf_counter() - start, response.status_code, expected)
        for header in response.headers.get_list("set-cookie"):
            name, _, value = header.split(";")[0].partition("=")
            if "expires=thu, 01 jan 1970" in header.lower():  # deleted: logged out
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response.text

    def login_with_code(self, n: int, twofa) -> None:
        token = CSRF.search(self.request("GET /login", "GET", "/login", 200)).group(1)
        self.request("POST /login", "POST", "/login", 303, csrf_token=token,
                     email=email_of(n), password=PASSWORD)
        # The code page: its form's token belongs to the pending session's cookie.
        token = CSRF.search(self.request("GET /login/code", "GET", "/login/code", 200)).group(1)
        code = code_for(twofa, n)  # between the requests, untimed: it travels by email
        self.request("POST /login/code", "POST", "/login/code", 303, csrf_token=token, code=code)
        self.log_out()

    def sign_in_with_passkey(self, key: SoftKey) -> None:
        """Passwordless: the challenge, the key's assertion, no password."""
        token = CSRF.search(self.request("GET /login", "GET", "/login", 200)).group(1)
        options = self.request("POST /login/passwordless/options", "POST",
                               "/login/passwordless/options", 200, csrf_token=token)
        response = key.get(options)  # between the requests, untimed: the key signs
        self.request("POST /login/passwordless", "POST", "/login/passwordless", 303,
                     csrf_token=token, response=response)
        self.log_out()

    def log_out(self) -> None:
        page = self.request("GET /account", "GET", "/account", 200)
        token = CSRF.search(page).group(1)  # a new session, a new token
        self.request("POST /logout", "POST", "/logout", 303, csrf_token=token)

    def guess(self, email: str, attempt: int, expected: int) -> None:
        """A wrong password, as an attacker types it: 401 while free, then 429."""
        token = CSRF.search(self.request("GET /login", "GET", "/login", 200)).group(1)
        kind = "POST /login wrong, throttled" if expected == 429 else "POST /login wrong"
        self.request(kind, "POST", "/login", expected, csrf_token=token, email=email,
                     password=f"not the password {attempt}")


def run_clients(clients: int, rounds: int, deadline: float,
                cycle: Callable[[int], None]) -> tuple[float, int, list[BaseException]]:
    """Run ``cycle(n)`` ``rounds`` times in each of ``clients`` threads; wall time, cycles."""
    errors: list[BaseException] = []
    done = [0] * clients
    barrier = threading.Barrier(clients + 1)

    def client(n: int) -> None:
        barrier.wait()
        try:
            for _ in range(rounds):
                if time.monotonic() > deadline:
                    return
                cycle(n)
                done[n] += 1
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, sum(done), errors


GUESSES, FREE_FAILURES = 12, 5  # [login] free_failures is 5 by default


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8, choices=range(1, 65), metavar="N")
    parser.add_argument("--rounds", type=int, default=5, choices=range(1, 51), metavar="R")
    parser.add_argument("--time-limit", type=float, default=120,
                        help="seconds per phase (at most 600)")
    parser.add_argument("--database-url", help="PostgreSQL server to use instead of SQLite")
    args = parser.parse_args()
    time_limit = min(max(args.time_limit, 1), 600)
    c.isolate()
    from twofa_cli import TwoFactor

    store = "postgresql" if args.database_url else "sqlite"
    c.header(f"web_load: {args.clients} clients x {args.rounds} sign-ins with a password and "
             f"a code, then with a passkey, twofa serve on {store}")
    home = c.temp_dir("web")
    database_url, drop = postgres_schema(args.database_url) if args.database_url else (None, None)
    server = None
    coded, passkeyed, guessed = Tally(), Tally(), Tally()
    web, lib = {}, {}  # per kind of sign-in: (wall time, cycles)

    def phase(cycle: Callable[[int], None]) -> tuple[float, int]:
        wall, cycles, errors = run_clients(args.clients, args.rounds,
                                           time.monotonic() + time_limit, cycle)
        if errors:
            raise errors[0]
        return wall, cycles

    try:
        keys = prepare(home, database_url, args.clients)
        server, base = start_server(home, database_url)
        # The RP ID is "localhost": the pages are opened there, as a browser must.
        base = base.replace("://127.0.0.1:", "://localhost:")
        for key in keys:
            key.origin = base
        with TwoFactor.open(home, database_url, actor="benchmark") as twofa:
            # One sign-in of each kind first, not counted: neither kind pays the server's
            # first imports (webauthn is loaded by the first passkey request).
            Browser(base, Tally()).login_with_code(0, twofa)
            Browser(base, Tally()).sign_in_with_passkey(keys[0])
            browsers = [Browser(base, coded) for _ in range(args.clients)]
            web["password+code"] = phase(lambda n: browsers[n].login_with_code(n, twofa))

            def code_cycle(n: int) -> None:
                assert twofa.login(email_of(n), PASSWORD).status == "code_sent"
                twofa.verify(email_of(n), code_for(twofa, n))

            lib["password+code"] = phase(code_cycle)

            browsers = [Browser(base, passkeyed) for _ in range(args.clients)]
            web["passkey"] = phase(lambda n: browsers[n].sign_in_with_passkey(keys[n]))

            def passkey_cycle(n: int) -> None:
                options = twofa.begin_passkey_login()
                assert twofa.finish_passkey_login(keys[n].get(options)).session_token

            lib["passkey"] = phase(passkey_cycle)

        # What the throttle costs and saves: one client guessing one account's password.
        # The first [login] free_failures guesses cost an argon2 hash each (401); every
        # guess after them is refused before any hash (429).
        attacker = Browser(base, guessed)
        for attempt in range(GUESSES):
            attacker.guess(email_of(0), attempt, 401 if attempt < FREE_FAILURES else 429)
    finally:
        if server is not None:
            server.terminate()
            server.communicate(timeout=30)
        c.remove(home)
        if drop:
            drop()

    c.note(f"server exit {server.returncode}; " + "; ".join(
        f"{kind}: {web[kind][1]} web cycles in {web[kind][0]:.1f} s, "
        f"{lib[kind][1]} library cycles in {lib[kind][0]:.1f} s" for kind in web))
    for kind, tally, steps in (
            ("password+code", coded, ("POST /login", "POST /login/code")),
            ("passkey", passkeyed, ("POST /login/passwordless/options",
                                    "POST /login/passwordless"))):
        latencies = tally.all()
        (web_time, web_cycles), (lib_time, lib_cycles) = web[kind], lib[kind]
        c.summary(f"requests/s, {kind} sign-ins", f"{len(latencies) / web_time:.1f}",
                  "", "", "", None)
        c.summary(f"sign-in cycles/s, {kind} (web vs library)", f"{web_cycles / web_time:.2f}",
                  f"{lib_cycles / lib_time:.2f}",
                  c.ratio(web_time / web_cycles, lib_time / lib_cycles), "", None)
        c.summary(f"latency p50 / p99, all requests of {kind} sign-ins",
                  f"{c.seconds(statistics.median(latencies))} / "
                  f"{c.seconds(percentile(latencies, 0.99))}", "", "", "", None)
        for step in steps:
            report(tally, step)
    for step in ("POST /login wrong", "POST /login wrong, throttled"):
        report(guessed, step)
    statuses = coded.statuses + passkeyed.statuses + guessed.statuses
    unexpected = coded.unexpected + passkeyed.unexpected + guessed.unexpected
    five_xx = sum(1 for status in statuses if status >= 500)
    c.summary("5xx answers", str(five_xx), "", "", "0", five_xx == 0)
    c.summary("other unexpected statuses", str(len(unexpected)), "", "", "0", not unexpected)
    if unexpected:
        c.note("unexpected: " + ", ".join(unexpected[:10]))
    return c.finish()


def report(tally: Tally, kind: str) -> None:
    values = tally.latencies.get(kind, [])
    c.summary(f"latency p50 / p99, {kind}",
              f"{c.seconds(statistics.median(values))} / {c.seconds(percentile(values, 0.99))}",
              "", "", "", None)


if __name__ == "__main__":
    sys.exit(main())
