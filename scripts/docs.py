"""Regenerate, or check, the command output shown in README.md and docs/*.md.

    python scripts/docs.py            # rewrite every file's output blocks
    python scripts/docs.py --check    # exit 1 naming each block whose output is stale
    python scripts/docs.py README.md  # only these files (default: README.md, docs/*.md)

A fenced ``console`` block on the line after ``<!-- docs:run -->`` is run: each ``$ ``
line (with its ``\\`` continuation lines) runs in bash and the lines under it become what
it printed, stdout and stderr as they interleave. ``<!-- docs:run -->`` runs it at a
terminal (80 columns unless ``docs:run columns=N``), so tables print as tables;
``<!-- docs:run piped -->`` with stdout a pipe, so they print as tab-separated rows.
The bash script in a ``<!-- docs:setup … -->`` comment runs where it stands, unshown.

Every file is one session of its own: a fresh TWOFA_HOME (SQLite, simulate delivery),
``USER=ops-alice``, shell variables kept from one command to the next, and a clock set to
2026-11-29 19:00:00 UTC that moves one second per command (``sleep N`` moves it N seconds
and waits for nothing). What would differ between two runs is normalised: the home's
path, the one-time codes (in the order the outbox holds them) and recovery codes.

`twofa` in a session is the CLI's own ``main()`` in a child forked, per command, from one
process that imported twofa_cli once (``--serve``): the child takes over the command's
stdin, stdout, stderr, arguments, environment and folder, and its exit status is the
command's. That saves the half second of imports every command would spend.
"""

from __future__ import annotations

import argparse
import difflib
import fcntl
import hashlib
import json
import os
import pty
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]  # those with blocks run
START = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
COMMAND_TIMEOUT = 60
# What the reader sees for the session's home: as long as the real one, so that tables
# keep their width.
HOME_PREFIX, SHOWN_HOME = "/tmp/shop-2fa-", "/tmp/shop-2fa-XXXXXXXX"
RECOVERY_CODE = re.compile(r"\b[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}\b")

# The `twofa` on a session's PATH: hands its descriptors and arguments to the server.
CLIENT = """\
#!{python} -ES
import json, os, socket, sys
connection = socket.socket(socket.AF_UNIX)
connection.connect(os.environ["DOCS_TWOFA_SERVER"])
request = json.dumps(dict(argv=sys.argv[1:], env=dict(os.environ), cwd=os.getcwd())).encode()
socket.send_fds(connection, [len(request).to_bytes(8, "big")], [0, 1, 2])
connection.sendall(request)
sys.exit(int(connection.recv(16) or 1))
"""

