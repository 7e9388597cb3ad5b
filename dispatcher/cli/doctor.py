"""``dispatcher doctor``: one command an IT lead runs before going live and after each change.
Exit 0 when every check holds, 1 when some does not (the problems are listed), 2 on bad
input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from dispatcher.cli.common import JsonFlag, console, fail, print_json, settings_or_fail
from dispatcher.doctor.findings import DoctorReport, Finding, Level

_MARKS = {
    Level.OK: "[green]✔ ok[/]",
    Level.NOTE: "[yellow]! note[/]",
    Level.PROBLEM: "[bold red]✘ problem[/]",
}


def doctor(
    school: Annotated[
        list[str] | None,
        typer.Option("--school", help="Check only this school (repeatable; default: all)."),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(help="Check as of this date (ISO 8601, e.g. 2026-09-01); default: today."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Notes fail too (e.g. a school on the outbox).")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Check that the set-up is complete: per school, providers and their credentials,
    webhook secrets and the public base URL, the sender id, no placeholder addresses,
    templates for every category and language, a calendar for the next 12 months; then the
    database and its migrations, Redis, and running workers and clock."""
    from dispatcher.doctor.run import UnknownSchool, run_doctor

    settings = settings_or_fail()
    try:
        today = datetime.fromisoformat(now).date() if now else datetime.now(UTC).date()
    except ValueError:
        fail("--now: expected an ISO 8601 date, e.g. 2026-09-01")
    try:
        report = run_doctor(settings, today, school or ())
    except UnknownSchool as exc:
        fail(f"--school: {exc}")
    if json_output:
        print_json(report.as_json(strict))
    else:
        _print(report, strict)
    raise typer.Exit(0 if report.passed(strict) else 1)


def _print(report: DoctorReport, strict: bool) -> None:
    """One table for the deployment, then one per school: each check, its mark and what was
    found; then the verdict."""
    sections: dict[str | None, list[Finding]] = {}
    for finding in report.findings:
        sections.setdefault(finding.school, []).append(finding)
    for school, findings in sections.items():
        table = Table(
            "", "check", "what was found", title=f"school {school}" if school else "deployment"
        )
        table.columns[0].no_wrap = True
        table.columns[1].no_wrap = True
        for finding in findings:
            table.add_row(_MARKS[finding.level], finding.check, finding.message)
        console.print(table)
    problems, notes = report.count(Level.PROBLEM), report.count(Level.NOTE)
    verdict = "[bold green]ready[/]" if report.passed(strict) else "[bold red]not ready[/]"
    console.print(
        f"{verdict}: {problems} problem{'s' * (problems != 1)}, {notes} "
        f"note{'s' * (notes != 1)}" + (" (--strict: notes count)" if strict else ""),
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the ``dispatcher`` command line."""
    app.command("doctor")(doctor)
