"""``dispatcher demo``, ``demo-data`` and ``emulate``: the demo school through the whole
pipeline, synthetic rosters, and the local provider emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from dispatcher.cli.common import (
    JsonFlag,
    console,
    progress_bar,
    settings_or_fail,
)
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json
from dispatcher.cli.report import print_report

# Commands owned by other modules (web service, clock and calendar, API tokens, channels).

#: The demo's console logins (decision 0096): known passwords, so they exist only in the
#: demo school of a demo run on the embedded defaults (no DATABASE_URL), never elsewhere.
DEMO_LOGINS: tuple[tuple[str, str, str], ...] = (
    ("office@demo-primary.example", "office", "demo-only office password"),
    ("head@demo-primary.example", "senior", "demo-only senior password"),
)
#: Where ``dispatcher web`` listens by default (cli/web.py, web/server.py).
CONSOLE_ADDRESS = "http://127.0.0.1:8000/"


def ensure_demo_logins(runtime: Any, now: datetime) -> list[tuple[str, str, str]]:
    """Make the demo's console accounts sign in with their demo passwords: create each one
    that is missing (school ``demo``), and give an existing one its demo password back,
    enabled and unlocked (its authenticator app, once set up, is kept). Returns the logins
    as ``(email, role, password)``. Idempotent."""
    from dispatcher.access.staff import StaffError, create_staff
    from dispatcher.access.staff_admin import Change, Manager, change_staff, staff_id_by_email

    demo = Manager(actor="demo")
    with runtime.sessions() as session:
        for email, role, password in DEMO_LOGINS:
            try:
                account_id = staff_id_by_email(session, email)
            except StaffError:
                create_staff(session, runtime.configuration, email, role, password, now,
                             school="demo", actor="demo")  # fmt: skip
                continue
            for change in (Change.ENABLE, Change.RESET_PASSWORD):
                change_staff(session, demo, account_id, change, now, password=password)
    return list(DEMO_LOGINS)


def _print_logins(logins: list[tuple[str, str, str]] | None) -> None:
    if logins is None:
        console.print(
            "Console: run `.venv/bin/dispatcher web` and open "
            f"{CONSOLE_ADDRESS}; this database is not the demo's own (DATABASE_URL is set), "
            "so create a login first: `.venv/bin/dispatcher staff create --email E "
            "--role office --school demo`",
            highlight=False,
        )
        return
    (office, _, office_password), (senior, _, senior_password) = logins
    console.print(
        f"Console: run `.venv/bin/dispatcher web` and open {CONSOLE_ADDRESS} — sign in as "
        f"{office} / {office_password} (office), or as {senior} / {senior_password} "
        "(senior: at the first sign-in the console shows a QR code to scan with an "
        "authenticator app, then asks for its code). Demo-only logins of the demo school.",
        highlight=False,
    )


def demo_data(
    school: Annotated[str, typer.Option(help="School slug the ids are derived from.")],
    students: Annotated[int, typer.Option(min=1, help="How many students.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same file.")] = 1,
    out: Annotated[Path | None, typer.Option(help="Output file (default: stdout).")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Write a realistic synthetic roster CSV (with a few deliberately invalid rows)."""
    from demo_data.rosters import generate_roster_rows, write_roster_csv
    from dispatcher.reporting.csv_safe import SafeDictWriter
    from dispatcher.triggers.roster.parse import ROSTER_COLUMNS

    if out is None:
        writer = SafeDictWriter(sys.stdout, fieldnames=list(ROSTER_COLUMNS))
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
    from demo_data.rosters import write_roster_csv
    from dispatcher.channels.selection import OUTBOX_NOTE
    from dispatcher.reporting.reports import announcement_report
    from dispatcher.store.engine import upgrade_database
    from dispatcher.store.schools import ensure_school
    from dispatcher.triggers.announcements import AnnouncementRequest
    from dispatcher.triggers.roster.load import import_rows
    from dispatcher.triggers.roster.parse import parse_roster

    if providers not in ("outbox", "emulator"):
        _fail("--providers: expected outbox or emulator")
    settings = settings_or_fail()
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
    from dispatcher.triggers.announcements import submit
    from dispatcher.worker.actors import broker

    announcement_id, _ = submit(runtime, broker, request, datetime.now(UTC))
    say(f"announcement {announcement_id} queued; running a worker until every message is out")
    worker_process = subprocess.Popen(
        [sys.executable, "-m", "dispatcher", "worker", "--until-idle", "--threads", "8"]
    )
    code = _watch_announcement(runtime, announcement_id, worker_process, quiet=json_output)
    if code != 0:
        _fail(f"worker exited with {code}")
    with runtime.sessions() as session:
        data = announcement_report(session, announcement_id, runtime.configuration)
    if emulator is not None:
        data["emulator"] = {
            provider: len(emulator.accepted_delivery_ids(provider))
            for provider in ("twilio", "sendgrid", "fcm")
        }
        emulator.stop()
    logins = None if settings.database_url else ensure_demo_logins(runtime, datetime.now(UTC))
    if json_output:
        data["console"] = {
            "address": CONSOLE_ADDRESS,
            "logins": [
                {"email": email, "role": role, "password": password}
                for email, role, password in logins or []
            ],
        }
        _print_json(data)
        return
    print_report(data)
    if emulator is not None:
        console.print(f"requests the provider emulator accepted: {data['emulator']}")
    else:
        console.print(
            f"messages {OUTBOX_NOTE}: {settings.outbox_dir}/announcement-{announcement_id}.jsonl",
            highlight=False,
        )
    _print_logins(logins)


def _start_emulator(data_dir: Path) -> Any:
    """Start the provider emulator and point this process and its children at it."""
    from emulator import ProviderEmulator
    from emulator.cli import provider_environment

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

    with progress_bar(quiet) as progress:
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


def emulate(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8025,
    latency: Annotated[float, typer.Option(help="Seconds added to every answer.")] = 0.0,
    service_account_file: Annotated[
        Path | None, typer.Option(help="Also write the FCM service-account JSON here.")
    ] = None,
) -> None:
    """Run the local emulator of Twilio, SendGrid and FCM (for demos and benchmarks)."""
    from emulator import run_forever

    run_forever(
        host,
        port,
        latency,
        service_account_file=str(service_account_file) if service_account_file else None,
    )


def register(app: typer.Typer) -> None:
    """Add ``demo-data``, ``demo``, ``emulate`` to the ``dispatcher`` command line."""
    app.command("demo-data")(demo_data)
    app.command("demo")(demo)
    app.command("emulate")(emulate)
