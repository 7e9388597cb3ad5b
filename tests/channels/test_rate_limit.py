"""The per-account rate limit, shared through Redis by worker processes."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from channels.base import TransientFailure
from channels.rate_limit import ProviderRateLimiter, account_key, slot_plan, slots_touched
from channels.retrying import RetryPolicy
from channels.twilio_sms import TwilioSmsAdapter
from dispatcher.emulator import ProviderEmulator
from dispatcher.emulator.records import max_in_any_window
from tests.channels.messages import sms_message
from tests.conftest import _answers, worker_number

LIMIT = 20
PER_PROCESS = 20


@pytest.fixture
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis, database 14 (15 for the second xdist worker), else an embedded
    one; emptied before the test."""
    if os.environ.get("TEST_REDIS_URL"):
        url = os.environ["TEST_REDIS_URL"]
    elif _answers("127.0.0.1", 6379):
        url = f"redis://127.0.0.1:6379/{14 + min(worker_number(), 1)}"
    else:
        from dispatcher.embedded_redis import ensure_embedded_redis

        url = ensure_embedded_redis(Path(tmp_path_factory.getbasetemp()) / "channels-redis")
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.close()


@pytest.mark.parametrize("limit", [2, 3, 5, 10, 20, 49, 50, 100, 333, 1000])
@pytest.mark.parametrize("margin", [0, 50])
def test_slot_plans_keep_every_sliding_second_within_the_limit(limit: int, margin: int) -> None:
    slot, per_slot = slot_plan(limit, margin)
    # a second (plus the margin) overlaps at most this many slots, each full at worst
    assert per_slot * slots_touched(1000 + margin, slot) <= limit
    # brute force: slots aligned at 0, a one-second window starting at every millisecond
    for start in range(0, 2 * slot):
        end = start + 1000 + margin  # exclusive
        touched = (end - 1) // slot - start // slot + 1
        assert touched * per_slot <= limit
    # and the sustained rate is not far below the limit
    assert per_slot * 1000 / slot >= (0.85 if limit >= 20 else 0.45) * limit


def test_a_limit_of_one_allows_two_in_a_sliding_second_at_most() -> None:
    slot, per_slot = slot_plan(1)
    assert per_slot == 1 and slot > 1000


def test_keys_never_show_the_account() -> None:
    key = account_key("sendgrid", "SG.secret-api-key")
    assert "secret" not in key and key.startswith("dispatcher:provider-rate:sendgrid:")


def test_acquisitions_in_one_process_stay_within_the_limit(redis_url: str) -> None:
    limiter = ProviderRateLimiter(redis.Redis.from_url(redis_url), "twilio", "AC-one", 10)
    times = []
    for _ in range(15):
        limiter.acquire()
        times.append(time.time())
    assert max_in_any_window(times) <= 10
    full_slots = -(-15 // limiter.per_slot) - 2  # the first and last slot may be slivers
    assert times[-1] - times[0] >= full_slots * limiter.slot_ms / 1000


def test_a_full_account_raises_rate_limited_after_the_wait(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    # A slot can end during the short wait, letting the second request through legitimately;
    # try on fresh accounts until one attempt starts far enough from a slot boundary.
    for _ in range(4):
        account = f"AC-busy-{uuid.uuid4().hex}"
        first = ProviderRateLimiter(client, "twilio", account, 1)
        second = ProviderRateLimiter(client, "twilio", account, 1, max_wait=0.1)
        first.acquire()
        started = time.monotonic()
        try:
            second.acquire()
        except TransientFailure as caught:
            assert caught.code == "rate_limited"
            assert caught.retry_after == 1.0
            assert 0.05 <= time.monotonic() - started < 1.0
            return
    pytest.fail("a full account let a second request through four times in a row")


def test_an_unreachable_redis_is_transient() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = ProviderRateLimiter(client, "twilio", "AC-x", 5)
    with pytest.raises(TransientFailure) as caught:
        limiter.acquire()
    assert caught.value.code == "rate_limiter_unavailable"


def _send_from_worker(
    worker: int, emulator_url: str, redis_url: str, barrier: Any, count: int
) -> None:
    """One worker process: its own adapter and limiter, sending ``count`` texts."""
    limiter = ProviderRateLimiter(
        redis.Redis.from_url(redis_url),
        "twilio",
        ProviderEmulator.TWILIO_ACCOUNT_SID,
        LIMIT,
        max_wait=30,
    )
    adapter = TwilioSmsAdapter(
        ProviderEmulator.TWILIO_ACCOUNT_SID,
        ProviderEmulator.TWILIO_AUTH_TOKEN,
        base_url=emulator_url,
        limiter=limiter,
        retry=RetryPolicy(attempts=1),
    )
    barrier.wait(timeout=60)
    for i in range(count):
        adapter.send(sms_message(delivery_id=worker * 1000 + i, to=f"+4477009{worker}{i:04d}"))


def test_two_worker_processes_share_the_limit(redis_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    with ProviderEmulator() as emulator:
        workers = [
            context.Process(
                target=_send_from_worker,
                args=(n, emulator.url, redis_url, barrier, PER_PROCESS),
                name=f"sms-worker-{n}-{uuid.uuid4().hex[:6]}",
            )
            for n in (1, 2)
        ]
        try:
            for process in workers:
                process.start()
            for process in workers:
                process.join(timeout=90)
        finally:
            for process in workers:
                if process.is_alive():
                    process.kill()
                    process.join(timeout=5)
        assert [p.exitcode for p in workers] == [0, 0]
        sends = emulator.messages("twilio")
        peak = emulator.max_requests_in_any_second("twilio")
    assert len(sends) == 2 * PER_PROCESS
    senders = {s.form["To"][8] for s in sends if s.form}
    assert senders == {"1", "2"}  # both processes sent, through the same limit
    assert peak <= LIMIT
    assert peak >= LIMIT * 0.6  # and the processes did run at about the limit together
    span = max(s.at for s in sends) - min(s.at for s in sends)
    slot, per_slot = slot_plan(LIMIT)
    assert span >= (-(-2 * PER_PROCESS // per_slot) - 2) * slot / 1000
