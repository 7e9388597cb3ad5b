"""The ``dispatcher`` command line (typer). Every command that reports takes ``--json``."""

from __future__ import annotations

import csv
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dispatcher.cli_common import JsonFlag
from dispatcher.cli_common import fail as _fail
from dispatcher.cli_common import load_runtime as _runtime
from dispatcher.cli_common import print_json as _print_json
from dispatcher.config import ConfigError
from dispatcher.settings import SettingsError

app = typer.Typer(
    help="School notification dispatcher: announcements to families by SMS, email and app.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
roster_app = typer.Typer(help="Students, contacts and groups.", no_args_is_help=True)
redis_app = typer.Typer(help="The embedded Redis server.", no_args_is_help=True)
config_app = typer.Typer(help="Policy and school configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(roster_app, name="roster")
app.add_typer(redis_app, name="redis")
app.add_typer(config_app, name="config")

console = Console()
err_console = Console(stderr=True)


def _settings() -> Any:
    from dispatcher.settings import load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc))


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx (the FCM adapter's client) logs every request at INFO: the dispatcher's own
    # lines already say what was sent.
    logging.getLogger("httpx").setLevel(logging.WARNING)


# --- db -------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (Alembic) up to the newest schema."""
    from dispatcher.store.engine import upgrade_database

    settings = _settings()
    upgrade_database(settings.effective_database_url)
    console.print("database is up to date")


# --- config ---------------------------------------------------------------------------------


@config_app.command("check")
def config_check(json_output: JsonFlag = False) -> None:
    """Validate policy.toml, every school file, the calendars and reminders.toml."""
    from dispatcher.calendar_config import load_calendars, load_reminder_settings
    from dispatcher.config import load_configuration

    settings = _settings()
    try:
        configuration = load_configuration(settings.config_dir)
        calendars = load_calendars(settings.config_dir, configuration)
        load_reminder_settings(settings.config_dir)
    except ConfigError as exc:
        _fail(str(exc))
    if json_output:
        _print_json(
            {
                "categories": sorted(configuration.policy.categories),
                "schools": sorted(configuration.schools),
                "calendars": sorted(calendars),
            }
        )
        return
    console.print(
        f"{len(configuration.policy.categories)} categories, "
        f"{len(configuration.schools)} schools: {', '.join(sorted(configuration.schools))}; "
        f"calendars: {', '.join(sorted(calendars)) or 'none'}"
    )


# --- roster ---------------------------------------------------------------------------------


@roster_app.command("import")
def roster_import(
    file: Annotated[Path, typer.Argument(help="Roster CSV (see README for the columns).")],
    school: Annotated[str, typer.Option(help="School slug.")],
    json_output: JsonFlag = False,
) -> None:
    """Import students, contacts and groups; report bad rows by line and column.

    Exit code 0 when every row was good, 1 when some were skipped.
    """
    from dispatcher.roster import RosterHeaderError, parse_roster
    from dispatcher.store.roster import import_rows
    from dispatcher.store.schools import ensure_school

    runtime = _runtime()
    try:
        school_cfg = runtime.configuration.school(school)
    except KeyError as exc:
        _fail(f"--school: {exc.args[0]}")
    if not file.is_file():
        _fail(f"FILE: {file} does not exist")
    total_lines = sum(1 for _ in file.open(encoding="utf-8-sig")) - 1
    categories = runtime.configuration.policy.categories
    with file.open(encoding="utf-8-sig", newline="") as stream, runtime.sessions() as session:
        school_row = ensure_school(session, school_cfg)
        session.commit()
        try:
            with _progress(json_output) as progress:
                task = progress.add_task("importing", total=max(total_lines, 1))
                result = import_rows(
                    session,
                    school_row.id,
                    parse_roster(stream, categories),
                    progress=lambda n: progress.update(task, completed=n),
                )
        except RosterHeaderError as exc:
            _fail(f"{file}: {exc}")
        from dispatcher.store.models import AuditEntry

        session.add(
            AuditEntry(
                at=datetime.now(UTC),
                actor=os.environ.get("USER", "cli"),
                action="roster.imported",
                school_id=school_row.id,
                detail={
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


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet or not err_console.is_terminal,
        transient=True,
    )


@app.command("demo-data")
def demo_data(
    school: Annotated[str, typer.Option(help="School slug the ids are derived from.")],
    students: Annotated[int, typer.Option(min=1, help="How many students.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same file.")] = 1,
    out: Annotated[Path | None, typer.Option(help="Output file (default: stdout).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Write a realistic synthetic roster CSV (with a few deliberately invalid rows)."""
    from dispatcher.demo_data import generate_roster_rows, write_roster_csv
    from dispatcher.roster import ROSTER_COLUMNS

    if out is None:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(ROSTER_COLUMNS))
        writer.writeheader()
        for row in generate_roster_rows(school, students, seed):
            writer.writerow(row)
        return
    summary = write_roster_csv(out, school, students, seed)
    data = {
        "file": str(out),
        "rows": summary.rows,
        "students": summary.students,
        "contacts": summary.contacts,
        "invalid_rows": summary.invalid_rows,
    }
    if json_output:
        _print_json(data)
    else:
        console.print(
            f"wrote {out}: {summary.rows} rows, {summary.students} students, "
            f"{summary.contacts} contacts, {summary.invalid_rows} deliberately invalid rows"
        )


# --- announce -------------------------------------------------------------------------------


def _parse_vars(pairs: list[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            _fail(f"--var {pair!r}: expected NAME=VALUE")
        variables[key.strip()] = value
    return variables


@app.command()
def announce(
    school: Annotated[str, typer.Option(help="School slug.")],
    category: Annotated[str, typer.Option(help="Category from policy.toml.")],
    audience: Annotated[
        list[str],
        typer.Option(help="school, year:N, class:NAME, group:NAME or student:ID (repeatable)."),
    ],
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Template variable NAME=VALUE (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; send nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking.")] = False,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Sending twice with the same key sends once.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Plan an announcement (--dry-run) or send it."""
    from dispatcher.announcements import AnnouncementRequest, RequestError, validate_request
    from dispatcher.planning import preview_plan

    runtime = _runtime()
    request = AnnouncementRequest(
        school=school,
        category=category,
        audience=audience,
        variables=_parse_vars(var or []),
        requested_by=os.environ.get("USER", "cli"),
        trigger="cli",
        idempotency_key=idempotency_key,
    )
    try:
        school_cfg, category_policy, _ = validate_request(runtime, request)
    except RequestError as exc:
        _fail(str(exc))
    now = datetime.now(UTC)
    if not (dry_run or yes) and (json_output or not sys.stdin.isatty()):
        _fail("refusing to send without confirmation: add --yes")

    def preview() -> Any:
        with runtime.sessions() as session, err_console.status("routing the audience"):
            summary = preview_plan(
                runtime,
                session,
                school_cfg,
                category_policy,
                request.audience,
                request.variables,
                now,
            )
            session.commit()
        return summary

    if dry_run:
        summary = preview()
        if json_output:
            _print_json(summary.as_json())
        else:
            _print_plan(summary.as_json())
        return
    if not yes:
        # --yes sends at once: in an emergency nobody waits for a preview nobody reads.
        summary = preview()
        _print_plan(summary.as_json())
        if not typer.confirm(
            f"Send {category} to {summary.recipients} contacts "
            f"({sum(summary.deliveries.values())} messages)?"
        ):
            raise typer.Exit(1)
    announcement_id, created = submit(runtime, request, now)
    if json_output:
        _print_json({"announcement_id": announcement_id, "created": created})
    else:
        verb = "queued" if created else "already queued (same idempotency key)"
        console.print(
            f"announcement {announcement_id} {verb}; `dispatcher report {announcement_id}`"
        )


def submit(runtime: Any, request: Any, now: datetime) -> tuple[int, bool]:
    """Store the announcement, then queue its plan; return (id, created)."""
    from dispatcher.actors import broker
    from dispatcher.announcements import create_announcement
    from dispatcher.queueing import enqueue, plan_work

    with runtime.sessions() as session:
        announcement, created = create_announcement(session, runtime, request, now)
        session.commit()
        announcement_id = announcement.id
        send_at = announcement.send_at
    if created:
        enqueue(broker, [plan_work(announcement_id, send_at, now)])
    return announcement_id, created


def _print_plan(plan: dict[str, Any]) -> None:
    console.rule(f"plan: {plan['category']} ({plan['urgency']}) to {', '.join(plan['audience'])}")
    table = Table("", "count")
    table.add_row("contacts receiving it", str(plan["recipients"]))
    for channel, n in sorted(plan["deliveries"].items()):
        table.add_row(f"  {channel} messages", str(n))
    table.add_row("  of which email back-ups", str(plan["email_backups"]))
    for language, n in sorted(plan["languages"].items()):
        table.add_row(f"  in language {language}", str(n))
    table.add_row("  language fell back to school default", str(plan["language_fallbacks"]))
    table.add_row("SMS segments", str(plan["sms_segments"]))
    for language, encoding in sorted(plan["sms_encodings"].items()):
        table.add_row(f"  SMS encoding ({language})", encoding)
    table.add_row("estimated cost", f"£{plan['estimated_cost_gbp']}")
    for reason, n in sorted(plan["excluded"].items()):
        table.add_row(f"excluded: {reason}", str(n))
    table.add_row("no channel can reach", str(len(plan["unreachable"])))
    if plan["hold_until"]:
        table.add_row("held until send window opens", plan["hold_until"])
    console.print(table)
    _print_people(plan["unreachable"], "contacts no channel can reach (phone them)")


def _print_people(people: list[dict[str, str]], title: str) -> None:
    if not people:
        return
    table = Table("student", "contact", "phone", "reason", title=title)
    for p in people:
        table.add_row(
            f"{p['student_id']} {p['student_name']}",
            f"{p['contact_id']} {p['contact_name']}",
            p["phone"] or "-",
            p["reason"],
        )
    console.print(table)


# --- worker, sweep, report ------------------------------------------------------------------


@app.command()
def worker(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once nothing is pending or sending.")
    ] = False,
    processes: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(min=1, help="Threads per process.")] = 8,
) -> None:
    """Run Dramatiq workers over the configured broker (the Procfile's worker line)."""
    _runtime()
    if processes == 1:
        from dispatcher.worker import run_worker

        run_worker(threads=threads, until_idle=until_idle)
        return
    verbose = ["--verbose"] if logging.getLogger().isEnabledFor(logging.INFO) else []
    args = [
        sys.executable,
        "-m",
        "dispatcher",
        *verbose,
        "worker",
        "--processes",
        "1",
        "--threads",
        str(threads),
    ]
    if until_idle:
        args.append("--until-idle")
    children = [subprocess.Popen(args) for _ in range(processes)]

    def _stop_children(_signum: int, _frame: Any) -> None:
        # Stopping the parent (SIGTERM from a process manager) stops every child cleanly.
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, _stop_children)
    try:
        codes = [child.wait() for child in children]
    except KeyboardInterrupt:
        _stop_children(signal.SIGINT, None)
        codes = [child.wait() for child in children]
    raise typer.Exit(max(codes))


@app.command()
def sweep(json_output: JsonFlag = False) -> None:
    """Run the recovery sweep once: re-queue lost work, settle stale sends."""
    from dispatcher.actors import broker
    from dispatcher.sweep import sweep as run_sweep

    report = run_sweep(_runtime(), broker, datetime.now(UTC))
    data = report.__dict__
    if json_output:
        _print_json(data)
    else:
        console.print(", ".join(f"{k}: {v}" for k, v in data.items()))


@app.command()
def report(
    announcement_id: Annotated[int, typer.Argument(help="Announcement id.")],
    json_output: JsonFlag = False,
    csv_output: Annotated[
        bool, typer.Option("--csv", help="The not-reached list as CSV, for the office.")
    ] = False,
) -> None:
    """Per channel: pending, sent, delivered and failed; fallbacks, escalations, timings,
    replies, and the families not reached with the numbers to phone."""
    from dispatcher.store.reports import NOT_REACHED_COLUMNS, NotFound, announcement_report

    runtime = _runtime()
    with runtime.sessions() as session:
        try:
            data = announcement_report(session, announcement_id)
        except NotFound as exc:
            _fail(str(exc))
    if json_output:
        _print_json(data)
    elif csv_output:
        writer = csv.DictWriter(
            sys.stdout, fieldnames=list(NOT_REACHED_COLUMNS), extrasaction="ignore"
        )
        writer.writeheader()
        for person in data["not_reached"]:
            writer.writerow(
                {**person, "family_reached": "yes" if person.get("family_reached") else "no"}
            )
    else:
        print_report(data)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def print_report(data: dict[str, Any]) -> None:
    """Show a report as tables: counts per channel, fallbacks and escalations, timings,
    replies, and the families not reached (for the office to phone)."""
    console.rule(
        f"announcement {data['announcement_id']}: {data['category']} at {data['school']} "
        f"({data['state']})"
    )
    summary = data.get("summary") or {}
    columns = ("pending", "sent", "delivered", "failed")
    table = Table("channel", *columns, "fallbacks", "escalations", "total")
    fallbacks = (data.get("fallbacks") or {}).get("by_channel", {})
    escalations = (data.get("escalations") or {}).get("by_channel", {})
    for channel, per in summary.items():
        table.add_row(
            channel,
            *(str(per.get(c, 0)) for c in columns),
            str(fallbacks.get(channel, 0)),
            str(escalations.get(channel, 0)),
            str(sum(per.values())),
        )
    console.print(table)
    console.print(
        f"recipients: {data['recipients']}; email back-ups: "
        f"{data['deliveries_by_kind'].get('backup', 0)}; fallbacks taken: "
        f"{(data.get('fallbacks') or {}).get('total', 0)}; escalations to another contact: "
        f"{(data.get('escalations') or {}).get('total', 0)}"
    )
    console.print(
        f"language fell back to school default: {data['language_fallbacks']}; excluded "
        f"(not messaged, by policy): {sum(data['excluded'].values())}; not reached: "
        f"{len(data['not_reached'])}"
    )
    if data["first_sent_at"]:
        console.print(
            f"first sent {_duration(data.get('seconds_to_first_sent'))} after the trigger, "
            f"last sent after {_duration(data.get('seconds_to_last_sent'))}"
        )
    if data.get("first_delivered_at"):
        console.print(
            f"first delivery confirmed {_duration(data.get('seconds_to_first_delivered'))} "
            f"after the trigger, last after {_duration(data.get('seconds_to_last_delivered'))}"
        )
    for channel, waiting in (data.get("waiting_for_provider") or {}).items():
        console.print(
            f"[bold red]{channel}: {waiting['count']} waiting[/] because the provider refused "
            f"the school's account ({waiting['reason']}); they go once it is fixed "
            "(the IT lead was alerted; `dispatcher channels status`)",
            highlight=False,
        )
    replies = data.get("replies") or []
    if replies:
        replies_table = Table("received", "contact", "phone", "reply", title="replies")
        for reply in replies:
            replies_table.add_row(
                reply["received_at"],
                f"{reply['contact_id']} {reply['contact_name']}".strip() or "-",
                reply["phone"],
                reply["body"],
            )
        console.print(replies_table)
    people = data["not_reached"]
    if people:
        people_table = Table(
            "student",
            "contact",
            "phone",
            "other numbers",
            "reason",
            title="not reached: please phone",
        )
        for p in people:
            reached = " (family reached)" if p.get("family_reached") else ""
            people_table.add_row(
                f"{p['student_id']} {p['student_name']}",
                f"{p['contact_id']} {p['contact_name']}",
                p["phone"] or "-",
                (p.get("other_phones") or "-").replace(";", ", "),
                p["reason"] + reached,
            )
        console.print(people_table)


# --- demo -----------------------------------------------------------------------------------


@app.command()
def demo(
    students: Annotated[int, typer.Option(min=10, help="Students in the demo school.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed for the demo roster.")] = 7,
    providers: Annotated[
        str,
        typer.Option(
            help="outbox (record messages, no credentials) or emulator (the real Twilio, "
            "SendGrid and FCM SDKs against a local emulator of their APIs)."
        ),
    ] = "outbox",
    json_output: JsonFlag = False,
) -> None:
    """Build the demo school, send an emergency closure through the whole pipeline, report."""
    from dispatcher.announcements import AnnouncementRequest
    from dispatcher.demo_data import write_roster_csv
    from dispatcher.roster import parse_roster
    from dispatcher.store.engine import upgrade_database
    from dispatcher.store.reports import announcement_report
    from dispatcher.store.roster import import_rows
    from dispatcher.store.schools import ensure_school

    if providers not in ("outbox", "emulator"):
        _fail("--providers: expected outbox or emulator")
    settings = _settings()
    emulator = _start_emulator(settings.data_dir) if providers == "emulator" else None
    upgrade_database(settings.effective_database_url)
    runtime = _runtime()
    school_cfg = runtime.configuration.school("demo")
    roster = settings.data_dir / "demo-roster.csv"
    summary = write_roster_csv(roster, "demo", students, seed)
    with roster.open(encoding="utf-8-sig", newline="") as stream, runtime.sessions() as session:
        school_row = ensure_school(session, school_cfg)
        session.commit()
        imported = import_rows(
            session, school_row.id, parse_roster(stream, runtime.configuration.policy.categories)
        )

    def say(text: str) -> None:
        if not json_output:
            console.print(text)

    say(
        f"demo roster: {summary.students} students, {summary.contacts} contacts; imported "
        f"{imported.imported} rows, skipped {imported.skipped_lines} deliberately bad rows"
    )
    request = AnnouncementRequest(
        school="demo",
        category="emergency_closure",
        audience=["school"],
        variables={
            "date": datetime.now(UTC).strftime("%A %-d %B"),
            "reason": "heavy snow",
            "reopening": (datetime.now(UTC) + timedelta(days=1)).strftime("%A %-d %B"),
        },
        requested_by="demo",
        trigger="cli",
    )
    announcement_id, _ = submit(runtime, request, datetime.now(UTC))
    say(f"announcement {announcement_id} queued; running a worker until every message is out")
    worker_process = subprocess.Popen(
        [sys.executable, "-m", "dispatcher", "worker", "--until-idle", "--threads", "8"]
    )
    code = _watch_announcement(runtime, announcement_id, worker_process, quiet=json_output)
    if code != 0:
        _fail(f"worker exited with {code}")
    with runtime.sessions() as session:
        data = announcement_report(session, announcement_id)
    if emulator is not None:
        data["emulator"] = {
            provider: len(emulator.accepted_delivery_ids(provider))
            for provider in ("twilio", "sendgrid", "fcm")
        }
        emulator.stop()
    if json_output:
        _print_json(data)
        return
    print_report(data)
    if emulator is not None:
        console.print(f"requests the provider emulator accepted: {data['emulator']}")
    else:
        console.print(
            f"messages written to {settings.outbox_dir}/announcement-{announcement_id}.jsonl"
        )


def _start_emulator(data_dir: Path) -> Any:
    """Start the provider emulator and point this process and its children at it."""
    from dispatcher.emulator import ProviderEmulator
    from dispatcher.emulator.cli import provider_environment

    emulator = ProviderEmulator().start()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(provider_environment(emulator, data_dir / "emulator-service-account.json"))
    for variable in ("TWILIO_EDGE", "TWILIO_REGION"):
        os.environ.pop(variable, None)
    return emulator


def _watch_announcement(
    runtime: Any, announcement_id: int, process: subprocess.Popen[bytes], quiet: bool
) -> int:
    """Show deliveries finishing while ``process`` works; return its exit code."""
    from sqlalchemy import func, select

    from dispatcher.domain import ACTIVE_STATES
    from dispatcher.store.models import Announcement, Delivery

    with _progress(quiet) as progress:
        task = progress.add_task("sending", total=None)
        while process.poll() is None:
            with runtime.sessions() as session:
                planned = session.scalar(
                    select(Announcement.planned_deliveries).where(
                        Announcement.id == announcement_id
                    )
                )
                open_count = session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(
                        Delivery.announcement_id == announcement_id,
                        Delivery.state.in_([s.value for s in ACTIVE_STATES]),
                    )
                )
            total = int(planned or 0)
            progress.update(task, total=total or None, completed=total - int(open_count or 0))
            time.sleep(0.3)
    return int(process.returncode)


@app.command()
def emulate(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8025,
    latency: Annotated[float, typer.Option(help="Seconds added to every answer.")] = 0.0,
    service_account_file: Annotated[
        Path | None, typer.Option(help="Also write the FCM service-account JSON here.")
    ] = None,
) -> None:
    """Run the local emulator of Twilio, SendGrid and FCM (for demos and benchmarks)."""
    from dispatcher.emulator import run_forever

    run_forever(
        host,
        port,
        latency,
        service_account_file=str(service_account_file) if service_account_file else None,
    )


@redis_app.command("stop")
def redis_stop() -> None:
    """Stop the embedded Redis of this data directory."""
    from dispatcher.embedded_redis import stop_embedded_redis

    stopped = stop_embedded_redis(_settings().data_dir)
    console.print("stopped" if stopped else "no embedded Redis was running")


# Commands owned by other modules (web service, clock and calendar, API tokens, channels).
from dispatcher import cli_access, cli_channels, cli_schedule, cli_tracking  # noqa: E402

cli_tracking.register(app)
cli_schedule.register(app)
cli_access.register(app)
cli_channels.register(app)


def main() -> None:
    """Entry point of the ``dispatcher`` command."""
    try:
        app()
    except (SettingsError, ConfigError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
