"""Read every table of a twofa store, to prove that a refused command changed nothing."""

from __future__ import annotations

from sqlalchemy import MetaData, create_engine, select


def dump_store(url: str) -> dict[str, list[tuple]]:
    """Every row of every table (alembic_version included), in a stable order.

    Reflects the schema instead of importing the models, so a table added by a
    later migration is covered without touching this helper.
    """
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
                for name, table in sorted(metadata.tables.items())
            }
    finally:
        engine.dispose()
