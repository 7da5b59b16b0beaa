"""twofa's enrol+verify cycle on PostgreSQL, against the same statements on raw psycopg.

One process, one thread, a schema of its own in the PostgreSQL database given
(dropped afterwards), simulate mode, the send caps raised as in throughput.py. A
cycle is ``services.enrollment.enroll`` then ``services.challenges.verify``, the
code read back untimed. The baseline is benchmarks/throughput.py's hand-written
cycle on an autocommit psycopg connection: the same SQL statements twofa sends
on PostgreSQL (the advisory locks of the sending transaction included) in the
same two transactions, and the same non-SQL work. Both run in alternating blocks
of 50 cycles. The peer of peer.py is left out here: on PostgreSQL both sides would
mostly measure the round trips to the server.

Target: twofa's time per cycle <= 2x the baseline's.

Usage: python benchmarks/postgres.py [--url URL] [--cycles N] [--accounts N]
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import throughput  # noqa: E402

BLOCK = 50
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Qmark:
    """A psycopg connection that takes sqlite3's ``?`` placeholders (throughput.py's SQL)."""

    def __init__(self, connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params=()):
        return self.connection.execute(sql.replace("?", "%s"), params)


def fill_accounts(connection, accounts: int) -> None:
    created = datetime(2025, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO account (email, name, password_hash, is_admin, failed_verifications,"
            " created_at) VALUES (%s, '', %s, false, 0, %s)",
            [(throughput.email_of(i), c.password_hash(), created) for i in range(1, accounts + 1)])
        # Each account has its set of recovery codes, as after its first entry (throughput.py's
        # store does the same): a timed enrolment is not an account's first, which would issue
        # a new set (and the hand-written cycle does not issue them).
        cursor.execute(
            "INSERT INTO recovery_code (account_id, code_hmac, recovery_key, created_at)"
            " SELECT id, lpad(id::text, 54, '0') || lpad(k::text, 10, '0'), 'benchmark-set', %s"
            " FROM account, generate_series(0, 9) AS k", (created,))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the database (default {DEFAULT_URL})")
    parser.add_argument("--cycles", type=int, default=500, help="timed cycles of each (default 500)")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts (default 1000)")
    args = parser.parse_args()

    import psycopg
    from sqlalchemy import create_engine, make_url, text

    c.isolate()
    c.header("postgres: enroll + verify through twofa against raw psycopg, one process")
    schema = f"twofa_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(args.url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{args.url}{'&' if '?' in args.url else '?'}options=-csearch_path%3D{schema}"
    conninfo = make_url(args.url).set(drivername="postgresql").render_as_string(hide_password=False)
    home = c.temp_dir("postgres")
    try:
        c.prepare_home(home, database_url=url, throttle={
            "provider_hourly_cap": 1_000_000, "max_per_destination_per_hour": 100,
            "max_challenges_per_account_per_hour": 1000})
        raw_connection = psycopg.connect(conninfo, autocommit=True, options=f"-c search_path={schema}")
        fill_accounts(raw_connection, args.accounts)
        reader = Qmark(psycopg.connect(conninfo, autocommit=True, options=f"-c search_path={schema}"))
        from twofa_cli.runtime import open_runtime

        rt = open_runtime(home, actor="webapp", database_url=url)
        raw = throughput.RawCycle(home, rt, postgresql=Qmark(raw_connection))
        picks = [k % args.accounts + 1 for k in range(2 * args.cycles + 40)]
        work = [(throughput.email_of(n), f"pg{k:07d}.{n}@example.net") for k, n in enumerate(picks)]
        throughput.twofa_cycles(rt, reader, work[:20])  # warm-up: compiled statements, plans
        throughput.raw_cycles(raw, reader, work[20:40])
        twofa_work, raw_work = work[40:40 + args.cycles], work[40 + args.cycles:]
        twofa = raw_total = 0.0
        for start in range(0, args.cycles, BLOCK):
            twofa += sum(throughput.twofa_cycles(rt, reader, twofa_work[start:start + BLOCK]))
            raw_total += sum(throughput.raw_cycles(raw, reader, raw_work[start:start + BLOCK]))
        rt.engine.dispose()
        raw_connection.close()
        reader.connection.close()
    finally:
        c.remove(home)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    n = args.cycles
    c.summary("postgres enroll+verify cycles", f"{n / twofa:.0f} /s", f"{n / raw_total:.0f} /s raw psycopg",
              c.ratio(twofa, raw_total), "-", None)
    c.summary("postgres twofa/raw time per cycle", f"{twofa / n * 1000:.2f} ms",
              f"{raw_total / n * 1000:.2f} ms raw psycopg", c.ratio(twofa, raw_total), "<= 2.00x",
              twofa <= 2 * raw_total)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
