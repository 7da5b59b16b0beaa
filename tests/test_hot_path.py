"""The customer flow's hot path: what one enrol+verify cycle asks of the store.

Regression guards with no timing in them (the figures are benchmarks/throughput.py's
and benchmarks/peer.py's): the number of statements a cycle sends, read through the
store's own trace hook, and how its transactions begin.
"""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event

from tests.conftest import last_code
from tests.test_customer_security import ALICE, PHONE, wrong
from twofa_cli.errors import Rejected
from twofa_cli.services import account_state, challenges, login, providers
from twofa_cli.services.enrollment import enroll

METHOD = "Text message"
# Enrol + verify sent 22 statements through the ORM (24 with the two BEGINs).
MAX_STATEMENTS_PER_CYCLE = 14
# A notice: the account's email, company and provider in one read, the outbox, the audit row.
MAX_STATEMENTS_PER_NOTICE = 3
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


@pytest.fixture
def sent_sql(rt) -> list[str]:
    """Every SQL statement the store receives from now on.

    SQLite: sqlite3's trace hook on each new connection, so the statements the
    database itself runs are seen, BEGIN and COMMIT included. PostgreSQL: the
    engine's ``before_cursor_execute`` hook (psycopg begins transactions itself).
    """
    seen: list[str] = []
    engine = rt.engine
    if engine.dialect.name == "sqlite":
        def trace(dbapi_connection, _record):
            dbapi_connection.set_trace_callback(seen.append)

        engine.dispose()  # the pooled connections opened so far have no hook
        event.listen(engine, "connect", trace)
        yield seen
        event.remove(engine, "connect", trace)
    else:
        def record(_conn, _cursor, statement, *_args):
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        yield seen
        event.remove(engine, "before_cursor_execute", record)


def work(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(TRANSACTION_CONTROL)]


def split_notice(statements: list[str]) -> tuple[list[str], list[str]]:
    """The verification's own statements and its notice's, between SAVEPOINT and RELEASE.

    In simulate mode the notice (rule 27) is written inside the verification's
    transaction under a savepoint, so that its failure never undoes the change; it is
    counted apart from the cycle's.
    """
    marks = [i for i, s in enumerate(statements) if "SAVEPOINT" in s.upper()]
    assert len(marks) == 2, statements
    start, end = marks
    assert statements[end].upper().startswith("RELEASE"), statements
    return statements[:start] + statements[end + 1:], statements[start + 1:end]


def test_one_enrol_verify_cycle_sends_at_most_14_statements(rt, sms_setup, sent_sql):
    enroll(rt, ALICE, method=METHOD, phone=PHONE)
    sending = len(work(sent_sql))
    code = last_code(rt)
    sent_sql.clear()
    result = challenges.verify(rt, ALICE, code)
    assert result.status == "verified"
    checking, notice = split_notice(sent_sql)
    cycle = sending + len(work(checking))
    assert cycle <= MAX_STATEMENTS_PER_CYCLE, sent_sql
    assert len(result.recovery_codes) == 10  # the first entry's, in the same cycle
    # The "entry added" notice: its read and its audit row (no SMTP provider: skipped).
    assert len(notice) <= MAX_STATEMENTS_PER_NOTICE, notice
    # Inside the verification's one transaction, after its last statement but the COMMIT.
    assert [s for s in sent_sql if s.upper().startswith("BEGIN")] == (
        ["BEGIN IMMEDIATE"] if rt.engine.dialect.name == "sqlite" else [])
    if rt.engine.dialect.name == "sqlite":
        assert sent_sql[-1] == "COMMIT" and sent_sql[-2].upper().startswith("RELEASE"), sent_sql
    # Nothing to forgive, nothing pending to supersede: no UPDATE that changes nothing.
    assert not [s for s in sent_sql if s.lstrip().upper().startswith("UPDATE ACCOUNT")]


def test_a_simulated_notice_with_a_provider_is_three_statements(rt, sms_setup, sent_sql):
    """With the platform's SMTP provider the notice is its read, the outbox row and the audit row."""
    providers.add_provider(rt, channel="smtp", title="Email")
    enroll(rt, ALICE, method=METHOD, phone=PHONE)
    code = last_code(rt)
    sent_sql.clear()
    challenges.verify(rt, ALICE, code)
    _, notice = split_notice(sent_sql)
    assert len(notice) == MAX_STATEMENTS_PER_NOTICE, notice
    assert [s.split("(")[0].split()[2] for s in notice[1:]] == ["outbox", "audit"], notice


def test_a_success_after_a_wrong_code_still_forgives_the_failure(rt, sms_setup, sent_sql):
    """The account reset is skipped only when there is nothing to reset."""
    enroll(rt, ALICE, method=METHOD, phone=PHONE)
    code = last_code(rt)
    with pytest.raises(Rejected):
        challenges.verify(rt, ALICE, wrong(code))
    sent_sql.clear()
    challenges.verify(rt, ALICE, code)
    assert [s for s in sent_sql if s.lstrip().upper().startswith("UPDATE ACCOUNT")]
    login.login(rt, ALICE, "correct horse")  # a login code: the count starts again at 0
    for _ in range(4):
        with pytest.raises(Rejected, match="wrong code"):
            challenges.verify(rt, ALICE, wrong(last_code(rt)))


@pytest.mark.sqlite_only
def test_sqlite_transactions_begin_immediate_without_an_engine_event(rt, sms_setup, sent_sql):
    """Every execute dispatches events once any engine listener exists: the dialect begins."""
    assert not rt.engine.dispatch.begin
    enroll(rt, ALICE, method=METHOD, phone=PHONE)
    assert [s for s in sent_sql if s.upper().startswith("BEGIN")] == ["BEGIN IMMEDIATE"]
    database = rt.engine.url.database
    with rt.connection() as connection:
        account_state.find_account(connection, ALICE)  # only a read so far, yet the write lock is held
        other = sqlite3.connect(database, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
