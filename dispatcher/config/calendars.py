"""School calendars (``config/calendars/<slug>.toml``, optionally with an iCalendar file): terms
and half-terms, closures, staff training days and events, read into ``SchoolCalendar`` values
that the reminder rules work from. A mistake names the file, the key and what was expected:
``config/calendars/demo.toml: events.2.audience: ...``.

Vocabulary:

- A *school day* is a day pupils are in: a weekday inside a term, outside its half-term and
  the school's other closures, not a bank holiday and not a training day.
- A *holiday* is every other day between (and before and after) the terms of the file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo

import icalendar
from pydantic import Field, ValidationError, field_validator

from dispatcher.audience import AudienceError, parse_audience
from dispatcher.config.files import ConfigError, StrictModel, first_error, read_toml
from dispatcher.config.schools import SchoolConfig

DatesSource = Literal["pattern", "published"]

#: What a listing says about a calendar's dates.
DATES_NOTES: dict[str, str] = {
    "pattern": "pattern, not checked against the school's published dates",
    "published": "checked against the school's published dates",
}


@dataclass(frozen=True)
class DateRange:
    """Days from ``start`` to ``end``, both included."""

    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass(frozen=True)
class Term:
    """A term: first and last day (training days included) and its half-term holiday."""

    name: str
    start: date
    end: date
    half_term: DateRange | None = None


@dataclass(frozen=True)
class TrainingDay:
    """A staff training (INSET) day: the school is open to staff, closed to pupils."""

    day: date
    note: str = ""


@dataclass(frozen=True)
class CalendarEvent:
    """Something families need notice of: a date, an optional time, who it is for."""

    event_id: str
    day: date
    title: str
    audience: tuple[str, ...] = ("school",)
    at: time | None = None
    details: str | None = None


@dataclass(frozen=True)
class SchoolCalendar:
    """One school's academic year."""

    school: str
    terms: tuple[Term, ...]
    training_days: tuple[TrainingDay, ...] = ()
    closures: tuple[DateRange, ...] = ()
    events: tuple[CalendarEvent, ...] = ()
    region: str = "ENG"
    #: ``pattern``: dates made from a usual school-year pattern, not checked against the
    #: school's published calendar; ``published``: checked against it.
    dates_source: DatesSource = "pattern"

    @property
    def dates_checked(self) -> bool:
        """True once the dates have been checked against the school's published calendar."""
        return self.dates_source == "published"

    @property
    def dates_note(self) -> str:
        """How far the dates can be trusted, in the words every listing uses."""
        return DATES_NOTES[self.dates_source]

    @property
    def first_day(self) -> date:
        """The first day the calendar knows about (its first term's start)."""
        return min(t.start for t in self.terms)

    @property
    def last_day(self) -> date:
        """The last day the calendar knows about (its last term's end)."""
        return max(t.end for t in self.terms)

    def years(self) -> list[int]:
        """Calendar years the file touches (for looking up bank holidays)."""
        return list(range(self.first_day.year - 1, self.last_day.year + 2))

    def is_holiday(self, day: date) -> bool:
        """True outside every term, in a half-term, or on another closure day."""
        for term in self.terms:
            if term.start <= day <= term.end:
                if term.half_term is not None and day in term.half_term:
                    return True
                return any(day in closure for closure in self.closures)
        return True

    def is_training_day(self, day: date) -> bool:
        """True on a staff training day."""
        return any(t.day == day for t in self.training_days)

    def is_school_day(self, day: date, bank_holidays: frozenset[date]) -> bool:
        """True when pupils are in school on ``day``."""
        return (
            day.weekday() < 5
            and day not in bank_holidays
            and not self.is_holiday(day)
            and not self.is_training_day(day)
        )


