"""Commands of the delivery-tracking service: ``dispatcher web``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``dispatcher`` command line."""

    @app.command("web")
    def _web() -> None:
        """(arrives with its issue)"""
        typer.echo("not yet built")
