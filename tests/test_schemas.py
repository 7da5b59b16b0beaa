"""The JSON Schemas of docs/schema/: fresh, one per command, and true of what each prints.

One simulate-mode story runs every command with ``--json`` (and a few that fail, for the
error document); each schema then validates every document its command printed.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import typer
from jsonschema import Draft202012Validator, FormatChecker

from twofa_cli.cli import schemas
from twofa_cli.cli.schemas import ERROR, SCHEMA_DIR, outputs, schema_name
from tests.conftest import PG_URL, TWILIO_SID, TWILIO_TOKEN, _store

ALICE = "alice@example.com"
PASSWORD = "correct horse battery"
CDYNE_KEY = "0f0e0d0c-0b0a-4908-8706-050403020100"

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """ISO-8601 with a UTC offset, as ``plain()`` writes datetimes (jsonschema checks this
    format only with an optional package; the test must not pass for want of it)."""
    return not isinstance(value, str) or datetime.fromisoformat(value).utcoffset() is not None


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMATS)


# -- the files and the registry --------------------------------------------------------------


def test_the_committed_schemas_are_what_the_generator_writes():
    assert schemas.stale() == [], "run: python -m twofa_cli.cli.schemas --write"


def test_the_check_fails_on_a_changed_missing_or_left_over_file(tmp_path):
    schemas.write(tmp_path)
    assert schemas.stale(tmp_path) == []
    (tmp_path / "verify.json").write_text("{}\n")
    (tmp_path / "outbox.json").unlink()
    (tmp_path / "gone.json").write_text("{}\n")
    assert sorted(schemas.stale(tmp_path)) == [
        "gone.json: left over (no command prints it)", "outbox.json: missing",
        "verify.json: stale"]


def is_group(command) -> bool:
    return hasattr(command, "commands")  # Typer's groups (it carries a click of its own)


def leaf_commands() -> set[tuple[str, ...]]:
    """Every command of ``twofa`` that runs (hidden aliases too), by its words."""
    from twofa_cli.cli.main import app

    found: set[tuple[str, ...]] = set()

    def walk(command, words: tuple[str, ...]) -> None:
        if not is_group(command):
            found.add(words)
            return
        for name in list(command.commands):
            walk(command.commands[name], (*words, name))

    walk(typer.main.get_command(app), ())
    return found


def test_every_command_has_an_output_type_and_a_schema_file():
    commands = leaf_commands()
    assert {("enroll",), ("provider", "add", "custom", "twilio"), ("db", "status")} <= commands
    registered = set(schemas.COMMAND_OUTPUTS) - {("version",)}  # --version is an option
    assert commands - registered == set(), "add them to schemas.COMMAND_OUTPUTS"
    assert registered - commands == set(), "no such command"
    files = {path.stem for path in SCHEMA_DIR.glob("*.json")}
    assert {schema_name(words) for words in commands} | {"version", ERROR} == files


def test_the_error_schema_knows_every_error_code():
    from twofa_cli.errors import TwofaError

    def codes(cls: type) -> set[str]:
        return {cls.code}.union(*(codes(sub) for sub in cls.__subclasses__()))

    enum = validator(ERROR).schema["$defs"]["ErrorBody"]["properties"]["code"]["enum"]
    assert codes(TwofaError) | {"internal"} == set(enum)


def test_the_schemas_refuse_what_a_command_never_prints():
    verify = validator("verify")
    good = {"status": "verified", "entry_id": 3, "trusted_device": False, "account_id": 1}
    assert verify.is_valid(good)
    assert verify.is_valid({**good, "recovery_codes": ["abcde-fghij"] * 10})
    assert not verify.is_valid({**good, "extra": 1})  # additionalProperties: false
    assert not verify.is_valid({**good, "status": "done"})  # the Literal's enum
    assert not verify.is_valid({k: v for k, v in good.items() if k != "trusted_device"})
    assert not verify.is_valid({**good, "recovery_codes": None})  # omitted, never null
    outbox = validator("outbox")
    message = {"id": 1, "to": "+14155550199", "channel": "twilio", "medium": "sms", "subject": "", "body": "b",
               "code": None, "created_at": "2026-01-15T12:00:00+00:00"}
    assert outbox.is_valid([message])
    assert not outbox.is_valid([{**message, "created_at": "yesterday"}])
    assert not outbox.is_valid(message)  # a list command prints an array
    assert not validator(ERROR).is_valid({"error": {"code": "oops", "message": "m"}})


# -- every command's real output ---------------------------------------------------------------


class Story:
    """Runs ``twofa`` in-process in one home and keeps each ``--json`` document under the
    schema it must match: the command's, or the error document's when it failed."""

    def __init__(self, home: Path) -> None:
        from typer.testing import CliRunner

        from twofa_cli.cli.main import app

        self.app, self.home, self.runner = app, home, CliRunner()
        self.printed: dict[str, list] = {}

    def words(self, args: tuple[str, ...]) -> tuple[str, ...]:
        if args[:1] == ("--version",):
            return ("version",)
        command, words = typer.main.get_command(self.app), ()
        for token in args:
            if not is_group(command) or token not in command.commands:
                break
            command, words = command.commands[token], (*words, token)
        return words

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None,
                 exit_code: int = 0):
        result = self.runner.invoke(self.app, ["--home", str(self.home), *args, "--json"],
                                    input=input, env=env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == exit_code, (args, result.stdout, result.stderr)
        document = json.loads(result.stdout)  # exactly one document, nothing else
        name = schema_name(self.words(args)) if exit_code == 0 else ERROR
        self.printed.setdefault(name, []).append(document)
        return document

    def code(self) -> str:
        return next(m["code"] for m in self("outbox") if m["code"] is not None)


def tell_the_story(twofa: Story, tmp: Path) -> None:
    twofa("--version")
    twofa("db", "status")
    twofa("db", "upgrade")
    twofa("config", "set", "throttle.resend_interval_seconds", "0")  # no clock to move here
    twofa("config", "set", "throttle.challenge_interval_seconds", "0")
    twofa("config", "get", "throttle.resend_interval_seconds")
    twofa("config", "set", "codes.ttl_seconds", "300")
    twofa("config", "unset", "codes.ttl_seconds")
    twofa("config", "set", "company-name", "Acme Events")
    twofa("config", "get", "company-name")
    twofa("config", "show")

    # the administrator: providers, methods, the Allowed switches
    twofa("provider", "instructions", "twilio")
    twofa("provider", "add", "configio", "smtp", "--title", "Email")
    twofa("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
          "--auth-token-stdin", "--from-number", "+14155550100", input=TWILIO_TOKEN + "\n")
    twofa("provider", "add", "custom", "cdyne", "--title", "Cdyne", "--license-key", CDYNE_KEY)
    twofa("provider", "list")
    twofa("provider", "show", "SMS")
    twofa("provider", "update", "Cdyne", "--title", "Backup SMS")
    twofa("provider", "test", "SMS", "--to", "+14155550123")
    twofa("secondary-auth", "add", "--provider", "SMS", "--title", "Text message")
    twofa("secondary-auth", "add", "--provider", "Email", "--title", "Email code")
    twofa("secondary-auth", "add", "--kind", "totp", "--title", "Authenticator app")
    twofa("secondary-auth", "update", "Text message", "--fallback", "Backup SMS")
    twofa("secondary-auth", "list")
    twofa("secondary-auth", "show", "Text message")
    for audience in ("customer", "admin"):
        twofa(audience, "enable")
        twofa(audience, "disable")
        twofa(audience, "status")
    twofa("customer", "enable")

    # accounts
    twofa("account", "add", ALICE, "--name", "Alice", "--password-stdin", input=PASSWORD + "\n")
    rows = tmp / "accounts.csv"
    with rows.open("w", newline="") as file:
        csv.writer(file).writerows([["email", "name", "password"],
                                    ["bob@example.com", "Bob", "a long password"]])
    twofa("account", "import", str(rows))
    bad_rows = tmp / "bad.csv"
    bad_rows.write_text("email,name,password\nnot-an-email,X,a long password\n")
    assert "rows" in twofa("account", "import", str(bad_rows), exit_code=2)["error"]
    twofa("account", "list")
    twofa("account", "show", ALICE)
    twofa("account", "set-password", "bob@example.com", "--password-stdin",
          input="another long password\n")

    # the customer enrols a phone (the first entry brings recovery codes) and an app
    twofa("enroll", ALICE, "--method", "Text message", "--phone", "+14155550199")
    twofa("resend", ALICE)
    assert "recovery_codes" in twofa("verify", ALICE, twofa.code())
    issued = twofa("enroll", ALICE, "--method", "Authenticator app")
    import pyotp

    twofa("verify", ALICE, pyotp.TOTP(issued["secret"]).now())
    twofa("entry", "list", ALICE)
    twofa("recovery-codes", "status", ALICE)
    recovery = twofa("recovery-codes", "generate", ALICE, "--yes")["recovery_codes"]

    # logs in: a code, a trusted device, the app, a recovery code, then logs out
    twofa("login", ALICE, "--password-stdin", "--device", "laptop", input=PASSWORD + "\n")
    twofa("resend", ALICE)
    twofa("verify", ALICE, twofa.code(), "--trust-device", "--device", "laptop")
    assert twofa("login", ALICE, "--password-stdin", "--device", "laptop",
                 input=PASSWORD + "\n")["status"] == "authenticated"
    assert twofa("login", ALICE, "--password-stdin", "--method", "Authenticator app",
                 input=PASSWORD + "\n")["status"] == "code_required"
    assert twofa("verify", ALICE, "--recovery-code", recovery[0])["recovery_codes_remaining"] == 9
    twofa("verify", ALICE, "123456", exit_code=1)  # nothing pending now
    twofa("login", ALICE, "--password-stdin", input="wrong password\n", exit_code=1)
    twofa("session", "list", ALICE)
    twofa("logout", ALICE, "--device", "laptop")
    twofa("session", "revoke", ALICE, "--all")
    twofa("device", "list", ALICE)
    twofa("device", "revoke", ALICE, "--all")
    twofa("device", "forget", "laptop")
    twofa("entry", "prefer", ALICE, "Authenticator app")
    twofa("entry", "delete", ALICE, "Text message", "--yes")
    twofa("entry", "remove", ALICE, "Authenticator app", "--yes")

    # operations
    twofa("outbox", "--limit", "5")
    twofa("audit", "--limit", "5")
    twofa("delivery", "list")
    twofa("delivery", "stats")
    twofa("export")
    exported = tmp / "twofa.toml"
    twofa("export", "--output", str(exported))
    import tomllib

    document = tomllib.loads(exported.read_text())
    secrets = {"auth_token": TWILIO_TOKEN, "license_key": CDYNE_KEY}
    references = {value.removeprefix("env:"): secrets[option] for provider in document["providers"]
                  for option, value in provider.items() if str(value).startswith("env:")}
    twofa("apply", str(exported), "--dry-run", env=references)
    twofa("apply", str(exported), env=references)
    twofa("key", "rotate")
    twofa("key", "prune")

    # removals, each under its name and its hidden alias
    twofa("account", "show", "nobody@example.com", exit_code=3)
    twofa("secondary-auth", "delete", "Email code", "--yes")
    twofa("secondary-auth", "remove", "Authenticator app", "--yes")
    twofa("provider", "delete", "Email", "--yes")
    twofa("provider", "remove", "SMS", "--yes")
    twofa("account", "delete", "bob@example.com", "--yes")
    twofa("account", "remove", ALICE, "--yes")
    twofa("provider", "nonsense", exit_code=2)  # a usage error is one JSON document too


def serve_once(home: Path) -> dict:
    """``twofa serve --port 0 --json``'s line, from a real process (stopped at once)."""
    env = {**os.environ, "TWOFA_HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[1])}
    server = subprocess.Popen([sys.executable, "-m", "twofa_cli", "serve", "--port", "0",
                               "--json"], stdout=subprocess.PIPE, env=env, text=True)
    try:
        line = server.stdout.readline()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return json.loads(line)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def printed(request, tmp_path_factory) -> dict[str, list]:
    """Every document the story printed, by the schema it must match."""
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("TWOFA_TEST_DATABASE_URL is not set")
    tmp = tmp_path_factory.mktemp(f"schemas-{request.param}")
    home = tmp / "home"
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):  # nothing from the shell: as conftest does per test
            if name.startswith(("TWOFA_", "TWILIO_")) and name != "TWOFA_TEST_DATABASE_URL":
                patch.delenv(name)
        from argon2 import PasswordHasher

        from twofa_cli import security

        patch.setattr(security, "_hasher",
                      PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        store = _store(request.param, home)
        url = next(store)
        twofa = Story(home)
        twofa("init", "--database-url", url)
        tell_the_story(twofa, tmp)
        twofa.printed["serve"] = [serve_once(home)]
        next(store, None)  # drops a PostgreSQL schema
    return twofa.printed


@pytest.mark.parametrize("name", sorted(outputs()))
def test_each_command_prints_what_its_schema_says(name, printed):
    documents = printed.get(name)
    assert documents, f"the story in this file never printed {name!r}: run it there"
    check = validator(name)
    for document in documents:
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                    for e in check.iter_errors(document)]
        assert problems == [], document
