"""Settings from the environment and audience specifications: clear one-line errors."""

from __future__ import annotations

import pytest

from dispatcher.audience import AudienceError, AudienceSelector, parse_audience
from dispatcher.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("DATABASE_URL", "not a url"),
        ("REDIS_URL", "localhost:6379"),
        ("DISPATCHER_SENDING_GRACE_SECONDS", "soon"),
        ("DISPATCHER_PLAN_BATCH_SIZE", "0"),
    ],
)
def test_a_wrong_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "DISPATCHER_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_database_url.endswith("var/dispatcher.sqlite3")
    assert settings.redis_url is None


def test_postgres_url_gets_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1/db")
    assert load_settings().effective_database_url.startswith("postgresql+psycopg://")


def test_audience_specs() -> None:
    assert parse_audience(
        ["school", "year:R", "class:6B", "group:trip-paris", "student:S1", "year:6", "year:6"]
    ) == (
        AudienceSelector("school"),
        AudienceSelector("year", "0"),
        AudienceSelector("class", "6B"),
        AudienceSelector("group", "trip-paris"),
        AudienceSelector("student", "S1"),
        AudienceSelector("year", "6"),
    )


@pytest.mark.parametrize("spec", ["", "yr:6", "year:", "year:twelve", "year:15", "class"])
def test_bad_audience_quotes_the_spec(spec: str) -> None:
    with pytest.raises(AudienceError) as caught:
        parse_audience([spec])
    assert repr(spec) in str(caught.value)


def test_no_audience() -> None:
    with pytest.raises(AudienceError):
        parse_audience([])
