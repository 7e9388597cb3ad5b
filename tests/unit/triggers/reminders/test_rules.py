"""The reminder rules, computed from a calendar, the bank holidays and a given "now" (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatcher.config.calendars import CalendarEvent, DateRange, SchoolCalendar, Term, TrainingDay
from dispatcher.config.reminders import ReminderRule, ReminderSettings
from dispatcher.config.schools import SendWindow
from dispatcher.triggers.reminders.rules import (
    Reminder,
    Schedule,
    bank_holidays,
    classify,
    compute_reminders,
    handle_now,
    missed_reason,
)

LONDON = ZoneInfo("Europe/London")
WINDOW = SendWindow(start=time(8), end=time(18))
BANK = bank_holidays("ENG", [2026, 2027])


def _term(name: str, start: date, end: date, half_start: date, half_end: date) -> Term:
    return Term(name, start, end, DateRange(half_start, half_end))


TERMS = (
    _term(
        "Autumn term", date(2026, 9, 1), date(2026, 12, 18), date(2026, 10, 26), date(2026, 10, 30)
    ),
    _term("Spring term", date(2027, 1, 4), date(2027, 3, 25), date(2027, 2, 15), date(2027, 2, 19)),
    _term("Summer term", date(2027, 4, 12), date(2027, 7, 21), date(2027, 5, 31), date(2027, 6, 4)),
)

RULES = (
    ReminderRule("two-weeks", "event", "event_reminder", days_before=14),
    ReminderRule("day-before", "event", "event_reminder", school_days_before=1, send_time=time(14)),
    ReminderRule(
        "term-start",
        "term_start",
        "term_dates",
        last_friday_of_holiday=True,
        shift_to="weekday",
        send_time=time(10),
    ),
    ReminderRule("training", "training_day", "term_dates", days_before=7),
)
SETTINGS = ReminderSettings(rules=RULES)


def calendar(
    *events: CalendarEvent,
    training: tuple[TrainingDay, ...] = (),
    closures: tuple[DateRange, ...] = (),
) -> SchoolCalendar:
    return SchoolCalendar(
        school="demo", terms=TERMS, training_days=training, closures=closures, events=events
    )


def event(
    day: date, event_id: str = "e", at: time | None = None, details: str | None = None
) -> CalendarEvent:
    return CalendarEvent(
        event_id=event_id, day=day, title=f"Event {event_id}", at=at, details=details
    )


def schedule(
    cal: SchoolCalendar,
    settings: ReminderSettings = SETTINGS,
    window: SendWindow = WINDOW,
    tz: ZoneInfo = LONDON,
) -> Schedule:
    return compute_reminders(cal, settings, window, tz, BANK)


def by_rule(sched: Schedule) -> dict[str, Reminder]:
    return {r.rule: r for r in sched.reminders}


def local(reminder: Reminder) -> datetime:
    return reminder.due_at.astimezone(LONDON)


# --- each rule ----------------------------------------------------------------------------


def test_an_event_gets_a_reminder_fourteen_days_before_at_the_send_time() -> None:
    reminders = by_rule(schedule(calendar(event(date(2026, 12, 10), details="Wear a jumper"))))
    two_weeks = reminders["two-weeks"]
    assert two_weeks.fire_date == date(2026, 11, 26)
    assert local(two_weeks).time() == time(9, 0)
    assert two_weeks.category == "event_reminder"
    assert two_weeks.variables == {
        "event": "Event e",
        "date": "Thursday 10 December",
        "details": "Wear a jumper",
    }


def test_an_event_gets_a_reminder_the_school_day_before() -> None:
    # Monday 16 November: the school day before is Friday 13 November.
    reminders = by_rule(schedule(calendar(event(date(2026, 11, 16), at=time(15, 30)))))
    day_before = reminders["day-before"]
    assert day_before.fire_date == date(2026, 11, 13)
    assert local(day_before).time() == time(14, 0)
    assert day_before.variables["time"] == "3:30pm"


def test_the_school_day_before_the_first_day_after_half_term_is_before_half_term() -> None:
    reminders = by_rule(schedule(calendar(event(date(2026, 11, 2)))))
    assert reminders["day-before"].fire_date == date(2026, 10, 23)


def test_a_term_start_is_announced_on_the_last_friday_of_the_holiday() -> None:
    reminders = [
        r for r in schedule(calendar()).reminders if r.key.startswith("reminder:term_start:")
    ]
    starts = {r.subject_date: r for r in reminders}
    # Summer term, Monday 12 April 2027: Friday 9 April, inside the Easter holiday.
    summer = starts[date(2027, 4, 12)]
    assert summer.fire_date == date(2027, 4, 9)
    assert local(summer).time() == time(10, 0)
    assert summer.category == "term_dates"
    assert summer.variables["event"] == "Summer term starts for pupils"
    assert summer.variables["date"] == "Monday 12 April"
    # Back after the autumn half-term (Monday 2 November): Friday 30 October.
    assert starts[date(2026, 11, 2)].fire_date == date(2026, 10, 30)
    # Autumn term (Tuesday 1 September): Friday 28 August, before the Monday bank holiday.
    assert starts[date(2026, 9, 1)].fire_date == date(2026, 8, 28)


def test_a_term_start_reminder_moves_off_a_bank_holiday_friday() -> None:
    # Spring term starts Monday 4 January 2027; Friday 1 January is New Year's Day.
    starts = {
        r.subject_date: r
        for r in schedule(calendar()).reminders
        if r.key.startswith("reminder:term_start:")
    }
    assert starts[date(2027, 1, 4)].fire_date == date(2026, 12, 31)


def test_half_term_returns_can_be_left_out() -> None:
    settings = replace(SETTINGS, half_term_returns=False)
    starts = [r for r in schedule(calendar(), settings).reminders if r.rule == "term-start"]
    assert [r.subject_date for r in starts] == [
        date(2026, 9, 1),
        date(2027, 1, 4),
        date(2027, 4, 12),
    ]


def test_a_training_day_is_announced_seven_days_before() -> None:
    cal = calendar(training=(TrainingDay(date(2027, 2, 12), "Safeguarding"),))
    training = [r for r in schedule(cal).reminders if r.rule == "training"]
    assert len(training) == 1
    assert training[0].fire_date == date(2027, 2, 5)
    assert training[0].category == "term_dates"
    assert training[0].variables == {
        "event": "Staff training day: school closed to pupils",
        "date": "Friday 12 February",
        "details": "Safeguarding",
    }


def test_consecutive_training_days_make_one_reminder() -> None:
    cal = calendar(training=(TrainingDay(date(2027, 3, 1)), TrainingDay(date(2027, 3, 2))))
    training = [r for r in schedule(cal).reminders if r.rule == "training"]
    assert len(training) == 1
    assert training[0].variables["date"] == "Monday 1 March to Tuesday 2 March"
    assert training[0].fire_date == date(2027, 2, 22)


def test_training_days_at_the_start_of_term_are_in_the_term_start_reminder() -> None:
    cal = calendar(training=(TrainingDay(date(2026, 9, 1)), TrainingDay(date(2026, 9, 2))))
    sched = schedule(cal)
    assert not [r for r in sched.reminders if r.rule == "training"]
    autumn = next(
        r for r in sched.reminders if r.key == "reminder:term_start:2026-09-01:term-start"
    )
    assert autumn.subject_date == date(2026, 9, 3)
    assert autumn.variables["date"] == "Thursday 3 September"
    assert (
        "Tuesday 1 September to Wednesday 2 September: staff training days"
        in (autumn.variables["details"])
    )


# --- moving off days nobody should be messaged ----------------------------------------------


def test_a_reminder_on_a_weekend_moves_to_the_friday() -> None:
    # A Saturday fair, 10 July 2027: 14 days before is Saturday 26 June.
    reminders = by_rule(schedule(calendar(event(date(2027, 7, 10)))))
    assert reminders["two-weeks"].fire_date == date(2027, 6, 25)
    assert reminders["day-before"].fire_date == date(2027, 7, 9)


def test_a_reminder_on_a_bank_holiday_moves_to_the_previous_school_day() -> None:
    # 14 days before Monday 17 May 2027 is the May Day bank holiday, Monday 3 May.
    reminders = by_rule(schedule(calendar(event(date(2027, 5, 17)))))
    assert reminders["two-weeks"].fire_date == date(2027, 4, 30)
    # The school day before Tuesday 4 May is Friday 30 April, not the bank holiday.
    reminders = by_rule(schedule(calendar(event(date(2027, 5, 4)))))
    assert reminders["day-before"].fire_date == date(2027, 4, 30)


def test_a_reminder_in_a_school_holiday_moves_to_the_last_school_day_before_it() -> None:
    # 14 days before Thursday 22 April 2027 is in the Easter holiday: the spring term's last
    # day, Thursday 25 March (Good Friday is a bank holiday anyway).
    reminders = by_rule(schedule(calendar(event(date(2027, 4, 22)))))
    assert reminders["two-weeks"].fire_date == date(2027, 3, 25)


def test_a_reminder_on_a_closure_or_training_day_moves_to_the_previous_school_day() -> None:
    closed = DateRange(date(2027, 5, 6), date(2027, 5, 6))  # polling day
    cal = calendar(event(date(2027, 5, 20)), closures=(closed,))
    assert by_rule(schedule(cal))["two-weeks"].fire_date == date(2027, 5, 5)
    cal = calendar(event(date(2027, 3, 5)), training=(TrainingDay(date(2027, 3, 4)),))
    assert by_rule(schedule(cal))["day-before"].fire_date == date(2027, 3, 3)


def test_two_reminders_on_the_same_day_are_sent_once() -> None:
    # First day of the summer term: 14 days before (Easter Monday, in the holiday) and the
    # school day before both land on Thursday 25 March.
    sched = schedule(calendar(event(date(2027, 4, 12))))
    event_reminders = [r for r in sched.reminders if r.key.startswith("reminder:event:")]
    assert [(r.rule, r.fire_date) for r in event_reminders] == [("day-before", date(2027, 3, 25))]
    assert any(s.key == "reminder:event:e:two-weeks" for s in sched.skipped)


def test_a_reminder_before_the_calendar_starts_is_skipped_with_a_reason() -> None:
    sched = schedule(calendar(event(date(2026, 9, 8))))
    assert "two-weeks" not in by_rule(sched)
    (skipped,) = [s for s in sched.skipped if s.key == "reminder:event:e:two-weeks"]
    assert "no allowed day" in skipped.reason


# --- the send window and the time zone ------------------------------------------------------


def test_the_send_time_is_moved_inside_the_send_window() -> None:
    narrow = SendWindow(start=time(10), end=time(15))
    reminders = by_rule(schedule(calendar(event(date(2026, 12, 10))), window=narrow))
    assert local(reminders["two-weeks"]).time() == time(10, 0)  # 09:00 is before it opens
    assert local(reminders["day-before"]).time() == time(14, 0)  # 14:00 is inside
    late = replace(SETTINGS, send_time=time(19))
    reminders = by_rule(schedule(calendar(event(date(2026, 12, 10))), late, narrow))
    assert local(reminders["two-weeks"]).time() == time(10, 0)


def test_reminders_land_only_on_days_of_the_send_window() -> None:
    mon_to_thu = SendWindow(start=time(8), end=time(18), days=("mon", "tue", "wed", "thu"))
    # 14 days before Friday 11 December is Friday 27 November: moves to Thursday 26.
    reminders = by_rule(schedule(calendar(event(date(2026, 12, 11))), window=mon_to_thu))
    assert reminders["two-weeks"].fire_date == date(2026, 11, 26)


def test_the_send_time_is_school_wall_clock_time_across_the_clock_changes() -> None:
    # Clocks go back on Sunday 25 October 2026 and forward on Sunday 28 March 2027.
    cal = calendar(
        event(date(2026, 11, 6), "before-autumn-change"),  # two weeks: Fri 23 Oct, BST
        event(date(2026, 11, 16), "after-autumn-change"),  # two weeks: Mon 2 Nov, GMT
        event(date(2027, 3, 22), "before-spring-change"),  # two weeks: Mon 8 Mar, GMT
        event(date(2027, 4, 14), "after-spring-change"),  # day before: Tue 13 Apr, BST
    )
    due = {r.key: r.due_at for r in schedule(cal).reminders}
    assert due["reminder:event:before-autumn-change:two-weeks"] == datetime(
        2026, 10, 23, 8, 0, tzinfo=UTC
    )
    assert due["reminder:event:after-autumn-change:two-weeks"] == datetime(
        2026, 11, 2, 9, 0, tzinfo=UTC
    )
    assert due["reminder:event:before-spring-change:two-weeks"] == datetime(
        2027, 3, 8, 9, 0, tzinfo=UTC
    )
    assert due["reminder:event:after-spring-change:day-before"] == datetime(
        2027, 4, 13, 13, 0, tzinfo=UTC
    )


def test_a_school_in_another_time_zone_is_reminded_at_its_own_local_time() -> None:
    dublin_like = ZoneInfo("America/New_York")
    reminders = by_rule(schedule(calendar(event(date(2026, 12, 10))), tz=dublin_like))
    assert reminders["two-weeks"].due_at == datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


# --- keys and the schedule as a whole -------------------------------------------------------


def test_keys_are_unique_and_stable() -> None:
    cal = calendar(
        event(date(2026, 12, 10), "fair"),
        event(date(2027, 3, 4), "book-day"),
        training=(TrainingDay(date(2027, 2, 12)),),
    )
    first = [r.key for r in schedule(cal).reminders]
    assert len(first) == len(set(first))
    assert first == [r.key for r in schedule(cal).reminders]
    assert "reminder:event:fair:two-weeks" in first
    assert "reminder:training_day:2027-02-12:training" in first
    assert all(len(key) <= 200 for key in first)
    assert [r.due_at for r in schedule(cal).reminders] == sorted(
        r.due_at for r in schedule(cal).reminders
    )


def test_bank_holidays_of_england_include_easter_and_substitute_days() -> None:
    assert date(2027, 3, 26) in BANK  # Good Friday
    assert date(2027, 3, 29) in BANK  # Easter Monday
    assert date(2026, 12, 28) in BANK  # Boxing Day, observed
    assert date(2027, 8, 30) in BANK  # summer bank holiday
    assert date(2027, 3, 17) not in BANK  # St Patrick's Day is Northern Ireland's
    assert date(2027, 3, 17) in bank_holidays("NIR", [2027])


# --- now: due, caught up, missed ------------------------------------------------------------


@pytest.fixture
def reminder() -> Reminder:
    return by_rule(schedule(calendar(event(date(2026, 12, 10)))))["two-weeks"]


def test_classify_before_at_and_after_the_due_time(reminder: Reminder) -> None:
    due = reminder.due_at
    assert classify(reminder, due - timedelta(seconds=1), SETTINGS) == "upcoming"
    assert classify(reminder, due, SETTINGS) == "due"
    assert classify(reminder, due + timedelta(hours=3), SETTINGS) == "due"
    assert classify(reminder, due + timedelta(hours=24), SETTINGS) == "due"
    assert classify(reminder, due + timedelta(hours=24, seconds=1), SETTINGS) == "missed"
    assert classify(reminder, due + timedelta(days=3), SETTINGS) == "missed"
    assert classify(reminder, due + timedelta(days=14), SETTINGS) == "missed"
    assert classify(reminder, due + timedelta(days=14, seconds=1), SETTINGS) == "expired"


def test_a_reminder_is_not_caught_up_once_its_event_has_started() -> None:
    day_before = by_rule(schedule(calendar(event(date(2026, 11, 16)))))["day-before"]
    # Due Friday 13 November 14:00; the event is Monday 16 November.
    assert classify(day_before, day_before.due_at + timedelta(hours=20), SETTINGS) == "due"
    short = replace(SETTINGS, catch_up=timedelta(days=4))
    monday_morning = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)
    assert classify(day_before, monday_morning, short) == "missed"
    assert "too late" in missed_reason(day_before, monday_morning, short)


def test_handle_now_splits_due_and_missed(reminder: Reminder) -> None:
    sched = schedule(calendar(event(date(2026, 12, 10)), event(date(2026, 11, 16), "odd")))
    now = reminder.due_at + timedelta(hours=1)
    due, missed = handle_now(sched, now, SETTINGS)
    assert [r.key for r in due] == ["reminder:event:e:two-weeks"]
    # The odd event's day-before reminder (13 November) is older than 24 h and newer than
    # 14 days: missed; its two-week one (2 November) is older than 14 days: not looked at.
    assert [r.key for r in missed] == ["reminder:event:odd:day-before"]
    assert "no clock was running" in missed_reason(missed[0], now, SETTINGS)


def test_classify_refuses_a_naive_now(reminder: Reminder) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        classify(reminder, datetime(2026, 11, 26, 9), SETTINGS)
