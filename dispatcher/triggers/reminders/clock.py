"""The reminder clock: every tick, send the calendar reminders that are due, exactly once.

How exactly-once holds (two clocks, a crash, a restart):

- A tick runs only while its clock holds a Redis lock (redis-py ``Lock`` with a timeout, so a
  clock that dies mid-tick frees it). Two clocks therefore take turns instead of racing. The
  lock is an optimisation, not the guarantee: it can expire under a slow tick.
- The guarantee is the database: ``reminder_fires`` has a unique (school_id, reminder_key).
  Firing a reminder inserts its row *first*, then creates the announcement (whose idempotency
  key is the reminder key) in the same transaction, and commits. A second clock's insert of
  the same key fails (or waits for the first and then fails) and it moves on.
- The plan job is queued after the commit, as ``dispatcher announce`` does. A clock that dies
  between the commit and the enqueue leaves an announcement in state ``received`` with no plan
  message: the workers' recovery sweep (``replay_lost_plans``) queues it.
- Catch-up: a reminder whose time passed while no clock ran is sent if it is less than
  ``catch_up`` old (24 h) and what it announces has not started; older ones, back to
  ``missed_lookback`` (14 days), are recorded with outcome ``missed`` and logged, never sent
  late. Older still are ignored.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker
from redis.lock import Lock
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from dispatcher.config.calendars import SchoolCalendar
from dispatcher.config.files import ConfigError
from dispatcher.config.reminders import ReminderSettings
from dispatcher.queue.enqueue import enqueue
from dispatcher.queue.work import plan_work
from dispatcher.records.retention import retention_due, run_retention
from dispatcher.runtime import Runtime
from dispatcher.stopping import Stoppable
from dispatcher.store.models import Announcement, ReminderFire
from dispatcher.store.retention import last_run
from dispatcher.store.schools import ensure_school
from dispatcher.triggers.announcements import (
    AnnouncementRequest,
    RequestError,
    create_announcement,
    validate_request,
)
from dispatcher.triggers.reminders.rules import (
    Reminder,
    Schedule,
    bank_holidays,
    classify,
    compute_reminders,
    missed_reason,
)

log = logging.getLogger("dispatcher.clock")

LOCK_NAME = "dispatcher:clock:lock"
CLOCK_ACTOR = "clock"

Calendars = dict[str, SchoolCalendar]
Loader = Callable[[], tuple[Calendars, ReminderSettings]]


@dataclass
class TickReport:
    """What one tick did. ``locked`` is False when another clock held the lock."""

    at: datetime
    locked: bool = True
    sent: list[dict[str, Any]] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    already_handled: int = 0
    errors: list[str] = field(default_factory=list)
    #: The day's retention run, when this tick ran it (its counts; no personal data).
    retention: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "at": self.at.isoformat(),
            "locked": self.locked,
            "sent": self.sent,
            "missed": self.missed,
            "failed": self.failed,
            "already_handled": self.already_handled,
            "errors": self.errors,
            "retention": self.retention,
        }


@functools.lru_cache(maxsize=32)
def _bank_holidays(region: str, years: tuple[int, ...]) -> frozenset[date]:
    return bank_holidays(region, years)


def school_schedule(
    runtime: Runtime, calendar: SchoolCalendar, settings: ReminderSettings
) -> Schedule:
    """The school's reminders, from its calendar, the rules, its send window and time zone."""
    school = runtime.configuration.school(calendar.school)
    bank = _bank_holidays(calendar.region, tuple(calendar.years()))
    return compute_reminders(calendar, settings, school.send_window, school.tz, bank)


def _school_ids(runtime: Runtime, slugs: Iterable[str]) -> dict[str, int]:
    with runtime.sessions() as session:
        ids = {
            slug: ensure_school(session, runtime.configuration.school(slug)).id for slug in slugs
        }
        session.commit()
    return ids


