"""Ops automation: the quick start twice, export and apply, idempotent adds, config.toml
settings by name, environment overrides, reads that write nothing, output for pipes."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import TWILIO_SID, TWILIO_TOKEN, Cli
from tests.store_dump import dump_store

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CDYNE_KEY = "F01D89FD-5155-5455-5585-E84AB8DE8591"
INSTALL = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && '


def ok(run):
    assert run.exit_code == 0, (run.exit_code, run.stdout, run.stderr)
    return run.json


def refused(run, exit_code: int, code: str) -> str:
    assert run.exit_code == exit_code, (run.exit_code, run.stdout, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    return run.stderr


@pytest.fixture
def shell(tmp_path):
    """Runs a shell command line with `twofa` on PATH, as this checkout installed it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "twofa"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m twofa_cli "$@"\n')
    shim.chmod(0o755)

    def run(command: str, **env: str) -> subprocess.CompletedProcess:
        path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]])
        environment = {**os.environ, "PATH": path,
                       "PYTHONPATH": str(ROOT), **env}
        return subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                              text=True, env=environment, cwd=tmp_path, timeout=300)

    return run


def shop(cli) -> None:
    """A Services Manager with one provider of each kind, a method, both switches, settings."""
    ok(cli("config", "set", "company-name", "Acme Events", "--json"))
    ok(cli("provider", "add", "configio", "smtp", "--title", "Email", "--json"))
    ok(cli("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
           "--auth-token", TWILIO_TOKEN, "--from-number", "+14155550100", "--json"))
    ok(cli("provider", "add", "custom", "cdyne", "--title", "Cdyne SMS", "--license-key",
           CDYNE_KEY, "--json"))
    ok(cli("secondary-auth", "add", "--provider", "SMS", "--title", "Text message", "--json"))
    ok(cli("secondary-auth", "add", "--provider", "Email", "--title", "Email code", "--json"))
    ok(cli("customer", "enable", "--json"))
    ok(cli("config", "set", "codes.ttl_seconds", "300", "--json"))
    ok(cli("config", "set", "sms.allowed_countries", "us,ca", "--json"))


def authenticator_app(cli) -> None:
    ok(cli("secondary-auth", "add", "--kind", "totp", "--title", "Authenticator app", "--json"))


# -- the quick start ------------------------------------------------------------------------


def quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    command = re.search(r"## Quick start.*?```sh\n(.+?)\n```", text, re.S).group(1)
    assert command.startswith(INSTALL), command  # installing is left to CI's fresh venv
    return command.removeprefix(INSTALL)


def test_quick_start_runs_twice_and_the_second_run_changes_nothing(shell, tmp_path, database_url):
    home = tmp_path / "home"
    env = {"TWOFA_HOME": str(home), "TWOFA_DATABASE_URL": database_url}
    first = shell(quick_start(), **env)
    assert first.returncode == 0, first.stderr
    store, config = dump_store(database_url), (home / "config.toml").read_bytes()
    assert store["provider"] and store["secondary_auth"]

    second = shell(quick_start(), **env)
    assert second.returncode == 0, second.stderr
    assert dump_store(database_url) == store  # no row, not even an audit row
    assert (home / "config.toml").read_bytes() == config


# -- export and apply -----------------------------------------------------------------------


def test_export_writes_references_never_secrets_the_database_url_or_environment_values(
        cli, home, database_url, monkeypatch, tmp_path):
    shop(cli)
    authenticator_app(cli)
    monkeypatch.setenv("TWOFA_DELIVERY__MODE", "live")
    monkeypatch.setenv("TWOFA_THROTTLE__PROVIDER_HOURLY_CAP", "77")
    path = tmp_path / "twofa.toml"
    run = cli("export", "--output", str(path))
    assert run.exit_code == 0, run.stderr
    text = path.read_text()
    for secret in (TWILIO_TOKEN, CDYNE_KEY, database_url.split("?")[0], "77"):
        assert secret not in text
    document = tomllib.loads(text)
    assert document["company_name"] == "Acme Events"
    assert document["audiences"] == {"customer": True, "admin": False}
    sms = next(p for p in document["providers"] if p["title"] == "SMS")
    assert sms["auth_token"] == "env:SMS_AUTH_TOKEN" and sms["from_number"] == "+14155550100"
    cdyne = next(p for p in document["providers"] if p["title"] == "Cdyne SMS")
    assert cdyne["license_key"] == "env:CDYNE_SMS_LICENSE_KEY"
    assert {"title": "Text message", "provider": "SMS"} in document["secondary_auth"]
    assert {"title": "Authenticator app", "kind": "totp"} in document["secondary_auth"]
    assert "database" not in document["settings"]
    assert document["settings"]["delivery"]["mode"] == "simulate"  # the file's, not the env's
    assert document["settings"]["codes"]["ttl_seconds"] == 300
    assert document["settings"]["sms"]["allowed_countries"] == ["US", "CA"]
    # to stdout as well, the same document
    assert tomllib.loads(cli("export").stdout) == document


