"""Provider credentials and endpoints, read only from the environment, and the log filter
that keeps them out of logs.

Nothing here is read from a config file: ``config/`` is committed, credentials never are.
Secrets are ``SecretStr`` (their ``repr`` and ``str`` are ``'**********'``); an error names
the variable, never its value. A provider is *configured* when its credentials are set
(Twilio: ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN``; SendGrid: ``SENDGRID_API_KEY``;
FCM: ``FCM_SERVICE_ACCOUNT_FILE``); an unconfigured channel goes to the outbox (see
``channels.factory``).

| variable | default | |
|---|---|---|
| ``TWILIO_ACCOUNT_SID`` | | ``AC`` + 32 hex digits |
| ``TWILIO_AUTH_TOKEN`` | | secret |
| ``TWILIO_MESSAGING_SERVICE_SID`` | | ``MG`` + 32 hex digits; used instead of a From |
| ``TWILIO_FROM_NUMBER`` | | E.164; used when a school has no alphanumeric sender id |
| ``TWILIO_BASE_URL`` | ``https://api.twilio.com`` | |
| ``TWILIO_RATE_PER_SECOND`` | none (no limit) | requests per second for the account |
| ``SENDGRID_API_KEY`` | | secret |
| ``SENDGRID_BASE_URL`` | ``https://api.sendgrid.com`` | |
| ``SENDGRID_RATE_PER_SECOND`` | none | requests (a batch is one) per second |
| ``FCM_SERVICE_ACCOUNT_FILE`` | | path of the service account JSON (secret) |
| ``FCM_PROJECT_ID`` | the JSON's ``project_id`` | |
| ``FCM_BASE_URL`` | ``https://fcm.googleapis.com`` | |
| ``FCM_RATE_PER_SECOND`` | none | |
| ``DISPATCHER_PUBLIC_BASE_URL`` | none | where providers reach our webhooks |
| ``SENDGRID_WEBHOOK_PUBLIC_KEY`` | none | the Signed Event Webhook verification key (base64) |
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispatcher.settings import SettingsError

#: The providers this build sends through (each adapter's ``name``).
PROVIDER_NAMES: Final = ("twilio", "sendgrid", "fcm")
#: The environment variables that configure them start with one of these.
PROVIDER_VARIABLE_PREFIXES: Final = ("TWILIO_", "SENDGRID_", "FCM_")

DEFAULT_TWILIO_BASE_URL: Final = "https://api.twilio.com"
DEFAULT_SENDGRID_BASE_URL: Final = "https://api.sendgrid.com"
DEFAULT_FCM_BASE_URL: Final = "https://fcm.googleapis.com"

_ACCOUNT_SID: Final = re.compile(r"AC[0-9a-fA-F]{32}")
_SERVICE_SID: Final = re.compile(r"MG[0-9a-fA-F]{32}")
_E164: Final = re.compile(r"\+[1-9][0-9]{6,14}")
_SERVICE_ACCOUNT_FIELDS: Final = ("client_email", "private_key", "token_uri")


class ProviderSettingsError(SettingsError):
    """A provider variable holds a value we cannot use; the message names the variable and
    never repeats its value."""


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError("expected an http:// or https:// URL")
    return value.rstrip("/")


class ProviderSettings(BaseSettings):
    """Every provider variable; build with ``load_provider_settings()``."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    twilio_account_sid: str | None = Field(default=None, validation_alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(default=None, validation_alias="TWILIO_AUTH_TOKEN")
    twilio_messaging_service_sid: str | None = Field(
        default=None, validation_alias="TWILIO_MESSAGING_SERVICE_SID"
    )
    twilio_from_number: str | None = Field(default=None, validation_alias="TWILIO_FROM_NUMBER")
    twilio_base_url: str = Field(
        default=DEFAULT_TWILIO_BASE_URL, validation_alias="TWILIO_BASE_URL"
    )
    twilio_rate_per_second: int | None = Field(
        default=None, ge=1, validation_alias="TWILIO_RATE_PER_SECOND"
    )
    sendgrid_api_key: SecretStr | None = Field(default=None, validation_alias="SENDGRID_API_KEY")
    sendgrid_base_url: str = Field(
        default=DEFAULT_SENDGRID_BASE_URL, validation_alias="SENDGRID_BASE_URL"
    )
    sendgrid_rate_per_second: int | None = Field(
        default=None, ge=1, validation_alias="SENDGRID_RATE_PER_SECOND"
    )
    fcm_service_account_file: Path | None = Field(
        default=None, validation_alias="FCM_SERVICE_ACCOUNT_FILE"
    )
    fcm_project_id: str | None = Field(default=None, validation_alias="FCM_PROJECT_ID")
    fcm_base_url: str = Field(default=DEFAULT_FCM_BASE_URL, validation_alias="FCM_BASE_URL")
    fcm_rate_per_second: int | None = Field(
        default=None, ge=1, validation_alias="FCM_RATE_PER_SECOND"
    )
    public_base_url: str | None = Field(default=None, validation_alias="DISPATCHER_PUBLIC_BASE_URL")
    sendgrid_webhook_public_key: str | None = Field(
        default=None, validation_alias="SENDGRID_WEBHOOK_PUBLIC_KEY"
    )

    @model_validator(mode="before")
    @classmethod
    def _blanks(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: _blank_is_none(value) for key, value in data.items()}
        return data

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT_SID.fullmatch(value):
            raise ValueError("expected AC followed by 32 hexadecimal digits")
        return value

    @field_validator("twilio_messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str | None) -> str | None:
        if value is not None and not _SERVICE_SID.fullmatch(value):
            raise ValueError("expected MG followed by 32 hexadecimal digits")
        return value

    @field_validator("twilio_from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        if value is not None and not _E164.fullmatch(value):
            raise ValueError("expected a phone number in E.164 form, like +447700900123")
        return value

    @field_validator("twilio_base_url", "sendgrid_base_url", "fcm_base_url", "public_base_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _webhook_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        key = "".join(value.split())
        try:
            public_key = serialization.load_der_public_key(base64.b64decode(key, validate=True))
        except (ValueError, TypeError, binascii.Error):
            raise ValueError(
                "expected the base64 verification key SendGrid shows under Mail Settings, "
                "Signed Event Webhook"
            ) from None
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("expected an ECDSA public key (SendGrid's Signed Event Webhook key)")
        return key

    @field_validator("fcm_service_account_file")
    @classmethod
    def _service_account_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            _read_service_account(value)  # fail at start-up, not at the first push
        return value

    @model_validator(mode="after")
    def _pairs(self) -> ProviderSettings:
        if self.twilio_account_sid and self.twilio_auth_token is None:
            raise ValueError("TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID is set")
        if self.twilio_auth_token is not None and not self.twilio_account_sid:
            raise ValueError("TWILIO_ACCOUNT_SID: required when TWILIO_AUTH_TOKEN is set")
        return self

    @property
    def twilio_configured(self) -> bool:
        """Twilio credentials are set: SMS goes through Twilio."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def sendgrid_configured(self) -> bool:
        """A SendGrid API key is set: email goes through SendGrid."""
        return self.sendgrid_api_key is not None

    @property
    def fcm_configured(self) -> bool:
        """A service account file is set: push goes through FCM."""
        return self.fcm_service_account_file is not None

    @property
    def rate_limited(self) -> bool:
        """Some provider has a rate limit, which every worker shares through Redis."""
        return any(
            rate is not None
            for rate in (
                self.twilio_rate_per_second,
                self.sendgrid_rate_per_second,
                self.fcm_rate_per_second,
            )
        )

    def fcm_service_account_info(self) -> dict[str, Any] | None:
        """The service account JSON as a dict (it holds a private key: never log it)."""
        if self.fcm_service_account_file is None:
            return None
        return _read_service_account(self.fcm_service_account_file)

    def effective_fcm_project_id(self) -> str | None:
        """``FCM_PROJECT_ID``, else the service account's ``project_id``."""
        if self.fcm_project_id:
            return self.fcm_project_id
        info = self.fcm_service_account_info()
        project = info.get("project_id") if info else None
        return str(project) if project else None


def _read_service_account(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ValueError(f"cannot read the service account file {path}") from None
    try:
        info = json.loads(text)
    except ValueError:
        raise ValueError(f"{path} is not a service account JSON file") from None
    if not isinstance(info, dict) or any(not info.get(key) for key in _SERVICE_ACCOUNT_FIELDS):
        raise ValueError(
            f"{path} is not a service account JSON file "
            f"(it needs {', '.join(_SERVICE_ACCOUNT_FIELDS)})"
        )
    return info


_FIELD_VARIABLES: Final = {
    name: str(field.validation_alias)
    for name, field in ProviderSettings.model_fields.items()
    if field.validation_alias
}


def load_provider_settings(**overrides: Any) -> ProviderSettings:
    """Read the provider variables from the environment (``overrides``, by field name, win);
    raise ``ProviderSettingsError`` naming the bad variable, never its value."""
    try:
        return ProviderSettings(**overrides)
    except ValidationError as exc:
        err = exc.errors(include_input=False)[0]
        location = str(err["loc"][0]) if err["loc"] else ""
        variable = _FIELD_VARIABLES.get(location, location)
        message = str(err["msg"]).removeprefix("Value error, ")
        if not variable:
            raise ProviderSettingsError(message) from None
        raise ProviderSettingsError(f"{variable}: {message}") from None


# --- keeping credentials out of logs ----------------------------------------------------------

#: The loggers of the SDKs the adapters drive; some log request headers at DEBUG
#: (python-http-client logs SendGrid's ``Authorization: Bearer <API key>``).
SDK_LOGGERS: Final = (
    "twilio.http_client",
    "python_http_client.client",
    "sendgrid",
    "google.auth.transport.requests",
    "google.auth._default",
    "google.oauth2._client",
    "google.oauth2.service_account",
    "urllib3.connectionpool",
    "requests",
    "channels",
)
REDACTED: Final = "**********"
_AUTH_VALUE: Final = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
_STANDARD_RECORD_FIELDS: Final = frozenset(vars(logging.makeLogRecord({})))


class SecretRedactingFilter(logging.Filter):
    """Replaces known secrets, and any ``Bearer``/``Basic`` credential, in a log record's
    message, arguments and extra fields with ``**********``; never drops a record."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Also redact these strings (blank and very short ones are ignored)."""
        with self._lock:
            self._secrets.update(s for s in secrets if s and len(s) >= 6)

    def redact(self, text: str) -> str:
        """``text`` with every secret and credential header value replaced."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, bytes):
            return self.redact(value.decode("utf-8", "replace"))
        if isinstance(value, Mapping):
            return {
                key: REDACTED
                if isinstance(key, str) and key.lower() in ("authorization", "private_key")
                else self._clean(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return type(value)(self._clean(item) for item in value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        text = str(value)
        cleaned = self.redact(text)
        return value if cleaned == text else cleaned

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        elif record.msg is not None:
            record.msg = self._clean(record.msg)
        if isinstance(record.args, Mapping):
            record.args = self._clean(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(self._clean(arg) for arg in record.args)
        for key in list(vars(record)):
            if key not in _STANDARD_RECORD_FIELDS:
                setattr(record, key, self._clean(getattr(record, key)))
        return True


_FILTER: Final = SecretRedactingFilter()


def protect_logs(secrets: Iterable[str | SecretStr | None] = ()) -> SecretRedactingFilter:
    """Attach the redacting filter to every SDK logger in ``SDK_LOGGERS`` (once) and add
    ``secrets`` to what it redacts. Adapters call it with their credentials."""
    plain = [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets]
    _FILTER.add_secrets(s for s in plain if s)
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER
