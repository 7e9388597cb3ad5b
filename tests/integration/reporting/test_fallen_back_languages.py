"""Issue 15, plain words: the report names the languages families asked for that the
category has no template in (by name, with how many contacts), not only a count."""

from __future__ import annotations

import re
from typing import Any

import pytest
from typer.testing import CliRunner

from dispatcher.cli.common import console
from dispatcher.cli.main import app
from dispatcher.reporting.reports import announcement_report
from tests.support.factories import create, import_roster, plan, row

runner = CliRunner()


def test_the_report_names_each_language_that_fell_back(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_roster(
        runtime,
        [
            row(student_id="S1", contact_id="C1", mobile="07700 900001", language="so"),
            row(student_id="S2", contact_id="C2", mobile="07700 900002", language="so"),
            row(student_id="S3", contact_id="C3", mobile="07700 900003", language="ti"),
            row(student_id="S4", contact_id="C4", mobile="07700 900004", language="pl"),
        ],
    )
    announcement_id = create(runtime)  # an emergency closure: en, pl and ur templates
    plan(runtime, announcement_id)

    with runtime.sessions() as session:
        report = announcement_report(session, announcement_id)

    assert report["fallen_back_languages"] == {
        "so": {"name": "Somali", "contacts": 2},
        "ti": {"name": "Tigrinya", "contacts": 1},
    }
    monkeypatch.setattr(console, "width", 250)
    shown = runner.invoke(app, ["report", str(announcement_id)])
    assert shown.exit_code == 0, shown.output
    assert re.search(r"asked for: Somali \(2\), Tigrinya \(1\)", shown.output)