RUN = re.compile(r"<!-- docs:run(?P<options>[^>]*?)-->\n```console\n(?P<body>.*?)```\n", re.S)
SETUP = re.compile(r"<!-- docs:setup\n(?P<body>.*?)-->\n", re.S)
SLEEP = re.compile(r"sleep (\d+)\b")
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour (jq's at a terminal): a page has none


@dataclass
class Step:
    """One shown command and the lines it printed."""
    command: list[str]
    output: list[str] = field(default_factory=list)
    blank_after: bool = False


@dataclass
class Block:
    start: int
    end: int
    line: int
    piped: bool
    columns: int
    steps: list[Step]

    def render(self) -> str:
        lines: list[str] = []
        for step in self.steps:
            lines += [f"$ {step.command[0]}", *step.command[1:], *step.output]
            if step.blank_after:
                lines.append("")
        return "\n".join(lines) + "\n"


def parse_steps(body: str) -> list[Step]:
    steps: list[Step] = []
    continued = False
    for line in body.rstrip("\n").split("\n"):
        if continued:
            steps[-1].command.append(line)
        elif line.startswith("$ "):
            steps.append(Step([line[2:]]))
        elif steps:
            steps[-1].output.append(line)
        else:
            raise ValueError(f"output before the first command: {line!r}")
        continued = (continued or line.startswith("$ ")) and line.endswith("\\")
    for step in steps:
        step.blank_after = bool(step.output) and step.output[-1] == ""
    return steps


def parse_blocks(text: str) -> list[Block]:
    blocks = []
    for match in RUN.finditer(text):
        options = match["options"].split()
        columns = next((int(o.split("=")[1]) for o in options if o.startswith("columns=")), 80)
        body_start = match.start("body")
        blocks.append(Block(body_start, match.end("body"), text.count("\n", 0, body_start) + 1,
                            "piped" in options, columns, parse_steps(match["body"])))
    return blocks


class Session:
    """One file's shell: a fresh home, exported variables kept in a file between commands."""

    def __init__(self, workdir: Path, server: Server) -> None:
        self.home = Path(tempfile.mkdtemp(prefix=HOME_PREFIX, dir="/tmp"))
        self.home.rmdir()  # for `twofa init` to make, as in a first run
        self.state = workdir / "exported.sh"
        self.state.write_text("")
        self.cwd = workdir / "shop"  # the commands' folder: files they write land here
        self.cwd.mkdir()
        self.clock = START
        self.env = {name: value for name, value in os.environ.items()
                    if not name.startswith(("TWOFA_", "PYTHON", "COLUMNS", "LINES"))}
        self.env.update(
            TWOFA_HOME=str(self.home), USER="ops-alice", LOGNAME="ops-alice",
            PATH=os.pathsep.join([str(server.bin), str(Path(sys.executable).parent),
                                  os.environ.get("PATH", "")]),
            PYTHONPATH=str(ROOT), DOCS_TWOFA_SERVER=str(server.socket),
            TERM="dumb", NO_COLOR="1", LANG="C.UTF-8", LC_ALL="C.UTF-8")

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def run(self, command: str, *, piped: bool = True, columns: int = 80) -> str:
        if sleep := SLEEP.fullmatch(command.split("#")[0].strip()):
            self.clock += timedelta(seconds=int(sleep[1]))
            return ""
        self.clock += timedelta(seconds=1)
        script = (f'set -a; . "{self.state}"; DOCS_CLOCK={self.clock.isoformat()}; '
                  f'COLUMNS={columns}\n{command}\n'
                  f'status=$?; export -p > "{self.state}"; exit $status\n')
        argv = ["bash", "--noprofile", "--norc", "-c", script]
        return (_run_piped if piped else _run_at_terminal)(argv, self.env, self.cwd, columns)

    def codes(self) -> list[str]:
        """Every one-time code sent in the session, oldest first."""
        messages = json.loads(self.run("twofa outbox --limit 1000 --json"))
        return [m["code"] for m in sorted(messages, key=lambda m: m["id"]) if m.get("code")]


class Server:
    """The process that forks a `twofa` per command (``--serve``), and its client."""

    def __init__(self, scratch: Path) -> None:
        self.socket = scratch / "twofa.sock"
        self.bin = scratch / "bin"
        self.bin.mkdir()
        client = self.bin / "twofa"
        client.write_text(CLIENT.format(python=sys.executable))
        client.chmod(0o755)
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("TWOFA_", "PYTHON"))}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.socket)],
            env=dict(env, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        if self.process.stdout.readline() != b"ready\n":
            raise RuntimeError("the twofa server did not start")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


def serve(path: str) -> None:
    """Import the CLI once, then fork one child per connection to run one command."""
    import importlib
    import pkgutil
    import signal

    import twofa_cli
    import twofa_cli.runtime

    if not callable(getattr(twofa_cli.runtime, "utcnow", None)):
        raise SystemExit("twofa_cli.runtime.utcnow is gone: give scripts/docs.py the new clock")

    # Everything a command could import, imported once: most of a short command's time.
    for module in pkgutil.walk_packages(twofa_cli.__path__, "twofa_cli."):
        if ".store.migrations." not in module.name:
            importlib.import_module(module.name)
    for name in ("rich.console", "rich.table", "sqlalchemy.dialects.sqlite"):
        importlib.import_module(name)
    from sqlalchemy.orm import configure_mappers

    configure_mappers()  # else the first query of every command does it

    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # no zombies
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _run_command(connection)
        connection.close()


def _run_command(connection: socket.socket) -> None:
    """In the forked child: become the client's `twofa` process, then report its exit."""
    import io
    import traceback

    import twofa_cli.runtime
    from twofa_cli.cli.main import main as twofa

    header, fds, _, _ = socket.recv_fds(connection, 8, 3)
    size, request = int.from_bytes(header, "big"), b""
    while len(request) < size:
        request += connection.recv(size - len(request))
    call = json.loads(request)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(call["cwd"])
    os.environ.clear()
    os.environ.update(call["env"])
    sys.argv = ["twofa", *call["argv"]]
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding="utf-8")
    sys.stdout, sys.stderr = (  # unbuffered: stdout and stderr interleave as written
        io.TextIOWrapper(open(fd, "wb", buffering=0, closefd=False), encoding="utf-8",
                         write_through=True) for fd in (1, 2))
    now = datetime.fromisoformat(os.environ["DOCS_CLOCK"])
    twofa_cli.runtime.utcnow = lambda: now  # the CLI has no clock option
    code = 1
    try:
        twofa()
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        connection.sendall(str(code).encode())
        os._exit(0)


