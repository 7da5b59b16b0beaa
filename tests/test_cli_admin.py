"""The admin commands of CONTRACT.md through the CLI (issue 2: foundation and Services Manager).

Each test drives ``twofa`` through Typer's CliRunner, once on SQLite and once on
PostgreSQL when TWOFA_TEST_DATABASE_URL is set. Refused commands are checked for
their exit code, a one-line error, and an unchanged store (tests/store_dump.py).
"""

from __future__ import annotations

import getpass
import json
import re
import stat

import pytest

from tests.conftest import PG_URL, TWILIO_SID, Cli
from tests.store_dump import dump_store

TOKEN = "tokAdmin" + "5c" * 12 + "Zq"
MG_SID = "MG" + "b2" * 16
CDYNE_KEY = "F01D89FD-5155-5455-5585-E84AB8DE8591"
FROM = "+14155550100"

CONTRACT_GROUPS = ("init", "config", "provider", "secondary-auth", "customer", "admin", "account",
                   "enroll", "verify", "resend", "login", "entry", "device", "outbox", "audit", "db", "key")


def ok(run):
    assert run.exit_code == 0, (run.exit_code, run.stdout, run.stderr)
    return run.json


def twilio_args(title: str = "SMS", *, sid: str = TWILIO_SID, sender=("--from-number", FROM)):
    return ("provider", "add", "custom", "twilio", "--title", title, "--account-sid", sid,
            "--auth-token", TOKEN, *sender)


def add_twilio(cli, title: str = "SMS", **kwargs) -> dict:
    return ok(cli(*twilio_args(title, **kwargs), "--json"))


def single_error_line(stderr: str) -> str:
    """The one ``Error: …`` line of a refused command; no traceback anywhere."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.fixture
def shop(cli):
    """The seed's admin set-up: an email provider, an SMS provider and one method."""
    email = ok(cli("provider", "add", "configio", "smtp", "--json"))
    sms = add_twilio(cli)
    method = ok(cli("secondary-auth", "add", "--provider", "SMS", "--title", "Text message", "--json"))
    return {"email": email, "sms": sms, "method": method}


# -- twofa --help -----------------------------------------------------------------------


def test_help_lists_every_command_group_of_the_contract(bare_cli):
    run = bare_cli("--help")
    assert run.exit_code == 0
    commands = run.stdout.split("Commands", 1)[1]
    listed = {match.group(1) for match in re.finditer(r"^\W*([a-z][a-z-]*)\s", commands, re.M)}
    assert set(CONTRACT_GROUPS) <= listed, set(CONTRACT_GROUPS) - listed


@pytest.mark.parametrize("group", CONTRACT_GROUPS)
def test_every_command_group_has_help(bare_cli, group):
    run = bare_cli(group, "--help")
    assert run.exit_code == 0, run.stderr
    assert "Usage: twofa " + group in " ".join(run.stdout.split())


def test_twilio_help_documents_every_contract_option(bare_cli):
    run = bare_cli("provider", "add", "custom", "twilio", "--help")
    assert run.exit_code == 0
    for option in ("--title", "--account-sid", "--auth-token", "--auth-token-stdin",
                   "--from-number", "--messaging-service-sid", "--json"):
        assert option in run.stdout


# -- twofa init -------------------------------------------------------------------------


@pytest.fixture
def fresh(tmp_path, database_url, monkeypatch):
    """A home that does not exist yet, and the store URL ``init --database-url`` should use."""
    home = tmp_path / "home"
    monkeypatch.setenv("TWOFA_HOME", str(home))
    return {"home": home, "url": database_url, "cli": Cli()}


def test_init_creates_an_owner_only_home_key_config_and_schema(fresh):
    home, cli = fresh["home"], fresh["cli"]
    result = ok(cli("init", "--database-url", fresh["url"], "--json"))
    assert result["created"] == ["home", "config", "key", "schema"]
    assert result["schema_revision"] and result["upgraded_from"] is None
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "secret.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "config.toml").stat().st_mode) == 0o600
    assert result["key"] == str(home / "secret.key")
    # the schema is there: commands work without TWOFA_DATABASE_URL
    assert ok(cli("provider", "list", "--json")) == []
    status = ok(cli("db", "status", "--json"))
    assert status["up_to_date"] is True and status["schema_revision"] == result["schema_revision"]


def test_init_human_output_says_ready_then_already_initialised(fresh):
    cli = fresh["cli"]
    first = cli("init", "--database-url", fresh["url"])
    assert first.exit_code == 0 and "Ready." in first.stderr
    assert str(fresh["home"]) in first.stdout
    again = cli("init")
    assert again.exit_code == 0 and "Already initialised" in again.stderr


@pytest.mark.skipif(not PG_URL, reason="TWOFA_TEST_DATABASE_URL is not set")
def test_init_on_a_missing_postgresql_database_leaves_nothing_and_says_how_to_create_it(
        tmp_path, monkeypatch):
    import uuid

    from sqlalchemy.engine import make_url

    missing = f"twofa_missing_{uuid.uuid4().hex[:12]}"
    url = make_url(PG_URL).set(database=missing).render_as_string(hide_password=False)
    home = tmp_path / "home"
    monkeypatch.setenv("TWOFA_HOME", str(home))
    cli = Cli()
    run = cli("init", "--database-url", url)
    assert run.exit_code == 1
    line = single_error_line(run.stderr)
    assert "createdb" in line and f"CREATE DATABASE {missing}" in line and "twofa init" in line
    assert not home.exists()
    refused = cli("init", "--database-url", url, "--json")
    assert refused.exit_code == 1 and refused.json["error"]["code"] == "database_unavailable"
    assert "createdb" in refused.json["error"]["message"]
    # An existing empty home stays empty; the URL from the environment is checked the same way.
    home.mkdir(mode=0o700)
    monkeypatch.setenv("TWOFA_DATABASE_URL", url)
    assert cli("init").exit_code == 1
    assert list(home.iterdir()) == []


def test_init_is_idempotent_and_keeps_key_config_and_data(fresh):
    home, cli = fresh["home"], fresh["cli"]
    ok(cli("init", "--database-url", fresh["url"], "--json"))
    key, config = (home / "secret.key").read_bytes(), (home / "config.toml").read_bytes()
    add_twilio(cli)
    ok(cli("config", "set", "company-name", "Acme Events", "--json"))

    again = ok(cli("init", "--json"))
    assert again["created"] == [] and again["upgraded_from"] is None
    assert (home / "secret.key").read_bytes() == key
    assert (home / "config.toml").read_bytes() == config
    [provider] = ok(cli("provider", "list", "--json"))
    assert provider["title"] == "SMS" and provider["options"]["auth_token"] == "…" + TOKEN[-4:]
    assert ok(cli("config", "get", "company-name", "--json"))["value"] == "Acme Events"


