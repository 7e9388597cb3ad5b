"""Commands managing API access: ``dispatcher tokens``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``dispatcher`` command line."""
    del app
