"""``dispatcher worker`` and ``dispatcher sweep``: the worker processes and the recovery sweep."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from dispatcher.cli.common import (
    JsonFlag,
    console,
)
from dispatcher.cli.common import load_runtime as _runtime
from dispatcher.cli.common import print_json as _print_json

# Commands owned by other modules (web service, clock and calendar, API tokens, channels).


def worker(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once nothing is pending or sending.")
    ] = False,
    processes: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    threads: Annotated[int, typer.Option(min=1, help="Threads per process.")] = 8,
) -> None:
    """Run Dramatiq workers over the configured broker (the Procfile's worker line)."""
    _runtime()
    if processes == 1:
        from dispatcher.worker.run import run_worker

        run_worker(threads=threads, until_idle=until_idle)
        return
    verbose = ["--verbose"] if logging.getLogger().isEnabledFor(logging.INFO) else []
    args = [
        sys.executable,
        "-m",
        "dispatcher",
        *verbose,
        "worker",
        "--processes",
        "1",
        "--threads",
        str(threads),
    ]
    if until_idle:
        args.append("--until-idle")
    children = [subprocess.Popen(args) for _ in range(processes)]

    def _stop_children(_signum: int, _frame: Any) -> None:
        # Stopping the parent (SIGTERM from a process manager) stops every child cleanly.
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, _stop_children)
    try:
        codes = [child.wait() for child in children]
    except KeyboardInterrupt:
        _stop_children(signal.SIGINT, None)
        codes = [child.wait() for child in children]
    raise typer.Exit(max(codes))


def sweep(json_output: JsonFlag = False) -> None:
    """Run the recovery sweep once: re-queue lost work, settle stale sends."""
    from dispatcher.worker.actors import broker
    from dispatcher.worker.sweep import sweep as run_sweep

    report = run_sweep(_runtime(), broker, datetime.now(UTC))
    data = report.__dict__
    if json_output:
        _print_json(data)
    else:
        console.print(", ".join(f"{k}: {v}" for k, v in data.items()))


def register(app: typer.Typer) -> None:
    """Add ``worker``, ``sweep`` to the ``dispatcher`` command line."""
    app.command("worker")(worker)
    app.command("sweep")(sweep)
