"""Benchmark: plan an emergency closure across a 50-school trust, on SQLite and PostgreSQL.

Printed figures, not a test. For each database and each size (students across the trust) the
bench builds a fresh database, loads a synthetic roster into every school (setup, not
measured), then runs the plan in a fresh subprocess so that peak memory is the plan's own:
the child creates one ``emergency_closure`` announcement per school (audience ``school``) and
times ``plan_announcement`` for all of them, one after the other, with the real enqueue
against Redis.

    .venv/bin/python bench/plan.py                         # both sizes, both databases
    .venv/bin/python bench/plan.py --sizes 5000 --databases sqlite
    .venv/bin/python bench/plan.py --json                  # machine-readable results
    .venv/bin/python bench/plan.py --profile /tmp/prof     # + cProfile of each plan run

Targets (from the issue, for a 2-core machine): the 50,000-student plan in under 30 s on
PostgreSQL; peak memory under 250 MB; and no more memory at 50,000 students than at 5,000
(the audience is streamed and written in batches, never held whole).

See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from postgres_admin import admin_engine, postgres_problem  # bench/ is on sys.path
from trust import (
    DEFAULT_POSTGRES_URL,
    REPO,
    SCHOOLS,
    fresh_database,
    load_trust,
    school_slugs,
    settings_env,
    write_config,
)

CATEGORY = "emergency_closure"
VARIABLES = {"date": "Tuesday 24 November", "reason": "heavy snow"}
DEFAULT_SIZES = (5_000, 50_000)
DEFAULT_DATABASES = ("sqlite", "postgresql")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"

# Targets.
TARGET_PG_SECONDS_AT_50K = 30.0
TARGET_PEAK_RSS_MB = 250.0
#: "No more memory at 50,000 than at 5,000": the plan's RSS growth at the larger size may
#: exceed the smaller size's by at most this much (allocator noise, one batch being full at
#: 50,000 students where it holds ~150 contacts at 5,000).
FLAT_MEMORY_TOLERANCE_MB = 10.0


# --- the measured child process -------------------------------------------------------------


def _current_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_main(spec: dict[str, Any]) -> None:
    """Create one closure per school, time ``plan_announcement`` over all of them, print JSON.

    The environment already points at the trust (see ``settings_env``).
    """
    import gc
    from datetime import UTC, datetime

    from sqlalchemy import event, func, select

    from dispatcher.domain import Urgency
    from dispatcher.planning.plan import plan_announcement
    from dispatcher.queue.enqueue import enqueue
    from dispatcher.queue.names import DELIVERY_QUEUES
    from dispatcher.queue.work import QueuedWork
    from dispatcher.runtime import build_runtime
    from dispatcher.settings import load_settings
    from dispatcher.store.models import Announcement, Delivery
    from dispatcher.triggers.announcements import AnnouncementRequest, create_announcement
    from dispatcher.worker.actors import broker  # the real broker: build_broker(REDIS_URL)

    runtime = build_runtime(load_settings())

    def now() -> datetime:
        return datetime.now(UTC)

    announcement_ids: list[int] = []
    with runtime.sessions() as session:
        for slug in school_slugs():
            request = AnnouncementRequest(
                school=slug,
                category=CATEGORY,
                audience=["school"],
                variables=dict(VARIABLES),
                requested_by="bench",
                trigger="cli",
            )
            announcement, _ = create_announcement(session, runtime, request, now())
            session.commit()
            announcement_ids.append(announcement.id)

    enqueue_seconds = 0.0
    enqueued = 0  # delivery ids
    messages = 0  # queue messages (each a batch of ids)

    def timed_enqueue(work: list[QueuedWork]) -> None:
        nonlocal enqueue_seconds, enqueued, messages
        started = time.perf_counter()
        enqueue(broker, work)
        enqueue_seconds += time.perf_counter() - started
        enqueued += sum(len(item.object_ids) for item in work)
        messages += len(work)

    # Time spent inside the DB driver (cursor.execute/executemany), cheaply, per statement.
    db_seconds = 0.0
    statement_started: list[float] = []

    def before_execute(*_: Any) -> None:
        statement_started.append(time.perf_counter())

    def after_execute(*_: Any) -> None:
        nonlocal db_seconds
        db_seconds += time.perf_counter() - statement_started.pop()

    # Warm the connection pool (and SQLite's pragmas) so the timed section starts warm.
    with runtime.sessions() as session:
        session.scalar(select(func.count()).select_from(Announcement))
    gc.collect()
    baseline_rss = _current_rss_mb()
    peak_before = _peak_rss_mb()
    event.listen(runtime.engine, "before_cursor_execute", before_execute)
    event.listen(runtime.engine, "after_cursor_execute", after_execute)

    profiler: Any = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    written = 0
    started = time.perf_counter()
    for announcement_id in announcement_ids:
        written += plan_announcement(runtime, announcement_id, now, timed_enqueue)
    wall = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile"])
    peak_after = _peak_rss_mb()
    event.remove(runtime.engine, "before_cursor_execute", before_execute)
    event.remove(runtime.engine, "after_cursor_execute", after_execute)

    # Check what was written and queued (outside the timed section).
    with runtime.sessions() as session:
        rows = session.scalar(select(func.count()).select_from(Delivery)) or 0
        totals = session.execute(
            select(
                func.count().filter(Announcement.state.in_(("sending", "done"))),
                func.sum(Announcement.recipients),
                func.sum(Announcement.excluded_contacts),
                func.sum(Announcement.unreachable_contacts),
            )
        ).one()
        by_channel = dict(
            session.execute(select(Delivery.channel, func.count()).group_by(Delivery.channel)).all()
        )
    queue = f"{broker.namespace}:{DELIVERY_QUEUES[Urgency.URGENT]}"
    queued = int(broker.client.hlen(f"{queue}.msgs"))
    runtime.engine.dispose()
    print(
        json.dumps(
            {
                "wall_seconds": wall,
                "deliveries": written,
                "deliveries_in_db": rows,
                "deliveries_by_channel": by_channel,
                "messages_queued": queued,
                "messages_enqueued": messages,
                "enqueued": enqueued,
                "announcements_planned": totals[0],
                "recipients": int(totals[1] or 0),
                "excluded": int(totals[2] or 0),
                "unreachable": int(totals[3] or 0),
                "deliveries_per_second": written / wall if wall else 0.0,
                "enqueue_seconds": enqueue_seconds,
                "db_seconds": db_seconds,
                "baseline_rss_mb": baseline_rss,
                "peak_rss_before_plan_mb": peak_before,
                "peak_rss_mb": peak_after,
                "peak_rss_growth_mb": peak_after - baseline_rss,
                "batch_size": runtime.settings.plan_batch_size,
            }
        )
    )


# --- the parent: setup, runs, table ---------------------------------------------------------


@dataclass
class RunResult:
    """One (database, size) run."""

    database: str
    students_requested: int
    students: int = 0
    contacts: int = 0
    links: int = 0
    load_seconds: float = 0.0
    plan: dict[str, Any] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)


def flush_redis(redis_url: str) -> None:
    """Empty the bench's Redis database."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()


