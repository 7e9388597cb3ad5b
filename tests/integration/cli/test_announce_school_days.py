"""``dispatcher announce --dry-run`` says when a non-urgent message will go (issue 15,
problem 3): on Christmas Day 2026 a newsletter waits for the first day of the Spring term."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import time_machine
from typer.testing import CliRunner

from dispatcher.cli.main import app
from tests.support.factories import import_roster, row

runner = CliRunner()
CHRISTMAS_MORNING = datetime(2026, 12, 25, 9, 30, tzinfo=UTC)
NEWSLETTER = [
    "announce",
    "--school",
    "demo",
    "--category",
    "newsletter",
    "--audience",
    "school",
    "--var",
    "title=Spring term news",
    "--var",
    "url=https://demo-primary.example/n",
    "--dry-run",
]


def test_the_dry_run_says_the_newsletter_goes_on_the_first_day_of_term(runtime: Any) -> None:
    import_roster(runtime, [row()])
    with time_machine.travel(CHRISTMAS_MORNING, tick=False):
        shown = runner.invoke(app, NEWSLETTER)
        as_json = runner.invoke(app, [*NEWSLETTER, "--json"])
    assert shown.exit_code == 0, shown.output
    assert "Monday 4 January 2027 at 08:00" in shown.output
    assert "waits because" in shown.output and "(Christmas Day)" in shown.output
    plan = json.loads(as_json.output)
    assert plan["hold_until"] == "2027-01-04T08:00:00+00:00"
    assert plan["hold_reason"] == "Friday 25 December 2026: bank holiday (Christmas Day)"
