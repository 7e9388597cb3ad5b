"""``dispatcher retention run``: erase the texts, numbers and addresses of what was sent
longer ago than ``DISPATCHER_RETENTION_MONTHS``, keeping the counts (decision 0078)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from dispatcher.cli.acting import AsOption, actor
from dispatcher.cli.common import JsonFlag, console
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json

retention_app = typer.Typer(
    help="Erase what was sent after the retention period; counts remain.", no_args_is_help=True
)

#: What each kind of erased record is called in the printout.
KIND_TEXT = {
    "message_texts": "texts families read",
    "outbox_messages": "outbox messages (addresses and texts)",
    "inbound_messages": "texts from families (numbers and words)",
    "delivery_event_details": "delivery event details",
    "delivery_error_reasons": "providers' error reasons",
    "call_notes": "notes of the office's calls",
    "sign_off_reasons": "reasons given for rejecting a sign-off",
    "mis_event_payloads": "MIS event payloads",
    "audit_details": "audit entries' addresses",
}


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be erased; erase nothing.")
    ] = False,
    school: Annotated[
        str | None, typer.Option(help="Only this school's records (default: every school).")
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(help="Act as if it were this instant (ISO 8601; no zone means UTC)."),
    ] = None,
    as_name: AsOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Erase, for announcements older than DISPATCHER_RETENTION_MONTHS (default 13), the texts
    families read, the outbox's and inbound texts' numbers and words, providers' error
    reasons and addresses in the audit log; the announcements, deliveries and their counts
    stay, so reports give the same numbers. Prints the counts (no personal data) and writes
    one audit entry. Running it again erases nothing more. The clock runs it daily."""
    from dispatcher.records.retention import run_retention
    from dispatcher.store.schools import ensure_school

    moment = datetime.now(UTC)
    if now is not None:
        try:
            parsed = datetime.fromisoformat(now)
        except ValueError:
            _fail("--now: expected an ISO 8601 date and time, e.g. 2026-12-01T09:00:00+00:00")
        moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    runtime = _runtime()
    months = runtime.settings.retention_months
    with runtime.sessions() as session:
        school_ids: dict[str, int] | None = None
        if school is not None:
            try:
                school_cfg = runtime.configuration.school(school)
            except KeyError:
                _fail(f"--school: no school {school!r} in the configuration")
            school_ids = {school: ensure_school(session, school_cfg).id}
            session.commit()
        report = run_retention(
            session,
            moment,
            months,
            actor=actor(as_name),
            school_ids=school_ids,
            dry_run=dry_run,
        )
    if json_output:
        _print_json(report.as_json())
        return
    verb = "would erase" if dry_run else "erased"
    where = school or "every school"
    console.print(
        f"retention ({months} months, {where}): {verb} what was sent before "
        f"{report.cutoff:%Y-%m-%d %H:%M} UTC",
        highlight=False,
    )
    for kind, text in KIND_TEXT.items():
        console.print(f"  {text}: {report.erased.get(kind, 0)}", highlight=False)
    if dry_run:
        console.print("dry run: nothing was erased", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``retention`` commands to the ``dispatcher`` command line."""
    app.add_typer(retention_app, name="retention")
