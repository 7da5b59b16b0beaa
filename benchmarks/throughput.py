"""Codes sent and verified per second through the library, on a SQLite file.

One process, one thread. A cycle is what the shop's web app does when a
customer enrols a method: ``services.enrollment.enroll`` (a code is "sent":
simulate mode writes it to the outbox), then ``services.challenges.verify``
with that code. The code is read back from the outbox table between the two
calls, untimed (in production it travels by email or SMS).

The store holds 1,000 and then 1,000,000 accounts, pre-filled with raw sqlite3
``executemany`` (one argon2id hash reused), each with a history like the
one a cycle leaves behind: an entry, a used challenge, a delivery (older than
an hour, so the send caps do not count it), an outbox message and an audit
row. Every cycle enrols a destination the account does not have yet.

The baseline is the same cycle hand-written on the ``sqlite3`` module: the
same transactions (BEGIN IMMEDIATE ... COMMIT), the same SQL statements as
twofa sends them, the same non-SQL work (email validation, code generation,
HMAC, masking), no SQLAlchemy. Both stores are built first; then twofa and
baseline, on both stores, run in alternating blocks of 50 cycles so that
machine load hits every figure alike.

Targets: >= 1,000 cycles a second; twofa's time per cycle <= 2x the baseline's;
time per cycle with 1,000,000 accounts <= 1.2x the time with 1,000.

Usage: python benchmarks/throughput.py [--cycles N] [--large N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

METHOD = "Email code"
BLOCK = 50  # cycles per alternating block


# -- the store -----------------------------------------------------------------------


def _ts(moment: datetime) -> str:
    """How SQLAlchemy stores a naive-UTC DateTime on SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def email_of(i: int) -> str:
    return f"user{i:07d}@example.com"


def build_store(home: Path, accounts: int) -> None:
    """A simulate-mode home with ``accounts`` accounts, each with one past enrolment."""
    c.prepare_home(home, throttle={"provider_hourly_cap": 1_000_000,
                                   "max_per_destination_per_hour": 100,
                                   "max_challenges_per_account_per_hour": 1000})
    db = home / "twofa.db"
    c.fill_accounts(db, range(1, accounts + 1), email_of=email_of)
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA synchronous=OFF")
    (method_id, provider_id), = connection.execute(
        "SELECT id, provider_id FROM secondary_auth WHERE title = ?", (METHOD,))
    (first,), = connection.execute("SELECT min(id) FROM account WHERE email LIKE 'user%'")
    old = datetime.now(UTC) - timedelta(days=2)
    at, expires = _ts(old), _ts(old + timedelta(minutes=10))
    ids = range(first, first + accounts)
    hmac_hex = "0" * 64
    body = "Your verification code is 123456. It expires in 10 minutes."
    tables = {
        "entry": ("INSERT INTO entry (account_id, secondary_auth_id, destination, created_at)"
                  " VALUES (?, ?, ?, ?)",
                  lambda i, n: (i, method_id, email_of(n), at)),
        "challenge": ("INSERT INTO challenge (account_id, purpose, secondary_auth_id, destination,"
                      " entry_id, code_hmac, status, attempts, sends, last_sent_at, expires_at,"
                      " created_at) VALUES (?, 'enroll', ?, ?, ?, ?, 'used', 0, 1, ?, ?, ?)",
                      lambda i, n: (i, method_id, email_of(n), n, hmac_hex, at, expires, at)),
        "delivery": ("INSERT INTO delivery (provider_id, destination, budget, provider_message_id,"
                     " sent_at) VALUES (?, ?, ?, ?, ?)",
                     lambda i, n: (provider_id, email_of(n), email_of(n), f"outbox-{n}", at)),
        "outbox": ('INSERT INTO outbox ("to", channel, subject, body, code, created_at)'
                   " VALUES (?, 'email', 'Verification code', ?, '123456', ?)",
                   lambda i, n: (email_of(n), body, at)),
        "audit": ("INSERT INTO audit (at, actor, action, account_id, target, outcome, detail)"
                  " VALUES (?, 'webapp', 'entry.verified', ?, ?, 'ok', '')",
                  lambda i, n: (at, i, str(n))),
    }
    # An account with a verified entry has its set of recovery codes (issued with that first
    # entry): without them every timed enrolment would be a first one and issue a new set.
    # The set's key is never decrypted in a cycle, so a placeholder token stands in for it.
    for k in range(10):
        tables[f"recovery_code{k}"] = (
            "INSERT INTO recovery_code (account_id, code_hmac, recovery_key, created_at)"
            " VALUES (?, ?, 'benchmark-set', ?)",
            lambda i, n, k=k: (i, f"{n:054d}{k:010d}", at))
    for sql, row in tables.values():
        for start in range(0, accounts, 100_000):
            chunk = ids[start:start + 100_000]
            connection.executemany(sql, (row(i, n) for n, i in enumerate(chunk, start + 1)))
        connection.commit()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    # Written with synchronous=OFF, the store is still up to 1 GB of dirty pages in the OS
    # cache: the first checkpoint of the timed part would fsync all of it (0.3 s or more,
    # in one cycle of whichever side crosses the WAL threshold first). A production store
    # was written long before its busy hour; so is this one once flushed here.
    _fsync(db)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- the cycle through the library ---------------------------------------------------


