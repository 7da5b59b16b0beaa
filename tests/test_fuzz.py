"""Property-based fuzzing of every command and option (SECURITY.md rule 19).

The commands come from walking `twofa`'s own command tree, so a command added
later is fuzzed without touching this file. For any arguments, options and
standard input, each run must:

- exit with a contract code (0-5), never the "internal" error;
- print exactly one JSON document on stdout with ``--json``;
- leave the store and ``devices/`` as they were when it exits 2 (bad input) or 3 (not found).

Bounded and derandomised (a fixed number of examples per command, the same ones on
every run) so the suite stays fast and a failure reproduces. SQLite only: the
properties are about input handling, which does not depend on the store.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store_dump import dump_store

ALICE = "alice@example.com"
PASSWORD = "correct horse battery"
EXAMPLES_PER_COMMAND = 8


def _commands():
    """Every leaf command of `twofa` as (words, command), found by walking the tree,
    and the root command (for its own options)."""
    from typer.main import get_command

    from twofa_cli.cli.main import app

    def walk(group, words):
        for name in group.list_commands(None):
            command = group.get_command(None, name)
            if hasattr(command, "list_commands"):
                yield from walk(command, (*words, name))
            else:
                yield (*words, name), command

    root = get_command(app)
    return [(words, command) for words, command in walk(root, ())], root


COMMANDS, ROOT = _commands()


def test_the_walk_finds_every_command():
    names = {" ".join(words) for words, _ in COMMANDS}
    assert {"init", "login", "verify", "account import", "provider add custom twilio",
            "device forget", "db upgrade", "export", "apply", "serve"} <= names
    assert len(names) == len(COMMANDS) >= 50


# -- values --------------------------------------------------------------------------------------

KNOWN = [ALICE, "bob@example.com", "1", "2", "3", "SMS", "Email", "Text message", "Email code",
         "+14155550199", "+14155550100", "laptop", "default", "123456", "company-name", "twilio",
         "cdyne", "smtp", "AC" + "0f" * 16, "MG" + "0f" * 16, "http://127.0.0.1:1"]
NASTY = ["", " ", "0", "-1", "²", "١٢", "9" * 19, str(2**63), str(2**64), "9" * 400, "1e3", "0x10",
         "\x00", "a\x00b", "\x1b[2J\x1b]8;;http://x\x07y", "\u009b31m", "\u202eevil", "\ufeff",
         "\udcff\udcfe", "é" * 300, "x" * 5000, "' OR 1=1 --", "\"; DROP TABLE account; --",
         "../../etc/passwd", "a@b", "+1", "+999999999999999", "--json", "-", "%s%n", "{}", "[]",
         "null", "Ａｄｍｉｎ", "ALICE@EXAMPLE.COM"]
TEXT = st.one_of(st.sampled_from(KNOWN), st.sampled_from(NASTY),
                 st.text(max_size=30), st.text(alphabet=st.characters(codec="utf-8"), max_size=12))
INTEGER = st.one_of(st.integers(-5, 200).map(str), st.sampled_from(NASTY[:12]),
                    st.integers(2**62, 2**70).map(str))
STDIN = st.one_of(st.none(), st.just(PASSWORD + "\n"), st.text(max_size=40),
                  st.binary(max_size=40), st.just("\n"), st.just("x" * 2000 + "\n"))


def _paths(tmp: Path, home: Path) -> list[str]:
    """Where a path option may point: never anywhere outside the test's own folder
    (`init --home /` as root would tighten / to 0700)."""
    return [str(home), "relative-home", str(tmp / "a-file"), str(tmp / "a-file" / "below"),
            str(tmp / "csv" / "good.csv"), str(tmp / "csv" / "twice.csv"),
            str(tmp / "csv" / "junk.csv"), str(tmp / "csv" / "fuzz.csv"), str(tmp / "csv"),
            str(tmp / "missing.csv"), ""]


def _database_urls(tmp: Path, home: Path) -> list[str]:
    """No host that could make a command wait on the network: port 1 refuses at once."""
    return [f"sqlite:///{home / 'twofa.db'}", f"sqlite:///{tmp / 'other.db'}", "sqlite:///rel.db",
            f"sqlite:///{tmp / 'a-file' / 'x.db'}", "sqlite://", "not a url", "mysql://x/y", "",
            "postgresql+psycopg://u:pw@127.0.0.1:1/x", "sqlite:///\x00", "sqlite:///%s\n"]


def _values(param, tmp: Path, home: Path):
    if param.name in {"home", "path"} or param.bare_type() is Path:
        return st.sampled_from(_paths(tmp, home))
    if param.name == "database_url":
        return st.sampled_from(_database_urls(tmp, home))
    if param.bare_type() is int:
        return INTEGER
    return TEXT


@st.composite
def invocations(draw, words, command, tmp: Path, home: Path):
    """Arguments for one run of ``command``: each option maybe, each argument nearly
    always, a root option sometimes, ``--json`` half the time."""
    groups = []  # one option with its value, or one argument: --json goes between them
    for param in ROOT.params:
        if param.name in {"home", "actor"} and draw(st.integers(0, 9)) == 0:
            groups.append([param.opts[0], draw(_values(param, tmp, home))])
    groups.append(list(words))
    for param in command.params:
        if param.name in {"json_", "help"}:
            continue
        if param.param_type_name == "argument":
            if draw(st.integers(0, 9)) > 0 or param.required is False:
                groups.append([draw(_values(param, tmp, home))])
        elif param.is_flag:
            if draw(st.booleans()):
                groups.append([draw(st.sampled_from(param.opts))])
        elif param.required or draw(st.booleans()):
            groups.append([draw(st.sampled_from(param.opts)), draw(_values(param, tmp, home))])
    as_json = draw(st.booleans())
    if as_json:
        groups.insert(draw(st.integers(0, len(groups))), ["--json"])  # accepted anywhere
    args = [token for group in groups for token in group]
    return args, as_json, draw(STDIN)


# -- the shop being fuzzed -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop_template(tmp_path_factory) -> Path:
    """Providers, methods, Alice with a verified phone and a trusted laptop, Bob: set up
    once through the CLI, copied for each command."""
    from tests.conftest import Cli

    home = tmp_path_factory.mktemp("shop") / "home"
    cli = Cli()

    def ok(*args, input=None):
        run = cli(*args, input=input)
        assert run.exit_code == 0, (args, run.stdout, run.stderr)
        return run

    def latest_code():
        return json.loads(ok("outbox", "--limit", "1", "--json").stdout)[0]["code"]

    with pytest.MonkeyPatch.context() as env:
        env.setenv("TWOFA_HOME", str(home))
        env.delenv("TWOFA_DATABASE_URL", raising=False)
        ok("init")
        ok("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", "AC" + "0f" * 16,
           "--auth-token", "tok" + "e1" * 15, "--from-number", "+14155550100",
           "--api-base-url", "http://127.0.0.1:1")
        ok("provider", "add", "configio", "smtp")
        ok("secondary-auth", "add", "--provider", "SMS", "--title", "Text message")
        ok("secondary-auth", "add", "--provider", "Email", "--title", "Email code")
        ok("customer", "enable")
        ok("account", "add", ALICE, "--password-stdin", input=PASSWORD + "\n")
        ok("account", "add", "bob@example.com", "--password-stdin", input=PASSWORD + "\n")
        ok("enroll", ALICE, "--method", "Text message", "--phone", "+14155550199")
        ok("verify", ALICE, latest_code())
        ok("login", ALICE, "--password-stdin", "--device", "laptop", input=PASSWORD + "\n")
        ok("verify", ALICE, latest_code(), "--trust-device", "--device", "laptop")
    return home


@pytest.fixture
def shop(home, shop_template, tmp_path, monkeypatch):
    """The shop in this test's home, odd files to point paths at, no network, cwd in tmp."""
    shutil.rmtree(home)
    shutil.copytree(shop_template, home)
    (tmp_path / "a-file").write_text("not a folder")
    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "good.csv").write_text(f"email,password\ncarol@example.com,{PASSWORD}\n")
    (csv / "twice.csv").write_text(f"email,password,email\nd@example.com,{PASSWORD},e@example.com\n")
    (csv / "junk.csv").write_bytes(b"email,password_hash\n\xff\xfe,$argon2id$v=19$m=8,t=1,p=1$x$y\n")
    monkeypatch.chdir(tmp_path)  # relative paths and sqlite:///rel.db land here
    _no_network(monkeypatch)
    # `twofa serve` runs until stopped: everything up to the server loop is fuzzed, the
    # loop itself returns at once (and so never prints the URL it prints once bound).
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    return {"tmp": tmp_path, "home": home}


