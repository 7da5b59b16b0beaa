"""Login timing: an unknown account, a wrong password and an imported account (rules 9, 32).

Fresh `twofa login A --password-stdin` processes, each failing with "wrong email or
password" (exit 1): A is an account that does not exist, one that does with a wrong
password given, or one imported with a hash made elsewhere with other (allowed)
argon2 parameters: 5 passes instead of 3, within import's bound of twice the configured
work. The kinds run interleaved (their order rotating from round to round) so that a
change in machine load hits them alike. The imported account is timed before its first
right password and after it (which rehashes it with the configured parameters); both
hashes' parameters are printed. The home's [login] budgets are raised so that the runs
are never throttled (a throttled login would cost no hash at all).

Target: after the rehash, the median wall times of the unknown-account runs and of the
imported-account runs are each within 1.10x of the wrong-password runs' (either way
round); medians of CPU time are printed too, and the imported account before its rehash
as a figure without a target. The processes run this checkout's twofa, whatever is
installed.

Usage: python benchmarks/login_timing.py [--runs N]   (N at most 70)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))  # this checkout's twofa_cli, here and in the children

import _common as c  # noqa: E402

KNOWN = "alice@example.com"
UNKNOWN = "nobody@example.com"
IMPORTED = "imported@example.com"
TARGET = 1.10
MAX_RUNS = 70  # [login] free_failures is at most 100: both phases' wrong passwords must fit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30,
                        help=f"timed runs of each kind after the rehash (default 30, at most {MAX_RUNS})")
    args = parser.parse_args()
    runs = max(1, min(args.runs, MAX_RUNS))

    c.isolate()
    c.header("login timing: unknown account, wrong password, imported account; "
             "fresh `twofa login` processes")
    home = c.temp_dir("login-timing")
    try:
        from argon2 import PasswordHasher, extract_parameters

        from twofa_cli.runtime import open_runtime
        from twofa_cli.services import accounts

        c.prepare_home(home)
        c.set_config(home, "login", {"free_failures": 100, "account_free_failures": 1000})
        rt = open_runtime(home, actor="benchmark")
        accounts.add_account(rt, email=KNOWN, password=c.PASSWORD)
        configured = PasswordHasher()
        elsewhere = PasswordHasher(time_cost=configured.time_cost + 2,
                                   memory_cost=configured.memory_cost,
                                   parallelism=configured.parallelism)
        csv_file = home / "imported.csv"
        csv_file.write_text(f'email,password_hash\n{IMPORTED},"{elsewhere.hash(c.PASSWORD)}"\n')
        accounts.import_accounts(rt, csv_file)

        env = c.clean_env(home, pycache=home / "pycache")
        env["PYTHONPATH"] = str(REPO)

        def stored_parameters() -> str:
            with rt.connection() as connection:
                from sqlalchemy import text

                value = connection.execute(text("SELECT password_hash FROM account WHERE email = :e"),
                                           {"e": IMPORTED}).scalar_one()
            p = extract_parameters(value)
            return f"m={p.memory_cost} t={p.time_cost} p={p.parallelism}"  # no commas: a CSV line

        def measure(kinds: dict[str, str], rounds: int) -> tuple[dict, dict]:
            wall: dict[str, list[float]] = {kind: [] for kind in kinds}
            cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
            names = list(kinds)
            for round_ in range(rounds + 1):  # round 0 warms the OS cache and the .pyc files
                order = names[round_ % len(names):] + names[:round_ % len(names)]
                for kind in order:
                    elapsed, used = c.run_process(
                        [c.TWOFA, "login", kinds[kind], "--password-stdin", "--json"],
                        env=env, expect=1, stdin=b"not the password\n")
                    if round_:
                        wall[kind].append(elapsed)
                        cpu[kind].append(used)
            for kind in kinds:
                c.note(f"{kind}: median {c.seconds(c.median(wall[kind]))}, min "
                       f"{c.seconds(min(wall[kind]))}, max {c.seconds(max(wall[kind]))} over "
                       f"{len(wall[kind])} runs; median CPU time {c.seconds(c.median(cpu[kind]))}")
            return wall, cpu

        before = stored_parameters()
        c.note(f"configured: m={configured.memory_cost} t={configured.time_cost} "
               f"p={configured.parallelism}; imported hash before its first login: {before}")
        wall, _ = measure({"wrong password": KNOWN, "imported, before rehash": IMPORTED},
                          max(3, runs // 3))
        imported, wrong = c.median(wall["imported, before rehash"]), c.median(wall["wrong password"])
        c.summary(f"login imported account ({before}), before rehash, median wall time",
                  c.seconds(imported), f"{c.seconds(wrong)} (wrong password)",
                  c.ratio(imported, wrong), "-", None)

        c.run_process([c.TWOFA, "login", IMPORTED, "--password-stdin", "--json"],
                      env=env, expect=0, stdin=f"{c.PASSWORD}\n".encode())
        after = stored_parameters()
        c.note(f"imported hash after its first right password: {after}")

        wall, cpu = measure({"unknown account": UNKNOWN, "wrong password": KNOWN,
                             "imported account": IMPORTED}, runs)
        for measure_name, values in (("wall", wall), ("CPU", cpu)):
            wrong = c.median(values["wrong password"])
            for kind in ("unknown account", "imported account"):
                value = c.median(values[kind])
                spread = max(value / wrong, wrong / value)
                label = kind if kind == "unknown account" else f"imported account ({after}, rehashed)"
                c.summary(f"login {label}, median {measure_name} time", c.seconds(value),
                          f"{c.seconds(wrong)} (wrong password)", c.ratio(value, wrong),
                          f"within {TARGET:.2f}x" if measure_name == "wall" else "-",
                          spread <= TARGET if measure_name == "wall" else None)
        rt.engine.dispose()
    finally:
        c.remove(home)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
