"""The settings of config.toml by dotted name (``delivery.mode``): read, change, explain.

Changes go through tomlkit, so the file keeps its comments and layout, and are
checked by the same models that check the file when it is loaded. A value set
here can still be overridden by ``TWOFA_<SECTION>__<KEY>``; ``source`` says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, get_origin

from pydantic import ValidationError

from twofa_cli.config import (
    HOME_ENV,
    Layers,
    Settings,
    describe_errors,
    load_layers,
    section_models,
    settings_from,
)
from twofa_cli.errors import BadInput, NotInitialised
from twofa_cli.security import mask_url, write_private_file

COMPANY_NAME = "company-name"  # kept in the store, not in config.toml
HOME = "home"
# Names `config show` prints that are read here but changed elsewhere, and where.
READ_ONLY = {
    "customer-allowed": "is changed by `twofa customer enable` or `twofa customer disable`",
    "admin-allowed": "is changed by `twofa admin enable` or `twofa admin disable`",
    HOME: "is chosen by `twofa --home PATH` or TWOFA_HOME, not by a setting",
}


def setting_keys() -> list[str]:
    return [f"{section}.{key}" for section, model in section_models().items()
            for key in model.model_fields]


def split_key(key: str) -> tuple[str, str]:
    """``("delivery", "mode")`` for ``delivery.mode``; BadInput naming every key otherwise."""
    if key in setting_keys():
        section, _, name = key.partition(".")
        return section, name
    if key in READ_ONLY:
        raise BadInput(f"{key} {READ_ONLY[key]}")
    raise BadInput(f"unknown setting {key[:40]!r}: choose {COMPANY_NAME}, "
                   f"{', '.join(READ_ONLY)} or a config.toml key: {', '.join(setting_keys())}")


def _initialised_layers(home: str | Path | None) -> Layers:
    layers = load_layers(home)
    if not layers.config_file.is_file():
        raise NotInitialised(f"{layers.home} is not a twofa home: run `twofa init`")
    return layers


def _shown(settings: Settings, section: str, key: str) -> Any:
    """The effective value, secrets masked: an empty ``database.url`` is the home's SQLite file."""
    if (section, key) == ("database", "url"):
        return mask_url(settings.database_url)
    return getattr(getattr(settings, section), key)


def _home_setting(home: str | Path | None) -> dict:
    layers = _initialised_layers(home)
    source = ("option --home" if home else f"environment {HOME_ENV}" if os.environ.get(HOME_ENV)
              else "default")
    return {"key": HOME, "value": str(layers.home), "source": source}


def get_setting(home: str | Path | None, key: str) -> dict:
    """The effective value of ``key`` (a config.toml key, or ``home``) and where it comes from."""
    if key == HOME:
        return _home_setting(home)
    section, name = split_key(key)
    layers = _initialised_layers(home)
    return {"key": key, "value": _shown(settings_from(layers), section, name),
            "source": layers.source(section, name)}


def describe(settings: Settings, layers: Layers) -> list[dict]:
    """Every setting with its effective value and its source (secrets masked)."""
    rows = []
    for dotted in setting_keys():
        section, name = dotted.split(".")
        rows.append({"setting": dotted, "value": _shown(settings, section, name),
                     "source": layers.source(section, name)})
    return rows


def parse_value(key: str, raw: str) -> Any:
    """A value typed on the command line, for ``key``: lists are comma-separated."""
    section, name = split_key(key)
    annotation = section_models()[section].model_fields[name].annotation
    if get_origin(annotation) is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def check_file_values(layers: Layers, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (dotted key -> value) as config.toml would hold them once checked."""
    data = {section: dict(entries) for section, entries in layers.file.items()}
    for key, value in values.items():
        section, name = split_key(key)
        data.setdefault(section, {})[name] = value
    try:
        checked = Settings(home=layers.home, **data)
    except ValidationError as exc:
        raise BadInput(describe_errors(exc)) from None
    return {key: getattr(getattr(checked, key.split(".")[0]), key.split(".")[1])
            for key in values}


def write_file_values(layers: Layers, values: dict[str, Any], *, remove: tuple[str, ...] = ()) -> None:
    """Set (and remove) keys of config.toml in place, keeping comments and layout."""
    import tomlkit

    path = layers.config_file
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    for key, value in values.items():
        section, name = split_key(key)
        if section not in document:
            document.add(section, tomlkit.table())
        document[section][name] = value
    for key in remove:
        section, name = split_key(key)
        if section in document and name in document[section]:
            del document[section][name]
    write_private_file(path, tomlkit.dumps(document))


def set_setting(home: str | Path | None, key: str, raw: str) -> dict:
    split_key(key)
    layers = _initialised_layers(home)
    checked = check_file_values(layers, {key: parse_value(key, raw)})
    write_file_values(layers, checked)
    return get_setting(home, key)


def unset_setting(home: str | Path | None, key: str) -> dict:
    """Remove ``key`` from config.toml: its default (or environment) value applies again."""
    split_key(key)
    layers = _initialised_layers(home)
    write_file_values(layers, {}, remove=(key,))
    return get_setting(home, key)


def file_settings(layers: Layers) -> dict[str, Any]:
    """The values config.toml itself sets (not the environment's, not defaults), checked."""
    present = {f"{section}.{name}": value for section, entries in layers.file.items()
               for name, value in entries.items()}
    return check_file_values(layers, present)
