"""Secrets at rest and in output (SECURITY.md rules 13-15), attacked through the CLI.

The issue's acceptance check is the first test: after `provider add custom twilio`
with a distinctive auth token, the raw bytes of the SQLite database (and its -wal
and -shm files) do not hold it, and no command prints it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import TWILIO_SID, Cli
from tests.store_dump import dump_store
from twofa_cli.security import SecretKey, mask_secret

# Distinctive, so a hit can only be the credential itself.
TOKEN = "ZqAcceptance" + "c0ffee" * 3 + "Tw1l10"
ROTATED = "ZqRotated" + "beef" * 5 + "Tw1l1o"
CDYNE_KEY = "5EC12E7A-0B5E-4CAD-9F1E-ACCE97A4CE12"
SMTP_PASSWORD = "ZqRelayPassword-7781"
FROM = "+14155550100"


def ok(run):
    assert run.exit_code == 0, (run.exit_code, run.stdout, run.stderr)
    return run


def encodings(secret: str) -> list[bytes]:
    return [secret.encode("utf-8"), secret.encode("utf-16-le"), secret.encode("utf-16-be")]


def database_files(home: Path) -> list[Path]:
    return [path for path in (home / "twofa.db", home / "twofa.db-wal", home / "twofa.db-shm")
            if path.exists()]


@pytest.fixture
def with_credentials(cli, monkeypatch):
    """A Twilio provider (token from stdin, then rotated on the command line), a Cdyne
    provider, an SMTP relay password in the environment, and a method using each."""
    monkeypatch.setenv("TWOFA_SMTP_PASSWORD", SMTP_PASSWORD)
    ok(cli("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
           "--auth-token-stdin", "--from-number", FROM, input=TOKEN + "\n"))
    ok(cli("provider", "add", "custom", "cdyne", "--title", "Cdyne", "--license-key", CDYNE_KEY))
    ok(cli("provider", "add", "configio", "smtp"))
    ok(cli("secondary-auth", "add", "--provider", "SMS", "--title", "Text message"))
    ok(cli("secondary-auth", "add", "--provider", "Email", "--title", "Email code"))
    return cli


# -- rule 13: the database never holds a credential in plain text -------------------------------


@pytest.mark.sqlite_only
def test_acceptance_the_token_is_not_in_the_database_or_its_wal_while_open(cli, home):
    """With a reader holding the database open, SQLite keeps the new pages in -wal."""
    import sqlite3

    reader = sqlite3.connect(home / "twofa.db")
    try:
        reader.execute("SELECT count(*) FROM provider").fetchone()
        ok(cli("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid",
               TWILIO_SID, "--auth-token-stdin", "--from-number", FROM, input=TOKEN + "\n"))
        files = database_files(home)
        assert {path.name for path in files} == {"twofa.db", "twofa.db-wal", "twofa.db-shm"}
        raw = b"".join(path.read_bytes() for path in files)
        assert TWILIO_SID.encode() in raw  # the new provider row is in there ...
        for encoded in encodings(TOKEN):
            assert encoded not in raw  # ... but its token is not
    finally:
        reader.close()


@pytest.mark.sqlite_only
def test_acceptance_the_auth_token_is_not_in_the_database_files(with_credentials, home):
    cli = with_credentials
    ok(cli("provider", "update", "SMS", "--auth-token", ROTATED))
    files = database_files(home)
    assert home / "twofa.db" in files
    raw = b"".join(path.read_bytes() for path in files)
    # the grep can see what is stored: the Account SID is plain text, and it is there
    assert TWILIO_SID.encode() in raw
    for secret in (TOKEN, ROTATED, CDYNE_KEY, CDYNE_KEY.lower(), SMTP_PASSWORD):
        for encoded in encodings(secret):
            assert encoded not in raw, secret


def test_the_store_holds_no_credential_in_any_table(with_credentials, database_url):
    cli = with_credentials
    ok(cli("provider", "update", "SMS", "--auth-token", ROTATED))
    dumped = repr(dump_store(database_url))
    assert TWILIO_SID in dumped  # the dump does see the providers
    for secret in (TOKEN, ROTATED, CDYNE_KEY, CDYNE_KEY.lower(), SMTP_PASSWORD):
        assert secret not in dumped


def test_the_key_in_the_home_opens_the_credentials(with_credentials):
    """The stored token is a ciphertext of the real token, not a hash or nothing at all."""
    from twofa_cli.runtime import open_runtime
    from twofa_cli.services.common import find
    from twofa_cli.store.models import Provider

    rt = open_runtime()
    try:
        with rt.transaction() as session:
            row = find(session, Provider, "SMS", by="title", what="provider")
            assert rt.key.decrypt_json(row.secrets) == {"auth_token": TOKEN}
    finally:
        rt.engine.dispose()


# -- rule 14: no command prints a credential; show and list mask them ------------------------------


READ_COMMANDS = [
    ("provider", "list"),
    ("provider", "show", "SMS"),
    ("provider", "show", "Cdyne"),
    ("provider", "show", "Email"),
    ("secondary-auth", "list"),
    ("audit",),
    ("audit", "--limit", "1000"),
    ("config", "show"),
    ("config", "get", "company-name"),
    ("customer", "status"),
    ("db", "status"),
]


def assert_no_secret(run, *extra: str) -> None:
    for secret in (TOKEN, ROTATED, CDYNE_KEY, CDYNE_KEY.lower(), SMTP_PASSWORD, *extra):
        assert secret not in run.stdout and secret not in run.stderr, secret


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_read_commands_never_print_a_credential(with_credentials, args):
    cli = with_credentials
    for run in (cli(*args), cli(*args, "--json")):
        ok(run)
        assert_no_secret(run)


def test_list_and_show_mask_credentials_as_the_last_four(with_credentials):
    cli = with_credentials
    listed = {p["title"]: p for p in json.loads(ok(cli("provider", "list", "--json")).stdout)}
    assert listed["SMS"]["options"]["auth_token"] == "…" + TOKEN[-4:]
    assert listed["Cdyne"]["options"]["license_key"] == "…" + CDYNE_KEY[-4:]
    shown = json.loads(ok(cli("provider", "show", "SMS", "--json")).stdout)
    assert shown["options"]["auth_token"] == "…" + TOKEN[-4:]
    human = ok(cli("provider", "show", "SMS"))
    assert "…" + TOKEN[-4:] in human.stdout


def test_write_commands_never_echo_a_credential(cli):
    runs = [
        cli("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
            "--auth-token", TOKEN, "--from-number", FROM),
        cli("provider", "add", "custom", "twilio", "--title", "SMS 2", "--account-sid", TWILIO_SID,
            "--auth-token-stdin", "--from-number", FROM, "--json", input=TOKEN + "\n"),
        cli("provider", "update", "SMS", "--auth-token", ROTATED),
        cli("provider", "update", "SMS", "--auth-token-stdin", "--json", input=ROTATED + "\n"),
        cli("provider", "add", "custom", "cdyne", "--title", "Cdyne", "--license-key-stdin",
            input=CDYNE_KEY + "\n"),
        cli("provider", "update", "Cdyne", "--license-key", CDYNE_KEY, "--json"),
        cli("provider", "remove", "SMS 2", "--json"),
        cli("provider", "remove", "Cdyne"),
    ]
    for run in runs:
        ok(run)
        assert_no_secret(run)


@pytest.mark.parametrize("args", [
    # a credential next to a mistake: the error names the mistake, never the credential
    ("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", "AC1",
     "--auth-token", TOKEN, "--from-number", FROM),
    ("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
     "--auth-token", TOKEN + "!", "--from-number", FROM),
    ("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
     "--auth-token", TOKEN, "--auth-token-stdin", "--from-number", FROM),
    ("provider", "add", "custom", "cdyne", "--title", "C", "--license-key", CDYNE_KEY + "0"),
    ("provider", "add", "custom", "cdyne", "--title", "C", "--license-key", CDYNE_KEY,
     "--from-number", "nope"),
    ("provider", "update", "Nope", "--auth-token", TOKEN),
    ("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
     "--auth-token", TOKEN, "--from-number", FROM, "--bogus"),
], ids=range(7))
def test_errors_never_echo_a_credential(cli, args):
    for run in (cli(*args), cli(*args, "--json")):
        assert run.exit_code in {2, 3}, (run.stdout, run.stderr)
        assert_no_secret(run, CDYNE_KEY + "0")


def test_audit_of_a_rotation_names_the_field_not_the_value(with_credentials):
    cli = with_credentials
    ok(cli("--actor", "ops-bob", "provider", "update", "SMS", "--auth-token", ROTATED))
    [event] = json.loads(ok(cli("audit", "--limit", "1", "--json")).stdout)
    assert event["action"] == "provider.update" and event["actor"] == "ops-bob"
    assert event["detail"] == "auth_token"
    assert ROTATED not in json.dumps(event) and ROTATED[-4:] not in json.dumps(event)


def test_config_show_never_prints_the_relay_password_or_the_secret_key(cli, home, monkeypatch):
    monkeypatch.setenv("TWOFA_SMTP_PASSWORD", SMTP_PASSWORD)
    key = (home / "secret.key").read_text().strip()
    for run in (cli("config", "show"), cli("config", "show", "--json"), cli("init"),
                cli("init", "--json")):
        ok(run)
        assert SMTP_PASSWORD not in run.stdout + run.stderr
        assert key not in run.stdout + run.stderr
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert shown["smtp"]["password_env"] == "TWOFA_SMTP_PASSWORD"


def test_config_show_masks_the_database_password(cli, database_url, monkeypatch):
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite URL has no password")
    # the test server trusts local connections, so any password gets in
    with_password = database_url.replace("://postgres@", "://postgres:hunter2pw@", 1)
    assert with_password != database_url
    monkeypatch.setenv("TWOFA_DATABASE_URL", with_password)
    for run in (cli("config", "show"), cli("config", "show", "--json"), cli("db", "status", "--json"),
                cli("init", "--json")):
        ok(run)
        assert "hunter2pw" not in run.stdout + run.stderr
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert "postgres:***@" in shown["database"]["url"]


def test_an_unreachable_database_error_masks_its_password(cli):
    url = "postgresql+psycopg://shop:hunter2pw@127.0.0.1:1/twofa?connect_timeout=5"
    for args in (("db", "status", "--database-url", url), ("init", "--database-url", url)):
        run = cli(*args)
        assert run.exit_code == 1
        assert "hunter2pw" not in run.stdout + run.stderr
        assert "Traceback" not in run.stderr and "cannot open the database" in run.stderr


def test_mask_secret():
    assert mask_secret(TOKEN) == "…" + TOKEN[-4:]
    assert mask_secret("12345678") == "…"  # too short to show any of it
    assert mask_secret("123456789") == "…6789"
    assert mask_secret("") == mask_secret(None) == ""


# -- rule 15: owner-only files, and a key others can read stops the tool ---------------------------


@pytest.fixture
def permissive_umask():
    """Umask 000: whatever init creates owner-only, it did so on purpose."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_init_creates_owner_only_files_even_with_umask_000(bare_cli, tmp_path, permissive_umask):
    home = tmp_path / "fresh"
    ok(bare_cli("init"))
    ok(bare_cli("provider", "add", "configio", "smtp"))  # a write: -wal and -shm appear
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in (home / "secret.key", home / "config.toml", *database_files(home)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (home / "twofa.db") in database_files(home)


def test_init_rewriting_config_keeps_it_owner_only(bare_cli, tmp_path, permissive_umask):
    home = tmp_path / "fresh"
    ok(bare_cli("init"))
    (home / "config.toml").chmod(0o644)
    ok(bare_cli("init", "--database-url", f"sqlite:///{home / 'twofa.db'}"))
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o620, 0o602, 0o644, 0o666])
def test_a_key_file_others_can_reach_stops_every_command(cli, home, database_url, mode):
    key_file = home / "secret.key"
    key_file.chmod(mode)
    before = dump_store(database_url)
    for args in (("provider", "list"), ("config", "show"), ("customer", "enable"), ("init",),
                 ("provider", "add", "configio", "smtp")):
        run = cli(*args)
        assert run.exit_code == 1, (args, run.stdout, run.stderr)
        [line] = [line for line in run.stderr.splitlines() if line.startswith("Error: ")]
        assert str(key_file) in line and "chmod 600" in line and f"{mode:o}" in line
        assert run.stdout == "" and "Traceback" not in run.stderr
        as_json = cli(*args, "--json")
        assert as_json.exit_code == 1 and "chmod 600" in as_json.json["error"]["message"]
    assert stat.S_IMODE(key_file.stat().st_mode) == mode  # the tool never "fixes" it silently
    assert dump_store(database_url) == before
    key_file.chmod(0o600)
    ok(cli("provider", "list"))


