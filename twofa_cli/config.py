"""Deployment configuration: where state lives and the tunable limits.

Layered as option > ``TWOFA_*`` environment > ``config.toml`` > defaults: every
setting ``[section] key`` is overridden by ``TWOFA_<SECTION>__<KEY>`` (read with
pydantic-settings), the database URL also by ``TWOFA_DATABASE_URL``. Every key,
with its default and bounds, is documented in config.example.toml.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twofa_cli import validate
from twofa_cli.errors import BadInput, NotInitialised
from twofa_cli.files import CONFIG_FILE, DATABASE_FILE, KEY_FILE


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(_Section):
    url: str = ""

    @field_validator("url")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # A newline would be written into config.toml by `init` and break every later command.
        return validate.no_control(value, "the database URL")


class DeliveryConfig(_Section):
    mode: Literal["simulate", "live"] = "simulate"
    timeout_seconds: float = Field(10, ge=1, le=120)


class CodesConfig(_Section):
    length: int = Field(6, ge=6, le=10)
    ttl_seconds: int = Field(600, ge=60, le=900)
    max_attempts: int = Field(5, ge=1, le=10)


class LockoutConfig(_Section):
    max_failures: int = Field(10, ge=1, le=100)
    lock_seconds: int = Field(900, ge=60, le=86400)
    # Each lock after another, with no success between, lasts twice as long, up to this.
    max_lock_seconds: int = Field(86400, ge=60, le=604800)


class ThrottleConfig(_Section):
    resend_interval_seconds: int = Field(30, ge=0, le=3600)
    max_sends_per_challenge: int = Field(5, ge=1, le=20)
    max_per_destination_per_hour: int = Field(10, ge=1, le=100)
    provider_hourly_cap: int = Field(1000, ge=1, le=1_000_000)
    # New challenges (enroll, login) of one account: an interval, unless the last one
    # was completed, and an hourly cap.
    challenge_interval_seconds: int = Field(30, ge=0, le=3600)
    max_challenges_per_account_per_hour: int = Field(10, ge=1, le=1000)


class SessionConfig(_Section):
    # A login session ends after this long without use, and this long after it began.
    idle_minutes: int = Field(30, ge=1, le=1440)
    max_hours: int = Field(12, ge=1, le=720)
    # Sensitive changes ask for the password again unless it was given this recently.
    reauth_minutes: int = Field(10, ge=0, le=1440)


class LoginConfig(_Section):
    # Failed passwords per hour from one client before each further one waits; the waits
    # double up to max_wait_seconds. The account as a whole (every client together) has
    # account_free_failures, at least twice as many.
    free_failures: int = Field(5, ge=1, le=100)
    account_free_failures: int = Field(20, ge=2, le=1000)
    max_wait_seconds: int = Field(900, ge=1, le=86400)

    @model_validator(mode="after")
    def _account_budget_is_larger(self) -> LoginConfig:
        if self.account_free_failures < 2 * self.free_failures:
            raise ValueError(f"login.account_free_failures ({self.account_free_failures}) must be "
                             f"at least twice login.free_failures ({self.free_failures}), so one "
                             "client cannot lock the owner out")
        return self


class TrustedDevicesConfig(_Section):
    ttl_days: int = Field(30, ge=1, le=365)


class SmsConfig(_Section):
    allowed_countries: list[str] = []
    # SMS codes to one country in an hour, every provider together; 0: no budget. SMS
    # pumping fraud sends to expensive destinations: a budget stops it at the first hour.
    max_per_country_per_hour: int = Field(0, ge=0, le=1_000_000)

    @field_validator("allowed_countries")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [code.upper() for code in value]


class SmtpConfig(_Section):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password_env: str = "TWOFA_SMTP_PASSWORD"
    from_address: str = "no-reply@localhost"
    ca_file: str = ""

    @field_validator("host", "username", "password_env", "from_address", "ca_file")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # Each ends in an SMTP command or header (or names a file or variable): a CR/LF
        # there would add a header (Bcc:) or a command of the attacker's (rule 34).
        return validate.no_control(value, "the value")

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        return validate.sender_address(value)

    def password(self) -> str:
        return os.environ.get(self.password_env, "") if self.password_env else ""


class WebauthnConfig(_Section):
    """Passkeys (services/passkeys.py). The RP ID is the host name passkeys are bound to;
    a browser on another host name cannot use them (that is what stops phishing)."""

    rp_id: str = "localhost"
    rp_name: str = "twofa"
    # Empty: any http(s) origin whose host is the rp_id (any port).
    origins: list[str] = []
    user_verification: Literal["preferred", "required"] = "preferred"
    passwordless: bool = False  # "Sign in with a passkey" on /login
    timeout_seconds: int = Field(300, ge=30, le=900)  # a challenge's life

    @field_validator("rp_id", "rp_name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return validate.no_control(value, "the value")

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            validate.no_control(origin, "an origin")
            if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ValueError(f"an origin is scheme://host[:port], not {origin[:60]!r}")
        return value


class WebConfig(_Section):
    # Where the internet reaches `twofa serve` (https, or http to this machine): live
    # Twilio sends ask for status callbacks at this URL + /hooks/twilio/status. Empty: none.
    public_url: str = ""

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        # It is signed by Twilio and compared byte for byte: a URL policy like a
        # provider's, and no control character (rule 34).
        value = validate.no_control(value, "web.public_url").strip()
        return validate.provider_url(value, "web.public_url") if value else ""


class Settings(_Section):
    home: Path
    database: DatabaseConfig = DatabaseConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    codes: CodesConfig = CodesConfig()
    lockout: LockoutConfig = LockoutConfig()
    throttle: ThrottleConfig = ThrottleConfig()
    trusted_devices: TrustedDevicesConfig = TrustedDevicesConfig()
    session: SessionConfig = SessionConfig()
    login: LoginConfig = LoginConfig()
    sms: SmsConfig = SmsConfig()
    smtp: SmtpConfig = SmtpConfig()
    webauthn: WebauthnConfig = WebauthnConfig()
    web: WebConfig = WebConfig()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.home / DATABASE_FILE}"

    @property
    def key_file(self) -> Path:
        return self.home / KEY_FILE

    @property
    def config_file(self) -> Path:
        return self.home / CONFIG_FILE

    def public(self) -> dict:
        """The effective configuration with secrets masked (for ``config show``)."""
        from twofa_cli.security import mask_url

        data = self.model_dump(mode="json")
        data["database"]["url"] = mask_url(self.database_url)
        return data


def resolve_home(home: str | Path | None = None) -> Path:
    if home:
        return Path(home).expanduser()
    if env := os.environ.get(HOME_ENV):
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("twofa", appauthor=False))


ENV_PREFIX = "TWOFA_"
DATABASE_URL_ENV = "TWOFA_DATABASE_URL"
HOME_ENV = "TWOFA_HOME"


@dataclass(frozen=True)
class Layers:
    """Where settings come from, highest first: option, environment, config.toml."""

    home: Path
    file: dict
    environment: dict
    option: dict

    @property
    def config_file(self) -> Path:
        return self.home / CONFIG_FILE

    def merged(self) -> dict:
        data: dict = {}
        for layer in (self.file, self.environment, self.option):
            for section, values in layer.items():
                data.setdefault(section, {}).update(values)
        return data

    def source(self, section: str, key: str) -> str:
        """Where the effective value of ``section.key`` comes from, as a user would name it."""
        if key in self.option.get(section, {}):
            return "option --database-url"
        if key in self.environment.get(section, {}):
            return f"environment {self.environment_name(section, key)}"
        if key in self.file.get(section, {}):
            return "config.toml"
        return "default"

    def environment_name(self, section: str, key: str) -> str:
        if (section, key) == ("database", "url") and os.environ.get(DATABASE_URL_ENV):
            return DATABASE_URL_ENV
        return f"{ENV_PREFIX}{section}__{key}".upper()


def section_models() -> dict[str, type[_Section]]:
    """The sections of config.toml and their models, in the file's order."""
    return {name: field.annotation for name, field in Settings.model_fields.items()
            if name != "home"}