def test_export_applied_to_a_second_empty_home_reproduces_it_and_again_changes_nothing(
        cli, home, tmp_path, other_database_url, monkeypatch):
    shop(cli)
    authenticator_app(cli)
    path = tmp_path / "twofa.toml"
    assert cli("export", "--output", str(path)).exit_code == 0
    exported = tomllib.loads(path.read_text())
    (tmp_path / "cdyne.key").write_text(CDYNE_KEY + "\n")
    path.write_text(path.read_text().replace('"env:CDYNE_SMS_LICENSE_KEY"', '"file:cdyne.key"'))

    monkeypatch.setenv("TWOFA_HOME", str(tmp_path / "other"))
    monkeypatch.setenv("TWOFA_DATABASE_URL", other_database_url)
    monkeypatch.setenv("SMS_AUTH_TOKEN", TWILIO_TOKEN)
    ok(cli("init", "--json"))
    applied = ok(cli("apply", str(path), "--json"))
    assert applied["applied"] is True
    assert {(c["action"], c["kind"], c["name"]) for c in applied["changes"]} >= {
        ("create", "provider", "SMS"), ("create", "provider", "Cdyne SMS"),
        ("create", "secondary_auth", "Text message"),
        ("create", "secondary_auth", "Authenticator app"), ("update", "audience", "customer"),
        ("update", "company_name", "company_name"), ("update", "setting", "codes.ttl_seconds")}
    assert tomllib.loads(cli("export").stdout) == exported
    providers = {p["title"]: p for p in ok(cli("provider", "list", "--json"))}
    assert providers["SMS"]["options"]["auth_token"] == "…" + TWILIO_TOKEN[-4:]
    assert providers["Cdyne SMS"]["options"]["license_key"] == "…" + CDYNE_KEY[-4:]
    app = ok(cli("secondary-auth", "show", "Authenticator app", "--json"))
    assert (app["kind"], app["provider"]) == ("totp", None)

    before = dump_store(other_database_url)
    assert ok(cli("apply", str(path), "--json")) == {"changes": [], "applied": False}
    assert dump_store(other_database_url) == before


def test_apply_dry_run_prints_the_plan_masked_and_changes_nothing(cli, home, database_url,
                                                                  tmp_path, monkeypatch):
    shop(cli)
    path = tmp_path / "twofa.toml"
    cli("export", "--output", str(path))
    monkeypatch.setenv("SMS_AUTH_TOKEN", "tok" + "77" * 14 + "zz")
    monkeypatch.setenv("CDYNE_SMS_LICENSE_KEY", CDYNE_KEY)
    path.write_text(path.read_text().replace("+14155550100", "+14155550111"))
    before, config = dump_store(database_url), (home / "config.toml").read_text()
    run = cli("apply", str(path), "--dry-run", "--format", "tsv")
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "action\tkind\tname\tdetail"
    [change] = lines[1:]
    assert change.startswith("update\tprovider\tSMS\t")
    assert "…" + TWILIO_TOKEN[-4:] + " -> …77zz" in change and "+14155550111" in change
    assert TWILIO_TOKEN not in run.stdout + run.stderr
    assert "nothing changed" in run.stderr
    assert dump_store(database_url) == before
    assert (home / "config.toml").read_text() == config

    result = ok(cli("apply", str(path), "--json"))
    assert result["applied"] is True and len(result["changes"]) == 1
    assert ok(cli("provider", "show", "SMS", "--json"))["options"]["from_number"] == "+14155550111"


