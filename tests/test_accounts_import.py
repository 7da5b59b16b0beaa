"""`twofa account import`: check every row first, import all or nothing, stream the file."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from twofa_cli.errors import BadInput, NotFound
from twofa_cli.services import accounts

# Made with the tests' configured parameters (conftest._cheap_argon2): import takes no hash
# costlier than a bound of the configured one (SECURITY.md rule 32).
HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("imported password")


def write_csv(path, lines: list[str]):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def quoted(value: str) -> str:
    return '"' + value + '"'  # argon2 hashes hold commas: m=1024,t=1,p=1


def test_import_with_hashes_and_passwords(rt, tmp_path, monkeypatch):
    progress = []
    monkeypatch.setattr(accounts, "IMPORT_BATCH", 2)
    path = write_csv(tmp_path / "a.csv", [
        "email,name,password,password_hash",
        f"a@example.com,Ann,,{quoted(HASH)}",
        "b@example.com,Bob,plain password,",
        f"C@Example.com,,,{quoted(HASH)}",
    ])
    result = accounts.import_accounts(rt, path, progress=lambda done, total: progress.append((done, total)))
    assert result["imported"] == 3 and progress == [(2, 3), (3, 3)]
    listed = accounts.list_accounts(rt)
    assert [a["email"] for a in listed] == ["a@example.com", "b@example.com", "c@example.com"]
    from twofa_cli.services.login import login

    assert login(rt, "a@example.com", "imported password")["status"] == "authenticated"
    assert login(rt, "b@example.com", "plain password")["status"] == "authenticated"


def test_one_bad_row_imports_nothing_and_every_bad_row_is_reported(rt, tmp_path):
    accounts.add_account(rt, email="taken@example.com", password="a password")
    path = write_csv(tmp_path / "bad.csv", [
        "email,name,password",
        "good@example.com,Good,long enough",
        "not-an-email,Bad,long enough",
        "short@example.com,Short,abc",
        "good@example.com,Again,long enough",
        "taken@example.com,Taken,long enough",
    ])
    with pytest.raises(BadInput) as info:
        accounts.import_accounts(rt, path)
    lines = [row["line"] for row in info.value.details["rows"]]
    assert lines == [3, 4, 5, 6]
    assert "nothing imported" in info.value.message
    assert [a["email"] for a in accounts.list_accounts(rt)] == ["taken@example.com"]


@pytest.mark.parametrize("content", [
    "name,password\nx,y\n",  # no email column
    "email,name\na@example.com,A\n",  # no password column
])
def test_header_must_name_the_columns(rt, tmp_path, content):
    path = tmp_path / "h.csv"
    path.write_text(content)
    with pytest.raises(BadInput, match="header"):
        accounts.import_accounts(rt, path)


def test_unquoted_hash_with_commas_is_reported_not_truncated(rt, tmp_path):
    path = write_csv(tmp_path / "h.csv", ["email,password_hash", f"a@example.com,{HASH}"])
    with pytest.raises(BadInput, match="line 2: more fields than the header"):
        accounts.import_accounts(rt, path)


def test_bad_hash_binary_and_missing_files(rt, tmp_path):
    path = write_csv(tmp_path / "h.csv", ["email,password_hash", "a@example.com,$2b$12$notargon"])
    with pytest.raises(BadInput, match="line 2: password_hash"):
        accounts.import_accounts(rt, path)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"email,password\n\xff\xfe\x00\x00,zzzzzzzzz\n")
    with pytest.raises(BadInput):
        accounts.import_accounts(rt, binary)
    with pytest.raises(NotFound):
        accounts.import_accounts(rt, tmp_path / "missing.csv")
    assert accounts.list_accounts(rt) == []


def test_cli_import_reports_bad_rows_as_json(cli, tmp_path):
    path = write_csv(tmp_path / "bad.csv", ["email,password", "nope,long enough password"])
    run = cli("account", "import", str(path), "--json")
    assert run.exit_code == 2
    assert run.json["error"]["rows"] == [{"line": 2, "message": run.json["error"]["rows"][0]["message"]}]
    good = write_csv(tmp_path / "good.csv", ["email,password_hash", f"a@example.com,{quoted(HASH)}"])
    run = cli("account", "import", str(good), "--json")
    assert run.exit_code == 0 and run.json["imported"] == 1


def test_import_streams_many_rows_in_batches(rt, tmp_path, monkeypatch):
    """5,000 rows go in as several batches of one transaction; the file is read twice, row by row."""
    inserts = []
    real_insert = accounts._insert
    monkeypatch.setattr(accounts, "_insert", lambda s, b: inserts.append(len(b)) or real_insert(s, b))
    path = write_csv(tmp_path / "many.csv", ["email,password_hash"] +
                     [f"user{n}@example.com,{quoted(HASH)}" for n in range(5000)])
    assert accounts.import_accounts(rt, path)["imported"] == 5000
    assert inserts == [2000, 2000, 1000]
    assert accounts.show_account(rt, "user4999@example.com")["email"] == "user4999@example.com"
