"""Settings from the environment (docs/operations/settings.md lists every variable).

``DATABASE_URL`` defaults to SQLite in the data directory; ``REDIS_URL`` to an embedded Redis
shared through the data directory; the ``DISPATCHER_*`` variables set directories and the
timings of the recovery sweep.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class SettingsError(Exception):
    """An environment variable holds a value we cannot use; the message names it."""


class Settings(BaseSettings):
    """Everything the dispatcher reads from the environment."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    data_dir: Path = Field(default=Path("var"), validation_alias="DISPATCHER_DATA_DIR")
    config_dir: Path = Field(default=Path("config"), validation_alias="DISPATCHER_CONFIG_DIR")
    templates_dir: Path = Field(
        default=Path("templates"), validation_alias="DISPATCHER_TEMPLATES_DIR"
    )
    sending_grace_seconds: float = Field(
        default=300.0, ge=0, validation_alias="DISPATCHER_SENDING_GRACE_SECONDS"
    )
    sweep_interval_seconds: float = Field(
        default=30.0, gt=0, validation_alias="DISPATCHER_SWEEP_INTERVAL_SECONDS"
    )
    heartbeat_timeout_seconds: float = Field(
        default=10.0, gt=0, validation_alias="DISPATCHER_HEARTBEAT_TIMEOUT_SECONDS"
    )
    #: How long a send whose answer was lost waits for the provider's status callback
    #: before it is sent again (flagged as possibly twice); decision 0056.
    unconfirmed_wait_seconds: float = Field(
        default=60.0, ge=0, validation_alias="DISPATCHER_UNCONFIRMED_WAIT_SECONDS"
    )
    #: Calendar months after which the texts, numbers and addresses of what was sent are
    #: erased and only counts remain; decision 0078.
    retention_months: int = Field(
        default=13, ge=1, le=120, validation_alias="DISPATCHER_RETENTION_MONTHS"
    )
    plan_batch_size: int = Field(
        default=1000, ge=1, le=50_000, validation_alias="DISPATCHER_PLAN_BATCH_SIZE"
    )
    delivery_batch_size: int = Field(
        default=25, ge=1, le=500, validation_alias="DISPATCHER_DELIVERY_BATCH_SIZE"
    )
    email_batch_size: int = Field(
        default=100, ge=1, le=1000, validation_alias="DISPATCHER_EMAIL_BATCH_SIZE"
    )

    #: Whether the console's cookies carry ``Secure`` (sent over HTTPS only). Off only for a
    #: console reached over plain http on another machine than the browser's; decision 0079.
    console_secure_cookies: bool = Field(
        default=True, validation_alias="DISPATCHER_CONSOLE_SECURE_COOKIES"
    )
    #: A console session ends after this many minutes without a request.
    console_idle_minutes: float = Field(
        default=30.0, gt=0, le=24 * 60, validation_alias="DISPATCHER_CONSOLE_IDLE_MINUTES"
    )
    #: A console session ends this many hours after its sign-in, however busy.
    console_session_hours: float = Field(
        default=12.0, gt=0, le=7 * 24, validation_alias="DISPATCHER_CONSOLE_SESSION_HOURS"
    )
    #: Sign-in attempts (passwords and codes) one client address may make in 15 minutes.
    console_attempts_per_address: int = Field(
        default=30, ge=1, le=10_000, validation_alias="DISPATCHER_CONSOLE_ATTEMPTS_PER_ADDRESS"
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "expected a URL like postgresql://user@host/db or sqlite:///path"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("expected a sqlite:// or postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a URL like redis://127.0.0.1:6379/0")
        return value

    @property
    def effective_database_url(self) -> str:
        """The database URL to use: ``DATABASE_URL`` or the SQLite file in the data dir."""
        if self.database_url:
            url = make_url(self.database_url)
            if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg")
            return url.render_as_string(hide_password=False)
        return f"sqlite:///{(self.data_dir / 'dispatcher.sqlite3').resolve()}"

    @property
    def outbox_dir(self) -> Path:
        """Where the outbox channel appends its JSON lines."""
        return self.data_dir / "outbox"


_ALIASES = {
    "database_url": "DATABASE_URL",
    "redis_url": "REDIS_URL",
    "data_dir": "DISPATCHER_DATA_DIR",
    "config_dir": "DISPATCHER_CONFIG_DIR",
    "templates_dir": "DISPATCHER_TEMPLATES_DIR",
    "sending_grace_seconds": "DISPATCHER_SENDING_GRACE_SECONDS",
    "sweep_interval_seconds": "DISPATCHER_SWEEP_INTERVAL_SECONDS",
    "plan_batch_size": "DISPATCHER_PLAN_BATCH_SIZE",
    "delivery_batch_size": "DISPATCHER_DELIVERY_BATCH_SIZE",
    "email_batch_size": "DISPATCHER_EMAIL_BATCH_SIZE",
    "heartbeat_timeout_seconds": "DISPATCHER_HEARTBEAT_TIMEOUT_SECONDS",
    "unconfirmed_wait_seconds": "DISPATCHER_UNCONFIRMED_WAIT_SECONDS",
    "console_secure_cookies": "DISPATCHER_CONSOLE_SECURE_COOKIES",
    "console_idle_minutes": "DISPATCHER_CONSOLE_IDLE_MINUTES",
    "console_session_hours": "DISPATCHER_CONSOLE_SESSION_HOURS",
    "console_attempts_per_address": "DISPATCHER_CONSOLE_ATTEMPTS_PER_ADDRESS",
    "retention_months": "DISPATCHER_RETENTION_MONTHS",
}


def load_settings() -> Settings:
    """Read settings from the environment; raise ``SettingsError`` naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = str(err["loc"][0]) if err["loc"] else ""
        variable = _ALIASES.get(field_name, field_name)
        message = str(err["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{variable}: {message}") from None
