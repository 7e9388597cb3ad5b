"""Running the web service under uvicorn: ``dispatcher web`` (the Procfile's ``web`` line)."""

from __future__ import annotations

import os

import uvicorn

from dispatcher.settings import SettingsError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def default_port() -> int:
    """``$PORT`` (as a platform such as Heroku sets it), else 8000; raises
    ``SettingsError`` naming ``PORT`` when it is not a port number."""
    raw = os.environ.get("PORT", "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError("PORT: expected a port number between 1 and 65535")
    return int(raw)


def build_server(host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for the app built from the environment (not yet started)."""
    from dispatcher.web.app import create_app

    config = uvicorn.Config(
        create_app(),
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        log_level="info",
        access_log=False,  # access lines carry query strings; keep logs to our own lines
    )
    return uvicorn.Server(config)


def run(host: str = DEFAULT_HOST, port: int | None = None) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it gracefully)."""
    build_server(host, default_port() if port is None else port).run()
