"""``dispatcher web``: the HTTP service (API, webhooks, health, metrics)."""

from __future__ import annotations

from typing import Annotated

import typer

from dispatcher.cli.common import fail as _fail


def register(app: typer.Typer) -> None:
    """Add ``web`` to the ``dispatcher`` command line."""

    @app.command("web")
    def _web(
        host: Annotated[
            str, typer.Option(help="Address to listen on (0.0.0.0 behind a platform router).")
        ] = "127.0.0.1",
        port: Annotated[
            int | None, typer.Option(help="Port (default: $PORT, else 8000).", min=1, max=65535)
        ] = None,
    ) -> None:
        """Run the HTTP service: provider webhooks, health, metrics and the API."""
        from dispatcher.runtime import current_runtime
        from dispatcher.settings import SettingsError
        from dispatcher.web.server import default_port, run

        try:
            current_runtime()  # a bad setting stops here, naming the variable
            chosen = default_port() if port is None else port
        except SettingsError as exc:
            _fail(str(exc))
            return
        run(host, chosen)
