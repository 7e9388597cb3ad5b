"""``dispatcher calendar list`` and ``dispatcher clock`` as a user runs them (both databases,
real Redis): a test calendar for the demo school in a copy of the configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.config.calendars import load_calendars
from dispatcher.config.reminders import load_reminder_settings
from dispatcher.store.models import Announcement, ReminderFire
from dispatcher.triggers.reminders.clock import run_tick
from tests.support.paths import CONFIG_DIR

runner = CliRunner()

TEST_CALENDAR = """
academic_year = "2026-27"
[[terms]]
name = "Autumn term"
start = 2026-09-01
end = 2026-12-18
half_term = { start = 2026-10-26, end = 2026-10-30 }

[[events]]
id = "fair"
date = 2026-12-11
time = "15:30"
title = "Fair"

[[events]]
id = "concert"
date = 2026-12-16
title = "Concert"
audience = ["year:6"]
"""
# The fair's two-week reminder is due on Friday 27 November 2026 at 09:00 (GMT): the rules
# of the shipped config/reminders.toml.
FAIR_KEY = "reminder:event:fair:event-two-weeks"
AT_FAIR = "2026-11-27T09:00:20+00:00"


@pytest.fixture
def config_dir(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    shutil.rmtree(folder / "calendars")
    (folder / "calendars").mkdir()
    (folder / "calendars" / "demo.toml").write_text(TEST_CALENDAR)
    monkeypatch.setenv("DISPATCHER_CONFIG_DIR", str(folder))
    env["DISPATCHER_CONFIG_DIR"] = str(folder)
    return folder


@pytest.fixture
def ticked(config_dir: Path, clock_broker: Any) -> Any:
    """The runtime after a clock tick on Friday 27 November at 09:00:20 (the fair is due)."""
    from dispatcher.runtime import current_runtime, dispose_runtimes

    runtime = current_runtime()
    calendars = load_calendars(config_dir, runtime.configuration)
    settings = load_reminder_settings(config_dir)
    report = run_tick(runtime, clock_broker, calendars, settings, datetime.fromisoformat(AT_FAIR))
    assert [s["key"] for s in report.sent] == [FAIR_KEY]
    yield runtime
    dispose_runtimes()


def test_calendar_list_json_shows_sent_and_upcoming_reminders(ticked: Any) -> None:
    result = runner.invoke(
        app,
        ["calendar", "list", "--school", "demo", "--days", "20", "--now", AT_FAIR, "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["school"] == "demo" and data["timezone"] == "Europe/London"
    rows = {r["key"]: r for r in data["reminders"]}
    assert list(rows) == [
        FAIR_KEY,
        "reminder:event:concert:event-two-weeks",
        "reminder:event:fair:event-day-before",
        "reminder:event:concert:event-day-before",
    ]
    fair = rows[FAIR_KEY]
    assert fair["status"] == "sent"
    assert fair["announcement_id"] is not None
    assert fair["announcement_state"] == "received"
    assert fair["due_at"] == "2026-11-27T09:00:00+00:00"
    assert fair["variables"] == {"event": "Fair", "date": "Friday 11 December", "time": "3:30pm"}
    concert = rows["reminder:event:concert:event-two-weeks"]
    assert concert["status"] == "upcoming"
    assert concert["audience"] == ["year:6"]
    assert concert["due_local"] == "2026-12-02T09:00:00+00:00"
    assert rows["reminder:event:fair:event-day-before"]["due_local"] == (
        "2026-12-10T14:00:00+00:00"
    )
    # --days bounds what is ahead.
    short = runner.invoke(
        app, ["calendar", "list", "--school", "demo", "--days", "3", "--now", AT_FAIR, "--json"]
    )
    assert [r["key"] for r in json.loads(short.output)["reminders"]] == [FAIR_KEY]


def test_calendar_list_shows_missed_and_due_reminders_later(ticked: Any) -> None:
    # Four days after the fair's day-before reminder would be due, nothing ran: it is "late"
    # (the clock will record it as missed); the concert's is due (within the catch-up).
    result = runner.invoke(
        app,
        ["calendar", "list", "--school", "demo", "--now", "2026-12-02T10:00:00+00:00", "--json"],
    )
    statuses = {r["key"]: r["status"] for r in json.loads(result.output)["reminders"]}
    assert statuses[FAIR_KEY] == "sent"
    assert statuses["reminder:event:concert:event-two-weeks"] == "due"
    assert statuses["reminder:event:fair:event-day-before"] == "upcoming"


def test_calendar_list_for_people(ticked: Any) -> None:
    result = runner.invoke(
        app, ["calendar", "list", "--school", "demo", "--days", "20", "--now", AT_FAIR]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "reminders for demo (Europe/London)" in out
    assert "Fri 27 Nov 09:00" in out and "sent" in out
    assert "Wed 02 Dec 09:00" in out and "upcoming" in out
    assert "Concert" in out and "year:6" in out
    with ticked.sessions() as session:
        announcement_id = session.scalar(select(Announcement.id))
    assert f"sent #{announcement_id}" in out


def test_calendar_list_names_a_bad_school_or_a_missing_calendar(config_dir: Path) -> None:
    result = runner.invoke(app, ["calendar", "list", "--school", "atlantis"])
    assert result.exit_code == 2
    assert "--school: unknown school 'atlantis'" in result.output
    result = runner.invoke(app, ["calendar", "list", "--school", "brockmoor"])
    assert result.exit_code == 2
    assert "'brockmoor' has no calendar" in result.output
    result = runner.invoke(app, ["calendar", "list", "--school", "demo", "--now", "soon"])
    assert result.exit_code == 2 and "--now: expected an ISO 8601" in result.output


def test_a_bad_calendar_file_stops_the_commands_with_file_and_key(config_dir: Path) -> None:
    bad = TEST_CALENDAR.replace('audience = ["year:6"]', 'audience = ["year:six"]')
    (config_dir / "calendars" / "demo.toml").write_text(bad)
    for command in (["calendar", "list", "--school", "demo"], ["clock", "--once"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, command
        assert "demo.toml: events.1.audience:" in result.output
        assert "year must be a number" in result.output


def plan_jobs(broker: Any) -> list[int]:
    """Announcement ids of the plan jobs on the queue (other suites' actors ignored)."""
    messages = [json.loads(m) for m in broker.client.hvals("dramatiq:plan.msgs")]
    return sorted(m["args"][0] for m in messages if m["actor_name"] == "plan_announcement")


def _clock(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dispatcher", "clock", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_clock_processes_send_a_due_reminder_once(
    config_dir: Path, env: dict[str, str], clock_broker: Any
) -> None:
    args = ("--max-ticks", "3", "--tick-seconds", "0.2", "--now", AT_FAIR)
    clocks = [_clock(env, *args), _clock(env, *args)]
    outputs = [clock.communicate(timeout=120) for clock in clocks]
    for clock, (out, err) in zip(clocks, outputs, strict=True):
        assert clock.returncode == 0, err
        assert out.startswith("clock: 1 school calendars (demo), a tick every 0.2 s")
    sent_lines = [
        line for out, _ in outputs for line in out.splitlines() if " sent    demo " in line
    ]
    assert len(sent_lines) == 1
    assert FAIR_KEY in sent_lines[0]
    engine = create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            keys = conn.execute(select(Announcement.idempotency_key)).scalars().all()
            announcement_id = conn.execute(select(Announcement.id)).scalar_one()
            outcomes = {
                key: outcome
                for key, outcome in conn.execute(
                    select(ReminderFire.reminder_key, ReminderFire.outcome)
                )
            }
    finally:
        engine.dispose()
    assert keys == [FAIR_KEY]
    assert outcomes == {FAIR_KEY: "sent"}
    assert plan_jobs(clock_broker) == [announcement_id]


def test_clock_json_reports_each_tick(config_dir: Path, env: dict[str, str]) -> None:
    late = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).isoformat()  # three days after the fair's
    clock = _clock(env, "--once", "--now", late, "--json")
    out, err = clock.communicate(timeout=120)
    assert clock.returncode == 0, err
    (line,) = out.splitlines()
    tick = json.loads(line)
    assert tick["locked"] is True and tick["sent"] == []
    assert [m["key"] for m in tick["missed"]] == [FAIR_KEY]
    assert "no clock was running" in tick["missed"][0]["reason"]


