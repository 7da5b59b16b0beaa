"""The root ``twofa`` command and the one place where errors become exit codes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from twofa_cli.cli import (
    accounts,
    audit,
    config,
    devices,
    entries,
    flow,
    outbox,
    policy,
    providers,
    secondary_auth,
    setup,
)
from twofa_cli.cli.output import report_error


@dataclass
class CliState:
    home: str | None
    actor: str | None
    runtime: Any = None


class TwofaGroup(TyperGroup):
    """Maps every failure to the contract's exit code, one line, and no traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from twofa_cli.errors import BadInput, Rejected, TwofaError

        argv = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in argv
        debug = "--debug" in argv or os.environ.get("TWOFA_DEBUG") == "1"
        try:
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
            else:
                exc.show()
            code = exc.exit_code
        except typer.Abort:
            report_error(Rejected("aborted"), as_json=as_json)
            code = 1
        except Exception as exc:
            if debug:
                raise
            report_error(_unexpected(exc), as_json=as_json)
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


def _unexpected(exc: Exception):
    from twofa_cli.errors import TwofaError

    first_line = (str(exc).splitlines() or [""])[0][:200]
    error = TwofaError(f"unexpected {type(exc).__name__}: {first_line} (run with --debug for details)")
    error.code = "internal"
    return error


app = typer.Typer(
    cls=TwofaGroup,
    name="twofa",
    help="Administer two-factor authentication for a shopping cart's customers and administrators.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help: the same text and options without importing rich, markdown-it and
    # pygments to draw panels, so `twofa --help` starts in half the time and greps cleanly.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"twofa {version('twofa-cli')}")
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
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = CliState(home=home, actor=actor)


app.command("init", help=setup.init.__doc__)(setup.init)
app.add_typer(setup.db_app, name="db")
app.add_typer(config.app, name="config")
app.add_typer(providers.app, name="provider")
app.add_typer(secondary_auth.app, name="secondary-auth")
app.add_typer(policy.make_app("customer"), name="customer")
app.add_typer(policy.make_app("admin"), name="admin")
app.add_typer(accounts.app, name="account")
for command in (flow.enroll, flow.verify, flow.resend, flow.login):
    app.command()(command)
app.add_typer(entries.app, name="entry")
app.add_typer(devices.app, name="device")
app.command("outbox")(outbox.outbox)
app.command("audit")(audit.audit)


def main() -> None:
    app()
