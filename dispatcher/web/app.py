"""The FastAPI application: one factory, every router."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from dispatcher.runtime import Runtime, current_runtime
from dispatcher.web import (
    announcements_api,
    health,
    mis_webhooks,
    provider_webhooks,
    reports_api,
)


def create_app(runtime_factory: Callable[[], Runtime] = current_runtime) -> FastAPI:
    """The web service. ``runtime_factory`` gives the runtime per request (tests pass their
    own); by default the one built from the environment."""
    app = FastAPI(
        title="School notification dispatcher",
        version="1.0",
        description=(
            "Send announcements to families by SMS, email and app push; receive provider "
            "delivery reports and school MIS events."
        ),
    )
    app.state.runtime_factory = runtime_factory
    for module in (health, provider_webhooks, reports_api, announcements_api, mis_webhooks):
        app.include_router(module.router)
    return app
