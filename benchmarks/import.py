"""`twofa account import` of a generated CSV: time, and memory that stays flat.

The CSV has ``email,name,password_hash`` with one precomputed argon2id hash
reused on every row (hashing 100,000 passwords would time argon2, not twofa).
Each import runs as a fresh ``twofa account import FILE --json`` process (the
console script's entry point, run by a wrapper that reports the process's peak
RSS as it exits) into a fresh SQLite home; its wall time and peak RSS are measured.

Peak RSS is the kernel's VmHWM of the child. Not ``getrusage``: on Linux a
child's ru_maxrss starts from its parent's RSS at fork (kept across exec), and
this parent holds an argon2 hash's 64 MiB, which would hide the import's own peak.

Targets: 100,000 rows in under 15 s; peak RSS of the 100,000-row import
<= 1.25x that of a 10,000-row import (the file is streamed, never loaded whole).

Usage: python benchmarks/import.py [--rows N] [--small N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402


def write_csv(path: Path, rows: int) -> None:
    quoted = '"' + c.password_hash() + '"'  # argon2 hashes hold commas: m=65536,t=3,p=4
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("email,name,password_hash\n")
        for i in range(1, rows + 1):
            handle.write(f"user{i:07d}@example.com,Customer {i},{quoted}\n")


# `twofa` itself (the console script's entry point), reporting its peak RSS on the way out.
WRAPPER = r"""
import resource, sys


def peak_rss() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024


from twofa_cli.cli.main import main

sys.argv = ["twofa", *sys.argv[1:]]
try:
    main()
finally:
    sys.stderr.write(f"\npeak-rss-bytes {peak_rss()}\n")
"""


def run_import(rows: int, work: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `twofa account import` of ``rows`` rows."""
    home = work / f"home-{rows}"
    csv_file = work / f"accounts-{rows}.csv"
    write_csv(csv_file, rows)
    c.prepare_home(home)
    env = c.clean_env(home, pycache=work / "pycache")
    out_file, err_file = work / "stdout", work / "stderr"
    with out_file.open("wb") as out, err_file.open("wb") as err:
        start = time.perf_counter()
        # cwd: `python -c` puts the working directory first on sys.path; import the installed twofa.
        code = subprocess.call([c.PYTHON, "-c", WRAPPER, "account", "import", str(csv_file), "--json"],
                               env=env, stdout=out, stderr=err, cwd=work)
        elapsed = time.perf_counter() - start
    errors = err_file.read_text(errors="replace")
    if code != 0:
        raise SystemExit(f"import of {rows} rows exited {code}: {errors[-2000:]}")
    result = json.loads(out_file.read_text())
    assert result["imported"] == rows, result
    peak = [line.split()[1] for line in errors.splitlines() if line.startswith("peak-rss-bytes ")]
    return elapsed, int(peak[-1]) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the big import")
    parser.add_argument("--small", type=int, default=10_000, help="rows of the comparison import")
    args = parser.parse_args()

    c.isolate()
    c.header("import: `twofa account import` of a generated CSV (argon2id hashes given)")
    work = c.temp_dir("import")
    try:
        run_import(100, work)  # warm-up: bytecode cache, OS cache
        small_time, small_rss = run_import(args.small, work)
        big_time, big_rss = run_import(args.rows, work)
        c.note(f"{args.small:,} rows: {c.seconds(small_time)}, peak RSS {small_rss:.1f} MB; "
               f"{args.rows:,} rows: {c.seconds(big_time)}, peak RSS {big_rss:.1f} MB "
               f"({args.rows / big_time:,.0f} rows/s)")
        c.summary(f"import {args.rows:,} rows", c.seconds(big_time),
                  f"{c.seconds(small_time)} for {args.small:,} rows", c.ratio(big_time, small_time),
                  "< 15 s", big_time < 15)
        c.summary(f"import peak RSS {args.rows:,} rows", f"{big_rss:.1f} MB",
                  f"{small_rss:.1f} MB for {args.small:,} rows", c.ratio(big_rss, small_rss),
                  "<= 1.25x", big_rss <= 1.25 * small_rss)
    finally:
        c.remove(work)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