def read_code(reader: sqlite3.Connection, destination: str) -> str:
    (code,), = reader.execute('SELECT code FROM outbox WHERE "to" = ? ORDER BY id DESC LIMIT 1',
                              (destination,))
    return code


def twofa_cycles(rt, reader, work: list[tuple[str, str]]) -> tuple[float, float]:
    from twofa_cli.services.challenges import verify
    from twofa_cli.services.enrollment import enroll

    sending = checking = 0.0
    clock = time.perf_counter
    for account, destination in work:
        start = clock()
        enroll(rt, account, method=METHOD, email=destination)
        sending += clock() - start
        code = read_code(reader, destination)
        start = clock()
        result = verify(rt, account, code)
        checking += clock() - start
        assert result.status == "verified"
    return sending, checking


# -- the same cycle, hand-written on sqlite3 -----------------------------------------


_ACCOUNT = (
    "SELECT account.id, account.is_admin, account.locked_until, account.failed_verifications,"
    " account.lockouts,"
    " (SELECT value FROM setting WHERE \"key\" = CASE WHEN account.is_admin THEN 'allowed.admin'"
    " ELSE 'allowed.customer' END),"
    " (SELECT value FROM setting WHERE \"key\" = 'company_name'),"
    " challenge.id, challenge.purpose, challenge.secondary_auth_id, challenge.destination,"
    " challenge.entry_id, challenge.code_hmac, challenge.attempts, challenge.sends,"
    " challenge.last_sent_at, challenge.expires_at, challenge.secret,"
    " (SELECT recovery_key FROM recovery_code WHERE account_id = account.id LIMIT 1),"
    " secondary_auth.kind, entry.secret"
    " FROM account LEFT OUTER JOIN challenge ON challenge.id = (SELECT p.id FROM challenge AS p"
    " WHERE p.account_id = account.id AND p.status = 'pending' ORDER BY p.id DESC LIMIT 1)"
    " LEFT OUTER JOIN secondary_auth ON secondary_auth.id = challenge.secondary_auth_id"
    " LEFT OUTER JOIN entry ON entry.id = challenge.entry_id"
    " WHERE account.email = ?")
# The notice's recipient: the account's email, the company and the oldest SMTP provider.
_RECIPIENT = (
    "SELECT account.email, (SELECT value FROM setting WHERE \"key\" = 'company_name'),"
    " provider.id, provider.channel, provider.title, provider.options, provider.secrets"
    " FROM account LEFT OUTER JOIN provider ON provider.id = (SELECT id FROM provider"
    " WHERE channel = 'smtp' ORDER BY id LIMIT 1) WHERE account.id = ?")
_METHOD = ("SELECT provider.id, provider.channel, provider.title, provider.options, provider.secrets,"
           " secondary_auth.id, secondary_auth.title FROM secondary_auth"
           " JOIN provider ON provider.id = secondary_auth.provider_id WHERE secondary_auth.title = ?")