def server_versions(redis_url: str, postgres_url: str | None) -> str:
    """Versions of the Redis and PostgreSQL servers the bench talks to."""
    import redis
    from sqlalchemy import text

    info = redis.Redis.from_url(redis_url).info("server")
    parts = [f"Redis {info.get('redis_version', '?')}"]
    if postgres_url:
        engine = admin_engine(postgres_url)
        with engine.connect() as connection:
            parts.append(f"PostgreSQL {connection.execute(text('SHOW server_version')).scalar()}")
        engine.dispose()
    import sqlite3

    parts.append(f"SQLite {sqlite3.sqlite_version}")
    return ", ".join(parts)


def other_redis_clients(redis_url: str) -> int:
    """How many other clients are connected to the bench's Redis database right now."""
    import redis

    client = redis.Redis.from_url(redis_url)
    database = int(client.connection_pool.connection_kwargs.get("db", 0))
    me = int(client.client_id())
    clients = client.client_list()
    return len([c for c in clients if int(c["db"]) == database and int(c["id"]) != me])


def redis_problem(redis_url: str) -> str | None:
    """Why Redis at ``redis_url`` cannot be used, or None."""
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def run_child(env: dict[str, str], profile: Path | None) -> dict[str, Any]:
    """Run the measured plan in a fresh interpreter and return its JSON report."""
    spec = {"profile": str(profile) if profile else None}
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr)
        raise SystemExit(f"the plan subprocess failed with exit code {completed.returncode}")
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def judge(results: list[RunResult]) -> None:
    """Mark each figure against its target."""
    for run in results:
        plan = run.plan
        run.verdicts["peak_rss"] = "OK" if plan["peak_rss_mb"] < TARGET_PEAK_RSS_MB else "MISSED"
        consistent = (
            plan["deliveries"] == plan["deliveries_in_db"] == plan["enqueued"]
            and plan["announcements_planned"] == SCHOOLS
        )
        run.verdicts["consistent"] = "OK" if consistent else "MISSED"
        # Every enqueued message should still be on the queue (nothing consumes it). Fewer
        # means something else used the Redis database during the run (tests flush theirs).
        run.verdicts["queued"] = (
            "OK" if plan["messages_queued"] == plan["messages_enqueued"] else "MISSED"
        )
        if run.database == "postgresql" and run.students_requested == 50_000:
            run.verdicts["wall"] = (
                "OK" if plan["wall_seconds"] < TARGET_PG_SECONDS_AT_50K else "MISSED"
            )
    for big in results:
        smaller = [
            r
            for r in results
            if r.database == big.database and r.students_requested < big.students_requested
        ]
        if not smaller:
            continue
        small = min(smaller, key=lambda r: r.students_requested)
        extra = big.plan["peak_rss_growth_mb"] - small.plan["peak_rss_growth_mb"]
        big.verdicts["flat_memory"] = "OK" if extra <= FLAT_MEMORY_TOLERANCE_MB else "MISSED"
        big.plan["growth_over_smallest_mb"] = extra


