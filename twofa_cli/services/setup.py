"""Creating a twofa home and keeping its schema current."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from twofa_cli.config import example_config_text, load_initialised_settings, load_settings, resolve_home
from twofa_cli.files import (PRIVATE_DIR, check_home, inspect, make_private_folder, read_private,
                             write_private)
from twofa_cli.security import SECRET_KEY_ENV, SecretKey, load_secret_key, mask_url
from twofa_cli.store import current_key, schema
from twofa_cli.store.engine import connect, make_engine, transaction


def initialise(home: str | Path | None = None, *, database_url: str | None = None) -> dict:
    """Create home (0700), key (0600), config.toml and the schema; safe to run again.

    An existing home is checked first (files.py): one that is a symlink, someone
    else's, or writable by others is refused, never taken over.
    """
    home_path = resolve_home(home)
    check_home(home_path)
    settings = load_settings(home_path, database_url=database_url)  # a bad URL stops here, first
    env_key = os.environ.get(SECRET_KEY_ENV)
    if env_key:
        SecretKey(env_key)  # a malformed key fails before anything is created
    _reach_server(settings.database_url)
    created = []
    if make_private_folder(home_path, parents=True):
        created.append("home")
    elif stat.S_IMODE(home_path.stat().st_mode) != PRIVATE_DIR:
        os.chmod(home_path, PRIVATE_DIR)  # only readable by others (checked): tighten it

    new_config = inspect(settings.config_file) is None
    if new_config:
        created.append("config")

    if env_key:
        key_source = "environment"
        key = SecretKey(env_key)
    else:
        if inspect(settings.key_file, secret=True) is None:
            # link, not rename: a key another `init` wrote meanwhile is kept, not replaced
            if write_private(settings.key_file, SecretKey.generate(), replace=False):
                created.append("key")
        key = load_secret_key(settings.key_file)
        key_source = str(settings.key_file)

    settings = load_settings(home_path, database_url=database_url)
    engine = make_engine(settings.database_url)
    try:
        before, after = schema.upgrade(engine)
        if before is None:  # a fresh store: its values will be under this key
            with transaction(engine) as session:
                current_key.record(session, key.key_id)
    finally:
        engine.dispose()
    if before is None:
        created.append("schema")
    # config.toml last: a database URL that did not work is never written down, so a
    # failed init leaves no half-made home that every later command would trip over.
    if new_config:
        write_private(settings.config_file, _config_text(database_url))
    elif database_url:
        text = read_private(settings.config_file).decode("utf-8")
        write_private(settings.config_file, _with_database_url(text, database_url))
    return {
        "home": str(home_path),
        "config": str(settings.config_file),
        "database": mask_url(settings.database_url),
        "key": key_source,
        "schema_revision": after,
        "upgraded_from": before if before != after else None,
        "created": created,
    }


def _reach_server(url: str) -> None:
    """Connect to a database server before anything is written, so a missing database, a
    wrong password or a server that is down leaves no half-made home (an SQLite file is
    made in place, once the home exists)."""
    if url.startswith("sqlite"):
        return
    engine = make_engine(url)
    try:
        with connect(engine):
            pass
    finally:
        engine.dispose()


def _config_text(database_url: str | None) -> str:
    text = example_config_text()
    return _with_database_url(text, database_url) if database_url else text


def _with_database_url(text: str, url: str) -> str:
    line = f"url = {_toml_string(url)}"
    return re.sub(r"(?m)^url = .*$", lambda _: line, text, count=1)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _engine_for(home, database_url, *, existing: bool = False):
    """The settings and an engine; ``existing``: for a read, which must not create a database."""
    from twofa_cli.runtime import require_database

    settings = load_initialised_settings(home, database_url=database_url)
    if existing:
        require_database(settings.database_url)
    return settings, make_engine(settings.database_url)


def db_status(home: str | Path | None = None, *, database_url: str | None = None) -> dict:
    settings, engine = _engine_for(home, database_url, existing=True)
    try:
        current = schema.current_revision(engine)
    finally:
        engine.dispose()
    return {
        "database": mask_url(settings.database_url),
        "schema_revision": current,
        "head_revision": schema.HEAD_REVISION,
        "up_to_date": current == schema.HEAD_REVISION,
        "upgraded_from": None,
    }


def db_upgrade(home: str | Path | None = None, *, database_url: str | None = None) -> dict:
    settings, engine = _engine_for(home, database_url)
    try:
        before, after = schema.upgrade(engine)
    finally:
        engine.dispose()
    return {
        "database": mask_url(settings.database_url),
        "schema_revision": after,
        "head_revision": schema.HEAD_REVISION,
        "up_to_date": after == schema.HEAD_REVISION,
        "upgraded_from": before if before != after else None,
    }
