"""Send windows: when a non-urgent message may go out. Pure: the time is passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dispatcher.config.policy import CategoryPolicy
from dispatcher.config.schools import SchoolConfig, SendWindow
from dispatcher.domain import Urgency


def _local_instant(day: date, at: object, tz: ZoneInfo) -> datetime:
    # ``at`` is a datetime.time; an instant that does not exist (the spring-forward gap)
    # resolves forward the way zoneinfo does for fold=0.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)  # type: ignore[arg-type]


def is_open(now: datetime, window: SendWindow, tz: ZoneInfo) -> bool:
    """True when ``now`` (an aware datetime) falls inside the school's send window."""
    return next_opening(now, window, tz) == now.astimezone(UTC)


def next_opening(now: datetime, window: SendWindow, tz: ZoneInfo) -> datetime:
    """The earliest instant at or after ``now`` when the window is open, in UTC.

    Returns ``now`` itself (in UTC) when the window is open. The window is in the school's
    wall-clock time, so 08:00 means 08:00 in Europe/London on either side of a clock change.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now_utc = now.astimezone(UTC)
    today = now_utc.astimezone(tz).date()
    open_days = window.weekday_numbers()
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() not in open_days:
            continue
        start = _local_instant(day, window.start, tz)
        end = _local_instant(day, window.end, tz)
        if now_utc < start:
            return start
        if now_utc < end:
            return now_utc
    raise AssertionError("a send window has at least one open day")  # pragma: no cover


def hold_until(category: CategoryPolicy, school: SchoolConfig, now: datetime) -> datetime | None:
    """When a delivery planned ``now`` may go out, or None if it may go at once."""
    if not category.send_window_applies or category.urgency is Urgency.URGENT:
        return None
    opening = next_opening(now, school.send_window, school.tz)
    return opening if opening > now else None