@pytest.mark.parametrize("slug", ["three-dimensions", "trent-acres", "westbourne"])
def test_the_outcomes_first_group_schools_have_calendars_marked_unchecked(
    runtime: Any, slug: str
) -> None:
    # Issue 15, problem 4: `calendar list --school three-dimensions` exited 2 (no calendar).
    now = ["--now", "2026-12-04T12:00:00+00:00"]
    listed = runner.invoke(app, ["calendar", "list", "--school", slug, "--days", "60", *now])
    assert listed.exit_code == 0, listed.output
    assert "term dates: pattern, not checked against the school's published dates" in (
        " ".join(listed.output.split())
    )
    data = json.loads(
        runner.invoke(
            app, ["calendar", "list", "--school", slug, "--days", "60", *now, "--json"]
        ).output
    )
    assert data["dates_source"] == "pattern"
    # The Spring term starts on Monday 4 January 2027: its reminder goes on the last Friday
    # of the Christmas holiday (New Year's Day is a bank holiday, so Thursday 31 December).
    term_start = [r for r in data["reminders"] if r["rule"] == "term-start"]
    assert [r["due_local"][:10] for r in term_start] == ["2026-12-31"]
    checked = runner.invoke(app, ["calendar", "check"])
    assert checked.exit_code == 0, checked.output
    assert f"{slug}: 12 reminders" in checked.output
