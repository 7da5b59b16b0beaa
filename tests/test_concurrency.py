"""Several processes on one store at once, on SQLite and PostgreSQL.

Each worker is a separate process (multiprocessing, 'spawn') that opens its own
Runtime, as the shop's web workers would. Workers report what happened; the
assertions run in the test. Nothing is timed: every wait has a generous bound
only so that a hang fails the test instead of blocking the suite.

Passwords are argon2id hashes with minimal cost, imported through the CSV
import: the tests are about the store, and 800 logins at full cost would take
minutes of CPU.
"""

from __future__ import annotations

import csv
import multiprocessing
import re
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import select

from twofa_cli.errors import TwofaError

SPAWN = multiprocessing.get_context("spawn")
BOUND = 300  # seconds any one wait may take before the test fails
PASSWORD = "correct horse battery"
METHOD = "Text message"


# -- running workers ------------------------------------------------------------------


def _run(queue, index, target, args) -> None:
    """Child side: report the target's result or the error it raised, never hang the parent."""
    try:
        queue.put((index, "ok", target(*args)))
    except BaseException as exc:  # report it: an error must reach the assertions
        queue.put((index, "error", f"{type(exc).__name__}: {exc}"))


def run_workers(target, arg_lists: list[tuple]) -> list:
    """Start one process per argument tuple; return their results in order."""
    queue = SPAWN.Queue()
    processes = [
        SPAWN.Process(target=_run, args=(queue, index, target, args))
        for index, args in enumerate(arg_lists)
    ]
    for process in processes:
        process.start()
    reports = [queue.get(timeout=BOUND) for _ in processes]  # before join: a full pipe blocks
    for process in processes:
        process.join(timeout=BOUND)
    crashed = [f"worker {i}: {detail}" for i, status, detail in reports if status == "error"]
    assert not crashed, "\n".join(crashed)
    return [result for _, _, result in sorted(reports, key=lambda report: report[0])]


def _open(home, database_url, now):
    from twofa_cli.runtime import open_runtime

    return open_runtime(home, database_url=database_url, actor="worker", clock=lambda: now)


# -- workers (module level, so 'spawn' children can import them) ----------------------


def _log_in_and_verify(home, database_url, now, email, destination, rounds) -> list[str]:
    from twofa_cli.services import challenges, delivery, login

    rt = _open(home, database_url, now)
    failures = []
    for _ in range(rounds):
        try:
            sent = login.login(rt, email, PASSWORD)
            code = delivery.list_outbox(rt, to=destination, limit=1)[0]["code"]
            verified = challenges.verify(rt, email, code)
            if (sent["status"], verified.status) != ("code_sent", "authenticated"):
                failures.append(f"unexpected {sent['status']} / {verified.status}")
        except Exception as exc:  # "database is locked", serialization failures, …
            failures.append(f"{type(exc).__name__}: {exc}")
    rt.engine.dispose()
    return failures


def _verify_at_once(home, database_url, now, barrier, email, code) -> str:
    from twofa_cli.services import challenges

    rt = _open(home, database_url, now)
    barrier.wait(timeout=BOUND)
    try:
        return challenges.verify(rt, email, code).status
    except TwofaError as exc:
        return type(exc).__name__
    finally:
        rt.engine.dispose()


def _enroll_at_once(home, database_url, now, barrier, email, phone) -> str:
    from twofa_cli.services import enrollment

    rt = _open(home, database_url, now)
    barrier.wait(timeout=BOUND)
    try:
        return enrollment.enroll(rt, email, method=METHOD, phone=phone)["status"]
    except TwofaError as exc:
        return type(exc).__name__
    finally:
        rt.engine.dispose()


def _upgrade_at_once(database_url, barrier) -> tuple:
    from twofa_cli.store import schema
    from twofa_cli.store.engine import make_engine

    engine = make_engine(database_url)
    barrier.wait(timeout=BOUND)
    try:
        return schema.upgrade(engine)
    finally:
        engine.dispose()


# -- setting up a shop ----------------------------------------------------------------


def cheap_password_hash() -> str:
    from twofa_cli.security import hash_password

    # The test-sized cost conftest configures: the import refuses anything weaker.
    return hash_password(PASSWORD)


def import_accounts(rt, tmp_path, emails: list[str]) -> None:
    from twofa_cli.services import accounts

    password_hash = cheap_password_hash()
    csv_file = tmp_path / "accounts.csv"
    with csv_file.open("w", newline="") as handle:
        writer = csv.writer(handle)  # quotes the commas of the hash's parameters
        writer.writerow(["email", "password_hash"])
        writer.writerows([email, password_hash] for email in emails)
    accounts.import_accounts(rt, csv_file)


