"""Commands of the delivery-tracking service: ``dispatcher web`` and ``dispatcher audit``."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

audit_app = typer.Typer(
    help="Records of what was sent, for the school's files.", no_args_is_help=True
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``dispatcher`` command line."""

    @app.command("web")
    def _web(
        host: Annotated[
            str, typer.Option(help="Address to listen on (0.0.0.0 behind a platform router).")
        ] = "127.0.0.1",
        port: Annotated[
            int | None, typer.Option(help="Port (default: $PORT, else 8000).", min=1, max=65535)
        ] = None,
    ) -> None:
        """Run the HTTP service: provider webhooks, health, metrics and the API."""
        from dispatcher.runtime import current_runtime
        from dispatcher.settings import SettingsError
        from dispatcher.web.server import default_port, run

        try:
            current_runtime()  # a bad setting stops here, naming the variable
            chosen = default_port() if port is None else port
        except SettingsError as exc:
            _fail(str(exc))
            return
        run(host, chosen)

    app.add_typer(audit_app, name="audit")


@audit_app.command("export")
def audit_export(
    school: Annotated[str, typer.Option(help="School slug.")],
    since: Annotated[
        str | None, typer.Option(help="Only messages created on or after this date (YYYY-MM-DD).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="CSV file to write (default: standard output).")
    ] = None,
) -> None:
    """Every message sent to a family, as CSV: when, which announcement, to whom, how, and
    what became of it. Holds personal data: keep the file as the school keeps its records."""
    from dispatcher.runtime import current_runtime
    from dispatcher.store.audit_export import write_audit_csv

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
    with runtime.sessions() as session:
        if output is None:
            rows = write_audit_csv(session, school, start, sys.stdout)
        else:
            with output.open("w", encoding="utf-8", newline="") as stream:
                rows = write_audit_csv(session, school, start, stream)
            output.chmod(0o600)
    if output is not None:
        typer.echo(f"wrote {rows} messages to {output}", err=True)
