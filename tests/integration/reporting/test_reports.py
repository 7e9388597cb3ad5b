"""The office's report of an announcement (counts per channel, fallbacks, escalations,
timings, replies, the families nobody reached and the numbers to phone), its CSV, and the
audit export of every message sent to families."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dispatcher.channels.reports import InboundText
from dispatcher.cli.main import app
from dispatcher.reporting.reports import announcement_report
from dispatcher.tracking.inbound import record_inbound
from tests.support.factories import create, import_roster, plan, row
from tests.support.tracking import TUESDAY_10AM, deliveries, one, report_status, send

runner = CliRunner()


def _closure_with_outcomes(runtime: Any) -> int:
    """An emergency closure to three families: A delivered, B's text failed but its email
    back-up went, C (a mobile only) not reached; a second carer for C is reached."""
    import_roster(
        runtime,
        [
            row(student_id="SA", contact_id="A", mobile="07700 900011", email="a@example.com"),
            row(student_id="SB", contact_id="B", mobile="07700 900012", email="b@example.com"),
            row(
                student_id="SC",
                student_first_name="Cy",
                contact_id="C",
                contact_first_name="Cath",
                mobile="07700 900013",
                email="",
            ),
            row(
                student_id="SC",
                contact_id="C2",
                priority="2",
                mobile="01632 960013",  # a landline: shown for calls, never texted
                email="c2@example.com",
            ),
        ],
    )
    announcement_id = create(runtime, now=TUESDAY_10AM - timedelta(minutes=2))
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    rows = deliveries(runtime, announcement_id)
    by_contact = {d.contact_id: d for d in rows if d.channel == "sms"}
    a_sms, b_sms, c_sms = sorted(by_contact.values(), key=lambda d: d.contact_id)
    report_status(runtime, a_sms, "delivered")
    report_status(runtime, b_sms, "undelivered", "30006")
    report_status(runtime, c_sms, "failed", "30003")
    with runtime.sessions() as session:
        record_inbound(
            session,
            InboundText("+447700900011", None, "Thanks, we'll keep him home", "SM" + "f" * 32),
            TUESDAY_10AM + timedelta(minutes=5),
        )
        session.commit()
    return announcement_id


def test_the_report_counts_channels_and_lists_who_to_phone(runtime: Any) -> None:
    announcement_id = _closure_with_outcomes(runtime)
    with runtime.sessions() as session:
        data = announcement_report(session, announcement_id)

    json.dumps(data)  # the API serves it as it is
    assert data["summary"] == {
        "email": {"pending": 0, "sent": 3, "delivered": 0, "failed": 0, "cancelled": 0},
        "sms": {"pending": 0, "sent": 0, "delivered": 1, "failed": 2, "cancelled": 0},
    }
    # Twilio's "failed" after we recorded the text as sent is an undelivered text
    assert data["counts"]["sms"] == {"delivered": 1, "undelivered": 2}
    assert data["deliveries_by_kind"] == {"primary": 4, "backup": 2}
    assert data["fallbacks"]["total"] == 0 and data["escalations"]["total"] == 0
    assert data["seconds_to_first_sent"] == 120.0
    assert data["seconds_to_first_delivered"] == 120.0
    [reply] = data["replies"]
    assert (reply["contact_id"], reply["body"]) == ("A", "Thanks, we'll keep him home")
    [cath] = data["not_reached"]
    assert (cath["student_id"], cath["contact_id"], cath["phone"]) == ("SC", "C", "+447700900013")
    assert (cath["family_reached"], cath["other_phones"]) == (True, "+441632960013")
    assert "sms undelivered (30003)" in cath["reason"]


def test_report_command_prints_tables_and_the_not_reached_csv(runtime: Any, env: Any) -> None:
    announcement_id = _closure_with_outcomes(runtime)

    shown = runner.invoke(app, ["report", str(announcement_id)])
    exported = runner.invoke(app, ["report", str(announcement_id), "--csv"])
    as_json = runner.invoke(app, ["report", str(announcement_id), "--json"])

    assert shown.exit_code == 0, shown.output
    assert "done: 6 messages handed to providers, 0 families not reached" in shown.output
    # Cath was not reached but her family was (C2): listed, with no call asked of the office
    for text in ("delivered", "fallbacks", "the family has it: no call needed"):
        assert text in shown.output
    assert "please contact them" not in shown.output and "07700 900013" not in shown.output
    assert "replies" in shown.output and "Thanks," in shown.output
    assert exported.exit_code == 0, exported.output
    [line] = list(csv.DictReader(io.StringIO(exported.output)))
    assert (line["student_id"], line["contact_id"], line["phone"]) == ("SC", "C", "07700 900013")
    assert (line["family_reached"], line["other_phones"]) == ("yes", "01632 960013")
    assert json.loads(as_json.output)["not_reached"][0]["contact_id"] == "C"
    missing = runner.invoke(app, ["report", "999"])
    assert missing.exit_code == 2


def test_audit_export_lists_every_message_sent_to_families(
    runtime: Any, env: Any, tmp_path: Path
) -> None:
    announcement_id = _closure_with_outcomes(runtime)
    output = tmp_path / "audit.csv"

    result = runner.invoke(
        app,
        ["audit", "export", "--school", "demo", "--since", "2026-11-24", "--output", str(output)],
    )

    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(output.open(encoding="utf-8")))
    assert len(lines) == len(deliveries(runtime, announcement_id)) == 6
    delivered = next(line for line in lines if line["state"] == "delivered")
    assert (delivered["channel"], delivered["to"], delivered["contact_id"]) == (
        "sms",
        "+447700900011",
        "A",
    )
    assert {line["announcement_id"] for line in lines} == {str(announcement_id)}
    assert oct(output.stat().st_mode & 0o777) == "0o600"
    # the personal data is in the file, not on the terminal
    assert "+447700900011" not in result.output

    later = runner.invoke(app, ["audit", "export", "--school", "demo", "--since", "2026-11-25"])
    assert later.exit_code == 0
    assert later.output.strip().splitlines() == [",".join(_columns())]
    bad = runner.invoke(app, ["audit", "export", "--school", "demo", "--since", "last week"])
    assert bad.exit_code == 2 and "--since" in bad.output
    unknown = runner.invoke(app, ["audit", "export", "--school", "nowhere"])
    assert unknown.exit_code == 2 and "--school" in unknown.output


def _columns() -> tuple[str, ...]:
    from dispatcher.reporting.audit_export import AUDIT_COLUMNS

    return AUDIT_COLUMNS


def test_a_failed_text_with_its_fallback_email_is_counted_as_a_fallback(runtime: Any) -> None:
    import_roster(runtime, [row()])
    announcement_id = create(
        runtime,
        "payment_request",
        variables={
            "item": "dinners",
            "amount": "£20",
            "due_date": "Friday",
            "payment_link": "https://pay.example/d",
        },
        now=TUESDAY_10AM,
    )
    send(runtime, plan(runtime, announcement_id, now=TUESDAY_10AM))
    sms = one(deliveries(runtime, announcement_id), channel="sms")
    send(runtime, report_status(runtime, sms, "undelivered", "30003"))
    email = one(deliveries(runtime, announcement_id), channel="email")
    report_status(runtime, email, "delivered")

    with runtime.sessions() as session:
        data = announcement_report(session, announcement_id)
    assert data["fallbacks"] == {"total": 1, "by_channel": {"email": 1}}
    assert data["summary"]["email"]["delivered"] == 1
    assert data["not_reached"] == []


FORMULAS = ('=HYPERLINK("http://x","Click")', "@SUM(1+1)", "+cmd|' /C calc'!A0", "\r=cmd")


def _names_as_formulas(runtime: Any) -> int:
    """The closure of ``_closure_with_outcomes`` with every student's and contact's names
    replaced by spreadsheet formulas (as if the MIS had sent them)."""
    from sqlalchemy import update

    from dispatcher.store.models import Contact, Student

    announcement_id = _closure_with_outcomes(runtime)
    with runtime.sessions() as session:
        session.execute(update(Student).values(first_name=FORMULAS[0], last_name=FORMULAS[1]))
        session.execute(update(Contact).values(first_name=FORMULAS[2], last_name=FORMULAS[3]))
        session.commit()
    return announcement_id


def _evaluable(cell: str) -> bool:
    return cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not cell.lstrip("+-").isdigit()


def test_the_not_reached_csv_escapes_names_a_spreadsheet_would_evaluate(
    runtime: Any, env: Any
) -> None:
    announcement_id = _names_as_formulas(runtime)

    exported = runner.invoke(app, ["report", str(announcement_id), "--csv"])

    assert exported.exit_code == 0, exported.output
    [line] = list(csv.DictReader(io.StringIO(exported.output, newline="")))
    assert line["student_name"].startswith("'=HYPERLINK(")
    assert line["contact_name"].startswith("'+cmd|")
    assert line["phone"] == "07700 900013"  # as it is dialled, and never a formula
    assert not any(_evaluable(cell) for cell in line.values())


def test_the_audit_export_escapes_names_a_spreadsheet_would_evaluate(
    runtime: Any, env: Any, tmp_path: Path
) -> None:
    _names_as_formulas(runtime)
    output = tmp_path / "audit.csv"

    result = runner.invoke(app, ["audit", "export", "--school", "demo", "--output", str(output)])

    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(output.open(encoding="utf-8", newline="")))
    assert len(lines) == 6
    for line in lines:
        assert line["student_name"] == "'" + " ".join(FORMULAS[:2])
        assert line["contact_name"] == "'" + " ".join(FORMULAS[2:])
        assert not any(_evaluable(cell) for cell in line.values())