def print_header(args: argparse.Namespace, log: Callable[[str], None]) -> None:
    """The machine and the targets."""
    import sqlalchemy

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    log(
        f"machine: {cpus} CPUs (nproc), {platform.machine()}, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}; "
        f"SQLAlchemy {sqlalchemy.__version__}; load average "
        + " ".join(f"{load:.1f}" for load in os.getloadavg())
    )
    log(
        f"trust: {SCHOOLS} schools; sizes {', '.join(f'{s:,}' for s in args.sizes)} students; "
        f"databases {', '.join(args.databases)}; Redis {args.redis_url}"
    )
    log(
        f"targets: PostgreSQL plan of 50,000 students < {TARGET_PG_SECONDS_AT_50K:.0f} s; "
        f"peak RSS < {TARGET_PEAK_RSS_MB:.0f} MB; RSS growth at the larger size <= growth at "
        f"the smaller + {FLAT_MEMORY_TOLERANCE_MB:.0f} MB"
    )


def print_table(results: list[RunResult]) -> None:
    """The figures, one line per run, each marked against its target."""
    header = (
        f"{'database':<10} {'students':>8} {'contacts':>8} {'deliveries':>10} "
        f"{'wall s':>7} {'deliv/s':>8} {'enqueue s':>9} {'db s':>6} "
        f"{'peak RSS MB':>11} {'growth MB':>9}  verdicts"
    )
    print(header)
    print("-" * len(header))
    for run in results:
        plan = run.plan
        verdicts = ", ".join(f"{name} {mark}" for name, mark in run.verdicts.items())
        print(
            f"{run.database:<10} {run.students:>8,} {run.contacts:>8,} {plan['deliveries']:>10,} "
            f"{plan['wall_seconds']:>7.1f} {plan['deliveries_per_second']:>8,.0f} "
            f"{plan['enqueue_seconds']:>9.1f} {plan['db_seconds']:>6.1f} "
            f"{plan['peak_rss_mb']:>11.0f} {plan['peak_rss_growth_mb']:>9.1f}  {verdicts}"
        )
    print()
    print(
        "wall s: the 50 plan_announcement calls; enqueue s: inside enqueue() (Redis); db s: "
        "inside the DB driver;\npeak RSS: the plan process's ru_maxrss; growth: peak RSS minus "
        "the RSS once imports, runtime and announcements were set up."
    )
    for run in results:
        plan = run.plan
        print(
            f"{run.database} {run.students:,}: {run.links:,} links, "
            f"{run.contacts / max(run.students, 1):.2f} contacts per student; recipients "
            f"{plan['recipients']:,}, excluded {plan['excluded']:,}, unreachable "
            f"{plan['unreachable']:,}; by channel {plan['deliveries_by_channel']}; "
            f"{plan['messages_queued']:,} messages queued; roster load {run.load_seconds:.0f} s"
        )


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="students across the trust, comma-separated (multiples of 50)",
    )
    parser.add_argument("--databases", default=",".join(DEFAULT_DATABASES))
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES_URL, help="server URL without a database name"
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="Redis database to use; it is FLUSHED before and after each run",
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="directory for a cProfile dump of each plan run (slows it down)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return args
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if any(s <= 0 or s % SCHOOLS for s in args.sizes):
        parser.error(f"--sizes: each size must be a positive multiple of {SCHOOLS}")
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(args.databases) - set(DEFAULT_DATABASES)
    if unknown:
        parser.error(f"--databases: unknown {', '.join(sorted(unknown))} (sqlite, postgresql)")
    return args


