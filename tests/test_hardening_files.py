"""Files under a hostile or sloppy home (SECURITY.md rule 24), and bad input that must
never reach "internal" (rule 19): each test attacks through the CLI as a user would.

Run as root in CI, so "another user" is made with os.chown to an unused uid.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.store_dump import dump_store

ALICE = "alice@example.com"
PASSWORD = "correct horse battery"
STRANGER = 12345  # a uid nobody on the machine has


def ok(run):
    assert run.exit_code == 0, (run.exit_code, run.stdout, run.stderr)
    return run.json if run.stdout.startswith(("{", "[")) else run


def refused(run, code: int, *words: str):
    """One line on stderr naming the fix, nothing on stdout, no traceback."""
    assert run.exit_code == code, (run.exit_code, run.stdout, run.stderr)
    assert run.stdout == "" and "Traceback" not in run.stderr
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "internal" not in line and "unexpected" not in line, line
    for word in words:
        assert word in line, (word, line)
    return line


def refused_json(run, code: int) -> dict:
    assert run.exit_code == code, (run.exit_code, run.stdout, run.stderr)
    error = run.json["error"]
    assert error["code"] != "internal", error
    return error


@pytest.fixture
def customer(cli, home):
    """An SMS method, customers Active, Alice with a verified phone entry."""
    ok(cli("provider", "add", "custom", "twilio", "--title", "SMS", "--account-sid", "AC" + "0f" * 16,
           "--auth-token", "tok" + "e1" * 15, "--from-number", "+14155550100"))
    ok(cli("secondary-auth", "add", "--provider", "SMS", "--title", "Text message"))
    ok(cli("customer", "enable"))
    ok(cli("account", "add", ALICE, "--password-stdin", input=PASSWORD + "\n"))
    ok(cli("enroll", ALICE, "--method", "Text message", "--phone", "+14155550199"))
    ok(cli("verify", ALICE, latest_code(cli)))
    return cli


def latest_code(cli) -> str:
    return ok(cli("outbox", "--limit", "1", "--json"))[0]["code"]


def log_in(cli, device="laptop", *extra):
    return cli("login", ALICE, "--password-stdin", "--device", device, *extra, input=PASSWORD + "\n")


def trust(cli, device="laptop"):
    assert ok(log_in(cli, device, "--json"))["status"] == "code_sent"
    return cli("verify", ALICE, latest_code(cli), "--trust-device", "--device", device, "--json")


def snapshot(folder: Path) -> dict:
    """Every entry below ``folder`` with its type, mode and content: to prove nothing changed."""
    if not folder.exists():
        return {}
    found = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        found[str(path.relative_to(folder))] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                                                content)
    return found


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside the home that an attacker wants twofa to overwrite."""
    target = tmp_path / "outside" / "victim.txt"
    target.parent.mkdir()
    target.write_text("precious\n")
    return target


# -- A. files are never written through a symlink ---------------------------------------------


def test_a_cookie_symlinked_to_a_file_outside_is_refused_and_never_written(customer, home, outside):
    (home / "devices").mkdir(mode=0o700, exist_ok=True)
    (home / "devices" / "evil.json").symlink_to(outside)
    for run in (log_in(customer, "evil"),
                customer("verify", ALICE, "000000", "--trust-device", "--device", "evil"),
                customer("device", "forget", "evil")):
        refused(run, 1, "symbolic link", str(home / "devices" / "evil.json"))
    assert outside.read_text() == "precious\n"
    assert (home / "devices" / "evil.json").is_symlink()  # refused, not "repaired" behind the user's back


def test_a_cookie_write_does_not_follow_a_link_swapped_in_after_the_checks(home, outside, monkeypatch):
    """The race: the link appears after every check passed. The write itself (a fresh
    temporary file renamed over the name) must still not follow it."""
    from twofa_cli import files
    from twofa_cli.browser import Browser

    browser = Browser(home, "evil")
    (home / "devices").mkdir(mode=0o700)
    (home / "devices" / "evil.json").symlink_to(outside)
    monkeypatch.setattr(files, "inspect", lambda *args, **kwargs: None)
    monkeypatch.setattr(files, "read_private", lambda *args, **kwargs: None)
    browser.set_cookie(1, "token")
    assert outside.read_text() == "precious\n"
    assert json.loads((home / "devices" / "evil.json").read_text()) == {"1": "token"}
    assert not (home / "devices" / "evil.json").is_symlink()


