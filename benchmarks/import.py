"""`twofa account import` of a generated CSV: time, and memory that stays flat.

The CSV has ``email,name,password_hash`` with one precomputed argon2id hash
reused on every row (hashing 100,000 passwords would time argon2, not twofa).
Each import runs as a fresh ``twofa account import FILE --json`` process into a
fresh SQLite home; its wall time and peak RSS (``os.wait4``) are measured.

Targets: 100,000 rows in under 15 s; peak RSS of the 100,000-row import
<= 1.25x that of a 10,000-row import (the file is streamed, never loaded whole).

Usage: python benchmarks/import.py [--rows N] [--small N]
"""

from __future__ import annotations

import argparse
import json
import os
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
        child = subprocess.Popen([c.TWOFA, "account", "import", str(csv_file), "--json"], env=env,
                                 stdout=out, stderr=err)
        _pid, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, peak RSS included
        elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"import of {rows} rows exited {child.returncode}: "
                         f"{err_file.read_text(errors='replace')[-2000:]}")
    result = json.loads(out_file.read_text())
    assert result["imported"] == rows, result
    return elapsed, _peak_rss_mb(usage)


def _peak_rss_mb(usage) -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return usage.ru_maxrss * scale / 1e6


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
        c.note(f"{args.small:,} rows: {c.seconds(small_time)}, peak RSS {small_rss:.0f} MB; "
               f"{args.rows:,} rows: {c.seconds(big_time)}, peak RSS {big_rss:.0f} MB "
               f"({args.rows / big_time:,.0f} rows/s)")
        c.summary(f"import {args.rows:,} rows", c.seconds(big_time),
                  f"{c.seconds(small_time)} for {args.small:,} rows", c.ratio(big_time, small_time),
                  "< 15 s", big_time < 15)
        c.summary(f"import peak RSS {args.rows:,} rows", f"{big_rss:.0f} MB",
                  f"{small_rss:.0f} MB for {args.small:,} rows", c.ratio(big_rss, small_rss),
                  "<= 1.25x", big_rss <= 1.25 * small_rss)
    finally:
        c.remove(work)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
