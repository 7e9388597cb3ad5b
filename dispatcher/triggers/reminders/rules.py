"""The reminders a school calendar produces. Pure: no I/O, no clock.

``compute_reminders`` turns a ``SchoolCalendar`` (``dispatcher.config.calendars``), with the
reminder rules, the bank holidays and the school's send window and time zone, into
``Reminder`` values: what to send, to whom, and the instant (UTC) it is due. ``classify``
says, for a given "now", whether a reminder is still to come, due now, missed (the clock was
not running) or too old to matter. The clock (``dispatcher.triggers.reminders.clock``) does
the I/O around these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import holidays as holidays_package

from dispatcher.config.calendars import SchoolCalendar, TrainingDay
from dispatcher.config.reminders import ReminderRule, ReminderSettings, ReminderSubject, ShiftTo
from dispatcher.config.schools import SendWindow

ReminderStatus = Literal["upcoming", "due", "missed", "expired"]


#: How far back a reminder may be moved to find an allowed day before it is given up.
MAX_SHIFT_DAYS = 60
FRIDAY = 4


@dataclass(frozen=True)
class Reminder:
    """One message the clock will send: what, to whom, and when (UTC)."""

    key: str
    school: str
    rule: str
    category: str
    audience: tuple[str, ...]
    variables: dict[str, str]
    subject_date: date
    fire_date: date
    due_at: datetime
    title: str
    tz: ZoneInfo


@dataclass(frozen=True)
class SkippedReminder:
    """A reminder the rules ask for but that cannot be placed, and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class Schedule:
    """Every reminder of a calendar, in due order, and those that could not be placed."""

    reminders: tuple[Reminder, ...]
    skipped: tuple[SkippedReminder, ...] = field(default_factory=tuple)


def bank_holidays(region: str, years: Iterable[int]) -> frozenset[date]:
    """Bank holidays of a UK region (``ENG``, ``WLS``, ``SCT``, ``NIR``) in ``years``.

    Computed by the ``holidays`` package (England and Wales share theirs); no I/O.
    """
    table = holidays_package.country_holidays("GB", subdiv=region, years=list(years))
    return frozenset(table.keys())


def long_date(day: date) -> str:
    """``Thursday 10 December`` (how the templates say a date)."""
    return f"{day:%A} {day.day} {day:%B}"


def short_time(at: time) -> str:
    """``3:30pm`` / ``9am``."""
    hour = at.hour % 12 or 12
    suffix = "am" if at.hour < 12 else "pm"
    return f"{hour}{suffix}" if at.minute == 0 else f"{hour}:{at.minute:02d}{suffix}"


def send_time_in_window(wanted: time, window: SendWindow) -> time:
    """``wanted`` when it is inside the send window, else the window's opening time."""
    if window.start <= wanted < window.end:
        return wanted
    return window.start


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``tz`` (correct across DST)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _allowed_day_test(
    calendar: SchoolCalendar,
    shift_to: ShiftTo,
    window: SendWindow,
    bank: frozenset[date],
) -> Callable[[date], bool]:
    open_days = window.weekday_numbers()

    def allowed(day: date) -> bool:
        if day.weekday() not in open_days or day in bank:
            return False
        if shift_to == "weekday":
            return True
        return calendar.is_school_day(day, bank)

    return allowed


def shift_back(
    day: date, allowed: Callable[[date], bool], not_before: date | None = None
) -> date | None:
    """``day`` if allowed, else the nearest earlier allowed day; None if none is found
    within ``MAX_SHIFT_DAYS`` (or on or after ``not_before``)."""
    for offset in range(MAX_SHIFT_DAYS + 1):
        candidate = day - timedelta(days=offset)
        if not_before is not None and candidate < not_before:
            return None
        if allowed(candidate):
            return candidate
    return None


def school_days_before(
    day: date, count: int, allowed: Callable[[date], bool], not_before: date | None = None
) -> date | None:
    """The ``count``-th allowed day strictly before ``day`` (None if there is none)."""
    candidate = day
    for _ in range(count):
        found = shift_back(candidate - timedelta(days=1), allowed, not_before)
        if found is None:
            return None
        candidate = found
    return candidate


@dataclass(frozen=True)
class _Subject:
    kind: ReminderSubject
    subject_id: str
    day: date
    title: str
    audience: tuple[str, ...]
    variables: dict[str, str]
    holiday_start: date | None = None  # term starts: first day of the holiday before
    period_start: date | None = None  # term starts: the term's (or half-term return's) first day


