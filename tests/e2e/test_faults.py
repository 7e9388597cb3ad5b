"""Exactly once under faults: whole announcements through real worker processes, the real
provider SDKs and the provider emulator, on a PostgreSQL and a Redis of the test's own, which
the test stops, restarts, flushes, or whose workers it kills mid-announcement.

Each send is counted by delivery id in the emulator's records: a family texted twice shows
as a delivery id accepted twice.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, func, select, text

from dispatcher.queue.embedded_redis import ensure_embedded_redis, stop_embedded_redis
from dispatcher.store.engine import upgrade_database
from dispatcher.store.models import Delivery
from emulator import ProviderEmulator
from emulator.cli import provider_environment
from emulator.records import message_delivery_ids
from tests.support.paths import CONFIG_DIR, TEMPLATES_DIR
from tests.support.processes import announce_closure, run_cli, start_worker, worker_logs
from tests.support.services import StoppablePostgres
from tests.support.waiting import wait_until

PROVIDERS = ("twilio", "sendgrid", "fcm")
THREADS = 3


@pytest.fixture
def postgres() -> Iterator[StoppablePostgres]:
    """A PostgreSQL server of this test's own, started."""
    server = StoppablePostgres()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def stack(
    postgres: StoppablePostgres, tmp_path: Path
) -> Iterator[tuple[dict[str, str], ProviderEmulator]]:
    """The environment of the dispatcher processes (the private PostgreSQL and Redis, the
    emulator's credentials, quick recovery timings) and the emulator itself."""
    database = f"{postgres.url}/postgres"
    upgrade_database(database)
    redis_home = tmp_path / "redis"
    data = tmp_path / "var"
    data.mkdir()
    with ProviderEmulator() as emulator:
        emulator.latency = 0.05
        values = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TWILIO", "SENDGRID"))},
            **provider_environment(emulator, tmp_path / "fcm.json"),
            "DATABASE_URL": database,
            "REDIS_URL": ensure_embedded_redis(redis_home),
            "DISPATCHER_DATA_DIR": str(data),
            "DISPATCHER_CONFIG_DIR": str(CONFIG_DIR),
            "DISPATCHER_TEMPLATES_DIR": str(TEMPLATES_DIR),
            "DISPATCHER_SWEEP_INTERVAL_SECONDS": "2",
            "DISPATCHER_HEARTBEAT_TIMEOUT_SECONDS": "3",
            # Callbacks go nowhere here; the URL carries each text's delivery id.
            "DISPATCHER_PUBLIC_BASE_URL": "https://school.invalid",
        }
        try:
            yield values, emulator
        finally:
            stop_embedded_redis(redis_home)