def slugify(text: str) -> str:
    """Lower-case letters, digits and dashes: a stable part of a reminder key."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "x"


REGIONS = ("ENG", "WLS", "SCT", "NIR")


class _Range(StrictModel):
    start: dt.date
    end: dt.date

    def to_range(self) -> DateRange:
        if self.end < self.start:
            raise ValueError("end must be on or after start")
        return DateRange(self.start, self.end)


class _TermFile(StrictModel):
    name: str = Field(min_length=1, description="e.g. Autumn term")
    start: dt.date = Field(description="First day of term (training days included).")
    end: dt.date = Field(description="Last day of term.")
    half_term: _Range | None = None


class _Closure(StrictModel):
    start: dt.date
    end: dt.date | None = None
    title: str = ""


class _TrainingFile(StrictModel):
    date: dt.date
    note: str = ""


class _EventFile(StrictModel):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,59}$")] | None = Field(
        default=None, description="Stable id (keeps reminders when the title changes)."
    )
    date: dt.date
    time: dt.time | None = None
    title: str = Field(min_length=1, max_length=120)
    audience: list[str] = Field(default_factory=lambda: ["school"])
    details: str | None = Field(default=None, max_length=300)

    @field_validator("audience")
    @classmethod
    def _audience(cls, audience: list[str]) -> list[str]:
        try:
            return [str(s) for s in parse_audience(audience)]
        except AudienceError as exc:
            raise ValueError(str(exc)) from None


class _CalendarFile(StrictModel):
    academic_year: str = Field(default="", description="e.g. 2026-27 (for people).")
    region: Literal["ENG", "WLS", "SCT", "NIR"] = "ENG"
    dates_source: DatesSource = Field(
        default="pattern",
        description="pattern (a usual school-year pattern, not checked) or published "
        "(checked against the school's published calendar).",
    )
    terms: list[_TermFile] = Field(min_length=1)
    closures: list[_Closure] = Field(default_factory=list)
    training_days: list[_TrainingFile] = Field(default_factory=list)
    events: list[_EventFile] = Field(default_factory=list)


def _check_terms(path: Path, terms: list[_TermFile]) -> tuple[Term, ...]:
    built: list[Term] = []
    for index, term in enumerate(terms):
        if term.end < term.start:
            raise ConfigError(path, f"terms.{index}.end", "a date on or after the term's start")
        half: DateRange | None = None
        if term.half_term is not None:
            if term.half_term.end < term.half_term.start:
                raise ConfigError(
                    path, f"terms.{index}.half_term.end", "a date on or after its start"
                )
            if not (term.start < term.half_term.start and term.half_term.end < term.end):
                raise ConfigError(
                    path, f"terms.{index}.half_term", "a holiday inside the term's start and end"
                )
            half = DateRange(term.half_term.start, term.half_term.end)
        if built and term.start <= built[-1].end:
            raise ConfigError(
                path, f"terms.{index}.start", "a date after the previous term's end (in order)"
            )
        built.append(Term(term.name, term.start, term.end, half))
    return tuple(built)


def parse_calendar(path: Path, school: str, raw: dict[str, Any]) -> SchoolCalendar:
    """Check a calendar read from ``path`` and build the ``SchoolCalendar``.

    Raises ``ConfigError`` naming the key: terms out of order or overlapping, a half-term
    outside its term, a training day or closure outside every term or at a weekend, an event
    audience that cannot be parsed, two events with one id.
    """
    try:
        parsed = _CalendarFile(**raw)
    except ValidationError as exc:
        raise first_error(path, exc) from None
    terms = _check_terms(path, parsed.terms)

    def in_a_term(day: dt.date) -> bool:
        return any(t.start <= day <= t.end for t in terms)

    closures: list[DateRange] = []
    for index, closure in enumerate(parsed.closures):
        end = closure.end or closure.start
        if end < closure.start:
            raise ConfigError(path, f"closures.{index}.end", "a date on or after its start")
        if not in_a_term(closure.start):
            raise ConfigError(path, f"closures.{index}.start", "a date inside one of the terms")
        closures.append(DateRange(closure.start, end))
    training: list[TrainingDay] = []
    for index, day in enumerate(parsed.training_days):
        if not in_a_term(day.date) or day.date.weekday() >= 5:
            raise ConfigError(
                path, f"training_days.{index}.date", "a weekday inside one of the terms"
            )
        training.append(TrainingDay(day.date, day.note))
    events: list[CalendarEvent] = []
    seen: dict[str, int] = {}
    for index, event in enumerate(parsed.events):
        event_id = event.id or f"{event.date.isoformat()}-{slugify(event.title)}"
        if event_id in seen:
            raise ConfigError(
                path,
                f"events.{index}.id",
                f"an id not used by events.{seen[event_id]} (give each event its own id)",
            )
        seen[event_id] = index
        events.append(
            CalendarEvent(
                event_id=event_id,
                day=event.date,
                title=event.title,
                audience=tuple(event.audience),
                at=event.time,
                details=event.details,
            )
        )
    return SchoolCalendar(
        school=school,
        terms=terms,
        training_days=tuple(training),
        closures=tuple(closures),
        events=tuple(events),
        region=parsed.region,
        dates_source=parsed.dates_source,
    )


TRAINING_CATEGORIES = frozenset({"inset", "training", "training day", "staff training"})


def _categories(component: Any) -> list[str]:
    value = component.get("CATEGORIES")
    if value is None:
        return []
    parts = value if isinstance(value, list) else [value]
    return [str(category).strip() for part in parts for category in part.cats]


def parse_ics(path: Path, data: bytes, calendar: SchoolCalendar, tz: ZoneInfo) -> SchoolCalendar:
    """Add the events and training days of an iCalendar file (``calendars/<slug>.ics``, as a
    school website's calendar exports it) to ``calendar``, whose terms come from the TOML.

    Each VEVENT needs UID, SUMMARY and DTSTART (a date, or a date-time read in the school's
    time zone). CATEGORIES say who it is for (``school``, ``year:6``, ``class:6B``,
    ``group:choir``; default the whole school); a category ``INSET`` or ``Training day``
    makes it a staff training day. Other categories without a colon (``Sports``) are ignored.
    DESCRIPTION becomes the details. Recurring events (RRULE) are refused: list each date.
    """
    try:
        parsed = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise ConfigError(path, "(syntax)", f"an iCalendar file ({exc})") from None
    events = list(calendar.events)
    training = list(calendar.training_days)
    seen = {e.event_id for e in events}
    for index, component in enumerate(parsed.walk("VEVENT")):
        uid = str(component.get("UID") or "").strip()
        where = f"VEVENT {uid or index}"
        if not uid:
            raise ConfigError(path, f"{where}.UID", "a UID (it keeps reminders stable)")
        summary = str(component.get("SUMMARY") or "").strip()
        if not summary:
            raise ConfigError(path, f"{where}.SUMMARY", "a title")
        if component.get("RRULE") is not None:
            raise ConfigError(
                path, f"{where}.RRULE", "no repeat rule: list each date as its own event"
            )
        if component.get("DTSTART") is None:
            raise ConfigError(path, f"{where}.DTSTART", "a date or a date and time")
        start = component.decoded("DTSTART")
        at: dt.time | None = None
        if isinstance(start, dt.datetime):
            local = start.astimezone(tz) if start.tzinfo else start
            day, at = local.date(), local.time().replace(second=0, microsecond=0)
        else:
            day = start
        categories = _categories(component)
        if any(c.lower() in TRAINING_CATEGORIES for c in categories):
            if not any(t.start <= day <= t.end for t in calendar.terms) or day.weekday() >= 5:
                raise ConfigError(
                    path, f"{where}.DTSTART", "a training day on a weekday inside a term"
                )
            training.append(TrainingDay(day, str(component.get("DESCRIPTION") or "").strip()))
            continue
        audience_specs = [c for c in categories if ":" in c or c.lower() == "school"]
        try:
            audience = tuple(str(a) for a in parse_audience(audience_specs or ["school"]))
        except AudienceError as exc:
            raise ConfigError(path, f"{where}.CATEGORIES", str(exc)) from None
        event_id = f"ics-{slugify(uid)}"
        if event_id in seen:
            raise ConfigError(path, f"{where}.UID", "a UID used by no other event")
        seen.add(event_id)
        details = str(component.get("DESCRIPTION") or "").strip() or None
        events.append(
            CalendarEvent(
                event_id=event_id,
                day=day,
                title=summary[:120],
                audience=audience,
                at=at,
                details=details[:300] if details else None,
            )
        )
    return replace(calendar, events=tuple(events), training_days=tuple(training))


def load_calendar(path: Path, schools: Mapping[str, SchoolConfig]) -> SchoolCalendar:
    """Read one ``calendars/<slug>.toml`` (the slug must be one of ``schools``) and, when
    there is one beside it, ``calendars/<slug>.ics`` (see ``parse_ics``)."""
    if path.stem not in schools:
        known = ", ".join(sorted(schools))
        raise ConfigError(path, "(file name)", f"the slug of a school in schools/ (one of {known})")
    calendar = parse_calendar(path, path.stem, read_toml(path))
    ics = path.with_suffix(".ics")
    if ics.is_file():
        calendar = parse_ics(ics, ics.read_bytes(), calendar, schools[path.stem].tz)
    return calendar


def load_calendars(
    config_dir: Path, schools: Mapping[str, SchoolConfig] | _HasSchools
) -> dict[str, SchoolCalendar]:
    """Every ``calendars/*.toml`` (with its ``.ics``, if any) under ``config_dir``, keyed by
    school slug; no folder: no calendars. An ``.ics`` file without its ``.toml`` (which gives
    the terms) is an error. ``schools`` is the schools by slug (or a configuration)."""
    known = schools if isinstance(schools, Mapping) else schools.schools
    folder = config_dir / "calendars"
    if not folder.is_dir():
        return {}
    for ics in sorted(folder.glob("*.ics")):
        if not ics.with_suffix(".toml").is_file():
            raise ConfigError(ics, "(file)", f"a {ics.stem}.toml beside it with the school's terms")
    return {p.stem: load_calendar(p, known) for p in sorted(folder.glob("*.toml"))}


class _HasSchools(Protocol):
    @property
    def schools(self) -> Mapping[str, SchoolConfig]: ...
