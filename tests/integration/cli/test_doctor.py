"""``dispatcher doctor`` through the real CLI: it passes (exit 0) on a correctly configured
demo set-up, a migrated database, Redis, a worker and a clock running (their real heartbeat
threads), the demo's MIS secret set, and names each problem (exit 1) on a broken one; the
seed schools fail where their set-up is not complete, which is the truth."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.config.reminders import ReminderSettings
from dispatcher.triggers.reminders.clock import run_clock
from dispatcher.worker.heart import Heart
from tests.support.waiting import wait_until

runner = CliRunner()
SEPTEMBER = "2026-09-01"  # the demo calendar's academic year starts


@pytest.fixture
def processes(runtime: Any, clean_redis: Any) -> Iterator[None]:
    """A worker's heartbeat thread and a reminder clock, running for real."""
    heart = Heart(runtime, clean_redis)
    heart.start()
    stop = threading.Event()
    clock = threading.Thread(
        target=run_clock,
        args=(runtime, clean_redis, lambda: ({}, ReminderSettings(rules=()))),
        kwargs={
            "clock": lambda: datetime.now(UTC),
            "stop": stop,
            "on_tick": lambda _report: None,
            "tick_seconds": 0.2,
        },
    )
    clock.start()
    wait_until(
        lambda: runtime.heartbeats.living() and runtime.heartbeats.clocks(),
        30,
        0.1,
        what="a worker and a clock beating",
    )
    yield
    stop.set()
    clock.join(30)
    heart.stop()


def doctor(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["doctor", "--json", *args])
    return result.exit_code, json.loads(result.output)


def messages(report: dict[str, Any], level: str = "problem") -> list[str]:
    return [
        f"{f['school'] or '-'} {f['check']}: {f['message']}"
        for f in report["findings"]
        if f["level"] == level
    ]


def test_doctor_passes_on_a_correctly_configured_demo(
    env: dict[str, str], processes: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPATCHER_MIS_SECRET_DEMO", "a-long-random-secret")
    code, report = doctor("--school", "demo", "--now", SEPTEMBER)
    assert messages(report) == []
    assert code == 0 and report["passed"] is True
    checks = {f["check"] for f in report["findings"] if f["level"] == "ok"}
    assert {"database", "migrations", "redis", "workers", "clock", "webhooks"} <= checks
    # The demo writes to the outbox: true, and said; --strict counts it.
    assert any("written to the outbox" in n for n in messages(report, "note"))
    strict, _ = doctor("--school", "demo", "--now", SEPTEMBER, "--strict")
    assert strict == 1
    text = runner.invoke(app, ["doctor", "--school", "demo", "--now", SEPTEMBER])
    assert text.exit_code == 0
    assert "ready: 0 problems" in text.output


def test_doctor_names_each_problem_of_a_broken_set_up(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database nobody migrated, a Redis that does not answer, no worker, no clock, no
    # secrets or credentials: and the seed schools as they are.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.sqlite3'}")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    code, report = doctor("--now", "2026-12-04")
    assert code == 1 and report["passed"] is False
    found = messages(report)
    expected = [
        "- migrations: no migration has been applied",
        "- redis: Redis does not answer",
        "- workers: cannot read the heartbeats",
        "brockmoor providers: sms: held: the school names twilio",
        "demo webhooks: DISPATCHER_MIS_SECRET_DEMO is not set",
        "sendat-a addresses: placeholder addresses families would see or write to: "
        "from_email = office@sendat-a.example.org",
        "trent-acres addresses: placeholder addresses",
        "westbourne providers: email: held: the school names sendgrid",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in found), (start, found)
    assert "password" not in json.dumps(report).lower()


def test_doctor_refuses_an_unknown_school_naming_the_option(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["doctor", "--school", "nowhere"])
    assert result.exit_code == 2
    assert "--school: unknown school 'nowhere'" in result.output
