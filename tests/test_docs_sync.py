"""The command output shown in README.md and docs/ is what the commands print today.

scripts/docs.py runs every `<!-- docs:run -->` block in a fresh home and compares; a
stale block fails here with its file, line and command, and `python scripts/docs.py`
rewrites it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "docs.py"


def docs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_shown_output_is_a_fresh_runs():
    checked = docs("--check")
    assert checked.returncode == 0, checked.stderr


def test_the_check_names_the_file_and_block_of_a_changed_output(tmp_path):
    page = tmp_path / "sessions.md"
    committed = (ROOT / "docs" / "sessions.md").read_text(encoding="utf-8")
    assert '{"revoked": 1}' in committed
    page.write_text(committed.replace('{"revoked": 1}', '{"revoked": 2}'), encoding="utf-8")
    block_line = committed[:committed.index("<!-- docs:run")].count("\n") + 3

    checked = docs("--check", str(page))

    assert checked.returncode == 1
    assert (f"{page}: the block at line {block_line} (`$ printf") in checked.stderr
    assert '-{"revoked": 2}\n+{"revoked": 1}' in checked.stderr
    assert page.read_text(encoding="utf-8") != committed  # --check changes nothing

    assert docs(str(page)).returncode == 0
    assert page.read_text(encoding="utf-8") == committed  # regenerated, as committed


def test_the_readme_output_follows_the_quick_start_as_written():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = re.search(r"## Quick start\n.*?```sh\n(.+?)\n```", readme, re.S).group(1)
    setup = re.search(r"<!-- docs:setup\n(.+?)\n-->", readme, re.S).group(1)
    assert quick_start.endswith(" && " + setup)


def test_the_upgrading_page_lists_every_revision_as_its_migration_says():
    """docs/upgrading.md's table: one row per migration, its docstring's first line."""
    migrations = sorted((ROOT / "twofa_cli" / "store" / "migrations" / "versions").glob("0*.py"))
    quotes = '"' * 3
    expected = [f"| {path.name[:4]} | {path.read_text().split(quotes)[1].strip().splitlines()[0]} |"
                for path in migrations]
    page = (ROOT / "docs" / "upgrading.md").read_text(encoding="utf-8")
    assert re.findall(r"^\| \d{4} \|.*\|$", page, re.M) == expected