def test_a_cookie_hard_linked_elsewhere_is_replaced_not_rewritten_in_place(customer, home, tmp_path):
    ok(trust(customer))
    cookie = home / "devices" / "laptop.json"
    copy = tmp_path / "hard-link"
    os.link(cookie, copy)
    before = copy.read_bytes()
    ok(customer("device", "revoke", ALICE, "--all"))
    ok(trust(customer, "laptop"))
    assert copy.read_bytes() == before  # the other name kept its bytes: a new file took the name
    assert cookie.stat().st_ino != copy.stat().st_ino


def test_a_devices_folder_that_is_a_symlink_is_refused(customer, home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (home / "devices").symlink_to(elsewhere, target_is_directory=True)
    refused(log_in(customer), 1, "symbolic link", str(home / "devices"))
    refused(customer("provider", "list"), 1, "symbolic link")
    refused(customer("device", "forget", "laptop"), 1, "symbolic link")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("name", ["secret.key", "twofa.db"])
def test_a_dangling_symlink_in_a_new_home_makes_no_file_outside_it(bare_cli, tmp_path, name):
    home, target = tmp_path / "fresh", tmp_path / "outside" / "stolen"
    target.parent.mkdir()
    home.mkdir(mode=0o700)
    (home / name).symlink_to(target)
    refused(bare_cli("init"), 1, "symbolic link", str(home / name))
    assert not target.exists()
    assert not (home / "config.toml").exists()  # init wrote nothing that says "ready"


@pytest.mark.parametrize("name", ["secret.key", "config.toml", "twofa.db"])
def test_a_symlinked_home_file_is_refused_at_every_command(cli, home, tmp_path, database_url, name):
    if name == "twofa.db" and not database_url.startswith("sqlite"):
        pytest.skip("no database file on PostgreSQL")
    real = tmp_path / f"real-{name}"
    (home / name).rename(real)
    (home / name).symlink_to(real)
    for args in (("init",), ("provider", "list"), ("db", "status")):
        if name == "secret.key" and args == ("db", "status"):
            continue  # the schema commands never read the key
        refused(cli(*args), 1, "symbolic link", str(home / name))


def test_a_home_that_is_a_symlink_is_refused(cli, home, tmp_path):
    link = tmp_path / "link-home"
    link.symlink_to(home, target_is_directory=True)
    refused(cli("--home", str(link), "provider", "list"), 1, "symbolic link")
    refused(cli("--home", str(link), "init"), 1, "symbolic link")


def test_init_makes_files_through_a_temporary_file_renamed_in_place(bare_cli, tmp_path, monkeypatch):
    """A crash half-way through a write leaves the old file whole and no stray temporary."""
    home = tmp_path / "fresh"
    ok(bare_cli("init"))
    config = (home / "config.toml").read_bytes()

    def crash(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    run = bare_cli("init", "--database-url", f"sqlite:///{home / 'twofa.db'}")
    refused(run, 1, "config.toml", "No space left on device")
    assert (home / "config.toml").read_bytes() == config
    assert sorted(p.name for p in home.iterdir()) == ["config.toml", "secret.key", "twofa.db",
                                                      *(["twofa.db-shm", "twofa.db-wal"]
                                                        if (home / "twofa.db-wal").exists() else [])]


# -- A. a home others can reach is refused --------------------------------------------------------


def test_a_world_writable_home_is_refused_at_init_and_every_command(cli, home, database_url):
    home.chmod(0o777)
    before = dump_store(database_url)
    for args in (("init",), ("provider", "list"), ("db", "status"), ("customer", "enable")):
        line = refused(cli(*args), 1, str(home), "chmod 700", "777")
        assert "writable" in line
        assert refused_json(cli(*args, "--json"), 1)["message"]
    assert stat.S_IMODE(home.stat().st_mode) == 0o777  # never "fixed" silently
    assert dump_store(database_url) == before
    home.chmod(0o700)
    ok(cli("provider", "list"))


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o720, 0o702])
def test_a_home_writable_by_group_or_others_is_refused(cli, home, mode):
    home.chmod(mode)
    refused(cli("provider", "list"), 1, "chmod 700", f"{mode:o}")


