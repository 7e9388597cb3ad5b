"""The retry limits nest as dispatcher/retries.py says, and the parts that retry use them."""

from __future__ import annotations

from dramatiq.middleware import Retries

from dispatcher import retries
from dispatcher.channels.retry import RetryPolicy
from dispatcher.queue.broker import build_broker


def test_the_row_gives_up_before_dramatiq_does() -> None:
    # Every claim is an attempt: the first try plus each Dramatiq retry. If Dramatiq gave up
    # first, a message would die with its delivery still pending (until the sweep noticed).
    assert 1 <= retries.DELIVERY_ATTEMPTS <= retries.DELIVERY_RETRIES + 1


def test_the_in_request_retries_fit_inside_one_attempt() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.max_seconds) == (
        retries.REQUEST_ATTEMPTS,
        retries.REQUEST_MAX_SECONDS,
    )
    assert (policy.multiplier, policy.max_backoff) == (
        retries.REQUEST_BACKOFF_SECONDS,
        retries.REQUEST_MAX_BACKOFF_SECONDS,
    )
    # An attempt's retries must end well before Dramatiq's shortest backoff would matter
    # and far inside the broker's five-minute time limit.
    assert retries.REQUEST_MAX_BACKOFF_SECONDS <= retries.REQUEST_MAX_SECONDS < 5 * 60


def test_the_broker_retries_deliveries_with_the_shared_limits() -> None:
    broker = build_broker("redis://127.0.0.1:1/0")  # never connects: nothing is sent
    [middleware] = [m for m in broker.middleware if isinstance(m, Retries)]
    assert (middleware.max_retries, middleware.min_backoff, middleware.max_backoff) == (
        retries.DELIVERY_RETRIES,
        retries.RETRY_MIN_BACKOFF_MS,
        retries.RETRY_MAX_BACKOFF_MS,
    )
    assert retries.RETRY_MIN_BACKOFF_MS < retries.RETRY_MAX_BACKOFF_MS
