"""Schema versions: Alembic migrations shipped in the package.

Every command checks the database's revision against ``HEAD_REVISION`` with one
query, so Alembic itself is imported only by ``init`` and ``db upgrade``.
"""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from twofa_cli.errors import NotInitialised, SchemaOutOfDate

HEAD_REVISION = "0001"
VERSION_TABLE = "alembic_version"


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except (OperationalError, ProgrammingError):
        return None


def check_schema(engine: Engine) -> None:
    revision = current_revision(engine)
    if revision is None:
        raise NotInitialised("the database has no twofa schema: run `twofa init`")
    if revision != HEAD_REVISION:
        raise SchemaOutOfDate(
            f"the database schema is at revision {revision}, this twofa needs {HEAD_REVISION}: "
            "run `twofa db upgrade`"
        )


def _alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "twofa_cli.store:migrations")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision``; returns (before, after)."""
    from alembic import command

    before = current_revision(engine)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)
    return before, current_revision(engine) or ""


def head_revision_from_scripts() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()