_CHECKS = (
    "SELECT r.recent, r.oldest, r.newest_open,"
    " (SELECT id FROM entry WHERE account_id = ? AND secondary_auth_id = ? AND destination = ?),"
    " EXISTS (SELECT * FROM challenge WHERE account_id = ? AND status = 'pending'),"
    " d.sent, d.oldest, p.sent, p.oldest"
    " FROM (SELECT count(*) AS recent, min(created_at) AS oldest,"
    " max(CASE WHEN status != 'used' THEN created_at END) AS newest_open"
    " FROM challenge WHERE account_id = ? AND created_at > ?) AS r"
    " JOIN (SELECT count(*) AS sent, min(sent_at) AS oldest FROM delivery"
    " WHERE budget = ? AND sent_at > ?) AS d ON true"
    " JOIN (SELECT count(*) AS sent, min(sent_at) AS oldest FROM delivery"
    " WHERE provider_id = ? AND sent_at > ?) AS p ON true")


def _naive(moment: datetime) -> datetime:
    """How a timestamp goes to PostgreSQL's ``timestamp without time zone``: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


class RawCycle:
    """enroll + verify as plain SQL: the statements twofa sends, hand-written.

    On sqlite3 by default; with ``postgresql``, ``db`` is an autocommit psycopg
    connection that takes ``?`` placeholders (benchmarks/postgres.py), and the sending
    transaction takes the advisory locks twofa takes there.
    """

    def __init__(self, db: Path, rt, *, postgresql=None) -> None:
        if postgresql is None:
            self.db = sqlite3.connect(db, isolation_level=None, timeout=30)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000",
                           "foreign_keys=ON"):
                self.db.execute(f"PRAGMA {pragma}")
        else:
            self.db = postgresql
        self.postgresql = postgresql is not None
        self.begin = "BEGIN" if self.postgresql else "BEGIN IMMEDIATE"
        self.ts = _naive if self.postgresql else _ts
        self.rt = rt
        self.statements = 0

    def _q(self, sql: str, params=()):
        self.statements += 1
        return self.db.execute(sql, params)

    def enroll(self, account: str, destination: str) -> int:
        from twofa_cli import validate
        from twofa_cli.errors import Conflict, NotFound, Rejected, Throttled
        from twofa_cli.security import generate_code, mask_destination
        from twofa_cli.services.challenges import code_message
        from twofa_cli.services.delivery import budget_key

        rt, settings = self.rt, self.rt.settings
        q = self._q
        self.db.execute(self.begin)
        try:
            row = q(_ACCOUNT, (account.strip().lower(),)).fetchone()
            if row is None:
                raise NotFound(account)
            account_id, _is_admin, locked_until, _failures, _lockouts, allowed, company = row[:7]
            if allowed != "active":
                raise Rejected("inactive")
            provider_id, _channel, _title, _options, _secrets, method_id, _method = q(
                _METHOD, (METHOD,)).fetchone()
            destination = validate.email_address(destination).lower()
            budget = budget_key(destination)
            if self.postgresql:
                q("SELECT pg_advisory_xact_lock(hashtext(?)), pg_advisory_xact_lock(hashtext(?)),"
                  " pg_advisory_xact_lock(hashtext(?))",
                  (f"twofa-account:{account_id}", f"twofa-send:{budget}",
                   f"twofa-provider:{provider_id}")).fetchall()
            now = rt.now()
            since = self.ts(now - timedelta(hours=1))
            (recent, _oldest, _open, enrolled, pending, to_destination, _d, by_provider, _p) = q(
                _CHECKS, (account_id, method_id, destination, account_id, account_id, since,
                          budget, since, provider_id, since)).fetchone()
            if enrolled is not None:
                raise Conflict("already enrolled")
            if locked_until is not None and locked_until > self.ts(now):
                raise Throttled("locked")
            if recent >= settings.throttle.max_challenges_per_account_per_hour:
                raise Throttled("account cap")
            if to_destination >= settings.throttle.max_per_destination_per_hour:
                raise Throttled("destination cap")
            if by_provider >= settings.throttle.provider_hourly_cap:
                raise Throttled("provider cap")
            if pending:
                q("UPDATE challenge SET status = 'superseded' WHERE account_id = ?"
                  " AND status = 'pending'", (account_id,))
            (challenge_id,), = q(
                "INSERT INTO challenge (account_id, purpose, secondary_auth_id, destination, entry_id,"
                " code_hmac, status, attempts, sends, last_sent_at, expires_at, created_at)"
                " VALUES (?, 'enroll', ?, ?, NULL, '', 'pending', 0, 0, NULL, ?, ?) RETURNING id",
                (account_id, method_id, destination, self.ts(now), self.ts(now))).fetchall()
            ttl = settings.codes.ttl_seconds
            code = generate_code(settings.codes.length)
            q("UPDATE challenge SET code_hmac = ?, status = 'pending', attempts = 0,"
              " sends = (challenge.sends + 1), last_sent_at = ?, expires_at = ? WHERE id = ?",
              (rt.key.code_hmac(challenge_id, code), self.ts(now),
               self.ts(now + timedelta(seconds=ttl)), challenge_id))
            message = code_message(company or "", code, ttl, destination)
            (outbox_id,), = q('INSERT INTO outbox ("to", channel, subject, body, code, created_at)'
                              " VALUES (?, 'email', ?, ?, ?, ?) RETURNING id",
                              (destination, message.subject, message.text, code, self.ts(now))).fetchall()
            q("INSERT INTO delivery (provider_id, destination, budget, provider_message_id, sent_at)"
              " VALUES (?, ?, ?, ?, ?)",
              (provider_id, destination, budget, f"outbox-{outbox_id}", self.ts(now)))
            q("INSERT INTO audit (at, actor, action, account_id, target, outcome, detail)"
              " VALUES (?, ?, 'code.sent', ?, ?, 'ok', 'enroll')",
              (self.ts(now), rt.actor, account_id, mask_destination(destination)))
            self.db.execute("COMMIT")
            return challenge_id
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def verify(self, account: str, code: str) -> int:
        from twofa_cli.errors import NotFound, Rejected, Throttled
        from twofa_cli.security import codes_match

        rt, settings = self.rt, self.rt.settings
        q = self._q
        self.db.execute(self.begin)
        try:
            row = q(_ACCOUNT, (account.strip().lower(),)).fetchone()
            if row is None:
                raise NotFound(account)
            (account_id, _is_admin, locked_until, failures, lockouts, _allowed, _company,
             challenge_id, _purpose, method_id, destination, _entry, code_hmac, attempts,
             _sends, _last, expires, challenge_secret, recovery_key, _kind, _entry_secret) = row
            now = self.ts(rt.now())
            if locked_until is not None and locked_until > now:
                raise Throttled("locked")
            if challenge_id is None:
                raise Rejected("no code is pending")
            if attempts >= settings.codes.max_attempts or expires <= now:
                raise Rejected("expired")
            given = rt.key.code_hmac(challenge_id, code)
            if not codes_match(code_hmac, given):
                raise Rejected("wrong code")
            claimed = q("UPDATE challenge SET status = 'used', secret = '' WHERE id = ?"
                        " AND status = 'pending'"
                        " AND code_hmac = ? AND attempts < ? AND expires_at > ?",
                        (challenge_id, given, settings.codes.max_attempts, now)).rowcount
            if claimed != 1:
                raise Rejected("already used")
            if failures or locked_until is not None or lockouts:
                q("UPDATE account SET failed_verifications = 0, locked_until = NULL, lockouts = 0"
                  " WHERE id = ?", (account_id,))
            (entry_id,), = q(
                "INSERT INTO entry (account_id, secondary_auth_id, destination, created_at, secret,"
                " last_step, preferred) VALUES (?, ?, ?, ?, ?, NULL, ?)"
                " ON CONFLICT (account_id, secondary_auth_id, destination)"
                " DO UPDATE SET destination = excluded.destination RETURNING id",
                (account_id, method_id, destination, now, challenge_secret, False)).fetchall()
            if not recovery_key:  # every account of the built store has its set already
                raise AssertionError("a first entry: the raw cycle does not issue recovery codes")
            q("INSERT INTO audit (at, actor, action, account_id, target, outcome, detail)"
              " VALUES (?, ?, 'entry.verified', ?, ?, 'ok', '')", (now, rt.actor, account_id, str(entry_id)))
            self._notice(account_id, destination, now)
            self.db.execute("COMMIT")
            return entry_id
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _notice(self, account_id: int, destination: str, now) -> None:
        """The "method added" notice (rule 27), as twofa writes it in simulate mode: inside
        the verification's transaction, under a savepoint."""
        from twofa_cli.security import mask_destination
        from twofa_cli.services.notifications import notice

        q = self._q
        q("SAVEPOINT twofa_part")
        email, company, *_provider = q(_RECIPIENT, (account_id,)).fetchone()
        message = notice(self.rt, "entry_added", to=email, company=company or "",
                         destination=destination)
        q('INSERT INTO outbox ("to", channel, subject, body, code, created_at)'
          " VALUES (?, 'email', ?, ?, NULL, ?) RETURNING id",
          (email, message.subject, message.text, now)).fetchall()
        q("INSERT INTO audit (at, actor, action, account_id, target, outcome, detail)"
          " VALUES (?, ?, 'notification.sent', ?, ?, 'simulated', 'entry_added')",
          (now, self.rt.actor, account_id, mask_destination(email)))
        q("RELEASE SAVEPOINT twofa_part")


