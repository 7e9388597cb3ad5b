"""Send windows: ``next_opening`` and ``is_open`` in Europe/London, across clock changes.

In 2026 the clocks go forward on Sunday 29 March (01:00 GMT -> 02:00 BST) and back on Sunday
25 October (02:00 BST -> 01:00 GMT), so 08:00 local is 08:00 UTC in winter and 07:00 UTC in
summer.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.config.schools import WEEKDAYS, SendWindow
from dispatcher.planning.windows import is_open, next_opening

LONDON = ZoneInfo("Europe/London")
SCHOOL_DAYS = ("mon", "tue", "wed", "thu", "fri")
WINDOW = SendWindow(start=time(8, 0), end=time(18, 0), days=SCHOOL_DAYS)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, us, tzinfo=UTC)


def london(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


# --- ordinary days (winter, GMT = UTC) -----------------------------------------------------


def test_inside_the_window_returns_now() -> None:
    now = utc(2026, 1, 14, 12, 34, 56)  # Wednesday
    assert next_opening(now, WINDOW, LONDON) == now
    assert is_open(now, WINDOW, LONDON)


def test_result_is_utc_even_when_now_is_given_in_local_time() -> None:
    now = london(2026, 6, 17, 12, 0)  # Wednesday, BST
    result = next_opening(now, WINDOW, LONDON)
    assert result == now
    assert result.tzinfo is UTC
    assert result == utc(2026, 6, 17, 11, 0)


def test_before_opening_on_a_weekday_returns_that_days_opening() -> None:
    now = utc(2026, 1, 14, 6, 15)  # Wednesday 06:15 GMT
    assert next_opening(now, WINDOW, LONDON) == utc(2026, 1, 14, 8, 0)
    assert not is_open(now, WINDOW, LONDON)


def test_start_is_inclusive_and_end_is_exclusive() -> None:
    assert is_open(utc(2026, 1, 14, 8, 0), WINDOW, LONDON)
    assert is_open(utc(2026, 1, 14, 17, 59, 59, 999999), WINDOW, LONDON)
    assert not is_open(utc(2026, 1, 14, 18, 0), WINDOW, LONDON)
    assert next_opening(utc(2026, 1, 14, 18, 0), WINDOW, LONDON) == utc(2026, 1, 15, 8, 0)


def test_after_closing_on_a_weekday_returns_next_mornings_opening() -> None:
    assert next_opening(utc(2026, 1, 14, 21, 0), WINDOW, LONDON) == utc(2026, 1, 15, 8, 0)


def test_after_closing_on_friday_returns_mondays_opening() -> None:
    now = utc(2026, 1, 16, 18, 30)  # Friday
    assert next_opening(now, WINDOW, LONDON) == utc(2026, 1, 19, 8, 0)


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(utc(2026, 1, 17, 0, 0), id="saturday-midnight"),
        pytest.param(utc(2026, 1, 17, 10, 0), id="saturday-morning"),
        pytest.param(utc(2026, 1, 18, 12, 0), id="sunday-noon"),
        pytest.param(utc(2026, 1, 18, 23, 59, 59), id="sunday-last-second"),
    ],
)
def test_weekend_waits_for_monday(now: datetime) -> None:
    assert not is_open(now, WINDOW, LONDON)
    assert next_opening(now, WINDOW, LONDON) == utc(2026, 1, 19, 8, 0)


def test_a_weekend_only_window() -> None:
    saturdays = SendWindow(start=time(9, 0), end=time(12, 0), days=("sat",))
    # Saturday 12:00 is closed: the next opening is a week later.
    assert next_opening(utc(2026, 1, 17, 12, 0), saturdays, LONDON) == utc(2026, 1, 24, 9, 0)
    assert next_opening(utc(2026, 1, 14, 12, 0), saturdays, LONDON) == utc(2026, 1, 17, 9, 0)
    assert is_open(utc(2026, 1, 17, 11, 0), saturdays, LONDON)


# --- summer time and the clock changes -----------------------------------------------------


def test_eight_oclock_is_eight_utc_in_winter_and_seven_utc_in_summer() -> None:
    winter = next_opening(utc(2026, 1, 14, 5, 0), WINDOW, LONDON)
    summer = next_opening(utc(2026, 6, 17, 5, 0), WINDOW, LONDON)
    assert winter == utc(2026, 1, 14, 8, 0)
    assert summer == utc(2026, 6, 17, 7, 0)
    assert winter.astimezone(LONDON).time() == summer.astimezone(LONDON).time() == time(8, 0)


def test_in_summer_the_window_closes_at_five_utc() -> None:
    assert is_open(utc(2026, 6, 17, 16, 59), WINDOW, LONDON)  # 17:59 BST
    assert not is_open(utc(2026, 6, 17, 17, 0), WINDOW, LONDON)  # 18:00 BST
    assert not is_open(utc(2026, 6, 17, 6, 59), WINDOW, LONDON)  # 07:59 BST
    assert is_open(utc(2026, 6, 17, 7, 0), WINDOW, LONDON)  # 08:00 BST


def test_friday_night_before_spring_change_opens_monday_at_eight_bst() -> None:
    friday_night = london(2026, 3, 27, 23, 30)  # GMT, two days before clocks go forward
    assert friday_night.utcoffset() == timedelta(0)
    opening = next_opening(friday_night, WINDOW, LONDON)
    assert opening == utc(2026, 3, 30, 7, 0)  # Monday 08:00 BST
    assert opening.astimezone(LONDON) == london(2026, 3, 30, 8, 0)
    assert opening.astimezone(LONDON).utcoffset() == timedelta(hours=1)


def test_during_the_spring_forward_sunday() -> None:
    # 00:30 GMT and 03:30 BST on the Sunday of the change both wait for Monday 08:00 BST.
    for now in (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 2, 30)):
        assert next_opening(now, WINDOW, LONDON) == utc(2026, 3, 30, 7, 0)


def test_monday_after_spring_change_opens_at_seven_utc() -> None:
    assert not is_open(utc(2026, 3, 30, 6, 59), WINDOW, LONDON)
    assert is_open(utc(2026, 3, 30, 7, 0), WINDOW, LONDON)
    assert is_open(utc(2026, 3, 30, 16, 59), WINDOW, LONDON)
    assert not is_open(utc(2026, 3, 30, 17, 0), WINDOW, LONDON)


def test_friday_night_before_autumn_change_opens_monday_at_eight_gmt() -> None:
    friday_night = london(2026, 10, 23, 23, 30)  # BST, two days before clocks go back
    assert friday_night.utcoffset() == timedelta(hours=1)
    opening = next_opening(friday_night, WINDOW, LONDON)
    assert opening == utc(2026, 10, 26, 8, 0)  # Monday 08:00 GMT
    assert opening.astimezone(LONDON) == london(2026, 10, 26, 8, 0)
    assert opening.astimezone(LONDON).utcoffset() == timedelta(0)


def test_during_the_autumn_fall_back_hour() -> None:
    # 01:30 happens twice on 25 October 2026; both wait for Monday 08:00 GMT.
    first = datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=0)
    second = datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=1)
    assert first.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert second.astimezone(UTC) == utc(2026, 10, 25, 1, 30)
    for now in (first, second):
        assert next_opening(now, WINDOW, LONDON) == utc(2026, 10, 26, 8, 0)


def test_friday_before_the_autumn_change_closes_at_five_utc() -> None:
    assert is_open(utc(2026, 10, 23, 16, 59), WINDOW, LONDON)  # 17:59 BST
    assert next_opening(utc(2026, 10, 23, 17, 0), WINDOW, LONDON) == utc(2026, 10, 26, 8, 0)


# --- errors and purity ---------------------------------------------------------------------


def test_naive_datetime_is_refused() -> None:
    naive = datetime(2026, 1, 14, 12, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_opening(naive, WINDOW, LONDON)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(naive, WINDOW, LONDON)


def test_the_clock_is_never_read() -> None:
    """The answer depends only on the argument, whatever the machine's clock says."""
    now = london(2026, 3, 27, 23, 30)
    expected = utc(2026, 3, 30, 7, 0)
    # Frozen on a Wednesday afternoon in summer, inside the window: a function reading the
    # clock would say "open now".
    with time_machine.travel(utc(2031, 7, 2, 13, 0), tick=False):
        assert datetime.now(UTC) == utc(2031, 7, 2, 13, 0)
        assert next_opening(now, WINDOW, LONDON) == expected
        assert not is_open(now, WINDOW, LONDON)
    # Frozen on a winter Sunday night: still the same answer.
    with time_machine.travel(utc(2019, 12, 29, 23, 0), tick=False):
        assert next_opening(now, WINDOW, LONDON) == expected
        assert is_open(utc(2026, 1, 14, 12, 0), WINDOW, LONDON)


