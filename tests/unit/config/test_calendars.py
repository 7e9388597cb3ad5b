"""Calendar and reminder-rule files: the shipped ones work, bad ones are named precisely."""

from __future__ import annotations

import copy
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest

from dispatcher.config.calendars import load_calendars, parse_calendar
from dispatcher.config.configuration import load_configuration
from dispatcher.config.files import ConfigError
from dispatcher.config.reminders import load_reminder_settings, parse_reminder_settings
from dispatcher.planning.preview import preview_templates
from dispatcher.rendering.templates import TemplateLibrary
from dispatcher.triggers.reminders.rules import bank_holidays, compute_reminders
from tests.support.paths import CONFIG_DIR, TEMPLATES_DIR

CONFIGURATION = load_configuration(CONFIG_DIR)
SETTINGS = load_reminder_settings(CONFIG_DIR)
CALENDARS = load_calendars(CONFIG_DIR, CONFIGURATION)

GOOD: dict[str, Any] = {
    "terms": [
        {
            "name": "Autumn term",
            "start": date(2026, 9, 1),
            "end": date(2026, 12, 18),
            "half_term": {"start": date(2026, 10, 26), "end": date(2026, 10, 30)},
        },
        {"name": "Spring term", "start": date(2027, 1, 4), "end": date(2027, 3, 25)},
    ],
    "training_days": [{"date": date(2026, 9, 1)}],
    "events": [{"date": date(2026, 12, 10), "title": "Fair", "audience": ["year:6"]}],
}


GOOD_TOML = """
[[terms]]
name = "Autumn term"
start = 2026-09-01
end = 2026-12-18
"""


