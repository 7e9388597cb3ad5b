"""``dispatcher audit export``: every message sent to the school's families, or to one
contact or one student's contacts (a subject access request), as CSV with the texts they
read."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from dispatcher.cli.common import fail as _fail

audit_app = typer.Typer(
    help="Records of what was sent, for the school's files.", no_args_is_help=True
)


@audit_app.command("export")
def audit_export(
    school: Annotated[str, typer.Option(help="School slug.")],
    since: Annotated[
        str | None, typer.Option(help="Only messages created on or after this date (YYYY-MM-DD).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="CSV file to write (default: standard output).")
    ] = None,
    contact: Annotated[
        str | None,
        typer.Option(help="Only this contact's messages (the MIS contact id, as in the roster)."),
    ] = None,
    student: Annotated[
        str | None,
        typer.Option(help="Only the messages of this student's contacts (the MIS student id)."),
    ] = None,
) -> None:
    """Every message sent to a family, as CSV: when, which announcement, to whom, how, what
    became of it, and the subject and text it read. --contact or --student: one family's,
    for a subject access request. Holds personal data: keep the file as the school keeps its
    records."""
    from dispatcher.reporting.audit_export import (
        AuditFilter,
        UnknownSubject,
        subject_contacts,
        write_audit_csv,
    )
    from dispatcher.runtime import current_runtime

    start: datetime | None = None
    if since is not None:
        try:
            start = datetime.combine(date.fromisoformat(since), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            _fail(f"--since {since!r}: expected a date like 2026-11-01")
    runtime = current_runtime()
    try:
        runtime.configuration.school(school)
    except KeyError:
        _fail(f"--school: no school {school!r} in the configuration")
    if contact is not None and student is not None:
        _fail("--contact or --student: give at most one")
    subject = AuditFilter(contact=contact, student=student)
    with runtime.sessions() as session:
        contact_ids: list[int] | None = None
        if contact is not None or student is not None:
            try:
                contact_ids = subject_contacts(session, school, subject)
            except UnknownSubject as exc:
                _fail(f"--{exc}")
        if output is None:
            rows = write_audit_csv(session, school, start, sys.stdout, contact_ids)
        else:
            with output.open("w", encoding="utf-8", newline="") as stream:
                rows = write_audit_csv(session, school, start, stream, contact_ids)
            output.chmod(0o600)
    if output is not None:
        typer.echo(f"wrote {rows} messages to {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``audit`` commands to the ``dispatcher`` command line."""
    app.add_typer(audit_app, name="audit")
