"""Cold start of the `twofa` command against bare imports of its frameworks.

Median wall time of fresh processes (the interpreter running this script and
the `twofa` console script next to it), measured round-robin so that a change
in machine load hits every command alike:

- ``twofa --help`` against ``python -c "import typer"``: target <= 1.5x;
- ``twofa provider list --json`` and a wrong-code ``twofa verify A 000000``
  (exit code 1) against ``python -c "import sqlmodel"``: target <= 1.3x;
- ``python -X importtime``: neither twilio, requests, alembic nor phonenumbers
  is imported by ``provider list`` or a wrong-code ``verify``;
- a set-up of 5 providers, 5 secondary-auth methods, both audiences and 10
  settings, done by one ``twofa apply FILE`` process against the same set-up
  done with one ``twofa`` process per step (22 of them), each on a fresh home,
  in alternating rounds: target apply <= 0.33x (three times faster or more).

Round 0 warms up (OS cache, bytecode in a private PYTHONPYCACHEPREFIX, so a
shell with PYTHONDONTWRITEBYTECODE=1 does not make every process recompile
twofa from source) and is not counted.

Usage: python benchmarks/startup.py [--runs N] [--apply-runs N] [--only startup|apply]
"""

from __future__ import annotations

import argparse
import re
import shutil
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


TWILIO_SID = "AC" + "0f" * 16
CDYNE_KEY = "F01D89FD-5155-5455-5585-E84AB8DE8591"
SETTINGS = {
    "delivery.timeout_seconds": "15", "codes.length": "8", "codes.ttl_seconds": "300",
    "codes.max_attempts": "3", "lockout.max_failures": "20", "lockout.lock_seconds": "600",
    "throttle.resend_interval_seconds": "60", "trusted_devices.ttl_days": "14",
    "sms.allowed_countries": "US,CA", "smtp.host": "smtp.example.com",
}


def set_up_steps() -> tuple[list[list[str]], str, dict[str, str]]:
    """The same set-up as ``twofa`` commands (one process each) and as one apply file,
    with the environment that holds the file's secret references."""
    steps, providers, methods, secrets = [], [], [], {}
    for n in range(1, 6):
        title = f"Provider {n}"
        if n == 1:
            steps.append(["provider", "add", "configio", "smtp", "--title", title])
            providers.append(f'title = "{title}"\nchannel = "smtp"\n')
        elif n % 2 == 0:
            token = f"tok{n}" + "ab" * 14
            steps.append(["provider", "add", "custom", "twilio", "--title", title, "--account-sid",
                          TWILIO_SID, "--auth-token", token, "--from-number", f"+1415555010{n}"])
            secrets[f"PROVIDER_{n}_AUTH_TOKEN"] = token
            providers.append(f'title = "{title}"\nchannel = "twilio"\naccount_sid = "{TWILIO_SID}"\n'
                             f'auth_token = "env:PROVIDER_{n}_AUTH_TOKEN"\n'
                             f'from_number = "+1415555010{n}"\n')
        else:
            steps.append(["provider", "add", "custom", "cdyne", "--title", title,
                          "--license-key", CDYNE_KEY])
            secrets[f"PROVIDER_{n}_LICENSE_KEY"] = CDYNE_KEY
            providers.append(f'title = "{title}"\nchannel = "cdyne"\n'
                             f'license_key = "env:PROVIDER_{n}_LICENSE_KEY"\n')
    for n in range(1, 6):
        steps.append(["secondary-auth", "add", "--provider", f"Provider {n}", "--title", f"Method {n}"])
        methods.append(f'title = "Method {n}"\nprovider = "Provider {n}"\n')
    steps += [["customer", "enable"], ["admin", "enable"]]
    steps += [["config", "set", key, value] for key, value in SETTINGS.items()]
    sections: dict[str, list[str]] = {}
    for key, value in SETTINGS.items():
        section, name = key.split(".")
        toml = "[" + ", ".join(f'"{v}"' for v in value.split(",")) + "]" if "," in value \
            else value if value.isdigit() else f'"{value}"'
        sections.setdefault(section, []).append(f"{name} = {toml}")
    document = ("[audiences]\ncustomer = true\nadmin = true\n\n"
                + "".join(f"[[providers]]\n{p}\n" for p in providers)
                + "".join(f"[[secondary_auth]]\n{m}\n" for m in methods)
                + "".join(f"[settings.{s}]\n" + "\n".join(v) + "\n\n" for s, v in sections.items()))
    return steps, document, secrets


def measure_apply(runs: int) -> None:
    """One `twofa apply` against one `twofa` process per step, each on a fresh home."""
    from twofa_cli.services.setup import initialise

    work = c.temp_dir("apply")
    try:
        template = work / "template"
        initialise(template)
        steps, document, secrets = set_up_steps()
        (work / "twofa.toml").write_text(document, encoding="utf-8")
        per_step, applied = [], []
        for round_ in range(runs + 1):  # round 0 warms the OS cache and the .pyc files
            for how in ("steps", "apply"):
                home = work / f"{how}-{round_}"
                shutil.copytree(template, home)
                env = {**c.clean_env(home, pycache=work / "pycache"), **secrets}
                if how == "steps":
                    elapsed = sum(c.run_process([c.TWOFA, *step], env=env)[0] for step in steps)
                else:
                    elapsed = c.run_process([c.TWOFA, "apply", str(work / "twofa.toml")], env=env)[0]
                if round_:
                    (per_step if how == "steps" else applied).append(elapsed)
            if round_ == 0:  # both ways give the same configuration
                exports = [subprocess.run([c.TWOFA, "export"], capture_output=True, text=True,
                                          env=c.clean_env(work / f"{how}-0"), check=True).stdout
                           for how in ("steps", "apply")]
                if exports[0] != exports[1]:
                    raise SystemExit("apply and the per-step commands gave different set-ups")
            for how in ("steps", "apply"):
                c.remove(work / f"{how}-{round_}")
        value, base = c.median(applied), c.median(per_step)
        c.note(f"apply: {', '.join(c.seconds(t) for t in applied)}; one process per step "
               f"({len(steps)} processes): {', '.join(c.seconds(t) for t in per_step)}")
        c.summary("startup twofa apply (5 providers, 5 methods, 2 audiences, 10 settings)",
                  c.seconds(value), f"{c.seconds(base)} ({len(steps)} twofa processes, one per step)",
                  c.ratio(value, base), "<= 0.33x", value <= base / 3)
    finally:
        c.remove(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="cold runs per command (default 10)")
    parser.add_argument("--apply-runs", type=int, default=3,
                        help="rounds of the apply / one-process-per-step comparison (default 3)")
    parser.add_argument("--only", choices=("startup", "apply"), help="run one part only")
    args = parser.parse_args()

    c.isolate()
    c.header("startup: median wall time of cold `twofa` processes")
    if args.only != "startup":
        measure_apply(args.apply_runs)
    if args.only == "apply":
        return c.finish()
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
