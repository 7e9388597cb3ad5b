"""The reminder clock over a real Redis and both databases: exactly once, catch-up, missed."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatcher.config.calendars import CalendarEvent, DateRange, SchoolCalendar, Term
from dispatcher.config.reminders import ReminderRule, ReminderSettings
from dispatcher.queue.inflight import plan_marker
from dispatcher.reporting.metrics import render_metrics
from dispatcher.store.models import Announcement, Delivery, ReminderFire
from dispatcher.triggers.reminders.clock import TickReport, calendar_listing, run_tick
from dispatcher.worker.sweep import replay_lost_plans
from tests.support.factories import import_roster, plan, row

HALF_TERM = DateRange(date(2026, 10, 26), date(2026, 10, 30))
AUTUMN = Term("Autumn term", date(2026, 9, 1), date(2026, 12, 18), HALF_TERM)
SETTINGS = ReminderSettings(
    rules=(
        ReminderRule("two-weeks", "event", "event_reminder", days_before=14),
        ReminderRule("day-before", "event", "event_reminder", school_days_before=1),
    )
)
# The Christmas fair's two-week reminder: Friday 27 November 2026, 09:00 in London (GMT).
FAIR_KEY = "reminder:event:fair:two-weeks"
FAIR_DUE = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def demo_calendar(*events: CalendarEvent) -> dict[str, SchoolCalendar]:
    fair = CalendarEvent(
        "fair", date(2026, 12, 11), "Christmas Fair", ("school",), time(15, 30), "Stalls"
    )
    return {"demo": SchoolCalendar(school="demo", terms=(AUTUMN,), events=(fair, *events))}


def plan_messages(broker: Any) -> int:
    """Plan jobs on the queue (messages of other suites' actors sharing the Redis ignored)."""
    messages = [json.loads(m) for m in broker.client.hvals("dramatiq:plan.msgs")]
    return len([m for m in messages if m["actor_name"] == "plan_announcement"])


def announcements(runtime: Any) -> list[Announcement]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Announcement).order_by(Announcement.id)))


def fires(runtime: Any) -> dict[str, ReminderFire]:
    with runtime.sessions() as session:
        return {f.reminder_key: f for f in session.scalars(select(ReminderFire))}


@pytest.fixture
def school(runtime: Any) -> Any:
    import_roster(
        runtime,
        [
            row(student_id="S1", contact_id="C1"),
            row(student_id="S2", contact_id="C2", year="3", email="c2@example.com"),
        ],
    )
    return runtime


def test_a_due_reminder_creates_one_announcement_and_one_plan_job(
    school: Any, clock_broker: Any
) -> None:
    runtime = school
    now = FAIR_DUE + timedelta(seconds=30)
    report = run_tick(runtime, clock_broker, demo_calendar(), SETTINGS, now)
    assert [s["key"] for s in report.sent] == [FAIR_KEY]
    (announcement,) = announcements(runtime)
    assert announcement.idempotency_key == FAIR_KEY
    assert announcement.trigger == "clock"
    assert announcement.category == "event_reminder"
    assert announcement.audience == ["school"]
    assert announcement.variables == {
        "event": "Christmas Fair",
        "date": "Friday 11 December",
        "time": "3:30pm",
        "details": "Stalls",
    }
    fire = fires(runtime)[FAIR_KEY]
    assert (fire.outcome, fire.announcement_id) == ("sent", announcement.id)
    assert plan_messages(clock_broker) == 1
    assert clock_broker.client.exists(plan_marker(announcement.id))

    # Later ticks (and a tick a minute later) change nothing.
    for later in (now, now + timedelta(minutes=1), now + timedelta(hours=5)):
        again = run_tick(runtime, clock_broker, demo_calendar(), SETTINGS, later)
        assert again.sent == [] and again.errors == []
    assert len(announcements(runtime)) == 1
    assert plan_messages(clock_broker) == 1

    # The plan reaches the families.
    plan(runtime, announcement.id, now)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2


@pytest.mark.parametrize("use_lock", [True, False], ids=["redis-lock", "database-only"])
def test_two_clocks_at_once_send_each_reminder_once(
    school: Any, clock_broker: Any, use_lock: bool
) -> None:
    runtime = school
    # Five events on one day: five reminders due at the same instant.
    events = [
        CalendarEvent(f"assembly-{n}", date(2026, 12, 16), f"Assembly {n}", (f"year:{n}",))
        for n in range(1, 6)
    ]
    calendars = demo_calendar(*events)
    now = datetime(2026, 12, 2, 9, 0, 30, tzinfo=UTC)
    expected = {f"reminder:event:assembly-{n}:two-weeks" for n in range(1, 6)}
    barrier = threading.Barrier(2)
    reports: list[TickReport] = []
    failures: list[BaseException] = []

    def clock() -> None:
        try:
            for tick in range(3):
                barrier.wait(timeout=30)
                reports.append(
                    run_tick(
                        runtime,
                        clock_broker,
                        calendars,
                        SETTINGS,
                        now + timedelta(seconds=tick),
                        use_lock=use_lock,
                    )
                )
        except BaseException as exc:  # pragma: no cover - surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=clock) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    assert len(reports) == 6  # two clocks, three ticks each
    assert all(not r.errors for r in reports)
    sent = [s["key"] for r in reports for s in r.sent]
    assert sorted(sent) == sorted(expected)
    assert {a.idempotency_key for a in announcements(runtime)} == expected
    assert len(announcements(runtime)) == 5
    assert plan_messages(clock_broker) == 5
    recorded = fires(runtime)
    assert {k for k, f in recorded.items() if f.outcome == "sent"} == expected
    # The fair's reminder (27 November, 5 days before "now") is missed, by one clock only.
    assert recorded[FAIR_KEY].outcome == "missed"
    assert sum(len(r.missed) for r in reports) == 1