def _periods(
    calendar: SchoolCalendar, half_term_returns: bool
) -> list[tuple[str, date, date | None]]:
    """(name, first day, first day of the holiday before it) for every return to school; the
    holiday before the first term starts before the file does (None)."""
    starts: list[tuple[str, date, date | None]] = []
    previous_end: date | None = None
    for term in sorted(calendar.terms, key=lambda t: t.start):
        holiday_start = previous_end + timedelta(days=1) if previous_end else None
        starts.append((f"{term.name} starts for pupils", term.start, holiday_start))
        if term.half_term is not None and half_term_returns:
            back = term.half_term.end + timedelta(days=1)
            while back.weekday() >= 5:
                back += timedelta(days=1)
            starts.append(("School reopens after half-term", back, term.half_term.start))
        previous_end = term.end
    return starts


def _date_list(days: list[date]) -> str:
    if len(days) == 1:
        return long_date(days[0])
    return f"{long_date(days[0])} to {long_date(days[-1])}"


def _training_runs(calendar: SchoolCalendar, bank: frozenset[date]) -> list[list[TrainingDay]]:
    """Training days grouped into runs with no school day between them."""
    runs: list[list[TrainingDay]] = []
    for training in sorted(calendar.training_days, key=lambda t: t.day):
        if runs:
            last = runs[-1][-1].day
            gap = [last + timedelta(days=n) for n in range(1, (training.day - last).days)]
            if not any(calendar.is_school_day(d, bank) for d in gap):
                runs[-1].append(training)
                continue
        runs.append([training])
    return runs


def _subjects(
    calendar: SchoolCalendar, settings: ReminderSettings, bank: frozenset[date]
) -> list[_Subject]:
    subjects: list[_Subject] = []
    covered_training: set[date] = set()
    for event_text, first_day, holiday_start in _periods(calendar, settings.half_term_returns):
        # Pupils return on the first school day; training days before it are in this message.
        pupils_back = first_day
        inset: list[date] = []
        for offset in range(14):
            day = first_day + timedelta(days=offset)
            if calendar.is_school_day(day, bank):
                pupils_back = day
                break
            if calendar.is_training_day(day):
                inset.append(day)
        covered_training.update(inset)
        details = f"Pupils return on {long_date(pupils_back)}."
        if inset:
            noun = "a staff training day" if len(inset) == 1 else "staff training days"
            details += f" {_date_list(inset)}: {noun}, school closed to pupils."
        subjects.append(
            _Subject(
                kind="term_start",
                subject_id=first_day.isoformat(),
                day=pupils_back,
                title=event_text,
                audience=("school",),
                variables={
                    "event": event_text,
                    "date": long_date(pupils_back),
                    "details": details,
                },
                holiday_start=holiday_start,
                period_start=first_day,
            )
        )
    for run in _training_runs(calendar, bank):
        days = [t.day for t in run]
        if set(days) <= covered_training:
            continue
        notes = "; ".join(t.note for t in run if t.note)
        noun = "Staff training day" if len(days) == 1 else "Staff training days"
        subjects.append(
            _Subject(
                kind="training_day",
                subject_id=days[0].isoformat(),
                day=days[0],
                title=noun,
                audience=("school",),
                variables={
                    "event": f"{noun}: school closed to pupils",
                    "date": _date_list(days),
                    **({"details": notes} if notes else {}),
                },
            )
        )
    for event in calendar.events:
        variables = {"event": event.title, "date": long_date(event.day)}
        if event.at is not None:
            variables["time"] = short_time(event.at)
        if event.details:
            variables["details"] = event.details
        subjects.append(
            _Subject(
                kind="event",
                subject_id=event.event_id,
                day=event.day,
                title=event.title,
                audience=event.audience,
                variables=variables,
            )
        )
    return subjects


def _fire_date(
    subject: _Subject,
    rule: ReminderRule,
    allowed: Callable[[date], bool],
    not_before: date | None,
) -> date | None:
    if rule.last_friday_of_holiday:
        start = subject.period_start or subject.day
        friday = start - timedelta(days=(start.weekday() - FRIDAY - 1) % 7 + 1)
        in_holiday = subject.holiday_start is None or friday >= subject.holiday_start
        nominal = friday if in_holiday else start - timedelta(days=1)
        return shift_back(nominal, allowed)
    if rule.school_days_before is not None:
        return school_days_before(subject.day, rule.school_days_before, allowed, not_before)
    nominal = subject.day - timedelta(days=rule.days_before or 0)
    return shift_back(nominal, allowed, not_before)


