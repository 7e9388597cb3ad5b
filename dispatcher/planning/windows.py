"""Send windows: when a non-urgent message may go out. Pure: the time is passed in.

A non-urgent message goes inside the school's send window (its hours, on its days) on a day
the school is open (``dispatcher.planning.school_days``: not a bank holiday, not one of the
school's holidays). Whatever triggered it (the CLI, the API, an MIS event, the clock), a
message that falls outside waits for the next school day's window. Urgent categories, and
categories with ``send_window_applies = false``, go at once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig, SendWindow
from dispatcher.domain import Urgency
from dispatcher.planning.school_days import SchoolDays

MONDAY_TO_FRIDAY = ("mon", "tue", "wed", "thu", "fri")

#: How far ahead the next opening is looked for: more than a year of holidays.
SEARCH_DAYS = 400


def _local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    # An instant that does not exist (the spring-forward gap) resolves forward the way
    # zoneinfo does for fold=0.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def is_open(
    now: datetime, window: SendWindow, tz: ZoneInfo, days: SchoolDays | None = None
) -> bool:
    """True when ``now`` (an aware datetime) falls inside the school's send window, on a
    day ``days`` leaves open (every day when None)."""
    return next_opening(now, window, tz, days) == now.astimezone(UTC)


def next_opening(
    now: datetime, window: SendWindow, tz: ZoneInfo, days: SchoolDays | None = None
) -> datetime:
    """The earliest instant at or after ``now`` when the window is open, in UTC.

    Returns ``now`` itself (in UTC) when the window is open. The window is in the school's
    wall-clock time, so 08:00 means 08:00 in Europe/London on either side of a clock change.
    With ``days``, a bank holiday or a school holiday is skipped like a day the window is
    shut. Raises ``ValueError`` for a naive ``now``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now_utc = now.astimezone(UTC)
    today = now_utc.astimezone(tz).date()
    open_days = window.weekday_numbers()
    for offset in range(SEARCH_DAYS):
        day = today + timedelta(days=offset)
        if day.weekday() not in open_days:
            continue
        if days is not None and not days.is_open(day):
            continue
        start = _local_instant(day, window.start, tz)
        end = _local_instant(day, window.end, tz)
        if now_utc < start:
            return start
        if now_utc < end:
            return now_utc
    # Only a calendar of holidays longer than SEARCH_DAYS gets here: the window alone decides.
    return next_opening(now, window, tz)


def applicable_days(category: CategoryPolicy, days: SchoolDays) -> SchoolDays:
    """The school days ``category`` waits for: without the school's holidays when its
    policy says ``school_holidays_apply = false``."""
    return days if category.school_holidays_apply else days.without_school_holidays()


def hold_until(
    category: CategoryPolicy, school: SchoolConfig, now: datetime, days: SchoolDays
) -> datetime | None:
    """When a delivery planned ``now`` may go out, or None if it may go at once.

    Urgent categories (and those without the send window) go at once; the others wait for
    the school's send window on its next school day (``days``)."""
    if not category.send_window_applies or category.urgency is Urgency.URGENT:
        return None
    opening = next_opening(now, school.send_window, school.tz, applicable_days(category, days))
    return opening if opening > now else None


def hold_reason(
    category: CategoryPolicy,
    school: SchoolConfig,
    now: datetime,
    opening: datetime,
    days: SchoolDays,
) -> str:
    """Why a message planned ``now`` waits until ``opening``, in words for the office:
    the first shut day between them (``Friday 25 December 2026: bank holiday (Christmas
    Day)``), or the window itself (``outside the send window (weekdays 08:00-18:00)``)."""
    tz = school.tz
    window = school.send_window
    effective = applicable_days(category, days)
    day = now.astimezone(tz).date()
    last = opening.astimezone(tz).date()
    while day <= last:
        reason = effective.closed_reason(day) if day.weekday() in window.weekday_numbers() else None
        if reason is not None:
            return f"{day:%A} {day.day} {day:%B %Y}: {reason}"
        day += timedelta(days=1)
    on = "weekdays" if window.days == MONDAY_TO_FRIDAY else ", ".join(window.days)
    return f"outside the send window ({on} {window.start:%H:%M}-{window.end:%H:%M})"


def local_time_in_words(moment: datetime, tz: ZoneInfo) -> str:
    """``moment`` as the school reads it: "Monday 4 January 2027 at 08:00" in ``tz``."""
    local = moment.astimezone(tz)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"
