"""Helpers shared by the benchmark scripts: timing, a prepared home, the summary line.

Every figure is printed as one line::

    name, value, baseline, ratio, target, PASS|MISS

with a baseline measured in the same run whenever the target is a ratio, so a
loaded or slow machine moves value and baseline together.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

PYTHON = sys.executable
BIN = Path(sys.executable).parent
TWOFA = str(BIN / ("twofa.exe" if os.name == "nt" else "twofa"))

# One argon2id hash reused for every generated account (hashing each would take hours).
# It is the hash of "correct horse battery" with argon2-cffi's default parameters.
PASSWORD = "correct horse battery"

_results: list[bool] = []


# -- output ------------------------------------------------------------------------


def machine() -> str:
    """One line about where the figures come from (they mean little without it)."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average unknown"
    return (f"# {os.cpu_count()} CPUs, {model}, Python {platform.python_version()} "
            f"({platform.python_implementation()}), {platform.system()}; {load}")


def header(title: str) -> None:
    print(f"# {title}")
    print(machine())
    print("# name, value, baseline, ratio, target, PASS/MISS")
    sys.stdout.flush()


def summary(name: str, value: str, baseline: str, ratio: str, target: str, ok: bool | None) -> bool | None:
    """Print one figure; remember whether it met its target (None: a figure without one)."""
    if ok is not None:
        _results.append(ok)
    status = "INFO" if ok is None else "PASS" if ok else "MISS"
    print(f"{name}, {value}, {baseline}, {ratio}, {target}, {status}")
    sys.stdout.flush()
    return ok


def note(text: str) -> None:
    """Context for the figures, on stderr so stdout stays one line per figure."""
    print(f"# {text}", file=sys.stderr)
    sys.stderr.flush()


def finish() -> int:
    """Exit status of a benchmark script: 0 when every target was met."""
    return 0 if all(_results) else 1


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x"


# -- timing ------------------------------------------------------------------------


def wall(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def run_process(argv: Sequence[str], *, env: dict[str, str], expect: int = 0,
                stdin: bytes = b"") -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one fresh process, whose exit code must be
    ``expect``; ``stdin`` is what it reads. CPU time moves less than wall time with the
    load of a shared machine."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryFile() as given:
        given.write(stdin)
        given.seek(0)
        start = time.perf_counter()
        child = subprocess.Popen(argv, env=env, stdin=given, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != expect:
            out.seek(0)
            err.seek(0)
            raise SystemExit(
                f"{' '.join(argv)} exited {child.returncode}, expected {expect}:\n"
                f"{out.read().decode(errors='replace')[-2000:]}{err.read().decode(errors='replace')[-2000:]}"
            )
    return elapsed, usage.ru_utime + usage.ru_stime


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# -- a prepared home ---------------------------------------------------------------


def clean_env(home: Path | None = None, *, pycache: Path | None = None) -> dict[str, str]:
    """The environment for child processes: nothing twofa-related leaks in from the shell.

    With ``pycache``, bytecode is cached there (PYTHONPYCACHEPREFIX) whatever the
    shell says (PYTHONDONTWRITEBYTECODE): every command then starts the way it
    does for a user once it has run, or after ``pip install``, which compiles
    the package, instead of recompiling twofa's modules in every process.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWOFA_", "TWILIO_", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"))}
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "120"
    if pycache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if home is not None:
        env["TWOFA_HOME"] = str(home)
    return env


def temp_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"twofa-bench-{prefix}-"))
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def isolate() -> None:
    """Keep this process's own library calls off any real home or database."""
    for name in list(os.environ):
        if name.startswith(("TWOFA_", "TWILIO_")):
            del os.environ[name]


def set_config(home: Path, section: str, values: dict[str, int | str]) -> None:
    """Rewrite keys of one section of config.toml (written by ``twofa init``)."""
    path = home / "config.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    current = None
    out = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
        key = stripped.split("=", 1)[0].strip() if "=" in stripped and not stripped.startswith("#") else None
        if current == section and key in values:
            value = values[key]
            line = f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"'
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def prepare_home(home: Path, *, throttle: dict[str, int] | None = None,
                 lockout: dict[str, int] | None = None, database_url: str | None = None) -> None:
    """A simulate-mode home with an email method ("Email code") that customers may use
    (on ``database_url``, else its own SQLite file)."""
    from twofa_cli.runtime import open_runtime
    from twofa_cli.services import providers, secondary_auth, system
    from twofa_cli.services.setup import initialise

    initialise(home, database_url=database_url)
    if throttle:
        set_config(home, "throttle", throttle)
    if lockout:
        set_config(home, "lockout", lockout)
    rt = open_runtime(home, actor="benchmark", database_url=database_url)
    try:
        providers.add_provider(rt, channel="smtp", title="Email")
        secondary_auth.add_secondary_auth(rt, provider="Email", title="Email code")
        system.set_allowed(rt, "customer", True)
    finally:
        rt.engine.dispose()


_hash: str | None = None


def password_hash() -> str:
    """One argon2id hash (library defaults) computed once and reused for every row."""
    global _hash
    if _hash is None:
        from twofa_cli.security import hash_password

        _hash = hash_password(PASSWORD)
    return _hash


def fill_accounts(db_file: Path, emails: Sequence[str] | range, *, email_of=None,
                  batch: int = 50_000) -> None:
    """Insert accounts with raw sqlite3 executemany (fast), one precomputed hash reused."""
    pw = password_hash()
    email_of = email_of or (lambda i: i)
    created = "2025-01-01 00:00:00.000000"
    connection = sqlite3.connect(db_file)
    try:
        rows = ((email_of(i), "", pw, 0, 0, created) for i in emails)
        while True:
            chunk = [row for _, row in zip(range(batch), rows)]
            if not chunk:
                break
            connection.executemany(
                "INSERT INTO account (email, name, password_hash, is_admin, failed_verifications,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)", chunk)
        connection.commit()
    finally:
        connection.close()
