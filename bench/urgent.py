"""Benchmark: an emergency closure triggered while a large newsletter is sending, on one
rate-limited provider account. Is urgent work ever behind bulk?

Printed figures, not a test. The scenario (the issue "Exactly once under faults", section
"Urgent is never behind bulk, measured"):

1. Set-up (timed, not judged): a throwaway PostgreSQL database, a Redis server of the
   bench's own on a free port, the provider emulator in this process answering after 200 ms,
   ``TWILIO/SENDGRID/FCM_RATE_PER_SECOND=50`` (as production sets a real account's limit,
   docs/operations/providers.md), two ``dispatcher worker`` processes of 8 threads per lane,
   ``dispatcher web``. The demo school's roster is sized so that one announcement to the
   whole school makes about ``--closure`` deliveries; the newsletter is as many newsletter
   announcements to the whole school as make ``--newsletter`` deliveries (one roster serves
   both: planning 100,000 deliveries is what takes the time, not the roster). The bench's
   copy of ``config/`` sends both categories by SMS only and lets the newsletter out at any
   hour: every delivery is then one request on one rate-limited account (Twilio's), the case
   the requirement computes (10,000 at 50/s is 200 s), and the bench runs at night too.
2. Once every newsletter is planned and sending, ``--before`` seconds of its rate, then the
   trigger: ``POST /api/announcements`` of an ``emergency_closure`` to the whole school.
3. Measured from the emulator's record of each request (its arrival time and the delivery id
   in Twilio's ``StatusCallback``): the time from the trigger to each closure delivery's
   hand-over (first, p50, p95, last); newsletter hand-overs between the closure's first and
   last (the first 1.1 s after its first left out: requests admitted just before the urgent
   lane asked are still on their way; deliveries a killed worker held, which wait for the
   sweep's grace period and not for a place, are left out); the newsletter's rate before,
   during and after the closure; duplicates.
4. ``--kill-worker``: a second run, the same, but one worker process is SIGKILLed when half
   the closure has been handed over, and started again at once (as a process manager does).

Targets (PASS/MISS): first < 1 s; no newsletter hand-over on the provider while the closure
is sending; p95 within 10% of the bound the rate limit sets (closure deliveries / 50 per s).

    .venv/bin/python bench/urgent.py                        # 100,000 / 10,000, both runs
    .venv/bin/python bench/urgent.py --quick                # 5,000 / 500
    .venv/bin/python bench/urgent.py --newsletter 20000 --closure 2000 --no-kill-worker

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deliver import (  # bench/ is on sys.path
    DEFAULT_POSTGRES_URL,
    SCHOOL,
    SEED,
    VARIABLES,
    bench_env,
    dispatcher,
    web_service,
)
from postgres_admin import admin_execute, postgres_problem

from emulator import ProviderEmulator
from emulator.cli import provider_environment
from emulator.records import message_delivery_ids

REPO = Path(__file__).resolve().parents[1]
BENCH_DATABASE = "dispatcher_bench_urgent"
LATENCY_SECONDS = 0.2
RATE_LIMIT_PER_SECOND = 50
PROCESSES = 2
THREADS = 8
#: Deliveries per student of an SMS-only announcement to the whole demo school (contacts
#: with a phone that takes texts, siblings sharing parents), to size the roster; measured.
SMS_PER_STUDENT = 1.34
#: Requests admitted just before the urgent lane asked may still arrive within the window.
IN_FLIGHT_SECONDS = 1.1
NEWSLETTER_VARIABLES = {"title": "Spring term news", "url": "https://demo-primary.example/news"}
CLOSURE_TIMEOUT_SECONDS = 1800


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- services --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A Redis server of the bench's own on a free port (nothing kept on disk)."""
    import redis

    port = _free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if redis.Redis.from_url(url).ping():
                    break
            except redis.RedisError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def fresh_database(postgres_url: str) -> str:
    """A new, empty PostgreSQL database at the newest schema; returns its URL."""
    from dispatcher.store.engine import upgrade_database

    admin_execute(postgres_url, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
    admin_execute(postgres_url, f'CREATE DATABASE "{BENCH_DATABASE}"')
    url = f"{postgres_url.rstrip('/')}/{BENCH_DATABASE}"
    upgrade_database(url)
    return url


def _replace_in_section(text: str, section: str, old: str, new: str) -> str:
    start = text.index(f"[categories.{section}]")
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    body = text[start:end]
    if old not in body:
        raise SystemExit(f"config/policy.toml: {section} has no {old!r}")
    return text[:start] + body.replace(old, new, 1) + text[end:]


def bench_config(workdir: Path) -> Path:
    """A copy of ``config/`` whose closure and newsletter go by SMS only, the newsletter at
    any hour (see the module docstring)."""
    target = workdir / "config"
    shutil.copytree(REPO / "config", target)
    policy = target / "policy.toml"
    text = policy.read_text()
    text = _replace_in_section(
        text, "emergency_closure", 'channels = ["sms", "push", "email"]', 'channels = ["sms"]'
    )
    text = _replace_in_section(
        text, "emergency_closure", "email_backup = true", "email_backup = false"
    )
    text = _replace_in_section(
        text, "newsletter", 'channels = ["email", "push", "sms"]', 'channels = ["sms"]'
    )
    text = _replace_in_section(
        text, "newsletter", "send_window_applies = true", "send_window_applies = false"
    )
    policy.write_text(text)
    return target


@dataclass
class Workers:
    """The ``dispatcher worker`` processes, one per Popen, so that one can be killed."""

    env: dict[str, str]
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_one(self) -> subprocess.Popen[bytes]:
        import redis

        started_ms = time.time() * 1000
        with (self.log_dir / f"worker-{len(self.processes)}.log").open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "dispatcher", "worker", "--threads", str(THREADS)],
                env=self.env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        self.processes.append(process)
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        deadline = time.monotonic() + 120
        while not client.zrangebyscore("dramatiq:__heartbeats__", started_ms, "+inf"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("a worker did not start")
            time.sleep(0.2)
        client.close()
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()  # the run is over: nothing it does now is measured
        for process in self.processes:
            process.wait(30)


def plan_only_worker(env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    """A Dramatiq worker of the ``plan`` queue only (the product's actors and broker)."""
    with (workdir / "planner.log").open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "dispatcher.worker.actors", "--processes", "1",
             "--threads", "2", "--queues", "plan"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )  # fmt: skip


# --- the database ----------------------------------------------------------------------------


def _engine(database_url: str) -> Any:
    from dispatcher.store.engine import make_engine

    return make_engine(database_url)


def announcement_states(database_url: str, ids: list[int]) -> dict[int, str]:
    from sqlalchemy import select

    from dispatcher.store.models import Announcement

    engine = _engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Announcement.id, Announcement.state).where(Announcement.id.in_(ids))
        ).all()
    engine.dispose()
    return {int(i): str(s) for i, s in rows}


