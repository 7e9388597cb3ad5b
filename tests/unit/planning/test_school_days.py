"""School days (issue 15, problem 3): a non-urgent message that falls on a weekend, a bank
holiday (England and Wales) or one of the school's holidays waits for the next school day's
send window; urgent categories go at once. Pure: times are passed in.

The calendar below is a usual English 2026-27: the Autumn term ends on Friday 18 December
2026, the Spring term starts on Monday 4 January 2027 with a half-term of 15-19 February, the
Summer term runs from 12 April. Bank holidays: Christmas Day is Friday 25 December 2026, Boxing
Day's substitute is Monday 28 December, the early May bank holiday is Monday 3 May 2027.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dispatcher.config.calendars import DateRange, SchoolCalendar, Term
from dispatcher.config.configuration import load_configuration
from dispatcher.planning.school_days import SchoolDays, school_days_for
from dispatcher.planning.windows import hold_reason, hold_until, next_opening
from tests.support.paths import CONFIG_DIR

CONFIG = load_configuration(CONFIG_DIR)
SCHOOL = CONFIG.school("demo").model_copy(
    update={"send_window": CONFIG.school("brockmoor").send_window}  # weekdays 08:00-18:00
)
NEWSLETTER = CONFIG.policy.category("newsletter")
PAYMENT = CONFIG.policy.category("payment_request")
CLOSURE = CONFIG.policy.category("emergency_closure")
TERM_DATES = CONFIG.policy.category("term_dates")

CALENDAR = SchoolCalendar(
    school="demo",
    terms=(
        Term("Autumn term", date(2026, 9, 1), date(2026, 12, 18),
             DateRange(date(2026, 10, 26), date(2026, 10, 30))),
        Term("Spring term", date(2027, 1, 4), date(2027, 3, 25),
             DateRange(date(2027, 2, 15), date(2027, 2, 19))),
        Term("Summer term", date(2027, 4, 12), date(2027, 7, 21)),
    ),
    closures=(DateRange(date(2027, 5, 6), date(2027, 5, 6)),),
)  # fmt: skip
DAYS = SchoolDays(CALENDAR)
NO_CALENDAR = SchoolDays()


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def test_a_newsletter_on_christmas_day_waits_for_the_first_day_of_term() -> None:
    christmas_morning = utc(2026, 12, 25, 10, 0)
    assert hold_until(NEWSLETTER, SCHOOL, christmas_morning, DAYS) == utc(2027, 1, 4, 8, 0)
    assert hold_reason(NEWSLETTER, SCHOOL, christmas_morning, utc(2027, 1, 4, 8), DAYS) == (
        "Friday 25 December 2026: bank holiday (Christmas Day)"
    )


def test_a_newsletter_on_28_december_waits_for_the_first_day_of_term() -> None:
    # Monday 28 December 2026 is a weekday: the window alone would send it at 10:00.
    monday = utc(2026, 12, 28, 10, 0)
    assert next_opening(monday, SCHOOL.send_window, SCHOOL.tz) == monday
    assert hold_until(NEWSLETTER, SCHOOL, monday, DAYS) == utc(2027, 1, 4, 8, 0)
    assert hold_until(PAYMENT, SCHOOL, utc(2026, 12, 29, 9, 0), DAYS) == utc(2027, 1, 4, 8, 0)
    assert hold_reason(PAYMENT, SCHOOL, utc(2026, 12, 29, 9, 0), utc(2027, 1, 4, 8), DAYS) == (
        "Tuesday 29 December 2026: the school holiday after the Autumn term"
    )


def test_without_a_calendar_only_bank_holidays_and_weekends_wait() -> None:
    # 25 December (Friday), the weekend, 28 December (Boxing Day's substitute): Tuesday 29th.
    assert hold_until(NEWSLETTER, SCHOOL, utc(2026, 12, 25, 10), NO_CALENDAR) == utc(
        2026, 12, 29, 8, 0
    )
    assert NO_CALENDAR.closed_reason(date(2026, 12, 28)) == "bank holiday (Boxing Day (observed))"


def test_a_saturday_waits_for_monday_morning() -> None:
    saturday = utc(2026, 11, 28, 10, 0)
    assert hold_until(NEWSLETTER, SCHOOL, saturday, DAYS) == utc(2026, 11, 30, 8, 0)
    assert hold_reason(NEWSLETTER, SCHOOL, saturday, utc(2026, 11, 30, 8), DAYS) == (
        "outside the send window (weekdays 08:00-18:00)"
    )


def test_half_term_from_the_calendar_waits_for_the_monday_after() -> None:
    tuesday_of_half_term = utc(2027, 2, 16, 11, 0)
    assert hold_until(NEWSLETTER, SCHOOL, tuesday_of_half_term, DAYS) == utc(2027, 2, 22, 8, 0)
    assert DAYS.closed_reason(date(2027, 2, 16)) == "the Spring term half-term holiday"
    # The Friday before half-term is a school day: it goes at once.
    assert hold_until(NEWSLETTER, SCHOOL, utc(2027, 2, 12, 11, 0), DAYS) is None


def test_a_bank_holiday_monday_waits_for_tuesday() -> None:
    # Monday 3 May 2027, early May bank holiday, in term (BST: 08:00 is 07:00 UTC).
    may_day = utc(2027, 5, 3, 9, 0)
    assert hold_until(NEWSLETTER, SCHOOL, may_day, DAYS) == utc(2027, 5, 4, 7, 0)
    assert DAYS.closed_reason(date(2027, 5, 3)) == "bank holiday (May Day)"


def test_a_closure_day_waits_too() -> None:
    assert hold_until(NEWSLETTER, SCHOOL, utc(2027, 5, 6, 9, 0), DAYS) == utc(2027, 5, 7, 7, 0)
    assert DAYS.closed_reason(date(2027, 5, 6)) == "a school closure day"


@pytest.mark.parametrize("moment", [utc(2026, 12, 25, 10), utc(2027, 2, 16, 3), utc(2026, 11, 28)])
def test_urgent_categories_ignore_school_days(moment: datetime) -> None:
    assert hold_until(CLOSURE, SCHOOL, moment, DAYS) is None


def test_term_dates_may_go_in_a_school_holiday_but_not_on_a_bank_holiday() -> None:
    # "Pupils return on Monday" goes on the holiday's last Friday (config/reminders.toml).
    last_friday = utc(2027, 1, 1, 10, 0)  # New Year's Day: a bank holiday
    assert hold_until(TERM_DATES, SCHOOL, last_friday, DAYS) == utc(2027, 1, 4, 8, 0)
    assert hold_until(TERM_DATES, SCHOOL, utc(2026, 12, 31, 10, 0), DAYS) is None
    assert hold_until(NEWSLETTER, SCHOOL, utc(2026, 12, 31, 10, 0), DAYS) == utc(2027, 1, 4, 8)


def test_beyond_its_calendar_a_school_keeps_weekdays_and_bank_holidays() -> None:
    # The calendar ends on 21 July 2027: what follows is unknown, never held for ever.
    assert DAYS.closed_reason(date(2027, 8, 2)) is None
    assert DAYS.closed_reason(date(2027, 8, 30)) == "bank holiday (Late Summer Bank Holiday)"
    assert hold_until(NEWSLETTER, SCHOOL, utc(2027, 8, 30, 9, 0), DAYS) == utc(2027, 8, 31, 7)


def test_training_days_are_school_days_for_messages() -> None:
    # Pupils are off but the office is in: replies can be answered.
    brockmoor = school_days_for(CONFIG, "brockmoor")
    assert brockmoor.calendar is not None and brockmoor.calendar.is_training_day(date(2026, 11, 30))
    assert brockmoor.is_open(date(2026, 11, 30))


def test_every_school_keeps_its_own_calendar_and_the_english_bank_holidays() -> None:
    for slug in CONFIG.schools:
        days = school_days_for(CONFIG, slug)
        assert days.calendar is CONFIG.calendars[slug]
        assert days.region == "ENG"
        assert not days.is_open(date(2026, 12, 28)) and not days.is_open(date(2026, 12, 31))
