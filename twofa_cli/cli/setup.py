"""``twofa init`` and ``twofa db``."""

from __future__ import annotations

from typing import Annotated

import typer

from twofa_cli.cli.documents import HomeShown
from twofa_cli.cli.output import JsonOpt, emit, note, plain

DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (sqlite:///… or postgresql+psycopg://…); "
                 "also TWOFA_DATABASE_URL.", show_default=False),
]


def init(ctx: typer.Context, database_url: DatabaseUrlOpt = None, json_: JsonOpt = False) -> None:
    """Create the home folder, secret key, config.toml and database schema (safe to rerun).

    \b
    Example:
      twofa init --database-url postgresql+psycopg://twofa@db.example.com/twofa
    """
    from twofa_cli.api import TwoFactor

    home = TwoFactor.initialise(ctx.find_root().obj.home, database_url=database_url)
    shown = HomeShown(home=home.path, config=home.config_file, database=home.database,
                      key=home.key, schema_revision=home.schema_revision,
                      upgraded_from=home.upgraded_from, created=home.created)  # type: ignore[arg-type]
    emit(plain(shown), as_json=json_, title="twofa home")
    if not json_:
        note("Ready." if home.created else "Already initialised; nothing to create.")


db_app = typer.Typer(help="Database schema: status and upgrades.", no_args_is_help=True)


@db_app.command("status")
def status(ctx: typer.Context, database_url: DatabaseUrlOpt = None, json_: JsonOpt = False) -> None:
    """Show the schema revision of the database and the one this twofa needs."""
    from twofa_cli.api import TwoFactor

    status = TwoFactor.schema_status(ctx.find_root().obj.home, database_url=database_url)
    emit(plain(status), as_json=json_)


@db_app.command("upgrade")
def upgrade(ctx: typer.Context, database_url: DatabaseUrlOpt = None, json_: JsonOpt = False) -> None:
    """Migrate the schema to the newest revision, keeping every row."""
    from twofa_cli.api import TwoFactor

    done = TwoFactor.upgrade_schema(ctx.find_root().obj.home, database_url=database_url)
    emit(plain(done), as_json=json_)
