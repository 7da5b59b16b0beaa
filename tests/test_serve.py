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
