"""A subject access request (issue 15, problem 7): ``dispatcher audit export --contact ID``
(or ``--student ID``) lists everything one family was sent, with the subject and text they
read, formula-safe; an id the school does not have exits 2 naming the option."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from typer.testing import CliRunner

from dispatcher.cli.main import app
from dispatcher.store.models import Contact, Delivery, MessageText, OutboxMessage
from tests.support.factories import create, import_roster, plan, row
from tests.support.tracking import send

runner = CliRunner()
FORMULA = '=HYPERLINK("http://x","Click")'


def _two_families(runtime: Any) -> int:
    """A closure sent to Ada's mother (M) and father (F), and to another family (O)."""
    import_roster(
        runtime,
        [
            row(student_id="S1", contact_id="M", mobile="07700 900001", email="m@example.com"),
            row(
                student_id="S1",
                contact_id="F",
                contact_first_name="Fred",
                relationship="father",
                mobile="07700 900002",
                email="f@example.com",
            ),
            row(
                student_id="S2",
                student_first_name="Bo",
                contact_id="O",
                contact_first_name="Olu",
                mobile="07700 900003",
                email="o@example.com",
            ),
        ],
    )
    announcement_id = create(runtime)
    send(runtime, plan(runtime, announcement_id))
    return announcement_id


def _export(tmp_path: Path, *options: str) -> tuple[Any, list[dict[str, str]]]:
    output = tmp_path / "sar.csv"
    output.unlink(missing_ok=True)
    result = runner.invoke(
        app, ["audit", "export", "--school", "demo", *options, "--output", str(output)]
    )
    if not output.exists():
        return result, []
    return result, list(csv.DictReader(output.open(encoding="utf-8", newline="")))


def _sent_texts(runtime: Any, contact: str) -> set[tuple[str, str, str | None, str]]:
    """What the outbox shows was sent to ``contact``: (channel, to, subject, body)."""
    with runtime.sessions() as session:
        return {
            (r.channel, r.to_address, r.subject, r.body)
            for r in session.execute(
                select(OutboxMessage)
                .join(Delivery, Delivery.id == OutboxMessage.delivery_id)
                .join(Contact, Contact.id == Delivery.contact_id)
                .where(Contact.external_id == contact)
            ).scalars()
        }


def test_one_contacts_export_lists_what_they_were_sent_with_the_text(
    runtime: Any, env: Any, tmp_path: Path
) -> None:
    announcement_id = _two_families(runtime)

    result, lines = _export(tmp_path, "--contact", "M")

    assert result.exit_code == 0, result.output
    assert {line["contact_id"] for line in lines} == {"M"}
    assert {(x["channel"], x["to"], x["subject"] or None, x["text"]) for x in lines} == (
        _sent_texts(runtime, "M")
    )
    assert {line["channel"] for line in lines} == {"sms", "email"}
    for line in lines:
        assert line["announcement_id"] == str(announcement_id)
        assert line["category"] == "emergency_closure"
        assert line["state"] == "sent" and line["provider_requests"] == "1"
        assert line["possibly_sent_twice"] == "" and line["sent_at"]
    email = next(line for line in lines if line["channel"] == "email")
    assert email["subject"].startswith("School closed on Tuesday 24 November")
    assert "heavy snow" in email["text"]
    # the personal data is in the file only
    assert "07700" not in result.output and "+447700900001" not in result.output


def test_a_students_export_lists_every_contact_of_the_student_and_no_other_family(
    runtime: Any, env: Any, tmp_path: Path
) -> None:
    _two_families(runtime)

    result, lines = _export(tmp_path, "--student", "S1")

    assert result.exit_code == 0, result.output
    with runtime.sessions() as session:
        family_messages = session.scalar(
            select(func.count(Delivery.id))
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Contact.external_id.in_(["M", "F"]))
        )
    assert {line["contact_id"] for line in lines} == {"M", "F"}
    assert len(lines) == family_messages == 4
    assert all(line["text"] for line in lines)


def test_an_unknown_contact_or_student_is_named_and_nothing_is_written(
    runtime: Any, env: Any, tmp_path: Path
) -> None:
    _two_families(runtime)

    contact, contact_lines = _export(tmp_path, "--contact", "NOBODY")
    student, student_lines = _export(tmp_path, "--student", "NOBODY")
    both = runner.invoke(
        app, ["audit", "export", "--school", "demo", "--contact", "M", "--student", "S1"]
    )

    assert contact.exit_code == 2 and "--contact" in contact.stderr
    assert student.exit_code == 2 and "--student" in student.stderr
    assert len(contact.stderr.strip().splitlines()) == 1
    assert contact_lines == student_lines == []
    assert both.exit_code == 2


def test_formula_looking_names_and_texts_are_exported_as_text(
    runtime: Any, env: Any, tmp_path: Path
) -> None:
    _two_families(runtime)
    with runtime.sessions() as session:
        session.execute(update(Contact).values(first_name=FORMULA))
        session.execute(update(MessageText).values(subject=FORMULA, body=FORMULA))
        session.commit()

    result, lines = _export(tmp_path, "--contact", "M")

    assert result.exit_code == 0, result.output
    assert len(lines) == 2
    for line in lines:
        assert line["contact_name"].startswith("'=")
        assert line["text"] == "'" + FORMULA
        assert line["subject"] == "'" + FORMULA
