"""``dispatcher announce``: preview an announcement (``--dry-run``) or send it."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from dispatcher.cli.common import (
    JsonFlag,
    console,
    err_console,
)
from dispatcher.cli.common import fail as _fail
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json
from dispatcher.cli.plan_view import print_plan

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
    from dispatcher.planning.preview import preview_plan
    from dispatcher.triggers.announcements import (
        AnnouncementRequest,
        RequestError,
        validate_request,
    )

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
            print_plan(summary.as_json())
            _print_routes(runtime, school_cfg)
        return
    if not yes:
        # --yes sends at once: in an emergency nobody waits for a preview nobody reads.
        summary = preview()
        print_plan(summary.as_json())
        _print_routes(runtime, school_cfg)
        if not typer.confirm(
            f"Send {category} to {summary.recipients} contacts "
            f"({sum(summary.deliveries.values())} messages)?"
        ):
            raise typer.Exit(1)
    from dispatcher.triggers.announcements import submit
    from dispatcher.worker.actors import broker

    announcement_id, created = submit(runtime, broker, request, now)
    if json_output:
        _print_json({"announcement_id": announcement_id, "created": created})
    else:
        verb = "queued" if created else "already queued (same idempotency key)"
        console.print(
            f"announcement {announcement_id} {verb}; `dispatcher report {announcement_id}`"
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
