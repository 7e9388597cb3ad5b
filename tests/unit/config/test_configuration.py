"""Configuration: the shipped files load, and every mistake names the file, key and expectation.

Broken copies of the real ``config/`` folder are written into ``tmp_path``; each test breaks
one thing and checks that ``ConfigError`` says where (file name and key) and what was wanted.
"""

from __future__ import annotations

import shutil
from datetime import time
from pathlib import Path

import pytest

from dispatcher.config.configuration import load_configuration
from dispatcher.config.files import ConfigError
from dispatcher.domain import Channel, Urgency
from tests.support.paths import CONFIG_DIR

CATEGORIES = {
    "emergency_closure",
    "short_notice_change",
    "payment_request",
    "trip_letter",
    "consent_request",
    "term_dates",
    "event_reminder",
    "newsletter",
    "survey",
}
SCHOOLS = {
    "demo",
    "three-dimensions",
    "westbourne",
    "trent-acres",
    "sendat-a",
    "sendat-b",
    "brockmoor",
}


# --- the shipped configuration -------------------------------------------------------------


def test_shipped_config_loads_every_school_and_category() -> None:
    config = load_configuration(CONFIG_DIR)
    assert set(config.schools) == SCHOOLS
    assert set(config.policy.categories) == CATEGORIES
    for slug, school in config.schools.items():
        assert school.slug == slug


def test_shipped_categories_are_sane() -> None:
    policy = load_configuration(CONFIG_DIR).policy
    assert set(policy.categories) == CATEGORIES
    for name in ("emergency_closure", "short_notice_change"):
        category = policy.category(name)
        assert category.urgency is Urgency.URGENT
        assert category.email_backup
        assert not category.send_window_applies
        assert not category.opt_out_allowed
        assert category.escalate_to_next_contact
    for name in ("payment_request", "consent_request"):
        assert policy.category(name).requires_parental_responsibility
    for category in policy.categories.values():
        assert category.name in CATEGORIES
        if category.urgency is not Urgency.URGENT:
            assert category.send_window_applies, category.name


def test_every_shipped_school_can_send_every_category() -> None:
    """No override or channel list leaves a category with no channel at all."""
    config = load_configuration(CONFIG_DIR)
    assert set(config.schools) == SCHOOLS and set(config.policy.categories) == CATEGORIES
    # Some schools reorder the channels of a category (the order check below is not idle).
    assert any(school.channel_order for school in config.schools.values())
    for school in config.schools.values():
        for category in config.policy.categories.values():
            channels = school.channels_for(category)
            assert channels, (school.slug, category.name)
            assert len(set(channels)) == len(channels), (school.slug, category.name)
        for name, order in school.channel_order.items():
            assert order[0] in school.channels_enabled, (school.slug, name)
        assert time(7, 30) <= school.send_window.start < school.send_window.end <= time(20, 0)


def test_unknown_names_list_the_known_ones() -> None:
    config = load_configuration(CONFIG_DIR)
    with pytest.raises(KeyError, match="westbourne"):
        config.school("eastbourne")
    with pytest.raises(KeyError, match="newsletter"):
        config.policy.category("snow_day")


# --- broken copies -------------------------------------------------------------------------


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def prepend(path: Path, line: str) -> None:
    """Add a top-level key (before any [table] header, so it stays top-level)."""
    path.write_text(line + "\n" + path.read_text(encoding="utf-8"), encoding="utf-8")