def test_a_group_writable_devices_folder_is_refused(customer, home):
    ok(trust(customer))
    (home / "devices").chmod(0o777)
    refused(log_in(customer), 1, str(home / "devices"), "chmod 700")
    refused(customer("provider", "list"), 1, str(home / "devices"), "chmod 700")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_world_writable_database_file_is_refused(cli, home, suffix):
    path = home / f"twofa.db{suffix}"
    path.touch(mode=0o600)  # -wal and -shm exist while a connection is open
    path.chmod(0o666)
    for args in (("provider", "list"), ("init",), ("db", "status")):
        refused(cli(*args), 1, str(path), "chmod 600", "666")


@pytest.mark.sqlite_only
def test_a_database_owned_by_another_user_is_refused(cli, home):
    os.chown(home / "twofa.db", STRANGER, -1)
    refused(cli("provider", "list"), 1, str(home / "twofa.db"), "chown", str(STRANGER))


@pytest.mark.parametrize("name", ["secret.key", "config.toml", "devices", "."])
def test_a_home_file_owned_by_another_user_is_refused(customer, home, name):
    ok(trust(customer))
    path = home / name
    os.chown(path, STRANGER, -1)
    for args in (("provider", "list"), ("init",)):
        refused(customer(*args), 1, "chown", str(STRANGER))
    refused(log_in(customer), 1, "chown")


def test_a_cookie_file_owned_by_another_user_is_refused(customer, home):
    ok(trust(customer))
    os.chown(home / "devices" / "laptop.json", STRANGER, -1)
    refused(log_in(customer), 1, "chown", str(home / "devices" / "laptop.json"))


def test_a_key_owned_by_another_user_is_never_used_to_encrypt(cli, home):
    os.chown(home / "secret.key", STRANGER, -1)
    before = (home / "secret.key").read_bytes()
    for args in (("init",), ("provider", "add", "configio", "smtp"), ("provider", "list")):
        refused(cli(*args), 1, str(home / "secret.key"), "chown", str(STRANGER))
    assert (home / "secret.key").read_bytes() == before


def test_a_world_writable_key_is_refused(cli, home):
    (home / "secret.key").chmod(0o602)
    refused(cli("init"), 1, "chmod 600", "602")


def test_init_still_tightens_a_home_only_others_can_read(bare_cli, tmp_path):
    home = tmp_path / "fresh"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    ok(bare_cli("init"))
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


# -- B. bad input never reaches "internal" --------------------------------------------------------


@pytest.mark.parametrize("offset", [str(2**63), str(2**64), "9" * 40])
def test_an_offset_beyond_64_bits_is_bad_input(cli, offset):
    refused(cli("account", "list", "--offset", offset), 2, "offset")
    assert refused_json(cli("account", "list", "--offset", offset, "--json"), 2)["code"] == "bad_input"


def test_the_largest_64_bit_offset_is_an_empty_page(cli):
    assert ok(cli("account", "list", "--offset", str(2**63 - 1), "--json")) == []


@pytest.mark.parametrize("ident", ["²", "١٢", "9" * 19, str(2**64), "9" * 5000])
def test_odd_ids_are_not_found(customer, ident):
    for args in (("account", "show", ident), ("provider", "show", ident), ("entry", "list", ident),
                 ("secondary-auth", "remove", ident, "--yes"), ("device", "list", ident),
                 ("enroll", ALICE, "--method", ident, "--phone", "+14155550123")):
        assert refused_json(customer(*args, "--json"), 3)["code"] == "not_found"


