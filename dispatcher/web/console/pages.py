"""Rendering the console's pages: the Jinja2 templates shipped in this package, escaped
by default, and the few facts every page's layout needs."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

#: The service's name in every page's header and title.
SERVICE_NAME = "School messages"


@cache
def environment() -> Environment:
    """The templates' environment (built once)."""
    return Environment(
        loader=PackageLoader("dispatcher.web.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` (plus the service's name) as an HTML
    response that no cache keeps."""
    context.setdefault("errors", [])
    context.setdefault("csrf_token", None)
    context.setdefault("account", None)
    html = environment().get_template(template).render(service_name=SERVICE_NAME, **context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
