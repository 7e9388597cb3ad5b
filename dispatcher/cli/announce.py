"""``dispatcher announce``: preview an announcement (``--dry-run``) or send it."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from dispatcher.cli.acting import AsOption, actor, require_named_sender
from dispatcher.cli.common import (
    JsonFlag,
    console,
    err_console,
)
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json
from dispatcher.cli.plan_view import print_plan
from dispatcher.domain import Urgency

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
    as_name: AsOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Plan an announcement (--dry-run) or send it, to one school or to every school of a
    trust. Sending an urgent category needs --as NAME."""
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
        requested_by=actor(as_name),
        trigger="cli",
        idempotency_key=idempotency_key,
    )
    try:
        requests = trust_requests(runtime, trust, request) if trust else [request]
        validated = [(r, *validate_request(runtime, r)[:2]) for r in requests]
    except RequestError as exc:
        _fail(f"--{exc}" if exc.field == "trust" else str(exc))
    if not dry_run and any(c.urgency is Urgency.URGENT for _, _, c in validated):
        require_named_sender(as_name, category)
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
            print_plan(summary.as_json())
            _print_routes(runtime, school_cfg)

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
    for (slug, announcement_id, created), (_, school_cfg, _) in zip(sent, validated, strict=True):
        verb = "queued" if created else "already queued (same idempotency key)"
        where = f"{slug}: " if trust else ""
        console.print(
            f"{where}announcement {announcement_id} {verb}; `dispatcher report {announcement_id}`",
            highlight=False,
        )
        _print_routes(runtime, school_cfg)


def _print_routes(runtime: Any, school: Any) -> None:
    """Say, in plain words, which of the school's channels go to the outbox (not to any
    family) or are held for want of credentials; nothing when every channel sends."""
    from dispatcher.channels.selection import Route, school_choices

    for choice in school_choices(school, runtime.providers):
        if choice.route is Route.OUTBOX:
            console.print(f"[bold yellow]{choice.describe()}[/]", highlight=False)
        elif choice.route is Route.HELD:
            console.print(f"[bold red]{choice.describe()}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``announce`` to the ``dispatcher`` command line."""
    app.command("announce")(announce)