def raw_cycles(raw: RawCycle, reader, work: list[tuple[str, str]]) -> tuple[float, float]:
    sending = checking = 0.0
    clock = time.perf_counter
    for account, destination in work:
        start = clock()
        raw.enroll(account, destination)
        sending += clock() - start
        code = read_code(reader, destination)
        start = clock()
        raw.verify(account, code)
        checking += clock() - start
    return sending, checking


# -- one store size ------------------------------------------------------------------


def count_twofa_statements(home: Path, account: str, destination: str, reader) -> tuple[int, int]:
    """Statements and transactions of one twofa cycle (an untimed extra cycle), read through
    sqlite3's trace hook on a Runtime of their own: a listener on the timed Runtime's engine
    would slow every statement it runs after."""
    from sqlalchemy import event

    from twofa_cli.runtime import open_runtime
    from twofa_cli.services.challenges import verify
    from twofa_cli.services.enrollment import enroll

    seen: list[str] = []
    rt = open_runtime(home, actor="webapp")
    rt.engine.dispose()
    event.listen(rt.engine, "connect",
                 lambda dbapi_connection, _record: dbapi_connection.set_trace_callback(seen.append))
    try:
        enroll(rt, account, method=METHOD, email=destination)
        verify(rt, account, read_code(reader, destination))
    finally:
        rt.engine.dispose()
    begins = sum(1 for sql in seen if sql.startswith("BEGIN"))
    return sum(1 for sql in seen if not sql.startswith(("BEGIN", "COMMIT"))), begins


