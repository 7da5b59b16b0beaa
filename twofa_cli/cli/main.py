"""The root ``twofa`` command and the one place where errors become exit codes."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import (
    get_command_from_info,
    get_command_name,
    get_group_from_info,
    solve_typer_info_defaults,
)
from typer.models import CommandInfo, TyperInfo

from twofa_cli.cli import (
    accounts,
    apply,
    audit,
    config,
    delivery,
    devices,
    entries,
    flow,
    keys,
    outbox,
    policy,
    providers,
    recovery,
    secondary_auth,
    serve,
    sessions,
    setup,
)
from twofa_cli.cli.output import FORMATS, chosen_format, note, report_error


@dataclass
class CliState:
    home: str | None
    actor: str | None
    twofa: Any = None  # the TwoFactor, opened by the first command that needs it


def global_options_anywhere(argv: list[str]) -> tuple[list[str], str | None]:
    """Let ``--json`` and ``--format F`` stand before the subcommand as well as after it.

    ``--json`` is each command's own option, so it moves to the end; ``--format table|tsv``
    is the root's, so it moves to the front (``--format json`` is ``--json``). Nothing
    after ``--`` moves.
    """
    end = argv.index("--") if "--" in argv else len(argv)
    head, tail = argv[:end], argv[end:]
    kept, chosen, as_json = [], None, False
    tokens = iter(head)
    for token in tokens:
        if token == "--json":
            as_json = True
        elif token == "--format":
            chosen = next(tokens, "")
        elif token.startswith("--format="):
            chosen = token.partition("=")[2]
        else:
            kept.append(token)
    if chosen is not None and chosen.lower() == "json":
        as_json, chosen = True, None
    front = ["--format", chosen] if chosen is not None else []
    return [*front, *kept, *(["--json"] if as_json else []), *tail], chosen


class LazyCommands(MutableMapping):
    """The subcommands of ``twofa``, each built into a Click command on first use.

    Typer inspects every parameter of every function when it builds a command;
    doing that for all forty commands cost each `twofa` process about as much as
    opening the store and running `provider list`, so only the command that runs
    is built.
    """

    def __init__(self, group: TwofaGroup, built: dict[str, Any], registry: typer.Typer) -> None:
        self._group = group
        self._built = dict(built)
        self._infos: dict[str, CommandInfo | TyperInfo] = {}
        for command in registry.registered_commands:
            self._infos[command.name or get_command_name(command.callback.__name__)] = command
        for sub in registry.registered_groups:
            self._infos[solve_typer_info_defaults(sub).name] = sub
        self._order = [*self._built, *(name for name in self._infos if name not in self._built)]

    def __getitem__(self, name: str):
        if name not in self._built:
            info = self._infos[name]  # KeyError: no such command
            group = self._group
            if isinstance(info, CommandInfo):
                self._built[name] = get_command_from_info(
                    info, pretty_exceptions_short=app.pretty_exceptions_short,
                    rich_markup_mode=group.rich_markup_mode)
            else:
                self._built[name] = get_group_from_info(
                    info, pretty_exceptions_short=app.pretty_exceptions_short,
                    rich_markup_mode=group.rich_markup_mode, suggest_commands=group.suggest_commands)
        return self._built[name]

    def summary(self, name: str):
        """A stand-in that has only the command's help: enough for the list in ``twofa --help``."""
        if name in self._built or name not in self._infos:
            return self.get(name)
        info = self._infos[name]
        if isinstance(info, CommandInfo):  # as typer.main.get_command_from_info does
            text = info.callback.__doc__ if info.help is None else info.help
            short_help, hidden, deprecated = info.short_help, info.hidden, info.deprecated
        else:
            solved = solve_typer_info_defaults(info)
            text, short_help = solved.help, solved.short_help
            hidden, deprecated = solved.hidden, solved.deprecated
        import inspect

        return TyperCommand(name=name, help=inspect.cleandoc(text) if text else text,
                            short_help=short_help, hidden=hidden, deprecated=deprecated,
                            rich_markup_mode=self._group.rich_markup_mode)

    def __setitem__(self, name: str, command) -> None:
        if name not in self._built and name not in self._infos:
            self._order.append(name)
        self._infos.pop(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._built.pop(name, None)
        self._infos.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _completion_shell_named(argv: list[str]) -> str | None:
    """The SHELL of ``--show-completion SHELL``: Typer's flag ignores it and looks for the
    parent process's shell instead, which under CI, Docker or systemd is none."""
    if len(argv) < 2 or argv[0] != "--show-completion":
        return None
    return argv[1]


def _completion_script(shell: str) -> str:
    from typer._completion_shared import get_completion_script

    from twofa_cli.errors import BadInput

    if shell not in COMPLETION_SHELLS:
        raise BadInput(f"--show-completion takes one of {', '.join(COMPLETION_SHELLS)}, "
                       f"not {shell[:20]!r}")
    return get_completion_script(prog_name="twofa", complete_var="_TWOFA_COMPLETE",
                                 shell="pwsh" if shell == "powershell" else shell)


class TwofaGroup(TyperGroup):
    """Maps every failure to the contract's exit code, one line, and no traceback."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self, self.commands, subcommands)
        self._listing = False

    def list_commands(self, ctx) -> list[str]:
        return list(self.commands)  # names only: TyperGroup's version builds every command

    def get_command(self, ctx, cmd_name):
        if self._listing:
            return self.commands.summary(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx, formatter) -> None:
        # Typer's own list of commands, fed with stand-ins: showing it builds no command.
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from twofa_cli.errors import BadInput, Rejected, TwofaError

        argv, output_format = global_options_anywhere(list(sys.argv[1:] if args is None else args))
        as_json = "--json" in argv
        debug = "--debug" in argv or os.environ.get("TWOFA_DEBUG") == "1"
        try:
            if shell := _completion_shell_named(argv):
                typer.echo(_completion_script(shell))
                result = 0
            else:
                _strict_stdin()
                with chosen_format("json" if as_json else
                                   output_format if output_format in FORMATS else None):
                    result = super().main(
                        argv, prog_name or "twofa", complete_var, standalone_mode=False, **extra
                    )
            code = result if isinstance(result, int) else 0
        except TwofaError as exc:
            if debug:
                raise
            report_error(exc, as_json=as_json)
            code = exc.exit_code
        except typer.TyperException as exc:  # usage errors: unknown option, missing argument
            if as_json:
                report_error(BadInput(exc.format_message()), as_json=True)
            else:  # Click's usage text, with the argument it echoes made inert
                usage = io.StringIO()
                exc.show(file=usage)
                note(usage.getvalue().rstrip("\n"))
            code = exc.exit_code
        except typer.Abort:
            report_error(Rejected("aborted"), as_json=as_json)
            code = 1
        except Exception as exc:
            if debug:
                raise
            error = _unexpected(exc)
            report_error(error, as_json=as_json)
            code = error.exit_code
        if standalone_mode:
            sys.exit(code)
        return code


def _strict_stdin() -> None:
    """Read standard input as strict UTF-8: Python's default for it (surrogateescape)
    would let undecodable bytes through as lone surrogates, to trip up later."""
    if isinstance(sys.stdin, io.TextIOWrapper) and sys.stdin.errors != "strict":
        sys.stdin.reconfigure(errors="strict")


def _unexpected(exc: Exception):
    from twofa_cli.errors import BadInput, TwofaError

    # Bytes that are not UTF-8: met reading standard input, or, as the lone surrogates
    # Python makes of them in argv, when an argument is encoded to be stored.
    if isinstance(exc, UnicodeDecodeError) or (
            isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed"):
        return BadInput("an argument or standard input is not UTF-8 text")

    first_line = (str(exc).splitlines() or [""])[0][:200]
    error = TwofaError(f"unexpected {type(exc).__name__}: {first_line} (run with --debug for details)")
    error.code = "internal"
    return error


EXIT_CODES = """\b
Exit codes:
  0  done
  1  rejected: wrong or expired code, wrong password, conflict (a duplicate),
     2FA not allowed, not initialised
  2  bad input or usage
  3  not found
  4  throttled or locked out
  5  delivery failed"""

app = typer.Typer(
    cls=TwofaGroup,
    name="twofa",
    help="Administer two-factor authentication for a shopping cart's customers and administrators.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help: the same text and options without importing rich, markdown-it and
    # pygments to draw panels, so `twofa --help` starts in half the time and greps cleanly.
    rich_markup_mode=None,
)


def _format(value: str | None) -> str | None:
    if value is not None and value.lower() not in FORMATS:
        raise typer.BadParameter(f"{value[:20]!r} is not one of {', '.join(FORMATS)}")
    return value.lower() if value else None


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        from twofa_cli.cli.documents import Version
        from twofa_cli.cli.output import output_format, plain, to_json

        number = version("twofa-cli")
        typer.echo(to_json(plain(Version(number))) if output_format() == "json"
                   else f"twofa {number}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option("--home", help="State folder (default: $TWOFA_HOME or the user data dir).",
                     show_default=False),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="Who to name in the audit trail (default: the OS user).",
                     show_default=False),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks (also TWOFA_DEBUG=1).")
    ] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="Print one JSON document (also after the subcommand).")
    ] = False,
    output_format: Annotated[
        str | None,
        typer.Option("--format", callback=_format, metavar="[table|tsv|json]",
                     help="table, tsv or json (default: a table at a terminal, tsv otherwise).",
                     show_default=False),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = CliState(home=home, actor=actor)


# The subcommands, registered on a Typer of their own: TwofaGroup (LazyCommands) builds
# each one when it is used. Commands registered on ``app`` itself would be built eagerly.
subcommands = typer.Typer()
subcommands.command("init", help=setup.init.__doc__)(setup.init)
subcommands.add_typer(setup.db_app, name="db")
subcommands.add_typer(config.app, name="config")
subcommands.add_typer(providers.app, name="provider")
subcommands.add_typer(delivery.app, name="delivery")
subcommands.add_typer(secondary_auth.app, name="secondary-auth")
subcommands.add_typer(policy.make_app("customer"), name="customer")
subcommands.add_typer(policy.make_app("admin"), name="admin")
subcommands.add_typer(accounts.app, name="account")
for command in (flow.enroll, flow.verify, flow.resend, flow.login, flow.logout):
    subcommands.command()(command)
subcommands.add_typer(sessions.app, name="session")
subcommands.add_typer(entries.app, name="entry")
subcommands.add_typer(recovery.app, name="recovery-codes")
subcommands.add_typer(devices.app, name="device")
subcommands.add_typer(keys.app, name="key")
subcommands.command("outbox")(outbox.outbox)
subcommands.command("audit")(audit.audit)
subcommands.command("export")(apply.export)
subcommands.command("apply")(apply.apply)
subcommands.command("serve")(serve.serve)


def main() -> None:
    """The `twofa` console script."""
    try:
        app()
    finally:
        # The process is about to exit. Spare the interpreter's last garbage collections
        # the objects alive now (SQLAlchemy, pydantic and typer make 100,000s of them):
        # they cost a fifth of a short command's run time, and the OS frees the memory
        # anyway. Output is written and the store closed (output.twofa) by now.
        import gc

        gc.freeze()
