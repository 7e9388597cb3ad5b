"""``dispatcher redis``: the embedded Redis server of a machine with no ``REDIS_URL``."""

from __future__ import annotations

import typer

from dispatcher.cli.common import (
    console,
    settings_or_fail,
)

# Commands owned by other modules (web service, clock and calendar, API tokens, channels).


redis_app = typer.Typer(help="The embedded Redis server.", no_args_is_help=True)


@redis_app.command("stop")
def redis_stop() -> None:
    """Stop the embedded Redis of this data directory."""
    from dispatcher.queue.embedded_redis import stop_embedded_redis

    stopped = stop_embedded_redis(settings_or_fail().data_dir)
    console.print("stopped" if stopped else "no embedded Redis was running")


def register(app: typer.Typer) -> None:
    """Add the ``redis`` commands to the ``dispatcher`` command line."""
    app.add_typer(redis_app, name="redis")
