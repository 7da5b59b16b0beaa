"""Shared fixtures: a fresh twofa home per test, on SQLite and (when configured) PostgreSQL.

Every test that uses ``home``, ``rt`` or ``cli`` runs once per store:
SQLite always, PostgreSQL when TWOFA_TEST_DATABASE_URL is set (each test in a
schema of its own, dropped afterwards).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

PG_URL = os.environ.get("TWOFA_TEST_DATABASE_URL", "")


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: runs on the SQLite store only")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """Nothing from the developer's shell leaks in: no home, key, URL, proxy or Twilio edge."""
    for name in list(os.environ):
        if name.startswith(("TWOFA_", "TWILIO_")) and name != "TWOFA_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
        if name.lower() in {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch):
    """Still argon2id, at test-sized cost: production keeps argon2-cffi's RFC 9106 defaults
    (checked in test_password_hasher_uses_production_parameters)."""
    from argon2 import PasswordHasher

    from twofa_cli import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("TWOFA_TEST_DATABASE_URL is not set")
        if request.node.get_closest_marker("sqlite_only"):
            pytest.skip("SQLite only")
    yield from _store(request.param, tmp_path / "home")


@pytest.fixture
def other_database_url(database_url, tmp_path):
    """A second, empty store of the same kind, for a second home (``tmp_path / "other"``)."""
    yield from _store("sqlite" if database_url.startswith("sqlite") else "postgresql",
                      tmp_path / "other")


def _store(kind: str, home: Path):
    """The URL of an empty store for ``home``: its SQLite file, or a PostgreSQL schema of
    its own, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'twofa.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One `twofa init`-ed SQLite home, copied for each test instead of migrating anew."""
    from twofa_cli.services.setup import initialise

    path = tmp_path_factory.mktemp("template") / "home"
    initialise(path)
    return path


@pytest.fixture
def home(tmp_path, database_url, monkeypatch, sqlite_template) -> Path:
    """An initialised twofa home; TWOFA_HOME and TWOFA_DATABASE_URL point at it."""
    from twofa_cli.services.setup import initialise

    path = tmp_path / "home"
    monkeypatch.setenv("TWOFA_HOME", str(path))
    monkeypatch.setenv("TWOFA_DATABASE_URL", database_url)
    if database_url.startswith("sqlite"):
        shutil.copytree(sqlite_template, path)
    else:
        initialise(path)
    return path


class Clock:
    """A clock tests move by hand (services take it instead of reading the time)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rt(home, clock):
    from twofa_cli.runtime import open_runtime

    runtime = open_runtime(home, actor="tester", clock=clock)
    yield runtime
    runtime.engine.dispose()


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


class Cli:
    """Runs ``twofa`` in-process through Typer's CliRunner, like a user would."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Run:
        from twofa_cli.cli.main import app

        result = self.runner.invoke(app, list(args), input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli(home) -> Cli:
    return Cli()


@pytest.fixture
def bare_cli(tmp_path, monkeypatch) -> Cli:
    """The CLI on a home that was never initialised."""
    monkeypatch.setenv("TWOFA_HOME", str(tmp_path / "fresh"))
    return Cli()


@pytest.fixture
def argon2_calls(monkeypatch) -> Counter:
    """Every argon2 computation this process makes, by kind (hash or verify)."""
    import argon2._password_hasher as hasher_module
    import argon2.low_level as low_level

    calls: Counter = Counter()
    for module in (hasher_module, low_level):
        for name, kind in (("hash_secret", "hash"), ("hash_secret_raw", "hash"),
                           ("verify_secret", "verify")):
            if hasattr(module, name):
                real = getattr(module, name)

                def counted(*args, _real=real, _kind=kind, **kwargs):
                    calls[_kind] += 1
                    return _real(*args, **kwargs)

                monkeypatch.setattr(module, name, counted)
    return calls


# -- small builders shared by the test modules --------------------------------------

TWILIO_SID = "AC" + "a1" * 16
TWILIO_TOKEN = "tok" + "9f" * 14 + "xy"


@pytest.fixture
def sms_setup(rt):
    """A Twilio provider, a "Text message" method, customers Active, one customer."""
    from twofa_cli.services import accounts, providers, secondary_auth, system

    system.set_company_name(rt, "Acme Events")
    provider = providers.add_provider(rt, channel="twilio", title="SMS", options={
        "account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+14155550100"})
    method = secondary_auth.add_secondary_auth(rt, provider="SMS", title="Text message")
    system.set_allowed(rt, "customer", True)
    account = accounts.add_account(rt, email="alice@example.com", password="correct horse")
    return {"provider": provider, "method": method, "account": account}


def last_code(rt) -> str:
    from twofa_cli.services.delivery import list_outbox

    # The newest message with a code: the customer's notices (rule 27) carry none.
    return next(m["code"] for m in list_outbox(rt, limit=50) if m["code"] is not None)