def _no_network(monkeypatch):
    """Only loopback resolves: a fuzzed provider must fail at once, not wait on DNS."""
    real = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if host not in {"127.0.0.1", "::1", "localhost"}:
            raise socket.gaierror(socket.EAI_NONAME, "no network in the fuzz test")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


def _devices(home: Path) -> dict:
    folder = home / "devices"
    if not folder.is_dir() or folder.is_symlink():
        return {"devices": folder.exists()}
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


# -- the property --------------------------------------------------------------------------------


@pytest.mark.sqlite_only
@pytest.mark.parametrize("words, command", COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_any_input_gives_a_contract_exit_code_and_changes_nothing_when_refused(
        shop, cli, database_url, words, command):
    tmp, home = shop["tmp"], shop["home"]

    @settings(max_examples=EXAMPLES_PER_COMMAND, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(data=st.data())
    def run_once(data):
        args, as_json, stdin = data.draw(invocations(words, command, tmp, home))
        (tmp / "csv" / "fuzz.csv").write_bytes(data.draw(st.binary(max_size=200)))
        store, devices = dump_store(database_url), _devices(home)

        run = cli.runner.invoke(_app(), args, input=stdin)
        if run.exception and not isinstance(run.exception, SystemExit):
            raise AssertionError(f"{args!r} raised {run.exception!r}") from run.exception

        assert 0 <= run.exit_code <= 5, (args, run.exit_code, run.stdout, run.stderr)
        assert "run with --debug" not in run.stdout + run.stderr, (args, run.stderr)
        if as_json and not (words == ("serve",) and run.exit_code == 0):
            document, end = json.JSONDecoder().raw_decode(run.stdout)
            assert run.stdout[end:].strip() == "", (args, run.stdout)
            if run.exit_code:
                assert document["error"]["code"] != "internal", (args, document)
        if run.exit_code in (2, 3):
            assert dump_store(database_url) == store, args
            assert _devices(home) == devices, args

    run_once()


def _app():
    from twofa_cli.cli.main import app

    return app