class Store:
    """One benchmark home: its store, a Runtime on it, the hand-written cycle, the cycles to run."""

    def __init__(self, size: int, cycles: int, label: str, keep: Path | None) -> None:
        from twofa_cli.runtime import open_runtime

        self.size, self.cycles, self.label, self.keep = size, cycles, label, keep
        self.home = (keep / f"home-{size}") if keep else c.temp_dir(f"throughput-{size}")
        if keep:
            c.remove(self.home)
            self.home.mkdir(parents=True)
        started = time.perf_counter()
        build_store(self.home, size)
        c.note(f"{label}: store of {size:,} accounts (+ history) built in "
               f"{time.perf_counter() - started:.1f} s, "
               f"{(self.home / 'twofa.db').stat().st_size / 1e6:.0f} MB")
        self.rt = open_runtime(self.home, actor="webapp")
        self.raw = RawCycle(self.home / "twofa.db", self.rt)
        self.reader = sqlite3.connect(self.home / "twofa.db", isolation_level=None)
        rng = random.Random(size)
        picks = [rng.randrange(1, size + 1) for _ in range(2 * cycles + 22)]
        work = [(email_of(n), f"new{k:07d}.{n}@example.net") for k, n in enumerate(picks)]
        warm_twofa, warm_raw, work = work[:10], work[10:20], work[20:]
        twofa_cycles(self.rt, self.reader, warm_twofa)  # caches, statement compilation, page cache
        raw_cycles(self.raw, self.reader, warm_raw)
        statements, transactions = count_twofa_statements(self.home, *work.pop(), self.reader)
        self.raw.statements = 0
        raw_cycles(self.raw, self.reader, [work.pop()])
        c.note(f"{label}: one cycle issues {statements} SQL statements in {transactions} "
               f"transactions through twofa (BEGIN and COMMIT not counted), "
               f"{self.raw.statements} hand-written (2 transactions)")
        self.twofa_work, self.raw_work = work[:cycles], work[cycles:2 * cycles]
        self.twofa = [0.0, 0.0]
        self.base = [0.0, 0.0]
        self.cpu_twofa = self.cpu_raw = 0.0

    def block(self, start: int) -> None:
        """BLOCK cycles through the library, then BLOCK hand-written ones."""
        t = time.process_time()
        s, v = twofa_cycles(self.rt, self.reader, self.twofa_work[start:start + BLOCK])
        self.cpu_twofa += time.process_time() - t
        self.twofa[0] += s
        self.twofa[1] += v
        t = time.process_time()
        s, v = raw_cycles(self.raw, self.reader, self.raw_work[start:start + BLOCK])
        self.cpu_raw += time.process_time() - t
        self.base[0] += s
        self.base[1] += v

    def close(self) -> dict:
        self.rt.engine.dispose()
        self.raw.db.close()
        self.reader.close()
        if not self.keep:
            c.remove(self.home)
        return {"twofa": self.twofa, "raw": self.base, "cycles": self.cycles,
                "cpu_twofa": self.cpu_twofa, "cpu_raw": self.cpu_raw}