def _run_piped(argv: list[str], env: dict, cwd: Path, columns: int) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=COMMAND_TIMEOUT, check=False)
    return done.stdout.decode()


def _run_at_terminal(argv: list[str], env: dict, cwd: Path, columns: int) -> str:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower)
    os.close(follower)
    chunks, deadline = [], time.monotonic() + COMMAND_TIMEOUT
    try:
        while True:  # read as it comes: a full terminal buffer would block the command
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError(f"{argv[-1]!r} ran over {COMMAND_TIMEOUT} s")
            if select.select([leader], [], [], 0.05)[0]:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every writer has closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif process.poll() is not None and not _readable(leader):
                break
    finally:
        os.close(leader)
        process.wait()
    return b"".join(chunks).decode().replace("\r\n", "\n")


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _placeholder(kind: str, index: int, alphabet: str, length: int) -> str:
    digest = hashlib.sha256(f"{kind} {index}".encode()).digest()
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:length])


def normaliser(session: Session, codes: list[str]) -> Callable[[str], str]:
    """What makes two runs print the same: the home's path, codes, recovery codes."""
    shown_codes = {code: _placeholder("code", i, "0123456789", len(code))
                   for i, code in enumerate(dict.fromkeys(codes))}
    recovery: dict[str, str] = {}

    def recovery_code(match: re.Match) -> str:
        if match[0] not in recovery:
            alphabet = "23456789abcdefghjkmnpqrstuvwxyz"
            fake = _placeholder("recovery", len(recovery), alphabet, 10)
            recovery[match[0]] = f"{fake[:5]}-{fake[5:]}"
        return recovery[match[0]]

    def normalise(text: str) -> str:
        text = ANSI.sub("", text.replace(str(session.home), SHOWN_HOME))
        text = RECOVERY_CODE.sub(recovery_code, text)
        if shown_codes:
            text = re.sub(rf"\b({'|'.join(shown_codes)})\b", lambda m: shown_codes[m[0]], text)
        return "\n".join(line.rstrip() for line in text.split("\n"))

    return normalise


def generate(text: str, server: Server) -> str:
    """``text`` with every run block's output replaced by a fresh run's."""
    blocks = parse_blocks(text)
    if not blocks:
        return text
    with tempfile.TemporaryDirectory(prefix="twofa-docs-") as workdir:
        session = Session(Path(workdir), server)
        try:
            hidden = [(m.start(), m["body"]) for m in SETUP.finditer(text)]
            for block in blocks:
                for _, script in [h for h in hidden if h[0] < block.start]:
                    session.run(script)
                hidden = [h for h in hidden if h[0] > block.start]
                for step in block.steps:
                    output = session.run("\n".join(step.command), piped=block.piped,
                                         columns=block.columns)
                    step.output = output.rstrip("\n").split("\n") if output.strip() else []
            for _, script in hidden:  # after the last block: it may put the store right again
                session.run(script)
            normalise = normaliser(session, session.codes())
        finally:
            session.close()
    pieces, last = [], 0
    for block in blocks:
        pieces += [text[last:block.start], normalise(block.render())]
        last = block.end
    return "".join(pieces) + text[last:]


def stale_blocks(path: Path, committed: str, fresh: str) -> Iterator[str]:
    """One message per block whose committed output differs from a fresh run's."""
    for old, new in zip(parse_blocks(committed), parse_blocks(fresh)):
        before, after = committed[old.start:old.end], fresh[new.start:new.end]
        if before != after:
            diff = difflib.unified_diff(before.splitlines(), after.splitlines(),
                                        "committed", "fresh run", lineterm="", n=1)
            first = old.steps[0].command[0] if old.steps else ""
            yield (f"{path}: the block at line {old.line} (`$ {first}`) is stale\n"
                   + "\n".join(diff))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a block differs from a fresh run")
    parser.add_argument("--serve", metavar="SOCKET", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path,
                        help="default: README.md and docs/*.md")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
    paths = args.files or FILES
    committed = {path: path.read_text(encoding="utf-8") for path in paths}
    with tempfile.TemporaryDirectory(prefix="twofa-docs-") as scratch, \
            ThreadPoolExecutor(max_workers=len(paths)) as pool:  # one session per file
        server = Server(Path(scratch))
        try:
            fresh = dict(zip(paths, pool.map(lambda path: generate(committed[path], server),
                                             paths)))
        finally:
            server.close()
    problems: list[str] = []
    for path in paths:
        if args.check:
            problems += stale_blocks(path, committed[path], fresh[path])
        elif fresh[path] != committed[path]:
            path.write_text(fresh[path], encoding="utf-8")
            print(f"rewrote {path}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("Regenerate with: python scripts/docs.py", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
