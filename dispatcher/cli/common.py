"""What every ``dispatcher`` command module shares: the consoles, the ``--json`` flag, the
one-line error that exits with code 2, JSON output, a progress bar, and the settings and
runtime loaded with their errors reported."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dispatcher.config.files import ConfigError
from dispatcher.settings import Settings, SettingsError, load_settings

console = Console()
err_console = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout (dates and other values as strings)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def settings_or_fail() -> Settings:
    """The settings of the environment; a bad variable exits with its error."""
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc))


def load_runtime() -> Any:
    """The process's runtime; a bad setting or configuration file exits with its error."""
    from dispatcher.runtime import current_runtime

    try:
        return current_runtime()
    except (SettingsError, ConfigError) as exc:
        fail(str(exc))


def progress_bar(quiet: bool) -> Progress:
    """A progress bar on stderr, shown only on a terminal and unless ``quiet``."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet or not err_console.is_terminal,
        transient=True,
    )
