"""Trusts through the CLI (issue 15, problem 5): SENDAT is a trust of member schools, each with
its own name and phone. A trust's roster places each student in a member school; a trust-wide
emergency closure reaches every member school's families with that school's own name and
phone in the text (not "SENDAT is closed", with no number)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.config.schools import ProviderNames
from dispatcher.delivery.deliver import deliver_batch
from dispatcher.store.models import (
    Announcement,
    AuditEntry,
    Delivery,
    OutboxMessage,
    School,
    Student,
)
from dispatcher.triggers.roster.parse import TRUST_ROSTER_COLUMNS
from tests.support.factories import closure_args, delivery_ids, plan, row

runner = CliRunner()


def trust_roster(path: Path, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(TRUST_ROSTER_COLUMNS)]
    lines += [",".join(r[c] for c in TRUST_ROSTER_COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_sendat(runtime: Any, tmp_path: Path) -> Any:
    rows = [
        row(student_id="A1", contact_id="CA1", mobile="07700 900101", school="sendat-a"),
        row(student_id="B1", contact_id="CB1", mobile="07700 900201", school="sendat-b"),
        row(student_id="X1", contact_id="CX1", mobile="07700 900301", school="brockmoor"),
        row(student_id="Y1", contact_id="CY1", mobile="07700 900401", school=""),
    ]
    result = runner.invoke(
        app, ["roster", "import", str(trust_roster(tmp_path / "sendat.csv", rows)),
              "--trust", "sendat", "--json"],
    )  # fmt: skip
    return result


def test_a_trust_roster_places_each_student_in_its_member_school(
    runtime: Any, tmp_path: Path
) -> None:
    result = import_sendat(runtime, tmp_path)
    assert result.exit_code == 1, result.output  # two rows skipped
    data = json.loads(result.stdout)
    assert data["imported"] == 2
    errors = {(e["line"], e["column"]) for e in data["errors"]}
    assert errors == {(4, "school"), (5, "school")}
    reasons = " ".join(e["reason"] for e in data["errors"])
    assert "sendat-a, sendat-b" in reasons and "required" in reasons
    with runtime.sessions() as session:
        placed = dict(
            session.execute(
                select(Student.external_id, School.slug).join(
                    School, School.id == Student.school_id
                )
            ).all()
        )
    assert placed == {"A1": "sendat-a", "B1": "sendat-b"}
    # One school's import refuses a row of its sibling, naming the column.
    one = runner.invoke(
        app,
        ["roster", "import", str(tmp_path / "sendat.csv"), "--school", "sendat-a", "--json"],
    )
    assert {(e["line"], e["column"]) for e in json.loads(one.stdout)["errors"]} >= {(3, "school")}


def test_a_trust_wide_closure_names_each_member_school_and_its_phone(
    runtime: Any, tmp_path: Path
) -> None:
    import_sendat(runtime, tmp_path)
    dry = runner.invoke(
        app,
        closure_args("--dry-run", "--json", trust="sendat"),
    )
    assert dry.exit_code == 0, dry.output
    plans = json.loads(dry.stdout)
    assert plans["trust"] == "sendat"
    assert [(p["school"], p["recipients"]) for p in plans["schools"]] == [
        ("sendat-a", 1),
        ("sendat-b", 1),
    ]

    sent = runner.invoke(
        app,
        closure_args("--yes", "--json", trust="sendat"),
    )
    assert sent.exit_code == 0, sent.output
    announcements = json.loads(sent.stdout)["announcements"]
    assert [a["school"] for a in announcements] == ["sendat-a", "sendat-b"]

    # Record the messages in the outbox whatever providers the schools name: the rendered
    # text is what this test reads.
    schools = runtime.configuration.schools
    for slug in ("sendat-a", "sendat-b"):
        schools[slug] = schools[slug].model_copy(update={"providers": ProviderNames.outbox_only()})
    for item in announcements:
        work = plan(runtime, item["announcement_id"])
        deliver_batch(runtime, delivery_ids(work), lambda: datetime.now(UTC), lambda w: None)

    with runtime.sessions() as session:
        texts = {
            slug: body
            for slug, body in session.execute(
                select(School.slug, OutboxMessage.body)
                .join(Announcement, Announcement.id == OutboxMessage.announcement_id)
                .join(School, School.id == Announcement.school_id)
                .where(OutboxMessage.channel == "sms")
            )
        }
        audit = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "announcement.created")
        ).all()
        states = set(session.scalars(select(Delivery.state).where(Delivery.channel == "sms")))
    assert states == {"sent"}
    assert "SENDAT School A" in texts["sendat-a"] and "01632 960101" in texts["sendat-a"]
    assert "SENDAT School B" in texts["sendat-b"] and "01632 960202" in texts["sendat-b"]
    assert "School B" not in texts["sendat-a"] and "School A" not in texts["sendat-b"]
    assert [d["trust"] for d in audit] == ["sendat", "sendat"]


def test_an_unknown_trust_or_both_scopes_exit_2(runtime: Any) -> None:
    base = ["announce", "--category", "newsletter", "--audience", "school", "--dry-run"]
    unknown = runner.invoke(app, [*base, "--trust", "sendta"])
    assert unknown.exit_code == 2 and "--trust" in unknown.output and "sendat" in unknown.output
    both = runner.invoke(app, [*base, "--trust", "sendat", "--school", "sendat-a"])
    assert both.exit_code == 2 and "exactly one" in both.output
