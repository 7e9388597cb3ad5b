"""Roster import through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.store.models import Contact, GroupMembership, Student, StudentContact
from tests.support.factories import roster_text, row, write_roster

runner = CliRunner()


def _count(runtime: Any, model: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _import(path: Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["roster", "import", str(path), "--school", "demo", "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_good_rows_land_bad_rows_are_reported_by_line_and_column(
    runtime: Any, tmp_path: Path
) -> None:
    rows = [
        row(),
        row(student_id="S2", contact_id="C2", mobile="12345"),  # line 3: bad phone
        row(student_id="S3", contact_id="C3", email="not-an-email"),  # line 4
        row(student_id="S4", contact_id="C4", preferred_channel="fax"),  # line 5
        row(student_id="S5", contact_id="C5", needs="telepathy"),  # line 6
        row(student_id="", contact_id="C6"),  # line 7: missing id
        row(student_id="S7", contact_id="C7"),
    ]
    code, report = _import(write_roster(tmp_path / "roster.csv", rows))
    assert code == 1
    assert report["imported"] == 2
    bad = {(e["line"], e["column"]) for e in report["errors"]}
    assert {
        (3, "mobile"),
        (4, "email"),
        (5, "preferred_channel"),
        (6, "needs"),
        (7, "student_id"),
    } <= bad
    assert {e["line"] for e in report["errors"]} == {3, 4, 5, 6, 7}
    assert _count(runtime, Student) == 2
    # personal data is not echoed back in the reasons
    assert "not-an-email" not in json.dumps(report["errors"])


def test_all_good_exits_zero_and_reimport_changes_nothing(runtime: Any, tmp_path: Path) -> None:
    rows = [
        row(groups="trip-paris;choir"),
        # a sibling sharing the same mother: one contact, two links
        row(student_id="S2", student_first_name="Byron", groups="choir"),
        # the same row twice: one link
        row(student_id="S2", student_first_name="Byron", groups="choir"),
        row(
            student_id="S2",
            student_first_name="Byron",
            contact_id="C2",
            contact_first_name="George",
            relationship="father",
            mobile="01632 960123",
            email="",
        ),
    ]
    path = write_roster(tmp_path / "roster.csv", rows)
    code, report = _import(path)
    assert code == 0 and report["errors"] == []
    counts = [_count(runtime, m) for m in (Student, Contact, StudentContact, GroupMembership)]
    assert counts == [2, 2, 3, 3]
    code, again = _import(path)
    assert code == 0 and again["changed"] == 0
    assert [
        _count(runtime, m) for m in (Student, Contact, StudentContact, GroupMembership)
    ] == counts
    with runtime.sessions() as session:
        father = session.scalar(select(Contact).where(Contact.external_id == "C2"))
        assert father.phone_e164 == "+441632960123"
        assert father.phone_sms_capable is False  # a landline: kept for calls, never texted


def test_unknown_school_and_missing_file_are_named(runtime: Any, tmp_path: Path) -> None:
    result = runner.invoke(app, ["roster", "import", str(tmp_path / "x.csv"), "--school", "demo"])
    assert result.exit_code == 2 and "does not exist" in result.stderr
    path = write_roster(tmp_path / "r.csv", [row()])
    result = runner.invoke(app, ["roster", "import", str(path), "--school", "nowhere"])
    assert result.exit_code == 2 and "--school" in result.stderr


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_after_an_import_postgresql_plans_with_the_new_roster(runtime: Any, tmp_path: Path) -> None:
    """An announcement sent straight after an import is planned on up-to-date statistics:
    PostgreSQL knows how many pupils and contacts there now are (it would otherwise plan as
    if the tables were still empty until autovacuum came round, scanning a whole school for
    every batch of fifty messages)."""
    rows = [
        row(student_id=f"S{i}", contact_id=f"C{i}", mobile=f"07700 900{i:03d}") for i in range(120)
    ]
    code, report = _import(write_roster(tmp_path / "roster.csv", rows))
    assert code == 0 and report["imported"] == 120
    with runtime.engine.connect() as connection:
        estimated = dict(
            connection.execute(
                text(
                    "SELECT relname, reltuples FROM pg_class "
                    "WHERE relname IN ('students', 'contacts', 'student_contacts')"
                )
            ).all()
        )
    assert estimated == {"students": 120, "contacts": 120, "student_contacts": 120}


def test_over_long_nul_and_control_characters_are_bad_rows_and_good_rows_land(
    runtime: Any, tmp_path: Path
) -> None:
    surname = "Featherstonehaugh-" * 6  # 108 characters: the column holds 100
    rows = [
        row(),
        row(student_id="S2", contact_id="C2", student_last_name=surname),  # line 3
        row(student_id="S3", contact_id="C3", contact_first_name="Ma\x00ry"),  # line 4
        row(student_id="S4", contact_id="C4", relationship="x" * 10_000),  # line 5
        row(student_id="S5", contact_id="C5", contact_last_name="Smith\x07"),  # line 6
        row(student_id="S6", contact_id="C6", groups="choir;" + "g" * 101),  # line 7
        row(student_id="S7", contact_id="C7", push_token="t" * 501),  # line 8
        row(student_id="S8", contact_id="C8", email="someone-" + "e" * 9_990 + "@example.com"),
        row(student_id="S9", contact_id="C9", student_last_name="L" * 100),  # exactly fits
    ]
    path = write_roster(tmp_path / "roster.csv", rows)

    result = runner.invoke(app, ["roster", "import", str(path), "--school", "demo", "--json"])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # an exit code, not a traceback
    report = json.loads(result.stdout)
    assert report["imported"] == 2
    assert {(e["line"], e["column"], e["reason"]) for e in report["errors"]} == {
        (3, "student_last_name", "longer than 100 characters"),
        (4, "contact_first_name", "contains a NUL byte"),
        (5, "relationship", "longer than 50 characters"),
        (
            6,
            "contact_last_name",
            "contains a control character (an invisible code other than a tab or line break)",
        ),
        (7, "groups", "item 2 is longer than 100 characters"),
        (8, "push_token", "longer than 500 characters"),
        (9, "email", "longer than 320 characters"),
    }
    assert _count(runtime, Student) == 2
    for personal in ("Featherstone", "Ma\x00ry", "Lovelace", "07700", "@example.com", "Anne"):
        assert personal not in result.output


def test_a_file_that_is_not_utf8_exits_2_naming_the_first_bad_line(
    runtime: Any, tmp_path: Path
) -> None:
    text = roster_text([row(), row(student_id="S2", contact_id="C2", contact_last_name="Zoë")])
    path = tmp_path / "roster.csv"
    path.write_bytes(text.encode("latin-1"))

    result = runner.invoke(app, ["roster", "import", str(path), "--school", "demo"])

    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    [message] = result.stderr.strip().splitlines()
    assert "not UTF-8" in message and "line 3" in message
    assert "Zo" not in message
    assert _count(runtime, Student) == 0
