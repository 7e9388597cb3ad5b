"""Health, readiness and metrics.

- ``GET /healthz``: the process is up (no I/O), for a liveness probe.
- ``GET /readyz``: the database and Redis both answer; otherwise 503 naming which failed,
  for a readiness probe or a load balancer. It also shows the living workers by status (a
  worker ``waiting for the database`` has its breaker open and claims no work) and how many
  entries the send journal holds for the database, and under ``providers`` the schools whose
  messages are held because a provider they name has no credentials here (or go only to the
  outbox): the web service stays ready, since it can still take announcements.
- ``GET /metrics``: Prometheus text format, computed from the database and Redis at scrape
  time (``dispatcher.metrics``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from dispatcher.channels.selection import Route, school_choices
from dispatcher.reporting.metrics import redis_client, render_metrics, worker_statuses
from dispatcher.runtime import Runtime
from dispatcher.web.deps import get_runtime

log = logging.getLogger("dispatcher.web.health")

router = APIRouter(tags=["health"])

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


def readiness(runtime: Runtime) -> dict[str, str]:
    """``{"database": ..., "redis": ...}``: ``ok`` or why that dependency cannot be used
    (the error's class, never a URL or credential)."""
    checks: dict[str, str] = {}
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readiness: database unreachable (%s)", type(exc).__name__)
        checks["database"] = f"unreachable ({type(exc).__name__})"
    try:
        redis_client(runtime).ping()
        checks["redis"] = "ok"
    except Exception as exc:
        log.warning("readiness: Redis unreachable (%s)", type(exc).__name__)
        checks["redis"] = f"unreachable ({type(exc).__name__})"
    return checks


def provider_readiness(runtime: Runtime) -> dict[str, Any]:
    """Whether every school's messages can go the way its file says: ``{"status": "ok"}``,
    or ``"held"`` with, by school, each channel held because the provider it names has no
    credentials here; ``outbox`` lists the schools whose messages (some or all) are only
    written to the outbox. Informative: the web service still takes announcements."""
    held: dict[str, list[str]] = {}
    outbox: dict[str, list[str]] = {}
    for slug, school in sorted(runtime.configuration.schools.items()):
        for choice in school_choices(school, runtime.providers):
            if choice.route is Route.HELD:
                held.setdefault(slug, []).append(choice.describe())
            elif choice.route is Route.OUTBOX:
                outbox.setdefault(slug, []).append(choice.describe())
    body: dict[str, Any] = {"status": "held" if held else "ok"}
    if held:
        body["held"] = held
    if outbox:
        body["outbox"] = outbox
    return body


def worker_summary(runtime: Runtime) -> dict[str, Any]:
    """The living workers by status and the send journal's size (informative: the web
    service's readiness does not depend on them); empty when Redis does not answer."""
    try:
        return {"workers": worker_statuses(runtime), "send_journal": runtime.journal.size()}
    except Exception:
        return {}


@router.get(
    "/readyz",
    summary="Readiness: database and Redis reachable",
    responses={503: {"description": "the database or Redis is unreachable"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """200 when the database and Redis answer, else 503 with the failing one(s)."""
    checks = await run_in_threadpool(readiness, runtime)
    ready = all(value == "ok" for value in checks.values())
    workers = await run_in_threadpool(worker_summary, runtime)
    body = {
        "status": "ready" if ready else "not ready",
        **checks,
        "providers": provider_readiness(runtime),
        **workers,
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    """Deliveries by channel and state, provider latency and queue depth, read now."""
    payload = await run_in_threadpool(render_metrics, runtime, datetime.now(UTC))
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