def test_apply_prunes_only_when_asked(cli, home, tmp_path, monkeypatch):
    shop(cli)
    authenticator_app(cli)
    path = tmp_path / "twofa.toml"
    path.write_text('[[providers]]\ntitle = "Email"\nchannel = "smtp"\n\n'
                    '[[secondary_auth]]\ntitle = "Email code"\nprovider = "Email"\n')
    assert ok(cli("apply", str(path), "--json")) == {"changes": [], "applied": False}
    result = ok(cli("apply", str(path), "--prune", "--json"))
    assert {(c["action"], c["kind"], c["name"]) for c in result["changes"]} == {
        ("delete", "secondary_auth", "Text message"),
        ("delete", "secondary_auth", "Authenticator app"), ("delete", "provider", "SMS"),
        ("delete", "provider", "Cdyne SMS")}
    assert [p["title"] for p in ok(cli("provider", "list", "--json"))] == ["Email"]
    assert [m["title"] for m in ok(cli("secondary-auth", "list", "--json"))] == ["Email code"]
    assert ok(cli("apply", str(path), "--prune", "--json"))["changes"] == []


def test_apply_creates_and_keeps_an_authenticator_app_and_refuses_a_change_of_kind(
        cli, home, database_url, tmp_path):
    ok(cli("provider", "add", "configio", "smtp", "--title", "Email", "--json"))
    ok(cli("secondary-auth", "add", "--provider", "Email", "--title", "Email code", "--json"))
    path = tmp_path / "twofa.toml"
    path.write_text('[[providers]]\ntitle = "Email"\nchannel = "smtp"\n\n'
                    '[[secondary_auth]]\ntitle = "Authenticator app"\nkind = "totp"\n\n'
                    '[[secondary_auth]]\ntitle = "Email code"\nkind = "code"\n'
                    'provider = "Email"\n')
    result = ok(cli("apply", str(path), "--prune", "--json"))
    assert [(c["action"], c["kind"], c["name"]) for c in result["changes"]] == [
        ("create", "secondary_auth", "Authenticator app")]
    assert ok(cli("secondary-auth", "show", "Authenticator app", "--json"))["kind"] == "totp"
    assert ok(cli("apply", str(path), "--prune", "--json"))["changes"] == []

    before = dump_store(database_url)
    for document, where in [
            ('[[secondary_auth]]\ntitle = "Email code"\nkind = "totp"\n',
             "secondary_auth[0].kind: 'Email code' is a code method"),
            ('[[secondary_auth]]\ntitle = "Authenticator app"\nprovider = "Email"\n',
             "secondary_auth[0].kind: 'Authenticator app' is a totp method")]:
        path.write_text(document)
        run = cli("apply", str(path), "--json")
        assert run.exit_code == 2, (run.stdout, run.stderr)
        assert where in run.json["error"]["message"]
    assert dump_store(database_url) == before