def _handled(runtime: Runtime, school_id: int, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    with runtime.sessions() as session:
        return set(
            session.scalars(
                select(ReminderFire.reminder_key).where(
                    ReminderFire.school_id == school_id, ReminderFire.reminder_key.in_(keys)
                )
            )
        )


def _request(reminder: Reminder) -> AnnouncementRequest:
    return AnnouncementRequest(
        school=reminder.school,
        category=reminder.category,
        audience=list(reminder.audience),
        variables=dict(reminder.variables),
        requested_by=CLOCK_ACTOR,
        trigger="clock",
        idempotency_key=reminder.key,
    )


def _detail(reminder: Reminder) -> str:
    return f"{reminder.title} ({reminder.subject_date.isoformat()})"[:300]


def _record(
    runtime: Runtime,
    school_id: int,
    reminder: Reminder,
    now: datetime,
    outcome: str,
    detail: str,
) -> bool:
    """Insert a fire row with no announcement; False when another clock already has one."""
    with runtime.sessions() as session:
        session.add(
            ReminderFire(
                school_id=school_id,
                reminder_key=reminder.key,
                due_at=reminder.due_at,
                handled_at=now,
                outcome=outcome,
                detail=detail[:300],
            )
        )
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def fire_reminder(
    runtime: Runtime, broker: RedisBroker, school_id: int, reminder: Reminder, now: datetime
) -> tuple[str, int | None, str]:
    """Send one due reminder, once: ``(outcome, announcement_id, detail)``.

    ``outcome`` is ``sent`` (this call created the announcement and queued its plan),
    ``already`` (another clock handled the key first: nothing done) or ``failed`` (the
    request cannot be sent as configured, e.g. a template needs a variable the calendar does
    not give; recorded so the office sees it in ``calendar list``, not retried every tick).
    """
    now = now.astimezone(UTC)
    request = _request(reminder)
    try:
        validate_request(runtime, request)
    except RequestError as exc:
        recorded = _record(runtime, school_id, reminder, now, "failed", str(exc))
        return ("failed" if recorded else "already"), None, str(exc)
    with runtime.sessions() as session:
        # The fire row goes in first: a concurrent clock's insert of the same key fails here
        # (PostgreSQL makes it wait for our commit; SQLite serialises writers).
        fire = ReminderFire(
            school_id=school_id,
            reminder_key=reminder.key,
            due_at=reminder.due_at,
            handled_at=now,
            outcome="sent",
            detail=_detail(reminder),
        )
        session.add(fire)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            return "already", None, ""
        announcement, created = create_announcement(session, runtime, request, now)
        fire.announcement_id = announcement.id
        session.commit()
        announcement_id = announcement.id
        send_at = announcement.send_at
    if created:
        enqueue(broker, [plan_work(announcement_id, send_at, now)])
    return "sent", announcement_id, _detail(reminder)


def handle_school(
    runtime: Runtime,
    broker: RedisBroker,
    calendar: SchoolCalendar,
    settings: ReminderSettings,
    school_id: int,
    now: datetime,
    report: TickReport,
) -> None:
    """Send this school's due reminders and record its missed ones (see the module doc)."""
    schedule = school_schedule(runtime, calendar, settings)
    candidates = [
        (reminder, status)
        for reminder in schedule.reminders
        if (status := classify(reminder, now, settings)) in ("due", "missed")
    ]
    handled = _handled(runtime, school_id, [r.key for r, _ in candidates])
    for reminder, status in candidates:
        if reminder.key in handled:
            continue
        entry: dict[str, Any] = {
            "school": calendar.school,
            "key": reminder.key,
            "due_at": reminder.due_at.isoformat(),
        }
        try:
            if status == "missed":
                reason = missed_reason(reminder, now, settings)
                if _record(runtime, school_id, reminder, now, "missed", reason):
                    # Families were promised this notice and did not get it: someone must
                    # tell them (dispatcher_reminders_missed_total counts these).
                    log.error(
                        "ALERT reminder not sent (the clock was down when it was due), "
                        "tell the families another way: school=%s key=%s due=%s: %s",
                        calendar.school,
                        reminder.key,
                        reminder.due_at.isoformat(),
                        reason,
                    )
                    report.missed.append({**entry, "reason": reason})
                else:
                    report.already_handled += 1
                continue
            outcome, announcement_id, detail = fire_reminder(
                runtime, broker, school_id, reminder, now
            )
        except (SQLAlchemyError, redis.RedisError) as exc:
            # Not recorded: the next tick tries again (the unique key keeps it to once).
            log.error("reminder %s not handled this tick: %s", reminder.key, type(exc).__name__)
            report.errors.append(f"{reminder.key}: {type(exc).__name__}")
            continue
        if outcome == "sent":
            log.info(
                "reminder sent: school=%s key=%s announcement=%s",
                calendar.school,
                reminder.key,
                announcement_id,
            )
            report.sent.append({**entry, "announcement_id": announcement_id})
        elif outcome == "failed":
            log.error(
                "reminder failed: school=%s key=%s: %s", calendar.school, reminder.key, detail
            )
            report.failed.append({**entry, "reason": detail})
        else:
            report.already_handled += 1


def retention_if_due(runtime: Runtime, now: datetime) -> dict[str, Any] | None:
    """Run the retention run (decision 0078) if it has not run in the last day; its report,
    or None when it was not due."""
    with runtime.sessions() as session:
        if not retention_due(last_run(session), now):
            return None
        report = run_retention(session, now, runtime.settings.retention_months, actor=CLOCK_ACTOR)
    log.info("retention run: %d records erased (before %s)", report.total, report.cutoff)
    return report.as_json()


def run_tick(
    runtime: Runtime,
    broker: RedisBroker,
    calendars: Calendars,
    settings: ReminderSettings,
    now: datetime,
    *,
    use_lock: bool = True,
) -> TickReport:
    """One tick of the clock at ``now``: under the clock lock, handle every school's due and
    missed reminders, then the retention run once a day. Never raises for Redis or database
    trouble: it is in ``errors`` and the next tick tries again."""
    now = now.astimezone(UTC)
    report = TickReport(at=now)
    lock: Lock | None = None
    try:
        if use_lock:
            lock = Lock(
                broker.client,
                LOCK_NAME,
                timeout=settings.lock_timeout_seconds,
                blocking=False,
            )
            if not lock.acquire():
                report.locked = False
                return report
        school_ids = _school_ids(runtime, sorted(calendars))
        for slug in sorted(calendars):
            handle_school(runtime, broker, calendars[slug], settings, school_ids[slug], now, report)
        report.retention = retention_if_due(runtime, now)
    except (SQLAlchemyError, redis.RedisError) as exc:
        log.error("clock tick failed: %s: %s", type(exc).__name__, exc)
        report.errors.append(type(exc).__name__)
    finally:
        if lock is not None and lock.owned():
            # Expired or Redis gone: it frees itself.
            with contextlib.suppress(redis.RedisError):
                lock.release()
    return report


def run_clock(
    runtime: Runtime,
    broker: RedisBroker,
    loader: Loader,
    *,
    clock: Callable[[], datetime],
    stop: Stoppable,
    on_tick: Callable[[TickReport], None],
    tick_seconds: float | None = None,
    max_ticks: int | None = None,
) -> int:
    """Tick until ``stop`` is set (or ``max_ticks`` ticks); return how many ticks ran. The
    clock beats around every tick (``Heartbeats.clock_beat``) and leaves when it stops.

    Calendars and rules are read again every tick, so an edited calendar takes effect without
    a restart; a file that has become invalid is logged and the last good version is kept. A
    bad file at start raises ``ConfigError``.
    """
    calendars, settings = loader()
    ticks = 0
    beats = runtime.heartbeats
    try:
        while not stop.is_set():
            if ticks:
                try:
                    calendars, settings = loader()
                except ConfigError as exc:
                    log.error(
                        "calendar configuration not reloaded, keeping the last good one: %s", exc
                    )
            interval = tick_seconds if tick_seconds is not None else settings.tick_seconds
            beats.clock_beat(runtime.worker_id, interval)
            on_tick(run_tick(runtime, broker, calendars, settings, clock()))
            beats.clock_beat(runtime.worker_id, interval)
            ticks += 1
            if max_ticks is not None and ticks >= max_ticks:
                break
            stop.wait(interval)
    finally:
        beats.clock_leave(runtime.worker_id)
    return ticks


def shifted_clock(start: datetime | None) -> Callable[[], datetime]:
    """A clock reading real time, or one that starts at ``start`` and runs at real speed."""
    if start is None:
        return lambda: datetime.now(UTC)
    origin = time.monotonic()
    start_utc = start.astimezone(UTC)
    return lambda: start_utc + timedelta(seconds=time.monotonic() - origin)


# --- calendar list ---------------------------------------------------------------------------

#: What ``calendar list`` says of each status.
STATUS_TEXT: dict[str, str] = {
    "upcoming": "upcoming",
    "due": "due (the next tick sends it)",
    "missed": "not sent (clock was down)",
    "expired": "expired",
    "sent": "sent",
    "failed": "failed",
}


def _utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; every one we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def calendar_listing(
    runtime: Runtime,
    calendar: SchoolCalendar,
    settings: ReminderSettings,
    now: datetime,
    days: int,
) -> dict[str, Any]:
    """The school's reminders due from ``settings.missed_lookback`` ago to ``days`` ahead,
    with their status: ``upcoming``, ``due`` (the next tick sends it), ``missed`` (past its
    catch-up and never sent: the clock was down; the next tick records it), ``expired``, or
    what the clock recorded (``sent``, ``missed``, ``failed``, with the announcement id), and
    each status in words (``status_text``: a missed one is "not sent (clock was down)").
    Reminders recorded for entries since removed from the calendar are listed too. Says
    whether the calendar's dates were checked (``dates_source``, ``dates_note``)."""
    school = runtime.configuration.school(calendar.school)
    schedule = school_schedule(runtime, calendar, settings)
    now_utc = now.astimezone(UTC)
    start = now_utc - settings.missed_lookback
    end = now_utc + timedelta(days=days)
    with runtime.sessions() as session:
        school_id = ensure_school(session, school).id
        session.commit()
        fires = {
            f.reminder_key: f
            for f in session.scalars(
                select(ReminderFire).where(
                    ReminderFire.school_id == school_id, ReminderFire.due_at >= start
                )
            )
        }
        linked = [f.announcement_id for f in fires.values() if f.announcement_id]
        announcement_states: dict[int, str] = {
            row.id: row.state
            for row in session.execute(
                select(Announcement.id, Announcement.state).where(Announcement.id.in_(linked))
            )
        }
    entries: list[dict[str, Any]] = []
    listed: set[str] = set()
    for reminder in schedule.reminders:
        if not start <= reminder.due_at <= end:
            continue
        listed.add(reminder.key)
        fire = fires.get(reminder.key)
        # Without a record, past its catch-up is "missed": no clock ran, and the next one
        # records it so. Either way the families did not get it.
        status = fire.outcome if fire is not None else classify(reminder, now_utc, settings)
        entries.append(
            {
                "key": reminder.key,
                "rule": reminder.rule,
                "category": reminder.category,
                "audience": list(reminder.audience),
                "title": reminder.title,
                "variables": reminder.variables,
                "subject_date": reminder.subject_date.isoformat(),
                "due_at": reminder.due_at.isoformat(),
                "due_local": reminder.due_at.astimezone(school.tz).isoformat(),
                "status": status,
                "status_text": STATUS_TEXT.get(status, status),
                "handled_at": _utc(fire.handled_at).isoformat() if fire else None,
                "announcement_id": fire.announcement_id if fire else None,
                "announcement_state": announcement_states.get(fire.announcement_id)
                if fire and fire.announcement_id
                else None,
                "detail": fire.detail if fire else None,
            }
        )
    for key, fire in fires.items():
        if key in listed:
            continue
        due_at = _utc(fire.due_at)
        entries.append(
            {
                "key": key,
                "rule": key.rsplit(":", 1)[-1],
                "category": None,
                "audience": [],
                "title": fire.detail or key,
                "variables": {},
                "subject_date": None,
                "due_at": due_at.isoformat(),
                "due_local": due_at.astimezone(school.tz).isoformat(),
                "status": fire.outcome,
                "status_text": STATUS_TEXT.get(fire.outcome, fire.outcome),
                "handled_at": _utc(fire.handled_at).isoformat(),
                "announcement_id": fire.announcement_id,
                "announcement_state": announcement_states.get(fire.announcement_id)
                if fire.announcement_id
                else None,
                "detail": fire.detail,
            }
        )
    entries.sort(key=lambda e: (e["due_at"], e["key"]))
    return {
        "school": calendar.school,
        "timezone": school.timezone,
        "dates_source": calendar.dates_source,
        "dates_note": calendar.dates_note,
        "now": now_utc.isoformat(),
        "days": days,
        "reminders": entries,
        "skipped": [{"key": s.key, "reason": s.reason} for s in schedule.skipped],
    }