def with_changes(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(GOOD)
    target: Any = raw
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return raw


def error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_calendar(Path("config/calendars/demo.toml"), "demo", raw)
    return str(caught.value)


# --- the shipped files ----------------------------------------------------------------------


def test_every_school_has_a_calendar_for_the_next_twelve_months_marked_unchecked() -> None:
    # Issue 15, problem 4: three seed schools had none (`calendar list` exited 2).
    assert set(CALENDARS) == set(CONFIGURATION.schools)
    for calendar in CALENDARS.values():
        assert calendar.first_day <= date(2026, 12, 4), calendar.school
        assert calendar.last_day >= date(2027, 12, 4), calendar.school
        assert len(calendar.terms) == 6  # 2026-27 and 2027-28
        # Made from a usual pattern: none has been checked against a published calendar.
        assert not calendar.dates_checked and "not checked" in calendar.dates_note
    for slug in ("demo", "brockmoor", "sendat-a", "sendat-b"):
        assert CALENDARS[slug].events, slug


def test_a_calendar_says_whether_its_dates_were_checked() -> None:
    assert parse_calendar(Path("x.toml"), "demo", GOOD).dates_source == "pattern"
    checked = parse_calendar(Path("x.toml"), "demo", with_changes(("dates_source",), "published"))
    assert checked.dates_checked
    assert "dates_source" in error(with_changes(("dates_source",), "guessed"))


@pytest.mark.parametrize("slug", sorted(CALENDARS))
def test_every_shipped_reminder_renders_with_its_school_templates(slug: str) -> None:
    school = CONFIGURATION.school(slug)
    calendar = CALENDARS[slug]
    bank = bank_holidays(calendar.region, calendar.years())
    schedule = compute_reminders(calendar, SETTINGS, school.send_window, school.tz, bank)
    assert not schedule.skipped
    # Every event gets two reminders (or one when both fall on the same day).
    assert len([r for r in schedule.reminders if r.key.startswith("reminder:event:")]) >= len(
        calendar.events
    )
    templates = TemplateLibrary(TEMPLATES_DIR)
    assert schedule.reminders, slug
    for reminder in schedule.reminders:
        category = CONFIGURATION.policy.category(reminder.category)
        previews = preview_templates(templates, school, category, reminder.variables)
        assert previews, reminder.key
        local = reminder.due_at.astimezone(school.tz)
        assert school.send_window.start <= local.time() < school.send_window.end
        assert local.weekday() < 5 and local.date() not in bank


def test_the_shipped_rules_follow_the_policies() -> None:
    rules = {r.name: r for r in SETTINGS.rules}
    assert rules["event-two-weeks"].days_before == 14
    assert rules["event-day-before"].school_days_before == 1
    assert rules["term-start"].last_friday_of_holiday
    assert rules["training-day"].days_before == 7
    assert SETTINGS.catch_up.total_seconds() == 24 * 3600
    assert SETTINGS.missed_lookback.days == 14


# --- bad calendars --------------------------------------------------------------------------


def test_a_good_calendar_parses() -> None:
    calendar = parse_calendar(Path("x.toml"), "demo", with_changes(("region",), "ENG"))
    assert calendar.events[0].event_id == "2026-12-10-fair"
    assert calendar.events[0].audience == ("year:6",)


def test_a_bad_audience_names_the_event_and_the_key() -> None:
    message = error(with_changes(("events", 0, "audience"), ["yaer:6"]))
    assert message.startswith("config/calendars/demo.toml: events.0.audience:")
    assert "expected school, year:N" in message


def test_a_bad_date_names_the_key() -> None:
    message = error(with_changes(("events", 0, "date"), "next Tuesday"))
    assert message.startswith("config/calendars/demo.toml: events.0.date:")


def test_an_event_time_must_be_a_time() -> None:
    message = error(with_changes(("events", 0, "time"), "half past three"))
    assert "events.0.time" in message
    raw = with_changes(("events", 0, "time"), "15:30")
    assert parse_calendar(Path("x.toml"), "demo", raw).events[0].at == time(15, 30)


def test_an_unknown_key_is_refused() -> None:
    assert "events.0.audiences" in error(with_changes(("events", 0, "audiences"), ["school"]))


def test_terms_are_required_and_in_order() -> None:
    assert "terms:" in error(with_changes(("terms",), []))
    message = error(with_changes(("terms", 1, "start"), date(2026, 12, 1)))
    assert "terms.1.start: a date after the previous term's end" in message
    assert "terms.0.end: a date on or after" in error(
        with_changes(("terms", 0, "end"), date(2026, 8, 1))
    )


def test_a_half_term_must_be_inside_its_term() -> None:
    raw = with_changes(
        ("terms", 0, "half_term"), {"start": date(2027, 1, 1), "end": date(2027, 1, 5)}
    )
    assert "terms.0.half_term: a holiday inside the term" in error(raw)


def test_a_training_day_must_be_a_term_weekday() -> None:
    raw = with_changes(("training_days", 0, "date"), date(2026, 9, 5))  # a Saturday
    assert "training_days.0.date: a weekday inside one of the terms" in error(raw)


def test_two_events_with_one_id_are_refused() -> None:
    raw = with_changes(("events",), [
        {"id": "fair", "date": date(2026, 12, 10), "title": "Fair"},
        {"id": "fair", "date": date(2026, 12, 11), "title": "Fair again"},
    ])  # fmt: skip
    assert "events.1.id: an id not used by events.0" in error(raw)


def test_a_calendar_for_an_unknown_school_is_refused(tmp_path: Path) -> None:
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "nowhere.toml").write_text(GOOD_TOML)
    with pytest.raises(ConfigError, match=r"nowhere.toml: \(file name\): the slug of a school"):
        load_calendars(tmp_path, CONFIGURATION)


def test_a_calendar_with_bad_toml_says_so(tmp_path: Path) -> None:
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "demo.toml").write_text("[[terms]\nname = ")
    with pytest.raises(ConfigError, match=r"demo.toml: \(syntax\): valid TOML"):
        load_calendars(tmp_path, CONFIGURATION)


# --- bad rules ------------------------------------------------------------------------------


def rules_error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_reminder_settings(Path("config/reminders.toml"), raw)
    return str(caught.value)


def test_a_rule_needs_exactly_one_when() -> None:
    both = {"applies_to": "event", "category": "event_reminder", "days_before": 14}
    both["school_days_before"] = 1
    message = rules_error({"rules": {"twice": both}})
    assert message == (
        "config/reminders.toml: rules.twice: exactly one of days_before, school_days_before "
        "or last_friday_of_holiday = true"
    )
    assert "rules.none" in rules_error(
        {"rules": {"none": {"applies_to": "event", "category": "event_reminder"}}}
    )