def delivery_ids(database_url: str, announcement_ids: list[int]) -> set[int]:
    from sqlalchemy import select

    from dispatcher.store.models import Delivery

    engine = _engine(database_url)
    with engine.connect() as connection:
        ids = connection.scalars(
            select(Delivery.id).where(Delivery.announcement_id.in_(announcement_ids))
        ).all()
    engine.dispose()
    return {int(i) for i in ids}


def released_ids(database_url: str, ids: set[int]) -> set[int]:
    """Those of ``ids`` the recovery sweep released after the grace period (their worker was
    killed holding them ``sending``)."""
    from sqlalchemy import select

    from dispatcher.store.models import DeliveryEvent

    engine = _engine(database_url)
    with engine.connect() as connection:
        found = connection.scalars(
            select(DeliveryEvent.delivery_id).where(
                DeliveryEvent.delivery_id.in_(sorted(ids)), DeliveryEvent.code == "released"
            )
        ).all()
    engine.dispose()
    return {int(i) for i in found}


def closure_progress(database_url: str, announcement_id: int) -> tuple[int, int]:
    """(deliveries recorded sent, deliveries still pending or sending) of the announcement."""
    from sqlalchemy import func, select

    from dispatcher.domain import ACTIVE_STATES
    from dispatcher.store.models import Delivery

    engine = _engine(database_url)
    with engine.connect() as connection:
        counts = dict(
            connection.execute(
                select(Delivery.state, func.count())
                .where(Delivery.announcement_id == announcement_id)
                .group_by(Delivery.state)
            ).all()
        )
    engine.dispose()
    active = sum(int(counts.get(s.value, 0)) for s in ACTIVE_STATES)
    return int(counts.get("sent", 0)), active


