"""Login timing: an unknown account against a wrong password (SECURITY.md rule 9).

Fresh `twofa login A --password-stdin` processes, each failing with "wrong email or
password" (exit 1): A is an account that does not exist, or one that does with a
wrong password given. The two kinds run interleaved (their order alternating from
round to round) so that a change in machine load hits both alike. Each account's
password is hashed with argon2-cffi's production parameters.

Target: the median wall time of the unknown-account runs is within 1.05x of the
wrong-password runs' (either way round); medians of CPU time are printed too.
The processes run this checkout's twofa, whatever is installed.

Usage: python benchmarks/login_timing.py [--runs N]
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
TARGET = 1.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30,
                        help="timed runs of each kind (default 30)")
    args = parser.parse_args()

    c.isolate()
    c.header("login timing: unknown account vs wrong password, fresh `twofa login` processes")
    home = c.temp_dir("login-timing")
    try:
        from twofa_cli.runtime import open_runtime
        from twofa_cli.services import accounts

        c.prepare_home(home)
        rt = open_runtime(home, actor="benchmark")
        accounts.add_account(rt, email=KNOWN, password=c.PASSWORD)
        rt.engine.dispose()

        env = c.clean_env(home, pycache=home / "pycache")
        env["PYTHONPATH"] = str(REPO)
        kinds = {"unknown account": UNKNOWN, "wrong password": KNOWN}
        wall: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
        for round_ in range(args.runs + 1):  # round 0 warms the OS cache and the .pyc files
            order = list(kinds) if round_ % 2 else list(reversed(kinds))
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
        for measure, values in (("wall", wall), ("CPU", cpu)):
            unknown, wrong = c.median(values["unknown account"]), c.median(values["wrong password"])
            spread = max(unknown / wrong, wrong / unknown)
            c.summary(f"login unknown account, median {measure} time", c.seconds(unknown),
                      f"{c.seconds(wrong)} (wrong password)", c.ratio(unknown, wrong),
                      f"within {TARGET:.2f}x" if measure == "wall" else "-",
                      spread <= TARGET if measure == "wall" else None)
    finally:
        c.remove(home)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