def main(argv: list[str]) -> int:
    """Run the bench."""
    args = parse_args(argv)
    if args.child is not None:
        child_main(json.loads(args.child))
        return 0

    def log(message: str) -> None:
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    print_header(args, log)
    problem = redis_problem(args.redis_url)
    if problem:
        log(
            f"Redis at {args.redis_url} is unreachable ({problem}); the plan enqueues, "
            "so the bench cannot run. Use --redis-url."
        )
        return 2
    databases = list(args.databases)
    if "postgresql" in databases:
        problem = postgres_problem(args.postgres_url)
        if problem:
            log(
                f"SKIPPING PostgreSQL: {args.postgres_url} is unreachable ({problem}). "
                "Use --postgres-url."
            )
            databases.remove("postgresql")
    if not databases:
        log("nothing to run")
        return 2
    log(
        "servers: "
        + server_versions(args.redis_url, args.postgres_url if "postgresql" in databases else None)
    )
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    results: list[RunResult] = []
    bench_started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dispatcher-bench-") as tmp:
        workdir = Path(tmp)
        write_config(workdir / "config")
        for database in databases:
            for size in sorted(args.sizes):
                run = RunResult(database, size)
                log(f"{database}, {size:,} students: building the database and loading rosters")
                with fresh_database(database, workdir, args.postgres_url) as url:
                    env = settings_env(url, workdir, args.redis_url)
                    loaded = load_trust(env, size // SCHOOLS, log)
                    run.students, run.contacts, run.links = (
                        loaded.students,
                        loaded.contacts,
                        loaded.links,
                    )
                    run.load_seconds = loaded.seconds
                    log(
                        f"  {loaded.students:,} students, {loaded.contacts:,} contacts, "
                        f"{loaded.links:,} links in {loaded.seconds:.0f} s; planning"
                    )
                    others = other_redis_clients(args.redis_url)
                    if others:
                        log(
                            f"  WARNING: {others} other client(s) are using {args.redis_url}; "
                            "they may consume or flush the bench's queue (see --redis-url)"
                        )
                    flush_redis(args.redis_url)
                    profile = (
                        args.profile / f"plan-{database}-{size}.prof" if args.profile else None
                    )
                    try:
                        run.plan = run_child(env, profile)
                    finally:
                        flush_redis(args.redis_url)
                    log(
                        f"  planned {run.plan['deliveries']:,} deliveries in "
                        f"{run.plan['wall_seconds']:.1f} s"
                    )
                results.append(run)
    judge(results)
    loads = " ".join(f"{load:.1f}" for load in os.getloadavg())
    log(f"bench total {time.perf_counter() - bench_started:.0f} s; load average now {loads}")
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print()
        print_table(results)
        if args.profile:
            print(f"\ncProfile dumps in {args.profile} (python -m pstats FILE)")
    if any(r.verdicts.get("queued") == "MISSED" for r in results):
        log(
            "queued MISSED: fewer messages on the Redis queue than were enqueued, so another "
            "process used the Redis database during the run; rerun with a free --redis-url"
        )
    missed = any("MISSED" in r.verdicts.values() for r in results)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
