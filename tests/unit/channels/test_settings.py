"""Provider settings from the environment, and keeping credentials out of logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from dispatcher.channels.settings import (
    REDACTED,
    ProviderSettingsError,
    SecretRedactingFilter,
    load_provider_settings,
    protect_logs,
)

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-never-printed"
SG_KEY = "SG.sendgrid-key-never-printed"
VARIABLES = [
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_FROM_NUMBER",
    "TWILIO_BASE_URL",
    "TWILIO_RATE_PER_SECOND",
    "SENDGRID_API_KEY",
    "SENDGRID_BASE_URL",
    "SENDGRID_RATE_PER_SECOND",
    "FCM_SERVICE_ACCOUNT_FILE",
    "FCM_PROJECT_ID",
    "FCM_BASE_URL",
    "FCM_RATE_PER_SECOND",
    "DISPATCHER_PUBLIC_BASE_URL",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def service_account(path: Path, project: str = "school-app") -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": project,
                "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
                "-----END PRIVATE KEY-----\n",
                "client_email": "push@school-app.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


def test_nothing_configured_by_default() -> None:
    settings = load_provider_settings()
    assert not settings.twilio_configured
    assert not settings.sendgrid_configured
    assert not settings.fcm_configured
    assert settings.twilio_base_url == "https://api.twilio.com"
    assert settings.sendgrid_base_url == "https://api.sendgrid.com"
    assert settings.fcm_base_url == "https://fcm.googleapis.com"


def test_everything_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+447700900999")
    monkeypatch.setenv("TWILIO_BASE_URL", "http://127.0.0.1:9999/")
    monkeypatch.setenv("TWILIO_RATE_PER_SECOND", "20")
    monkeypatch.setenv("SENDGRID_API_KEY", SG_KEY)
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT_FILE", str(service_account(tmp_path / "sa.json")))
    monkeypatch.setenv("DISPATCHER_PUBLIC_BASE_URL", "https://dispatch.example.org")
    monkeypatch.setenv("TWILIO_MESSAGING_SERVICE_SID", "")  # blank means unset
    settings = load_provider_settings()
    assert settings.twilio_configured and settings.sendgrid_configured and settings.fcm_configured
    assert settings.twilio_base_url == "http://127.0.0.1:9999"
    assert settings.twilio_rate_per_second == 20
    assert settings.twilio_messaging_service_sid is None
    assert settings.effective_fcm_project_id() == "school-app"
    assert settings.public_base_url == "https://dispatch.example.org"
    shown = repr(settings) + str(settings)
    assert TOKEN not in shown and SG_KEY not in shown and "PRIVATE KEY" not in shown


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TWILIO_ACCOUNT_SID", "not-a-sid", "TWILIO_ACCOUNT_SID: expected AC"),
        ("TWILIO_FROM_NUMBER", "07700900999", "TWILIO_FROM_NUMBER: expected a phone number"),
        ("TWILIO_MESSAGING_SERVICE_SID", "MG123", "TWILIO_MESSAGING_SERVICE_SID: expected MG"),
        ("SENDGRID_BASE_URL", "ftp://x", "SENDGRID_BASE_URL: expected an http"),
        ("FCM_RATE_PER_SECOND", "0", "FCM_RATE_PER_SECOND: "),
        (
            "FCM_SERVICE_ACCOUNT_FILE",
            "/nonexistent/sa.json",
            "FCM_SERVICE_ACCOUNT_FILE: cannot read",
        ),
    ],
)
def test_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ProviderSettingsError) as caught:
        load_provider_settings()
    assert str(caught.value).startswith(message)


def test_a_token_without_its_account_is_an_error_that_never_shows_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    with pytest.raises(ProviderSettingsError) as caught:
        load_provider_settings()
    assert str(caught.value).startswith("TWILIO_ACCOUNT_SID: required")
    assert TOKEN not in str(caught.value)


def test_a_service_account_file_that_is_not_json_names_the_file_not_its_content(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "sa.json"
    bad.write_text("private-key-material-that-is-not-json")
    monkeypatch.setenv("FCM_SERVICE_ACCOUNT_FILE", str(bad))
    with pytest.raises(ProviderSettingsError) as caught:
        load_provider_settings()
    assert "is not a service account JSON file" in str(caught.value)
    assert "private-key-material" not in str(caught.value)


def test_the_filter_redacts_secrets_and_authorization_headers() -> None:
    redactor = SecretRedactingFilter()
    redactor.add_secrets([TOKEN])
    record = logging.makeLogRecord(
        {
            "msg": "token %s and %s",
            "args": (TOKEN, {"Authorization": "Bearer abc.def", "X": TOKEN}),
            "httpRequest": {"headers": {"authorization": "Basic QUM6dG9rZW4="}},
        }
    )
    assert redactor.filter(record)
    text = record.getMessage() + repr(vars(record))
    assert TOKEN not in text
    assert "abc.def" not in text and "QUM6dG9rZW4=" not in text
    assert REDACTED in text


def test_sdk_loggers_redact_registered_secrets(caplog: pytest.LogCaptureFixture) -> None:
    protect_logs([SG_KEY])
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("python_http_client.client").debug(
            f"HEADERS: {{'Authorization': 'Bearer {SG_KEY}'}}"
        )
        logging.getLogger("twilio.http_client").info("password=%s", SG_KEY)
    assert caplog.records
    assert SG_KEY not in caplog.text
