"""Benchmark: deliver an emergency closure through the whole pipeline, against the provider
emulator, and compare it with a bare loop over the same SDK adapters.

Printed figures, not a test. Four runs, each against a ``ProviderEmulator`` started in this
process (the real Twilio, SendGrid and FCM SDKs talk HTTP to it):

1. **Pipeline.** A fresh database with the ``demo`` school and a roster sized so that one
   ``emergency_closure`` to the whole school gives ~``--deliveries`` deliveries (SMS, email
   and the few app pushes the demo roster has). With ``dispatcher worker --processes P
   --threads T`` and ``dispatcher web`` already running (as in production), the office's
   preview (``POST /api/announcements?dry_run=true``, not timed), then timed from the
   ``POST /api/announcements`` that sends to the last delivery sent (plan and every send
   included). ``--trigger cli`` times ``dispatcher announce ... --yes`` instead, the start
   of a Python process included. The emulator must have
   accepted exactly one message per delivery, no duplicates.
2. **Bare loop.** The same messages (rendered from the same templates with the same
   context, to the same addresses) sent by P processes with a pool of T threads each, calling
   the same adapters' ``send()`` (``TwilioSmsAdapter``, ``SendGridEmailAdapter``,
   ``FcmPushAdapter``) against the same emulator, one request per message. Target:
   pipeline >= 80% of this rate. The pipeline's emails share SendGrid requests (each
   family's names as substitutions), so the bare loop runs a second time with its emails
   sharing requests the same way (``send_batch`` on runs of ``DISPATCHER_EMAIL_BATCH_SIZE``
   emails, as planning queues them): that ratio is the dispatcher's own cost, printed, not
   judged.
   Runs 1 and 2 alternate for ``--rounds`` rounds (5), each round a new announcement to
   the same school: the machine's speed drifts (it is shared), so each round's ratio
   compares two runs seconds apart and the median round is reported and judged.
3. **At a provider's pace.** Runs 1 and 2 again with ``--latency-deliveries`` and the
   emulator answering after 50 ms, as a provider does (theirs take longer): both loops wait
   on the network rather than on the two cores, which is how the dispatcher runs in
   production. Printed as context for the target, not judged.
4. **Rate-limited.** A fresh database and announcement of ``--limited-deliveries``, the
   emulator answering after 200 ms, ``TWILIO/SENDGRID/FCM_RATE_PER_SECOND=50``: the most
   requests the emulator saw in any one (sliding) second per provider (must be <= 50) and the
   time to the last delivery.

    .venv/bin/python bench/deliver.py                      # defaults: 10,000 deliveries, PostgreSQL
    .venv/bin/python bench/deliver.py --deliveries 1000 --limited-deliveries 300 \
        --latency-deliveries 0                              # quick trial
    .venv/bin/python bench/deliver.py --database sqlite --threads 32 --json

Also printed, to show where the time goes: the announce command, the plan, when the
announcement was stored, its first deliveries planned, claimed and sent, and its last sent
(from the database's timestamps); the CPU seconds of the dispatcher processes, of the
emulator (this process), of PostgreSQL's and Redis's server processes and of the rest of the
machine, from ``getrusage``, ``/proc/<pid>/stat`` and ``/proc/stat``; and on PostgreSQL the
transactions committed and sessions opened (``pg_stat_database``). Setting
``DISPATCHER_DELIVERY_BATCH_SIZE``, ``DISPATCHER_EMAIL_BATCH_SIZE`` or
``DISPATCHER_PLAN_BATCH_SIZE`` tries another batch size.

Needs nothing running: PostgreSQL at ``--postgres-url`` if there is one (the bench creates
and drops the database ``dispatcher_bench_deliver``; SQLite otherwise), a private embedded
Redis (or ``--redis-url``, which it FLUSHES). Exit status 1 when a target or check is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.queues import Queue as MPQueue
    from multiprocessing.synchronize import Event as MPEvent

    from dispatcher.channels.base import OutgoingMessage
    from emulator import ProviderEmulator

from postgres_admin import admin_execute, postgres_problem  # bench/ is on sys.path

from dispatcher.settings import Settings
from emulator.cli import provider_environment

REPO = Path(__file__).resolve().parents[1]
SCHOOL = "demo"
CATEGORY = "emergency_closure"
VARIABLES = {"date": "Tuesday 24 November", "reason": "heavy snow"}
SEED = 20_241_124
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
BENCH_DATABASE = "dispatcher_bench_deliver"
PROVIDERS = ("twilio", "sendgrid", "fcm")
PUBLIC_BASE_URL = "https://dispatcher.bench.invalid"

#: Deliveries an emergency closure to the whole demo school makes per student, to size the
#: roster for ``--deliveries``. Measured with this seed: 595 students give 1,474 deliveries
#: (2.48), 4,000 give 10,201 (2.55: 1.47 contacts per student, siblings sharing parents, and
#: 1.77 deliveries per contact, most getting an SMS or push plus the email back-up).
DELIVERIES_PER_STUDENT = 2.55

#: Emails per queue message unless ``DISPATCHER_EMAIL_BATCH_SIZE`` says otherwise.
EMAIL_BATCH_SIZE: int = Settings.model_fields["email_batch_size"].default

DEFAULT_DELIVERIES = 10_000
DEFAULT_ROUNDS = 5
DEFAULT_LIMITED_DELIVERIES = 2_000
DEFAULT_LATENCY_DELIVERIES = 5_000
#: The emulator's answer time in the run at a provider's pace (Twilio and SendGrid take
#: 100-300 ms in production; this is kinder to the bare loop and still I/O-bound).
PROVIDER_LATENCY_SECONDS = 0.05
DEFAULT_PROCESSES = 2
DEFAULT_THREADS = 16
LIMITED_LATENCY_SECONDS = 0.2
RATE_LIMIT_PER_SECOND = 50
TARGET_RATIO = 0.80
#: Longest a worker run may take before the bench gives up on it.
WORKER_TIMEOUT_SECONDS = 900

#: Variables of the caller's environment never passed on (credentials, other settings).
_STRIPPED_PREFIXES = ("TWILIO_", "SENDGRID_", "FCM_", "DISPATCHER_")
_STRIPPED = ("DATABASE_URL", "REDIS_URL")
#: Settings a trial may set in the caller's environment (they are passed on).
_PASSED_ON = (
    "DISPATCHER_DELIVERY_BATCH_SIZE",
    "DISPATCHER_EMAIL_BATCH_SIZE",
    "DISPATCHER_PLAN_BATCH_SIZE",
)


def _log_to(stream_is_stderr: bool) -> Callable[[str], None]:
    def log(message: str) -> None:
        print(message, file=sys.stderr if stream_is_stderr else sys.stdout, flush=True)

    return log


# --- databases and Redis ---------------------------------------------------------------------


def _drop_postgres(server_url: str) -> None:
    admin_execute(server_url, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')


def fresh_database(kind: str, workdir: Path, postgres_url: str, label: str) -> str:
    """A new, empty database at the newest schema; returns its URL."""
    from dispatcher.store.engine import upgrade_database

    if kind == "sqlite":
        path = workdir / f"{label}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        _drop_postgres(postgres_url)
        admin_execute(postgres_url, f'CREATE DATABASE "{BENCH_DATABASE}"')
        url = f"{postgres_url.rstrip('/')}/{BENCH_DATABASE}"
    upgrade_database(url)
    return url


@contextmanager
def private_redis(workdir: Path, redis_url: str | None) -> Iterator[str]:
    """``redis_url``, or an embedded Redis of the bench's own, stopped afterwards."""
    if redis_url:
        yield redis_url
        return
    from dispatcher.queue.embedded_redis import ensure_embedded_redis, stop_embedded_redis

    home = workdir / "redis-home"
    url = ensure_embedded_redis(home)
    try:
        yield url
    finally:
        stop_embedded_redis(home)


