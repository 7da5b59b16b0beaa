"""Terminal and log injection: text from outside never reaches a terminal as control codes.

The attacker controls the account text typed at `login` (stored as the audit target),
`--actor`, titles and names, and anything echoed by an error. Human output must show
control characters (C0, C1, DEL) and bidi overrides visibly escaped; JSON must carry them
as ``\\uXXXX``; rich markup in stored text must print literally.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import select

from twofa_cli.runtime import open_runtime
from twofa_cli.store.models import AuditEvent

# What a terminal would act on: ESC (cursor moves, OSC 8 hyperlinks, "clear screen"),
# BEL, CR, backspace, DEL, the C1 controls (U+009B is a one-character CSI) and the bidi
# embeddings, overrides and isolates ("Trojan Source"). Tabs and newlines are layout.
TERMINAL_CODES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
HOSTILE = (
    "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\"  # OSC 8 hyperlink
    "\x1b[2J\x1b[1;1H"  # clear the screen, cursor home
    "\x9b31m"  # CSI as one C1 character
    "\u202etxt.exe\u202c\u2066x\u2069"  # bidi override and isolate
    "\x07\x08\r\x7f\x85"
)
MARKUP = "[link=https://evil.example]click[/link] [red]alarm[/red] [bold]"


def assert_inert(*outputs: str) -> None:
    for output in outputs:
        found = TERMINAL_CODES.findall(output)
        assert not found, f"terminal codes reach the output: {found!r} in {output!r}"


def test_login_account_text_is_inert_in_the_audit_trail(cli):
    failed = cli("login", HOSTILE, "--password-stdin", input="whatever\n")
    assert failed.exit_code == 1
    assert_inert(failed.stdout, failed.stderr)

    human = cli("audit")
    assert human.exit_code == 0
    assert_inert(human.stdout, human.stderr)
    assert "\\x1b]8;;https://evil.example/" in human.stdout  # visibly escaped, not lost
    assert "\\u202e" in human.stdout and "\\x9b" in human.stdout

    as_json = cli("audit", "--json")
    assert_inert(as_json.stdout)
    [row] = [r for r in as_json.json if r["action"] == "login.failed"]
    assert_inert(row["target"])  # the decoded value is safe to print too


def test_login_with_json_output_is_inert(cli):
    failed = cli("login", HOSTILE, "--password-stdin", "--json", input="whatever\n")
    assert failed.exit_code == 1 and failed.json["error"]["code"] == "rejected"
    assert_inert(failed.stdout)


def test_actor_is_inert_in_the_audit_trail(cli):
    assert cli("--actor", HOSTILE, "config", "set", "company-name", "Acme").exit_code == 0
    human = cli("audit")
    assert_inert(human.stdout)
    assert "\\x1b[2J" in human.stdout
    as_json = cli("audit", "--json")
    assert_inert(as_json.stdout, as_json.json[0]["actor"])


def test_stored_audit_text_is_neutralised_and_bounded(cli, home):
    # The store itself holds no terminal codes, so psql, sqlite3 or a log shipper is safe too.
    cli("--actor", HOSTILE * 1000, "login", HOSTILE * 1000, "--password-stdin", input="x\n")
    rt = open_runtime(home)
    try:
        with rt.transaction() as session:
            [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "login.failed"))
            assert_inert(event.actor, event.target)
            assert len(event.actor) <= 200 and len(event.target) <= 300
    finally:
        rt.engine.dispose()


UNKNOWN_OPTION = "--x\x1b]8;;https://evil.example/\x07\x9b\u202e"


def test_error_line_shows_echoed_controls_escaped(cli):
    # Click's usage error echoes the unknown option as typed.
    failed = cli("audit", UNKNOWN_OPTION)
    assert failed.exit_code == 2
    assert_inert(failed.stdout, failed.stderr)
    assert "\\x1b]8;;https://evil.example/\\x07\\x9b\\u202e" in failed.stderr


def test_json_error_escapes_c1_and_bidi_as_u_escapes(cli):
    failed = cli("audit", UNKNOWN_OPTION, "--json")
    assert failed.exit_code == 2
    assert_inert(failed.stdout)
    assert "\\u202e" in failed.stdout
    assert "\u202e" in failed.json["error"]["message"]  # the same text, just escaped


def test_json_keeps_other_non_ascii_readable(cli):
    failed = cli("account", "show", "zoë@exämple.com\u202e", "--json")
    assert failed.exit_code == 3
    assert "zoë@exämple.com" in failed.stdout and "\\u202e" in failed.stdout


def test_not_found_error_is_inert(cli):
    failed = cli("provider", "show", HOSTILE)
    assert failed.exit_code == 3
    assert_inert(failed.stderr)


@pytest.mark.parametrize("field", ["title", "name"])
def test_titles_and_names_refuse_terminal_codes(cli, field):
    if field == "title":
        result = cli("provider", "add", "configio", "smtp", "--title", f"Mail{HOSTILE}")
    else:
        result = cli("account", "add", "bob@example.com", "--name", f"Bob{HOSTILE}",
                     "--password-stdin", input="correct horse\n")
    assert result.exit_code == 2
    assert_inert(result.stdout, result.stderr)


def test_rich_markup_in_titles_and_names_prints_literally(cli):
    assert cli("provider", "add", "configio", "smtp", "--title", MARKUP).exit_code == 0
    assert cli("account", "add", "bob@example.com", "--name", MARKUP,
               "--password-stdin", input="correct horse\n").exit_code == 0
    for args in (["provider", "list"], ["provider", "show", MARKUP], ["account", "list"],
                 ["account", "show", "bob@example.com"]):
        shown = cli(*args)
        assert shown.exit_code == 0, shown.stderr
        assert MARKUP in shown.stdout, (args, shown.stdout)


def test_one_json_document_with_escapes_round_trips(cli):
    cli("--actor", "\u202eadmin\x9b", "config", "set", "company-name", "Acme")
    out = cli("audit", "--json").stdout
    assert out.count("\n") == 1 and json.loads(out)[0]["actor"]


def test_renderer_escapes_exactly_the_unsafe_characters_in_json(capsys):
    from twofa_cli.cli.output import emit

    emit([{"text": "a\x1b\x7f\x85\x9b\u2028\u202e\u2066 é ü 日本 \U0001f600 \udcff"}], as_json=True)
    out = capsys.readouterr().out
    assert_inert(out)
    assert ("a\\u001b\\u007f\\u0085\\u009b\\u2028\\u202e\\u2066 é ü 日本 \U0001f600 \\udcff"
            in out)
    assert json.loads(out)[0]["text"].startswith("a\x1b\x7f\x85\x9b")


def test_renderer_shows_escapes_in_tables_notes_and_plain_text(capsys):
    from twofa_cli.cli.output import emit, note

    emit([{"text": HOSTILE}], as_json=False)
    emit({"text": HOSTILE}, as_json=False)
    emit(f"line one\n{HOSTILE}", as_json=False)
    note(f"Warning: {HOSTILE}")
    captured = capsys.readouterr()
    assert_inert(captured.out, captured.err)
    assert captured.out.count("\\u202e") == 3 and "\\u202e" in captured.err
    assert "line one\n" in captured.out
