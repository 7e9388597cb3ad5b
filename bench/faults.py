"""Benchmark: faults in the middle of an emergency closure, and what reached families.

Printed figures, not a test. For each fault in turn, against a PostgreSQL and a Redis of
its own (``bench/services.py``: started by the bench on free ports, so it can stop, kill
and restart them), with the provider emulator of this process answering after 50 ms and
posting signed status callbacks (Twilio sent/delivered, SendGrid event batches) to a
``dispatcher web`` of its own:

1. the emergency closure to the whole ``demo`` school (``--students``, 3,000: about 7,500
   deliveries; the roster is loaded once with ``dispatcher demo-data`` and ``roster import``
   into a template cluster that each fault's cluster is copied from) is posted to the API
   while two ``dispatcher worker --threads 8`` processes run;
2. after ~1,500 sends (the emulator's accepted sends), the fault is injected:

   | fault | what the bench does |
   |---|---|
   | ``none`` | nothing |
   | ``postgres-stop`` | ``pg_ctl stop -m fast``, 20 s, ``pg_ctl start`` |
   | ``worker-kill`` | SIGKILL one worker process; the emulator posts no callbacks in this run |
   | ``worker-kill-callbacks`` | the same, with the status callbacks |
   | ``redis-flushall`` | ``FLUSHALL`` |
   | ``redis-restart`` | SIGKILL ``redis-server``, 5 s, start it again (empty) |
   | ``provider-storm`` | for 20 s every provider answers 10% 503, 10% 429 with  |
   |   | ``Retry-After: 1``, 10% not at all (hanging past the adapters' 10 s timeout) |
   | ``provider-drop`` | for 20 s every provider accepts 30% of sends and drops the answer |

3. the bench waits until no delivery is ``pending`` or ``sending``, or until nothing has
   changed for ``--stall`` seconds (45: longer than one recovery sweep, every 30 s), then
   lets the callbacks settle and reads the report (``GET /api/announcements/{id}/report``,
   the same as ``dispatcher report --json``).

Printed per fault: deliveries planned, sent once, sent twice (or more), never sent (counted
by delivery id in the emulator's records: a dropped answer counts as sent), seconds from
the fault clearing to the last send, and the report's sent and delivered counts (and its
"possibly sent twice" count if the report has one). PASS/MISS per row against the targets:

- ``postgres-stop``, ``redis-flushall``, ``redis-restart``: 0 twice, 0 never, the last send
  within 5 s of the service returning plus the remaining sending time (the deliveries not yet
  sent when it returned, at the run's rate before the fault);
- ``worker-kill*``: 0 never, the requests that carried the deliveries sent twice <= the
  killed process's threads (2 lanes of 8: one SendGrid request carries many emails), and the
  deliveries it held (``sending`` when it was killed, not yet accepted) re-sent within 15 s;
- ``none``, ``provider-*``: 0 twice, 0 never; a push sent again with the same collapse key
  (shown once by the phone) is counted in its own column, not as twice.

    .venv/bin/python bench/faults.py                    # the whole table (~15 min)
    .venv/bin/python bench/faults.py --quick            # a small smoke run
    .venv/bin/python bench/faults.py --only redis-restart --students 1000 --json

Settings are the product's defaults (sweep every 30 s, 300 s grace for ``sending`` rows,
10 s heartbeat timeout, a lost answer waits 60 s for its status callback). Exit status 0
even when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deliver import (  # bench/ is on sys.path
    ANNOUNCEMENT,
    REPO,
    SCHOOL,
    SEED,
    WebService,
    bench_env,
    dispatcher,
)
from postgres_admin import admin_execute
from services import DATABASE, Postgres, RedisServer, free_port

from emulator.cli import provider_environment
from emulator.records import message_delivery_ids

if TYPE_CHECKING:
    from emulator import ProviderEmulator

PROVIDERS = ("twilio", "sendgrid", "fcm")
LATENCY_SECONDS = 0.05
WORKERS = 2
THREADS = 8
#: A worker process has two lanes (urgent, normal) of ``THREADS`` threads each.
LANES = 2
#: Threads the emulator posts its status callbacks with.
CALLBACK_THREADS = 16
DEFAULT_STUDENTS = 3000
DEFAULT_FAULT_AFTER = 1500
POSTGRES_DOWN_SECONDS = 20.0
REDIS_DOWN_SECONDS = 5.0
STORM_SECONDS = 20.0
DEFAULT_STALL_SECONDS = 45.0
DEFAULT_PATIENCE_SECONDS = 600.0
#: The adapters give up on a provider after 10 s; a "timeout" hangs longer than that.
STORM_HANG_SECONDS = 12.0
SERVICE_RETURN_SECONDS = 5.0
KILLED_RESEND_SECONDS = 15.0

FAULTS = (
    "none",
    "postgres-stop",
    "worker-kill",
    "worker-kill-callbacks",
    "redis-flushall",
    "redis-restart",
    "provider-storm",
    "provider-drop",
)
DESCRIPTIONS = {
    "none": "none",
    "postgres-stop": "PostgreSQL stopped {pg:g} s, then started",
    "worker-kill": "one worker SIGKILLed (no provider callbacks)",
    "worker-kill-callbacks": "one worker SIGKILLed, with provider status callbacks",
    "redis-flushall": "Redis FLUSHALL",
    "redis-restart": "Redis killed, restarted after {redis:g} s",
    "provider-storm": "providers 10% 5xx, 10% 429 Retry-After, 10% timeouts for {storm:g} s",
    "provider-drop": "providers drop 30% of answers (message sent) for {storm:g} s",
}


def log(message: str) -> None:
    """Progress, on stderr."""
    print(message, file=sys.stderr, flush=True)


# --- what the emulator saw -------------------------------------------------------------------


def sends(emulator: ProviderEmulator) -> list[tuple[str, float]]:
    """(delivery id, time) of every accepted send, all providers, oldest first."""
    found: list[tuple[str, float]] = []
    for provider in PROVIDERS:
        for record in emulator.messages(provider):
            found.extend((d, record.at) for d in message_delivery_ids(provider, record))
    return sorted(found, key=lambda pair: pair[1])


def repeats(emulator: ProviderEmulator, twice: set[str]) -> tuple[int, int]:
    """For the deliveries in ``twice``: how many requests first carried them (an email
    request carries many deliveries), and how many are pushes every copy of which had the
    same collapse key (the phone shows them once)."""
    first: dict[str, tuple[str, int]] = {}
    tags: dict[str, set[str]] = {}
    for provider in PROVIDERS:
        for index, record in enumerate(emulator.messages(provider)):
            for delivery in message_delivery_ids(provider, record):
                if delivery not in twice:
                    continue
                first.setdefault(delivery, (provider, index))
                if provider == "fcm":
                    body = record.json if isinstance(record.json, dict) else {}
                    android = body.get("message", {}).get("android", {})
                    tags.setdefault(delivery, set()).add(
                        str(android.get("notification", {}).get("tag", ""))
                    )
    collapsed = sum(1 for found in tags.values() if len(found) == 1 and "" not in found)
    return len(set(first.values())), collapsed


def send_count(emulator: ProviderEmulator) -> int:
    """How many deliveries' sends the emulator has accepted (a repeat counts again)."""
    return sum(int(n) for n in emulator.stats()["recipients"].values())