def flush_redis(redis_url: str) -> None:
    """Empty the bench's Redis database (queues, in-flight markers, rate-limit buckets)."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()


def server_versions(redis_url: str, database_url: str) -> str:
    """Versions of the Redis and database servers the bench talks to."""
    import sqlite3

    import redis
    from sqlalchemy import create_engine, text

    info = redis.Redis.from_url(redis_url).info("server")
    parts = [f"Redis {info.get('redis_version', '?')}"]
    if database_url.startswith("postgresql"):
        engine = create_engine(database_url)
        with engine.connect() as connection:
            parts.append(f"PostgreSQL {connection.execute(text('SHOW server_version')).scalar()}")
        engine.dispose()
    else:
        parts.append(f"SQLite {sqlite3.sqlite_version}")
    return ", ".join(parts)


# --- where the CPU went ---------------------------------------------------------------------


def _machine_cpu() -> tuple[float, float]:
    """(busy, iowait) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
    except OSError:
        return 0.0, 0.0
    user, nice, system, _idle, iowait, irq, softirq, steal = values
    ticks = float(os.sysconf("SC_CLK_TCK"))
    return (user + nice + system + irq + softirq + steal) / ticks, iowait / ticks


@dataclass
class CpuUsage:
    """CPU seconds spent during one timed run, by whom (both cores together)."""

    wall_seconds: float = 0.0
    machine_busy: float = 0.0
    machine_iowait: float = 0.0
    #: The dispatcher processes (announce and workers), or the bare loop's processes.
    dispatcher: float = 0.0
    #: This process: the emulator's threads (the bench itself only waits).
    emulator: float = 0.0
    #: PostgreSQL's server processes and the Redis server (all of them on the machine).
    postgres: float = 0.0
    redis: float = 0.0
    #: The rest of the machine: the kernel, anything else running.
    other: float = 0.0


def _servers_cpu() -> dict[str, float]:
    """CPU seconds used so far by the machine's PostgreSQL and Redis server processes (by
    their process names in /proc; a server process that exited meanwhile is not counted)."""
    names = {"postgres": "postgres", "redis-server": "redis"}
    totals = dict.fromkeys(names.values(), 0.0)
    ticks = float(os.sysconf("SC_CLK_TCK"))
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            _pid, _, rest = (entry / "stat").read_text().partition(" (")
            name, _, fields = rest.rpartition(") ")
        except OSError:
            continue
        server = names.get(name)
        if server is not None:
            values = fields.split()
            totals[server] += (int(values[11]) + int(values[12])) / ticks  # utime + stime
    return totals


class CpuMeter:
    """Measures ``CpuUsage`` from its creation to ``stop``."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._busy, self._iowait = _machine_cpu()
        self._servers = _servers_cpu()
        self._self = self._own()
        self._children = self._waited_children()
        self.children_at_start = self._children

    @staticmethod
    def _own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    @staticmethod
    def _waited_children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def stop(self, dispatcher_seconds: float | None = None) -> CpuUsage:
        """The usage so far; ``dispatcher_seconds`` replaces the CPU of waited-for children
        (for processes that report their own)."""
        busy, iowait = _machine_cpu()
        usage = CpuUsage(
            wall_seconds=time.perf_counter() - self._wall,
            machine_busy=busy - self._busy,
            machine_iowait=iowait - self._iowait,
            dispatcher=(
                self._waited_children() - self._children
                if dispatcher_seconds is None
                else dispatcher_seconds
            ),
            emulator=self._own() - self._self,
        )
        servers = _servers_cpu()
        usage.postgres = max(0.0, servers["postgres"] - self._servers["postgres"])
        usage.redis = max(0.0, servers["redis"] - self._servers["redis"])
        usage.other = max(
            0.0,
            usage.machine_busy - usage.dispatcher - usage.emulator - usage.postgres - usage.redis,
        )
        return usage


def postgres_counters(database_url: str) -> dict[str, int]:
    """``sessions`` and ``xact_commit`` of the bench database (PostgreSQL only, else {})."""
    if not database_url.startswith("postgresql"):
        return {}
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT sessions, xact_commit FROM pg_stat_database "
                    "WHERE datname = current_database()"
                )
            ).one()
    finally:
        engine.dispose()
    return {"sessions": int(row.sessions), "commits": int(row.xact_commit)}


# --- environment and the dispatcher command ----------------------------------------------------


def bench_env(
    workdir: Path, database_url: str, redis_url: str, providers: dict[str, str]
) -> dict[str, str]:
    """The environment of every dispatcher process the bench starts."""
    env = {
        key: value
        for key, value in os.environ.items()
        if (not key.startswith(_STRIPPED_PREFIXES) and key not in _STRIPPED) or key in _PASSED_ON
    }
    env.update(providers)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DISPATCHER_DATA_DIR": str(workdir / "data"),
            "DISPATCHER_CONFIG_DIR": str(REPO / "config"),
            "DISPATCHER_TEMPLATES_DIR": str(REPO / "templates"),
            # Twilio sends then carry the delivery id in their StatusCallback URL (as in
            # production), so the bench can count sends per delivery; nothing calls it.
            "DISPATCHER_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        }
    )
    return env


def dispatcher(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``dispatcher ARGS`` (exit 0 or 1 accepted: roster import exits 1 on bad rows)."""
    result = subprocess.run(
        [sys.executable, "-m", "dispatcher", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode not in (0, 1):
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"dispatcher {' '.join(args[:2])} failed with {result.returncode}")
    return result


# --- roster (setup, not measured) -------------------------------------------------------------


@dataclass
class Roster:
    """What the roster import put in the database."""

    students: int
    contacts: int
    rows: int
    imported: int
    seconds: float


def load_roster(env: dict[str, str], workdir: Path, deliveries: int, label: str) -> Roster:
    """``dispatcher demo-data`` and ``dispatcher roster import`` for about ``deliveries``."""
    students = max(10, round(deliveries / DELIVERIES_PER_STUDENT))
    path = workdir / f"roster-{label}.csv"
    started = time.perf_counter()
    written = json.loads(
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
            str(path),
            "--json",
        ).stdout
    )
    imported = json.loads(
        dispatcher(env, "roster", "import", str(path), "--school", SCHOOL, "--json").stdout
    )
    return Roster(
        students=int(written["students"]),
        contacts=int(written["contacts"]),
        rows=int(written["rows"]),
        imported=int(imported["imported"]),
        seconds=time.perf_counter() - started,
    )


