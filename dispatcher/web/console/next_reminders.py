"""The home page's "Next reminders": the calendar reminders the clock sends next for the
schools someone acts for, with the school, what it is about and when, in the school's time.

The schedules come from the calendars and ``reminders.toml`` (``dispatcher.triggers.
reminders``, what ``dispatcher calendar list`` shows), worked out once per process: they
change only with the configuration, which a restart reloads. Choosing and wording the next
ones (``upcoming``, ``reminder_line``) is pure: time is passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from dispatcher.config.calendars import load_calendars
from dispatcher.config.files import ConfigError
from dispatcher.config.reminders import load_reminder_settings
from dispatcher.runtime import Runtime
from dispatcher.triggers.reminders.clock import school_schedule
from dispatcher.triggers.reminders.rules import Reminder, long_date, short_time

log = logging.getLogger("dispatcher.web.console.next_reminders")

#: How many the home page shows.
SHOWN = 5
_MEMO_KEY = "web.console.reminder_schedules"


@dataclass(frozen=True)
class ReminderLine:
    """One reminder as the home page shows it."""

    school: str
    what: str
    when: str
    due_at: datetime


def upcoming(
    schedules: Mapping[str, Iterable[Reminder]], slugs: Iterable[str], now: datetime, limit: int
) -> list[Reminder]:
    """The ``limit`` reminders of the schools ``slugs`` due soonest at or after ``now``
    (earliest first; a tie by school and key, so the order never flickers)."""
    due = [
        reminder for slug in slugs for reminder in schedules.get(slug, ()) if reminder.due_at >= now
    ]
    return sorted(due, key=lambda r: (r.due_at, r.school, r.key))[:limit]


def reminder_line(reminder: Reminder, school_name: str) -> ReminderLine:
    """``reminder`` in words: what (the event or term and its date) and when it is sent,
    in the school's time (``Wednesday 9 December at 2pm``)."""
    what = reminder.variables.get("event") or reminder.title
    if reminder.variables.get("date"):
        what = f"{what}: {reminder.variables['date']}"
    local = reminder.due_at.astimezone(reminder.tz)
    when = f"{long_date(local.date())} at {short_time(local.time())}"
    return ReminderLine(school=school_name, what=what, when=when, due_at=reminder.due_at)


def _schedules(runtime: Runtime) -> dict[str, tuple[Reminder, ...]] | None:
    held = runtime.memo.get(_MEMO_KEY)
    if held is not None:
        assert isinstance(held, dict)
        return held
    config_dir = runtime.settings.config_dir
    try:
        calendars = load_calendars(config_dir, runtime.configuration)
        settings = load_reminder_settings(config_dir)
    except ConfigError as exc:
        log.warning("the home page cannot read the school calendars: %s", exc)
        return None
    schedules = {
        slug: school_schedule(runtime, calendar, settings).reminders
        for slug, calendar in calendars.items()
    }
    runtime.memo[_MEMO_KEY] = schedules
    return schedules


def next_reminders(runtime: Runtime, slugs: list[str], now: datetime) -> list[ReminderLine] | None:
    """The next ``SHOWN`` reminders of the schools ``slugs``, in words; None when the
    calendars cannot be read (the page says so rather than failing)."""
    schedules = _schedules(runtime)
    if schedules is None:
        return None
    names = {slug: runtime.configuration.schools[slug].name for slug in slugs}
    return [
        reminder_line(reminder, names.get(reminder.school, reminder.school))
        for reminder in upcoming(schedules, slugs, now, SHOWN)
    ]
