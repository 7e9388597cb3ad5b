"""``dispatcher calls``: the office's call log for an announcement. When a family the
messages did not reach has been phoned, log it: a family told (reached, or a voicemail
left) leaves the report's list of families to phone; no answer or a wrong number stays on
it with the attempt beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from dispatcher.cli.acting import actor
from dispatcher.cli.common import JsonFlag, console
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json

calls_app = typer.Typer(
    help="Log the office's phone calls to families an announcement did not reach.",
    no_args_is_help=True,
)


@calls_app.command("log")
def log(
    announcement_id: Annotated[int, typer.Argument(help="The announcement the call was about.")],
    contact: Annotated[str, typer.Option(help="MIS id of the contact phoned.")],
    outcome: Annotated[str, typer.Option(help="reached, no_answer, voicemail or wrong_number.")],
    student: Annotated[
        str | None,
        typer.Option(help="MIS id of the pupil (default: the one the announcement was about)."),
    ] = None,
    note: Annotated[str, typer.Option(help="What was said or agreed (at most 500).")] = "",
    as_name: Annotated[
        str | None,
        typer.Option(
            "--as", help="Who phoned (default: your OS user and host, e.g. jo@office-pc)."
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Record a call to a family and its outcome (also in the audit log)."""
    from dispatcher.tracking.calls import CallLogError, log_call

    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            entry = log_call(
                session,
                announcement_id,
                contact=contact,
                student=student,
                outcome=outcome,
                note=note,
                called_by=actor(as_name),
                now=datetime.now(UTC),
            )
        except CallLogError as exc:
            field = "as" if exc.field == "called_by" else exc.field.replace("_", "-")
            _fail(f"--{field}: {exc.message}" if field != "announcement-id" else exc.message)
    if json_output:
        _print_json(entry.as_json())
        return
    console.print(
        f"call {entry.id} logged: {entry.outcome.value.replace('_', ' ')} "
        f"({escape(entry.contact_id)}, by {escape(entry.called_by)}); "
        f"`dispatcher report {announcement_id}` shows who is still to phone",
        highlight=False,
    )


@calls_app.command("list")
def list_calls(
    announcement_id: Annotated[int, typer.Argument(help="The announcement.")],
    json_output: JsonFlag = False,
) -> None:
    """Every call logged for the announcement, oldest first."""
    from dispatcher.store.calls import calls_of
    from dispatcher.store.models import Announcement

    runtime = _runtime()
    with runtime.sessions() as session:
        if session.get(Announcement, announcement_id) is None:
            _fail(f"no announcement {announcement_id}")
        entries = calls_of(session, announcement_id)
    if json_output:
        _print_json([e.as_json() for e in entries])
        return
    if not entries:
        console.print("no calls logged")
        return
    table = Table("at (UTC)", "pupil", "contact", "outcome", "by", "note", title="calls")
    for e in entries:
        table.add_row(
            f"{e.at:%Y-%m-%d %H:%M}",
            escape(f"{e.student_id} {e.student_name}".strip()) or "-",
            escape(f"{e.contact_id} {e.contact_name}"),
            e.outcome.value.replace("_", " "),
            escape(e.called_by),
            escape(e.note) or "-",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``calls`` commands to the ``dispatcher`` command line."""
    app.add_typer(calls_app, name="calls")
