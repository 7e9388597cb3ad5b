"""Whole announcements through real worker processes: nothing lost, nothing sent twice.

Each test runs `dispatcher` as separate processes over its own Redis server (so that it can
flush it or kill workers without touching other tests) and the test's database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, func, select, text

from dispatcher.queue.embedded_redis import ensure_embedded_redis, stop_embedded_redis
from dispatcher.store.models import Delivery, OutboxMessage
from tests.support.factories import closure_args
from tests.support.waiting import wait_until


@pytest.fixture
def private_env(env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """The test's environment with a Redis server of its own and short recovery timings."""
    redis_home = tmp_path / "private-redis"
    url = ensure_embedded_redis(redis_home)
    values = {
        **os.environ,
        **env,
        "REDIS_URL": url,
        "DISPATCHER_SWEEP_INTERVAL_SECONDS": "1",
        "DISPATCHER_SENDING_GRACE_SECONDS": "2",
        "DISPATCHER_HEARTBEAT_TIMEOUT_SECONDS": "2",
    }
    yield values
    stop_embedded_redis(redis_home)


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "dispatcher", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode not in (0, 1):
        raise AssertionError(f"dispatcher {' '.join(args)} failed:\n{result.stderr}")
    return result


def start_worker(env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    log = Path(env["DISPATCHER_DATA_DIR"]) / f"worker-{time.monotonic_ns()}.log"
    return subprocess.Popen(
        [sys.executable, "-m", "dispatcher", "-v", "worker", "--threads", "2", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def worker_logs(env: dict[str, str]) -> str:
    logs = sorted(Path(env["DISPATCHER_DATA_DIR"]).glob("worker-*.log"))
    interesting = [
        "\n".join(
            line
            for line in p.read_text(errors="replace").splitlines()
            if " sent on " not in line and "alembic" not in line
        )[-4000:]
        for p in logs
    ]
    return "\n---\n".join(interesting)


def counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            states = dict(
                conn.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all()
            )
            states["outbox"] = conn.scalar(select(func.count()).select_from(OutboxMessage)) or 0
            states["outbox_distinct"] = (
                conn.scalar(select(func.count(func.distinct(OutboxMessage.delivery_id)))) or 0
            )
            states["done"] = (
                conn.scalar(text("select count(*) from announcements where state = 'done'")) or 0
            )
            return states
    finally:
        engine.dispose()


def announce_to_demo_school(env: dict[str, str], tmp_path: Path, students: int) -> int:
    roster = tmp_path / "roster.csv"
    cli(
        env,
        "demo-data",
        "--school",
        "demo",
        "--students",
        str(students),
        "--seed",
        "3",
        "--out",
        str(roster),
    )
    cli(env, "roster", "import", str(roster), "--school", "demo", "--json")
    result = cli(
        env,
        *closure_args("--yes", "--json"),
    )
    return int(json.loads(result.stdout)["announcement_id"])


def assert_everything_sent_once(database_url: str) -> dict[str, int]:
    final = counts(database_url)
    total = sum(
        v
        for k, v in final.items()
        if k
        in {s for s in ("pending", "held", "sending", "sent", "delivered", "failed", "cancelled")}
    )
    assert total > 0, final
    assert final.get("sent", 0) == total, final
    assert final["outbox"] == final["outbox_distinct"] == total, final
    return final


def test_flushall_mid_announcement_and_the_sweep_still_finishes(
    private_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    announce_to_demo_school(private_env, tmp_path, students=400)
    worker = start_worker(private_env)
    try:
        wait_until(lambda: counts(database_url).get("sent", 0) >= 20, 120, 0.1, what="first sends")
        redis.Redis.from_url(private_env["REDIS_URL"]).flushall()
        before = counts(database_url)
        assert before.get("pending", 0) + before.get("sending", 0) > 0, "flushed too late"
        wait_until(
            lambda: (
                counts(database_url).get("done") == 1
                and counts(database_url).get("pending", 0) == 0
                and counts(database_url).get("sending", 0) == 0
            ),
            180,
            0.1,
            what="the sweep to finish",
            explain=lambda: f"{counts(database_url)}\n{worker_logs(private_env)}",
        )
    finally:
        worker.terminate()
        worker.wait(60)
    assert_everything_sent_once(database_url)


def test_worker_killed_mid_announcement_loses_nothing(
    private_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    announce_to_demo_school(private_env, tmp_path, students=400)
    doomed = start_worker(private_env)
    wait_until(lambda: counts(database_url).get("sent", 0) >= 20, 120, 0.1, what="first sends")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(30)
    mid = counts(database_url)
    assert mid.get("pending", 0) + mid.get("sending", 0) > 0, "killed too late"
    survivor = start_worker(private_env, "--until-idle")
    try:
        code = survivor.wait(240)
    except subprocess.TimeoutExpired:
        survivor.kill()
        raise AssertionError(
            f"worker did not finish: {counts(database_url)}\n" + worker_logs(private_env)
        ) from None
    assert code == 0, worker_logs(private_env)
    assert_everything_sent_once(database_url)
