"""Commands for providers that refused our account: ``dispatcher channels status|resume``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from dispatcher.cli.common import JsonFlag, console, fail, load_runtime, print_json

channels_app = typer.Typer(
    help="Channels stopped because their provider refused our account.", no_args_is_help=True
)


@channels_app.command("status")
def status(json_output: JsonFlag = False) -> None:
    """Each channel sent through a provider: stopped or sending, and the deliveries waiting."""
    from dispatcher.tracking.stopped_channels import channel_statuses

    statuses = channel_statuses(load_runtime())
    rows: list[dict[str, Any]] = [
        {
            "channel": s.channel.value,
            "provider": s.provider,
            "stopped": s.stop is not None,
            "code": s.stop.code if s.stop else None,
            "reason": s.stop.reason if s.stop else None,
            "since": s.stop.since.isoformat() if s.stop else None,
            "seconds_left": round(s.stop.seconds_left) if s.stop else None,
            "waiting": s.waiting,
            "credentials_missing": list(s.missing),
        }
        for s in statuses
    ]
    if json_output:
        print_json(rows)
        return
    if not rows:
        console.print("no provider is configured: every channel goes to the outbox")
        return
    table = Table("channel", "provider", "state", "deliveries waiting")
    for row in rows:
        if row["credentials_missing"]:
            state = (
                f"[bold red]held[/]: credentials not set "
                f"({', '.join(row['credentials_missing'])}); nothing is sent"
            )
        elif row["stopped"]:
            state = (
                f"[bold red]stopped[/] ({row['code']}: {row['reason']}; "
                f"{row['seconds_left']} s left)"
            )
        else:
            state = "sending"
        table.add_row(row["channel"], row["provider"], state, str(row["waiting"]))
    console.print(table)


@channels_app.command("resume")
def resume(
    provider: Annotated[str, typer.Argument(help="twilio, sendgrid or fcm.")],
    json_output: JsonFlag = False,
) -> None:
    """Lift a provider's stop and queue every delivery waiting for it, now."""
    from dispatcher.tracking.stopped_channels import UnknownProvider, channels_of, resume_provider

    runtime = load_runtime()
    try:
        channels_of(runtime, provider)  # before the broker: a typo starts no Redis
    except UnknownProvider as exc:
        fail(f"PROVIDER: {exc}")
    from dispatcher.worker.actors import broker

    report = resume_provider(runtime, broker, provider)
    if json_output:
        print_json(report.__dict__)
        return
    state = "stop lifted" if report.was_stopped else "was not stopped"
    console.print(f"{report.provider}: {state}; {report.requeued} deliveries queued again")


def register(app: typer.Typer) -> None:
    """Add ``dispatcher channels`` to the command line."""
    app.add_typer(channels_app, name="channels")