def enroll(rt, email: str, phone: str) -> None:
    from twofa_cli.services import challenges, delivery, enrollment

    enrollment.enroll(rt, email, method=METHOD, phone=phone)
    challenges.verify(rt, email, delivery.list_outbox(rt, to=phone, limit=1)[0]["code"])


def set_throttle(home, name: str, value: int) -> None:
    config = home / "config.toml"
    text, count = re.subn(rf"(?m)^{name} = .*$", f"{name} = {value}", config.read_text())
    assert count == 1
    config.write_text(text)


def phone(n: int) -> str:
    return f"+1415555{100 + n:04d}"


def count_rows(rt, model, **where) -> int:
    query = select(func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    with rt.transaction() as session:
        return session.exec(query).one()


# -- the tests ------------------------------------------------------------------------


def test_eight_processes_log_in_and_verify_a_hundred_times_each(rt, sms_setup, home,
                                                                 database_url, tmp_path, clock):
    from twofa_cli.store.models import AuditEvent, Challenge

    workers, rounds = 8, 100
    # Each account gets a code a round: raise the hourly cap per destination to its bound.
    set_throttle(home, "max_per_destination_per_hour", rounds)
    set_throttle(home, "max_challenges_per_account_per_hour", rounds)  # and per account
    emails = [f"shopper{i}@example.com" for i in range(workers)]
    import_accounts(rt, tmp_path, emails)
    for i, email in enumerate(emails):
        enroll(rt, email, phone(i))
    # The workers' clock stands two hours after the enrolments, whose sends then
    # fall outside the hourly windows: 100 logins use exactly the raised cap.
    now = clock.now + timedelta(hours=2)

    failures = run_workers(_log_in_and_verify, [
        (home, database_url, now, email, phone(i), rounds) for i, email in enumerate(emails)
    ])

    assert failures == [[] for _ in range(workers)]
    assert count_rows(rt, AuditEvent, action="login.verified") == workers * rounds
    assert count_rows(rt, Challenge, purpose="login", status="used") == workers * rounds
    assert count_rows(rt, Challenge, status="pending") == 0


def test_twenty_processes_verify_one_code_and_exactly_one_wins(rt, sms_setup, home,
                                                               database_url, tmp_path, clock):
    from twofa_cli.services import delivery, login
    from twofa_cli.store.models import Account, AuditEvent, Challenge

    import_accounts(rt, tmp_path, ["bob@example.com"])
    enroll(rt, "bob@example.com", phone(1))
    assert login.login(rt, "bob@example.com", PASSWORD)["status"] == "code_sent"
    code = delivery.list_outbox(rt, to=phone(1), limit=1)[0]["code"]
    barrier = SPAWN.Barrier(20)

    results = run_workers(_verify_at_once, [
        (home, database_url, clock.now, barrier, "bob@example.com", code) for _ in range(20)
    ])

    assert sorted(results) == ["Rejected"] * 19 + ["authenticated"]
    assert count_rows(rt, AuditEvent, action="login.verified") == 1
    assert count_rows(rt, Challenge, purpose="login", status="used") == 1
    with rt.transaction() as session:
        bob = session.exec(select(Account).where(Account.email == "bob@example.com")).one()
    assert bob.failed_verifications == 0  # a right code that lost the race is not a wrong try


def test_twenty_processes_enrolling_one_number_respect_the_hourly_cap(
    rt, sms_setup, home, database_url, tmp_path, clock,
):
    """SMS pumping: 20 accounts enrol one number at once; exactly the cap's worth go out."""
    from twofa_cli.store.models import Challenge, Delivery, OutboxMessage

    cap = rt.settings.throttle.max_per_destination_per_hour
    assert cap == 10
    target = phone(7)
    emails = [f"pump{i}@example.com" for i in range(20)]
    import_accounts(rt, tmp_path, emails)
    barrier = SPAWN.Barrier(20)

    results = run_workers(_enroll_at_once, [
        (home, database_url, clock.now, barrier, email, target) for email in emails
    ])

    assert sorted(results) == ["Throttled"] * (20 - cap) + ["code_sent"] * cap
    # A refused send left nothing behind: exactly ``cap`` messages and challenges.
    assert count_rows(rt, Delivery, destination=target) == cap
    assert count_rows(rt, OutboxMessage, to=target) == cap
    assert count_rows(rt, Challenge, destination=target) == cap


def test_concurrent_upgrades_of_an_empty_database_create_the_schema_once(database_url, tmp_path):
    from twofa_cli.store import schema

    (tmp_path / "home").mkdir()  # where the SQLite file goes
    barrier = SPAWN.Barrier(4)

    results = run_workers(_upgrade_at_once, [(database_url, barrier) for _ in range(4)])

    head = schema.HEAD_REVISION
    assert results.count((None, head)) == 1  # one process created it
    assert results.count((head, head)) == 3  # the others waited and found it done
