"""Cold start of the `twofa` command against bare imports of its frameworks.

Median wall time of fresh processes (the interpreter running this script and
the `twofa` console script next to it), measured round-robin so that a change
in machine load hits every command alike:

- ``twofa --help`` against ``python -c "import typer"``: target <= 1.5x;
- ``twofa provider list --json`` and a wrong-code ``twofa verify A 000000``
  (exit code 1) against ``python -c "import sqlmodel"``: target <= 1.3x;
- ``python -X importtime``: neither twilio, requests, alembic nor phonenumbers
  is imported by ``provider list`` or a wrong-code ``verify``.

Round 0 warms up (OS cache, bytecode in a private PYTHONPYCACHEPREFIX, so a
shell with PYTHONDONTWRITEBYTECODE=1 does not make every process recompile
twofa from source) and is not counted.

Usage: python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

ACCOUNT = "alice@example.com"
HEAVY = ("twilio", "requests", "alembic", "phonenumbers")


def prepare(home: Path):
    """A home with one enrolled customer; returns a function that opens a fresh login challenge."""
    from twofa_cli.runtime import open_runtime
    from twofa_cli.services import accounts, challenges, delivery, login
    from twofa_cli.services.enrollment import enroll

    # Every timed verify is a wrong code: keep the lockout and the send caps out of the way.
    c.prepare_home(home, throttle={"max_per_destination_per_hour": 100, "resend_interval_seconds": 0,
                                   "challenge_interval_seconds": 0,
                                   "max_challenges_per_account_per_hour": 1000},
                   lockout={"max_failures": 100})
    rt = open_runtime(home, actor="benchmark")
    accounts.add_account(rt, email=ACCOUNT, password=c.PASSWORD)
    enroll(rt, ACCOUNT, method="Email code", email=ACCOUNT)
    challenges.verify(rt, ACCOUNT, delivery.list_outbox(rt, to=ACCOUNT, limit=1)[0]["code"])

    def pending_login() -> None:
        """A new login challenge (attempts at 0) whose code is not 000000 (untimed)."""
        while True:
            login.login(rt, ACCOUNT, c.PASSWORD)
            if delivery.list_outbox(rt, to=ACCOUNT, limit=1)[0]["code"] != "000000":
                return

    return rt, pending_login


def imported_modules(argv: list[str], env: dict[str, str], expect: int) -> set[str]:
    done = subprocess.run([c.PYTHON, "-X", "importtime", *argv], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != expect:
        raise SystemExit(f"{argv} exited {done.returncode}, expected {expect}: {done.stderr[-2000:]}")
    names = set()
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", line)
        if match:
            names.add(match.group(1))
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="cold runs per command (default 10)")
    args = parser.parse_args()

    c.isolate()
    c.header("startup: median wall time of cold `twofa` processes")
    home = c.temp_dir("startup")
    try:
        rt, pending_login = prepare(home)
        # Bytecode for every command and baseline goes to one private cache, filled by the
        # warm-up round: the steady state of an installed package, whatever the shell says.
        env = c.clean_env(home, pycache=home / "pycache")
        commands = {
            "import typer": ([c.PYTHON, "-c", "import typer"], 0, None),
            "import sqlmodel": ([c.PYTHON, "-c", "import sqlmodel"], 0, None),
            "twofa --help": ([c.TWOFA, "--help"], 0, None),
            "twofa provider list --json": ([c.TWOFA, "provider", "list", "--json"], 0, None),
            "twofa verify A 000000": ([c.TWOFA, "verify", ACCOUNT, "000000"], 1, pending_login),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(args.runs + 1):  # round 0 warms the OS cache and the .pyc files
            for name, (argv, expect, before) in commands.items():
                if before:
                    before()
                elapsed, used = c.run_process(argv, env=env, expect=expect)
                if round_:
                    times[name].append(elapsed)
                    cpu[name].append(used)
        med = {name: c.median(values) for name, values in times.items()}
        med_cpu = {name: c.median(values) for name, values in cpu.items()}
        base_cpu = {"twofa --help": med_cpu["import typer"]}
        for name, values in times.items():
            base = base_cpu.get(name, med_cpu["import sqlmodel"])
            c.note(f"{name}: median {c.seconds(med[name])}, min {c.seconds(min(values))}, "
                   f"max {c.seconds(max(values))} over {len(values)} runs; median CPU time "
                   f"{c.seconds(med_cpu[name])}"
                   + ("" if name.startswith("import") else f" ({c.ratio(med_cpu[name], base)} of its "
                                                         "baseline's CPU time)"))

        typer_base, sqlmodel_base = med["import typer"], med["import sqlmodel"]
        c.summary("startup twofa --help", c.seconds(med["twofa --help"]),
                  f"{c.seconds(typer_base)} (python -c 'import typer')",
                  c.ratio(med["twofa --help"], typer_base), "<= 1.50x",
                  med["twofa --help"] <= 1.5 * typer_base)
        for name in ("twofa provider list --json", "twofa verify A 000000"):
            c.summary(f"startup {name}", c.seconds(med[name]),
                      f"{c.seconds(sqlmodel_base)} (python -c 'import sqlmodel')",
                      c.ratio(med[name], sqlmodel_base), "<= 1.30x",
                      med[name] <= 1.3 * sqlmodel_base)

        for name, argv, expect, before in (
            ("provider list", [c.TWOFA, "provider", "list", "--json"], 0, None),
            ("verify (wrong code)", [c.TWOFA, "verify", ACCOUNT, "000000"], 1, pending_login),
        ):
            if before:
                before()
            modules = imported_modules(argv, env, expect)
            found = sorted(p for p in HEAVY if p in modules)
            c.note(f"{name} imports {len(modules)} modules; rich: {'rich' in modules}, "
                   f"email_validator: {'email_validator' in modules}, argon2: {'argon2' in modules}")
            c.summary(f"imports {name}", "imports " + (" ".join(found) if found else "none of them"),
                      "-", "-", "no " + "/".join(HEAVY), not found)
        rt.engine.dispose()
    finally:
        c.remove(home)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