def wait_planned(database_url: str, ids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = announcement_states(database_url, ids)
        if all(states.get(i) in ("sending", "done") for i in ids):
            return
        time.sleep(1.0)
    raise SystemExit(f"announcements {ids} were not planned within {timeout:.0f} s")


def announce_newsletter(env: dict[str, str]) -> int:
    announced = dispatcher(
        env,
        "announce",
        "--school",
        SCHOOL,
        "--category",
        "newsletter",
        "--audience",
        "school",
        *(
            part
            for key, value in NEWSLETTER_VARIABLES.items()
            for part in ("--var", f"{key}={value}")
        ),
        "--yes",
        "--json",
    )
    if announced.returncode != 0:
        sys.stderr.write(announced.stderr[-4000:])
        raise SystemExit("dispatcher announce (newsletter) failed")
    return int(json.loads(announced.stdout)["announcement_id"])


# --- one run ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    """What one run measured (seconds; times relative to the closure's trigger)."""

    label: str
    setup_seconds: float
    newsletter_deliveries: int
    newsletter_announcements: int
    closure_deliveries: int
    handed_over: int
    first: float
    p50: float
    p95: float
    last: float
    bound: float
    newsletter_during: int
    newsletter_during_raw: int
    rate_before: float
    rate_during: float
    rate_after: float
    closure_rate: float
    duplicates: int
    max_per_second: int
    killed_at: float | None = None
    released: int = 0
    last_live: float = math.nan


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def handovers(emulator: ProviderEmulator) -> list[tuple[float, int]]:
    """(arrival time, delivery id) of every accepted Twilio send, oldest first."""
    out: list[tuple[float, int]] = []
    for record in emulator.messages("twilio"):
        for delivery in message_delivery_ids("twilio", record):
            if delivery.isdigit():
                out.append((record.at, int(delivery)))
    return out


def one_run(args: argparse.Namespace, kill_worker: bool, root: Path) -> RunResult:
    label = "kill-worker" if kill_worker else "plain"
    workdir = root / label
    workdir.mkdir()
    setup_started = time.monotonic()
    log(f"[{label}] set-up: database, Redis, emulator at {LATENCY_SECONDS * 1000:.0f} ms")
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(workdir))
        database_url = fresh_database(args.postgres_url)
        emulator = stack.enter_context(ProviderEmulator(latency=LATENCY_SECONDS))
        providers = provider_environment(emulator, workdir / "emulator-service-account.json")
        env = bench_env(workdir, database_url, redis_url, providers)
        env["DISPATCHER_CONFIG_DIR"] = str(bench_config(workdir))
        for provider in ("TWILIO", "SENDGRID", "FCM"):
            env[f"{provider}_RATE_PER_SECOND"] = str(RATE_LIMIT_PER_SECOND)
        students = max(10, round(args.closure / SMS_PER_STUDENT))
        roster = workdir / "roster.csv"
        dispatcher(
            env,
            "demo-data",
            "--school",
            SCHOOL,
            "--students",
            str(students),
            "--seed",
            str(SEED),
            "--out",
            str(roster),
            "--json",
        )
        dispatcher(env, "roster", "import", str(roster), "--school", SCHOOL, "--json")
        # The newsletter is planned by a worker of the plan queue alone, so that it does not
        # start sending (and, at a small size, finish) before the closure comes.
        planner = plan_only_worker(env, workdir)
        try:
            log(f"[{label}] planning the newsletter ({args.newsletter} deliveries)")
            newsletters = [announce_newsletter(env)]
            wait_planned(database_url, newsletters, 600)
            per_announcement = len(delivery_ids(database_url, newsletters))
            count = max(1, math.ceil(args.newsletter / max(1, per_announcement)))
            for _ in range(count - 1):
                newsletters.append(announce_newsletter(env))
            wait_planned(database_url, newsletters, 3600)
        finally:
            planner.terminate()
            planner.wait(60)
        newsletter_ids = delivery_ids(database_url, newsletters)
        workers = Workers(env, workdir)
        stack.callback(workers.stop)
        for _ in range(PROCESSES):
            workers.start_one()
        web = stack.enter_context(web_service(env, workdir, label))
        setup_seconds = time.monotonic() - setup_started
        log(
            f"[{label}] set-up took {setup_seconds:.0f} s; {len(newsletter_ids)} newsletter "
            f"deliveries in {len(newsletters)} announcements; {args.before:.0f} s of newsletter"
        )
        time.sleep(args.before)

        trigger = time.time()
        answer = web.post(
            "/api/announcements",
            {
                "school": SCHOOL,
                "category": "emergency_closure",
                "audience": ["school"],
                "variables": VARIABLES,
            },
        )
        closure_announcement = int(answer["id"])
        wait_planned(database_url, [closure_announcement], 600)
        closure_ids = delivery_ids(database_url, [closure_announcement])
        log(f"[{label}] closure {closure_announcement}: {len(closure_ids)} deliveries")

        killed_at: float | None = None
        deadline = time.monotonic() + CLOSURE_TIMEOUT_SECONDS
        while True:
            # Read from the database, not the emulator: parsing its records every second
            # in the emulator's own process would delay its answers (and its clock).
            sent, active = closure_progress(database_url, closure_announcement)
            if kill_worker and killed_at is None and sent >= len(closure_ids) / 2:
                victim = workers.processes[0]
                victim.send_signal(signal.SIGKILL)
                killed_at = time.time() - trigger
                log(
                    f"[{label}] SIGKILLed worker {victim.pid} at {killed_at:.1f} s; starting "
                    "another"
                )
                workers.start_one()
            if active == 0:
                break
            if time.monotonic() > deadline:
                log(f"[{label}] gave up waiting: {sent} of {len(closure_ids)} sent")
                break
            time.sleep(1.0)
        time.sleep(args.after)
        records = handovers(emulator)
        released = released_ids(database_url, closure_ids)
        max_per_second = emulator.max_requests_in_any_second("twilio")

    first_at: dict[int, float] = {}
    counts: dict[int, int] = {}
    for at, delivery in records:
        if delivery in closure_ids:
            first_at.setdefault(delivery, at - trigger)
            counts[delivery] = counts.get(delivery, 0) + 1
    times = sorted(first_at.values())
    first, last = (times[0], times[-1]) if times else (math.nan, math.nan)
    news = [at - trigger for at, d in records if d in newsletter_ids]
    # The deliveries a killed worker held ``sending`` wait for the sweep's grace period, not
    # for a place: the newsletter may go meanwhile. "While the closure sends" ends with the
    # last of the others.
    live = [t for d, t in first_at.items() if d not in released]
    last_live = max(live) if live else last
    during_raw = sum(1 for t in news if first < t < last_live)
    during = sum(1 for t in news if first + IN_FLIGHT_SECONDS < t < last_live)
    window = args.before
    return RunResult(
        label=label,
        setup_seconds=setup_seconds,
        newsletter_deliveries=len(newsletter_ids),
        newsletter_announcements=len(newsletters),
        closure_deliveries=len(closure_ids),
        handed_over=len(times),
        first=first,
        p50=_percentile(times, 0.5) if times else math.nan,
        p95=_percentile(times, 0.95) if times else math.nan,
        last=last,
        bound=len(closure_ids) / RATE_LIMIT_PER_SECOND,
        newsletter_during=during,
        newsletter_during_raw=during_raw,
        rate_before=sum(1 for t in news if -window <= t < 0) / window,
        rate_during=during_raw / (last - first) if last > first else math.nan,
        rate_after=sum(1 for t in news if last < t <= last + args.after) / args.after,
        closure_rate=len(times) / (last - first) if last > first else math.nan,
        duplicates=sum(n - 1 for n in counts.values()),
        max_per_second=max_per_second,
        killed_at=killed_at,
        released=len(released),
        last_live=last_live,
    )


