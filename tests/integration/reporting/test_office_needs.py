"""Issue 15, problem 6: every list the office may phone from (the report's not-reached list,
its other numbers, the CLI's tables, the CSV and JSON, the dry run's unreachable list) marks
a hearing-impaired contact "do not phone — text, email or Relay UK" and never offers their
number as a call to make; a sight-impaired contact is marked "phone first"."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from dispatcher.cli.common import console
from dispatcher.cli.main import app
from dispatcher.planning.phoning import DO_NOT_PHONE, PHONE_FIRST
from tests.support.factories import closure_args, create, import_roster, plan, row

runner = CliRunner()


def _family_of_landlines(runtime: Any) -> int:
    """One pupil, three carers with only a landline and no email (nobody can be messaged):
    X with no needs, H hearing-impaired, V sight-impaired."""
    import_roster(
        runtime,
        [
            row(student_id="SX", contact_id="X", mobile="01632 960101", email=""),
            row(
                student_id="SX",
                contact_id="H",
                priority="2",
                mobile="01632 960102",
                email="",
                needs="hearing_impaired",
            ),
            row(
                student_id="SX",
                contact_id="V",
                priority="2",
                mobile="01632 960103",
                email="",
                needs="visually_impaired",
            ),
        ],
    )
    announcement_id = create(runtime)
    plan(runtime, announcement_id)
    return announcement_id


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 250)


def test_the_report_never_offers_a_hearing_impaired_contacts_number_as_a_call(
    runtime: Any, wide_console: None
) -> None:
    announcement_id = _family_of_landlines(runtime)

    data = json.loads(runner.invoke(app, ["report", str(announcement_id), "--json"]).output)
    people = {p["contact_id"]: p for p in data["not_reached"]}
    assert (people["H"]["phone"], people["H"]["phone_advice"]) == ("", DO_NOT_PHONE)
    assert people["H"]["text_relay_number"] == "+441632960102"
    assert (people["V"]["phone"], people["V"]["phone_advice"]) == ("+441632960103", PHONE_FIRST)
    # H's number is nobody's "other number to try"; V's is, marked "phone first"
    assert people["X"]["other_phones"] == "+441632960103"
    assert people["X"]["other_numbers"] == [
        {
            "contact_id": "V",
            "contact_name": "Anne Lovelace",
            "phone": "+441632960103",
            "phone_advice": PHONE_FIRST,
        }
    ]
    assert people["V"]["other_phones"] == "+441632960101"
    assert all("+441632960102" not in p["other_phones"] for p in data["not_reached"])
    assert data["families_not_reached"] == 1

    shown = runner.invoke(app, ["report", str(announcement_id)]).output
    assert "families not reached: please contact them" in shown
    assert f"{DO_NOT_PHONE} (text 01632 960102)" in shown
    assert re.findall(r"\S+ 01632 960102", shown) == ["(text 01632 960102"]
    assert "01632 960103 (phone first)" in shown

    exported = runner.invoke(app, ["report", str(announcement_id), "--csv"]).output
    lines = {line["contact_id"]: line for line in csv.DictReader(io.StringIO(exported))}
    assert (lines["H"]["phone"], lines["H"]["phone_advice"]) == ("", DO_NOT_PHONE)
    assert lines["H"]["text_relay_number"] == "01632 960102"
    assert lines["X"]["other_phones"] == "01632 960103 (phone first)"
    assert lines["V"]["phone_advice"] == PHONE_FIRST
    assert "01632 960102" not in lines["X"]["other_phones"] + lines["V"]["other_phones"]


def test_the_dry_run_marks_who_must_not_be_phoned(runtime: Any, wide_console: None) -> None:
    _family_of_landlines(runtime)
    result = runner.invoke(
        app,
        closure_args("--dry-run"),
    )
    assert result.exit_code == 0, result.output
    assert "contacts no channel can reach (phone them)" in result.output
    assert f"{DO_NOT_PHONE} (text 01632 960102)" in result.output
    assert re.findall(r"\S+ 01632 960102", result.output) == ["(text 01632 960102"]
    assert "01632 960103 (phone first)" in result.output
    assert "01632 960101" in result.output and "+44" not in result.output

    as_json = runner.invoke(
        app,
        closure_args("--dry-run", "--json"),
    )
    unreachable = {p["contact_id"]: p for p in json.loads(as_json.output)["unreachable"]}
    assert (unreachable["H"]["phone"], unreachable["H"]["phone_advice"]) == ("", DO_NOT_PHONE)
    assert unreachable["V"]["phone_advice"] == PHONE_FIRST