def read_config_file(path: Path) -> dict:
    """config.toml as a dict of sections (missing file: empty); a wrong shape is BadInput."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses arrays and inline tables recursively
        raise BadInput(f"{path}: {validate.TOO_DEEP}") from None
    sections = section_models()
    for name, value in data.items():
        if name not in sections:
            raise BadInput(f"{path}: unknown section {name[:40]!r}: "
                           f"expected {', '.join(sections)}")
        if not isinstance(value, dict):
            raise BadInput(f"{path}: {name} must be a table ([{name}]), "
                           f"not a {type(value).__name__}")
    return data


def _environment() -> dict:
    """The ``TWOFA_<SECTION>__<KEY>`` variables, as sections (values still strings)."""
    found: dict = {}
    sections = section_models()
    names = {name.upper() for name in os.environ}
    # Importing pydantic-settings costs every command a few per cent of its start-up:
    # only when a variable names a section.
    if any(name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX):].split("__")[0].lower()
           in sections for name in names):
        from pydantic_settings import EnvSettingsSource
        from pydantic_settings.exceptions import SettingsError

        try:
            source = EnvSettingsSource(Settings, env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                       case_sensitive=False)
            source.env_vars = {name: _comma_list(name, value, sections)
                               for name, value in source.env_vars.items()}
            found = source()
        except SettingsError:
            raise BadInput(f"{_variable_in_error(sections)} is not valid: give a value of its "
                           "setting's type (lists comma-separated: US,CA)") from None
        except RecursionError:  # a list variable is JSON, parsed recursively
            raise BadInput(f"{_deepest_variable(sections)}: {validate.TOO_DEEP}") from None
        found.pop("home", None)  # TWOFA_HOME is resolve_home's
    for name, value in found.items():
        if not isinstance(value, dict):  # e.g. TWOFA_DELIVERY=live: a section, not a value
            raise BadInput(f"{ENV_PREFIX}{name.upper()} is not a setting: "
                           f"use {ENV_PREFIX}{name.upper()}__<KEY>")
    if url := os.environ.get(DATABASE_URL_ENV):
        found.setdefault("database", {})["url"] = url
    return found


def _deepest_variable(sections) -> str:
    """The name of the ``TWOFA_<SECTION>__*`` variable with the most brackets (what a
    RecursionError while reading them came from)."""
    names = [name for name in os.environ if name.upper().startswith(ENV_PREFIX)
             and name[len(ENV_PREFIX):].split("__")[0].lower() in sections]
    return max(names, key=lambda name: os.environ[name].count("[") + os.environ[name].count("{"))


def _list_variables(sections: dict[str, type[_Section]]) -> dict[str, str]:
    """The environment names (lower-case) of the list settings: "twofa_sms__allowed_countries"."""
    return {f"{ENV_PREFIX}{section}__{key}".lower(): f"{section}.{key}"
            for section, model in sections.items()
            for key, field in model.model_fields.items()
            if getattr(field.annotation, "__origin__", None) is list}


def _comma_list(name: str, value: str | None, sections: dict[str, type[_Section]]) -> str | None:
    """A list setting's variable as the JSON that pydantic-settings reads: the contract's
    form is comma-separated (US,CA); a JSON list ([\"US\", \"CA\"]) is taken as it is."""
    if value is None or name not in _list_variables(sections) or value.lstrip().startswith("["):
        return value
    import json

    return json.dumps([item.strip() for item in value.split(",") if item.strip()])


def _variable_in_error(sections: dict[str, type[_Section]]) -> str:
    """The TWOFA_<SECTION>__<KEY> variables set, named for an error message."""
    prefixes = tuple(f"{ENV_PREFIX}{section}__".upper() for section in sections)
    named = sorted(name for name in os.environ if name.upper().startswith(prefixes))
    return ", ".join(named[:3]) or f"a {ENV_PREFIX}* environment variable"


def load_layers(home: str | Path | None = None, *, database_url: str | None = None) -> Layers:
    home_path = resolve_home(home)
    return Layers(
        home=home_path,
        file=read_config_file(home_path / CONFIG_FILE),
        environment=_environment(),
        option={"database": {"url": database_url}} if database_url else {},
    )


def load_settings(home: str | Path | None = None, *, database_url: str | None = None) -> Settings:
    """Read ``config.toml`` under the home (missing file: defaults) and apply overrides."""
    return settings_from(load_layers(home, database_url=database_url))


def settings_from(layers: Layers) -> Settings:
    try:
        return Settings(home=layers.home, **layers.merged())
    except ValidationError as exc:
        raise BadInput(f"{layers.config_file}: {describe_errors(exc, layers)}") from None


def describe_errors(exc: ValidationError, layers: Layers | None = None) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if layers and len(err["loc"]) >= 2:
            source = layers.source(str(err["loc"][0]), str(err["loc"][1]))
            if source.startswith("environment"):
                where += f" (from {source.removeprefix('environment ')})"
        problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def load_initialised_settings(home: str | Path | None = None, *,
                              database_url: str | None = None) -> Settings:
    """``load_settings`` for a home that `twofa init` has set up; a hint to run it otherwise.
    A home that is unsafe to use (a symlink, someone else's, open to others) is refused."""
    from twofa_cli.files import check_home

    check_home(resolve_home(home))
    settings = load_settings(home, database_url=database_url)
    if not settings.config_file.is_file():
        raise NotInitialised(f"{settings.home} is not a twofa home: run `twofa init`")
    return settings


def example_config_text() -> str:
    return resources.files("twofa_cli").joinpath("config.example.toml").read_text(encoding="utf-8")
