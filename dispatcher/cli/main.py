"""The ``dispatcher`` command line (typer): the root command, assembled from one module per
command group in this folder. Every command that reports takes ``--json``."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from dispatcher.cli import (
    announce,
    audit,
    calendar,
    calls,
    channels,
    config,
    db,
    demo,
    doctor,
    redis,
    report,
    retention,
    roster,
    staff,
    tokens,
    web,
    worker,
)
from dispatcher.cli.common import err_console
from dispatcher.config.files import ConfigError
from dispatcher.settings import SettingsError

app = typer.Typer(
    help="School notification dispatcher: announcements to families by SMS, email and app.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx (the FCM adapter's client) logs every request at INFO: the dispatcher's own
    # lines already say what was sent.
    logging.getLogger("httpx").setLevel(logging.WARNING)


# The help lists the commands in this order: roughly the order a school meets them.
for group in (
    db,
    config,
    roster,
    demo,
    announce,
    worker,
    report,
    web,
    calendar,
    tokens,
    staff,
    channels,
    audit,
    calls,
    retention,
    doctor,
    redis,
):
    group.register(app)


def main() -> None:
    """Entry point of the ``dispatcher`` command."""
    try:
        app()
    except (SettingsError, ConfigError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