@pytest.mark.parametrize("args, code", [
    (("config", "set", "company-name", "Acme \udce9vents"), 2),
    (("account", "add", "b\udce9b@example.com", "--password-stdin"), 2),
    (("account", "show", "\udcff"), 3),  # a lookup finds nothing, as for any other name
    # refused as undecodable (2), or as any unknown account (1) once the audit target is escaped
    (("login", "al\udce9ce@example.com", "--password-stdin"), (1, 2)),
])
def test_arguments_that_are_not_utf8_are_refused_or_found_wanting(customer, database_url, args, code):
    before = dump_store(database_url)
    for as_json in (False, True):
        run = customer(*args, *(["--json"] if as_json else []), input=PASSWORD + "\n")
        expected = run.exit_code if isinstance(code, tuple) and run.exit_code in code else code
        (refused_json if as_json else refused)(run, expected)
    assert dump_store(database_url) == before


@pytest.mark.parametrize("args", [
    ("login", ALICE, "--password-stdin"),
    ("account", "add", "bob@example.com", "--password-stdin"),
    ("provider", "add", "custom", "twilio", "--title", "T2", "--account-sid", "AC" + "0f" * 16,
     "--auth-token-stdin", "--from-number", "+14155550100"),
])
def test_standard_input_that_is_not_utf8_is_bad_input(customer, database_url, args):
    before = dump_store(database_url)
    refused(customer(*args, input=b"\xff\xfe horse battery\n"), 2, "UTF-8")
    assert refused_json(customer(*args, "--json", input=b"\xff horse battery\n"), 2)["code"] == "bad_input"
    assert dump_store(database_url) == before


@pytest.mark.sqlite_only
def test_non_utf8_bytes_from_a_real_process_are_bad_input(home):
    """The console script itself, with raw bytes in argv and on stdin (the OS hands Python
    surrogate escapes for them)."""
    def twofa(*args: bytes, stdin: bytes = b""):
        code = "import sys; from twofa_cli.cli.main import main; sys.argv[0] = 'twofa'; main()"
        return subprocess.run([sys.executable, "-c", code.encode(), *args], input=stdin,
                              capture_output=True, timeout=60, env={**os.environ, "LC_ALL": "C.UTF-8"},
                              cwd=Path(__file__).parent.parent)

    assert twofa(b"account", b"show", b"\xff\xfe", b"--json").returncode == 3
    run = twofa(b"account", b"add", b"bob@example.com", b"--password-stdin", b"--json",
                stdin=b"p\xe4ssword long enough\n")
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert json.loads(run.stdout)["error"]["code"] == "bad_input"
    # an actor is free text: stored escaped (the normal flow) or refused, never "internal"
    run = twofa(b"--actor", b"r\xf6ot", b"customer", b"enable", b"--json")
    assert run.returncode in (0, 2), (run.returncode, run.stdout, run.stderr)
    assert b"internal" not in run.stdout


@pytest.mark.parametrize("value", [5, None, ["x"], {"a": 1}, "\ud800", "t\u00f6ken", True])
def test_a_cookie_value_that_is_not_a_token_falls_back_to_a_code(customer, home, value):
    ok(trust(customer))
    cookie = home / "devices" / "laptop.json"
    cookies = json.loads(cookie.read_text())
    cookies = {key: value for key in cookies}
    cookie.write_text(json.dumps(cookies))
    assert ok(log_in(customer, "laptop", "--json"))["status"] == "code_sent"


@pytest.mark.parametrize("content", [b"[1, 2]", b"\xff\xfe", b"{", b"", b'"token"'])
def test_a_cookie_file_that_is_not_a_json_object_falls_back_to_a_code(customer, home, content):
    ok(trust(customer))
    (home / "devices" / "laptop.json").write_bytes(content)
    assert ok(log_in(customer, "laptop", "--json"))["status"] == "code_sent"


def test_a_devices_path_that_is_a_file_is_bad_input(customer, home, database_url):
    (home / "devices").write_text("not a folder")
    before = dump_store(database_url)
    refused(log_in(customer), 2, str(home / "devices"), "folder")
    refused(customer("verify", ALICE, "000000", "--trust-device"), 2, "folder")
    refused(customer("device", "forget", "laptop"), 2, "folder")
    assert dump_store(database_url) == before


