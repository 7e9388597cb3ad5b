"""``dispatcher announce``: preview an announcement (``--dry-run``) or send it."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from dispatcher.cli.common import (
    JsonFlag,
    console,
    err_console,
)
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json

# Commands owned by other modules (web service, clock and calendar, API tokens, channels).


def _parse_vars(pairs: list[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            _fail(f"--var {pair!r}: expected NAME=VALUE")
        variables[key.strip()] = value
    return variables


def announce(
    category: Annotated[str, typer.Option(help="Category from policy.toml.")],
    audience: Annotated[
        list[str],
        typer.Option(help="school, year:N, class:NAME, group:NAME or student:ID (repeatable)."),
    ],
    school: Annotated[str | None, typer.Option(help="School slug.")] = None,
    trust: Annotated[
        str | None,
        typer.Option(
            help="Trust slug instead of --school: one announcement per member school, each "
            "with that school's name, phone and sender."
        ),
    ] = None,
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
    """Plan an announcement (--dry-run) or send it, to one school or to every school of a
    trust."""
    from dispatcher.planning.preview import preview_plan
    from dispatcher.triggers.announcements import (
        AnnouncementRequest,
        RequestError,
        trust_requests,
        validate_request,
    )

    if (school is None) == (trust is None):
        _fail("--school or --trust: give exactly one")
    runtime = _runtime()
    request = AnnouncementRequest(
        school=school or "",
        category=category,
        audience=audience,
        variables=_parse_vars(var or []),
        requested_by=os.environ.get("USER", "cli"),
        trigger="cli",
        idempotency_key=idempotency_key,
    )
    try:
        requests = trust_requests(runtime, trust, request) if trust else [request]
        validated = [(r, *validate_request(runtime, r)[:2]) for r in requests]
    except RequestError as exc:
        _fail(f"--{exc}" if exc.field == "trust" else str(exc))
    now = datetime.now(UTC)
    if not (dry_run or yes) and (json_output or not sys.stdin.isatty()):
        _fail("refusing to send without confirmation: add --yes")

    def preview() -> list[Any]:
        summaries = []
        with runtime.sessions() as session, err_console.status("routing the audience"):
            for member, school_cfg, category_policy in validated:
                summaries.append(
                    preview_plan(
                        runtime,
                        session,
                        school_cfg,
                        category_policy,
                        member.audience,
                        member.variables,
                        now,
                    )
                )
            session.commit()
        return summaries

    def show(summaries: list[Any]) -> None:
        for (_, school_cfg, _), summary in zip(validated, summaries, strict=True):
            if trust:
                console.rule(f"{school_cfg.name} ({school_cfg.slug})", style="bold")
            _print_plan(summary.as_json())

    if dry_run:
        summaries = preview()
        if json_output:
            plans = [s.as_json() for s in summaries]
            _print_json({"trust": trust, "schools": plans} if trust else plans[0])
        else:
            show(summaries)
        return
    if not yes:
        # --yes sends at once: in an emergency nobody waits for a preview nobody reads.
        summaries = preview()
        show(summaries)
        to = f"{len(validated)} schools of {trust}: " if trust else ""
        contacts = sum(s.recipients for s in summaries)
        messages = sum(sum(s.deliveries.values()) for s in summaries)
        if not typer.confirm(f"Send {category} to {to}{contacts} contacts ({messages} messages)?"):
            raise typer.Exit(1)
    from dispatcher.triggers.announcements import submit
    from dispatcher.worker.actors import broker

    sent = [(member.school, *submit(runtime, broker, member, now)) for member, _, _ in validated]
    if json_output:
        if trust:
            _print_json(
                {
                    "trust": trust,
                    "announcements": [
                        {"school": slug, "announcement_id": i, "created": created}
                        for slug, i, created in sent
                    ],
                }
            )
        else:
            _print_json({"announcement_id": sent[0][1], "created": sent[0][2]})
        return
    for slug, announcement_id, created in sent:
        verb = "queued" if created else "already queued (same idempotency key)"
        where = f"{slug}: " if trust else ""
        console.print(
            f"{where}announcement {announcement_id} {verb}; `dispatcher report {announcement_id}`",
            highlight=False,
        )


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
        table.add_row("goes out (school time)", plan["hold_until_local"] or plan["hold_until"])
        table.add_row("  waits because", plan["hold_reason"] or "outside the send window")
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


def register(app: typer.Typer) -> None:
    """Add ``announce`` to the ``dispatcher`` command line."""
    app.command("announce")(announce)