# --- property ------------------------------------------------------------------------------

# Send windows are daytime; the clock changes happen between 01:00 and 02:00 local, so
# windows start at 03:00 or later (a window inside the spring gap does not exist that day).
_times = st.times(min_value=time(3, 0), max_value=time(23, 0)).map(
    lambda t: t.replace(microsecond=0, fold=0)
)


@st.composite
def windows(draw: st.DrawFn) -> SendWindow:
    start = draw(_times)
    end = draw(
        st.times(min_value=start, max_value=time(23, 59, 59))
        .map(lambda t: t.replace(microsecond=0, fold=0))
        .filter(lambda t: t > start)
    )
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    return SendWindow(start=start, end=end, days=tuple(days))


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(now=instants, window=windows())
def test_next_opening_properties(now: datetime, window: SendWindow) -> None:
    opening = next_opening(now, window, LONDON)

    assert opening.tzinfo is UTC
    assert opening >= now
    assert opening - now <= timedelta(days=7, hours=1)
    assert is_open(opening, window, LONDON)
    local = opening.astimezone(LONDON)
    assert window.start <= local.time() < window.end
    assert WEEKDAYS[local.weekday()] in window.days
    if opening > now:
        # Nothing earlier was open: the opening is the start of the window that day.
        assert not is_open(now, window, LONDON)
        assert local.time() == window.start
        assert not is_open(opening - timedelta(microseconds=1), window, LONDON)
    else:
        assert is_open(now, window, LONDON)