def test_a_rule_category_must_be_a_reminder_category() -> None:
    raw = {"rules": {"x": {"applies_to": "event", "category": "newsletter", "days_before": 1}}}
    assert "rules.x.category" in rules_error(raw)


def test_last_friday_is_only_for_term_starts() -> None:
    raw = {
        "rules": {
            "x": {"applies_to": "event", "category": "term_dates", "last_friday_of_holiday": True}
        }
    }
    assert "rules.x.last_friday_of_holiday: only for term_start" in rules_error(raw)


def test_clock_bounds_are_checked() -> None:
    rule = {"applies_to": "event", "category": "event_reminder", "days_before": 14}
    assert "clock.tick_seconds" in rules_error({"clock": {"tick_seconds": 0}, "rules": {"a": rule}})
    assert "clock.missed_lookback_days" in rules_error(
        {"clock": {"catch_up_hours": 72, "missed_lookback_days": 2}, "rules": {"a": rule}}
    )


# --- iCalendar files ------------------------------------------------------------------------

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Demo Primary//Website calendar//EN
BEGIN:VEVENT
UID:fair-2026@demo-primary.example
DTSTART;TZID=Europe/London:20261211T153000
SUMMARY:Christmas Fair
DESCRIPTION:Stalls in the hall\\, after school.
CATEGORIES:Whole School
END:VEVENT
BEGIN:VEVENT
UID:concert-2026@demo-primary.example
DTSTART:20261216T180000Z
SUMMARY:Carol concert
CATEGORIES:year:6,group:choir
END:VEVENT
BEGIN:VEVENT
UID:inset-feb@demo-primary.example
DTSTART;VALUE=DATE:20261204
SUMMARY:Staff training
CATEGORIES:INSET
END:VEVENT
END:VCALENDAR
"""


def ics_folder(tmp_path: Path, ics: str = ICS) -> Path:
    (tmp_path / "calendars").mkdir(parents=True)
    (tmp_path / "calendars" / "demo.toml").write_text(GOOD_TOML)
    (tmp_path / "calendars" / "demo.ics").write_text(ics.replace("\n", "\r\n"))
    return tmp_path


def test_an_ics_file_adds_events_and_training_days(tmp_path: Path) -> None:
    calendar = load_calendars(ics_folder(tmp_path), CONFIGURATION)["demo"]
    fair, concert = calendar.events
    assert (fair.event_id, fair.day, fair.at) == (
        "ics-fair-2026-demo-primary-example",
        date(2026, 12, 11),
        time(15, 30),
    )
    assert fair.audience == ("school",)
    assert fair.details == "Stalls in the hall, after school."
    # 18:00 UTC in December is 18:00 in London; the audience comes from the categories.
    assert (concert.at, concert.audience) == (time(18, 0), ("year:6", "group:choir"))
    assert [t.day for t in calendar.training_days] == [date(2026, 12, 4)]
    school = CONFIGURATION.school("demo")
    reminders = compute_reminders(
        calendar, SETTINGS, school.send_window, school.tz, bank_holidays("ENG", [2026])
    ).reminders
    keys = {r.key for r in reminders}
    assert "reminder:event:ics-fair-2026-demo-primary-example:event-two-weeks" in keys
    assert "reminder:training_day:2026-12-04:training-day" in keys


def test_a_bad_ics_event_is_named_by_its_uid(tmp_path: Path) -> None:
    bad = ICS.replace("CATEGORIES:year:6,group:choir", "CATEGORIES:yaer:6")
    with pytest.raises(ConfigError, match=r"demo.ics: VEVENT concert-2026@demo-primary.example"):
        load_calendars(ics_folder(tmp_path, bad), CONFIGURATION)
    repeat = ICS.replace("SUMMARY:Carol concert", "SUMMARY:Carol concert\nRRULE:FREQ=WEEKLY")
    with pytest.raises(ConfigError, match=r"RRULE: no repeat rule"):
        load_calendars(ics_folder(tmp_path / "r", repeat), CONFIGURATION)


def test_an_ics_file_needs_its_toml(tmp_path: Path) -> None:
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "demo.ics").write_text(ICS)
    with pytest.raises(ConfigError, match=r"demo.ics: \(file\): a demo.toml beside it"):
        load_calendars(tmp_path, CONFIGURATION)
