"""The per-account rate limit, shared through Redis by worker processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from dispatcher.channels.base import ChannelAdapter, OutgoingMessage, TransientFailure
from dispatcher.channels.fcm_push import FcmPushAdapter
from dispatcher.channels.rate_limit import ProviderRateLimiter, account_key, urgent_key
from dispatcher.channels.retry import RetryPolicy
from dispatcher.channels.sendgrid_email import SendGridEmailAdapter
from dispatcher.channels.twilio_sms import TwilioSmsAdapter
from dispatcher.domain import Urgency
from emulator import ProviderEmulator
from emulator.records import max_in_any_window
from tests.support.messages import email_message, push_message, sms_message
from tests.support.services import machine_redis_url, worker_number

LIMIT = 20
PER_PROCESS = 20


@pytest.fixture
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis, database 14 (15 for the second xdist worker; see
    ``machine_redis_url``), else an embedded one; emptied before the test."""
    url = machine_redis_url(6 + min(worker_number(), 1))
    if url is None:
        from dispatcher.queue.embedded_redis import ensure_embedded_redis

        url = ensure_embedded_redis(Path(tmp_path_factory.getbasetemp()) / "channels-redis")
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.close()


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
    # ten go at once, the eleventh waits for the first to leave the window
    assert times[-1] - times[0] >= limiter.window_ms / 1000 - 0.01


