"""FastAPI dependencies shared by every router."""

from __future__ import annotations

from fastapi import Request

from dispatcher.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    """The process's runtime, set on the app by ``create_app``."""
    runtime: Runtime = request.app.state.runtime_factory()
    return runtime