def test_a_reminder_due_three_hours_ago_is_caught_up(school: Any, clock_broker: Any) -> None:
    runtime = school
    report = run_tick(
        runtime, clock_broker, demo_calendar(), SETTINGS, FAIR_DUE + timedelta(hours=3)
    )
    assert [s["key"] for s in report.sent] == [FAIR_KEY]
    assert [a.idempotency_key for a in announcements(runtime)] == [FAIR_KEY]
    assert plan_messages(clock_broker) == 1


def test_a_reminder_due_three_days_ago_is_recorded_missed_and_not_sent(
    school: Any, clock_broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = school
    now = FAIR_DUE + timedelta(days=3)
    with caplog.at_level(logging.WARNING, logger="dispatcher.clock"):
        report = run_tick(runtime, clock_broker, demo_calendar(), SETTINGS, now)
    assert report.sent == []
    assert [m["key"] for m in report.missed] == [FAIR_KEY]
    assert announcements(runtime) == []
    assert plan_messages(clock_broker) == 0
    fire = fires(runtime)[FAIR_KEY]
    assert fire.outcome == "missed" and fire.announcement_id is None
    assert "no clock was running" in (fire.detail or "")
    # Issue 15, problem 4: somebody is told. An ALERT in the log...
    [alert] = [r for r in caplog.records if FAIR_KEY in r.getMessage()]
    assert alert.levelno == logging.ERROR and alert.getMessage().startswith("ALERT")
    assert "clock was down" in alert.getMessage()
    # ...and a metric to alert on.
    metrics = render_metrics(runtime, now).decode()
    assert 'dispatcher_reminders_missed_total{school="demo"} 1.0' in metrics
    assert 'dispatcher_reminders_missed_total{school="brockmoor"} 0.0' in metrics
    # Never sent later either, and shown as not sent in the calendar list.
    run_tick(runtime, clock_broker, demo_calendar(), SETTINGS, now + timedelta(minutes=5))
    assert announcements(runtime) == []
    listing = calendar_listing(runtime, demo_calendar()["demo"], SETTINGS, now, days=30)
    rows = {r["key"]: r for r in listing["reminders"]}
    assert rows[FAIR_KEY]["status"] == "missed"
    assert rows[FAIR_KEY]["status_text"] == "not sent (clock was down)"
    assert rows["reminder:event:fair:day-before"]["status"] == "upcoming"


def test_a_reminder_past_its_catch_up_with_no_clock_is_listed_as_not_sent(
    school: Any, clock_broker: Any
) -> None:
    # No tick has run: the list already says what the next clock will record.
    listing = calendar_listing(
        school, demo_calendar()["demo"], SETTINGS, FAIR_DUE + timedelta(days=3), days=30
    )
    fair = {r["key"]: r for r in listing["reminders"]}[FAIR_KEY]
    assert (fair["status"], fair["status_text"]) == ("missed", "not sent (clock was down)")
    assert "late" not in json.dumps(listing)


def test_a_reminder_older_than_the_lookback_is_left_alone(school: Any, clock_broker: Any) -> None:
    runtime = school
    report = run_tick(
        runtime, clock_broker, demo_calendar(), SETTINGS, FAIR_DUE + timedelta(days=15)
    )
    # Fifteen days late: outside the 14-day look-back, so not even recorded (the fair's
    # day-before reminder, two days late, is).
    assert report.sent == []
    assert [m["key"] for m in report.missed] == ["reminder:event:fair:day-before"]
    assert FAIR_KEY not in fires(runtime)


def test_a_clock_that_dies_before_queueing_the_plan_is_recovered_by_the_sweep(
    school: Any, clock_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = school

    def die(*_args: Any, **_kwargs: Any) -> None:
        raise SystemExit("killed between commit and enqueue")

    monkeypatch.setattr("dispatcher.triggers.reminders.clock.enqueue", die)
    with pytest.raises(SystemExit):
        run_tick(runtime, clock_broker, demo_calendar(), SETTINGS, FAIR_DUE)
    monkeypatch.undo()
    (announcement,) = announcements(runtime)
    assert plan_messages(clock_broker) == 0
    # A restarted clock does not send it again; the workers' sweep queues its plan.
    again = run_tick(runtime, clock_broker, demo_calendar(), SETTINGS, FAIR_DUE)
    assert again.sent == []
    assert replay_lost_plans(runtime, clock_broker, FAIR_DUE + timedelta(minutes=1)) == 1
    assert plan_messages(clock_broker) == 1
    assert len(announcements(runtime)) == 1 and announcement.state == "received"


def test_a_reminder_the_templates_cannot_render_is_recorded_failed_once(
    school: Any, clock_broker: Any
) -> None:
    runtime = school
    broken = SchoolCalendar(
        school="demo",
        terms=(AUTUMN,),
        events=(CalendarEvent("bad", date(2026, 12, 11), "Fair", ("group:nobody",)),),
    )
    rules = ReminderSettings(
        rules=(ReminderRule("two-weeks", "event", "newsletter", days_before=14),)
    )
    report = run_tick(runtime, clock_broker, {"demo": broken}, rules, FAIR_DUE)
    assert [f["key"] for f in report.failed] == ["reminder:event:bad:two-weeks"]
    assert "variables" in report.failed[0]["reason"]
    assert announcements(runtime) == []
    again = run_tick(runtime, clock_broker, {"demo": broken}, rules, FAIR_DUE)
    assert again.failed == []
    assert fires(runtime)["reminder:event:bad:two-weeks"].outcome == "failed"


def test_a_tick_without_the_lock_does_nothing(school: Any, clock_broker: Any) -> None:
    from redis.lock import Lock

    from dispatcher.triggers.reminders.clock import LOCK_NAME

    runtime = school
    held = Lock(clock_broker.client, LOCK_NAME, timeout=30)
    assert held.acquire(blocking=False)
    try:
        report = run_tick(runtime, clock_broker, demo_calendar(), SETTINGS, FAIR_DUE)
    finally:
        held.release()
    assert report.locked is False and report.sent == []
    assert run_tick(runtime, clock_broker, demo_calendar(), SETTINGS, FAIR_DUE).sent


def test_a_reminder_with_a_link_that_is_not_https_is_recorded_failed_naming_it(
    school: Any, clock_broker: Any
) -> None:
    from zoneinfo import ZoneInfo

    from dispatcher.triggers.reminders.clock import fire_reminder
    from dispatcher.triggers.reminders.rules import Reminder

    runtime = school
    reminder = Reminder(
        key="reminder:event:js:two-weeks",
        school="demo",
        rule="two-weeks",
        category="newsletter",
        audience=("school",),
        variables={"title": "News", "url": "javascript:alert(1)"},
        subject_date=date(2026, 12, 11),
        fire_date=date(2026, 11, 27),
        due_at=FAIR_DUE,
        title="News",
        tz=ZoneInfo("Europe/London"),
    )
    with runtime.sessions() as session:
        from dispatcher.store.schools import ensure_school

        school_id = ensure_school(session, runtime.configuration.school("demo")).id
        session.commit()

    outcome, announcement_id, reason = fire_reminder(
        runtime, clock_broker, school_id, reminder, FAIR_DUE
    )

    assert (outcome, announcement_id) == ("failed", None)
    assert "variables.url" in reason and "https://" in reason and "javascript" not in reason
    assert fires(runtime)[reminder.key].outcome == "failed"
    assert announcements(runtime) == []


def test_a_running_clock_beats_and_leaves_when_it_stops(school: Any, clock_broker: Any) -> None:
    from dispatcher.queue.heartbeats import ClockStatus
    from dispatcher.triggers.reminders.clock import run_clock
    from tests.support.waiting import wait_until

    runtime = school
    runtime.heartbeats.client.delete("dispatcher:clocks", "dispatcher:clocks:interval")
    stop = threading.Event()
    ticks: list[TickReport] = []
    thread = threading.Thread(
        target=run_clock,
        args=(runtime, clock_broker, lambda: (demo_calendar(), SETTINGS)),
        kwargs={
            "clock": lambda: datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
            "stop": stop,
            "on_tick": ticks.append,
            "tick_seconds": 0.05,
        },
    )
    thread.start()
    try:
        wait_until(lambda: len(ticks) >= 2, 30, 0.05, what="two ticks of the clock")
        [beat] = runtime.heartbeats.clocks()
        assert beat.clock == runtime.worker_id
        assert beat.tick_seconds == 0.05
        assert beat.running
    finally:
        stop.set()
        thread.join(30)
    assert runtime.heartbeats.clocks() == []  # a clean stop leaves the set
    # A clock whose beat is older than two ticks and the margin is not running.
    assert not ClockStatus("old", age_seconds=91, tick_seconds=30).running
    assert ClockStatus("late", age_seconds=89, tick_seconds=30).running