def test_init_tightens_a_home_folder_that_already_exists(fresh):
    home = fresh["home"]
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    result = ok(fresh["cli"]("init", "--database-url", fresh["url"], "--json"))
    assert "home" not in result["created"]
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_init_database_url_is_written_to_config_and_used(fresh):
    home, cli = fresh["home"], fresh["cli"]
    ok(cli("init", "--database-url", fresh["url"], "--json"))
    assert json.dumps(fresh["url"])[1:-1] in (home / "config.toml").read_text()
    shown = ok(cli("config", "show", "--json"))
    assert shown["database"]["url"].split("?")[0] == fresh["url"].split("?")[0]


@pytest.mark.sqlite_only
def test_init_database_url_puts_sqlite_where_asked(fresh, tmp_path):
    elsewhere = tmp_path / "elsewhere.db"
    cli = fresh["cli"]
    result = ok(cli("init", "--database-url", f"sqlite:///{elsewhere}", "--json"))
    assert result["database"] == f"sqlite:///{elsewhere}"
    assert elsewhere.exists() and not (fresh["home"] / "twofa.db").exists()
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o600
    add_twilio(cli)
    assert ok(cli("provider", "list", "--json"))[0]["title"] == "SMS"
    assert not (fresh["home"] / "twofa.db").exists()


def test_init_with_secret_key_in_environment_writes_no_key_file(fresh, monkeypatch):
    from twofa_cli.security import SecretKey

    monkeypatch.setenv("TWOFA_SECRET_KEY", SecretKey.generate())
    home, cli = fresh["home"], fresh["cli"]
    result = ok(cli("init", "--database-url", fresh["url"], "--json"))
    assert result["key"] == "environment" and "key" not in result["created"]
    assert not (home / "secret.key").exists()
    add_twilio(cli)
    assert ok(cli("provider", "show", "SMS", "--json"))["options"]["auth_token"] == "…" + TOKEN[-4:]


def test_init_refuses_a_malformed_secret_key_in_environment_and_creates_nothing(fresh, monkeypatch):
    monkeypatch.setenv("TWOFA_SECRET_KEY", "not-a-fernet-key")
    run = fresh["cli"]("init", "--database-url", fresh["url"])
    assert run.exit_code == 1
    assert "not a valid Fernet key" in single_error_line(run.stderr)
    assert not fresh["home"].exists()


def test_init_refuses_an_unusable_database_url(fresh):
    run = fresh["cli"]("init", "--database-url", "mysql://db.example/shop")
    assert run.exit_code == 2
    assert "unsupported database" in single_error_line(run.stderr)
    run = fresh["cli"]("init", "--database-url", "::not a url::", "--json")
    assert run.exit_code == 2 and run.json["error"]["code"] == "bad_input"
    # the bad URL was not written down: the home is still not initialised ...
    assert not (fresh["home"] / "config.toml").exists()
    assert "twofa init" in single_error_line(fresh["cli"]("provider", "list").stderr)
    # ... and init with a good URL finishes the job
    result = ok(fresh["cli"]("init", "--database-url", fresh["url"], "--json"))
    assert "config" in result["created"] and "schema" in result["created"]
    assert ok(fresh["cli"]("provider", "list", "--json")) == []


def test_init_with_a_new_database_url_on_an_existing_home(fresh, tmp_path):
    cli = fresh["cli"]
    ok(cli("init", "--database-url", fresh["url"], "--json"))
    config = (fresh["home"] / "config.toml").read_text()
    refused = cli("init", "--database-url", "mysql://db.example/shop")
    assert refused.exit_code == 2
    assert (fresh["home"] / "config.toml").read_text() == config  # the working URL stays
    assert ok(cli("provider", "list", "--json")) == []


# -- commands on a home that was never initialised ---------------------------------------


NEEDS_A_HOME = [
    ("config", "show"),
    ("config", "get", "company-name"),
    ("config", "set", "company-name", "Acme"),
    ("provider", "list"),
    ("provider", "show", "1"),
    ("provider", "add", "configio", "smtp"),
    ("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
     "--auth-token", TOKEN, "--from-number", FROM),
    ("provider", "add", "custom", "cdyne", "--title", "Cdyne", "--license-key", CDYNE_KEY),
    ("provider", "update", "1", "--title", "X"),
    ("provider", "remove", "1", "--yes"),
    ("provider", "test", "1", "--to", "+14155550199"),
    ("secondary-auth", "add", "--provider", "1", "--title", "Text message"),
    ("secondary-auth", "list"),
    ("secondary-auth", "remove", "1", "--yes"),
    ("customer", "enable"),
    ("customer", "disable"),
    ("customer", "status"),
    ("admin", "enable"),
    ("admin", "disable"),
    ("admin", "status"),
    ("account", "add", "alice@example.com", "--password-stdin"),
    ("account", "import", "accounts.csv"),
    ("account", "list"),
    ("account", "show", "alice@example.com"),
    ("enroll", "alice@example.com", "--method", "1", "--phone", "+14155550199"),
    ("verify", "alice@example.com", "123456"),
    ("resend", "alice@example.com"),
    ("login", "alice@example.com", "--password-stdin"),
    ("entry", "list", "alice@example.com"),
    ("entry", "delete", "alice@example.com", "1", "--yes"),
    ("device", "list", "alice@example.com"),
    ("device", "revoke", "alice@example.com", "--all"),
    ("outbox",),
    ("audit",),
    ("db", "status"),
    ("db", "upgrade"),
    ("config", "set", "delivery.mode", "live"),
    ("config", "get", "delivery.mode"),
    ("config", "unset", "delivery.mode"),
    ("export",),
    ("apply", "accounts.csv"),
    ("secondary-auth", "show", "1"),
    ("account", "delete", "alice@example.com", "--yes"),
    ("key", "rotate"),
    ("key", "prune"),
    ("secondary-auth", "add", "--kind", "totp", "--title", "Authenticator app"),
    ("enroll", "alice@example.com", "--method", "Authenticator app", "--qr-png", "qr.png"),
    ("entry", "prefer", "alice@example.com", "1"),
    ("login", "alice@example.com", "--password-stdin", "--method", "Text message"),
    ("recovery-codes", "generate", "alice@example.com", "--yes"),
    ("recovery-codes", "status", "alice@example.com"),
    ("verify", "alice@example.com", "--recovery-code", "abcde-fghij"),
]