def test_a_cookie_path_that_is_a_folder_is_bad_input(customer, home, database_url):
    (home / "devices" / "laptop.json").mkdir(parents=True)
    before = dump_store(database_url)
    refused(log_in(customer), 2, str(home / "devices" / "laptop.json"), "regular file")
    refused(customer("verify", ALICE, "000000", "--trust-device", "--device", "laptop"), 2)
    refused(customer("device", "forget", "laptop"), 2, "regular file")
    assert dump_store(database_url) == before


@pytest.mark.parametrize("below", [False, True])
def test_a_twofa_home_that_is_a_file_or_below_one_is_bad_input(tmp_path, monkeypatch, below):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    monkeypatch.setenv("TWOFA_HOME", str(a_file / "home" if below else a_file))
    cli = Cli()
    for args in (("init",), ("provider", "list"), ("db", "status"), ("db", "upgrade"),
                 ("device", "forget", "laptop"), ("init", "--json")):
        run = cli(*args)
        if "--json" in args:
            assert refused_json(run, 2)["code"] == "bad_input"
        else:
            refused(run, 2, "folder")
    assert a_file.read_text() == "not a folder"


@pytest.fixture
def alarm():
    """Fail, do not hang, if a command blocks (a FIFO opened for reading waits for a writer)."""
    def fail(*_):
        raise TimeoutError("the command blocked")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_secret_key_that_is_a_folder_or_a_fifo_is_bad_input(cli, home, alarm, kind):
    key = home / "secret.key"
    key.unlink()
    if kind == "folder":
        key.mkdir(mode=0o700)
    else:
        os.mkfifo(key, 0o600)
    for args in (("provider", "list"), ("init",)):
        refused(cli(*args), 2, str(key), "regular file")


# -- D. CSV import --------------------------------------------------------------------------------


def test_import_refuses_a_header_that_names_a_column_twice(cli, tmp_path, database_url):
    path = tmp_path / "twice.csv"
    path.write_text("email,password,Email\na@example.com,long enough pw,b@example.com\n")
    before = dump_store(database_url)
    line = refused(cli("account", "import", str(path)), 2, "line 1", "email")
    assert "columns 1 and 3" in line
    assert dump_store(database_url) == before


def test_import_refuses_an_argon2_hash_weaker_than_the_configured_parameters(cli, tmp_path, database_url):
    from argon2 import PasswordHasher

    from twofa_cli import security

    configured = security._password_hasher()
    weak = [
        PasswordHasher(time_cost=configured.time_cost, memory_cost=8, parallelism=1),
        PasswordHasher(time_cost=configured.time_cost, memory_cost=configured.memory_cost,
                       parallelism=configured.parallelism, hash_len=8),
        PasswordHasher(time_cost=configured.time_cost, memory_cost=configured.memory_cost,
                       parallelism=configured.parallelism, salt_len=8),
    ]
    # stronger, within the bound of twice the configured work (rule 32)
    strong = PasswordHasher(time_cost=configured.time_cost, memory_cost=configured.memory_cost * 2,
                            parallelism=configured.parallelism)
    rows = [f'user{i}@example.com,"{hasher.hash("a password")}"' for i, hasher in enumerate(weak)]
    rows.append(f'strong@example.com,"{strong.hash("a password")}"')
    path = tmp_path / "weak.csv"
    path.write_text("email,password_hash\n" + "\n".join(rows) + "\n")
    before = dump_store(database_url)
    error = refused_json(cli("account", "import", str(path), "--json"), 2)
    assert [row["line"] for row in error["rows"]] == [2, 3, 4]
    assert all("weaker" in row["message"] for row in error["rows"])
    assert "memory_cost" in error["rows"][0]["message"]
    assert dump_store(database_url) == before

    path.write_text("email,password_hash\n" + rows[-1] + "\n")
    assert ok(cli("account", "import", str(path), "--json"))["imported"] == 1
