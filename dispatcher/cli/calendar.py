"""Commands of the reminder clock: ``dispatcher clock`` and ``dispatcher calendar``."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from dispatcher.cli.common import JsonFlag, console
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json
from dispatcher.stopping import SignalStop

calendar_app = typer.Typer(help="School calendars and their reminders.", no_args_is_help=True)


NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Act as if it were this instant (ISO 8601, e.g. 2026-12-01T09:00:00+00:00; "
        "no zone means UTC).",
    ),
]


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _fail("--now: expected an ISO 8601 date and time, e.g. 2026-12-01T09:00:00+00:00")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _loader(runtime: Any) -> Any:
    from dispatcher.config.calendars import load_calendars
    from dispatcher.config.reminders import load_reminder_settings

    config_dir = runtime.settings.config_dir

    def load() -> Any:
        return (
            load_calendars(config_dir, runtime.configuration),
            load_reminder_settings(config_dir),
        )

    return load


def _load_or_fail(runtime: Any) -> Any:
    from dispatcher.config.files import ConfigError

    try:
        return _loader(runtime)()
    except ConfigError as exc:
        _fail(str(exc))


def clock(
    tick_seconds: Annotated[
        float | None,
        typer.Option(min=0.05, help="Seconds between ticks (default: reminders.toml's)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Run one tick and exit.")] = False,
    max_ticks: Annotated[
        int | None, typer.Option(min=1, help="Exit after this many ticks.")
    ] = None,
    now: NowOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Run the reminder clock (the Procfile's clock line): send due calendar reminders once.

    Each tick sends the reminders that are due, catches up those missed in the last 24 hours
    and records older ones as missed without sending them. Stops after the current tick on
    SIGTERM or Ctrl-C.
    """
    from dispatcher.triggers.reminders.clock import TickReport, run_clock, shifted_clock
    from dispatcher.worker.actors import broker

    start = _parse_now(now)
    runtime = _runtime()
    calendars, settings = _load_or_fail(runtime)
    stop = SignalStop()
    stop.install()
    interval = tick_seconds if tick_seconds is not None else settings.tick_seconds
    if not json_output:
        unchecked = sorted(slug for slug, c in calendars.items() if not c.dates_checked)
        typer.echo(
            f"clock: {len(calendars)} school calendars ({', '.join(sorted(calendars)) or 'none'}),"
            f" a tick every {interval:g} s"
        )
        if unchecked:
            typer.echo(
                f"clock: term dates are a pattern, not checked against the published dates, "
                f"for: {', '.join(unchecked)}"
            )

    def on_tick(report: TickReport) -> None:
        if json_output:
            sys.stdout.write(json.dumps(report.as_json(), default=str) + "\n")
            sys.stdout.flush()
            return
        stamp = report.at.strftime("%Y-%m-%d %H:%M:%S UTC")
        lines: list[str] = []
        if not report.locked:
            lines.append(f"{stamp} another clock holds the lock: its turn")
        lines += [
            f"{stamp} sent    {item['school']} {item['key']} "
            f"(announcement {item['announcement_id']})"
            for item in report.sent
        ]
        lines += [
            f"{stamp} missed  {item['school']} {item['key']}: {item['reason']}"
            for item in report.missed
        ]
        lines += [
            f"{stamp} failed  {item['school']} {item['key']}: {item['reason']}"
            for item in report.failed
        ]
        lines += [f"{stamp} error   {error} (retried next tick)" for error in report.errors]
        for line in lines:
            typer.echo(line)
        sys.stdout.flush()

    run_clock(
        runtime,
        broker,
        _loader(runtime),
        clock=shifted_clock(start),
        stop=stop,
        on_tick=on_tick,
        tick_seconds=interval,
        max_ticks=1 if once else max_ticks,
    )


def calendar_list(
    school: Annotated[str, typer.Option(help="School slug.")],
    days: Annotated[int, typer.Option(min=0, max=400, help="Show reminders this far ahead.")] = 30,
    now: NowOption = None,
    json_output: JsonFlag = False,
) -> None:
    """The school's next reminders and when they fire, and those recently sent or missed."""
    from dispatcher.triggers.reminders.clock import calendar_listing

    moment = _parse_now(now) or datetime.now(UTC)
    runtime = _runtime()
    try:
        runtime.configuration.school(school)
    except KeyError as exc:
        _fail(f"--school: {exc.args[0]}")
    calendars, settings = _load_or_fail(runtime)
    if school not in calendars:
        _fail(
            f"--school: {school!r} has no calendar "
            f"({runtime.settings.config_dir}/calendars/{school}.toml)"
        )
    data = calendar_listing(runtime, calendars[school], settings, moment, days)
    if json_output:
        _print_json(data)
        return
    _print_listing(data)


def _print_listing(data: dict[str, Any]) -> None:
    console.rule(
        f"reminders for {data['school']} ({data['timezone']}): recent, and the next "
        f"{data['days']} days"
    )
    table = Table()
    table.add_column("due (school time)", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("audience")
    table.add_column("reminder")
    for item in data["reminders"]:
        due = datetime.fromisoformat(item["due_local"])
        what = item["title"]
        if item["variables"].get("date"):
            what = f"{item['variables'].get('event', what)}: {item['variables']['date']}"
        status = item["status_text"]
        if item["announcement_id"]:
            status += f" #{item['announcement_id']}"
        table.add_row(due.strftime("%a %d %b %H:%M"), status, ", ".join(item["audience"]), what)
    console.print(table)
    console.print(f"term dates: {data['dates_note']}", highlight=False)
    if not data["reminders"]:
        console.print("no reminders in this period")
    for item in data["reminders"]:
        if item["status"] in ("missed", "failed") and item["detail"]:
            console.print(
                f"{item['status_text']}: {item['key']}: {item['detail']}", highlight=False
            )
    for skipped in data["skipped"]:
        console.print(f"not scheduled: {skipped['key']}: {skipped['reason']}", highlight=False)


def calendar_check(json_output: JsonFlag = False) -> None:
    """Validate reminders.toml and every calendars/<slug>.toml; count each school's reminders."""
    from dispatcher.triggers.reminders.clock import school_schedule

    runtime = _runtime()
    calendars, settings = _load_or_fail(runtime)
    counts = {
        slug: len(school_schedule(runtime, calendar, settings).reminders)
        for slug, calendar in sorted(calendars.items())
    }
    if json_output:
        _print_json(
            {
                "rules": [r.name for r in settings.rules],
                "reminders": counts,
                "dates": {slug: c.dates_source for slug, c in sorted(calendars.items())},
                "covers": {
                    slug: [c.first_day.isoformat(), c.last_day.isoformat()]
                    for slug, c in sorted(calendars.items())
                },
            }
        )
        return
    console.print(f"{len(settings.rules)} rules", highlight=False)
    if not calendars:
        console.print("no calendars", highlight=False)
    for slug, calendar in sorted(calendars.items()):
        console.print(
            f"{slug}: {counts[slug]} reminders, terms {calendar.first_day:%d %b %Y} to "
            f"{calendar.last_day:%d %b %Y}; dates: {calendar.dates_note}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``clock`` and the ``calendar`` commands to the ``dispatcher`` command line."""
    app.command(
        "clock",
        help="Run the reminder clock (the Procfile's clock line): each tick sends the calendar "
        "reminders that are due, once, catches up those missed in the last 24 hours and "
        "records older ones as missed without sending them. Stops after the current tick on "
        "SIGTERM or Ctrl-C.",
    )(clock)
    calendar_app.command("list")(calendar_list)
    calendar_app.command("check")(calendar_check)
    app.add_typer(calendar_app, name="calendar")
