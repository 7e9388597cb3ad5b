"""What every ``dispatcher`` command module shares: the ``--json`` flag, the one-line error
that exits with code 2, JSON output, and the runtime loaded with settings errors reported."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

err_console = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout (dates and other values as strings)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def load_runtime() -> Any:
    """The process's runtime; a bad setting or configuration file exits with its error."""
    from dispatcher.config import ConfigError
    from dispatcher.runtime import current_runtime
    from dispatcher.settings import SettingsError

    try:
        return current_runtime()
    except (SettingsError, ConfigError) as exc:
        fail(str(exc))