@pytest.mark.parametrize("args", NEEDS_A_HOME, ids=" ".join)
def test_commands_on_a_never_initialised_home_say_run_init(bare_cli, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "accounts.csv").write_text("email,name\nalice@example.com,Alice\n")
    password = "correct horse battery\n"  # for the commands that read one from stdin
    run = bare_cli(*args, input=password)
    assert run.exit_code == 1, (run.stdout, run.stderr)
    assert "twofa init" in single_error_line(run.stderr)
    assert run.stdout == ""
    as_json = bare_cli(*args, "--json", input=password)
    assert as_json.exit_code == 1
    assert as_json.json["error"]["code"] == "not_initialised"
    assert "twofa init" in as_json.json["error"]["message"]
    assert not (tmp_path / "fresh").exists()  # nothing was created on the way


def test_instructions_need_no_home(bare_cli, tmp_path):
    """Setup Instructions come before set-up: they read no state, so they work anywhere."""
    run = bare_cli("provider", "instructions", "twilio")
    assert run.exit_code == 0 and "Account SID" in run.stdout
    assert not (tmp_path / "fresh").exists()


def test_a_database_without_schema_says_run_init(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("TWOFA_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    run = cli("provider", "list")
    assert run.exit_code == 1
    assert "twofa init" in single_error_line(run.stderr)


# -- config -------------------------------------------------------------------------------


def test_config_set_and_get_company_name(cli):
    # The shape of every other setting's; the company name is kept in the store.
    assert ok(cli("config", "get", "company-name", "--json")) == {
        "key": "company-name", "value": "", "source": "store"}
    assert ok(cli("config", "set", "company-name", "  Acme Events ", "--json")) == {
        "key": "company-name", "value": "Acme Events", "source": "store"}
    run = cli("config", "get", "company-name")
    assert run.exit_code == 0 and run.stdout == "Acme Events\n"
    human = cli("config", "set", "company-name", "Acme Tickets")
    assert human.exit_code == 0 and "Acme Tickets" in human.stdout
    assert ok(cli("config", "get", "company-name", "--json"))["value"] == "Acme Tickets"


def test_config_show_reports_name_policy_and_settings(cli, shop):
    ok(cli("config", "set", "company-name", "Acme Events", "--json"))
    ok(cli("customer", "enable", "--json"))
    shown = ok(cli("config", "show", "--json"))
    assert shown["company-name"] == "Acme Events"
    assert shown["customer-allowed"] == "Active" and shown["admin-allowed"] == "Inactive"
    assert shown["delivery"]["mode"] == "simulate"
    assert shown["codes"] == {"length": 6, "ttl_seconds": 600, "max_attempts": 5}
    human = cli("config", "show")
    assert human.exit_code == 0 and "Acme Events" in human.stdout and "simulate" in human.stdout


def _shown_names(shown: dict) -> list[str]:
    """Every name ``config show --json`` prints: its top-level entries, each section's keys
    as ``section.key``, and the names under ``sources``."""
    names = []
    for name, value in shown.items():
        if name == "sources":
            names += list(value)
        elif isinstance(value, dict):
            names += [f"{name}.{key}" for key in value]
        else:
            names.append(name)
    return names


def test_every_name_config_show_prints_is_read_by_config_get(cli, shop, home):
    ok(cli("config", "set", "company-name", "Acme Events", "--json"))
    ok(cli("customer", "enable", "--json"))
    shown = ok(cli("config", "show", "--json"))
    names = _shown_names(shown)
    assert {"company-name", "customer-allowed", "admin-allowed", "home", "delivery.mode"} <= set(names)
    for name in names:
        got = ok(cli("config", "get", name, "--json"))
        assert got["key"] == name
        section, _, key = name.partition(".")
        expected = shown[section][key] if key else shown[name]
        assert got["value"] == expected, name
    assert ok(cli("config", "get", "home", "--json"))["value"] == str(home)
    table = cli("config", "show", "--format", "tsv")
    assert table.exit_code == 0
    for line in table.stdout.splitlines()[1:]:
        name = line.split("\t")[0]
        assert name in names
        assert cli("config", "get", name).exit_code == 0, name


@pytest.mark.parametrize("name", ["customer-allowed", "admin-allowed", "home"])
def test_config_set_of_a_read_only_name_says_where_it_is_set(cli, database_url, name):
    before = dump_store(database_url)
    for args in (("set", name, "Active"), ("unset", name)):
        run = cli("config", *args)
        assert run.exit_code == 2
        assert ("twofa customer" if name == "customer-allowed" else "twofa admin"
                if name == "admin-allowed" else "--home") in single_error_line(run.stderr)
    assert dump_store(database_url) == before


@pytest.mark.parametrize("args", [("set", "colour", "blue"), ("get", "colour"),
                                  ("set", "Company-Name", "x"), ("set", "company_name", "x")])
def test_config_unknown_key_is_bad_input(cli, database_url, args):
    before = dump_store(database_url)
    run = cli("config", *args)
    assert run.exit_code == 2
    assert "company-name" in single_error_line(run.stderr)
    assert cli("config", *args, "--json").json["error"]["code"] == "bad_input"
    assert dump_store(database_url) == before


# -- provider add / list / show / update / remove / instructions --------------------------


def test_add_configio_smtp(cli):
    added = ok(cli("provider", "add", "configio", "smtp", "--json"))
    assert {k: added[k] for k in ("kind", "channel", "title")} == {
        "kind": "configio", "channel": "smtp", "title": "Email"}
    assert isinstance(added["id"], int)
    titled = ok(cli("provider", "add", "configio", "smtp", "--title", "Relay", "--json"))
    assert titled["title"] == "Relay" and titled["id"] != added["id"]


def test_add_custom_twilio_with_a_from_number(cli):
    added = add_twilio(cli)
    assert {k: added[k] for k in ("kind", "channel", "title")} == {
        "kind": "custom", "channel": "twilio", "title": "SMS"}
    assert added["options"]["account_sid"] == TWILIO_SID
    assert added["options"]["from_number"] == FROM
    assert added["options"]["auth_token"] == "…" + TOKEN[-4:]
    assert "messaging_service_sid" not in added["options"]


def test_add_custom_twilio_with_a_messaging_service(cli):
    added = add_twilio(cli, sender=("--messaging-service-sid", MG_SID))
    assert added["options"]["messaging_service_sid"] == MG_SID
    assert "from_number" not in added["options"]


def test_add_custom_twilio_reads_the_token_from_stdin(cli):
    added = ok(cli("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid",
                   TWILIO_SID, "--auth-token-stdin", "--from-number", FROM, "--json",
                   input=TOKEN + "\n"))
    assert added["options"]["auth_token"] == "…" + TOKEN[-4:]


def test_add_custom_twilio_normalises_the_number_to_e164(cli):
    added = add_twilio(cli, sender=("--from-number", "+1 (415) 555-0100"))
    assert added["options"]["from_number"] == FROM


def test_add_custom_twilio_human_output_names_the_provider(cli):
    run = cli(*twilio_args())
    assert run.exit_code == 0
    assert "SMS" in run.stdout and "twilio" in run.stdout and "…" + TOKEN[-4:] in run.stdout


def test_add_custom_twilio_without_any_token_is_bad_input(cli, database_url):
    before = dump_store(database_url)
    run = cli("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
              "--from-number", FROM)
    assert run.exit_code == 2 and "auth_token" in single_error_line(run.stderr)
    empty = cli("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", TWILIO_SID,
                "--auth-token-stdin", "--from-number", FROM, "--json", input="\n")
    assert empty.exit_code == 2 and empty.json["error"]["code"] == "bad_input"
    assert dump_store(database_url) == before


def test_add_custom_twilio_refuses_both_token_option_and_stdin(cli, database_url):
    before = dump_store(database_url)
    run = cli(*twilio_args(), "--auth-token-stdin", input="other" + TOKEN + "\n")
    assert run.exit_code == 2
    assert "--auth-token" in single_error_line(run.stderr)
    assert dump_store(database_url) == before


def test_add_custom_cdyne(cli):
    added = ok(cli("provider", "add", "custom", "cdyne", "--title", "Cdyne", "--license-key",
                   CDYNE_KEY, "--from-number", FROM, "--json"))
    assert {k: added[k] for k in ("kind", "channel", "title")} == {
        "kind": "custom", "channel": "cdyne", "title": "Cdyne"}
    assert added["options"]["license_key"] == "…" + CDYNE_KEY[-4:]
    assert added["options"]["from_number"] == FROM
    from_stdin = ok(cli("provider", "add", "custom", "cdyne", "--title", "Cdyne 2",
                        "--license-key-stdin", "--json", input=CDYNE_KEY.lower() + "\n"))
    assert from_stdin["options"]["license_key"] == "…" + CDYNE_KEY[-4:].lower()
    assert "from_number" not in from_stdin["options"]


def test_provider_list_and_show(cli, shop):
    listed = ok(cli("provider", "list", "--json"))
    assert [(p["id"], p["title"], p["kind"], p["channel"]) for p in listed] == [
        (shop["email"]["id"], "Email", "configio", "smtp"),
        (shop["sms"]["id"], "SMS", "custom", "twilio")]
    human = cli("provider", "list")
    assert human.exit_code == 0
    assert "Email" in human.stdout and "SMS" in human.stdout and "…" + TOKEN[-4:] in human.stdout

    by_title = ok(cli("provider", "show", "SMS", "--json"))
    by_id = ok(cli("provider", "show", str(shop["sms"]["id"]), "--json"))
    assert by_title == by_id
    assert by_title["secondary_auth"] == ["Text message"]
    assert {k: by_title[k] for k in ("id", "kind", "channel", "title")} == {
        k: shop["sms"][k] for k in ("id", "kind", "channel", "title")}


def test_provider_list_empty(cli):
    assert ok(cli("provider", "list", "--json")) == []
    piped = cli("provider", "list")  # not a terminal: the header line alone
    assert piped.exit_code == 0 and piped.stdout == (
        "id\tkind\tchannel\tmedium\ttitle\toptions\tsecondary_auth\tcreated_at\tupdated_at\n")
    at_terminal = cli("--format", "table", "provider", "list")
    assert at_terminal.exit_code == 0 and "none" in at_terminal.stdout


def test_provider_update_title_and_options(cli, shop):
    sms_id = shop["sms"]["id"]
    renamed = ok(cli("provider", "update", "SMS", "--title", "Twilio SMS", "--json"))
    assert renamed["id"] == sms_id and renamed["title"] == "Twilio SMS"
    assert ok(cli("provider", "show", str(sms_id), "--json"))["title"] == "Twilio SMS"
    assert ok(cli("secondary-auth", "list", "--json"))[0]["provider"] == "Twilio SMS"

    switched = ok(cli("provider", "update", str(sms_id), "--messaging-service-sid", MG_SID, "--json"))
    assert switched["options"]["messaging_service_sid"] == MG_SID
    assert "from_number" not in switched["options"]
    back = ok(cli("provider", "update", str(sms_id), "--from-number", "+14155550111", "--json"))
    assert back["options"]["from_number"] == "+14155550111"
    assert "messaging_service_sid" not in back["options"]

    rotated = ok(cli("provider", "update", str(sms_id), "--auth-token-stdin", "--json",
                     input="newToken" + "0a" * 12 + "\n"))
    assert rotated["options"]["auth_token"] == "…" + "0a0a"
    assert rotated["options"]["account_sid"] == TWILIO_SID


def test_provider_update_keeps_its_own_title(cli, shop):
    same = ok(cli("provider", "update", "SMS", "--title", "SMS", "--json"))
    assert same["title"] == "SMS" and same["id"] == shop["sms"]["id"]


def test_provider_remove_without_dependents(cli, shop):
    run = cli("provider", "remove", "Email")
    assert run.exit_code == 0
    assert "Removed provider 'Email'" in run.stderr
    assert [p["title"] for p in ok(cli("provider", "list", "--json"))] == ["SMS"]
    gone = cli("provider", "show", "Email", "--json")
    assert gone.exit_code == 3 and gone.json["error"]["code"] == "not_found"


def test_provider_remove_used_by_secondary_auth_is_refused_without_yes(cli, shop, database_url):
    before = dump_store(database_url)
    run = cli("provider", "remove", "SMS")
    assert run.exit_code == 1
    line = single_error_line(run.stderr)
    assert "Text message" in line and "--yes" in line
    as_json = cli("provider", "remove", "SMS", "--json")
    assert as_json.exit_code == 1 and as_json.json["error"]["code"] in {"rejected", "conflict"}
    assert dump_store(database_url) == before


def test_provider_remove_with_yes_removes_the_secondary_auth_too_and_says_so(cli, shop):
    run = cli("provider", "remove", "SMS", "--yes")
    assert run.exit_code == 0, run.stderr
    assert "Removed provider 'SMS'" in run.stderr
    assert "Removed secondary auth 'Text message'" in run.stderr
    assert ok(cli("secondary-auth", "list", "--json")) == []
    assert [p["title"] for p in ok(cli("provider", "list", "--json"))] == ["Email"]


def test_provider_remove_with_yes_json(cli, shop):
    result = ok(cli("provider", "remove", str(shop["sms"]["id"]), "--yes", "--json"))
    assert result["provider"]["id"] == shop["sms"]["id"]
    assert [(m["id"], m["title"]) for m in result["secondary_auth_removed"]] == [
        (shop["method"]["id"], "Text message")]


def test_provider_remove_with_yes_removes_customer_entries(cli, shop):
    from tests.conftest import last_code
    from twofa_cli.runtime import open_runtime
    from twofa_cli.services import accounts, challenges, system
    from twofa_cli.services.enrollment import enroll

    rt = open_runtime(actor="setup")
    try:
        system.set_allowed(rt, "customer", True)
        accounts.add_account(rt, email="alice@example.com", password="correct horse")
        enroll(rt, "alice@example.com", method="Text message", phone="+14155550199")
        challenges.verify(rt, "alice@example.com", last_code(rt))
    finally:
        rt.engine.dispose()
    assert len(ok(cli("entry", "list", "alice@example.com", "--json"))) == 1
    result = ok(cli("provider", "remove", "SMS", "--yes", "--json"))
    assert result["secondary_auth_removed"][0]["entries_removed"] == 1
    assert ok(cli("entry", "list", "alice@example.com", "--json")) == []


@pytest.mark.parametrize("channel, needle", [("twilio", "Account SID"), ("cdyne", "License Key"),
                                             ("smtp", "[smtp]"), ("TWILIO", "Account SID")])
def test_provider_instructions(cli, channel, needle):
    run = cli("provider", "instructions", channel)
    assert run.exit_code == 0 and needle in run.stdout
    data = ok(cli("provider", "instructions", channel, "--json"))
    assert data["channel"] == channel.lower() and needle in data["instructions"]
    assert data["kind"] == ("configio" if channel == "smtp" else "custom")


def test_provider_test_in_simulate_mode_goes_to_the_outbox(cli, shop):
    result = ok(cli("provider", "test", "SMS", "--to", "+14155550199", "--json"))
    assert result["mode"] == "simulate"
    [message] = ok(cli("outbox", "--json"))
    assert message["to"] == "+14155550199"
    human = cli("provider", "test", "Email", "--to", "ops@example.com")
    assert human.exit_code == 0 and "outbox" in human.stderr


# -- secondary-auth -------------------------------------------------------------------------


def test_secondary_auth_add_list_remove(cli, shop):
    method = shop["method"]
    assert {k: method[k] for k in ("provider_id", "title")} == {
        "provider_id": shop["sms"]["id"], "title": "Text message"}
    email = ok(cli("secondary-auth", "add", "--provider", str(shop["email"]["id"]),
                   "--title", "Email code", "--json"))
    listed = ok(cli("secondary-auth", "list", "--json"))
    assert [(m["id"], m["provider_id"], m["title"]) for m in listed] == [
        (method["id"], shop["sms"]["id"], "Text message"),
        (email["id"], shop["email"]["id"], "Email code")]
    human = cli("secondary-auth", "list")
    assert human.exit_code == 0 and "Text message" in human.stdout and "Email code" in human.stdout

    removed = cli("secondary-auth", "remove", "Email code")
    assert removed.exit_code == 0 and "Removed secondary auth 'Email code'" in removed.stderr
    assert ok(cli("secondary-auth", "remove", str(method["id"]), "--json"))["id"] == method["id"]
    assert ok(cli("secondary-auth", "list", "--json")) == []
    # the providers stay
    assert len(ok(cli("provider", "list", "--json"))) == 2


def test_secondary_auth_remove_with_entries_asks_for_yes(cli, shop, database_url):
    from tests.conftest import last_code
    from twofa_cli.runtime import open_runtime
    from twofa_cli.services import accounts, challenges, system
    from twofa_cli.services.enrollment import enroll

    rt = open_runtime(actor="setup")
    try:
        system.set_allowed(rt, "customer", True)
        accounts.add_account(rt, email="alice@example.com", password="correct horse")
        enroll(rt, "alice@example.com", method="Text message", phone="+14155550199")
        challenges.verify(rt, "alice@example.com", last_code(rt))
    finally:
        rt.engine.dispose()
    before = dump_store(database_url)
    refused = cli("secondary-auth", "remove", "Text message")
    assert refused.exit_code == 1 and "--yes" in single_error_line(refused.stderr)
    assert dump_store(database_url) == before
    done = ok(cli("secondary-auth", "remove", "Text message", "--yes", "--json"))
    assert done["entries_removed"] == 1
    assert ok(cli("entry", "list", "alice@example.com", "--json")) == []


# -- customer / admin: Allowed Active or Inactive --------------------------------------------


@pytest.mark.parametrize("audience", ["customer", "admin"])
def test_enable_disable_status(cli, shop, audience):
    other = "admin" if audience == "customer" else "customer"
    assert ok(cli(audience, "status", "--json"))["allowed"] == "Inactive"
    enabled = cli(audience, "enable", "--json")
    assert enabled.exit_code == 0 and enabled.stderr == ""
    assert enabled.json == {**enabled.json, "audience": audience, "allowed": "Active", "active": True,
                            "secondary_auth_providers": 1}
    assert ok(cli(audience, "status", "--json"))["active"] is True
    assert ok(cli(other, "status", "--json"))["active"] is False  # the audiences are separate
    human = cli(audience, "status")
    assert human.exit_code == 0 and "Active" in human.stdout
    assert ok(cli(audience, "disable", "--json"))["allowed"] == "Inactive"
    assert ok(cli(audience, "status", "--json"))["active"] is False


@pytest.mark.parametrize("audience", ["customer", "admin"])
def test_enable_without_secondary_auth_warns_on_stderr_but_works(cli, audience):
    run = cli(audience, "enable")
    assert run.exit_code == 0
    assert "Warning" in run.stderr and "secondary-auth add" in run.stderr
    assert "Warning" not in run.stdout
    as_json = cli(audience, "enable", "--json")
    assert as_json.exit_code == 0 and as_json.json["allowed"] == "Active"
    assert "Warning" in as_json.stderr
    assert ok(cli(audience, "status", "--json"))["active"] is True


# -- audit ----------------------------------------------------------------------------------


def test_audit_has_a_row_for_every_admin_change_with_the_actor(cli):
    def as_bob(*args, **kwargs):
        return ok(cli("--actor", "ops-bob", *args, "--json", **kwargs))

    as_bob("config", "set", "company-name", "Acme Events")
    as_bob("provider", "add", "configio", "smtp")
    sms = as_bob(*twilio_args())
    as_bob("provider", "update", "SMS", "--auth-token-stdin", input="rotated" + "7d" * 12 + "\n")
    as_bob("secondary-auth", "add", "--provider", "SMS", "--title", "Text message")
    as_bob("customer", "enable")
    as_bob("customer", "disable")
    as_bob("admin", "enable")
    as_bob("admin", "disable")
    as_bob("secondary-auth", "remove", "Text message", "--yes")
    as_bob("provider", "remove", str(sms["id"]), "--yes")

    events = ok(cli("audit", "--json"))
    actions = [event["action"] for event in reversed(events)]
    assert actions == ["config.company_name", "provider.add", "provider.add", "provider.update",
                       "secondary_auth.add", "customer.enable", "customer.disable",
                       "admin.enable", "admin.disable", "secondary_auth.remove", "provider.remove"]
    assert {event["actor"] for event in events} == {"ops-bob"}
    assert {event["outcome"] for event in events} == {"ok"}
    assert all(event["created_at"] for event in events)
    update = next(e for e in events if e["action"] == "provider.update")
    assert update["detail"] == "auth_token" and "SMS" in update["target"]
    dumped = json.dumps(events)
    assert TOKEN not in dumped and "rotated" not in dumped

    human = cli("audit")
    assert human.exit_code == 0 and "ops-bob" in human.stdout and "provider.add" in human.stdout


def test_audit_actor_defaults_to_the_os_user(cli):
    ok(cli("config", "set", "company-name", "Acme", "--json"))
    [event] = ok(cli("audit", "--json"))
    assert event["actor"] == getpass.getuser()


def test_audit_limit_and_refused_changes_leave_no_row(cli, shop):
    assert len(ok(cli("audit", "--limit", "1", "--json"))) == 1
    before = ok(cli("audit", "--json"))
    assert cli("provider", "add", "configio", "smtp", "--title", "SMS").exit_code == 1
    assert cli("provider", "remove", "SMS").exit_code == 1
    assert ok(cli("audit", "--json")) == before
    assert cli("audit", "--limit", "0").exit_code == 2


# -- --json: one document on stdout, for every admin command ----------------------------------


def test_every_admin_command_prints_exactly_one_json_document(fresh):
    cli = fresh["cli"]
    commands = [
        ("init", "--database-url", fresh["url"]),
        ("init",),
        ("config", "set", "company-name", "Acme"),
        ("config", "get", "company-name"),
        ("config", "show"),
        ("provider", "add", "configio", "smtp"),
        twilio_args(),
        ("provider", "add", "custom", "cdyne", "--title", "Cdyne", "--license-key", CDYNE_KEY),
        ("provider", "list"),
        ("provider", "show", "SMS"),
        ("provider", "update", "SMS", "--title", "Twilio"),
        ("provider", "instructions", "twilio"),
        ("provider", "test", "Twilio", "--to", "+14155550199"),
        ("secondary-auth", "add", "--provider", "Twilio", "--title", "Text message"),
        ("secondary-auth", "add", "--provider", "Cdyne", "--title", "Cdyne text"),
        ("secondary-auth", "list"),
        ("secondary-auth", "remove", "Cdyne text"),
        ("customer", "enable"), ("customer", "status"), ("customer", "disable"),
        ("admin", "enable"), ("admin", "status"), ("admin", "disable"),
        ("provider", "remove", "Twilio", "--yes"),
        ("provider", "remove", "Cdyne"),
        ("audit",),
        ("db", "status"),
        ("db", "upgrade"),
    ]
    for args in commands:
        run = cli(*args, "--json")
        assert run.exit_code == 0, (args, run.stdout, run.stderr)
        document = json.loads(run.stdout)  # raises on anything but one document
        assert run.stdout.count("\n") == 1, (args, run.stdout)
        assert isinstance(document, dict | list)


def test_json_contract_keys(cli, shop):
    for provider in [shop["email"], shop["sms"], *ok(cli("provider", "list", "--json")),
                     ok(cli("provider", "show", "SMS", "--json")),
                     ok(cli("provider", "update", "SMS", "--title", "SMS", "--json"))]:
        assert {"id", "kind", "channel", "title"} <= provider.keys()
    for method in [shop["method"], *ok(cli("secondary-auth", "list", "--json"))]:
        assert {"id", "provider_id", "title"} <= method.keys()


# -- the bad input matrix: exit code, one line, store unchanged -------------------------------


def _twilio(title="SMS 2", sid=TWILIO_SID, token=TOKEN, sender=("--from-number", FROM)):
    return ("provider", "add", "custom", "twilio", "--title", title, "--account-sid", sid,
            "--auth-token", token, *sender)


def _cdyne(key=CDYNE_KEY, *extra, title="Cdyne"):
    return ("provider", "add", "custom", "cdyne", "--title", title, "--license-key", key, *extra)


def _smtp(title):
    return ("provider", "add", "configio", "smtp", "--title", title)


BAD = [
    # unknown ids and titles: 3
    ("unknown provider id", ("provider", "show", "999"), 3, "not_found"),
    ("unknown provider title", ("provider", "show", "Nope"), 3, "not_found"),
    ("unknown provider on update", ("provider", "update", "Nope", "--title", "X"), 3, "not_found"),
    ("unknown provider on remove", ("provider", "remove", "Nope", "--yes"), 3, "not_found"),
    ("unknown provider on test", ("provider", "test", "Nope", "--to", "+14155550199"), 3, "not_found"),
    ("unknown provider for method",
     ("secondary-auth", "add", "--provider", "Nope", "--title", "X"), 3, "not_found"),
    ("unknown method", ("secondary-auth", "remove", "Nope", "--yes"), 3, "not_found"),
    ("10 kB lookup", ("provider", "show", "x" * 10_000), 3, "not_found"),
    ("binary junk lookup", ("provider", "show", "bad\udcff\udcfe"), 3, "not_found"),
    ("binary junk provider for method",
     ("secondary-auth", "add", "--provider", "\udcff", "--title", "X"), 3, "not_found"),
    ("id past 64 bits", ("provider", "show", "9" * 20), 3, "not_found"),
    ("id of 5000 digits", ("provider", "show", "9" * 5000), 3, "not_found"),
    ("superscript digit id", ("provider", "show", "²"), 3, "not_found"),
    ("huge method id", ("secondary-auth", "remove", "1" * 40, "--yes"), 3, "not_found"),
    # conflicts: 1
    ("duplicate provider title", _smtp("SMS"), 1, "conflict"),
    ("duplicate title on update", ("provider", "update", "Email", "--title", "SMS"), 1, "conflict"),
    ("duplicate method title",
     ("secondary-auth", "add", "--provider", "Email", "--title", "Text message"), 1, "conflict"),
    ("remove provider in use", ("provider", "remove", "SMS"), 1, None),
    # malformed credentials and senders: 2
    ("short Twilio SID", _twilio(sid="AC123"), 2, "bad_input"),
    ("Twilio SID not hex", _twilio(sid="AC" + "zz" * 16), 2, "bad_input"),
    ("Twilio SID wrong prefix", _twilio(sid="MG" + "a1" * 16), 2, "bad_input"),
    ("Twilio SID too long", _twilio(sid=TWILIO_SID + "00"), 2, "bad_input"),
    ("malformed MG SID", _twilio(sender=("--messaging-service-sid", "MG123")), 2, "bad_input"),
    ("MG SID wrong prefix", _twilio(sender=("--messaging-service-sid", TWILIO_SID)), 2, "bad_input"),
    ("both senders",
     _twilio(sender=("--from-number", FROM, "--messaging-service-sid", MG_SID)), 2, "bad_input"),
    ("neither sender", _twilio(sender=()), 2, "bad_input"),
    ("auth token with spaces", _twilio(token="not a token"), 2, "bad_input"),
    ("auth token too long", _twilio(token="a" * 129), 2, "bad_input"),
    ("phone without country", _twilio(sender=("--from-number", "4155550100")), 2, "bad_input"),
    ("phone too short", _twilio(sender=("--from-number", "12345")), 2, "bad_input"),
    ("phone not valid", _twilio(sender=("--from-number", "+1 555")), 2, "bad_input"),
    ("phone in letters", _twilio(sender=("--from-number", "call me")), 2, "bad_input"),
    ("phone way too long", _twilio(sender=("--from-number", "+1" + "5" * 40)), 2, "bad_input"),
    ("phone with junk", _twilio(sender=("--from-number", "+1415\udcff5550100")), 2, "bad_input"),
    ("Cdyne key not a GUID", _cdyne("not-a-guid"), 2, "bad_input"),
    ("Cdyne key missing a group", _cdyne("F01D89FD-5155-5455-E84AB8DE8591"), 2, "bad_input"),
    ("Cdyne key not hex", _cdyne("G01D89FD-5155-5455-5585-E84AB8DE8591"), 2, "bad_input"),
    ("Cdyne bad from number", _cdyne(CDYNE_KEY, "--from-number", "0800 FLOWERS"), 2, "bad_input"),
    ("Cdyne without key", ("provider", "add", "custom", "cdyne", "--title", "Cdyne"), 2, "bad_input"),
    ("Cdyne key from option and stdin", _cdyne(CDYNE_KEY, "--license-key-stdin"), 2, "bad_input"),
    ("token from option and stdin on update",
     ("provider", "update", "SMS", "--auth-token", TOKEN, "--auth-token-stdin"), 2, "bad_input"),
    # titles: 2
    ("empty title", _smtp(""), 2, "bad_input"),
    ("blank title", _smtp("   "), 2, "bad_input"),
    ("10 kB title", _smtp("x" * 10_000), 2, "bad_input"),
    ("201 character title", _smtp("é" * 201), 2, "bad_input"),
    ("empty method title", ("secondary-auth", "add", "--provider", "SMS", "--title", ""), 2, "bad_input"),
    ("10 kB method title",
     ("secondary-auth", "add", "--provider", "SMS", "--title", "y" * 10_000), 2, "bad_input"),
    ("empty title on update", ("provider", "update", "SMS", "--title", " "), 2, "bad_input"),
    ("NUL in title", _smtp("a\x00b"), 2, "bad_input"),
    ("escape sequence in title", _smtp("red \x1b[31mALERT\x1b[0m"), 2, "bad_input"),
    ("newline in title", _smtp("two\nlines"), 2, "bad_input"),
    ("tab in title", _smtp("tab\there"), 2, "bad_input"),
    ("DEL in title", _smtp("del\x7f"), 2, "bad_input"),
    ("C1 CSI in title", _smtp("csi\x9b31m"), 2, "bad_input"),
    ("line separator in title", _smtp("one\u2028two"), 2, "bad_input"),
    ("bidi override in title", _smtp("invoice\u202egnp.exe"), 2, "bad_input"),
    ("binary junk in title", _smtp("bad\udcff\udcfetitle"), 2, "bad_input"),
    ("binary junk in method title",
     ("secondary-auth", "add", "--provider", "SMS", "--title", "\udc80\udc81"), 2, "bad_input"),
    ("binary junk on update", ("provider", "update", "SMS", "--title", "x\udcff"), 2, "bad_input"),
    ("control char in company name", ("config", "set", "company-name", "Acme\x1b]0;pwned\x07"), 2,
     "bad_input"),
    ("binary junk company name", ("config", "set", "company-name", "Acme\udcff"), 2, "bad_input"),
    ("empty company name", ("config", "set", "company-name", ""), 2, "bad_input"),
    ("10 kB company name", ("config", "set", "company-name", "z" * 10_000), 2, "bad_input"),
    # updates: 2
    ("update with nothing", ("provider", "update", "SMS"), 2, "bad_input"),
    ("update with another channel's option",
     ("provider", "update", "SMS", "--license-key", CDYNE_KEY), 2, "bad_input"),
    ("update smtp with a number", ("provider", "update", "Email", "--from-number", FROM), 2, "bad_input"),
    ("update with bad SID", ("provider", "update", "SMS", "--account-sid", "AC1"), 2, "bad_input"),
    ("update with bad number", ("provider", "update", "SMS", "--from-number", "123"), 2, "bad_input"),
    # usage: 2
    ("unknown option on list", ("provider", "list", "--bogus"), 2, "bad_input"),
    ("unknown option on add", (*_twilio(), "--region", "eu"), 2, "bad_input"),
    ("unknown option on config", ("config", "set", "company-name", "X", "--frobnicate"), 2, "bad_input"),
    ("unknown root option", ("--colour", "provider", "list"), 2, "bad_input"),
    ("unknown subcommand", ("provider", "frobnicate"), 2, "bad_input"),
    ("unknown add kind", ("provider", "add", "premium", "smtp"), 2, "bad_input"),
    ("configio twilio", ("provider", "add", "configio", "twilio", "--title", "T"), 2, "bad_input"),
    ("missing title", ("provider", "add", "custom", "twilio", "--account-sid", TWILIO_SID,
                       "--auth-token", TOKEN, "--from-number", FROM), 2, "bad_input"),
    ("missing account SID",
     ("provider", "add", "custom", "twilio", "--title", "T", "--auth-token", TOKEN), 2, "bad_input"),
    ("unknown instructions", ("provider", "instructions", "bogus"), 2, "bad_input"),
    ("unknown config key", ("config", "set", "colour", "blue"), 2, "bad_input"),
    ("extra argument", ("customer", "enable", "now"), 2, "bad_input"),
    ("bad audit limit", ("audit", "--limit", "none"), 2, "bad_input"),
]


def test_bad_input_cases_are_uniquely_named():
    assert len({case[0] for case in BAD}) == len(BAD)


def test_bad_input_is_refused_cleanly_and_changes_nothing(cli, shop, database_url, subtests):
    """Every case of BAD against one store: a refused command must leave it as it was.

    Subtests share the store (setting one up per case made this module crawl on
    PostgreSQL); each case compares a full dump before and after, so a case that
    changed anything fails by name, and the next one starts from the new baseline.
    """
    ok(cli("config", "set", "company-name", "Acme Events", "--json"))
    for name, args, exit_code, error_code in BAD:
        with subtests.test(name):
            before = dump_store(database_url)
            run = cli(*args)
            assert run.exit_code == exit_code, (run.stdout, run.stderr)
            single_error_line(run.stderr)
            assert run.stdout == ""
            assert dump_store(database_url) == before

            as_json = cli(*args, "--json")
            assert as_json.exit_code == exit_code, (as_json.stdout, as_json.stderr)
            document = json.loads(as_json.stdout)
            assert as_json.stdout.count("\n") == 1
            assert set(document) == {"error"} and {"code", "message"} <= set(document["error"])
            assert "\n" not in document["error"]["message"] and document["error"]["message"]
            if error_code:
                assert document["error"]["code"] == error_code
            assert "Traceback" not in as_json.stderr
            assert dump_store(database_url) == before


def test_error_messages_stay_short_for_huge_input(cli, shop):
    run = cli("provider", "show", "x" * 10_000)
    assert len(single_error_line(run.stderr)) < 200
    run = cli(*_smtp("x" * 10_000))
    assert len(single_error_line(run.stderr)) < 200


# -- what is accepted: unicode, SQL, lookalikes ------------------------------------------------


UNICODE_TITLES = [
    "Téléphone (SMS)",
    "短信验证码",
    "רשימת SMS",
    "رسالة نصية",
    "Код по SMS",
    "📱 Text me",
    "👩‍👩‍👧 family phone",  # zero-width joiners inside an emoji sequence
    "e\u0301clair",  # a combining accent, not normalised away
    "Ω" * 200,
]


@pytest.mark.parametrize("title", UNICODE_TITLES)
def test_unicode_titles_round_trip_exactly(cli, title):
    added = ok(cli(*_smtp(title), "--json"))
    assert added["title"] == title
    assert ok(cli("provider", "show", title, "--json"))["id"] == added["id"]
    assert ok(cli("provider", "show", str(added["id"]), "--json"))["title"] == title
    method = ok(cli("secondary-auth", "add", "--provider", title, "--title", title, "--json"))
    assert method["title"] == title and method["provider_id"] == added["id"]
    assert [m["title"] for m in ok(cli("secondary-auth", "list", "--json"))] == [title]
    ok(cli("config", "set", "company-name", title, "--json"))
    assert cli("config", "get", "company-name").stdout == title + "\n"
    human = cli("provider", "show", str(added["id"]))
    assert human.exit_code == 0
    if len(title) < 40:  # a long one is folded over several table lines
        assert title in human.stdout


@pytest.mark.parametrize("title", ["'; DROP TABLE provider; --", "Robert'); DELETE FROM audit;--",
                                   '" OR 1=1 --', "%_%", "[red]markup[/red]", "$(rm -rf ~)"])
def test_sql_and_markup_in_titles_are_stored_literally(cli, database_url, title):
    added = ok(cli(*_smtp(title), "--json"))
    assert added["title"] == title
    assert ok(cli("provider", "show", title, "--json"))["id"] == added["id"]
    ok(cli("secondary-auth", "add", "--provider", str(added["id"]), "--title", title, "--json"))
    tables = dump_store(database_url)
    assert {"provider", "secondary_auth", "audit"} <= tables.keys()
    assert [row for row in tables["provider"] if title in row]
    human = cli("provider", "list")
    assert human.exit_code == 0 and title in human.stdout  # shown as text, not as rich markup
    # a wildcard title matches only itself
    assert cli("provider", "show", "%").exit_code == 3


def test_a_numeric_title_is_found_when_no_id_matches(cli):
    added = ok(cli(*_smtp("2024"), "--json"))
    assert ok(cli("provider", "show", "2024", "--json"))["id"] == added["id"]
    assert ok(cli("provider", "show", str(added["id"]), "--json"))["title"] == "2024"


def test_a_title_of_non_ascii_digits_is_a_title_not_an_id(cli):
    first = ok(cli(*_smtp("Email"), "--json"))
    arabic_one = "\u0661"  # ARABIC-INDIC DIGIT ONE: str.isdigit() says yes, int() would say 1
    other = ok(cli(*_smtp(arabic_one), "--json"))
    assert ok(cli("provider", "show", arabic_one, "--json"))["id"] == other["id"] != first["id"]
