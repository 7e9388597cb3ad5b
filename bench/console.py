"""Benchmark: the staff console's pages and the live progress, with the 50-school,
50,000-student bench trust loaded.

Printed figures, not a test. Set-up (not measured): a fresh database (PostgreSQL at
``--postgres-url``, database ``dispatcher_bench_console``, or ``--database sqlite``), the
bench trust of ``bench/trust.py`` (``--students`` across 50 schools), one emergency closure
of school 01 with ~``--deliveries`` deliveries in mixed states (written in one statement
over the trust's contacts: the size of a whole-trust send, as one announcement), a staff
admin account for the trust (with its authenticator secret) and an API token.

Measured, through the real ASGI app in this process (``dispatcher.web.app.create_app``,
driven by Starlette's test client over ``https://``, signed in as that admin through the
sign-in form and its code), the time of each request in ``PAGES`` (median / p95 of
``--requests`` after a warm-up), and then the live progress: ``--updates`` times, some
deliveries move on as workers move them (claimed then sent, through
``store.deliveries``), and ``announcement_progress`` is read: its time and, on PostgreSQL,
the rows and index entries it read from ``deliveries`` and ``delivery_tallies``
(``pg_stat_user_tables`` / ``pg_stat_user_indexes``, flushed around each read). The same
is measured for the GROUP BY over the deliveries that progress ran before decision 0097.

    .venv/bin/python bench/console.py                       # 50,000 students, PostgreSQL
    .venv/bin/python bench/console.py --students 5000 --deliveries 12700   # quick trial
    .venv/bin/python bench/console.py --database sqlite --json

Target (issue 16): every page under 300 ms of server time; no scan of the deliveries per
progress update. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from postgres_admin import postgres_problem  # bench/ is on sys.path
from trust import (
    DEFAULT_POSTGRES_URL,
    SCHOOLS,
    TRUST,
    fresh_database,
    load_trust,
    school_slugs,
    settings_env,
    write_config,
)


@dataclass(frozen=True)
class Page:
    """A request to time: ``path`` (``{announcement}`` is the bench announcement's id,
    ``{school}`` the slug of the school it was sent to) and
    how it is made: ``staff`` with the signed-in admin's cookie, ``token`` with the API
    token, ``anonymous`` with neither."""

    label: str
    path: str
    auth: str = "staff"


_CLOSURE = "school={school}&category=emergency_closure&audience=school"
_DETAILS = "var-date=2026-12-09&var-reason=heavy+snow"

#: Every console page to time (add a page here when the console gains one).
PAGES: list[Page] = [
    Page("sign-in form", "/sign-in", auth="anonymous"),
    Page("home", "/"),
    Page("compose: school", "/compose"),
    Page("compose: category", "/compose/category?school={school}"),
    Page("compose: audience", "/compose/audience?school={school}&category=emergency_closure"),
    Page("compose: details", f"/compose/details?{_CLOSURE}"),
    Page("compose: check (1,000 pupils)", f"/compose/check?{_CLOSURE}&{_DETAILS}"),
    Page(
        "compose: email frame",
        f"/compose/email?{_CLOSURE}&val-date=Wednesday+9+December&val-reason=snow&language=en",
    ),
    Page("announcement", "/announcements/{announcement}"),
    Page("announcement: progress.json", "/announcements/{announcement}/progress.json"),
    Page("announcement: cancel?", "/announcements/{announcement}/cancel"),
    Page("families to phone", "/announcements/{announcement}/not-reached"),
    Page("families to phone: list", "/announcements/{announcement}/not-reached/list"),
    Page("families to phone: print", "/announcements/{announcement}/not-reached/print"),
    Page("families to phone: CSV", "/announcements/{announcement}/not-reached.csv"),
    Page("sign-off requests", "/sign-off"),
    Page("accounts", "/accounts"),
    Page("API progress", "/api/announcements/{announcement}/progress", auth="token"),
]

BENCH_DATABASE = "dispatcher_bench_console"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DEFAULT_STUDENTS = 50_000
DEFAULT_DELIVERIES = 127_000
DEFAULT_REQUESTS = 30
DEFAULT_UPDATES = 30
#: Deliveries moved on between two progress reads (about 2 s of a busy send).
DEFAULT_MOVED = 300
TARGET_PAGE_MS = 300.0
STAFF_EMAIL = "bench-admin@bench-trust.example"
STAFF_PASSWORD = "bench console password, long enough"
FIRST_SENT = datetime(2026, 11, 24, 6, 45, tzinfo=UTC)

#: The mixed states of the bench announcement, by share (per cent, adding up to 100).
STATE_SHARES = (
    ("delivered", 50),
    ("sent", 20),
    ("pending", 15),
    ("sending", 5),
    ("undelivered", 4),
    ("bounced", 3),
    ("failed", 2),
    ("cancelled", 1),
)
HANDED = ("delivered", "sent", "undelivered", "bounced")


# --- set-up (not measured) ------------------------------------------------------------------


def _state_case() -> str:
    """A CASE giving each (contact, channel) its state from ``STATE_SHARES``."""
    parts, upper = [], 0
    for state, share in STATE_SHARES:
        upper += share
        parts.append(f"WHEN ((c.id * 7 + ch.k) % 100) < {upper} THEN '{state}'")
    return "CASE " + " ".join(parts) + " END"


def write_announcement(runtime: Any, deliveries: int, all_pending: bool = False) -> int:
    """One emergency closure of the trust's first school, sending, with ``deliveries``
    deliveries in the mixed states of ``STATE_SHARES`` (or all pending); returns its id."""
    from sqlalchemy import DateTime, bindparam, func, select, text

    from dispatcher.domain import AnnouncementState
    from dispatcher.store.models import Announcement, Contact, School

    with runtime.sessions.begin() as session:
        school_id = session.scalar(select(School.id).where(School.slug == school_slugs()[0]))
        announcement = Announcement(
            school_id=school_id,
            category="emergency_closure",
            urgency="urgent",
            audience=["school"],
            variables={"date": "Tuesday 24 November", "reason": "heavy snow"},
            requested_by="bench",
            trigger="api",
            state=AnnouncementState.SENDING.value,
            created_at=FIRST_SENT - timedelta(minutes=1),
            planned_at=FIRST_SENT,
        )
        session.add(announcement)
        session.flush()
        contacts = session.scalar(select(func.count()).select_from(Contact)) or 0
        channels = ["sms", "email", "push"][: max(2, -(-deliveries // max(contacts, 1)))]
        union = " UNION ALL ".join(
            f"SELECT '{c}' AS channel, {k} AS k" for k, c in enumerate(channels)
        )
        handed = ", ".join(f"'{s}'" for s in HANDED)
        state = "'pending'" if all_pending else _state_case()
        statement = text(
            f"""
            INSERT INTO deliveries (announcement_id, contact_id, channel, kind, queue, language,
                language_fallback, format, fallback_chain, state, attempts, provider_requests,
                possible_duplicate, sent_at, created_at, updated_at)
            SELECT :announcement, c.id, ch.channel, 'primary', 'urgent', 'en', false,
                'standard', '', {state}, 1, 0, false,
                CASE WHEN {state} IN ({handed})
                     THEN CASE WHEN c.id % 2 = 0 THEN :first ELSE :last END END,
                :first, :first
            FROM contacts AS c CROSS JOIN ({union}) AS ch
            ORDER BY c.id, ch.k
            LIMIT :n
            """
        ).bindparams(
            bindparam("first", type_=DateTime(timezone=True)),
            bindparam("last", type_=DateTime(timezone=True)),
        )
        session.execute(
            statement,
            {
                "announcement": announcement.id,
                "first": FIRST_SENT,
                "last": FIRST_SENT + timedelta(minutes=3),
                "n": deliveries,
            },
        )
        announcement.planned_deliveries = deliveries
        announcement_id = announcement.id
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    return announcement_id


def write_staff(runtime: Any) -> str:
    """A staff admin for the trust, with an authenticator; returns its TOTP secret."""
    import pyotp
    from sqlalchemy import update

    from dispatcher.access.staff import create_staff
    from dispatcher.store.models import StaffAccount

    secret = pyotp.random_base32()
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        info = create_staff(
            session, runtime.configuration, STAFF_EMAIL, "admin", STAFF_PASSWORD, now, trust=TRUST
        )
        session.execute(
            update(StaffAccount).where(StaffAccount.id == info.id).values(totp_secret=secret)
        )
        session.commit()
    return secret


def write_token(runtime: Any) -> str:
    """An API token (office, the trust's schools); returns its secret."""
    from dispatcher.access.tokens import create_token

    with runtime.sessions() as session:
        _, secret = create_token(
            session,
            runtime.configuration,
            "bench-console",
            "office",
            None,
            datetime.now(UTC),
            trust=TRUST,
        )
        session.commit()
    return secret


# --- signing in and timing pages ------------------------------------------------------------


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: Any, totp_secret: str) -> None:
    """Sign the client in as the bench admin, through the forms a person uses."""
    import pyotp

    form = client.get("/sign-in")
    token = _CSRF.search(form.text)
    assert token, "no CSRF token on the sign-in form"
    step = client.post(
        "/sign-in",
        data={"csrf_token": token.group(1), "email": STAFF_EMAIL, "password": STAFF_PASSWORD},
        follow_redirects=False,
    )
    assert step.status_code == 303 and step.headers["location"] == "/sign-in/code", step.text
    code_form = client.get("/sign-in/code")
    token = _CSRF.search(code_form.text)
    assert token, "no CSRF token on the code form"
    done = client.post(
        "/sign-in/code",
        data={"csrf_token": token.group(1), "code": pyotp.TOTP(totp_secret).now()},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/", done.text


@dataclass
class Timing:
    """Milliseconds of one measured thing, and (PostgreSQL) what each one read."""

    label: str
    median_ms: float
    p95_ms: float
    count: int
    deliveries_rows: float | None = None
    deliveries_index_entries: float | None = None
    tallies_rows: float | None = None


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def time_pages(
    client: Any, anonymous: Any, token: str, announcement_id: int, requests: int
) -> list[Timing]:
    """Each page of ``PAGES``, ``requests`` times after three unmeasured requests."""
    timings = []
    for page in PAGES:
        path = page.path.format(announcement=announcement_id, school=school_slugs()[0])
        caller = anonymous if page.auth == "anonymous" else client
        headers = {"Authorization": f"Bearer {token}"} if page.auth == "token" else {}
        samples = []
        for n in range(requests + 3):
            started = time.perf_counter()
            response = caller.get(path, headers=headers, follow_redirects=False)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{page.label}: {path} answered {response.status_code}")
            if n >= 3:
                samples.append(elapsed)
        timings.append(Timing(page.label, statistics.median(samples), _p95(samples), len(samples)))
    return timings


# --- the progress update --------------------------------------------------------------------


def _reads(connection: Any) -> tuple[int, int, int]:
    """Rows read from ``deliveries`` (sequentially and by index), index entries read from
    its indexes, and rows read from ``delivery_tallies``, as PostgreSQL counts them."""
    from sqlalchemy import text

    connection.execute(text("SELECT pg_stat_clear_snapshot()"))
    tables = dict(
        connection.execute(
            text(
                "SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
                "FROM pg_stat_user_tables WHERE relname IN ('deliveries', 'delivery_tallies')"
            )
        ).all()
    )
    entries = connection.execute(
        text(
            "SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes "
            "WHERE relname = 'deliveries'"
        )
    ).scalar_one()
    connection.commit()
    return int(tables.get("deliveries", 0)), int(entries), int(tables.get("delivery_tallies", 0))


def _flush(connection: Any) -> None:
    """Make this connection's pending statistics visible (PostgreSQL 15+)."""
    from sqlalchemy import text

    connection.execute(text("SELECT pg_stat_force_next_flush()"))
    connection.commit()
    time.sleep(0.02)  # the backend flushes as it goes idle


@contextmanager
def _counted(runtime: Any, connection: Any, into: list[tuple[int, int, int]]) -> Iterator[None]:
    postgresql = runtime.engine.dialect.name == "postgresql"
    before = _reads(connection) if postgresql else None
    yield
    if postgresql and before is not None:
        _flush(connection)
        after = _reads(connection)
        into.append((after[0] - before[0], after[1] - before[1], after[2] - before[2]))


def _full_count(session: Any, announcement_id: int) -> None:
    """The GROUP BY over the deliveries that ``announcement_progress`` ran before 0097."""
    from sqlalchemy import func, select

    from dispatcher.store.models import Delivery

    session.execute(
        select(Delivery.channel, Delivery.state, func.count())
        .where(Delivery.announcement_id == announcement_id)
        .group_by(Delivery.channel, Delivery.state)
    ).all()
    session.execute(
        select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(
            Delivery.announcement_id == announcement_id
        )
    ).one()


def move_some(
    runtime: Any,
    writer: Any,
    pending: list[int],
    moved: int,
    moment: datetime,
    flush: bool = True,
) -> None:
    """Claim ``moved`` pending deliveries and record them sent, as workers do, on the
    ``writer`` connection (whose reads are then flushed, so none is counted as the
    progress's)."""
    from sqlalchemy.orm import Session

    from dispatcher.store.deliveries import Claim, SentRecord, claim_deliveries, record_sent

    ids = [pending.pop() for _ in range(min(moved, len(pending)))]
    with Session(bind=writer) as session:
        for start in range(0, len(ids), 50):  # a worker's batch
            taken = claim_deliveries(
                session, ids[start : start + 50], [], moment, Claim.new("bench")
            )
            session.commit()
            record_sent(session, [SentRecord(i, moment, "twilio", f"SM{i}", 1) for i in taken])
            session.commit()
    if flush and runtime.engine.dialect.name == "postgresql":
        _flush(writer)


def time_progress(runtime: Any, announcement_id: int, updates: int, moved: int) -> list[Timing]:
    """The progress read ``updates`` times, ``moved`` deliveries moving on before each; then
    the old GROUP BY the same way. Returns both timings (with reads, on PostgreSQL)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from dispatcher.reporting.progress import announcement_progress
    from dispatcher.store.models import Delivery

    with runtime.sessions() as session:
        pending = list(
            session.scalars(
                select(Delivery.id).where(
                    Delivery.announcement_id == announcement_id, Delivery.state == "pending"
                )
            )
        )
    results = []
    for label, read in (
        ("progress update (tallies)", lambda s: announcement_progress(s, announcement_id)),
        ("progress update, old GROUP BY", lambda s: _full_count(s, announcement_id)),
    ):
        samples: list[float] = []
        reads: list[tuple[int, int, int]] = []
        with (
            runtime.engine.connect() as watcher,
            runtime.engine.connect() as reader,
            runtime.engine.connect() as writer,
        ):
            for n in range(updates + 1):  # the first, a warm-up, is not counted
                moment = FIRST_SENT + timedelta(minutes=4, seconds=n)
                move_some(runtime, writer, pending, moved, moment)
                with _counted(runtime, watcher, reads if n else []):
                    with Session(bind=reader) as session:
                        started = time.perf_counter()
                        read(session)
                        if n:
                            samples.append((time.perf_counter() - started) * 1000)
                    reader.commit()
                    if runtime.engine.dialect.name == "postgresql":
                        _flush(reader)
        timing = Timing(label, statistics.median(samples), _p95(samples), len(samples))
        if reads:
            timing.deliveries_rows = statistics.mean(r[0] for r in reads)
            timing.deliveries_index_entries = statistics.mean(r[1] for r in reads)
            timing.tallies_rows = statistics.mean(r[2] for r in reads)
        results.append(timing)
    return results


# --- the send path's cost of the tally triggers -------------------------------------------


def time_send_path(runtime: Any, rounds: int, per_round: int) -> list[Timing]:
    """Claim and record sent ``per_round`` deliveries (50 at a time, as a worker does) with
    the tally triggers enabled and then disabled (``ALTER TABLE ... DISABLE TRIGGER USER``),
    in alternating order, ``rounds`` times: milliseconds per delivery (PostgreSQL only)."""
    from sqlalchemy import select, text

    from dispatcher.store.models import Delivery

    announcement_id = write_announcement(runtime, rounds * per_round * 2, all_pending=True)
    with runtime.sessions() as session:
        pending = list(
            session.scalars(
                select(Delivery.id)
                .where(Delivery.announcement_id == announcement_id)
                .order_by(Delivery.id.desc())
            )
        )
    samples: dict[bool, list[float]] = {True: [], False: []}
    try:
        with runtime.engine.connect() as writer:
            for n in range(rounds):
                for enabled in (True, False) if n % 2 else (False, True):
                    with runtime.engine.begin() as ddl:
                        switch = "ENABLE" if enabled else "DISABLE"
                        ddl.execute(text(f"ALTER TABLE deliveries {switch} TRIGGER USER"))
                    started = time.perf_counter()
                    move_some(runtime, writer, pending, per_round, FIRST_SENT, flush=False)
                    samples[enabled].append((time.perf_counter() - started) * 1000 / per_round)
    finally:
        with runtime.engine.begin() as ddl:
            ddl.execute(text("ALTER TABLE deliveries ENABLE TRIGGER USER"))
    return [
        Timing(
            f"send path per delivery, triggers {'on' if enabled else 'off'}",
            statistics.median(values),
            _p95(values),
            len(values),
        )
        for enabled, values in samples.items()
    ]


# --- running --------------------------------------------------------------------------------


def print_table(timings: list[Timing], log: Callable[[str], None]) -> None:
    """The figures, one line per page or update."""

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f}"

    log("")
    log(
        f"{'':34} {'median ms':>10} {'p95 ms':>8} {'n':>4}"
        f" {'deliveries rows':>16} {'index entries':>14} {'tally rows':>11}"
    )
    for t in timings:
        log(
            f"{t.label:34} {t.median_ms:10.2f} {t.p95_ms:8.2f} {t.count:4}"
            f" {cell(t.deliveries_rows):>16} {cell(t.deliveries_index_entries):>14}"
            f" {cell(t.tallies_rows):>11}"
        )


def judge(timings: list[Timing], deliveries: int) -> list[str]:
    """The targets missed, in words."""
    missed = [
        f"{t.label}: p95 {t.p95_ms:.0f} ms (target < {TARGET_PAGE_MS:.0f} ms)"
        for t in timings
        if not t.label.startswith("progress update,") and t.p95_ms >= TARGET_PAGE_MS
    ]
    for t in timings:
        entries = t.deliveries_index_entries
        if (
            t.label == "progress update (tallies)"
            and entries is not None
            and (t.deliveries_rows or 0) + entries >= deliveries / 100
        ):
            missed.append(f"{t.label}: reads deliveries ({t.deliveries_index_entries:.0f})")
    return missed


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS_URL, help="the console's sessions go there"
    )
    parser.add_argument("--students", type=int, default=DEFAULT_STUDENTS)
    parser.add_argument("--deliveries", type=int, default=DEFAULT_DELIVERIES)
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    parser.add_argument("--updates", type=int, default=DEFAULT_UPDATES)
    parser.add_argument("--moved", type=int, default=DEFAULT_MOVED, help="per update")
    parser.add_argument(
        "--send-rounds",
        type=int,
        default=20,
        help="rounds of 250 sends with the tally triggers on and off (PostgreSQL; 0: none)",
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args(argv)
    if args.students <= 0 or args.students % SCHOOLS:
        parser.error(f"--students must be a positive multiple of {SCHOOLS}")
    return args


def main(argv: list[str]) -> int:
    """Set up, measure, print; 1 when a target is missed."""
    args = parse_args(argv)
    log: Callable[[str], None] = (lambda _: None) if args.json else print
    if args.database == "postgresql" and (problem := postgres_problem(args.postgres_url)):
        raise SystemExit(f"PostgreSQL at {args.postgres_url}: {problem}")
    load = os.getloadavg()
    log(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; database {args.database}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        workdir = Path(tmp)
        write_config(workdir / "config")
        with fresh_database(args.database, workdir, args.postgres_url, BENCH_DATABASE) as url:
            env = settings_env(url, workdir, args.redis_url)
            env["DISPATCHER_CONSOLE_SECURE_COOKIES"] = "true"
            log(
                f"loading the trust: {args.students:,} students in {SCHOOLS} schools (not measured)"
            )
            loaded = load_trust(env, args.students // SCHOOLS, log)
            log(
                f"  {loaded.students:,} students, {loaded.contacts:,} contacts"
                f" ({loaded.seconds:.0f} s)"
            )
            os.environ.update(env)
            from fastapi.testclient import TestClient

            from dispatcher.runtime import current_runtime, dispose_runtimes
            from dispatcher.web.app import create_app

            runtime = current_runtime()
            started = time.perf_counter()
            announcement_id = write_announcement(runtime, args.deliveries)
            secret = write_staff(runtime)
            token = write_token(runtime)
            log(
                f"announcement {announcement_id}: {args.deliveries:,} deliveries in mixed states "
                f"({time.perf_counter() - started:.0f} s, not measured)"
            )
            app = create_app()
            base = "https://testserver"
            with (
                TestClient(app, base_url=base) as client,
                TestClient(app, base_url=base) as anonymous,
            ):
                sign_in(client, secret)
                timings = time_pages(client, anonymous, token, announcement_id, args.requests)
            # Closing the pages' connections ends their backends, which flushes their
            # statistics: none is counted as a progress update's.
            runtime.engine.dispose()
            timings += time_progress(runtime, announcement_id, args.updates, args.moved)
            if runtime.engine.dialect.name == "postgresql" and args.send_rounds:
                timings += time_send_path(runtime, args.send_rounds, 250)
            dispose_runtimes()
    missed = judge(timings, args.deliveries)
    if args.json:
        print(json.dumps({"timings": [asdict(t) for t in timings], "missed": missed}, indent=2))
    else:
        print_table(timings, log)
        log("")
        log("verdict: " + ("; ".join(missed) if missed else "every target met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