def test_a_full_account_raises_rate_limited_after_the_wait(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    account = f"AC-busy-{uuid.uuid4().hex}"
    first = ProviderRateLimiter(client, "twilio", account, 1)
    second = ProviderRateLimiter(client, "twilio", account, 1, max_wait=0.1)
    first.acquire()
    started = time.monotonic()
    with pytest.raises(TransientFailure) as caught:
        second.acquire()
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after == 1.0
    assert 0.09 <= time.monotonic() - started < 1.0


def test_an_unreachable_redis_is_transient() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = ProviderRateLimiter(client, "twilio", "AC-x", 5)
    with pytest.raises(TransientFailure) as caught:
        limiter.acquire()
    assert caught.value.code == "rate_limiter_unavailable"


def _adapter_with_limiter(
    provider: str, emulator_url: str, redis_url: str, fcm_account: dict[str, str]
) -> ChannelAdapter:
    """``provider``'s adapter as a worker process builds it: its own SDK client, and a
    limiter on the emulator's account shared through Redis."""
    retry = RetryPolicy(attempts=1)
    client = redis.Redis.from_url(redis_url)
    if provider == "twilio":
        return TwilioSmsAdapter(
            ProviderEmulator.TWILIO_ACCOUNT_SID,
            ProviderEmulator.TWILIO_AUTH_TOKEN,
            base_url=emulator_url,
            public_base_url="https://dispatch.example.org",  # its callback URL names the delivery
            limiter=ProviderRateLimiter(
                client, "twilio", ProviderEmulator.TWILIO_ACCOUNT_SID, LIMIT, max_wait=30
            ),
            retry=retry,
        )
    if provider == "sendgrid":
        return SendGridEmailAdapter(
            ProviderEmulator.SENDGRID_API_KEY,
            base_url=emulator_url,
            limiter=ProviderRateLimiter(
                client, "sendgrid", ProviderEmulator.SENDGRID_API_KEY, LIMIT, max_wait=30
            ),
            retry=retry,
        )
    return FcmPushAdapter(
        fcm_account,
        base_url=emulator_url,
        limiter=ProviderRateLimiter(client, "fcm", fcm_account["project_id"], LIMIT, max_wait=30),
        retry=retry,
    )


def _message_from(provider: str, worker: int, i: int) -> OutgoingMessage:
    delivery_id = worker * 1000 + i
    if provider == "twilio":
        return sms_message(delivery_id=delivery_id, to=f"+4477009{worker}{i:04d}")
    if provider == "sendgrid":
        return email_message(delivery_id=delivery_id, to=f"parent{worker}-{i}@example.com")
    return push_message(delivery_id=delivery_id, token=f"fcm-token-{worker}-{i:04d}")


def _send_from_worker(
    provider: str,
    worker: int,
    emulator_url: str,
    redis_url: str,
    fcm_account: dict[str, str],
    barrier: Any,
    count: int,
) -> None:
    """One worker process: its own adapter and limiter, sending ``count`` messages one by one."""
    adapter = _adapter_with_limiter(provider, emulator_url, redis_url, fcm_account)
    barrier.wait(timeout=60)
    for i in range(count):
        adapter.send(_message_from(provider, worker, i))


@pytest.mark.parametrize("provider", ["twilio", "sendgrid", "fcm"])
def test_two_worker_processes_share_the_limit(provider: str, redis_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    with ProviderEmulator() as emulator:
        workers = [
            context.Process(
                target=_send_from_worker,
                args=(
                    provider,
                    n,
                    emulator.url,
                    redis_url,
                    emulator.fcm_service_account_info(),
                    barrier,
                    PER_PROCESS,
                ),
                name=f"{provider}-worker-{n}-{uuid.uuid4().hex[:6]}",
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
        sends = emulator.messages(provider)
        delivery_ids = emulator.accepted_delivery_ids(provider)
        peak = emulator.max_requests_in_any_second(provider)
    assert len(sends) == 2 * PER_PROCESS
    assert sorted(int(d) for d in delivery_ids) == sorted(
        w * 1000 + i for w in (1, 2) for i in range(PER_PROCESS)
    )  # each process sent each of its messages once, through the same limit
    assert peak <= LIMIT
    assert peak >= LIMIT * 0.6  # and the processes did run at about the limit together
    span = max(s.at for s in sends) - min(s.at for s in sends)
    assert span >= 1.0  # forty requests at twenty a second cannot all go in one second


def test_many_threads_racing_for_the_last_places_never_exceed_the_limit(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    account = f"AC-race-{uuid.uuid4().hex}"
    times: list[float] = []
    lock = threading.Lock()

    def hammer() -> None:
        limiter = ProviderRateLimiter(client, "sendgrid", account, 10, max_wait=30)
        for _ in range(5):
            limiter.acquire()
            with lock:
                times.append(time.time())

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(times) == 30
    assert max_in_any_window(times) <= 10


# Urgent requests first (an emergency closure while a newsletter is sending).


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.005)


def test_an_urgent_request_goes_before_bulk_requests_that_were_waiting_first(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    account = f"AC-urgent-{uuid.uuid4().hex}"

    def limiter() -> ProviderRateLimiter:
        return ProviderRateLimiter(client, "twilio", account, 1, max_wait=30)

    limiter().acquire()  # the newsletter has the account's one place for this window
    order: list[str] = []
    lock = threading.Lock()

    def send(kind: str) -> None:
        limiter().acquire(urgent=kind == "urgent")
        with lock:
            order.append(kind)

    bulk = [threading.Thread(target=send, args=("bulk",)) for _ in range(3)]
    for thread in bulk:
        thread.start()  # three more newsletter requests wait for the next place
    urgent = threading.Thread(target=send, args=("urgent",))
    urgent.start()
    _wait_for(lambda: client.zcard(urgent_key("twilio", account)) > 0, "the urgent claim")
    assert order == []  # all waiting: the place is still taken
    for thread in [urgent, *bulk]:
        thread.join(timeout=60)
    assert order == ["urgent", "bulk", "bulk", "bulk"]
    assert client.zcard(urgent_key("twilio", account)) == 0  # nothing left behind


def test_a_waiting_urgent_claim_keeps_bulk_out_even_of_a_free_place(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    account = f"AC-claim-{uuid.uuid4().hex}"
    newsletter = ProviderRateLimiter(client, "twilio", account, 1)
    closure = ProviderRateLimiter(client, "twilio", account, 1, max_wait=0.2)
    assert newsletter.try_acquire()
    assert not closure.try_acquire(urgent=True)  # full; a try that never waits leaves no claim
    assert client.zcard(urgent_key("twilio", account)) == 0
    with pytest.raises(TransientFailure):
        closure.acquire(urgent=True)  # gave up: its claim is withdrawn
    assert client.zcard(urgent_key("twilio", account)) == 0


def _wait_urgently(redis_url: str, account: str, margin_ms: int) -> None:
    """A worker process whose urgent request waits on a full account (until it is killed)."""
    limiter = ProviderRateLimiter(
        redis.Redis.from_url(redis_url),
        "twilio",
        account,
        1,
        max_wait=120,
        margin_ms=margin_ms,
        claim_ttl_ms=5000,
    )
    limiter.acquire(urgent=True)


def test_a_killed_urgent_waiter_blocks_bulk_only_until_its_claim_expires(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    account = f"AC-killed-{uuid.uuid4().hex}"
    margin_ms = 60_000  # the filled place stays taken until the test frees it
    newsletter = ProviderRateLimiter(client, "twilio", account, 1, margin_ms=margin_ms)
    assert newsletter.try_acquire()
    context = multiprocessing.get_context("spawn")
    waiter = context.Process(target=_wait_urgently, args=(redis_url, account, margin_ms))
    waiter.start()
    try:
        _wait_for(lambda: client.zcard(urgent_key("twilio", account)) > 0, "the urgent claim")
    finally:
        waiter.kill()
        waiter.join(timeout=10)
    client.delete(account_key("twilio", account))  # the place frees up: the waiter never sees it
    assert not newsletter.try_acquire()  # the dead process's claim still holds the account
    newsletter.acquire()  # and expires: the newsletter goes on
    assert client.zcard(urgent_key("twilio", account)) == 0
    assert client.zcard(account_key("twilio", account)) == 1


def test_a_mix_of_urgent_and_bulk_requests_keeps_the_limit_urgent_ones_first(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    account = f"AC-mix-{uuid.uuid4().hex}"
    limit, each = 10, 10
    admitted: list[tuple[float, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def send(kind: str) -> None:
        limiter = ProviderRateLimiter(client, "twilio", account, limit, max_wait=30)
        barrier.wait(timeout=30)
        for _ in range(each):
            limiter.acquire(urgent=kind == "urgent")
            with lock:
                admitted.append((time.time(), kind))

    threads = [threading.Thread(target=send, args=(kind,)) for kind in ["urgent", "bulk"] * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(admitted) == 6 * each
    assert max_in_any_window([at for at, _ in admitted]) <= limit
    # The first window's places go to whoever asks; from then on every urgent request is
    # admitted before any further bulk one.
    kinds = [kind for _, kind in admitted[limit:]]
    urgent_left = 3 * each - [kind for _, kind in admitted[:limit]].count("urgent")
    assert kinds == ["urgent"] * urgent_left + ["bulk"] * (len(kinds) - urgent_left)


def test_an_adapter_sends_an_urgent_message_as_urgent(redis_url: str) -> None:
    class Recording:
        def __init__(self) -> None:
            self.urgent: list[bool] = []

        def acquire(self, urgent: bool = False) -> None:
            self.urgent.append(urgent)

    limiter = Recording()
    with ProviderEmulator() as emulator:
        adapter = TwilioSmsAdapter(
            ProviderEmulator.TWILIO_ACCOUNT_SID,
            ProviderEmulator.TWILIO_AUTH_TOKEN,
            base_url=emulator.url,
            public_base_url="https://dispatch.example.org",
            limiter=limiter,
            retry=RetryPolicy(attempts=1),
        )
        adapter.send(replace(sms_message(delivery_id=1), urgency=Urgency.URGENT))
        adapter.send(replace(sms_message(delivery_id=2), urgency=Urgency.BULK))
        adapter.send(sms_message(delivery_id=3))  # no urgency given: normal
    assert limiter.urgent == [True, False, False]