def states(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            found: dict[str, int] = dict(
                conn.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
            )
            found["possible_duplicate"] = (
                conn.scalar(text("select count(*) from deliveries where possible_duplicate")) or 0
            )
            return found
    except Exception:
        return {}
    finally:
        engine.dispose()


def sends(emulator: ProviderEmulator) -> Counter[str]:
    """How many times each delivery id was accepted, over every provider."""
    counted: Counter[str] = Counter()
    for provider in PROVIDERS:
        counted.update(emulator.accepted_delivery_ids(provider))
    return counted


def first_requests(emulator: ProviderEmulator, delivery_ids: set[str]) -> set[tuple[str, int]]:
    """The request (provider, its index among that provider's accepted sends) that first
    carried each of ``delivery_ids``: a SendGrid request carries many deliveries."""
    first: dict[str, tuple[str, int]] = {}
    for provider in PROVIDERS:
        for index, record in enumerate(emulator.messages(provider)):
            for delivery_id in message_delivery_ids(provider, record):
                if delivery_id in delivery_ids:
                    first.setdefault(delivery_id, (provider, index))
    return set(first.values())


def open_count(found: dict[str, int]) -> int:
    return sum(found.get(s, 0) for s in ("pending", "held", "sending"))


def wait_for_all_sent(env: dict[str, str], what: str, timeout: float = 240) -> dict[str, int]:
    wait_until(
        lambda: (
            bool(found := states(env["DATABASE_URL"]))
            and sum(found.values()) > found.get("possible_duplicate", 0)
            and open_count(found) == 0
        ),
        timeout,
        0.5,
        what=what,
        explain=lambda: f"{states(env['DATABASE_URL'])}\n{worker_logs(env)}",
    )
    return states(env["DATABASE_URL"])


def deliveries_total(found: dict[str, int]) -> int:
    return sum(v for k, v in found.items() if k != "possible_duplicate")


def journal_size(env: dict[str, str]) -> int:
    return int(redis.Redis.from_url(env["REDIS_URL"]).hlen("dispatcher:journal"))


def test_postgres_stopped_mid_announcement_sends_nothing_twice_and_nothing_is_lost(
    stack: tuple[dict[str, str], ProviderEmulator], postgres: StoppablePostgres, tmp_path: Path
) -> None:
    env, emulator = stack
    announce_closure(env, tmp_path, students=250, seed=5)
    workers = [start_worker(env, threads=THREADS), start_worker(env, threads=THREADS)]
    try:
        wait_until(lambda: sum(sends(emulator).values()) >= 150, 120, 0.1, what="first sends")
        postgres.stop()
        time.sleep(1.0)
        during = sum(sends(emulator).values())
        time.sleep(5.0)
        # No send without a place to record it: at most the requests already in flight
        # when the database went may go through after it.
        assert sum(sends(emulator).values()) - during <= 2 * THREADS * 2
        postgres.start()
        final = wait_for_all_sent(env, "every delivery to be sent after the restart")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(60)
    counted = sends(emulator)
    assert "?" not in counted
    twice = {k: n for k, n in counted.items() if n > 1}
    assert twice == {}, twice
    assert final.get("sent", 0) + final.get("delivered", 0) == deliveries_total(final)
    assert len(counted) == deliveries_total(final)
    assert final["possible_duplicate"] == 0
    assert journal_size(env) == 0


def test_a_killed_worker_sends_again_only_what_was_in_flight_and_says_so(
    stack: tuple[dict[str, str], ProviderEmulator], tmp_path: Path
) -> None:
    env, emulator = stack
    emulator.latency = 0.3  # requests in flight at the instant the worker dies
    announce_closure(env, tmp_path, students=150, seed=5)
    doomed, survivor = start_worker(env, threads=THREADS), start_worker(env, threads=THREADS)
    try:
        wait_until(lambda: sum(sends(emulator).values()) >= 60, 120, 0.1, what="first sends")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(30)
        killed_at = time.monotonic()
        final = wait_for_all_sent(env, "the survivor to settle the dead worker's claims")
        settled_after = time.monotonic() - killed_at
    finally:
        survivor.terminate()
        survivor.wait(60)
    counted = sends(emulator)
    twice = {k for k, n in counted.items() if n > 1}
    with create_engine(env["DATABASE_URL"]).connect() as conn:
        flagged = {
            str(i) for i in conn.scalars(select(Delivery.id).where(Delivery.possible_duplicate))
        }
    # The duplicate window is the requests in flight at the instant of death: at most one
    # per thread of the killed process (both lanes; an email request carries many
    # deliveries), and every delivery they carried is reported.
    assert twice <= flagged, (twice, flagged)
    assert len(first_requests(emulator, twice)) <= 2 * THREADS
    assert len(counted) == deliveries_total(final)
    assert final.get("sent", 0) == deliveries_total(final)
    assert settled_after < 120
    # The report and the audit export tell the office which families may have it twice.
    report = json.loads(run_cli(env, "report", "1", "--json").stdout)
    assert report["possibly_sent_twice"] == len(flagged)
    assert {str(d["delivery_id"]) for d in report["possible_duplicates"]} == flagged
    # The export's text column holds the messages' words, commas and line breaks included.
    audit = run_cli(env, "audit", "export", "--school", "demo").stdout
    rows = list(csv.DictReader(io.StringIO(audit)))
    marked = {r["delivery_id"] for r in rows if r["possibly_sent_twice"] == "yes"}
    assert marked == flagged
    assert all(int(r["provider_requests"]) >= 1 for r in rows)


def test_flushall_mid_announcement_resumes_with_its_batching(
    stack: tuple[dict[str, str], ProviderEmulator], tmp_path: Path
) -> None:
    env, emulator = stack
    announce_closure(env, tmp_path, students=250, seed=5)
    workers = [start_worker(env, threads=THREADS), start_worker(env, threads=THREADS)]
    try:
        wait_until(lambda: sum(sends(emulator).values()) >= 100, 120, 0.1, what="first sends")
        redis.Redis.from_url(env["REDIS_URL"]).flushall()
        final = wait_for_all_sent(env, "the sweep to re-queue and send the rest")
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(60)
    counted = sends(emulator)
    assert [k for k, n in counted.items() if n > 1] == []
    assert len(counted) == deliveries_total(final)
    emails = len(emulator.accepted_delivery_ids("sendgrid"))
    requests = len(emulator.messages("sendgrid"))
    # Re-queued work keeps its batching: emails still share requests.
    assert requests * 5 <= emails, (requests, emails)
