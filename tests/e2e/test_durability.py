"""Whole announcements through real worker processes: nothing lost, nothing sent twice.

Each test runs `dispatcher` as separate processes over its own Redis server (so that it can
flush it or kill workers without touching other tests) and the test's database.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, func, select, text

from dispatcher.queue.embedded_redis import ensure_embedded_redis, stop_embedded_redis
from dispatcher.store.models import Delivery, OutboxMessage
from tests.support.processes import announce_closure, start_worker, worker_logs
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
    announce_closure(private_env, tmp_path, students=400, seed=3)
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
    announce_closure(private_env, tmp_path, students=400, seed=3)
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