# --- the report ------------------------------------------------------------------------------


def judge(run: RunResult) -> dict[str, bool]:
    return {
        "first < 1 s": run.first < 1.0,
        "no newsletter while the closure sends": run.newsletter_during == 0,
        f"p95 <= {run.bound * 1.1:.0f} s (bound {run.bound:.0f} s + 10%)": run.p95
        <= run.bound * 1.1,
        "every closure delivery handed over": run.handed_over == run.closure_deliveries,
        f"<= {RATE_LIMIT_PER_SECOND} requests in any second": run.max_per_second
        <= RATE_LIMIT_PER_SECOND,
    }


def print_report(run: RunResult) -> bool:
    """Print one run's figures and targets; True when every target is met."""
    print(
        f"\n== {run.label}: newsletter {run.newsletter_deliveries} deliveries "
        f"({run.newsletter_announcements} announcements), closure {run.closure_deliveries}; "
        f"emulator {LATENCY_SECONDS * 1000:.0f} ms, {RATE_LIMIT_PER_SECOND}/s per provider, "
        f"{PROCESSES} workers x {THREADS} threads per lane"
    )
    print(f"set-up {run.setup_seconds:.0f} s")
    if run.killed_at is not None:
        print(
            f"one worker SIGKILLed at {run.killed_at:.1f} s after the trigger, restarted; "
            f"{run.released} closure deliveries it held released by the sweep after its grace "
            f"period; the others' last hand-over {run.last_live:.1f} s"
        )
    print(
        f"closure, trigger to hand-over: first {run.first:.2f} s, p50 {run.p50:.1f} s, "
        f"p95 {run.p95:.1f} s, last {run.last:.1f} s ({run.handed_over} of "
        f"{run.closure_deliveries}, {run.closure_rate:.1f}/s; bound {run.bound:.0f} s)"
    )
    print(
        f"newsletter hand-overs between the closure's first and last (not released): "
        f"{run.newsletter_during} "
        f"after its first {IN_FLIGHT_SECONDS} s, {run.newsletter_during_raw} in all"
    )
    print(
        f"newsletter rate: before {run.rate_before:.1f}/s, during {run.rate_during:.1f}/s, "
        f"after {run.rate_after:.1f}/s"
    )
    print(
        f"duplicates (closure) {run.duplicates}; most Twilio requests in any second "
        f"{run.max_per_second}"
    )
    ok = True
    for target, passed in judge(run).items():
        print(f"  {'PASS' if passed else 'MISS'}  {target}")
        ok = ok and passed
    return ok


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--newsletter", type=int, default=100_000, help="newsletter deliveries")
    parser.add_argument("--closure", type=int, default=10_000, help="closure deliveries (about)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5,000 / 500")
    parser.add_argument("--before", type=float, default=20.0, help="seconds of newsletter first")
    parser.add_argument("--after", type=float, default=20.0, help="seconds of newsletter after")
    parser.add_argument(
        "--kill-worker",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the run with a worker SIGKILLed mid-closure (default on)",
    )
    parser.add_argument("--only-kill-worker", action="store_true", help="only that run")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.newsletter, args.closure, args.before, args.after = 5_000, 500, 10.0, 10.0
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    problem = postgres_problem(args.postgres_url)
    if problem:
        raise SystemExit(f"bench/urgent.py needs PostgreSQL: {problem}")
    plans = [True] if args.only_kill_worker else [False, True] if args.kill_worker else [False]
    root = Path(tempfile.mkdtemp(prefix="bench-urgent-"))
    results: list[RunResult] = []
    ok = True
    try:
        for kill in plans:
            results.append(one_run(args, kill, root))
            ok = print_report(results[-1]) and ok
            sys.stdout.flush()
    finally:
        admin_execute(args.postgres_url, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps([run.__dict__ for run in results], indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
