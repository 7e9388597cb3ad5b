"""Issue 15, problem 8: the dry run counts contacts apart from messages, names the languages
that fell back, shows the texts and emails parents will read, and the SMS encoding only of
languages the audience reads by text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from dispatcher.cli.common import console
from dispatcher.cli.main import app
from tests.support.factories import closure_args, import_roster, row

runner = CliRunner()

DRY_RUN = closure_args("--dry-run")


def _audience(runtime: Any) -> None:
    import_roster(
        runtime,
        [
            row(student_id="S1", contact_id="EN", mobile="07700 900001", email="en@example.com"),
            # Polish, by email only: no Polish text goes
            row(student_id="S2", contact_id="PL", mobile="", email="pl@example.com", language="pl"),
            row(student_id="S3", contact_id="SO1", mobile="07700 900003", email="", language="so"),
            row(student_id="S4", contact_id="SO2", mobile="07700 900004", email="", language="so"),
            row(student_id="S5", contact_id="CY", mobile="07700 900005", email="", language="cy"),
        ],
    )


def test_the_dry_run_json_separates_contacts_from_messages(runtime: Any) -> None:
    _audience(runtime)
    result = runner.invoke(app, [*DRY_RUN, "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["recipients"] == 5
    assert plan["contact_languages"] == {"en": 4, "pl": 1}
    assert plan["messages"] == 6  # five primaries and the English parent's email back-up
    assert plan["deliveries"] == {"sms": 4, "email": 2}
    assert plan["fallen_back_languages"] == {
        "cy": {"name": "Welsh", "contacts": 1},
        "so": {"name": "Somali", "contacts": 2},
    }
    assert plan["sms_encodings"] == {"en": "GSM-7"}
    samples = {s["language"]: s for s in plan["samples"]}
    assert set(samples) == {"en", "pl"}
    assert "heavy snow" in samples["en"]["sms"]
    assert samples["en"]["email_subject"] == (
        "School closed on Tuesday 24 November: Demo Primary School"
    )
    assert samples["en"]["email_first_lines"][0] == "Dear Sam,"
    assert samples["pl"]["language_name"] == "Polish"


def test_the_dry_run_table_names_languages_and_shows_the_messages(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "width", 250)
    _audience(runtime)
    result = runner.invoke(app, DRY_RUN)
    assert result.exit_code == 0, result.output
    shown = result.output
    assert "families (parents and carers)" in shown and "messages" in shown
    assert "English (en) 4, Polish (pl) 1" in shown  # contacts
    assert "Welsh (cy) 1, Somali (so) 2" in shown
    assert "SMS encoding, English (en)" in shown
    assert "SMS encoding, Polish" not in shown and "Urdu" not in shown
    assert "what families reading English (en) get" in shown
    assert "The school is closed on Tuesday 24 November because of heavy snow." in shown
    assert "email: School closed on Tuesday 24 November: Demo Primary School" in shown
    assert "contacts receiving it" not in shown and "in language en" not in shown
