"""The staff console: server-rendered pages (Jinja2, govuk-frontend without the GOV.UK
brand) served by the same app as the API. This package holds its routes, sessions,
sign-in throttle, page headers and its templates and static files (shipped as package
data). ``install_console`` adds it to an app."""

from __future__ import annotations

from pathlib import Path

import redis
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from dispatcher.web.console import accounts, announcement, compose, home, sign_in, sign_off
from dispatcher.web.console.pages import render
from dispatcher.web.console.security import SecurityHeaders

#: Where the console's styles, scripts and govuk-frontend's files are served.
ASSETS_URL = "/console-assets"
STATIC_DIR = Path(__file__).parent / "static"


async def _session_store_down(request: Request, exc: Exception) -> Response:
    return render(
        "message.html",
        status_code=503,
        title="Sorry, the service is unavailable",
        paragraphs=["The console cannot reach its session store. Try again in a minute."],
        link=(str(request.url.path), "Try again"),
    )


def install_console(app: FastAPI) -> None:
    """Add the console's pages, its static files and every page's security headers."""
    app.mount(ASSETS_URL, StaticFiles(directory=STATIC_DIR), name="console-assets")
    app.include_router(sign_in.router)
    app.include_router(home.router)
    app.include_router(accounts.router)
    app.include_router(announcement.router)
    app.include_router(compose.router)
    app.include_router(sign_off.router)
    app.add_exception_handler(redis.RedisError, _session_store_down)
    app.add_middleware(SecurityHeaders)
