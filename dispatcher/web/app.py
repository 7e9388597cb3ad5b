"""The FastAPI application: one factory, every router.

The API's documentation (Swagger UI at ``/docs``, ReDoc at ``/redoc``) is served with its
scripts, styles and icon from the app itself (``/docs-assets/``, the files the
``fastapi-offline`` package ships), so it works on a server without internet and no page of
the product loads anything from elsewhere (decision 0062).

The staff console (``dispatcher.web.console``: sign-in and the home page at ``/``) is part
of the same app; every response carries its security headers (decision 0080)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from dispatcher.runtime import Runtime, current_runtime
from dispatcher.web.console import install_console
from dispatcher.web.errors import install_error_handlers
from dispatcher.web.routes import (
    announcements,
    calls,
    health,
    mis_webhooks,
    provider_webhooks,
    reports,
    trust_announcements,
)

#: Where the documentation pages' scripts, styles and icon are served.
DOCS_ASSETS_URL = "/docs-assets"


def create_app(runtime_factory: Callable[[], Runtime] = current_runtime) -> FastAPI:
    """The web service. ``runtime_factory`` gives the runtime per request (tests pass their
    own); by default the one built from the environment."""
    app: FastAPI = FastAPIOffline(
        static_url=DOCS_ASSETS_URL,
        # Swagger UI would otherwise ask validator.swagger.io to check the document.
        swagger_ui_parameters={"validatorUrl": None},
        title="School notification dispatcher",
        version="1.0",
        description=(
            "Send announcements to families by SMS, email and app push; receive provider "
            "delivery reports and school MIS events.\n\n"
            "API calls need `Authorization: Bearer <token>` (tokens come from "
            "`dispatcher tokens create`). Every error answers "
            '`{"detail": [{"field": ..., "message": ...}]}` where `field` names what was '
            "wrong: `body.category`, `query.school`, `path.announcement_id`, "
            "`header.Authorization`..."
        ),
    )
    app.state.runtime_factory = runtime_factory
    install_error_handlers(app)
    for module in (
        health,
        provider_webhooks,
        reports,
        announcements,
        trust_announcements,
        calls,
        mis_webhooks,
    ):
        app.include_router(module.router)
    install_console(app)
    return app
