"""Which way each channel of a school goes (``channels.selection``): the provider the school
names, the outbox only where its file chooses it, and held (never the outbox) when a named
provider's credentials are missing. The shipped schools: only the demo uses the outbox."""

from __future__ import annotations

from pathlib import Path

from dispatcher.channels.selection import (
    OUTBOX_NOTE,
    Route,
    choose,
    held_channels,
    school_choices,
)
from dispatcher.channels.settings import ProviderSettings, load_provider_settings
from dispatcher.config.configuration import load_configuration
from dispatcher.config.schools import ProviderNames
from dispatcher.domain import Channel
from tests.support.paths import CONFIG_DIR

CONFIG = load_configuration(CONFIG_DIR)
NO_CREDENTIALS = ProviderSettings()
TWILIO_ONLY = load_provider_settings(
    twilio_account_sid="AC" + "0" * 32, twilio_auth_token="token-123456"
)


def test_the_seed_schools_name_their_real_providers_and_only_the_demo_uses_the_outbox() -> None:
    for slug, school in CONFIG.schools.items():
        assert isinstance(school.providers, ProviderNames), slug
        if slug == "demo":
            assert school.providers.missing_credentials == "outbox"
            continue
        assert school.providers.missing_credentials == "hold", slug
        assert {c: school.providers.named_for(c) for c in Channel} == {
            Channel.SMS: "twilio",
            Channel.EMAIL: "sendgrid",
            Channel.PUSH: "fcm",
        }, slug


def test_without_credentials_a_school_naming_providers_is_held_never_the_outbox() -> None:
    school = CONFIG.school("brockmoor")
    choices = school_choices(school, NO_CREDENTIALS)
    assert [c.route for c in choices] == [Route.HELD, Route.HELD, Route.HELD]
    sms = choose(school, Channel.SMS, NO_CREDENTIALS)
    assert sms.missing == ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
    assert "held" in sms.describe() and "TWILIO_AUTH_TOKEN" in sms.describe()
    assert OUTBOX_NOTE not in sms.describe()


def test_credentials_set_for_one_provider_send_that_channel_only() -> None:
    school = CONFIG.school("brockmoor")
    assert choose(school, Channel.SMS, TWILIO_ONLY).route is Route.PROVIDER
    assert choose(school, Channel.EMAIL, TWILIO_ONLY).route is Route.HELD
    held = held_channels(CONFIG.schools.values(), TWILIO_ONLY)
    assert "demo" not in held
    assert [c.channel for c in held["brockmoor"]] == [Channel.EMAIL, Channel.PUSH]
    assert [c.channel for c in held["three-dimensions"]] == [Channel.EMAIL]  # no push there


def test_the_demo_writes_to_the_outbox_only_where_credentials_are_missing() -> None:
    demo = CONFIG.school("demo")
    assert choose(demo, Channel.SMS, TWILIO_ONLY).route is Route.PROVIDER
    email = choose(demo, Channel.EMAIL, TWILIO_ONLY)
    assert email.route is Route.OUTBOX
    assert email.describe().startswith(f"email: {OUTBOX_NOTE}")
    assert "SENDGRID_API_KEY" in email.describe()


def test_a_school_choosing_the_outbox_goes_there_whatever_the_credentials() -> None:
    trial = CONFIG.school("westbourne").model_copy(
        update={"providers": ProviderNames.outbox_only()}
    )
    assert {c.route for c in school_choices(trial, TWILIO_ONLY)} == {Route.OUTBOX}
    part = CONFIG.school("westbourne").model_copy(
        update={"providers": ProviderNames(email="outbox")}
    )
    assert choose(part, Channel.SMS, TWILIO_ONLY).route is Route.PROVIDER
    assert choose(part, Channel.EMAIL, TWILIO_ONLY).describe() == (
        f"email: {OUTBOX_NOTE} (the school's file chooses the outbox)"
    )


def test_reading_the_choices_needs_no_file(tmp_path: Path) -> None:
    # Pure: nothing is written or read beyond the settings given.
    school_choices(CONFIG.school("sendat-a"), NO_CREDENTIALS)
    assert list(tmp_path.iterdir()) == []
