"""Deployment configuration: where state lives and the tunable limits.

Layered as option > ``TWOFA_*`` environment > ``config.toml`` > defaults.
Every key, with its default and bounds, is documented in config.example.toml.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from twofa_cli.errors import BadInput, NotInitialised

CONFIG_FILE = "config.toml"
DATABASE_FILE = "twofa.db"
KEY_FILE = "secret.key"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(_Section):
    url: str = ""


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


class TrustedDevicesConfig(_Section):
    ttl_days: int = Field(30, ge=1, le=365)


class SmsConfig(_Section):
    allowed_countries: list[str] = []

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

    def password(self) -> str:
        return os.environ.get(self.password_env, "") if self.password_env else ""


class Settings(_Section):
    home: Path
    database: DatabaseConfig = DatabaseConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    codes: CodesConfig = CodesConfig()
    lockout: LockoutConfig = LockoutConfig()
    throttle: ThrottleConfig = ThrottleConfig()
    trusted_devices: TrustedDevicesConfig = TrustedDevicesConfig()
    sms: SmsConfig = SmsConfig()
    smtp: SmtpConfig = SmtpConfig()

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
    if env := os.environ.get("TWOFA_HOME"):
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("twofa", appauthor=False))


def load_settings(home: str | Path | None = None, *, database_url: str | None = None) -> Settings:
    """Read ``config.toml`` under the home (missing file: defaults) and apply overrides."""
    home_path = resolve_home(home)
    data: dict = {}
    path = home_path / CONFIG_FILE
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BadInput(f"{path} is not valid TOML: {exc}") from None
    url = database_url or os.environ.get("TWOFA_DATABASE_URL")
    if url:
        data.setdefault("database", {})["url"] = url
    try:
        return Settings(home=home_path, **data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise BadInput(f"{path}: {problems}") from None


def load_initialised_settings(home: str | Path | None = None, *,
                              database_url: str | None = None) -> Settings:
    """``load_settings`` for a home that `twofa init` has set up; a hint to run it otherwise."""
    settings = load_settings(home, database_url=database_url)
    if not settings.config_file.is_file():
        raise NotInitialised(f"{settings.home} is not a twofa home: run `twofa init`")
    return settings


def example_config_text() -> str:
    return resources.files("twofa_cli").joinpath("config.example.toml").read_text(encoding="utf-8")
