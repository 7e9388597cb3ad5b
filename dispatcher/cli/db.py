"""``dispatcher db``: the database schema (Alembic migrations)."""

from __future__ import annotations

import typer

from dispatcher.cli.common import (
    console,
    settings_or_fail,
)

# Commands owned by other modules (web service, clock and calendar, API tokens, channels).


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (Alembic) up to the newest schema."""
    from dispatcher.store.engine import upgrade_database

    settings = settings_or_fail()
    upgrade_database(settings.effective_database_url)
    console.print("database is up to date")


def register(app: typer.Typer) -> None:
    """Add the ``db`` commands to the ``dispatcher`` command line."""
    app.add_typer(db_app, name="db")