def load_error(config_dir: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_configuration(config_dir)
    return info.value


def assert_names(err: ConfigError, file_name: str, key: str, *expectation: str) -> None:
    message = str(err)
    assert Path(err.file).name == file_name
    assert err.key == key
    assert file_name in message
    assert key in message
    for words in expectation:  # may be none: some callers check only the file and the key
        assert words in err.expected, (words, err.expected)


def test_unknown_urgency_names_policy_file_and_category_key(config_dir: Path) -> None:
    edit(config_dir / "policy.toml", 'urgency = "urgent"', 'urgency = "critical"')
    err = load_error(config_dir)
    assert_names(err, "policy.toml", "categories.emergency_closure.urgency", "urgent")


def test_a_school_website_that_is_not_https_names_the_file_and_key(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "westbourne.toml",
        'website = "https://www.westbourneschool.org"',
        'website = "http://www.westbourneschool.org"',
    )
    err = load_error(config_dir)
    assert_names(err, "westbourne.toml", "website", "https://")


def test_unknown_channel_in_a_category(config_dir: Path) -> None:
    edit(
        config_dir / "policy.toml",
        'channels = ["email", "push", "sms"]',
        'channels = ["email", "fax"]',
    )
    err = load_error(config_dir)
    assert_names(err, "policy.toml", "categories.trip_letter.channels.1", "sms")


def test_repeated_channel_in_a_category(config_dir: Path) -> None:
    edit(
        config_dir / "policy.toml",
        'channels = ["sms", "push", "email"]',
        'channels = ["sms", "email", "sms"]',
    )
    err = load_error(config_dir)
    assert_names(err, "policy.toml", "categories.emergency_closure.channels", "only once")


def test_unknown_key_in_a_category(config_dir: Path) -> None:
    edit(config_dir / "policy.toml", "email_backup = true", "email_bakup = true")
    err = load_error(config_dir)
    assert_names(err, "policy.toml", "categories.emergency_closure.email_bakup", "Extra inputs")


def test_unknown_top_level_table_in_policy(config_dir: Path) -> None:
    with (config_dir / "policy.toml").open("a", encoding="utf-8") as handle:
        handle.write('\n[providers]\nsms = "acme"\n')
    err = load_error(config_dir)
    assert_names(err, "policy.toml", "providers", "[categories.*]")


def test_missing_policy_file(config_dir: Path) -> None:
    (config_dir / "policy.toml").unlink()
    err = load_error(config_dir)
    assert_names(err, "policy.toml", "(file)", "readable TOML")


def test_channel_order_for_an_unknown_category(config_dir: Path) -> None:
    with (config_dir / "schools" / "westbourne.toml").open("a", encoding="utf-8") as handle:
        handle.write('\n[channel_order]\nsnow_day = ["sms", "email"]\n')
    err = load_error(config_dir)
    assert_names(err, "westbourne.toml", "channel_order.snow_day", "emergency_closure")


def test_channel_order_with_an_unknown_channel(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "brockmoor.toml",
        'payment_request = ["push", "sms", "email"]',
        'payment_request = ["app", "sms"]',
    )
    err = load_error(config_dir)
    assert_names(err, "brockmoor.toml", "channel_order.payment_request.0", "sms")


def test_send_window_end_before_start(config_dir: Path) -> None:
    edit(config_dir / "schools" / "demo.toml", 'end = "19:00"', 'end = "07:00"')
    err = load_error(config_dir)
    assert_names(err, "demo.toml", "send_window", "end must be after start")


def test_core_hours_end_equal_to_start(config_dir: Path) -> None:
    edit(config_dir / "schools" / "brockmoor.toml", 'end = "15:15"', 'end = "08:45"')
    err = load_error(config_dir)
    assert_names(err, "brockmoor.toml", "core_hours", "end must be after start")


def test_send_window_with_an_unknown_day(config_dir: Path) -> None:
    edit(config_dir / "schools" / "sendat-a.toml", '"fri"]', '"fri", "funday"]')
    err = load_error(config_dir)
    assert_names(err, "sendat-a.toml", "send_window.days", "mon")


def test_badly_written_time(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "westbourne.toml",
        'start = "08:00", end = "16:00"',
        'start = "8am", end = "16:00"',
    )
    err = load_error(config_dir)
    assert_names(err, "westbourne.toml", "core_hours.start")


def test_bad_timezone(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "trent-acres.toml",
        'timezone = "Europe/London"',
        'timezone = "Europe/Londn"',
    )
    err = load_error(config_dir)
    assert_names(err, "trent-acres.toml", "timezone", "Europe/Londn")


def test_toml_syntax_error(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "three-dimensions.toml",
        'sender_id = "3Dimension"',
        'sender_id = "3Dimension',
    )
    err = load_error(config_dir)
    assert_names(err, "three-dimensions.toml", "(syntax)", "valid TOML")


def test_unknown_key(config_dir: Path) -> None:
    prepend(config_dir / "schools" / "brockmoor.toml", 'colour = "blue"')
    err = load_error(config_dir)
    assert_names(err, "brockmoor.toml", "colour", "Extra inputs are not permitted")


def test_sender_id_over_eleven_characters(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "westbourne.toml",
        'sender_id = "Westbourne"',
        'sender_id = "WestbourneSch"',
    )
    err = load_error(config_dir)
    assert_names(err, "westbourne.toml", "sender_id", "11")


def test_missing_required_key(config_dir: Path) -> None:
    edit(config_dir / "schools" / "sendat-a.toml", 'sender_id = "SENDATSchA"', "")
    err = load_error(config_dir)
    assert_names(err, "sendat-a.toml", "sender_id", "required")


def test_unknown_channel_enabled(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "demo.toml",
        'channels_enabled = ["sms", "email", "push"]',
        'channels_enabled = ["sms", "whatsapp"]',
    )
    err = load_error(config_dir)
    assert_names(err, "demo.toml", "channels_enabled.1", "email")


def test_default_language_not_among_languages(config_dir: Path) -> None:
    edit(config_dir / "schools" / "demo.toml", 'default_language = "en"', 'default_language = "cy"')
    err = load_error(config_dir)
    assert_names(err, "demo.toml", "default_language", "languages")


def test_slug_must_match_file_name(config_dir: Path) -> None:
    prepend(config_dir / "schools" / "westbourne.toml", 'slug = "eastbourne"')
    err = load_error(config_dir)
    assert_names(err, "westbourne.toml", "slug", "westbourne")


def test_missing_schools_folder(config_dir: Path) -> None:
    shutil.rmtree(config_dir / "schools")
    err = load_error(config_dir)
    assert_names(err, "schools", "(folder)", "school TOML files")


@pytest.mark.parametrize(
    "override",
    [
        pytest.param('["push", "push", "sms"]', id="repeated-channel"),
        pytest.param("[]", id="empty"),
    ],
)
def test_channel_order_override_is_checked_like_a_category(config_dir: Path, override: str) -> None:
    edit(
        config_dir / "schools" / "brockmoor.toml",
        'payment_request = ["push", "sms", "email"]',
        f"payment_request = {override}",
    )
    try:
        load_configuration(config_dir)
    except ConfigError as err:
        assert Path(err.file).name == "brockmoor.toml"
        assert err.key.startswith("channel_order")
    else:
        raise AssertionError("a bad channel_order override was accepted")


def test_every_channel_value_is_known() -> None:
    # Guards the error-message tests above, which rely on these names.
    assert {c.value for c in Channel} == {"sms", "email", "push"}


def test_providers_must_be_the_outbox_or_a_table_of_providers(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "brockmoor.toml",
        'providers = { sms = "twilio", email = "sendgrid", push = "fcm" }',
        'providers = "live"',
    )
    err = load_error(config_dir)
    assert_names(err, "brockmoor.toml", "providers", '"outbox"', 'sms = "twilio"')


def test_a_provider_that_cannot_send_the_channel_is_refused(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "brockmoor.toml",
        'providers = { sms = "twilio", email = "sendgrid", push = "fcm" }',
        'providers = { sms = "sendgrid", email = "sendgrid", push = "fcm" }',
    )
    err = load_error(config_dir)
    assert_names(err, "brockmoor.toml", "providers.sms", "twilio", "outbox")


def test_providers_outbox_sends_every_channel_to_the_outbox(config_dir: Path) -> None:
    edit(
        config_dir / "schools" / "brockmoor.toml",
        'providers = { sms = "twilio", email = "sendgrid", push = "fcm" }',
        'providers = "outbox"',
    )
    school = load_configuration(config_dir).school("brockmoor")
    assert {school.providers.named_for(c) for c in Channel} == {"outbox"}


# --- trusts ----------------------------------------------------------------------------------


def test_the_shipped_trusts_and_their_member_schools() -> None:
    config = load_configuration(CONFIG_DIR)
    assert config.trust("sendat").name == "SENDAT"
    members = config.members("sendat")
    assert [s.slug for s in members] == ["sendat-a", "sendat-b"]
    # Each member school has its own name, phone, website, sender id, reply-to and calendar.
    for field in ("name", "phone", "website", "sender_id", "reply_to"):
        assert len({getattr(s, field) for s in members}) == 2, field
    assert all(s.slug in config.calendars for s in members)
    assert [s.slug for s in config.members("outcomes-first-group")] == [
        "three-dimensions",
        "trent-acres",
        "westbourne",
    ]
    with pytest.raises(KeyError, match="known: demo-trust, dudley-la"):
        config.members("sendta")


def test_a_school_naming_an_unknown_trust_is_named(config_dir: Path) -> None:
    edit(config_dir / "schools" / "sendat-b.toml", 'trust = "sendat"', 'trust = "sendta"')
    err = load_error(config_dir)
    assert_names(err, "sendat-b.toml", "trust", "trusts/", "sendat")


def test_a_trust_named_like_a_school_is_refused(config_dir: Path) -> None:
    shutil.copy(config_dir / "trusts" / "sendat.toml", config_dir / "trusts" / "brockmoor.toml")
    err = load_error(config_dir)
    assert_names(err, "brockmoor.toml", "(file name)", "no school uses")


def test_a_trust_without_a_name_is_named(config_dir: Path) -> None:
    edit(config_dir / "trusts" / "sendat.toml", 'name = "SENDAT"', "")
    assert_names(load_error(config_dir), "sendat.toml", "name", "required")
