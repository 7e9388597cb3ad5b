"""The checks of the deployment as a whole: the database answers and its migrations are
current, Redis answers, workers and a reminder clock are running (their heartbeats), and the
provider variables can be read. Each check catches its own failure and says it in plain
words: the error's class, never a URL, password or credential."""

from __future__ import annotations

from typing import Any

import redis
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from dispatcher.doctor.findings import Finding, note, ok, problem
from dispatcher.queue.heartbeats import Heartbeats
from dispatcher.settings import Settings

#: How long a check waits for Redis.
REDIS_TIMEOUT_SECONDS = 5.0


def check_database(engine: Engine, settings: Settings) -> list[Finding]:
    """The database answers, holds the newest schema, and is PostgreSQL for production."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from dispatcher.store.engine import alembic_config

    findings: list[Finding] = []
    url = settings.effective_database_url
    backend = make_url(url).get_backend_name()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as exc:
        return [
            problem(
                "database",
                f"the database does not answer ({type(exc).__name__}): check DATABASE_URL and "
                "that the server runs",
            )
        ]
    findings.append(ok("database", f"the {backend} database answers"))
    if backend == "sqlite":
        findings.append(
            note(
                "database",
                "SQLite under DISPATCHER_DATA_DIR: fine for a trial on one machine; set "
                "DATABASE_URL to PostgreSQL for production",
            )
        )
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    if current == heads:
        findings.append(ok("migrations", f"the schema is current ({', '.join(sorted(heads))})"))
    elif not current:
        findings.append(
            problem("migrations", "no migration has been applied: run `dispatcher db upgrade`")
        )
    else:
        findings.append(
            problem(
                "migrations",
                f"the schema is at {', '.join(sorted(current))}, the newest is "
                f"{', '.join(sorted(heads))}: run `dispatcher db upgrade` (the release step)",
            )
        )
    return findings


def redis_client(url: str) -> redis.Redis[Any]:
    """A client for ``url`` that gives up after ``REDIS_TIMEOUT_SECONDS``."""
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


def check_redis(url: str | None, settings: Settings) -> list[Finding]:
    """Redis answers (``url`` None: no ``REDIS_URL`` and no embedded Redis running)."""
    if url is None:
        return [
            problem(
                "redis",
                "REDIS_URL is not set and no embedded Redis runs for DISPATCHER_DATA_DIR: "
                "nothing can be queued (set REDIS_URL, or start a worker for a trial)",
            )
        ]
    try:
        redis_client(url).ping()
    except redis.RedisError as exc:
        return [
            problem(
                "redis",
                f"Redis does not answer ({type(exc).__name__}): check REDIS_URL and that the "
                "server runs",
            )
        ]
    findings = [ok("redis", "Redis answers")]
    if not settings.redis_url:
        findings.append(
            note(
                "redis",
                "the embedded Redis (no REDIS_URL): fine for a trial on one machine; set "
                "REDIS_URL to a Redis server with persistence for production",
            )
        )
    return findings


def check_processes(heartbeats: Heartbeats, has_calendars: bool) -> list[Finding]:
    """Workers and a reminder clock are running, by their heartbeats."""
    try:
        workers = heartbeats.living()
        clocks = heartbeats.clocks()
    except redis.RedisError as exc:
        return [
            problem(
                "workers",
                f"cannot read the heartbeats: Redis does not answer ({type(exc).__name__})",
            )
        ]
    findings: list[Finding] = []
    if not workers:
        findings.append(
            problem(
                "workers",
                f"no worker has beaten in the last {heartbeats.timeout:g} s: nothing is planned "
                "or sent (start `dispatcher worker`)",
            )
        )
    else:
        by_status: dict[str, int] = {}
        for worker in workers:
            by_status[worker.status] = by_status.get(worker.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items()))
        waiting = by_status.get("waiting for the database", 0)
        if waiting:
            findings.append(problem("workers", f"{len(workers)} workers ({summary})"))
        else:
            findings.append(ok("workers", f"{len(workers)} workers running ({summary})"))
    running = [c for c in clocks if c.running]
    if running:
        latest = min(running, key=lambda c: c.age_seconds)
        findings.append(
            ok(
                "clock",
                f"a reminder clock is running (last tick {latest.age_seconds:.0f} s ago, "
                f"one every {latest.tick_seconds:g} s)",
            )
        )
    elif has_calendars:
        last = f" (the last beat was {clocks[0].age_seconds:.0f} s ago)" if clocks else ""
        findings.append(
            problem(
                "clock",
                f"no reminder clock is running{last}: calendar reminders are not sent "
                "(start `dispatcher clock`)",
            )
        )
    else:
        findings.append(note("clock", "no reminder clock is running, and no school has a calendar"))
    return findings
