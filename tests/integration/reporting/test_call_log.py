"""Issue 16, families not reached: the office logs its calls (reached, no answer, voicemail,
wrong number, with a note), in the audit log; the list of families to phone shrinks as
families are told by phone, and an attempt that did not get through stays beside the family
(decision 0084). Through the CLI (the API: tests/integration/web/test_api_calls.py); SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from dispatcher.cli.common import console
from dispatcher.cli.main import app
from dispatcher.store.models import AuditEntry, CallLog
from tests.support.calls import two_families_nobody_can_message

runner = CliRunner()


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 250)


def report(announcement_id: int) -> dict[str, Any]:
    shown = runner.invoke(app, ["report", str(announcement_id), "--json"])
    assert shown.exit_code == 0, shown.output
    data: dict[str, Any] = json.loads(shown.output)
    return data


def call(announcement_id: int, *args: str) -> Any:
    return runner.invoke(app, ["calls", "log", str(announcement_id), *args])


def test_the_list_to_phone_shrinks_as_the_office_tells_families(
    runtime: Any, wide_console: None
) -> None:
    announcement_id = two_families_nobody_can_message(runtime)
    assert report(announcement_id)["families_not_reached"] == 2

    missed = call(announcement_id, "--contact", "A1", "--outcome", "no_answer", "--as", "Jo Bloggs")
    assert missed.exit_code == 0, missed.output
    data = report(announcement_id)
    assert data["families_not_reached"] == 2  # nobody answered: still to phone
    sa = next(p for p in data["not_reached"] if p["student_id"] == "SA")
    assert [c["outcome"] for c in sa["calls"]] == ["no_answer"]
    assert sa["calls"][0]["called_by"] == "Jo Bloggs" and not sa["told_by_phone"]
    shown = runner.invoke(app, ["report", str(announcement_id)]).output
    assert "no answer (Jo Bloggs," in shown

    told = call(
        announcement_id,
        "--contact",
        "A1",
        "--outcome",
        "reached",
        "--note",
        "=Grandad will collect [at noon]",
        "--as",
        "Jo Bloggs",
    )
    assert told.exit_code == 0, told.output
    data = report(announcement_id)
    assert data["families_not_reached"] == 1
    families = {p["student_id"]: p for p in data["not_reached"]}
    assert families["SA"]["family_reached"] and families["SA"]["told_by_phone"]
    assert not families["SB"]["family_reached"]

    shown = runner.invoke(app, ["report", str(announcement_id)]).output
    to_phone = shown.split("families not reached: please contact them")[1].split("no call needed")[
        0
    ]
    assert "SB" in to_phone and "SA" not in to_phone
    assert "told by phone: reached (Jo Bloggs" in shown and "[at noon]" in shown

    exported = runner.invoke(app, ["report", str(announcement_id), "--csv"]).output
    lines = {line["student_id"]: line for line in csv.DictReader(io.StringIO(exported))}
    assert lines["SA"]["family_reached"] == "yes"
    assert lines["SA"]["last_call"].startswith("reached (Jo Bloggs, ")
    assert "Grandad will collect" in lines["SA"]["last_call"]
    assert lines["SB"]["last_call"] == ""

    listed = json.loads(
        runner.invoke(app, ["calls", "list", str(announcement_id), "--json"]).output
    )
    assert [(c["contact_id"], c["outcome"]) for c in listed] == [
        ("A1", "no_answer"),
        ("A1", "reached"),
    ]
    with runtime.sessions() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "call.logged")).all()
    assert [(a.actor, a.detail["outcome"]) for a in audit] == [
        ("Jo Bloggs", "no_answer"),
        ("Jo Bloggs", "reached"),
    ]
    assert all("Grandad" not in json.dumps(a.detail) for a in audit)


def test_a_voicemail_tells_the_family_and_a_wrong_number_does_not(runtime: Any) -> None:
    announcement_id = two_families_nobody_can_message(runtime)
    assert call(announcement_id, "--contact", "A1", "--outcome", "voicemail").exit_code == 0
    assert call(announcement_id, "--contact", "B1", "--outcome", "wrong number").exit_code == 0
    families = {p["student_id"]: p for p in report(announcement_id)["not_reached"]}
    assert families["SA"]["told_by_phone"] and not families["SB"]["told_by_phone"]
    assert families["SB"]["calls"][0]["outcome"] == "wrong_number"
    # Without --as, the OS user and host are recorded.
    assert "@" in families["SA"]["calls"][0]["called_by"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--contact", "A1", "--outcome", "busy"], "--outcome"),
        (["--contact", "NOBODY", "--outcome", "reached"], "--contact"),
        (["--contact", "A1", "--student", "SB", "--outcome", "reached"], "--student"),
        (["--contact", "A1", "--outcome", "reached", "--note", "x" * 501], "--note"),
        (["--contact", "A1", "--outcome", "reached", "--note", "a\x00b"], "--note"),
    ],
)
def test_a_bad_call_names_the_option_and_stores_nothing(
    runtime: Any, args: list[str], field: str
) -> None:
    announcement_id = two_families_nobody_can_message(runtime)
    result = call(announcement_id, *args)
    assert result.exit_code == 2
    assert field in result.output and "Traceback" not in result.output
    with runtime.sessions() as session:
        assert session.scalars(select(CallLog)).all() == []
    assert call(999_999, "--contact", "A1", "--outcome", "reached").exit_code == 2