def report(label: str, r: dict) -> float:
    n = r["cycles"]
    (twofa_send, twofa_verify), (raw_send, raw_verify) = r["twofa"], r["raw"]
    twofa_cycle, raw_cycle = twofa_send + twofa_verify, raw_send + raw_verify
    c.summary(f"throughput codes sent (enroll) {label}", f"{n / twofa_send:.0f} /s",
              f"{n / raw_send:.0f} /s raw sqlite3", c.ratio(twofa_send, raw_send), "-", None)
    c.summary(f"throughput codes verified {label}", f"{n / twofa_verify:.0f} /s",
              f"{n / raw_verify:.0f} /s raw sqlite3", c.ratio(twofa_verify, raw_verify), "-", None)
    c.summary(f"throughput enroll+verify cycles {label}", f"{n / twofa_cycle:.0f} /s",
              f"{n / raw_cycle:.0f} /s raw sqlite3", c.ratio(twofa_cycle, raw_cycle), ">= 1000 /s",
              n / twofa_cycle >= 1000)
    c.summary(f"throughput twofa/raw time per cycle {label}", f"{twofa_cycle / n * 1000:.2f} ms",
              f"{raw_cycle / n * 1000:.2f} ms raw sqlite3", c.ratio(twofa_cycle, raw_cycle),
              "<= 2.00x", twofa_cycle <= 2 * raw_cycle)
    c.note(f"{label}: {n} cycles; process CPU time per cycle: twofa {r['cpu_twofa'] / n * 1000:.2f} ms, "
           f"raw {r['cpu_raw'] / n * 1000:.2f} ms (reading codes back included)")
    return twofa_cycle / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000, help="timed cycles per store (default 1000)")
    parser.add_argument("--small", type=int, default=1000, help="accounts of the small store")
    parser.add_argument("--large", type=int, default=1_000_000, help="accounts of the large store")
    parser.add_argument("--keep", type=Path, help="build the stores in DIR and keep them")
    args = parser.parse_args()

    c.isolate()
    c.header("throughput: enroll + verify through the library on a SQLite file, one process")
    small_label, large_label = f"{args.small:,} accounts", f"{args.large:,} accounts"
    stores = []
    try:
        stores.append(Store(args.small, args.cycles, small_label, args.keep))
        stores.append(Store(args.large, args.cycles, large_label, args.keep))
        # Both stores and both implementations in alternating blocks: a change in machine
        # load during the run hits every figure alike.
        for start in range(0, args.cycles, BLOCK):
            for store in stores:
                store.block(start)
    finally:
        results = [store.close() for store in stores]
    small, large = results
    per_small = report(small_label, small)
    per_large = report(large_label, large)
    raw_small = sum(small["raw"]) / small["cycles"]
    raw_large = sum(large["raw"]) / large["cycles"]
    c.note(f"raw sqlite3 time per cycle, {large_label} vs {small_label}: {raw_large / raw_small:.2f}x")
    c.summary(f"throughput time per cycle {large_label} vs {small_label}", f"{per_large * 1000:.2f} ms",
              f"{per_small * 1000:.2f} ms with {small_label}", c.ratio(per_large, per_small),
              "<= 1.20x", per_large <= 1.2 * per_small)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