@pytest.mark.parametrize("document, message", [
    ('[[providers]]\ntitle = "SMS"\nchannel = "twilio"\naccount_sid = "' + TWILIO_SID + '"\n'
     'auth_token = "env:SMS_AUTH_TOKEN"\nfrom_number = "+1555"\n',
     "providers[0].from_number: '+1555' is not a valid phone number"),
    ('[[providers]]\ntitle = "Email"\nchannel = "smtp"\n[[providers]]\ntitle = "X"\n'
     'channel = "cdyne"\nlicense_key = "' + CDYNE_KEY + '"\n',
     'providers[1].license_key: write a reference, "env:NAME" or "file:PATH"'),
    ('[[providers]]\ntitle = "X"\nchannel = "cdyne"\nlicense_key = "env:NOT_SET_ANYWHERE"\n',
     "providers[0].license_key: the environment variable NOT_SET_ANYWHERE is not set"),
    ('[[providers]]\ntitle = "X"\nchannel = "cdyne"\nlicense_key = "env:SET_BUT_EMPTY"\n',
     "providers[0].license_key: the environment variable SET_BUT_EMPTY is empty"),
    ('[[providers]]\ntitle = "X"\nchannel = "carrier pigeon"\n', "providers[0].channel"),
    ('[[secondary_auth]]\ntitle = "Y"\nprovider = "Nowhere"\n',
     "secondary_auth[0].provider: no provider 'Nowhere'"),
    ('[[secondary_auth]]\ntitle = "Y"\nkind = "sms"\nprovider = "Email"\n',
     'secondary_auth[0].kind: must be "code", "totp" or "passkey"'),
    ('[[secondary_auth]]\ntitle = "Y"\nkind = "totp"\nprovider = "Email"\n',
     "secondary_auth[0].provider: an authenticator app (totp) names no provider"),
    ('[[secondary_auth]]\ntitle = "Y"\nkind = "code"\n',
     "secondary_auth[0].provider: a code method names its provider"),
    ('[[secondary_auth]]\ntitle = "Y"\n',
     "secondary_auth[0].provider: a code method names its provider"),
    ('[settings.codes]\nttl_seconds = 5\n', "settings.codes.ttl_seconds: Input should be"),
    ('[settings.codes]\ncolour = 5\n', "settings.codes.colour: unknown setting"),
    ('[[providers]]\ntitle = 7\nchannel = "smtp"\n', "providers[0].title: must be a string"),
    ('[[secondary_auth]]\ntitle = ""\nprovider = "Email"\n',
     "secondary_auth[0].title: title must not be empty"),
    ('[settings.database]\nurl = "sqlite:///elsewhere.db"\n', "settings.database"),
    ('[audiences]\ncustomer = "yes"\n', "audiences.customer: must be true or false"),
    ('colour = "blue"\n', "colour: unknown key"),
    ('[[providers]\n', "not valid TOML"),
])
def test_a_bad_file_is_exit_2_with_the_path_of_the_bad_key_and_changes_nothing(
        cli, home, database_url, tmp_path, monkeypatch, document, message):
    monkeypatch.setenv("SMS_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("SET_BUT_EMPTY", "")
    ok(cli("provider", "add", "configio", "smtp", "--title", "Email", "--json"))
    path = tmp_path / "bad.toml"
    # a good change first: nothing of it may be applied either
    path.write_text('company_name = "Changed"\n' + document
                    if not document.startswith(("colour", "[[providers]\n")) else document)
    before, config = dump_store(database_url), (home / "config.toml").read_text()
    run = cli("apply", str(path), "--json")
    assert run.exit_code == 2, (run.stdout, run.stderr)
    assert run.json["error"]["code"] == "bad_input"
    assert message in run.json["error"]["message"]
    assert dump_store(database_url) == before
    assert (home / "config.toml").read_text() == config


# -- idempotent adds, duplicates are conflicts ----------------------------------------------


def test_exist_ok_adds_are_idempotent_and_a_different_object_is_a_conflict(cli, database_url):
    twilio = ("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid",
              TWILIO_SID, "--auth-token", TWILIO_TOKEN, "--from-number", "+14155550100")
    first = ok(cli(*twilio, "--json"))
    before = dump_store(database_url)
    assert ok(cli(*twilio, "--exist-ok", "--json"))["id"] == first["id"]
    assert dump_store(database_url) == before
    other_sender = [a if a != "+14155550100" else "+14155550101" for a in twilio]
    assert refused(cli(*other_sender, "--exist-ok"), 1, "conflict")
    assert cli(*twilio, "--json").json["error"]["code"] == "conflict"  # without --exist-ok

    method = ("secondary-auth", "add", "--provider", "SMS", "--title", "Text message")
    made = ok(cli(*method, "--json"))
    assert ok(cli(*method, "--exist-ok", "--json"))["id"] == made["id"]
    ok(cli("provider", "add", "configio", "smtp", "--title", "Email", "--json"))
    moved = cli("secondary-auth", "add", "--provider", "Email", "--title", "Text message",
                "--exist-ok", "--json")
    assert moved.exit_code == 1 and moved.json["error"]["code"] == "conflict"

    account = ("account", "add", "bob@example.com", "--name", "Bob", "--password-stdin")
    added = ok(cli(*account, "--json", input="a long password\n"))
    assert ok(cli(*account, "--exist-ok", "--json", input="a long password\n"))["id"] == added["id"]
    assert cli(*account, "--exist-ok", "--json", input="another password\n").exit_code == 1
    assert cli(*account, "--json", input="a long password\n").json["error"]["code"] == "conflict"


def test_import_duplicates_are_conflicts_and_skip_existing_leaves_them_out(cli, tmp_path):
    ok(cli("account", "add", "taken@example.com", "--password-stdin", "--json",
           input="a long password\n"))
    path = tmp_path / "accounts.csv"
    path.write_text("email,name,password\nnew@example.com,New,long enough\n"
                    "taken@example.com,Taken,long enough\n")
    run = cli("account", "import", str(path), "--json")
    assert run.exit_code == 1 and run.json["error"]["code"] == "conflict"
    assert run.json["error"]["rows"] == [
        {"line": 3, "message": "an account for taken@example.com already exists"}]

    result = ok(cli("account", "import", str(path), "--skip-existing", "--json"))
    assert result["imported"] == 1 and result["skipped"] == 1
    again = ok(cli("account", "import", str(path), "--skip-existing", "--json"))
    assert again["imported"] == 0 and again["skipped"] == 2

    path.write_text("email,name,password\nx@example.com,X,long enough\nx@example.com,X,long enough\n")
    repeated = cli("account", "import", str(path), "--skip-existing", "--json")
    assert repeated.exit_code == 1 and repeated.json["error"]["code"] == "conflict"


# -- config set / get / unset and the environment -------------------------------------------


def test_config_set_delivery_mode_live_then_back_with_the_environment(cli, home, monkeypatch):
    assert ok(cli("config", "set", "delivery.mode", "live", "--json")) == {
        "key": "delivery.mode", "value": "live", "source": "config.toml"}
    assert cli("config", "get", "delivery.mode").stdout == "live\n"
    assert 'mode = "live"' in (home / "config.toml").read_text()

    monkeypatch.setenv("TWOFA_DELIVERY__MODE", "simulate")
    assert ok(cli("config", "get", "delivery.mode", "--json")) == {
        "key": "delivery.mode", "value": "simulate",
        "source": "environment TWOFA_DELIVERY__MODE"}
    shown = ok(cli("config", "show", "--json"))
    assert shown["delivery"]["mode"] == "simulate"
    assert shown["sources"]["delivery.mode"] == "environment TWOFA_DELIVERY__MODE"
    assert shown["sources"]["codes.length"] == "config.toml"
    # the runtime obeys it: a test message goes to the outbox, not to the relay
    ok(cli("provider", "add", "configio", "smtp", "--title", "Email", "--json"))
    assert ok(cli("provider", "test", "Email", "--to", "ops@example.com", "--json"))["mode"] == \
        "simulate"
    assert ok(cli("outbox", "--json"))[0]["to"] == "ops@example.com"


def test_config_set_checks_like_loading_and_keeps_comments(cli, home):
    path = home / "config.toml"
    before = path.read_text()
    for key, value, message in [("codes.ttl_seconds", "5", "greater than or equal to 60"),
                                ("delivery.mode", "carrier pigeon", "delivery.mode"),
                                ("smtp.port", "many", "smtp.port"),
                                ("codes.colour", "1", "company-name")]:
        run = cli("config", "set", key, value)
        assert run.exit_code == 2 and message in run.stderr, (key, run.stderr)
    assert path.read_text() == before

    ok(cli("config", "set", "trusted_devices.ttl_days", "7", "--json"))
    after = path.read_text()
    assert "ttl_days = 7" in after
    assert [line for line in after.splitlines() if line.startswith("#")] == \
        [line for line in before.splitlines() if line.startswith("#")]
    assert ok(cli("config", "unset", "trusted_devices.ttl_days", "--json")) == {
        "key": "trusted_devices.ttl_days", "value": 30, "source": "default"}
    assert "ttl_days" not in path.read_text()


def test_every_setting_has_an_environment_override(cli, home, monkeypatch):
    monkeypatch.setenv("TWOFA_TRUSTED_DEVICES__TTL_DAYS", "7")
    monkeypatch.setenv("TWOFA_SMS__ALLOWED_COUNTRIES", '["de"]')
    shown = ok(cli("config", "show", "--json"))
    assert shown["trusted_devices"]["ttl_days"] == 7
    assert shown["sms"]["allowed_countries"] == ["DE"]
    assert shown["sources"]["trusted_devices.ttl_days"] == \
        "environment TWOFA_TRUSTED_DEVICES__TTL_DAYS"
    monkeypatch.setenv("TWOFA_CODES__LENGTH", "4")
    run = cli("config", "show", "--json")
    assert run.exit_code == 2
    assert "codes.length (from TWOFA_CODES__LENGTH)" in run.json["error"]["message"]


# -- bad input that used to reach "internal" ------------------------------------------------


@pytest.mark.parametrize("content", ['delivery = "live"\n', "home = 3\n", "database = 5\n",
                                     "codes = [1, 2]\n"])
def test_a_wrong_type_for_a_top_level_config_key_is_bad_input(cli, home, content):
    path = home / "config.toml"
    path.write_text(content)
    run = cli("config", "show", "--json")
    assert run.exit_code == 2, run.stdout
    assert run.json["error"]["code"] == "bad_input"
    assert str(path) in run.json["error"]["message"]


@pytest.mark.parametrize("url", ["sqlite:////tmp/x.db\nmode = 'live'", "sqlite:////tmp/x\x1b[2J.db",
                                 "postgresql+psycopg://u@h/db\r"])
def test_a_database_url_with_a_control_character_is_refused_before_it_is_written(
        bare_cli, tmp_path, url):
    run = bare_cli("init", "--database-url", url, "--json")
    assert run.exit_code == 2, run.stdout
    assert "control characters" in run.json["error"]["message"]
    assert not (tmp_path / "fresh" / "config.toml").exists()


def test_config_set_database_url_refuses_a_newline(cli, home):
    before = (home / "config.toml").read_text()
    run = cli("config", "set", "database.url", "sqlite:///x.db\n[delivery]", "--json")
    assert run.exit_code == 2 and "control characters" in run.json["error"]["message"]
    assert (home / "config.toml").read_text() == before


# -- a read never writes --------------------------------------------------------------------


@pytest.mark.sqlite_only
@pytest.mark.parametrize("args", [("config", "show"), ("provider", "list"), ("db", "status"),
                                  ("config", "get", "company-name")])
def test_a_read_against_a_new_sqlite_url_creates_no_file(cli, home, tmp_path, monkeypatch, args):
    target = tmp_path / "nowhere" / "new.db"
    target.parent.mkdir()
    monkeypatch.setenv("TWOFA_DATABASE_URL", f"sqlite:///{target}")
    run = cli(*args, "--json")
    assert run.exit_code == 1 and run.json["error"]["code"] == "not_initialised"
    assert list(target.parent.iterdir()) == []


def test_reads_change_no_file_and_no_row(cli, home, database_url):
    shop(cli)
    files = {path: path.read_bytes() for path in home.rglob("*") if path.is_file()}
    store = dump_store(database_url)
    for args in [("config", "show"), ("config", "get", "delivery.mode"), ("provider", "list"),
                 ("provider", "show", "SMS"), ("secondary-auth", "show", "Text message"),
                 ("export",), ("db", "status"), ("outbox",), ("audit",), ("account", "list"),
                 ("apply", "--dry-run", str(home / "config.toml"))]:
        run = cli(*args)
        assert run.exit_code in (0, 2), (args, run.stderr)  # config.toml is no apply file
        assert {path: path.read_bytes() for path in home.rglob("*") if path.is_file()} == files, args
    assert dump_store(database_url) == store


# -- conventions ----------------------------------------------------------------------------


def test_provider_list_piped_into_cut(shell, cli, home, database_url):
    shop(cli)
    env = {"TWOFA_HOME": str(home), "TWOFA_DATABASE_URL": database_url}
    run = shell("twofa provider list | cut -f5", **env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["title", "Email", "SMS", "Cdyne SMS"]
    # show prints the same columns: the same field is the title there too
    assert shell("twofa provider show SMS | cut -f5", **env).stdout.splitlines() == ["title", "SMS"]


def test_tables_off_a_terminal_are_tab_separated_and_format_chooses(cli, home):
    shop(cli)
    tsv = cli("secondary-auth", "list")
    assert [line.rsplit("\t", 1)[0] for line in tsv.stdout.splitlines()] == [  # all but created_at
        "id\tkind\ttitle\tprovider_id\tprovider\tchannel\tmedium\tfallbacks\tentries",
        "1\tcode\tText message\t2\tSMS\ttwilio\tsms\t\t0",
        "2\tcode\tEmail code\t1\tEmail\tsmtp\temail\t\t0"]
    assert "┃" not in tsv.stdout and "Secondary auth" not in tsv.stdout  # no box, no title
    table = cli("--format", "table", "secondary-auth", "list")
    assert "┃" in table.stdout and "Text message" in table.stdout
    as_json = cli("secondary-auth", "list", "--format", "json")
    assert [m["title"] for m in as_json.json] == ["Text message", "Email code"]
    assert cli("--json", "secondary-auth", "list").json == as_json.json
    assert cli("--json", "provider", "show", "nothing").json["error"]["code"] == "not_found"
    assert cli("--format", "xml", "provider", "list").exit_code == 2


def test_tsv_fields_never_hold_a_tab_newline_or_escape(cli, home):
    ok(cli("account", "add", "eve@example.com", "--password-stdin", "--json",
           input="a long password\n"))
    from twofa_cli.cli.output import _tsv_field

    assert _tsv_field("a\tb\nc\x1b[2Jd\\") == "a\\tb\\nc\\u001b[2Jd\\\\"
    assert _tsv_field({"k": "v\t"}) == "k=v\\t"
    assert "\x1b" not in cli("account", "list").stdout


def test_delete_is_the_removal_verb_and_remove_a_hidden_alias(cli, home):
    shop(cli)
    help_text = cli("provider", "--help").stdout
    assert re.search(r"^\s+delete\s", help_text, re.M) and not re.search(r"^\s+remove\s",
                                                                          help_text, re.M)
    assert ok(cli("secondary-auth", "show", "Text message", "--json"))["entries"] == 0
    ok(cli("secondary-auth", "delete", "Text message", "--yes", "--json"))
    ok(cli("provider", "remove", "SMS", "--yes", "--json"))  # the contract's name still works
    ok(cli("account", "add", "bob@example.com", "--password-stdin", "--json",
           input="a long password\n"))
    assert cli("account", "delete", "bob@example.com", "--json").exit_code == 1  # asks first
    deleted = ok(cli("account", "delete", "bob@example.com", "--yes", "--json"))
    assert deleted["account"]["email"] == "bob@example.com"
    assert cli("account", "show", "bob@example.com", "--json").exit_code == 3


def test_account_delete_takes_its_entries_and_devices(cli, home, database_url):
    shop(cli)
    ok(cli("account", "add", "alice@example.com", "--password-stdin", "--json",
           input="a long password\n"))
    ok(cli("enroll", "alice@example.com", "--method", "Email code", "--email",
           "alice@example.com", "--json"))
    code = ok(cli("outbox", "--limit", "1", "--json"))[0]["code"]
    ok(cli("verify", "alice@example.com", code, "--trust-device", "--json"))
    ok(cli("account", "delete", "alice@example.com", "--yes", "--json"))
    tables = dump_store(database_url)
    assert tables["account"] == [] and tables["entry"] == [] and tables["challenge"] == []
    assert tables["trusted_device"] == []


def test_help_shows_exit_codes_and_examples(bare_cli):
    epilog = bare_cli("--help").stdout.split("Exit codes:", 1)[1]
    for code in "012345":
        assert re.search(rf"^\s+{code}\s+\w", epilog, re.M)
    for command in (["init"], ["provider", "add"], ["provider", "add", "custom", "twilio"],
                    ["secondary-auth", "add"], ["enroll"], ["verify"], ["login"], ["apply"]):
        text = bare_cli(*command, "--help").stdout
        assert re.search(r"Example:\n\s+twofa |Example:\n\s+printf .*\| twofa ", text), command


def test_python_m_twofa_cli_and_shell_completion(shell):
    run = shell("python -m twofa_cli --version && twofa --show-completion bash")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("twofa ") and "_TWOFA_COMPLETE" in run.stdout
    listed = shell("_TWOFA_COMPLETE=complete_bash COMP_WORDS='twofa secondary-auth sh' "
                   "COMP_CWORD=2 twofa")
    assert listed.stdout.split() == ["show"]


# Runs argv as an orphan in a session of its own: its parent leaves first, so it is
# reparented to init (or the nearest subreaper) and no shell is anywhere above it, as
# under CI, Docker or systemd; setsid(1) alone would keep the shell that ran pytest above.
# The orphan runs argv and passes its exit code back through a pipe.
_ORPHAN = """
import os, subprocess, sys, time
read, write = os.pipe()
if os.fork() == 0:
    os.setsid()
    middle = os.getpid()
    if os.fork():
        os._exit(0)
    while os.getppid() == middle:
        time.sleep(0.01)
    os.close(read)
    code = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL).returncode
    os.write(write, str(code).encode())
    os._exit(0)
os.close(write)
os.wait()
sys.exit(int(os.read(read, 16) or b"99"))
"""


def run_with_no_shell_above(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _ORPHAN, *argv], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


def test_show_completion_prints_the_named_shells_script_with_no_shell_above(tmp_path):
    """Under CI, Docker or systemd no shell is above: the SHELL argument decides."""
    import json

    detect = "import shellingham; shellingham.detect_shell()"
    if run_with_no_shell_above(sys.executable, "-c", detect).returncode == 0:
        pytest.skip("a shell is above every process here (init or a subreaper is a shell)")
    for shell, marker in (("bash", "_TWOFA_COMPLETE=complete_bash"), ("zsh", "#compdef twofa"),
                          ("fish", "complete --command twofa")):
        run = run_with_no_shell_above(sys.executable, "-m", "twofa_cli", "--show-completion",
                                      shell, TWOFA_HOME=str(tmp_path))
        assert run.returncode == 0 and marker in run.stdout, (shell, run.stderr)
    unknown = subprocess.run([sys.executable, "-m", "twofa_cli", "--show-completion", "tcsh",
                              "--json"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "TWOFA_HOME": str(tmp_path)})
    assert unknown.returncode == 2 and json.loads(unknown.stdout)["error"]["code"] == "bad_input"


def test_version_json_prints_one_json_document(bare_cli):
    import json

    for args in (("--version", "--json"), ("--json", "--version"), ("--format", "json", "--version")):
        run = bare_cli(*args)
        assert run.exit_code == 0 and json.loads(run.stdout) == {"version": run.json["version"]}
        assert run.json["version"][0].isdigit()
    assert bare_cli("--version").stdout.startswith("twofa ")


def test_small_words_come_right(cli, tmp_path):
    missing = cli("entry", "delete", "nobody@example.com", "99")  # no --yes: the account first
    assert missing.exit_code == 3 and "no account 'nobody@example.com'" in missing.stderr
    nothing = cli("login", "nobody@example.com", input="")  # no terminal, no password at all
    assert nothing.exit_code == 2 and "--password-stdin" in nothing.stderr
    assert "wrong email or password" not in nothing.stderr

    shop(cli)
    alice = "alice@example.com"
    ok(cli("account", "add", alice, "--password-stdin", "--json", input="a long password\n"))
    ok(cli("enroll", alice, "--method", "Email code", "--email", alice, "--json"))
    code = ok(cli("outbox", "--limit", "1", "--json"))[0]["code"]
    ok(cli("verify", alice, code, "--trust-device", "--json"))
    revoked = cli("device", "revoke", alice, "--all")
    assert revoked.exit_code == 0 and "Revoked 1 trusted device." in revoked.stderr
    ok(cli("login", alice, "--password-stdin", "--json", "--device", "default",
           input="a long password\n"))
    code = ok(cli("outbox", "--limit", "1", "--json"))[0]["code"]
    entry = ok(cli("verify", alice, code, "--trust-device", "--json"))["entry_id"]
    last = cli("entry", "delete", alice, str(entry), "--yes")
    assert last.exit_code == 0 and "1 trusted device revoked." in last.stderr

    one = tmp_path / "one.toml"
    one.write_text('company_name = "Acme Tickets"\n')
    planned = cli("apply", str(one), "--dry-run")
    assert planned.exit_code == 0 and "Dry run: 1 change planned, nothing changed." in planned.stderr
    applied = cli("apply", str(one))
    assert applied.exit_code == 0 and "Applied 1 change." in applied.stderr

    users = tmp_path / "one.csv"
    users.write_text("email,name,password\nbob@example.com,Bob,a long password\n")
    imported = cli("account", "import", str(users))
    assert imported.exit_code == 0 and "Imported 1 account." in imported.stderr


def test_lists_in_the_environment_are_comma_separated(cli, monkeypatch):
    monkeypatch.setenv("TWOFA_SMS__ALLOWED_COUNTRIES", " us , CA ")
    got = cli("config", "get", "sms.allowed_countries", "--json")
    assert got.exit_code == 0 and got.json["value"] == ["US", "CA"], got.stderr
    monkeypatch.setenv("TWOFA_SMS__ALLOWED_COUNTRIES", '["US"]')  # JSON still works
    assert cli("config", "get", "sms.allowed_countries", "--json").json["value"] == ["US"]
    monkeypatch.setenv("TWOFA_SMS__ALLOWED_COUNTRIES", '["US"')
    broken = cli("config", "get", "sms.allowed_countries")
    assert broken.exit_code == 2 and "TWOFA_SMS__ALLOWED_COUNTRIES" in broken.stderr
    assert "comma-separated" in broken.stderr