# --- the database ----------------------------------------------------------------------------


def delivery_states(database_url: str, announcement_id: int) -> dict[int, str]:
    """Every delivery of the announcement: id -> state."""
    from sqlalchemy import select

    from dispatcher.store.engine import make_engine
    from dispatcher.store.models import Delivery

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Delivery.id, Delivery.state).where(
                    Delivery.announcement_id == announcement_id
                )
            ).all()
    finally:
        engine.dispose()
    return {int(i): str(s) for i, s in rows}


def progress(database_url: str, announcement_id: int) -> tuple[str | None, int]:
    """(the announcement's state, its deliveries still pending or sending)."""
    from sqlalchemy import func, select

    from dispatcher.domain import ACTIVE_STATES
    from dispatcher.store.engine import make_engine
    from dispatcher.store.models import Announcement, Delivery

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            state = connection.scalar(
                select(Announcement.state).where(Announcement.id == announcement_id)
            )
            active = connection.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(
                    Delivery.announcement_id == announcement_id,
                    Delivery.state.in_([s.value for s in ACTIVE_STATES]),
                )
            )
    finally:
        engine.dispose()
    return (str(state) if state is not None else None), int(active or 0)


# --- processes -------------------------------------------------------------------------------


def start_web(env: dict[str, str], port: int, workdir: Path, token: str) -> WebService:
    """``dispatcher web`` on ``port``, once ``/readyz`` answers 200."""
    log_path = workdir / "web.log"
    with log_path.open("wb") as stderr:
        web = subprocess.Popen(
            [sys.executable, "-m", "dispatcher", "web", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return WebService(url, token, web.pid)
        except OSError:
            pass
        if web.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("dispatcher web did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.2)


def start_workers(env: dict[str, str], workdir: Path) -> list[subprocess.Popen[bytes]]:
    """``WORKERS`` separate ``dispatcher worker --threads THREADS`` processes (so one can be
    killed alone), returned once each has written its Dramatiq heartbeat."""
    import redis

    started_ms = time.time() * 1000
    workers = []
    for number in range(WORKERS):
        with (workdir / f"worker-{number}.log").open("wb") as stderr:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dispatcher", "worker", "--threads", str(THREADS)],
                    env=env,
                    cwd=REPO,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,
                )
            )
    client = redis.Redis.from_url(env["REDIS_URL"])
    deadline = time.monotonic() + 120
    try:
        while len(client.zrangebyscore("dramatiq:__heartbeats__", started_ms, "+inf")) < WORKERS:
            if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
                raise SystemExit("the workers did not start")
            time.sleep(0.2)
    finally:
        client.close()
    return workers


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a worker the bench started, once the run is measured: SIGTERM, and SIGKILL after
    10 s (a worker would give its threads 30 s; nothing is left to finish by then)."""
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def get_json(web: WebService, path: str) -> dict[str, Any]:
    """GET ``path`` with the token; the JSON answer (an error: ``{"error": ...}``)."""
    request = urllib.request.Request(
        f"{web.url}{path}", headers={"Authorization": f"Bearer {web.token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            answered: dict[str, Any] = json.loads(answer.read())
            return answered
    except (OSError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


# --- the template cluster --------------------------------------------------------------------


@dataclass
class Template:
    """A stopped cluster holding the migrated schema, the roster and an API token."""

    postgres: Postgres
    token: str
    students: int
    contacts: int
    version: str


def build_template(
    workdir: Path, students: int, providers: dict[str, str], emulator_key: str
) -> Template:
    """initdb, migrate, ``dispatcher demo-data`` + ``roster import``, a senior API token."""
    from dispatcher.store.engine import upgrade_database

    postgres = Postgres(workdir / "pg-template", free_port())
    postgres.initdb()
    redis_server = RedisServer(workdir, free_port())
    postgres.start()
    redis_server.start()
    try:
        admin_execute(postgres.server_url, f'CREATE DATABASE "{DATABASE}"')
        upgrade_database(postgres.url)
        env = bench_env(workdir / "template", postgres.url, redis_server.url, providers)
        env["SENDGRID_WEBHOOK_PUBLIC_KEY"] = emulator_key
        roster = workdir / "roster.csv"
        written = json.loads(
            dispatcher(
                env, "demo-data", "--school", SCHOOL, "--students", str(students),
                "--seed", str(SEED), "--out", str(roster), "--json",
            ).stdout
        )  # fmt: skip
        dispatcher(env, "roster", "import", str(roster), "--school", SCHOOL, "--json")
        created = dispatcher(
            env, "tokens", "create", "--name", "bench-faults", "--role", "senior",
            "--school", SCHOOL, "--json",
        )  # fmt: skip
        token = str(json.loads(created.stdout)["token"])
        version = postgres.version()
    finally:
        redis_server.stop()
        postgres.stop()
    return Template(postgres, token, int(written["students"]), int(written["contacts"]), version)


# --- one fault -------------------------------------------------------------------------------


@dataclass
class Timings:
    """How long each fault lasts (shorter with ``--quick``)."""

    postgres_down: float = POSTGRES_DOWN_SECONDS
    redis_down: float = REDIS_DOWN_SECONDS
    storm: float = STORM_SECONDS
    fault_after: int = DEFAULT_FAULT_AFTER
    stall: float = DEFAULT_STALL_SECONDS
    patience: float = DEFAULT_PATIENCE_SECONDS


@dataclass
class Row:
    """What one fault did to the announcement."""

    fault: str
    description: str = ""
    planned: int = 0
    sent_once: int = 0
    sent_twice: int = 0
    #: The requests that first carried the deliveries sent twice.
    twice_requests: int = 0
    #: Deliveries sent twice that are pushes with one collapse key: shown once.
    push_shown_once: int = 0
    never_sent: int = 0
    sends_at_fault: int = 0
    fault_at: float = 0.0
    cleared_at: float = 0.0
    #: Seconds from the fault clearing to the last accepted send (None: nothing after it).
    clear_to_last_send: float | None = None
    #: The last send allowed by the target: 5 s + remaining deliveries / rate before the fault.
    allowed_seconds: float | None = None
    rate_before: float = 0.0
    #: worker-kill: deliveries the killed process held, and the longest wait for their resend.
    killed_held: int = 0
    killed_resend_seconds: float | None = None
    ended: str = ""  # done | stalled | timeout
    run_seconds: float = 0.0
    states: dict[str, int] = field(default_factory=dict)
    callbacks: dict[str, int] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    verdict: str = ""
    why: list[str] = field(default_factory=list)


def storm_rules(drop: bool) -> list[Any]:
    """The failure rules of a provider storm (about 30% of requests), for every provider."""
    from emulator import FailureRule

    rules: list[FailureRule] = []
    for provider in PROVIDERS:
        if drop:
            rules.append(FailureRule(provider, drop_answer=True, rate=0.3))
            continue
        # Rules are tried in order: 10% of all, then 10% of all of the 90% left, ...
        rules.append(FailureRule(provider, status=503, rate=0.1))
        rules.append(FailureRule(provider, status=429, retry_after=1, rate=0.1 / 0.9))
        rules.append(
            FailureRule(provider, timeout=True, hang_seconds=STORM_HANG_SECONDS, rate=0.1 / 0.8)
        )
    return rules


@dataclass
class Running:
    """The services and processes of one fault's run."""

    postgres: Postgres
    redis: RedisServer
    workers: list[subprocess.Popen[bytes]]
    emulator: ProviderEmulator
    announcement_id: int = 0
    killed_held: set[int] = field(default_factory=set)


def inject(fault: str, running: Running, timings: Timings) -> float:
    """Inject ``fault``; returns the time (unix) it cleared."""
    emulator = running.emulator
    if fault == "postgres-stop":
        running.postgres.stop("fast")
        time.sleep(timings.postgres_down)
        running.postgres.start()
    elif fault.startswith("worker-kill"):
        before = {d for d, _ in sends(emulator)}
        running.workers[0].send_signal(signal.SIGKILL)
        running.workers[0].wait(30)
        cleared = time.time()
        states = delivery_states(running.postgres.url, running.announcement_id)
        running.killed_held = {
            i for i, s in states.items() if s == "sending" and str(i) not in before
        }
        return cleared
    elif fault == "redis-flushall":
        import redis

        redis.Redis.from_url(running.redis.url).flushall()
    elif fault == "redis-restart":
        running.redis.kill()
        time.sleep(timings.redis_down)
        running.redis.start()
    elif fault in ("provider-storm", "provider-drop"):
        for rule in storm_rules(drop=fault == "provider-drop"):
            emulator.add_failure(rule)
        time.sleep(timings.storm)
        emulator.clear_failures()
    return time.time()


def wait_finished(running: Running, timings: Timings) -> str:
    """Wait until no delivery is pending or sending (``done``), nothing changed for
    ``timings.stall`` s (``stalled``), or ``timings.patience`` s passed (``timeout``)."""
    started = last_change = time.monotonic()
    last: tuple[int, int] | None = None
    while True:
        try:
            state, active = progress(running.postgres.url, running.announcement_id)
        except Exception:  # the database may still be coming back
            state, active = None, -1
        if state in ("sending", "done") and active == 0:
            return "done"
        now = time.monotonic()
        seen = (send_count(running.emulator), active)
        if seen != last:
            last, last_change = seen, now
        elif now - last_change > timings.stall:
            return "stalled"
        if now - started > timings.patience:
            return "timeout"
        time.sleep(0.5)


def report_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The report's sent and delivered counts, and any count of messages possibly sent twice
    (read defensively: the key may not exist yet)."""
    if "error" in report:
        return {"error": report["error"]}
    summary = report.get("summary") or {}
    figures: dict[str, Any] = {
        "sent": sum(int(c.get("sent", 0)) for c in summary.values() if isinstance(c, dict)),
        "delivered": sum(
            int(c.get("delivered", 0)) for c in summary.values() if isinstance(c, dict)
        ),
        "pending": sum(int(c.get("pending", 0)) for c in summary.values() if isinstance(c, dict)),
        "failed": sum(int(c.get("failed", 0)) for c in summary.values() if isinstance(c, dict)),
    }
    for key, value in report.items():
        if any(word in key.lower() for word in ("twice", "possibly", "duplicate")):
            figures[key] = value
    return figures


def run_fault(
    fault: str,
    template: Template,
    workdir: Path,
    emulator: ProviderEmulator,
    providers: dict[str, str],
    timings: Timings,
) -> Row:
    """One announcement with ``fault`` injected after ``timings.fault_after`` sends."""
    from emulator import AutoCallbacks

    row = Row(fault)
    row.description = DESCRIPTIONS[fault].format(
        pg=timings.postgres_down, redis=timings.redis_down, storm=timings.storm
    )
    here = workdir / fault
    here.mkdir()
    os.chmod(here, 0o755)
    started = time.monotonic()
    with ExitStack() as stack:
        postgres = template.postgres.copy_to(here / "pg", free_port())
        postgres.start()
        stack.callback(postgres.stop)
        redis_server = RedisServer(here, free_port())
        redis_server.start()
        stack.callback(redis_server.stop)
        web_port = free_port()
        web_url = f"http://127.0.0.1:{web_port}"
        env = bench_env(here, postgres.url, redis_server.url, providers)
        env["DISPATCHER_PUBLIC_BASE_URL"] = web_url
        env["SENDGRID_WEBHOOK_PUBLIC_KEY"] = emulator.sendgrid_webhook_public_key
        emulator.reset()
        emulator.latency = LATENCY_SECONDS
        if fault == "worker-kill":
            emulator.disable_callbacks()
        else:
            emulator.enable_callbacks(
                AutoCallbacks(
                    sendgrid_url=f"{web_url}/webhooks/sendgrid/events",
                    retry_max_interval=5.0,
                    # Providers post callbacks side by side; four posting threads made the
                    # emulator's own queue the bottleneck (a minute behind under load).
                    threads=CALLBACK_THREADS,
                )
            )
        stack.callback(emulator.disable_callbacks)
        web = start_web(env, web_port, here, template.token)
        stack.callback(_stop_pid_group, web.pid)
        workers = start_workers(env, here)
        for worker in workers:
            stack.callback(stop_process, worker)
        running = Running(postgres, redis_server, workers, emulator)
        first_send: float | None = None
        running.announcement_id = int(web.post("/api/announcements", ANNOUNCEMENT)["id"])
        log(f"{fault}: announcement {running.announcement_id} posted")
        while send_count(emulator) < timings.fault_after:
            state, active = progress(postgres.url, running.announcement_id)
            if state in ("sending", "done") and active == 0:
                break
            time.sleep(0.1)
        seen = sends(emulator)
        row.sends_at_fault = len(seen)
        row.fault_at = time.time()
        if seen:
            first_send = seen[0][1]
            row.rate_before = len(seen) / max(row.fault_at - first_send, 0.001)
        log(f"{fault}: injecting after {row.sends_at_fault} sends")
        row.cleared_at = inject(fault, running, timings)
        sent_at_clear = {d for d, at in sends(emulator) if at <= row.cleared_at}
        row.ended = wait_finished(running, timings)
        emulator.wait_for_callbacks(30)
        row.report = report_figures(
            get_json(web, f"/api/announcements/{running.announcement_id}/report")
        )
        states = delivery_states(postgres.url, running.announcement_id)
        row.killed_held = len(running.killed_held)
        _count(row, states, sends(emulator), running, sent_at_clear)
        row.callbacks = dict(
            Counter(
                "ok" if a.succeeded else str(a.status or a.error)
                for a in emulator.callback_attempts()
            )
        )
    row.run_seconds = time.monotonic() - started
    shutil.rmtree(here / "pg", ignore_errors=True)
    return row


def _stop_pid_group(pid: int) -> None:
    """SIGTERM the process group ``pid`` leads, then SIGKILL if still there after 10 s."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _count(
    row: Row,
    states: dict[int, str],
    seen: list[tuple[str, float]],
    running: Running,
    sent_at_clear: set[str],
) -> None:
    per_delivery = Counter(d for d, _ in seen)
    row.planned = len(states)
    row.states = dict(Counter(states.values()))
    row.sent_once = sum(1 for i in states if per_delivery[str(i)] == 1)
    row.sent_twice = sum(1 for i in states if per_delivery[str(i)] >= 2)
    twice = {str(i) for i in states if per_delivery[str(i)] >= 2}
    row.twice_requests, row.push_shown_once = repeats(running.emulator, twice)
    row.never_sent = sum(1 for i in states if per_delivery[str(i)] == 0)
    after = [at for _, at in seen if at > row.cleared_at]
    row.clear_to_last_send = (max(after) - row.cleared_at) if after else None
    remaining = len({str(i) for i in states} - sent_at_clear)
    if row.rate_before > 0:
        row.allowed_seconds = SERVICE_RETURN_SECONDS + remaining / row.rate_before
    if running.killed_held:
        waits: list[float] = []
        for delivery in running.killed_held:
            if any(d == str(delivery) and at <= row.cleared_at for d, at in seen):
                continue  # its request was in flight and went: it needs no resend
            later = [at for d, at in seen if d == str(delivery) and at > row.cleared_at]
            waits.append(min(later) - row.cleared_at if later else float("inf"))
        row.killed_held = len(waits)
        row.killed_resend_seconds = max(waits) if waits else 0.0


