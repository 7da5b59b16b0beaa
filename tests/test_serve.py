"""``twofa serve`` as a process: prints its URL, serves the pages, stops cleanly on a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent


def start(home: Path, *args: str) -> subprocess.Popen:
    # This checkout's twofa (not whichever one is installed), as the console script runs it.
    return subprocess.Popen(
        [sys.executable, "-c", "from twofa_cli.cli.main import main; main()", "serve", *args],
        cwd=ROOT, env={**os.environ, "TWOFA_HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_serves_and_stops_cleanly(home, stop):
    process = start(home, "--port", "0")
    try:
        line = process.stdout.readline()
        assert line.startswith("Serving http://127.0.0.1:") and line.rstrip().endswith(
            "/login (Ctrl-C to stop)"), (line, process.stderr.read() if process.poll() else "")
        url = line.split()[1]
        page = httpx.get(url)
        assert page.status_code == 200 and "Log in" in page.text
        assert page.headers["x-frame-options"] == "DENY"
    finally:
        process.send_signal(stop)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err and err.strip().endswith("Stopped.")


def test_serve_json_and_a_port_in_use(home):
    first = start(home, "--port", "0", "--json")
    try:
        url = json.loads(first.stdout.readline())["url"]
        port = url.rsplit(":", 1)[1].split("/")[0]
        second = start(home, "--port", port)
        out, err = second.communicate(timeout=60)
        assert second.returncode != 0 and "Traceback" not in err and out == ""
        assert "address already in use" in err.lower()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0


def test_serve_needs_an_initialised_home(tmp_path):
    process = start(tmp_path / "nothing", "--port", "0")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1 and out == ""
    assert "is not a twofa home: run `twofa init`" in err and "Traceback" not in err


# -- several processes on one store (SECURITY.md rule 29) ----------------------------------

from webapp import ALICE, PASSWORD, csrf_of, shop  # noqa: E402, F401 (fixture)


class Client:
    """A browser over plain http to loopback: it keeps the Secure cookies by hand (httpx
    keeps them to https)."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        header = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = httpx.request(method, url, headers={"cookie": header} if header else {},
                                 follow_redirects=False, timeout=30, **kwargs)
        for value in response.headers.get_list("set-cookie"):
            name, _, rest = value.partition("=")
            token = rest.split(";")[0]
            if token in ("", '""') or "max-age=0" in value.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = token
        return response

    def post(self, base: str, path: str, page: str, **fields: str) -> httpx.Response:
        token = csrf_of(self.request("GET", base + page).text)
        return self.request("POST", base + path, data={"csrf_token": token, **fields})


def served(home: Path, *args: str) -> tuple[subprocess.Popen, str]:
    process = start(home, "--port", "0", "--json", *args)
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.poll() is not None else "no URL"
    return process, json.loads(line)["url"].removesuffix("/login")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)


def test_two_serve_processes_on_one_store_share_sessions(home, shop):
    first, a = served(home)
    second, b = served(home)
    try:
        browser = Client()
        signed = browser.post(a, "/login", "/login", email=ALICE, password=PASSWORD)
        assert signed.headers["location"] == "/account", signed.text
        assert ALICE in browser.request("GET", b + "/account").text  # the other host knows it
        copy = dict(browser.cookies)
        assert browser.post(b, "/logout", "/account").headers["location"] == "/login"
        thief = Client()
        thief.cookies = copy
        assert thief.request("GET", a + "/account").headers["location"] == "/login"
    finally:
        stop(first)
        stop(second)


def test_serve_with_workers_honours_one_session_in_every_worker(home, shop):
    process, base = served(home, "--workers", "2")
    try:
        browser = Client()
        assert browser.post(base, "/login", "/login", email=ALICE,
                            password=PASSWORD).headers["location"] == "/account"
        for _ in range(6):  # connections land on either worker
            assert browser.request("GET", base + "/account").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in err


def test_serve_logs_a_line_per_request_without_codes_passwords_or_tokens(home, shop):
    from twofa_cli import TwoFactor

    with TwoFactor.open(home) as twofa:
        twofa.enroll(ALICE, method="Text message", phone="+1 415 555 0199")
        twofa.verify(ALICE, next(m.code for m in twofa.outbox() if m.code))
    process, base = served(home)
    try:
        browser = Client()
        assert browser.post(base, "/login", "/login", email=ALICE,
                            password=PASSWORD).headers["location"] == "/login/code"
        with TwoFactor.open(home) as twofa:
            code = next(m.code for m in twofa.outbox() if m.code)
        signed = browser.post(base, "/login/code", "/login/code", code=code)
        assert signed.headers["location"] == "/account"
        token = browser.cookies["twofa_session"]
        browser.request("GET", base + "/account?recovery_left=9&token=" + token)
        browser.request("GET", base + "/nowhere%0A1.2.3.4%20%22GET%20/forged%22%20200")
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    lines = [line for line in err.splitlines() if "twofa.access" in line]
    requests = [line.split('"')[1] for line in lines]
    assert requests == ["GET /login", "POST /login", "GET /login/code", "POST /login/code",
                        "GET /account", "GET /nowhere\\x0a1.2.3.4 \\x22GET /forged\\x22 200"]
    assert [line.split('"')[-1].split()[0] for line in lines] == [
        "200", "303", "200", "303", "200", "404"]
    assert all(line.endswith(" ms") and "127.0.0.1" in line for line in lines)
    for secret in (code, PASSWORD, token, "recovery_left", "?"):
        assert not any(secret in line for line in lines), secret
