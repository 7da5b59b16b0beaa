"""docs/library.md: its example runs as written and prints what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from twofa_cli import api

DOC = Path(__file__).resolve().parent.parent / "docs" / "library.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_example_takes_an_empty_folder_to_a_verified_customer(
        tmp_path, monkeypatch, database_url, capsys):
    monkeypatch.chdir(tmp_path)
    if database_url.startswith("postgresql"):  # SQLite: the example's own shop-2fa/twofa.db
        monkeypatch.setenv("TWOFA_DATABASE_URL", database_url)
    example, _serving = blocks("python")
    exec(compile(example, str(DOC), "exec"), {})
    [printed] = blocks("text")
    assert capsys.readouterr().out == printed
    assert (tmp_path / "shop-2fa" / "secret.key").stat().st_mode & 0o777 == 0o600


def test_the_example_runs_again_in_the_same_home(tmp_path, monkeypatch, database_url, capsys):
    """A reader runs it twice: the second run finds the set-up and Alice's entry made."""
    monkeypatch.chdir(tmp_path)
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("TWOFA_DATABASE_URL", database_url)
    example, _serving = blocks("python")
    exec(compile(example, str(DOC), "exec"), {})
    capsys.readouterr()
    exec(compile(example, str(DOC), "exec"), {})
    [printed] = blocks("text")
    assert capsys.readouterr().out == printed


def test_every_public_method_is_documented_with_its_errors():
    text = DOC.read_text(encoding="utf-8")
    public = [name for name in vars(api.TwoFactor) if not name.startswith("_")]
    assert len(public) > 25
    for name in public:
        assert re.search(rf"[`.]{name}\b", text), f"{name} is not in docs/library.md"
    for error in ("Rejected", "Conflict", "NotInitialised", "BadInput", "NotFound", "Throttled",
                  "DeliveryFailed", "DatabaseUnavailable", "SchemaOutOfDate"):
        exit_code = getattr(api, error).exit_code
        assert re.search(rf"\| `{error}`[^|]*\| {exit_code} \|", text), error


def test_set_allowed_refuses_an_unknown_audience(home):
    with api.TwoFactor.open(home) as twofa, pytest.raises(api.BadInput):
        twofa.set_allowed("everyone", True)  # type: ignore[arg-type]
