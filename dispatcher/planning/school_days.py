"""School days: the days a school sends non-urgent messages on. Pure: no I/O, no clock.

A day is shut to non-urgent messages when it is a bank holiday (the ``holidays`` package's
table for the calendar's UK region: England and Wales share theirs) or a holiday of the
school's calendar (``config/calendars/<slug>.toml``: between terms, a half-term, a closure).
Weekends are the send window's business (``SendWindow.days``). Staff training days are
school days here: the office is in and can answer replies, even though pupils are not.

Outside the dates its calendar covers, a school's holidays are unknown: only bank holidays
(and the window's days) hold messages there, so a calendar that runs out never holds a
message for ever (keep each calendar a year ahead: decision 0071).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from types import MappingProxyType

import holidays as holidays_package

from dispatcher.config.calendars import SchoolCalendar
from dispatcher.config.configuration import Configuration

#: The region whose bank holidays a school without a calendar keeps.
DEFAULT_REGION = "ENG"


@functools.lru_cache(maxsize=128)
def bank_holidays_of(region: str, year: int) -> Mapping[date, str]:
    """The bank holidays of a UK region (``ENG``, ``WLS``, ``SCT``, ``NIR``) in ``year``,
    with their names (``Christmas Day``, ``Boxing Day (substitute day)``)."""
    table = holidays_package.country_holidays("GB", subdiv=region, years=[year])
    return MappingProxyType({day: str(name) for day, name in table.items()})


@dataclass(frozen=True)
class SchoolDays:
    """Which days one school is shut to non-urgent messages, and why."""

    calendar: SchoolCalendar | None = None
    region: str = DEFAULT_REGION
    #: False: the school's holidays are ignored (weekdays of a holiday are open).
    school_holidays: bool = True

    def without_school_holidays(self) -> SchoolDays:
        """The same days, but open in the school's holidays (bank holidays still shut)."""
        return replace(self, school_holidays=False)

    def bank_holiday(self, day: date) -> str | None:
        """The bank holiday's name on ``day``, or None."""
        return bank_holidays_of(self.region, day.year).get(day)

    def school_holiday(self, day: date) -> str | None:
        """Which of the school's holidays ``day`` is in, or None (a school day, or a day
        the calendar does not cover)."""
        calendar = self.calendar
        if calendar is None or not self.school_holidays:
            return None
        if not calendar.first_day <= day <= calendar.last_day:
            return None
        if not calendar.is_holiday(day):
            return None
        terms = calendar.terms
        for index, term in enumerate(terms):
            if term.start <= day <= term.end:
                if term.half_term is not None and day in term.half_term:
                    return f"the {term.name} half-term holiday"
                return "a school closure day"
            if index + 1 < len(terms) and term.end < day < terms[index + 1].start:
                return f"the school holiday after the {term.name}"
        return "a school holiday"  # pragma: no cover - every day in range is placed above

    def closed_reason(self, day: date) -> str | None:
        """Why ``day`` is shut to non-urgent messages (``bank holiday (Christmas Day)``,
        ``the Autumn term half-term holiday``), or None when it is open."""
        bank = self.bank_holiday(day)
        if bank is not None:
            return f"bank holiday ({bank})"
        return self.school_holiday(day)

    def is_open(self, day: date) -> bool:
        """True when non-urgent messages may go on ``day`` (the window's hours permitting)."""
        return self.closed_reason(day) is None


def school_days_for(configuration: Configuration, slug: str) -> SchoolDays:
    """The school days of the school ``slug``: its calendar's holidays and its region's bank
    holidays (England and Wales without a calendar)."""
    calendar = configuration.calendars.get(slug)
    region = calendar.region if calendar is not None else DEFAULT_REGION
    return SchoolDays(calendar=calendar, region=region)