def test_an_owner_only_key_with_the_execute_bit_is_accepted(cli, home):
    (home / "secret.key").chmod(0o700)
    ok(cli("provider", "list"))


def test_a_missing_key_file_says_run_init(cli, home):
    (home / "secret.key").unlink()
    run = cli("provider", "list")
    assert run.exit_code == 1 and "twofa init" in run.stderr and "secret key" in run.stderr


def test_a_corrupt_key_file_is_a_clear_error(cli, home):
    (home / "secret.key").write_text("not a key\n")
    run = cli("provider", "list")
    assert run.exit_code == 1 and "not a valid Fernet key" in run.stderr
    assert "Traceback" not in run.stderr


def test_secret_key_from_the_environment(tmp_path, database_url, monkeypatch):
    key = SecretKey.generate()
    monkeypatch.setenv("TWOFA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TWOFA_SECRET_KEY", key)
    cli = Cli()
    ok(cli("init", "--database-url", database_url))
    assert not (tmp_path / "home" / "secret.key").exists()
    ok(cli("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
           "--auth-token", TOKEN, "--from-number", FROM))
    assert TOKEN not in repr(dump_store(database_url))
    shown = json.loads(ok(cli("provider", "show", "SMS", "--json")).stdout)
    assert shown["options"]["auth_token"] == "…" + TOKEN[-4:]
    assert key not in json.dumps(shown)

    # another key cannot read the credentials: a clear error, no traceback, no secret
    monkeypatch.setenv("TWOFA_SECRET_KEY", SecretKey.generate())
    run = cli("provider", "list")
    assert run.exit_code == 1 and "cannot be decrypted" in run.stderr
    assert TOKEN not in run.stdout + run.stderr
    # and no key at all points at init
    monkeypatch.delenv("TWOFA_SECRET_KEY")
    run = cli("provider", "list")
    assert run.exit_code == 1 and "twofa init" in run.stderr
