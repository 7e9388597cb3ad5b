"""Commands of the reminder clock: ``dispatcher clock`` and ``dispatcher calendar``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``dispatcher`` command line."""

    @app.command("clock")
    def _clock() -> None:
        """(arrives with its issue)"""
        typer.echo("not yet built")