def sends_per_delivery(emulator: ProviderEmulator) -> dict[str, Counter[str]]:
    """How many accepted sends each delivery id got, per provider (a SendGrid request with
    several personalizations counts once for each of its deliveries)."""
    return {provider: Counter(emulator.accepted_delivery_ids(provider)) for provider in PROVIDERS}


@dataclass
class EmulatorCounts:
    """What the emulator accepted, per provider."""

    accepted: dict[str, int] = field(default_factory=dict)
    #: Sends beyond the first for one delivery id (must be 0).
    duplicate_sends: dict[str, int] = field(default_factory=dict)
    #: Distinct delivery ids the emulator accepted a send for, all providers.
    deliveries_reached: int = 0
    #: The emulator's own ``duplicates``: the same (recipient, content) accepted twice. Not 0
    #: for the demo roster: its mobiles come from the 1,000-number drama range, so different
    #: contacts share a number, and the SMS text names no one. Equal for pipeline and loop.
    same_recipient_and_content: dict[str, int] = field(default_factory=dict)
    max_requests_in_any_second: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)


def emulator_counts(emulator: ProviderEmulator) -> EmulatorCounts:
    """Count what the emulator accepted since its last reset."""
    result = EmulatorCounts()
    stats = emulator.stats()
    per_delivery = sends_per_delivery(emulator)
    reached: set[str] = set()
    for provider in PROVIDERS:
        result.accepted[provider] = sum(per_delivery[provider].values())
        result.duplicate_sends[provider] = sum(
            n - 1 for n in per_delivery[provider].values() if n > 1
        )
        reached.update(per_delivery[provider])
        result.same_recipient_and_content[provider] = int(stats["duplicates"].get(provider, 0))
        result.max_requests_in_any_second[provider] = emulator.max_requests_in_any_second(provider)
        result.requests[provider] = int(stats["requests"].get(provider, 0))
    result.deliveries_reached = len(reached)
    return result


# --- one pipeline run -----------------------------------------------------------------------


