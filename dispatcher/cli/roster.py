"""``dispatcher roster import``: students, contacts and groups from the MIS export; bad rows
reported by line and column, good rows imported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dispatcher.cli.acting import AsOption, actor
from dispatcher.cli.common import (
    JsonFlag,
    console,
    progress_bar,
)
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json

# Commands owned by other modules (web service, clock and calendar, API tokens, channels).


roster_app = typer.Typer(help="Students, contacts and groups.", no_args_is_help=True)


@roster_app.command("import")
def roster_import(
    file: Annotated[Path, typer.Argument(help="Roster CSV (columns: docs/operations/roster.md).")],
    school: Annotated[str | None, typer.Option(help="School slug.")] = None,
    trust: Annotated[
        str | None,
        typer.Option(
            help="Trust slug instead of --school: the file's last column, school, places each "
            "row in a member school."
        ),
    ] = None,
    as_name: AsOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Import students, contacts and groups; report bad rows by line and column.

    With --trust, the roster has a last column ``school`` naming each row's member school.
    Exit code 0 when every row was good, 1 when some were skipped, 2 for a file that cannot be
    read (not UTF-8, not the roster header) or a database that refused it.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from dispatcher.store.schools import ensure_school
    from dispatcher.triggers.roster.load import import_rows_for_schools
    from dispatcher.triggers.roster.parse import (
        RosterEncodingError,
        RosterHeaderError,
        count_utf8_lines,
        parse_roster,
    )

    runtime = _runtime()
    if (school is None) == (trust is None):
        _fail("--school or --trust: give exactly one")
    imported_by = actor(as_name)
    try:
        if trust is not None:
            members = runtime.configuration.members(trust)
        else:
            members = [runtime.configuration.school(school or "")]
    except KeyError as exc:
        _fail(f"--{'trust' if trust else 'school'}: {exc.args[0]}")
    if not members:
        _fail(f"--trust: {trust!r} has no member schools")
    if not file.is_file():
        _fail(f"FILE: {file} does not exist")
    try:
        with file.open("rb") as raw:
            total_lines = count_utf8_lines(raw) - 1
    except RosterEncodingError as exc:
        _fail(f"{file}: {exc}")
    categories = runtime.configuration.policy.categories
    with file.open(encoding="utf-8-sig", newline="") as stream, runtime.sessions() as session:
        school_ids = {m.slug: ensure_school(session, m).id for m in members}
        session.commit()
        try:
            with progress_bar(json_output) as progress:
                task = progress.add_task("importing", total=max(total_lines, 1))
                result = import_rows_for_schools(
                    session,
                    school_ids,
                    parse_roster(stream, categories),
                    default=school,
                    progress=lambda n: progress.update(task, completed=n),
                )
        except RosterHeaderError as exc:
            _fail(f"{file}: {exc}")
        except SQLAlchemyError as exc:
            # Never the exception's text: it quotes the rows' values (names, numbers).
            session.rollback()
            _fail(
                f"{file}: the database refused the import ({type(exc).__name__}); rows "
                "committed before it are kept, import the file again once it is fixed"
            )
        from dispatcher.store.models import AuditEntry

        session.add(
            AuditEntry(
                at=datetime.now(UTC),
                actor=imported_by,
                action="roster.imported",
                school_id=school_ids[school] if school else None,
                detail={
                    **({"trust": trust, "schools": sorted(school_ids)} if trust else {}),
                    "file": file.name,
                    "imported": result.imported,
                    "errors": len(result.errors),
                },
            )
        )
        session.commit()
    errors = [{"line": e.line, "column": e.column, "reason": e.reason} for e in result.errors]
    if json_output:
        _print_json({"imported": result.imported, "changed": result.changed, "errors": errors})
    else:
        console.print(
            f"imported {result.imported} rows ({result.changed} changed), "
            f"skipped {result.skipped_lines} bad rows"
        )
        if errors:
            table = Table("line", "column", "reason", title="rows skipped")
            for e in errors:
                table.add_row(str(e["line"]), str(e["column"]), str(e["reason"]))
            console.print(table)
    raise typer.Exit(1 if errors else 0)


def register(app: typer.Typer) -> None:
    """Add the ``roster`` commands to the ``dispatcher`` command line."""
    app.add_typer(roster_app, name="roster")