# --- verdicts and the table ------------------------------------------------------------------


def judge(row: Row) -> None:
    """PASS or MISS against the row's targets, with the reasons it missed."""
    why = row.why
    if row.fault.startswith("worker-kill"):
        if row.never_sent:
            why.append(f"{row.never_sent} never sent")
        if row.twice_requests > LANES * THREADS:
            why.append(f"{row.twice_requests} requests repeated > {LANES * THREADS} threads")
        resend = row.killed_resend_seconds
        if resend is not None and resend > KILLED_RESEND_SECONDS:
            shown = "never" if resend == float("inf") else f"after {resend:.0f} s"
            why.append(f"held deliveries re-sent {shown} (> {KILLED_RESEND_SECONDS:g} s)")
    else:
        if row.sent_twice - row.push_shown_once:
            why.append(f"{row.sent_twice - row.push_shown_once} twice")
        if row.never_sent:
            why.append(f"{row.never_sent} never sent")
    if row.fault in ("postgres-stop", "redis-flushall", "redis-restart"):
        last, allowed = row.clear_to_last_send, row.allowed_seconds
        if last is not None and allowed is not None and last > allowed:
            why.append(f"last send {last:.0f} s after it returned (> {allowed:.0f} s)")
    if row.sends_at_fault >= row.planned and row.fault != "none":
        why.append("the fault came after the last send")
    row.verdict = "MISS" if why else "PASS"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return "never" if value == float("inf") else f"{value:.1f}"