def compute_reminders(
    calendar: SchoolCalendar,
    settings: ReminderSettings,
    window: SendWindow,
    tz: ZoneInfo,
    bank: frozenset[date],
) -> Schedule:
    """Every reminder the rules give for ``calendar``, sorted by due time.

    Each reminder lands on an allowed day (see ``ReminderRule.shift_to``) that is also a day
    of the school's send window, at the rule's (or default) time moved inside the window, in
    the school's time zone. ``school_day`` reminders are never placed before the calendar's
    first term (the file does not know the holidays before it): those are ``skipped``. When
    two reminders of one subject land on the same day, only the one with the shorter notice
    is kept. Keys are stable: ``reminder:<kind>:<id>:<rule>``.
    """
    subjects = _subjects(calendar, settings, bank)
    chosen: dict[tuple[str, str, date], tuple[ReminderRule, Reminder]] = {}
    skipped: list[SkippedReminder] = []
    for subject in subjects:
        for rule in settings.rules:
            if rule.applies_to != subject.kind:
                continue
            key = f"reminder:{subject.kind}:{subject.subject_id}:{rule.name}"
            allowed = _allowed_day_test(calendar, rule.shift_to, window, bank)
            # Before its first term the file does not know the school's holidays.
            not_before = calendar.first_day if rule.shift_to == "school_day" else None
            fire_date = _fire_date(subject, rule, allowed, not_before)
            if fire_date is None:
                skipped.append(
                    SkippedReminder(
                        key, f"no allowed day to send it on before {subject.day.isoformat()}"
                    )
                )
                continue
            at = send_time_in_window(rule.send_time or settings.send_time, window)
            reminder = Reminder(
                key=key,
                school=calendar.school,
                rule=rule.name,
                category=rule.category,
                audience=subject.audience,
                variables=dict(subject.variables),
                subject_date=subject.day,
                fire_date=fire_date,
                due_at=local_instant(fire_date, at, tz),
                title=subject.title,
                tz=tz,
            )
            slot = (subject.kind, subject.subject_id, fire_date)
            earlier = chosen.get(slot)
            if earlier is None or rule.lead_days < earlier[0].lead_days:
                if earlier is not None:
                    skipped.append(SkippedReminder(earlier[1].key, f"same day as {key}: sent once"))
                chosen[slot] = (rule, reminder)
            else:
                skipped.append(SkippedReminder(key, f"same day as {earlier[1].key}: sent once"))
    reminders = sorted((r for _, r in chosen.values()), key=lambda r: (r.due_at, r.key))
    return Schedule(tuple(reminders), tuple(skipped))


def classify(reminder: Reminder, now: datetime, settings: ReminderSettings) -> ReminderStatus:
    """Where ``reminder`` stands at ``now`` (aware) for a clock that has not handled it.

    - ``upcoming``: its time has not come;
    - ``due``: its time came less than ``settings.catch_up`` ago and what it is about has
      not started yet (by the school's calendar date): send it now;
    - ``missed``: older than that (the clock was not running), but within
      ``settings.missed_lookback``: record it as missed and report it, do not send it late;
    - ``expired``: older still: outside what the clock looks at.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now_utc = now.astimezone(UTC)
    if reminder.due_at > now_utc:
        return "upcoming"
    late = now_utc - reminder.due_at
    if late > settings.missed_lookback:
        return "expired"
    local_today = now_utc.astimezone(reminder.tz).date()
    if late <= settings.catch_up and local_today < reminder.subject_date:
        return "due"
    return "missed"


def missed_reason(reminder: Reminder, now: datetime, settings: ReminderSettings) -> str:
    """Why a reminder that ``classify`` calls missed was not sent (for logs and the list)."""
    late = now.astimezone(UTC) - reminder.due_at
    if late > settings.catch_up:
        hours = int(late.total_seconds() // 3600)
        limit = int(settings.catch_up.total_seconds() // 3600)
        return f"no clock was running when it was due ({hours} h ago; catch-up is {limit} h)"
    return f"too late: {reminder.title} is on {reminder.subject_date.isoformat()}"


def handle_now(
    schedule: Schedule, now: datetime, settings: ReminderSettings
) -> tuple[list[Reminder], list[Reminder]]:
    """The reminders to send now and those to record as missed, at ``now``."""
    due: list[Reminder] = []
    missed: list[Reminder] = []
    for reminder in schedule.reminders:
        status = classify(reminder, now, settings)
        if status == "due":
            due.append(reminder)
        elif status == "missed":
            missed.append(reminder)
    return due, missed
