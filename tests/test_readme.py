"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_library_example_runs(home, sms_setup, capsys):
    from twofa_cli import TwoFactor

    with TwoFactor.open(home) as twofa:
        twofa.set_password("alice@example.com", "correct horse battery")
    [block] = python_blocks()
    exec(compile(block, "README.md", "exec"), {"home": str(home)})
    assert capsys.readouterr().out.startswith("1 rejected no code is pending")


def test_quick_start_and_ci_run_the_same_test_command():
    readme = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r"Run the tests:\n\n```sh\n(.+?)\n```", readme).group(1)
    assert command in ci