def print_table(rows: list[Row], header: str) -> None:
    """The figures as a rich table, then each row's notes."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=header, show_lines=False)
    for name, justify in (
        ("fault mid-announcement", "left"),
        ("planned", "right"),
        ("sent once", "right"),
        ("twice (requests; push shown once)", "right"),
        ("never", "right"),
        ("s clear→last send", "right"),
        ("report: sent / delivered / twice?", "left"),
        ("target", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        report = row.report
        twice_keys = [k for k in report if k not in ("sent", "delivered", "pending", "failed")]
        said = (
            report["error"]
            if "error" in report
            else f"{report['sent']:,} / {report['delivered']:,} / "
            + (", ".join(f"{k}={report[k]}" for k in twice_keys) or "no such field")
        )
        table.add_row(
            row.description,
            f"{row.planned:,}",
            f"{row.sent_once:,}",
            f"{row.sent_twice:,} ({row.twice_requests:,}; {row.push_shown_once:,})",
            f"{row.never_sent:,}",
            _seconds(row.clear_to_last_send),
            said,
            row.verdict + (": " + "; ".join(row.why) if row.why else ""),
        )
    console = Console(width=200)
    console.print(table)
    for row in rows:
        extra = (
            f", held by the killed worker {row.killed_held}, longest wait for their resend "
            f"{_seconds(row.killed_resend_seconds)} s"
            if row.fault.startswith("worker-kill")
            else ""
        )
        allowed = f" (allowed {row.allowed_seconds:.0f} s)" if row.allowed_seconds else ""
        console.print(
            f"{row.fault}: injected after {row.sends_at_fault:,} sends "
            f"({row.rate_before:.0f}/s before it){extra}; clear→last send "
            f"{_seconds(row.clear_to_last_send)} s{allowed}; ended {row.ended}; final states "
            + ", ".join(f"{k} {v}" for k, v in sorted(row.states.items()))
            + f"; callback answers {row.callbacks or 'none'}; run {row.run_seconds:.0f} s",
            highlight=False,
        )


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--students", type=int, default=None, help=f"default {DEFAULT_STUDENTS}")
    parser.add_argument(
        "--only", action="append", choices=FAULTS, help="run only this fault (repeatable)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 300 students, the fault after 150 sends, faults of 5 s",
    )
    parser.add_argument("--fault-after", type=int, default=None, help="sends before the fault")
    parser.add_argument("--stall", type=float, default=DEFAULT_STALL_SECONDS)
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


@contextmanager
def running_emulator() -> Iterator[ProviderEmulator]:
    """The provider emulator of this process, stopped afterwards."""
    from emulator import ProviderEmulator

    emulator = ProviderEmulator(latency=LATENCY_SECONDS).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def main(argv: list[str]) -> int:
    """Run the table (or ``--only`` some faults) and print it."""
    args = parse_args(argv)
    timings = Timings(stall=args.stall)
    students = args.students or DEFAULT_STUDENTS
    if args.quick:
        students = args.students or 300
        timings.postgres_down = timings.storm = 5.0
        timings.fault_after = 150
    if args.fault_after is not None:
        timings.fault_after = args.fault_after
    faults = [f for f in FAULTS if not args.only or f in args.only]
    bench_started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="dispatcher-bench-faults-"))
    os.chmod(workdir, 0o755)  # the postgres user reaches its data directories
    rows: list[Row] = []
    header = ""
    try:
        with running_emulator() as emulator:
            providers = provider_environment(emulator, workdir / "emulator-service-account.json")
            log(f"template: {students:,} students (demo-data, roster import; not measured)")
            template = build_template(
                workdir, students, providers, emulator.sendgrid_webhook_public_key
            )
            header = (
                f"Faults: {students:,} students ({template.contacts:,} contacts), "
                f"{WORKERS} workers x {THREADS} threads, {template.version}, emulator "
                f"{LATENCY_SECONDS * 1000:.0f} ms, fault after ~{timings.fault_after:,} sends; "
                f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
            )
            log(header)
            for fault in faults:
                row = run_fault(fault, template, workdir, emulator, providers, timings)
                judge(row)
                rows.append(row)
                log(
                    f"{fault}: planned {row.planned}, once {row.sent_once}, twice "
                    f"{row.sent_twice}, never {row.never_sent}, {row.verdict} "
                    f"({row.run_seconds:.0f} s)"
                )
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    total = time.monotonic() - bench_started
    print_table(rows, header + f"; bench {total:.0f} s")
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