@dataclass
class PipelineRun:
    """One announcement through ``dispatcher announce`` and the workers."""

    announcement_id: int = 0
    deliveries: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rate: float = 0.0
    announce_seconds: float = 0.0
    plan_seconds: float = 0.0
    #: Seconds after the announce command started: the announcement row, the first
    #: delivery rows (the plan's first batch), the first claim.
    stored_after: float = 0.0
    first_planned_after: float = 0.0
    first_claim_after: float = 0.0
    first_send_after: float = 0.0
    last_send_after: float = 0.0
    send_phase_seconds: float = 0.0
    send_phase_rate: float = 0.0
    worker_exit_code: int = 0
    retried_deliveries: int = 0
    rate_limited_retries: int = 0
    emulator: EmulatorCounts = field(default_factory=EmulatorCounts)
    cpu: CpuUsage = field(default_factory=CpuUsage)
    #: PostgreSQL only: sessions opened and transactions committed during the run.
    database_sessions: int = 0
    database_commits: int = 0


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """End the process we started and its children (they share its session): SIGTERM, and
    SIGKILL after a minute (a worker gives each lane's threads 30 s to finish)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(65)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def _start_workers(
    env: dict[str, str], processes: int, threads: int, worker_log: Path
) -> subprocess.Popen[bytes]:
    """Start ``dispatcher worker`` and return once every process is consuming (as in
    production, where workers are running before the office presses send): each process's
    broker has then written its heartbeat to Redis."""
    import redis

    started_ms = time.time() * 1000
    with worker_log.open("wb") as stderr:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dispatcher",
                "worker",
                "--processes",
                str(processes),
                "--threads",
                str(threads),
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    client = redis.Redis.from_url(env["REDIS_URL"])
    deadline = time.monotonic() + 120
    try:
        while len(client.zrangebyscore("dramatiq:__heartbeats__", started_ms, "+inf")) < processes:
            if worker.poll() is not None or time.monotonic() > deadline:
                _kill_group(worker)
                raise SystemExit("the workers did not start:\n" + worker_log.read_text()[-3000:])
            time.sleep(0.2)
    finally:
        client.close()
    return worker


def _wait_until_sent(database_url: str, announcement_id: int) -> None:
    """Return once the announcement is planned and none of its deliveries is still to send."""
    from sqlalchemy import func, select

    from dispatcher.domain import ACTIVE_STATES
    from dispatcher.store.engine import make_engine
    from dispatcher.store.models import Announcement, Delivery

    engine = make_engine(database_url)
    deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
    try:
        while time.monotonic() < deadline:
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
            if state in ("sending", "done") and active == 0:
                return
            # The run is timed by the database's timestamps, not by this loop: polling
            # gently keeps the bench's own share of the two cores small.
            time.sleep(0.5)
    finally:
        engine.dispose()
    raise SystemExit(f"the workers did not finish within {WORKER_TIMEOUT_SECONDS} s")


@contextmanager
def web_service(env: dict[str, str], workdir: Path, label: str) -> Iterator[WebService]:
    """``dispatcher web`` running (as in production, where it is up before the office
    sends), with an API token for a senior leader of the demo school (urgent categories
    need one)."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    created = dispatcher(
        env, "tokens", "create", "--name", f"bench-{label}", "--role", "senior",
        "--school", SCHOOL, "--json",
    )  # fmt: skip
    if created.returncode != 0:
        raise SystemExit("dispatcher tokens create failed:\n" + created.stderr[-2000:])
    token = str(json.loads(created.stdout)["token"])
    log_path = workdir / f"web-{label}.log"
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
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if web.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("dispatcher web did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        yield WebService(url, token, web.pid)
    finally:
        _kill_group(web)


@dataclass(frozen=True)
class WebService:
    """A running ``dispatcher web``: its address, a senior token, its process id."""

    url: str
    token: str
    pid: int

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` as JSON with the token; the JSON answer (any error: SystemExit)."""
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as answer:
                answered: dict[str, Any] = json.loads(answer.read())
                return answered
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"POST {path}: {exc.code} {exc.read()[:2000]!r}") from None


ANNOUNCEMENT = {
    "school": SCHOOL,
    "category": CATEGORY,
    "audience": ["school"],
    "variables": VARIABLES,
}


def _announce_by_cli(env: dict[str, str]) -> int:
    announced = dispatcher(
        env,
        "announce",
        "--school",
        SCHOOL,
        "--category",
        CATEGORY,
        "--audience",
        "school",
        *(part for key, value in VARIABLES.items() for part in ("--var", f"{key}={value}")),
        "--as",
        "bench",  # urgent categories name who sends (decision 0076)
        "--yes",
        "--json",
    )
    if announced.returncode != 0:
        sys.stderr.write(announced.stderr[-4000:])
        raise SystemExit("dispatcher announce failed")
    return int(json.loads(announced.stdout)["announcement_id"])


def run_pipeline(
    env: dict[str, str],
    workdir: Path,
    emulator: ProviderEmulator,
    processes: int,
    threads: int,
    label: str,
    log: Callable[[str], None],
    trigger: str = "api",
) -> PipelineRun:
    """With the workers (and, for ``trigger="api"``, the web service) running, announce to
    the whole school; time it from the request (the API's POST, or the ``announce``
    command) to the last message sent, and check it."""
    with ExitStack() as stack:
        web = stack.enter_context(web_service(env, workdir, label)) if trigger == "api" else None
        if web is not None:
            # The office previews before sending: the dry run is not timed.
            web.post("/api/announcements?dry_run=true", ANNOUNCEMENT)
        return _timed_pipeline(env, workdir, emulator, processes, threads, label, log, web)


def _timed_pipeline(
    env: dict[str, str],
    workdir: Path,
    emulator: ProviderEmulator,
    processes: int,
    threads: int,
    label: str,
    log: Callable[[str], None],
    web: WebService | None,
) -> PipelineRun:
    run = PipelineRun()
    worker_log = workdir / f"worker-{label}.log"
    worker = _start_workers(env, processes, threads, worker_log)
    try:
        before = postgres_counters(env["DATABASE_URL"])
        meter = CpuMeter()
        group_before = _group_cpu_seconds(worker.pid) or 0.0
        web_before = (_group_cpu_seconds(web.pid) or 0.0) if web else 0.0
        started_wall = time.time()
        started = time.perf_counter()
        if web is not None:
            run.announcement_id = int(web.post("/api/announcements", ANNOUNCEMENT)["id"])
        else:
            run.announcement_id = _announce_by_cli(env)
        run.announce_seconds = time.perf_counter() - started
        _wait_until_sent(env["DATABASE_URL"], run.announcement_id)
        workers_cpu = (_group_cpu_seconds(worker.pid) or 0.0) - group_before
        web_cpu = ((_group_cpu_seconds(web.pid) or 0.0) - web_before) if web else 0.0
        announce_cpu = CpuMeter._waited_children() - meter.children_at_start
        run.cpu = meter.stop(dispatcher_seconds=workers_cpu + web_cpu + announce_cpu)
    finally:
        _kill_group(worker)
        run.worker_exit_code = worker.returncode or 0
    if run.worker_exit_code != 0:
        log(f"{label}: the workers exited with code {run.worker_exit_code} when stopped")
        log(worker_log.read_text(errors="replace")[-3000:])
    _read_database(run, env["DATABASE_URL"], started_wall)
    run.seconds = run.last_send_after
    run.rate = run.deliveries / run.seconds if run.seconds else 0.0
    run.emulator = emulator_counts(emulator)
    if before:
        time.sleep(1.0)  # backends report their statistics when they exit
        after = postgres_counters(env["DATABASE_URL"])
        run.database_sessions = after["sessions"] - before["sessions"] - 1
        run.database_commits = after["commits"] - before["commits"]
    return run


def _group_cpu_seconds(leader_pid: int) -> float | None:
    """CPU seconds used so far by the process group led by ``leader_pid`` (from /proc)."""
    total_ticks = 0
    try:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == leader_pid:  # pgrp
                total_ticks += int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return None
    return total_ticks / os.sysconf("SC_CLK_TCK")


def _seconds_after(moment: datetime | None, started_wall: float) -> float:
    from dispatcher.store.deliveries import as_utc

    return as_utc(moment).timestamp() - started_wall if moment is not None else 0.0


def _read_database(run: PipelineRun, database_url: str, started_wall: float) -> None:
    """Fill in what the database says about the run's announcement."""
    from sqlalchemy import func, select

    from dispatcher.store.engine import make_engine
    from dispatcher.store.models import Announcement, Delivery, DeliveryEvent

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            announcement = connection.execute(
                select(Announcement.created_at, Announcement.planned_at).where(
                    Announcement.id == run.announcement_id
                )
            ).one()
            mine = Delivery.announcement_id == run.announcement_id
            for channel, state, count in connection.execute(
                select(Delivery.channel, Delivery.state, func.count())
                .where(mine)
                .group_by(Delivery.channel, Delivery.state)
            ):
                run.by_channel[channel] = run.by_channel.get(channel, 0) + int(count)
                run.states[state] = run.states.get(state, 0) + int(count)
            run.deliveries = sum(run.by_channel.values())
            first_planned, first_claim, first_sent, last_sent = connection.execute(
                select(
                    func.min(Delivery.created_at),
                    func.min(Delivery.claimed_at),
                    func.min(Delivery.sent_at),
                    func.max(Delivery.sent_at),
                ).where(mine)
            ).one()
            run.retried_deliveries = int(
                connection.scalar(
                    select(func.count()).select_from(Delivery).where(mine, Delivery.attempts > 1)
                )
                or 0
            )
            run.rate_limited_retries = int(
                connection.scalar(
                    select(func.count())
                    .select_from(DeliveryEvent)
                    .join(Delivery, Delivery.id == DeliveryEvent.delivery_id)
                    .where(mine, DeliveryEvent.code == "rate_limited")
                )
                or 0
            )
    finally:
        engine.dispose()
    created_at, planned_at = announcement
    if planned_at is not None:
        run.plan_seconds = _seconds_after(planned_at, 0) - _seconds_after(created_at, 0)
    run.stored_after = _seconds_after(created_at, started_wall)
    run.first_planned_after = _seconds_after(first_planned, started_wall)
    run.first_claim_after = _seconds_after(first_claim, started_wall)
    run.first_send_after = _seconds_after(first_sent, started_wall)
    run.last_send_after = _seconds_after(last_sent, started_wall)
    run.send_phase_seconds = run.last_send_after - _seconds_after(first_claim, started_wall)
    if run.send_phase_seconds > 0:
        run.send_phase_rate = run.deliveries / run.send_phase_seconds


# --- the bare loop --------------------------------------------------------------------------


def rendered_messages(database_url: str, announcement_id: int) -> list[OutgoingMessage]:
    """The announcement's messages as ``dispatcher.delivering.deliver`` builds them: the same
    templates, context (variables, school, contact's first name, students' first names) and
    addresses, in delivery order."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from dispatcher.channels.base import OutgoingMessage
    from dispatcher.config.configuration import load_configuration
    from dispatcher.domain import Channel, MessageFormat
    from dispatcher.rendering.templates import TemplateLibrary, school_context
    from dispatcher.store.engine import make_engine
    from dispatcher.store.models import (
        Announcement,
        Contact,
        Delivery,
        School,
        Student,
        StudentContact,
    )

    configuration = load_configuration(REPO / "config")
    templates = TemplateLibrary(REPO / "templates")
    engine = make_engine(database_url)
    messages: list[OutgoingMessage] = []
    try:
        with Session(engine) as session:
            announcement = session.get(Announcement, announcement_id)
            assert announcement is not None
            school_row = session.get(School, announcement.school_id)
            assert school_row is not None
            school = configuration.school(school_row.slug)
            category = configuration.policy.category(announcement.category)
            names: dict[int, list[str]] = {}
            for contact_id, first_name in session.execute(
                select(StudentContact.contact_id, Student.first_name)
                .join(Student, Student.id == StudentContact.student_id)
                .where(
                    StudentContact.no_contact.is_(False),
                    Student.school_id == announcement.school_id,
                    Student.active.is_(True),
                )
                .order_by(StudentContact.contact_id, Student.first_name)
            ):
                names.setdefault(contact_id, []).append(first_name)
            rows = session.execute(
                select(Delivery, Contact)
                .join(Contact, Contact.id == Delivery.contact_id)
                .where(Delivery.announcement_id == announcement_id)
                .order_by(Delivery.id)
            ).all()
            for delivery, contact in rows:
                channel = Channel(delivery.channel)
                if channel is Channel.SMS:
                    to = contact.phone_e164
                elif channel is Channel.EMAIL:
                    to = contact.email
                else:
                    to = contact.push_token
                assert to is not None, f"delivery {delivery.id} has no {channel.value} address"
                context = {
                    **announcement.variables,
                    "school": school_context(school),
                    "contact": {"first_name": contact.first_name},
                    "students": names.get(contact.id, []),
                }
                messages.append(
                    OutgoingMessage(
                        delivery_id=delivery.id,
                        announcement_id=announcement.id,
                        school_slug=school.slug,
                        category=category.name,
                        channel=channel,
                        to=to,
                        rendered=templates.render(
                            category.name,
                            channel,
                            delivery.language,
                            MessageFormat(delivery.format),
                            context,
                        ),
                        sender_id=school.sender_id,
                        from_email=school.from_email,
                        reply_to=school.reply_to,
                        personal=(contact.first_name, *names.get(contact.id, [])),
                    )
                )
    finally:
        engine.dispose()
    return messages


def send_units(messages: list[OutgoingMessage], share_every: int) -> list[list[OutgoingMessage]]:
    """What the bare loop sends together: each message alone, or (``share_every`` > 0) the
    emails in runs of ``share_every`` (``send_batch``), as planning queues an
    announcement's emails together in messages of that many ids."""
    if share_every <= 0:
        return [[message] for message in messages]
    emails = [m for m in messages if m.channel.value == "email"]
    units = [[m] for m in messages if m.channel.value != "email"]
    units.extend(emails[i : i + share_every] for i in range(0, len(emails), share_every))
    return units


def bare_child(
    units: list[list[OutgoingMessage]],
    threads: int,
    env: dict[str, str],
    ready: MPQueue[int],
    go: MPEvent,
    results: MPQueue[dict[str, Any]],
) -> None:
    """One bare-loop process: the adapters the runtime would build, a pool of ``threads``
    threads calling ``send()`` on each message once (``send_batch`` on a unit of several
    emails)."""
    os.environ.clear()
    os.environ.update(env)
    from concurrent.futures import ThreadPoolExecutor

    from dispatcher.channels.base import ChannelAdapter, ChannelError
    from dispatcher.channels.factory import unsubscribable_categories
    from dispatcher.channels.fcm_push import FcmPushAdapter
    from dispatcher.channels.sendgrid_email import SendGridEmailAdapter
    from dispatcher.channels.settings import load_provider_settings
    from dispatcher.channels.twilio_sms import TwilioSmsAdapter
    from dispatcher.config.configuration import load_configuration
    from dispatcher.domain import Channel

    settings = load_provider_settings()
    policy = load_configuration(Path(env["DISPATCHER_CONFIG_DIR"])).policy
    adapters: dict[Channel, ChannelAdapter] = {
        Channel.SMS: TwilioSmsAdapter.from_settings(settings),
        Channel.EMAIL: SendGridEmailAdapter.from_settings(
            settings,
            unsubscribable_categories=unsubscribable_categories(policy.categories.values()),
        ),
        Channel.PUSH: FcmPushAdapter.from_settings(settings),
    }

    def send(unit: list[OutgoingMessage]) -> list[str | None]:
        if len(unit) > 1:
            email = adapters[Channel.EMAIL]
            assert isinstance(email, SendGridEmailAdapter)
            answers = email.send_batch(unit)
            return [a.code if isinstance(a, ChannelError) else None for a in answers.values()]
        try:
            adapters[unit[0].channel].send(unit[0])
        except ChannelError as exc:
            return [exc.code]
        return [None]

    ready.put(os.getpid())
    go.wait()
    started = time.time()
    cpu = time.process_time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = [code for codes in pool.map(send, units) for code in codes]
    cpu = time.process_time() - cpu
    finished = time.time()
    errors = Counter(code for code in outcomes if code is not None)
    results.put(
        {
            "sent": len(outcomes) - sum(errors.values()),
            "errors": dict(errors),
            "started": started,
            "finished": finished,
            "cpu": cpu,
        }
    )


@dataclass
class BareRun:
    """The same messages from a plain loop over the adapters."""

    messages: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rate: float = 0.0
    emulator: EmulatorCounts = field(default_factory=EmulatorCounts)
    cpu: CpuUsage = field(default_factory=CpuUsage)


def run_bare_loop(
    messages: list[OutgoingMessage],
    env: dict[str, str],
    emulator: ProviderEmulator,
    processes: int,
    threads: int,
    share_every: int = 0,
) -> BareRun:
    """Send ``messages`` from ``processes`` processes of ``threads`` threads, one request
    each (``share_every``: emails sharing requests as ``send_units`` groups them); time
    from the moment every process is ready (adapters built) to the last answer."""
    run = BareRun(messages=len(messages))
    units = send_units(messages, share_every)
    run.by_channel = dict(Counter(m.channel.value for m in messages))
    context = multiprocessing.get_context("spawn")
    ready: MPQueue[int] = context.Queue()
    results: MPQueue[dict[str, Any]] = context.Queue()
    go = context.Event()
    children = [
        context.Process(
            target=bare_child,
            args=(units[index::processes], threads, env, ready, go, results),
            name=f"bare-loop-{index}",
        )
        for index in range(processes)
    ]
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=120)
        meter = CpuMeter()
        started = time.perf_counter()
        go.set()
        reports = [results.get(timeout=WORKER_TIMEOUT_SECONDS) for _ in children]
        run.seconds = time.perf_counter() - started
        run.cpu = meter.stop(sum(float(r["cpu"]) for r in reports))
    finally:
        for child in children:
            child.join(30)
            if child.is_alive():
                child.terminate()
                child.join(10)
    run.sent = sum(int(r["sent"]) for r in reports)
    errors: Counter[str] = Counter()
    for report in reports:
        errors.update(report["errors"])
    run.errors = dict(errors)
    run.rate = run.messages / run.seconds if run.seconds else 0.0
    run.emulator = emulator_counts(emulator)
    return run


# --- reporting ------------------------------------------------------------------------------


@dataclass
class Results:
    """Every figure the bench prints."""

    machine: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    roster: dict[str, Any] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)
    bare_loop: dict[str, Any] = field(default_factory=dict)
    #: Every round's pipeline and bare-loop seconds and their ratio; ``pipeline``,
    #: ``bare_loop`` and ``ratio`` are the median round's.
    rounds: list[dict[str, float]] = field(default_factory=list)
    ratio: float = 0.0
    #: The bare loop again, its emails sharing requests as the pipeline's do.
    bare_shared: dict[str, Any] = field(default_factory=dict)
    shared_ratio: float = 0.0
    send_phase_ratio: float = 0.0
    latency_pipeline: dict[str, Any] = field(default_factory=dict)
    latency_bare_loop: dict[str, Any] = field(default_factory=dict)
    latency_ratio: float = 0.0
    limited_roster: dict[str, Any] = field(default_factory=dict)
    limited: dict[str, Any] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)
    bench_seconds: float = 0.0


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _delivered_once(run: dict[str, Any], deliveries: int) -> bool:
    emu = run["emulator"]
    return bool(
        sum(emu["accepted"].values()) == deliveries
        and emu["deliveries_reached"] == deliveries
        and sum(emu["duplicate_sends"].values()) == 0
    )


def judge(results: Results) -> None:
    """Mark each figure against its target or check."""
    pipeline, bare, limited = results.pipeline, results.bare_loop, results.limited
    verdicts = results.verdicts
    verdicts["pipeline: every delivery sent"] = _mark(
        pipeline["states"].get("sent", 0) == pipeline["deliveries"]
        and pipeline["worker_exit_code"] == 0
    )
    verdicts["pipeline: emulator accepted each delivery once"] = _mark(
        _delivered_once(pipeline, pipeline["deliveries"])
    )
    verdicts["bare loop: emulator accepted each message once"] = _mark(
        bare["sent"] == bare["messages"] and _delivered_once(bare, bare["messages"])
    )
    verdicts[f"pipeline >= {TARGET_RATIO:.0%} of bare loop"] = _mark(results.ratio >= TARGET_RATIO)
    if limited:
        verdicts["rate-limited: every delivery sent once"] = _mark(
            limited["states"].get("sent", 0) == limited["deliveries"]
            and limited["worker_exit_code"] == 0
            and _delivered_once(limited, limited["deliveries"])
        )
        verdicts[f"rate-limited: at most {RATE_LIMIT_PER_SECOND} in any second"] = _mark(
            all(
                n <= RATE_LIMIT_PER_SECOND
                for n in limited["emulator"]["max_requests_in_any_second"].values()
            )
        )


def _channels(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items()))


def _emulator_line(emu: dict[str, Any]) -> str:
    return (
        f"emulator accepted {_channels(emu['accepted'])} = {sum(emu['accepted'].values()):,} "
        f"for {emu['deliveries_reached']:,} delivery ids; second sends of one delivery "
        f"{sum(emu['duplicate_sends'].values())}; same number/address and text "
        f"{sum(emu['same_recipient_and_content'].values())}"
    )


def _cpu_line(cpu: dict[str, Any], messages: int) -> str:
    per = 1000.0 / max(messages, 1)
    capacity = cpu["wall_seconds"] * (os.cpu_count() or 1)
    return (
        f"CPU s (ms per message): dispatcher {cpu['dispatcher']:.1f} "
        f"({cpu['dispatcher'] * per:.1f}), emulator {cpu['emulator']:.1f} "
        f"({cpu['emulator'] * per:.1f}), PostgreSQL {cpu['postgres']:.1f} "
        f"({cpu['postgres'] * per:.2f}), Redis {cpu['redis']:.1f} ({cpu['redis'] * per:.2f}), "
        f"rest of machine {cpu['other']:.1f} ({cpu['other'] * per:.2f}); machine busy "
        f"{cpu['machine_busy']:.0f} of {capacity:.0f} CPU s, iowait {cpu['machine_iowait']:.0f}"
    )


def print_report(results: Results) -> None:
    """The figures as text."""
    p, b, lim = results.pipeline, results.bare_loop, results.limited
    s = results.settings
    print()
    print(
        f"concurrency: {s['processes']} processes x {s['threads']} threads; "
        f"database {s['database']}; emulator latency 0"
    )
    print(
        f"roster: {results.roster['students']:,} students, {results.roster['contacts']:,} "
        f"contacts (import {results.roster['seconds']:.0f} s, not measured)"
    )
    print()
    print(f"{'':<36} {'messages':>9} {'seconds':>8} {'msg/s':>8}")
    print(
        f"{'pipeline (announce -> last send)':<36} {p['deliveries']:>9,} "
        f"{p['seconds']:>8.1f} {p['rate']:>8.0f}"
    )
    print(
        f"{'bare loop (same adapters)':<36} {b['messages']:>9,} "
        f"{b['seconds']:>8.1f} {b['rate']:>8.0f}"
    )
    print(
        f"ratio pipeline / bare loop: {results.ratio:.0%} (target >= {TARGET_RATIO:.0%}), "
        "the median of rounds "
        + ", ".join(
            f"{r['pipeline_seconds']:.1f}/{r['bare_seconds']:.1f} s = {r['ratio']:.0%}"
            for r in results.rounds
        )
    )
    bs = results.bare_shared
    if bs:
        print(
            f"{'bare loop, emails shared as above':<36} {bs['messages']:>9,} "
            f"{bs['seconds']:>8.1f} {bs['rate']:>8.0f}"
        )
        print(
            f"ratio pipeline / bare loop sharing emails the same way: {results.shared_ratio:.0%}"
            " (the dispatcher's own cost; not judged)"
        )
    print()
    print(f"pipeline: by channel {_channels(p['by_channel'])}; states {_channels(p['states'])}")
    print(
        f"  announce ({s['trigger']}) {p['announce_seconds']:.1f} s; plan (created -> planned) "
        f"{p['plan_seconds']:.1f} s; after the request: stored at "
        f"{p['stored_after']:.1f} s, first deliveries planned at "
        f"{p['first_planned_after']:.1f} s, first claimed at {p['first_claim_after']:.1f} s, "
        f"first sent at {p['first_send_after']:.1f} s, last sent at "
        f"{p['last_send_after']:.1f} s"
    )
    print(
        f"  send phase (first claim -> last send) {p['send_phase_seconds']:.1f} s = "
        f"{p['send_phase_rate']:.0f} msg/s, {results.send_phase_ratio:.0%} of the bare loop; "
        f"deliveries that needed a retry {p['retried_deliveries']}"
    )
    print("  " + _emulator_line(p["emulator"]))
    print("  " + _cpu_line(p["cpu"], p["deliveries"]))
    if p["database_commits"]:
        print(
            f"  PostgreSQL: {p['database_commits']:,} commits "
            f"({p['database_commits'] / max(p['deliveries'], 1):.1f} per delivery), "
            f"{p['database_sessions']:,} sessions opened"
        )
    print(f"bare loop: sent {b['sent']:,}, errors {b['errors'] or 'none'}")
    print("  " + _emulator_line(b["emulator"]))
    print("  " + _cpu_line(b["cpu"], b["messages"]))
    if bs:
        print(
            f"bare loop, emails shared: sent {bs['sent']:,}, errors {bs['errors'] or 'none'}, "
            f"SendGrid requests {bs['emulator']['requests'].get('sendgrid', 0):,} "
            f"(pipeline {p['emulator']['requests'].get('sendgrid', 0):,})"
        )
        print("  " + _cpu_line(bs["cpu"], bs["messages"]))
    lp, lb = results.latency_pipeline, results.latency_bare_loop
    if lp and lb:
        print()
        print(
            f"at a provider's pace (emulator latency {PROVIDER_LATENCY_SECONDS * 1000:.0f} ms):"
            f" pipeline {lp['deliveries']:,} in {lp['seconds']:.1f} s = {lp['rate']:.0f}/s, "
            f"bare loop {lb['messages']:,} in {lb['seconds']:.1f} s = {lb['rate']:.0f}/s, "
            f"ratio {results.latency_ratio:.0%}"
        )
        print("  pipeline " + _cpu_line(lp["cpu"], lp["deliveries"]))
        print("  bare loop " + _cpu_line(lb["cpu"], lb["messages"]))
    if lim:
        emu = lim["emulator"]
        print()
        print(
            f"rate-limited run: {lim['deliveries']:,} deliveries ({_channels(lim['by_channel'])})"
            f", emulator latency {LIMITED_LATENCY_SECONDS * 1000:.0f} ms, "
            f"*_RATE_PER_SECOND={RATE_LIMIT_PER_SECOND}"
        )
        print(
            "  most requests in any one second: "
            f"{_channels(emu['max_requests_in_any_second'])} (limit {RATE_LIMIT_PER_SECOND})"
        )
        print(
            f"  last delivery {lim['last_send_after']:.1f} s after the announce "
            f"(first at {lim['first_send_after']:.1f} s); workers exited at "
            f"{lim['seconds']:.1f} s; states {_channels(lim['states'])}"
        )
        print(
            f"  {_emulator_line(emu)}; requests {_channels(emu['requests'])}; "
            f"retries after 'rate_limited' {lim['rate_limited_retries']}"
        )
    print()
    print("verdicts:")
    for name, mark in results.verdicts.items():
        print(f"  {name}: {mark}")


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="postgresql",
        help="PostgreSQL (default; falls back to SQLite when unreachable) or SQLite",
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help=f"server URL without a database name; the bench creates and drops "
        f"{BENCH_DATABASE} there",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Redis to use (it is FLUSHED before each run); default: a private embedded Redis",
    )
    parser.add_argument(
        "--deliveries",
        type=int,
        default=DEFAULT_DELIVERIES,
        help="about how many deliveries the measured announcement makes",
    )
    parser.add_argument(
        "--limited-deliveries",
        type=int,
        default=DEFAULT_LIMITED_DELIVERIES,
        help="about how many deliveries the rate-limited run makes (0: skip it)",
    )
    parser.add_argument(
        "--latency-deliveries",
        type=int,
        default=DEFAULT_LATENCY_DELIVERIES,
        help="about how many deliveries the run at a provider's pace makes (0: skip it)",
    )
    parser.add_argument("--processes", type=int, default=DEFAULT_PROCESSES)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="per process")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help="pipeline and bare-loop pairs; the median ratio is judged",
    )
    parser.add_argument(
        "--trigger",
        choices=("api", "cli"),
        default="api",
        help="announce through the running web service's API (default) or the CLI command",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.deliveries < 20 or args.limited_deliveries < 0 or args.latency_deliveries < 0:
        parser.error(
            "--deliveries must be at least 20, --limited-deliveries and "
            "--latency-deliveries at least 0"
        )
    if args.processes < 1 or args.threads < 1:
        parser.error("--processes and --threads must be at least 1")
    return args


def main(argv: list[str]) -> int:
    """Run the bench."""
    args = parse_args(argv)
    log = _log_to(args.json)
    from emulator import ProviderEmulator

    results = Results()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    results.machine = {
        "cpus": cpus,
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    log(
        f"machine: {cpus} CPUs, Python {platform.python_version()}, load average "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    database = args.database
    if database == "postgresql":
        problem = postgres_problem(args.postgres_url)
        if problem:
            log(f"PostgreSQL at {args.postgres_url} is unreachable ({problem}); using SQLite")
            database = "sqlite"
    results.settings = {
        "database": database,
        "processes": args.processes,
        "threads": args.threads,
        "trigger": args.trigger,
        "rounds": args.rounds,
        "deliveries_asked": args.deliveries,
        "limited_deliveries_asked": args.limited_deliveries,
        "rate_limit_per_second": RATE_LIMIT_PER_SECOND,
        "limited_latency_seconds": LIMITED_LATENCY_SECONDS,
        "latency_deliveries_asked": args.latency_deliveries,
        "provider_latency_seconds": PROVIDER_LATENCY_SECONDS,
    }
    bench_started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="dispatcher-bench-deliver-"))
    emulator = ProviderEmulator().start()
    try:
        with private_redis(workdir, args.redis_url) as redis_url:
            providers = provider_environment(emulator, workdir / "emulator-service-account.json")

            # 1. the pipeline
            url = fresh_database(database, workdir, args.postgres_url, "main")
            env = bench_env(workdir, url, redis_url, providers)
            log("servers: " + server_versions(redis_url, url))
            log(f"loading a roster for ~{args.deliveries:,} deliveries (not measured)")
            results.roster = asdict(load_roster(env, workdir, args.deliveries, "main"))
            flush_redis(redis_url)
            emulator.reset()
            emulator.latency = 0.0
            # 1 and 2, in rounds: the pipeline, then the bare loop over its messages. The
            # machine's speed drifts (it is shared): the ratio of each round compares two
            # runs a few seconds apart, and the median round is reported.
            rounds: list[tuple[PipelineRun, BareRun]] = []
            messages: list[OutgoingMessage] = []
            for number in range(1, args.rounds + 1):
                flush_redis(redis_url)
                emulator.reset()
                log(
                    f"round {number}: pipeline, dispatcher worker --processes "
                    f"{args.processes} --threads {args.threads} running, then announce"
                )
                pipeline = run_pipeline(
                    env,
                    workdir,
                    emulator,
                    args.processes,
                    args.threads,
                    f"pipeline-{number}",
                    log,
                    args.trigger,
                )
                log(
                    f"  {pipeline.deliveries:,} deliveries in {pipeline.seconds:.1f} s = "
                    f"{pipeline.rate:.0f}/s"
                )
                messages = rendered_messages(url, pipeline.announcement_id)
                emulator.reset()
                log(f"round {number}: bare loop, {len(messages):,} messages")
                bare = run_bare_loop(messages, env, emulator, args.processes, args.threads)
                log(f"  {bare.messages:,} messages in {bare.seconds:.1f} s = {bare.rate:.0f}/s")
                rounds.append((pipeline, bare))
                results.rounds.append(
                    {
                        "pipeline_seconds": pipeline.seconds,
                        "bare_seconds": bare.seconds,
                        "ratio": pipeline.rate / bare.rate if bare.rate else 0.0,
                    }
                )
            by_ratio = sorted(range(len(rounds)), key=lambda i: results.rounds[i]["ratio"])
            pipeline, bare = rounds[by_ratio[len(by_ratio) // 2]]
            results.pipeline = asdict(pipeline)
            results.bare_loop = asdict(bare)
            results.ratio = pipeline.rate / bare.rate if bare.rate else 0.0
            results.send_phase_ratio = pipeline.send_phase_rate / bare.rate if bare.rate else 0.0
            emulator.reset()
            share_every = int(env.get("DISPATCHER_EMAIL_BATCH_SIZE", EMAIL_BATCH_SIZE))
            log(f"bare loop again, emails sharing requests {share_every} at a time")
            shared = run_bare_loop(
                messages, env, emulator, args.processes, args.threads, share_every
            )
            results.bare_shared = asdict(shared)
            results.shared_ratio = pipeline.rate / shared.rate if shared.rate else 0.0
            log(f"  {shared.messages:,} messages in {shared.seconds:.1f} s = {shared.rate:.0f}/s")
            del messages, rounds

            # 3. at a provider's pace
            if args.latency_deliveries:
                url = fresh_database(database, workdir, args.postgres_url, "latency")
                latency_env = bench_env(workdir, url, redis_url, providers)
                log(
                    f"provider's pace: loading a roster for ~{args.latency_deliveries:,} deliveries"
                )
                load_roster(latency_env, workdir, args.latency_deliveries, "latency")
                flush_redis(redis_url)
                emulator.reset()
                emulator.latency = PROVIDER_LATENCY_SECONDS
                log(f"provider's pace: emulator latency {PROVIDER_LATENCY_SECONDS}s, pipeline")
                slow = run_pipeline(
                    latency_env,
                    workdir,
                    emulator,
                    args.processes,
                    args.threads,
                    "latency",
                    log,
                    args.trigger,
                )
                results.latency_pipeline = asdict(slow)
                messages = rendered_messages(url, slow.announcement_id)
                emulator.reset()
                log("provider's pace: bare loop")
                slow_bare = run_bare_loop(
                    messages, latency_env, emulator, args.processes, args.threads
                )
                results.latency_bare_loop = asdict(slow_bare)
                results.latency_ratio = slow.rate / slow_bare.rate if slow_bare.rate else 0.0
                log(
                    f"  pipeline {slow.rate:.0f}/s, bare loop {slow_bare.rate:.0f}/s "
                    f"({results.latency_ratio:.0%})"
                )
                del messages

            # 4. rate-limited
            if args.limited_deliveries:
                url = fresh_database(database, workdir, args.postgres_url, "limited")
                limited_env = bench_env(
                    workdir,
                    url,
                    redis_url,
                    {
                        **providers,
                        "TWILIO_RATE_PER_SECOND": str(RATE_LIMIT_PER_SECOND),
                        "SENDGRID_RATE_PER_SECOND": str(RATE_LIMIT_PER_SECOND),
                        "FCM_RATE_PER_SECOND": str(RATE_LIMIT_PER_SECOND),
                    },
                )
                log(f"rate-limited: loading a roster for ~{args.limited_deliveries:,} deliveries")
                results.limited_roster = asdict(
                    load_roster(limited_env, workdir, args.limited_deliveries, "limited")
                )
                flush_redis(redis_url)
                emulator.reset()
                emulator.latency = LIMITED_LATENCY_SECONDS
                log(
                    f"rate-limited: latency {LIMITED_LATENCY_SECONDS}s, "
                    f"{RATE_LIMIT_PER_SECOND}/s per provider"
                )
                limited = run_pipeline(
                    limited_env,
                    workdir,
                    emulator,
                    args.processes,
                    args.threads,
                    "limited",
                    log,
                    args.trigger,
                )
                results.limited = asdict(limited)
                log(
                    f"  last delivery at {limited.last_send_after:.1f} s; most in one second "
                    f"{_channels(limited.emulator.max_requests_in_any_second)}"
                )
    finally:
        emulator.stop()
        if database == "postgresql":
            _drop_postgres(args.postgres_url)
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results.bench_seconds = time.perf_counter() - bench_started
    results.machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    judge(results)
    log(f"bench total {results.bench_seconds:.0f} s")
    if args.json:
        print(json.dumps(asdict(results), indent=2, default=str))
    else:
        print_report(results)
    return 1 if "MISSED" in results.verdicts.values() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
