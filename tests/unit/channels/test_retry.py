"""The shared retry policy and error rules (no network)."""

from __future__ import annotations

import pytest

from dispatcher.channels.base import (
    ConfigurationFailure,
    DeadTokenFailure,
    PermanentFailure,
    TransientFailure,
)
from dispatcher.channels.errors import ErrorRule, FailureKind
from dispatcher.channels.retry import RetryPolicy, parse_retry_after, send_with_retries


class Flaky:
    """Raises the given failures in turn, then returns "ok"."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def test_transient_failures_are_retried_until_success() -> None:
    sleeps: list[float] = []
    request = Flaky(TransientFailure("http_503", "down"), TransientFailure("http_500", "down"))
    assert RetryPolicy(attempts=3, sleep=sleeps.append).call(request) == "ok"
    assert request.calls == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= 8 for s in sleeps)


def test_retry_after_is_a_floor_for_the_wait() -> None:
    sleeps: list[float] = []
    request = Flaky(TransientFailure("20429", "slow down", retry_after=3.5))
    RetryPolicy(attempts=3, multiplier=0.01, sleep=sleeps.append).call(request)
    assert sleeps == [3.5]


def test_backoff_wins_over_a_shorter_retry_after() -> None:
    sleeps: list[float] = []
    request = Flaky(*(TransientFailure("429", "x", retry_after=0.0) for _ in range(4)))
    RetryPolicy(
        attempts=5, multiplier=100, max_backoff=100, max_seconds=10_000, sleep=sleeps.append
    ).call(request)
    assert len(sleeps) == 4
    assert max(sleeps) > 0


def test_the_last_transient_failure_is_reraised_when_attempts_are_spent() -> None:
    sleeps: list[float] = []
    last = TransientFailure("http_503", "third")
    request = Flaky(TransientFailure("a", "1"), TransientFailure("b", "2"), last)
    with pytest.raises(TransientFailure) as caught:
        RetryPolicy(attempts=3, sleep=sleeps.append).call(request)
    assert caught.value is last
    assert request.calls == 3


def test_no_sleep_past_the_time_budget() -> None:
    sleeps: list[float] = []
    request = Flaky(TransientFailure("429", "wait a minute", retry_after=60))
    with pytest.raises(TransientFailure):
        RetryPolicy(attempts=5, max_seconds=20, sleep=sleeps.append).call(request)
    assert sleeps == []
    assert request.calls == 1


@pytest.mark.parametrize(
    "failure",
    [
        PermanentFailure("21211", "bad number"),
        ConfigurationFailure("20003", "bad token"),
        DeadTokenFailure("UNREGISTERED", "gone"),
        ValueError("a bug"),
    ],
)
def test_other_failures_are_never_retried(failure: Exception) -> None:
    request = Flaky(failure)
    with pytest.raises(type(failure)):
        RetryPolicy(attempts=5, sleep=lambda _: None).call(request)
    assert request.calls == 1


class Counting:
    """A limiter that admits everything and remembers each request's urgency."""

    def __init__(self) -> None:
        self.urgent: list[bool] = []

    def acquire(self, urgent: bool = False) -> None:
        self.urgent.append(urgent)


def test_the_limiter_is_asked_before_every_request() -> None:
    limiter = Counting()
    request = Flaky(TransientFailure("http_503", "down"))
    policy = RetryPolicy(attempts=3, sleep=lambda _: None)
    assert send_with_retries(request, retry=policy, limiter=limiter, label="t") == "ok"
    assert limiter.urgent == [False, False]


def test_an_urgent_request_asks_the_limiter_as_urgent_on_every_try() -> None:
    limiter = Counting()
    request = Flaky(TransientFailure("http_503", "down"))
    policy = RetryPolicy(attempts=3, sleep=lambda _: None)
    assert send_with_retries(request, retry=policy, limiter=limiter, label="t", urgent=True) == "ok"
    assert limiter.urgent == [True, True]


def test_configuration_failures_are_logged_as_an_alert(caplog: pytest.LogCaptureFixture) -> None:
    request = Flaky(ConfigurationFailure("20003", "authentication failed"))
    with pytest.raises(ConfigurationFailure):
        send_with_retries(request, retry=RetryPolicy(), limiter=None, label="twilio delivery 9")
    alerts = [r for r in caplog.records if r.levelname == "ERROR"]
    assert alerts and "twilio delivery 9" in alerts[0].getMessage()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (FailureKind.PERMANENT, PermanentFailure),
        (FailureKind.DEAD_TOKEN, DeadTokenFailure),
        (FailureKind.CONFIGURATION, ConfigurationFailure),
        (FailureKind.TRANSIENT, TransientFailure),
    ],
)
def test_error_rules_build_their_failure(kind: FailureKind, expected: type[Exception]) -> None:
    failure = ErrorRule(kind, "what it means", "https://example.org/doc").failure(
        "X1", "HTTP 400", 2.0
    )
    assert type(failure) is expected
    assert failure.code == "X1"
    assert failure.reason == "what it means (HTTP 400)"
    if isinstance(failure, TransientFailure):
        assert failure.retry_after == 2.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("0.25", 0.25),
        ("-1", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


@pytest.mark.parametrize("code", ["timeout", "answer_lost"])
def test_a_lost_answer_is_not_retried_while_the_provider_will_confirm_it(code: str) -> None:
    from dispatcher.channels.retry import confirming_lost_answers

    request = Flaky(TransientFailure(code, "no answer"))
    with confirming_lost_answers(True), pytest.raises(TransientFailure) as raised:
        RetryPolicy(attempts=3, sleep=lambda s: None).call(request)
    assert (raised.value.code, request.calls) == (code, 1)  # one request: no second message
    # Without a callback to wait for it is tried again, and a plain 503 always is.
    assert RetryPolicy(attempts=3, sleep=lambda s: None).call(Flaky(TransientFailure(code, "x")))
    busy = Flaky(TransientFailure("http_503", "down"))
    with confirming_lost_answers(True):
        assert RetryPolicy(attempts=3, sleep=lambda s: None).call(busy) == "ok"
    assert busy.calls == 2
