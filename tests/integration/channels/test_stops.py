"""Channel stops shared through Redis: the first refusal stops a provider for every worker."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dispatcher.channels.stops import ChannelStops
from tests.support.waiting import wait_until

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@pytest.fixture
def provider() -> str:
    """A provider name no other test uses (the tests share a Redis database)."""
    return f"twilio-{uuid.uuid4().hex[:8]}"


def stops_on(redis_url: str, seconds: float = 300.0) -> ChannelStops:
    return ChannelStops(lambda: redis.Redis.from_url(redis_url), seconds=seconds)


def test_the_first_refusal_stops_the_channel_and_later_ones_do_not_restart_it(
    redis_url: str, provider: str
) -> None:
    first, second = stops_on(redis_url), stops_on(redis_url)  # two worker processes
    assert first.stopped(provider) is None
    assert first.stop(provider, "20003", "Authenticate", NOW) is True
    assert second.stop(provider, "20003", "Authenticate", NOW) is False  # no second alert
    stop = second.stopped(provider)
    assert stop is not None
    assert (stop.provider, stop.code, stop.reason, stop.since) == (
        provider,
        "20003",
        "Authenticate",
        NOW,
    )
    assert 290 < stop.seconds_left <= 300


def test_a_stop_runs_out_by_itself(redis_url: str, provider: str) -> None:
    stops = stops_on(redis_url, seconds=0.3)
    stops.stop(provider, "401", "bad key", NOW)
    assert stops.stopped(provider) is not None
    wait_until(lambda: stops.stopped(provider) is None, 5, what="the 0.3 s stop to run out")
    assert stops.stop(provider, "401", "bad key", NOW) is True  # a new stop, a new alert


def test_resume_lifts_the_stop_at_once(redis_url: str, provider: str) -> None:
    stops = stops_on(redis_url)
    assert stops.resume(provider) is False
    stops.stop(provider, "401", "bad key", NOW)
    assert [s.provider for s in stops.all()].count(provider) == 1
    assert stops.resume(provider) is True
    assert stops.stopped(provider) is None
    assert provider not in [s.provider for s in stops.all()]


def test_an_unreachable_redis_never_stops_a_channel() -> None:
    stops = ChannelStops(lambda: redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0)))
    assert stops.stop("twilio", "20003", "Authenticate", NOW) is False
    assert stops.stopped("twilio") is None  # the provider's own refusal still protects


def test_stops_must_last_some_time() -> None:
    with pytest.raises(ValueError, match="seconds"):
        ChannelStops(lambda: redis.Redis(), seconds=0)


def test_threads_starting_together_share_one_redis_client(redis_url: str, provider: str) -> None:
    """A worker's threads all ask at once when its first batch arrives; a second client made
    by a racing thread would close the first one's connections when dropped."""
    from concurrent.futures import ThreadPoolExecutor

    made: list[redis.Redis[bytes]] = []

    def slow_client() -> redis.Redis[bytes]:
        # Slow on purpose, as a first connection may be: the other threads ask meanwhile,
        # which is the race under test (no condition to poll for, the delay is the point).
        time.sleep(0.05)
        client = redis.Redis.from_url(redis_url)
        made.append(client)
        return client

    stops = ChannelStops(slow_client)
    stops_on(redis_url).stop(provider, "20003", "Authenticate", NOW)
    with ThreadPoolExecutor(16) as pool:
        seen = list(pool.map(lambda _: stops.stopped(provider), range(64)))
    assert len(made) == 1
    assert len(seen) == 64
    assert all(stop is not None and stop.code == "20003" for stop in seen)
